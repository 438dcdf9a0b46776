// The promise Unfold proves here: the same script (scripts/determinism.mjs, importing the
// built package) trains an LSTM, a GRU stack and a bidirectional LSTM stack from fixed seeds
// for 200 steps each, and Node, Bun, Deno and headless Chromium print the same loss at every
// step and the same hash of the final weights.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUN, DENO, NODE, describeRun, requireBinary, requireBuild, run } from "./runtimes/env.js";
import { launchChromium, serveDirectory, type Browser, type StaticServer } from "./runtimes/browser.js";
import { ROOT } from "./runtimes/env.js";

const SCRIPT = "scripts/determinism.mjs";
const outputs = new Map<string, string>();

/** What a run printed, checked to hold the three models' results. */
function record(runtime: string, printed: string): void {
  const result = printed.split("\n").find((l) => l.startsWith("RESULT "));
  expect(result, `${runtime} printed no RESULT line:\n${printed}`).toBeDefined();
  const models = JSON.parse(result!.slice(7)) as { name: string; steps: number; losses: number[]; weightsFnv1a: string }[];
  expect(models.map((m) => m.name)).toEqual(["lstm-adding", "gru-sign", "bidirectional-lstm-stack-reversal"]);
  for (const m of models) {
    expect(m.steps, `${runtime} ${m.name}`).toBe(200);
    expect(m.losses.every(Number.isFinite), `${runtime} ${m.name}: a loss is not finite`).toBe(true);
    // Trained, not just run: the mean loss of the last 20 steps is below that of the first 20.
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(m.losses.slice(-20)), `${runtime} ${m.name} did not learn`).toBeLessThan(mean(m.losses.slice(0, 20)));
  }
  outputs.set(runtime, printed);
}

describe("the same bits in every runtime", () => {
  beforeAll(() => requireBuild());

  it("Node", async () => {
    const r = await run(NODE, [SCRIPT]);
    expect(r.code, describeRun("node", r)).toBe(0);
    record("node", r.stdout);
  });

  it("Bun", async () => {
    const r = await run(requireBinary(BUN, "bun"), [SCRIPT]);
    expect(r.code, describeRun("bun", r)).toBe(0);
    record("bun", r.stdout);
  });

  it("Deno", async () => {
    // No permissions: the package needs no file, network or environment access.
    const r = await run(requireBinary(DENO, "deno"), ["run", "--no-prompt", SCRIPT]);
    expect(r.code, describeRun("deno", r)).toBe(0);
    record("deno", r.stdout);
  });

  describe("Chromium", () => {
    let browser: Browser | null = null;
    let server: StaticServer | null = null;
    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it("headless Chromium", async () => {
      browser = await launchChromium(); // fails with install instructions when Chromium is missing
      server = await serveDirectory(ROOT);
      const { page, console: lines, errors } = await browser.page();
      await page.goto(`${server.url}/test/runtimes/determinism.html`);
      await page.waitForFunction(() => (globalThis as { unfoldDeterminism?: unknown }).unfoldDeterminism !== undefined || document.title === "failed", null, { timeout: 60_000, polling: 100 }).catch(() => {});
      expect(errors, "page errors").toEqual([]);
      record("chromium", lines.map((l) => l + "\n").join(""));
    });
  });

  it("all four print identical loss trajectories and weight hashes", () => {
    const node = outputs.get("node");
    expect(node, "the Node run did not finish").toBeDefined();
    for (const runtime of ["bun", "deno", "chromium"]) {
      expect(outputs.get(runtime), `${runtime} did not finish`).toBeDefined();
      expect(outputs.get(runtime), `${runtime} differs from node`).toBe(node);
    }
  });
});
