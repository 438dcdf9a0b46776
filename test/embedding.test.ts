// Embedding: the gather and scatter-add kernels against their scalar twins and a plain
// reference, nn.Embedding's semantics (N(0, 1) init, padding row held at zero, summed
// gradients of repeated ids), a finite-difference check through a model, clear errors for
// bad ids, and token input trained end to end through fit. Sparse updates (`sparse: true`)
// against torch.optim.SparseAdam, a sparse Adagrad and SGD on nn.Embedding(sparse=True).
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { padSequences } from "../src/data/padding.js";
import { SequenceDataset } from "../src/data/dataset.js";
import { Dense } from "../src/layers/dense.js";
import { Embedding } from "../src/layers/embedding.js";
import { LSTM } from "../src/layers/lstm.js";
import { GRU } from "../src/layers/gru.js";
import { Sequential } from "../src/models/sequential.js";
import { checkGradients, type GradientCheckInput } from "../src/train/gradcheck.js";
import { evaluate, fit } from "../src/train/fit.js";
import { Adagrad, Adam, SGD, type Optimizer } from "../src/train/optimizers.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, putInt, rand } from "./helpers.js";

const DIMS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33];

function ids(n: number, vocab: number, seed: number): Int32Array {
  return Int32Array.from(rand(n, seed, 0, vocab), Math.floor);
}

describe("embedding kernels", () => {
  afterEach(freeAll);

  it("gather: SIMD = scalar to the bit = the table's rows; an id outside the table gives a zero row", () => {
    for (const dim of DIMS) {
      for (const n of [1, 2, 5, 12]) {
        const vocab = 6;
        const table = rand(vocab * dim, dim * 100 + n);
        const idv = ids(n, vocab, n + dim);
        idv[n - 1] = n > 1 ? vocab : idv[n - 1]; // out of range: never reached from TypeScript, still safe
        const w = put(table), id = putInt(idv);
        const y1 = put(new Float32Array(n * dim).fill(7)), y2 = put(new Float32Array(n * dim).fill(7));
        k().f32_embedding_forward(y1, id, w, n, dim, vocab);
        k().f32_embedding_forward_scalar(y2, id, w, n, dim, vocab);
        const want = new Float32Array(n * dim);
        for (let i = 0; i < n; i++) if (idv[i] < vocab) want.set(table.subarray(idv[i] * dim, (idv[i] + 1) * dim), i * dim);
        expectBitEqual(get(y1, n * dim), get(y2, n * dim), `dim ${dim} n ${n} SIMD vs scalar`);
        expectBitEqual(get(y1, n * dim), want, `dim ${dim} n ${n} vs rows`);
        freeAll();
      }
    }
  });

  it("scatter-add: SIMD = scalar to the bit = in-order float32 sums; untouched and padding rows keep their bits", () => {
    for (const dim of DIMS) {
      for (const n of [1, 3, 8, 13]) {
        const vocab = 5;
        const padding = 2;
        const idv = ids(n, vocab, 7 * n + dim);
        const dy = rand(n * dim, n + 3 * dim);
        const start = rand(vocab * dim, dim + 11); // not zero: proves untouched rows are not written
        const id = putInt(idv), g = put(dy);
        const w1 = put(start), w2 = put(start);
        k().f32_embedding_backward(w1, g, id, n, dim, vocab, padding);
        k().f32_embedding_backward_scalar(w2, g, id, n, dim, vocab, padding);
        const want = Float32Array.from(start);
        for (let i = 0; i < n; i++) {
          if (idv[i] === padding) continue;
          for (let j = 0; j < dim; j++) want[idv[i] * dim + j] = Math.fround(want[idv[i] * dim + j] + dy[i * dim + j]);
        }
        expectBitEqual(get(w1, vocab * dim), get(w2, vocab * dim), `dim ${dim} n ${n} SIMD vs scalar`);
        expectBitEqual(get(w1, vocab * dim), want, `dim ${dim} n ${n} vs reference`);
        freeAll();
      }
    }
  });
});

