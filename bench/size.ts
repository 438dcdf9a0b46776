// What a user downloads: the size of the built package's entry, minified and gzipped (the
// usual "min+gzip" of a library). `npm run bench -- size` prints it; test/package-size.test.ts
// holds it to the budget.
//
// Counted against the budget: dist/index.js — the ESM entry browsers, Deno, Bun and bundlers
// load, and the whole library: the JavaScript and the wasm, inlined in it as a string — minified
// by Vite's own minifier (what an app's production build does to it), then gzipped at level 9.
// Printed beside it, not counted: the same file as shipped (not minified), its parts, and
// dist/index.cjs (the same code for require(); a user loads one or the other) and dist/cli.js
// (the Node command line tool). The .d.ts and source maps are not downloaded by apps.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { minifySync } from "vite";
import { printTable } from "./util.js";

/** The budget for dist/index.js minified and gzipped (level 9): 100 KB = 100,000 bytes. */
export const SIZE_BUDGET_BYTES = 100_000;

export interface SizeRow {
  what: string;
  raw: number;
  gzip: number;
  brotli: number;
}

export interface SizeReport {
  /** dist/index.js minified: what the budget counts (its gzip). */
  total: SizeRow;
  /** The wasm binary inside it (as a separate .wasm file would weigh). */
  wasm: SizeRow;
  /** The parts of dist/index.js, and the files not counted. */
  parts: SizeRow[];
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function measure(what: string, bytes: Uint8Array | string): SizeRow {
  const data = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  return { what, raw: data.length, gzip: gzipSync(data, { level: 9 }).length, brotli: brotliCompressSync(data).length };
}

/** Measures the built package in `dist` (run `npm run build` first). */
export function measureSize(dist = join(ROOT, "dist")): SizeReport {
  const entry = readFileSync(join(dist, "index.js"), "utf8");
  // The inlined wasm: the one string literal that starts with the wasm magic "\0asm" (one
  // character per byte, see scripts/inline-wasm.mjs); evaluated to get the bytes back.
  const literal = entry.match(/"\\0asm(?:[^"\\]|\\.)*"/);
  if (!literal) throw new Error('size: no inlined wasm (a string literal starting "\\0asm") in dist/index.js');
  const text = new Function(`return ${literal[0]};`)() as string;
  const wasm = Buffer.from(Uint8Array.from(text, (c) => c.charCodeAt(0)));
  if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error("size: the inlined literal does not decode to a wasm binary");
  const minified = minifySync("index.js", entry, { module: true, compress: true, mangle: true });
  if (minified.errors.length) throw new Error(`size: minifying dist/index.js failed: ${minified.errors.map((e) => e.message).join("; ")}`);
  const total = measure("dist/index.js minified (JS + inlined wasm): counted", minified.code);
  const binary = measure("  the same wasm as a binary .wasm (for comparison)", wasm);
  return {
    total,
    wasm: binary,
    parts: [
      measure("dist/index.js as shipped (not minified)", entry),
      measure("  JavaScript alone (the wasm literal removed)", entry.replace(literal[0], '""')),
      measure("  the wasm as inlined (a string, one character per byte)", literal[0]),
      binary,
      measure("dist/index.cjs (require(); same code, not counted)", readFileSync(join(dist, "index.cjs"))),
      measure("dist/cli.js (Node CLI; imports index.js, not counted)", readFileSync(join(dist, "cli.js"))),
    ],
  };
}

const kb = (n: number) => (n / 1000).toFixed(1);

export async function run(): Promise<void> {
  const report = measureSize();
  printTable(
    ["file", "raw KB", "gzip KB", "brotli KB"],
    [report.total, ...report.parts].map((r) => [r.what, kb(r.raw), kb(r.gzip), kb(r.brotli)]),
  );
  const { gzip } = report.total;
  const verdict = gzip <= SIZE_BUDGET_BYTES ? "within" : "OVER";
  console.log(`\nJS + wasm, minified and gzipped (level 9): ${kb(gzip)} KB — ${verdict} the ${kb(SIZE_BUDGET_BYTES)} KB budget (${((100 * gzip) / SIZE_BUDGET_BYTES).toFixed(0)}%).`);
}
