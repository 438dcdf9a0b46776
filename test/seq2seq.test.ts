// Seq2Seq: finite-difference checks through the whole model (embeddings, encoder, the
// bridge between encoder and decoder states, the input context, each attention score, the
// heads) with variable source and target lengths; decoding step by step agreeing with the
// teacher-forced pass; scheduled sampling; save and load; errors; and learning on the
// generated tasks: reversal of 3–12 letters and 3-digit addition, to the bars on
// held-out pairs (attention against none on long sources is in attention.test.ts); and the
// command line: `unfold train --task reverse|addition` and `unfold sample` (dist/cli.js, as
// cli.test.ts runs it: `npm test` builds it first).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Tensor, UnfoldError, engine, initSync } from "../src/engine/index.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Elman } from "../src/layers/elman.js";
import { GRU } from "../src/layers/gru.js";
import { LSTM } from "../src/layers/lstm.js";
import { additionTask, encodePairs, reverseTask, splitPairs } from "../src/data/seq2seq-tasks.js";
import { CharTokenizer } from "../src/data/tokenizers.js";
import { Dense } from "../src/layers/dense.js";
import { Embedding } from "../src/layers/embedding.js";
import { Sequential } from "../src/models/sequential.js";
import { cosineDecay } from "../src/train/schedules.js";
import { Seq2Seq, type Seq2SeqData, type Seq2SeqOptions } from "../src/models/seq2seq.js";
import { linearRamp } from "../src/train/schedules.js";
import { checkGradients } from "../src/train/gradcheck.js";
import { Adam, SGD } from "../src/train/optimizers.js";
import { expectBitEqual } from "./helpers.js";

initSync();

const SV = 7, TV = 6, BOS = 0, EOS = 1;

/** Pairs with sources of 1–5 tokens and targets of 0–4, deterministic. */
function pairs(n: number, seed = 1): Seq2SeqData {
  let s = seed;
  const next = (m: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % m;
  };
  const source: number[][] = [], target: number[][] = [];
  for (let i = 0; i < n; i++) {
    source.push(Array.from({ length: 1 + next(5) }, () => next(SV)));
    target.push(Array.from({ length: next(5) }, () => 2 + next(TV - 2)));
  }
  return { source, target };
}

function model(options: Partial<Seq2SeqOptions> & Pick<Seq2SeqOptions, "encoder" | "decoder">): Seq2Seq {
  return new Seq2Seq({ sourceVocab: SV, targetVocab: TV, embedding: 4, bos: BOS, eos: EOS, seed: 5, ...options });
}

const engineAllocator = () => engine().allocator;

function gradCheck(m: Seq2Seq, data: Seq2SeqData): void {
  const inputs = m.params.entries.map((e) => ({ name: e.name, values: Tensor.view(m.params.values, e.offset, e.shape), grad: () => m.params.readGrad(e.name) }));
  const report = checkGradients({ loss: () => m.computeLoss(data), lossAndGrad: () => m.lossAndGradients(data), inputs, seed: 3 });
  const bad = report.results.filter((r) => !r.ok).map((r) => `${r.name}: analytic ${r.analytic}, numeric ${r.numeric}`);
  expect(bad, "finite-difference mismatches").toEqual([]);
  m.lossAndGradients(data);
  const zero = m.params.entries.filter((e) => !m.params.readGrad(e.name).some((v) => v !== 0)).map((e) => e.name);
  expect(zero, "parameters without gradient").toEqual([]);
  m.dispose();
}