describe("Embedding layer: nn.Embedding semantics", () => {
  it("initialises N(0, 1) with the padding row at zero; negative paddingIndex counts from the end", () => {
    const emb = new Embedding({ vocab: 400, dim: 50, paddingIndex: -1 });
    expect(emb.paddingIndex).toBe(399);
    const model = new Sequential([emb], { seed: 3 });
    const w = model.getWeights()["embedding0.weight"];
    expect(w.length).toBe(400 * 50);
    expect([...w.subarray(399 * 50)].every((v) => v === 0)).toBe(true);
    const body = w.subarray(0, 399 * 50);
    const mean = body.reduce((a, b) => a + b, 0) / body.length;
    const std = Math.sqrt(body.reduce((a, b) => a + (b - mean) ** 2, 0) / body.length);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(std - 1)).toBeLessThan(0.02);
    model.dispose();
  });

  it("forward gathers rows; backward sums the gradient of repeated ids and never touches the padding row", () => {
    const [vocab, dim, T, B] = [6, 5, 3, 2];
    const model = new Sequential([new Embedding({ vocab, dim, paddingIndex: 0 })], { seed: 1 });
    expect(model.inputDType).toBe("int32");
    expect(model.inputSize).toBe(vocab);
    const w = model.getWeights()["embedding0.weight"];
    const idv = [3, 0, 3, 5, 0, 1]; // [T, B]: 3 twice, padding twice
    const x = Tensor.fromArray(idv, [T, B], "int32");
    const y = model.forward(x, { training: true });
    expect(y.shape).toEqual([T, B, dim]);
    const out = y.toFloat32Array();
    idv.forEach((id, i) => expectBitEqual(out.subarray(i * dim, (i + 1) * dim), w.subarray(id * dim, (id + 1) * dim), `row ${i}`));
    const dyv = rand(T * B * dim, 4);
    const dy = Tensor.fromArray(dyv, [T, B, dim]);
    model.params.zeroGrads();
    const dx = model.backward(dy);
    expect(dx.shape).toEqual([T, B, 0]); // ids have no gradient
    const g = model.params.readGrad("embedding0.weight");
    const want = new Float32Array(vocab * dim);
    idv.forEach((id, i) => {
      if (id === 0) return;
      for (let j = 0; j < dim; j++) want[id * dim + j] = Math.fround(want[id * dim + j] + dyv[i * dim + j]);
    });
    expectBitEqual(g, want, "weight gradient");
    for (const t of [x, dy]) t.dispose();
    model.dispose();
  });

  it("the padding row stays zero through training", async () => {
    const model = new Sequential([new Embedding({ vocab: 8, dim: 4, paddingIndex: 0 }), new GRU({ units: 6 }), new Dense({ units: 8 })], { loss: "softmaxCrossEntropy", seed: 2 });
    const { data, shape, lengths } = padSequences([[1, 2, 3, 4], [5, 6], [7, 1, 2]]);
    const y = padSequences([[2, 3, 4, 5], [6, 7], [1, 2, 3]]);
    await fit(model, { x: { data, shape }, y: { data: y.data, shape: y.shape }, lengths }, { epochs: 20, batchSize: 2, optimizer: new Adam({ lr: 1e-2 }) });
    const w = model.getWeights()["embedding0.weight"];
    expect([...w.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    expect(w.subarray(4).some((v, i) => v !== 0 && i >= 0)).toBe(true);
    model.dispose();
  });

  it("finite differences: every parameter of Embedding → LSTM → Dense, padding ids in the batch", () => {
    const [vocab, dim, T, B] = [7, 4, 5, 3];
    const model = new Sequential([new Embedding({ vocab, dim, paddingIndex: 0 }), new LSTM({ units: 6 }), new Dense({ units: 5 })], { loss: "softmaxCrossEntropy", seed: 4 });
    const idv = ids(T * B, vocab, 9);
    idv[0] = 0;
    idv[4] = 0;
    idv[7] = idv[8]; // a repeated id
    const x = Tensor.fromArray(idv, [T, B], "int32");
    const y = Tensor.fromArray(ids(T * B, 5, 10), [T, B], "int32");
    const inputs: GradientCheckInput[] = model.params.entries.map((e) => {
      if (e.name !== "embedding0.weight") return { name: e.name, values: Tensor.view(model.params.values, e.offset, e.shape), grad: () => model.params.readGrad(e.name) };
      // The padding row is used forward but, as with padding_idx, gets no gradient by design:
      // check every other row, and that one separately.
      return { name: "embedding rows 1..", values: Tensor.view(model.params.values, e.offset + dim, [vocab - 1, dim]), grad: () => model.params.readGrad(e.name).subarray(dim) };
    });
    const report = checkGradients({ loss: () => model.computeLoss(x, y), lossAndGrad: () => model.lossAndGradients(x, y), inputs });
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    model.lossAndGradients(x, y);
    expect([...model.params.readGrad("embedding0.weight").subarray(0, dim)]).toEqual([0, 0, 0, 0]);
    expect(model.params.readGrad("embedding0.weight").subarray(dim).some((v) => v !== 0)).toBe(true);
    for (const t of [x, y]) t.dispose();
    model.dispose();
  });
});

describe("Embedding: errors", () => {
  it("names a token id outside the vocabulary, and where it is", () => {
    const model = new Sequential([new Embedding({ vocab: 65, dim: 3 }), new Dense({ units: 2 })]);
    const x = Tensor.fromArray([1, 2, 3, 70, 4, 5], [3, 2], "int32");
    expect(() => model.forward(x)).toThrow(/token id 70 at \[1, 1\] is outside the vocabulary \[0, 64\]/);
    const neg = Tensor.fromArray([1, -1], [1, 2], "int32");
    expect(() => model.forward(neg)).toThrow(/token id -1 at \[0, 1\] is outside the vocabulary/);
    const floats = Tensor.fromArray([1, 2], [1, 2]);
    expect(() => model.forward(floats)).toThrow(/expected int32 token ids \[T, B\].*got float32 \[1, 2\]/);
    const rank3 = Tensor.zeros([1, 2, 1], "int32");
    expect(() => model.forward(rank3)).toThrow(/expected int32 token ids \[T, B\]/);
    for (const t of [x, neg, floats, rank3]) t.dispose();
    model.dispose();
  });

  it("validates options and placement", () => {
    expect(() => new Embedding({ vocab: 0, dim: 3 })).toThrow(/vocab must be a whole number >= 1, got 0/);
    expect(() => new Embedding({ vocab: 5, dim: 1.5 })).toThrow(/dim must be a whole number >= 1, got 1.5/);
    expect(() => new Embedding({ vocab: 5, dim: 2, paddingIndex: 5 })).toThrow(/paddingIndex must be a whole number in \[-5, 4\], got 5/);
    expect(() => new Embedding({ vocab: 5, dim: 2, padding: 0 } as never)).toThrow(/unknown option "padding"/);
    expect(() => new Sequential([new Dense({ units: 2 }), new Embedding({ vocab: 5, dim: 2 })], { inputSize: 3 })).toThrow(/Embedding takes token ids, so it can only be the first layer/);
    expect(() => new Sequential([new Embedding({ vocab: 5, dim: 2 })], { inputSize: 4 })).toThrow(/inputSize is not needed \(if given it must be the vocab, 5\), got 4/);
    const ok = new Sequential([new Embedding({ vocab: 5, dim: 2 })], { inputSize: 5 });
    ok.dispose();
  });

  it("fit names token data that does not fit the model", async () => {
    const model = new Sequential([new Embedding({ vocab: 4, dim: 2 }), new LSTM({ units: 3, returnSequences: false }), new Dense({ units: 2 })], { loss: "softmaxCrossEntropy" });
    await expect(fit(model, { x: [[1, 2], [3, 9]], y: [0, 1] })).rejects.toThrow(/token id 9 at x\[1\]\[1\] is outside the vocabulary \[0, 3\]/);
    await expect(fit(model, { x: [[[1], [2]]], y: [0] })).rejects.toThrow(/takes token ids x \[N, T\], got x \[1, 2, 1\]/);
    await expect(fit(model, { x: [[1.5, 2]], y: [0] })).rejects.toThrow(/token ids must be whole numbers/);
    const floatModel = new Sequential([new Dense({ units: 2 })], { inputSize: 1, loss: "softmaxCrossEntropy" });
    await expect(fit(floatModel, { x: [[1, 2]], y: [[0, 1]] })).rejects.toThrow(/holds token ids, but the model takes feature vectors \[N, T, 1\]/);
    model.dispose();
    floatModel.dispose();
  });
});

describe("token input through fit", () => {
  it("a tiny char-level language model learns to continue its text (variable-length batches)", async () => {
    const text = "the cat sat on the mat. ";
    const chars = [...new Set(text)].sort();
    const vocab = chars.length + 1; // id 0 is padding
    const id = (c: string) => chars.indexOf(c) + 1;
    // Windows of 6..14 characters from random offsets: x = chars, y = the next chars.
    const rng = new Rng(5);
    const xs: number[][] = [], ys: number[][] = [];
    const stream = text.repeat(8);
    for (let i = 0; i < 240; i++) {
      const len = 6 + rng.int(9);
      const at = rng.int(text.length);
      xs.push([...stream.slice(at, at + len)].map(id));
      ys.push([...stream.slice(at + 1, at + len + 1)].map(id));
    }
    const x = padSequences(xs);
    const y = padSequences(ys);
    expect([...x.lengths]).toEqual([...y.lengths]);
    const data = new SequenceDataset(x, y, "int32", { lengths: x.lengths });
    const model = new Sequential([new Embedding({ vocab, dim: 12, paddingIndex: 0 }), new LSTM({ units: 48 }), new Dense({ units: vocab })], { loss: "softmaxCrossEntropy", seed: 1 });
    const before = evaluate(model, data, { metrics: ["accuracy"] });
    const history = await fit(model, data, { epochs: 30, batchSize: 16, optimizer: new Adam({ lr: 1e-2, clipNorm: 1 }), metrics: ["accuracy"] });
    const after = evaluate(model, data, { metrics: ["accuracy"] });
    expect(before.accuracy).toBeLessThan(0.2);
    // Only the first character or two of a window is ambiguous ("the" / "at" repeat).
    expect(after.accuracy).toBeGreaterThan(0.85);
    expect(history.epochs[history.epochs.length - 1].loss).toBeLessThan(history.epochs[0].loss / 3);

    // Greedy continuation from a prompt with step(): it reproduces the text.
    model.resetState();
    let next = 0;
    let out = "";
    for (const c of "the cat") {
      const input = Tensor.fromArray([id(c)], [1], "int32");
      next = argmax(model.step(input).y.toFloat32Array());
      input.dispose();
    }
    for (let i = 0; i < 13; i++) {
      out += chars[next - 1] ?? "?";
      const input = Tensor.fromArray([next], [1], "int32");
      next = argmax(model.step(input).y.toFloat32Array());
      input.dispose();
    }
    expect(out).toBe(" sat on the m");
    model.dispose();
  });
});

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

// ---------------------------------------------------------------------------------------
// Sparse updates

interface SparseFixture {
  vocab: number;
  dim: number;
  padding_index: number;
  w0: number[];
  ids: number[][];
  dys: number[][];
  cases: Record<string, { optimizer: string; options: Record<string, number | number[]>; trajectory: number[][] }>;
}
const sparseFixture = JSON.parse(readFileSync(new URL("./fixtures/torch/sparse_embedding.json", import.meta.url), "utf8")) as SparseFixture;

/** Our optimizer for a torch case of sparse_embedding.json. */
function sparseOptimizer(c: SparseFixture["cases"][string]): Optimizer {
  const o = c.options;
  if (c.optimizer === "SGD") return new SGD({ lr: o.lr as number });
  if (c.optimizer === "SparseAdam") return new Adam({ lr: o.lr as number, betas: o.betas as [number, number], eps: o.eps as number });
  return new Adagrad({ lr: o.lr as number, lrDecay: o.lr_decay as number, weightDecay: o.weight_decay as number, initialAccumulatorValue: o.initial_accumulator_value as number, eps: o.eps as number });
}

/** One step on a lone embedding: forward ids [n, 1], backward dy, optimizer step. */
function embeddingStep(model: Sequential, opt: Optimizer, idv: ArrayLike<number>, dyv: ArrayLike<number>, dim: number): void {
  const x = Tensor.fromArray(Int32Array.from(idv), [idv.length, 1], "int32");
  const dy = Tensor.fromArray(Float32Array.from(dyv), [idv.length, 1, dim]);
  model.params.zeroGrads();
  model.forward(x, { training: true });
  model.backward(dy, { inputGrad: false });
  opt.step(model.params);
  x.dispose();
  dy.dispose();
}

/** A language model over token ids, sparse or dense embedding, same seed (same initial weights). */
function tokenModel(sparse: boolean, vocab = 40): Sequential {
  return new Sequential([new Embedding({ vocab, dim: 6, paddingIndex: 0, sparse }), new GRU({ units: 5 }), new Dense({ units: vocab })], { loss: "softmaxCrossEntropy", seed: 11 });
}

/** Next-token data over ids 1..12 of the vocabulary: most rows are never used. */
function tokenData(): { x: number[][]; y: number[][] } {
  const x: number[][] = [], y: number[][] = [];
  for (let n = 0; n < 12; n++) {
    const s = Array.from({ length: 7 }, (_, t) => 1 + ((n * 5 + t * 3) % 12));
    x.push(s.slice(0, 6));
    y.push(s.slice(1));
  }
  return { x, y };
}

describe("Embedding: sparse updates (nn.Embedding(sparse=True))", () => {
  // torch runs in float64 on the fixture's float32 values; we run in float32.
  const RTOL = 1e-6, ATOL = 1e-7;
  for (const [name, c] of Object.entries(sparseFixture.cases)) {
    it(`${name}: torch.optim.${c.optimizer}'s trajectory within ${RTOL} relative; rows no id touched keep their bits`, () => {
      const { vocab, dim, padding_index: pad } = sparseFixture;
      const model = new Sequential([new Embedding({ vocab, dim, paddingIndex: pad, sparse: true })], { seed: 1 });
      model.setWeights({ "embedding0.weight": sparseFixture.w0 });
      const opt = sparseOptimizer(c);
      let before = model.getWeights()["embedding0.weight"];
      sparseFixture.ids.forEach((idv, s) => {
        embeddingStep(model, opt, idv, sparseFixture.dys[s], dim);
        const w = model.getWeights()["embedding0.weight"];
        expectClose(w, c.trajectory[s], ATOL, RTOL, `${name} step ${s + 1}`);
        for (let r = 0; r < vocab; r++) {
          if (idv.includes(r) && r !== pad) continue;
          expectBitEqual(w.subarray(r * dim, (r + 1) * dim), before.subarray(r * dim, (r + 1) * dim), `${name} step ${s + 1}, untouched row ${r}`);
        }
        before = w;
      });
      // The padding row never had a gradient: still zero, and so is its optimizer state.
      expect([...before.subarray(pad * dim, (pad + 1) * dim)]).toEqual(new Array(dim).fill(0));
      const state = opt.getState();
      const entry = model.params.entry("embedding0.weight");
      for (const [buffer, values] of Object.entries(state.buffers)) {
        const initial = buffer === "sum" ? (c.options.initial_accumulator_value as number) : 0;
        expect([...values.subarray(entry.offset + pad * dim, entry.offset + (pad + 1) * dim)], `${buffer} of the padding row`).toEqual(new Array(dim).fill(initial));
      }
      opt.dispose();
      model.dispose();
    });
  }

  it("plain SGD: the same bits as dense updates, through fit and through trainStep", async () => {
    const data = tokenData();
    const dense = tokenModel(false), sparse = tokenModel(true);
    for (const model of [dense, sparse]) await fit(model, data, { epochs: 3, batchSize: 4, shuffle: false, optimizer: new SGD({ lr: 0.5 }) });
    const wd = dense.getWeights(), ws = sparse.getWeights();
    for (const name of Object.keys(wd)) expectBitEqual(ws[name], wd[name], name);
    // trainStep, time-major [T, B]
    const T = 6, B = 3;
    const idv = new Int32Array(T * B), tgt = new Int32Array(T * B);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) (idv[t * B + b] = data.x[b][t]), (tgt[t * B + b] = data.y[b][t]);
    const xt = Tensor.fromArray(idv, [T, B], "int32"), yt = Tensor.fromArray(tgt, [T, B], "int32");
    for (const model of [dense, sparse]) for (let i = 0; i < 3; i++) model.trainStep(xt, yt, { lr: 0.3 });
    const vd = dense.getWeights(), vs = sparse.getWeights();
    for (const name of Object.keys(vd)) expectBitEqual(vs[name], vd[name], `trainStep ${name}`);
    for (const t of [xt, yt]) t.dispose();
    dense.dispose();
    sparse.dispose();
  });

  it("Adam: rows the data never uses keep their initial bits (dense Adam moves them through its moments)", async () => {
    const data = tokenData();
    const dense = tokenModel(false), sparse = tokenModel(true);
    const w0 = sparse.getWeights()["embedding0.weight"];
    for (const model of [dense, sparse]) await fit(model, data, { epochs: 2, batchSize: 4, optimizer: new Adam({ lr: 0.01, weightDecay: 0.01 }) });
    const dim = 6, unused = { from: 13 * dim, to: 40 * dim }; // ids 13..39 never occur
    expectBitEqual(sparse.getWeights()["embedding0.weight"].subarray(unused.from, unused.to), w0.subarray(unused.from, unused.to), "unused rows, sparse");
    const moved = dense.getWeights()["embedding0.weight"].subarray(unused.from, unused.to);
    expect(moved.some((v, i) => v !== w0[unused.from + i])).toBe(true); // weight decay through dense Adam
    // The rows that were used did train.
    const used = sparse.getWeights()["embedding0.weight"].subarray(dim, 13 * dim);
    expect(used.some((v, i) => v !== w0[dim + i])).toBe(true);
    dense.dispose();
    sparse.dispose();
  });

  it("a step covers the dense parameters and only the touched rows; zeroGrads leaves every gradient zero", () => {
    const model = tokenModel(true, 1000);
    const entry = model.params.entry("embedding0.weight");
    const dim = 6;
    for (const idv of [[5, 9, 5, 0], [999, 1, 2, 3], [7]]) {
      const x = Tensor.fromArray(Int32Array.from(idv), [idv.length, 1], "int32");
      const y = Tensor.fromArray(Int32Array.from(idv, (v) => (v + 1) % 1000), [idv.length, 1], "int32");
      model.lossAndGradients(x, y);
      const ranges = model.params.activeRanges();
      let covered = 0;
      for (let i = 0; i < ranges.length; i += 2) covered += ranges[i + 1] - ranges[i];
      const rows = new Set(idv.filter((v) => v !== 0)).size; // the padding id 0 gets no gradient
      const table = model.params.entries[1].offset - entry.offset; // the embedding's slice, padding included
      expect(covered).toBe(model.params.length - table + rows * dim);
      const g = model.params.readGrad("embedding0.weight");
      for (let r = 0; r < 1000; r++) {
        const hasGrad = g.subarray(r * dim, (r + 1) * dim).some((v) => v !== 0);
        if (hasGrad) expect(idv.includes(r) && r !== 0, `row ${r} has a gradient`).toBe(true);
      }
      model.params.zeroGrads();
      expect(model.params.grads.toFloat32Array().every((v) => v === 0)).toBe(true);
      for (const t of [x, y]) t.dispose();
    }
    model.dispose();
  });

  it("clipNorm sees the same global norm as dense updates", () => {
    const norms = [false, true].map((sparse) => {
      const model = tokenModel(sparse);
      const x = Tensor.fromArray(Int32Array.from([3, 4, 5, 6]), [4, 1], "int32");
      const y = Tensor.fromArray(Int32Array.from([4, 5, 6, 7]), [4, 1], "int32");
      model.lossAndGradients(x, y);
      const opt = new SGD({ lr: 0.1, clipNorm: 1e-3 });
      const { gradNorm } = opt.step(model.params);
      for (const t of [x, y]) t.dispose();
      opt.dispose();
      model.dispose();
      return gradNorm;
    });
    expect(norms[1]).toBeGreaterThan(1e-3);
    expect(Math.abs(norms[1] - norms[0]) / norms[0]).toBeLessThan(1e-12);
  });

  it("is part of the architecture: saved and loaded, and checked", () => {
    const model = tokenModel(true);
    const { model: loaded } = Sequential.load(model.save());
    expect(loaded.config).toEqual(model.config);
    expect(loaded.params.entry("embedding0.weight").sparse).toBe(true);
    const dense = tokenModel(false);
    expect(dense.config).not.toEqual(model.config);
    dense.dispose();
    expect(() => new Embedding({ vocab: 4, dim: 2, sparse: "yes" as unknown as boolean })).toThrow(/Embedding: sparse must be true or false, got yes/);
    expect(() => model.params.touchRows("dense0.weight", [0])).toThrow(/parameter "dense0.weight" is not row-sparse/);
    expect(() => model.params.touchRows("embedding0.weight", [40])).toThrow(/row 40 is outside \[0, 39\]/);
    loaded.dispose();
    model.dispose();
  });
});
