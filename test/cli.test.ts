// The built command, dist/cli.js, run as a user runs it (`pretest` builds it first). Output
// is captured through pipes, so this is also the CI case: no terminal, no control codes.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Dense } from "../src/layers/dense.js";
import { LSTM } from "../src/layers/lstm.js";
import { Sequential } from "../src/models/sequential.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { Adam } from "../src/train/optimizers.js";
import { initSync } from "../src/engine/index.js";
import { fableText } from "../src/data/seq2seq-tasks.js";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

function unfold(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const number = (text: string, pattern: RegExp): number => {
  const m = text.match(pattern);
  if (!m) throw new Error(`no match for ${pattern} in:\n${text}`);
  return Number(m[1]);
};

const TINY = ["--steps", "10", "--samples", "600", "--epochs", "3", "--units", "16", "--batch-size", "8", "--test-samples", "300"];
const dir = mkdtempSync(join(tmpdir(), "unfold-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("unfold train", () => {
  it("learns the adding problem: test MSE below the baseline it prints, one plain line per epoch", async () => {
    const checkpoint = join(dir, "adding.ckpt");
    const { code, stdout, stderr } = await unfold("train", "--task", "adding", ...TINY, "--save", checkpoint);
    expect(stderr).not.toMatch(/\x1b/);
    expect(code, stderr).toBe(0);
    const mse = number(stdout, /test MSE\s+([\d.]+)/);
    const baseline = number(stdout, /baseline\s+([\d.]+)/);
    expect(baseline).toBeGreaterThan(0.1);
    expect(mse).toBeLessThan(baseline / 2);
    expect(stderr.match(/^epoch \d\/3 .*loss [\d.]+ .*grad norm [\d.]+ .*samples\/s/gm)).toHaveLength(3);
    expect(stdout).toMatch(/predicted \d\.\d{3}/);

    // The checkpoint loads into a model of the same architecture.
    initSync();
    const model = new Sequential([new LSTM({ units: 16, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse" });
    const optimizer = new Adam();
    expect(loadCheckpoint(new Uint8Array(readFileSync(checkpoint)), model, optimizer)).toEqual({ epoch: 3, step: 3 * Math.ceil(600 / 8) });
    model.dispose();
    optimizer.dispose();
  });

  it("learns the sign task with a GRU: accuracy above the majority-class baseline", async () => {
    const { code, stdout, stderr } = await unfold("train", "--task", "sign", "--cell", "gru", ...TINY);
    expect(code, stderr).toBe(0);
    const accuracy = number(stdout, /test accuracy\s+([\d.]+)%/);
    const baseline = number(stdout, /baseline\s+([\d.]+)%/);
    expect(accuracy).toBeGreaterThan(baseline + 25);
  });

  it.each([
    [["--steps", "abc"], "--steps"],
    [["--steps", "1"], "--steps"],
    [["--units", "0"], "--units"],
    [["--cell", "transformer"], "--cell"],
    [["--task", "parity"], "--task"],
    [["--epochs", "2.5"], "--epochs"],
    [["--batch-size", "-4"], "--batch-size"],
    [["--lr", "-1"], "--lr"],
    [["--clip-norm", "NaN"], "--clip-norm"],
    [["--samples"], "--samples"],
    [["--seed", "x"], "--seed"],
    [["--save", join(dir, "missing", "x.ckpt")], "--save"],
    [["--bogus"], "--bogus"],
  ])("rejects %j with exit code 2 and one line naming %s", async (args, option) => {
    const { code, stdout, stderr } = await unfold("train", ...args);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(option);
  });
});

describe("unfold train --text", () => {
  it("learns a text file: held-out perplexity far below the unigram model's, progress per epoch, a sample, and a model `unfold sample` continues", async () => {
    const text = join(dir, "fables.txt");
    writeFileSync(text, fableText(700, 3));
    const saved = join(dir, "fables.unfold");
    const { code, stdout, stderr } = await unfold("train", "--text", text, "--steps", "48", "--tbptt", "16", "--units", "48", "--epochs", "3", "--examples", "1", "--save", saved);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/in chunks of 16 \(truncated BPTT\)/);
    expect(stderr.match(/^epoch \d\/3 .*loss [\d.]+ /gm)).toHaveLength(3);
    const model = number(stdout, /held-out perplexity\s+([\d.]+)/);
    const unigram = number(stdout, /unigram model \(no context\) scores\s+([\d.]+)/);
    expect(unigram).toBeGreaterThan(10);
    expect(model).toBeLessThan(unigram / 3);
    expect(stdout).toMatch(/--- temperature 0.6 ---\n\S.{100,}/);
    const sampled = await unfold("sample", saved, "The queen ", "--length", "80", "--seed", "3");
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(sampled.stdout.startsWith("The queen ")).toBe(true);
    expect(sampled.stdout.trim().length).toBeGreaterThan(60);
  });

  it.each([
    [["--text", "/nonexistent/book.txt"], "does not exist"],
    [["--text", "README.md", "--task", "adding"], "--task"],
    [["--tbptt", "10"], "--tbptt"],
    [["--text", "README.md", "--samples", "10"], "--samples"],
  ])("rejects %j with exit code 2 and one line naming %s", async (args, what) => {
    const { code, stdout, stderr } = await unfold("train", ...args);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(what);
  });

  it("says when the text is too short for a window, and when --tbptt does not cut it", async () => {
    const short = join(dir, "short.txt");
    writeFileSync(short, "Too short to learn from.");
    const tooShort = await unfold("train", "--text", short);
    expect(tooShort.code).toBe(1);
    expect(tooShort.stderr).toMatch(/short\.txt has 24 characters; training on windows of --steps 100 needs at least 113/);
    const chunks = await unfold("train", "--text", short, "--steps", "8", "--tbptt", "8");
    expect(chunks.code).toBe(1);
    expect(chunks.stderr).toContain("--tbptt 8 must be smaller than --steps 8");
  });
});

describe("unfold", () => {
  it.each([["train"], ["demo"], ["bench"]])("%s --help lists its usage and exits 0", async (command) => {
    const { code, stdout } = await unfold(command, "--help");
    expect(code).toBe(0);
    expect(stdout).toContain(`Usage: unfold ${command}`);
  });

  it("bench hands over to `npm run bench` in a checkout, which rejects an unknown name", async () => {
    const { code, stderr } = await unfold("bench", "nope");
    expect(code).toBe(2);
    expect(stderr).toContain("unknown benchmark nope");
  });

  it("exits 2 for an unknown command", async () => {
    const { code, stderr } = await unfold("fly");
    expect(code).toBe(2);
    expect(stderr).toContain("fly");
  });
});