describe("Seq2Seq gradients (finite differences through the whole model)", () => {
  const data = pairs(4);

  it("bridge: deep bidirectional LSTM encoder → deep LSTM decoder of another width (learned projections), reversed sources", () => {
    gradCheck(model({ encoder: new Bidirectional(new LSTM({ units: 3, layers: 2 })), decoder: new LSTM({ units: 5, layers: 2 }), reverseSource: true }), data);
  });

  it("bridge: states copied when the widths match (bidirectional GRU 2×3 → GRU 6)", () => {
    const m = model({ encoder: new Bidirectional(new GRU({ units: 3 })), decoder: new GRU({ units: 6 }) });
    expect(m.params.entries.some((e) => e.name.startsWith("bridge"))).toBe(false);
    gradCheck(m, data);
  });

  it("bridge: GRU encoder → LSTM decoder (both LSTM states from the GRU's h), always projected", () => {
    const m = model({ encoder: new GRU({ units: 4 }), decoder: new LSTM({ units: 4 }), bridge: "dense" });
    expect(m.params.entries.map((e) => e.name).filter((n) => n.startsWith("bridge"))).toEqual(["bridge_h.weight", "bridge_h.bias", "bridge_c.weight", "bridge_c.bias"]);
    gradCheck(m, data);
  });

  it('context "input": the encoder state joined to every decoder step (Elman)', () => {
    gradCheck(model({ encoder: new Elman({ units: 4 }), decoder: new Elman({ units: 5 }), context: "input" }), data);
  });

  it('context "both" with a deep encoder and a shallower decoder (top levels aligned)', () => {
    gradCheck(model({ encoder: new GRU({ units: 4, layers: 3 }), decoder: new LSTM({ units: 3 }), context: "both", targetEmbedding: 3 }), data);
  });

  for (const score of ["dot", "general", "additive"] as const) {
    it(`attention "${score}" over a bidirectional encoder, masked by the source lengths`, () => {
      gradCheck(model({ encoder: new Bidirectional(new LSTM({ units: 3 })), decoder: new LSTM({ units: 6 }), attention: { score, ...(score === "additive" ? { units: 5 } : {}), outputUnits: 4 } }), data);
    });
  }

  it('attention with context "none": the decoder reads the source only through attention', () => {
    gradCheck(model({ encoder: new GRU({ units: 4 }), decoder: new GRU({ units: 3 }), context: "none", attention: { score: "general" } }), data);
  });

  it('loss reduction "mean"', () => {
    gradCheck(model({ encoder: new GRU({ units: 4 }), decoder: new GRU({ units: 4 }), attention: { score: "dot" }, reduction: "mean" }), data);
  });
});

describe("Seq2Seq decoding", () => {
  const configs: [string, () => Seq2Seq][] = [
    ["attention, bidirectional encoder, reversed source", () => model({ encoder: new Bidirectional(new GRU({ units: 4 })), decoder: new LSTM({ units: 5 }), attention: { score: "additive" }, reverseSource: true })],
    ["input context, deep decoder", () => model({ encoder: new LSTM({ units: 4 }), decoder: new GRU({ units: 4, layers: 2 }), context: "both" })],
  ];
  for (const [name, make] of configs) {
    it(`step-by-step decoding agrees with the teacher-forced pass (${name})`, () => {
      const m = make();
      const { source } = pairs(6, 9);
      const decoded = m.greedy(source, { maxLength: 6 });
      // Score the greedy outputs (as targets) teacher-forced: the same log-probabilities.
      const finished = decoded.map((h, i) => ({ h, i })).filter(({ h }) => h.finished);
      expect(finished.length).toBeGreaterThan(0);
      const lp = m.logProbability({ source: finished.map(({ i }) => source[i]), target: finished.map(({ h }) => h.tokens) });
      finished.forEach(({ h }, j) => expect(lp[j]).toBeCloseTo(h.logProb, 4));
      // Batched decoding gives each source what it gets alone.
      for (let i = 0; i < source.length; i++) expect(m.greedy([source[i]], { maxLength: 6 })[0]).toEqual(decoded[i]);
      m.dispose();
    });
  }

  it("returns attention weights per step over the source's own tokens, in its own order", () => {
    const m = model({ encoder: new Bidirectional(new GRU({ units: 4 })), decoder: new GRU({ units: 8 }), attention: { score: "dot" }, reverseSource: true });
    const source = [[1, 2, 3, 4, 5], [6, 0]];
    const [a, b] = m.greedy(source, { maxLength: 4, attention: true });
    for (const [h, L] of [[a, 5], [b, 2]] as const) {
      expect(h.attention!.length).toBe(h.tokens.length + (h.finished ? 1 : 0));
      for (const row of h.attention!) {
        expect(row.length).toBe(L);
        expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
      }
    }
    // Reversal is internal: the same weights as a model fed the reversed source itself, read backwards.
    const plain = model({ encoder: new Bidirectional(new GRU({ units: 4 })), decoder: new GRU({ units: 8 }), attention: { score: "dot" } });
    const [r] = plain.greedy([[5, 4, 3, 2, 1]], { maxLength: 4, attention: true });
    expect(r.tokens).toEqual(a.tokens);
    r.attention!.forEach((row, t) => expectBitEqual(Float32Array.from(row).reverse(), a.attention![t], `step ${t}`));
    m.dispose();
    plain.dispose();
  });

  it("sampling is seeded; temperature 0 is greedy", () => {
    const m = model({ encoder: new GRU({ units: 4 }), decoder: new GRU({ units: 4 }), attention: { score: "dot" } });
    const { source } = pairs(5, 4);
    const a = m.sample(source, { seed: 7, temperature: 1.5, maxLength: 8 });
    expect(m.sample(source, { seed: 7, temperature: 1.5, maxLength: 8 })).toEqual(a);
    expect(m.sample(source, { seed: 8, temperature: 1.5, maxLength: 8 })).not.toEqual(a);
    expect(m.sample(source, { temperature: 0, maxLength: 8 })).toEqual(m.greedy(source, { maxLength: 8 }));
    expect(m.sample(source, { seed: 1, topK: 1, maxLength: 8 }).map((h) => h.tokens)).toEqual(m.greedy(source, { maxLength: 8 }).map((h) => h.tokens));
    m.dispose();
  });
});

