// The download budget: dist/index.js (all the JavaScript and the inlined wasm, the file
// `import "unfold"` loads), minified and gzipped at level 9, stays within 100 KB.
// `npm run bench -- size` prints the breakdown; bench/size.ts says what is counted and what is not.
import { describe, expect, it } from "vitest";
import { SIZE_BUDGET_BYTES, measureSize } from "../bench/size.js";
import { requireBuild } from "./runtimes/env.js";

describe("package size", () => {
  it(`JS + wasm, minified and gzipped, is within ${SIZE_BUDGET_BYTES / 1000} KB`, () => {
    requireBuild();
    const { total, wasm, parts } = measureSize();
    const table = [total, ...parts].map((r) => `${r.what}: ${r.raw} B raw, ${r.gzip} B gzip`).join("\n");
    expect(total.gzip, `over budget:\n${table}`).toBeLessThanOrEqual(SIZE_BUDGET_BYTES);
    // The wasm really is inside the counted file (the split found it, and it is not tiny).
    expect(wasm.raw).toBeGreaterThan(10_000);
  });
});
