// trainInWorker's default worker in every runtime: a module Worker in Chromium, Deno and Bun,
// worker_threads in Node (from the ESM and the CommonJS build). Each trains the same models (a
// Sequential, a Seq2Seq) in the worker and with fit() on its main thread
// (test/runtimes/worker-check.mjs); both must agree, and every runtime must print the same
// weights hashes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUN, DENO, NODE, ROOT, describeRun, requireBinary, requireBuild, run } from "./runtimes/env.js";
import { launchChromium, serveDirectory, type Browser, type StaticServer } from "./runtimes/browser.js";

const results = new Map<string, string>();
const LINE = /^worker same [0-9a-f]{8} batches 16 epochs 2$/;
const SEQ2SEQ_LINE = /^seq2seq same [0-9a-f]{8} epochs 2$/;

function record(runtime: string, printed: string): void {
  const lines = printed.trim().split("\n");
  const result = lines.find((l) => l.startsWith("worker "));
  const seq2seq = lines.find((l) => l.startsWith("seq2seq "));
  expect(result, `${runtime} printed:\n${printed}`).toMatch(LINE);
  expect(seq2seq, `${runtime} printed:\n${printed}`).toMatch(SEQ2SEQ_LINE);
  console.log(`${runtime}: ${lines.find((l) => l.startsWith("timing ")) ?? ""}`);
  results.set(runtime, `${result}\n${seq2seq}`);
}

async function runCheck(runtime: string, command: string, args: string[]): Promise<void> {
  const r = await run(command, args);
  expect(r.code, describeRun(runtime, r)).toBe(0);
  record(runtime, r.stdout);
}

describe("trainInWorker's default worker in every runtime", () => {
  beforeAll(() => requireBuild());

  it("Node, ESM build (worker_threads)", () => runCheck("node esm", NODE, ["test/runtimes/worker-check-esm.mjs"]));
  it("Node, CommonJS build (worker_threads)", () => runCheck("node cjs", NODE, ["test/runtimes/worker-check-cjs.cjs"]));
  it("Bun (Worker)", () => runCheck("bun", requireBinary(BUN, "bun"), ["test/runtimes/worker-check-esm.mjs"]));
  // The default worker loads Unfold from its file, which Deno allows with read permission.
  it("Deno (Worker, --allow-read)", () => runCheck("deno", requireBinary(DENO, "deno"), ["run", "--no-prompt", "--allow-read", "test/runtimes/worker-check-esm.mjs"]));

  describe("Chromium", () => {
    let browser: Browser | null = null;
    let server: StaticServer | null = null;
    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it("Chromium (module Worker from a blob, importing the package by URL)", async () => {
      browser = await launchChromium(); // fails with install instructions when Chromium is missing
      server = await serveDirectory(ROOT);
      const { page, console: lines, errors } = await browser.page();
      await page.goto(`${server.url}/test/runtimes/worker-check.html`);
      await page.waitForFunction(() => document.title !== "running", null, { timeout: 60_000 });
      expect(errors, "page errors").toEqual([]);
      expect(await page.title()).toBe("done");
      record("chromium", lines.join("\n"));
    });
  });

  it("all agree", () => {
    expect([...results.keys()]).toEqual(["node esm", "node cjs", "bun", "deno", "chromium"]);
    expect(new Set(results.values()).size, [...results].join("\n")).toBe(1);
  });
});