describe("Seq2Seq training", () => {
  it("scheduled sampling with p = 1 and argmax feeds the greedy tokens: on targets equal to the greedy decode the loss is the teacher-forced one", () => {
    const m = model({ encoder: new GRU({ units: 5 }), decoder: new GRU({ units: 5 }), attention: { score: "general" } });
    const { source } = pairs(6, 2);
    const greedy = m.greedy(source, { maxLength: 5 });
    const data = { source, target: greedy.map((h) => h.tokens) };
    const forced = m.lossAndGradients(data);
    const grads = m.params.grads.toFloat32Array();
    expect(m.lossAndGradients(data, { samplingProbability: 1, samplingFrom: "argmax" })).toBe(forced);
    expectBitEqual(m.params.grads.toFloat32Array(), grads, "gradients");
    // On other targets, feeding its own tokens changes the loss.
    const other = pairs(6, 2);
    expect(m.lossAndGradients(other, { samplingProbability: 1, samplingFrom: "argmax" })).not.toBe(m.lossAndGradients(other));
    m.dispose();
  });

  it("two runs with the same seed give the same bits, scheduled sampling and shuffling included", async () => {
    const run = async () => {
      const m = model({ encoder: new LSTM({ units: 6 }), decoder: new LSTM({ units: 6 }), attention: { score: "additive" } });
      const optimizer = new Adam({ lr: 1e-2, clipNorm: 1 });
      const logs = await m.fit(pairs(40, 3), { optimizer, epochs: 2, batchSize: 8, scheduledSampling: { probability: linearRamp({ from: 0, to: 0.5, steps: 8 }) } });
      const w = m.params.values.toFloat32Array();
      m.dispose();
      optimizer.dispose();
      return { w, logs };
    };
    const a = await run(), b = await run();
    expectBitEqual(a.w, b.w, "weights");
    expect(a.logs.map((l) => l.loss)).toEqual(b.logs.map((l) => l.loss));
    expect(a.logs[1].samplingProbability).toBe(0.5);
    expect(a.logs[1].loss).toBeLessThan(a.logs[0].loss);
  });

  it("fit with a signal aborted before the call trains nothing and draws nothing from the generator", async () => {
    const data = pairs(16, 3);
    const make = () => model({ encoder: new GRU({ units: 5 }), decoder: new GRU({ units: 5 }), attention: { score: "dot" } });
    const a = make(), b = make();
    const optA = new SGD({ lr: 0.1 }), optB = new SGD({ lr: 0.1 });
    expect(await a.fit(data, { optimizer: optA, epochs: 2, batchSize: 8, signal: AbortSignal.abort() })).toEqual([]);
    await a.fit(data, { optimizer: optA, epochs: 1, batchSize: 8 });
    await b.fit(data, { optimizer: optB, epochs: 1, batchSize: 8 });
    expectBitEqual(a.params.values.toFloat32Array(), b.params.values.toFloat32Array(), "weights");
    a.dispose();
    b.dispose();
  });

  it("training in a loop does not grow memory; dispose frees everything the model took", async () => {
    const allocator = engineAllocator();
    const before = allocator.bytesInUse;
    const m = model({ encoder: new Bidirectional(new LSTM({ units: 4 })), decoder: new LSTM({ units: 8 }), attention: { score: "additive" }, context: "both" });
    const optimizer = new Adam({ lr: 1e-2 });
    // Every pair the same lengths: every batch the same shapes.
    const data = { source: Array.from({ length: 32 }, (_, i) => [i % SV, (i + 1) % SV, 2]), target: Array.from({ length: 32 }, (_, i) => [2 + (i % 4), 3]) };
    const fitOptions = { optimizer, epochs: 1, batchSize: 8, scheduledSampling: { probability: 0.3 } };
    await m.fit(data, fitOptions);
    m.greedy(data.source.slice(0, 8));
    m.beamSearch(data.source[0], { width: 3 });
    const afterOne = allocator.bytesInUse;
    for (let i = 0; i < 3; i++) {
      await m.fit(data, fitOptions);
      m.greedy(data.source.slice(0, 8));
      m.beamSearch(data.source[0], { width: 3 });
    }
    expect(allocator.bytesInUse).toBe(afterOne);
    m.dispose();
    optimizer.dispose();
    expect(allocator.bytesInUse).toBe(before);
  });

  it("sparseEmbeddings: plain SGD gives the dense bits; Adam leaves the rows no token used as they were; saved with the architecture", async () => {
    const some = pairs(24, 8);
    const data = { source: some.source.map((s) => Array.from(s, (t) => t % 4)), target: some.target }; // source ids 4..6 never occur
    const run = async (sparse: boolean, optimizer: SGD | Adam) => {
      const m = model({ encoder: new GRU({ units: 5 }), decoder: new GRU({ units: 5 }), attention: { score: "dot" }, sparseEmbeddings: sparse });
      const w0 = m.params.values.toFloat32Array();
      await m.fit(data, { optimizer, epochs: 2, batchSize: 8 });
      optimizer.dispose();
      return { m, w0, w: m.params.values.toFloat32Array() };
    };
    const dense = await run(false, new SGD({ lr: 0.1 })), sparse = await run(true, new SGD({ lr: 0.1 }));
    expectBitEqual(sparse.w, dense.w, "weights after SGD");
    const adam = await run(true, new Adam({ lr: 1e-2 }));
    const used = new Set(data.source.flat());
    const e = adam.m.params.entry("source_embedding.weight");
    const dim = e.shape[1];
    for (let r = 0; r < SV; r++) {
      const rows = (w: Float32Array) => w.subarray(e.offset + r * dim, e.offset + (r + 1) * dim);
      if (used.has(r)) expect(rows(adam.w).some((v, j) => v !== rows(adam.w0)[j]), `source row ${r} trained`).toBe(true);
      else expectBitEqual(rows(adam.w), rows(adam.w0), `source row ${r}, never used`);
    }
    expect(used.size).toBeLessThan(SV); // the data leaves some rows unused
    const { model: back } = Seq2Seq.load(adam.m.save());
    expect(back.config).toEqual(adam.m.config);
    expect(adam.m.config.sparseEmbeddings).toBe(true);
    expect(dense.m.config.sparseEmbeddings).toBeUndefined();
    expect(() => model({ encoder: new GRU({ units: 2 }), decoder: new GRU({ units: 2 }), sparseEmbeddings: 1 as unknown as boolean })).toThrow(/Seq2Seq: sparseEmbeddings must be true or false, got 1/);
    for (const x of [dense.m, sparse.m, adam.m, back]) x.dispose();
  });

  it("save and load: the architecture, the weights and the metadata come back", () => {
    const m = model({ encoder: new Bidirectional(new LSTM({ units: 3, layers: 2 }), { merge: "sum" }), decoder: new GRU({ units: 4 }), attention: { score: "additive", units: 5 }, reverseSource: true, context: "both" });
    const bytes = m.save({ tokenizer: { type: "char", tokens: ["a"] } });
    const { model: back, metadata } = Seq2Seq.load(bytes);
    expect(metadata).toEqual({ tokenizer: { type: "char", tokens: ["a"] } });
    expect(back.config).toEqual(m.config);
    expectBitEqual(back.params.values.toFloat32Array(), m.params.values.toFloat32Array(), "weights");
    const { source } = pairs(4, 6);
    expect(back.beamSearch(source[0], { width: 3, attention: true })).toEqual(m.beamSearch(source[0], { width: 3, attention: true }));
    // Into a model of another architecture: a clear error, and that model is unchanged.
    const other = model({ encoder: new GRU({ units: 4 }), decoder: new GRU({ units: 4 }) });
    const before = other.params.values.toFloat32Array();
    expect(() => other.loadWeights(bytes)).toThrow(/no values for parameter "encoder.weight_ih"/);
    expectBitEqual(other.params.values.toFloat32Array(), before, "unchanged");
    for (const x of [m, back, other]) x.dispose();
  });

  it("names what is wrong", () => {
    const enc = () => new GRU({ units: 4 });
    expect(() => model({ encoder: enc(), decoder: new Bidirectional(new GRU({ units: 2 })) })).toThrow(/decoder must be causal/);
    expect(() => model({ encoder: enc(), decoder: new GRU({ units: 4, returnSequences: false }) })).toThrow(/decoder must return sequences/);
    expect(() => model({ encoder: new GRU({ units: 4, returnSequences: false }), decoder: new GRU({ units: 4 }), attention: { score: "dot" } })).toThrow(/encoder must return sequences/);
    expect(() => model({ encoder: enc(), decoder: new GRU({ units: 5 }), attention: { score: "dot" } })).toThrow(/"dot" score needs queries as wide as the memory/);
    expect(() => model({ encoder: enc(), decoder: new GRU({ units: 4 }), context: "none" })).toThrow(/never see the source/);
    expect(() => model({ encoder: enc(), decoder: new GRU({ units: 4 }), bos: 9 })).toThrow(/bos \(9\) and eos \(1\) must be target ids in \[0, 5\]/);
    expect(() => model({ encoder: enc(), decoder: new GRU({ units: 4 }), attention: { score: "luong" as never } })).toThrow(UnfoldError);
    const m = model({ encoder: enc(), decoder: new GRU({ units: 4 }) });
    expect(() => m.lossAndGradients({ source: [[1, 2]], target: [[9]] })).toThrow(/target 0, token 0 is 9, outside the target vocabulary \[0, 5\]/);
    expect(() => m.greedy([[1, 7]])).toThrow(/source 0, token 1 is 7, outside the source vocabulary \[0, 6\]/);
    expect(() => m.greedy([[]])).toThrow(/source 0 is empty/);
    expect(() => m.greedy([[1]], { attention: true })).toThrow(/this model has no attention/);
    expect(() => m.beamSearch([1], { width: 2, nBest: 3 })).toThrow(/nBest \(3\) cannot exceed the beam width \(2\)/);
    expect(() => m.sample([[1]], { topP: 0 })).toThrow(/topP must be a number in \(0, 1\]/);
    expect(() => m.lossAndGradients({ source: [[1]], target: [[2]] }, { samplingProbability: 2 })).toThrow(/samplingProbability must be in \[0, 1\]/);
    m.dispose();
    expect(() => m.greedy([[1]])).toThrow(/disposed/);
  });
});

/**
 * Trains on generated pairs and returns the held-out exact match (greedy decoding). Sizes
 * were chosen for time: about 10 s (reversal) and 25 s (addition) of one core.
 */
async function learn(task: "reverse" | "addition", sizes: { train: number; test: number; units: number; epochs: number }): Promise<{ exactMatch: number; tokenAccuracy: number }> {
  const generated = task === "reverse" ? reverseTask(sizes.train + sizes.test, { seed: 1 }) : additionTask(sizes.train + sizes.test, { seed: 1 });
  const [train, test] = splitPairs(generated, sizes.train);
  const tok = CharTokenizer.fromText(task === "reverse" ? "abcdefghijklmnopqrstuvwxyz" : "0123456789+");
  const H = sizes.units;
  const m = new Seq2Seq({
    sourceVocab: tok.size, targetVocab: tok.size, embedding: 32, bos: tok.bos, eos: tok.eos, seed: 3,
    encoder: new Bidirectional(new GRU({ units: H / 2 })), decoder: new GRU({ units: H }), attention: { score: "additive" },
  });
  const batchSize = 64;
  const totalSteps = Math.ceil(sizes.train / batchSize) * sizes.epochs;
  const optimizer = new Adam({ lr: cosineDecay({ lr: 5e-3, totalSteps, minLr: 2.5e-4 }), clipNorm: 1 });
  await m.fit(encodePairs(train, tok), { optimizer, epochs: sizes.epochs, batchSize });
  const result = m.evaluate(encodePairs(test, tok), { exactMatch: true });
  m.dispose();
  optimizer.dispose();
  return { exactMatch: result.exactMatch!, tokenAccuracy: result.tokenAccuracy };
}

describe("Seq2Seq learns the generated tasks (held-out pairs, greedy decoding)", () => {
  it("reverses strings of 3–12 letters: >= 99% exact match", async () => {
    const { exactMatch, tokenAccuracy } = await learn("reverse", { train: 24000, test: 2000, units: 64, epochs: 2 });
    expect(exactMatch, `exact match ${exactMatch}, token accuracy ${tokenAccuracy}`).toBeGreaterThanOrEqual(0.99);
  });

  it('adds numbers of up to 3 digits ("372+58" → "430"): >= 98% exact match', async () => {
    const { exactMatch, tokenAccuracy } = await learn("addition", { train: 50000, test: 2000, units: 128, epochs: 2 });
    expect(exactMatch, `exact match ${exactMatch}, token accuracy ${tokenAccuracy}`).toBeGreaterThanOrEqual(0.98);
  });
});

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "unfold-seq2seq-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function unfold(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("unfold train --task reverse|addition, unfold sample", () => {
  it("trains a reversal model, saves it with its tokenizer, and decodes with it (greedy, beam, attention map)", async () => {
    const file = join(dir, "reverse.unfold");
    const train = await unfold("train", "--task", "reverse", "--samples", "3000", "--test-samples", "200", "--epochs", "1", "--units", "32", "--examples", "3", "--save", file);
    expect(train.code, train.stderr).toBe(0);
    expect(train.stdout).toContain("Bidirectional GRU(16) encoder → GRU(32) decoder with additive attention");
    expect(train.stdout).toMatch(/test exact match\s+[\d.]+%/);
    expect(train.stdout).toMatch(/test token accuracy\s+[\d.]+%/);
    expect(train.stdout.match(/ → .* (right|wrong)/g)).toHaveLength(3);
    expect(train.stderr).toMatch(/^epoch 1\/1 .*loss [\d.]+/m);

    const greedy = await unfold("sample", file, "abc", "hello");
    expect(greedy.code, greedy.stderr).toBe(0);
    expect(greedy.stdout).toMatch(/^abc → [a-z]* +\(log p -?[\d.]+/m);
    expect(greedy.stdout).toMatch(/^hello → [a-z]*/m);
    const beam = await unfold("sample", file, "abc", "--beam", "3");
    expect(beam.code, beam.stderr).toBe(0);
    const map = await unfold("sample", file, "abcd", "--attention");
    expect(map.code, map.stderr).toBe(0);
    expect(map.stdout.split("\n")[1]).toBe("    a b c d");
  });

  it("continues a prompt with a language model saved with its tokenizer", async () => {
    const tok = CharTokenizer.fromText("the fox sees the dog");
    const lm = new Sequential([new Embedding({ vocab: tok.size, dim: 4 }), new GRU({ units: 8 }), new Dense({ units: tok.size })], { loss: "softmaxCrossEntropy", seed: 1 });
    const file = join(dir, "lm.unfold");
    writeFileSync(file, lm.save({ tokenizer: tok.toJSON() }));
    lm.dispose();
    const { code, stdout, stderr } = await unfold("sample", file, "the", "--length", "20", "--seed", "3");
    expect(code, stderr).toBe(0);
    expect(stdout.startsWith("the")).toBe(true);
    expect((await unfold("sample", file, "the", "--length", "20", "--seed", "3")).stdout).toBe(stdout);
    const beam = await unfold("sample", file, "the", "--beam", "2");
    expect(beam.code).toBe(1);
    expect(beam.stderr).toContain("--beam applies to seq2seq models");
  });

  it("names what is wrong", async () => {
    const steps = await unfold("train", "--task", "addition", "--steps", "10");
    expect(steps.code).toBe(2);
    expect(steps.stderr).toContain("--steps");
    const odd = await unfold("train", "--task", "reverse", "--units", "33", "--samples", "100", "--test-samples", "10");
    expect(odd.code).toBe(1);
    expect(odd.stderr).toContain("--units must be even");
    const missing = await unfold("sample", join(dir, "nope.unfold"), "abc");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("does not exist");
    const junk = join(dir, "junk.bin");
    writeFileSync(junk, "not a model");
    const bad = await unfold("sample", junk, "abc");
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    const topP = await unfold("sample", junk, "--top-p", "2");
    expect(topP.code).toBe(2);
    expect(topP.stderr).toContain("--top-p");
  });
});
