// Sequence-to-one heads and variable-length batches through the model: the pooling kernels
// against their scalar twins and a plain reference, each mode's exact backward with lengths,
// finite-difference checks through whole models, the loss leaving out padded steps,
// padSequences, and clear errors for bad lengths.
import { afterEach, describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { padSequences } from "../src/data/padding.js";
import { Dense } from "../src/layers/dense.js";
import { GRU } from "../src/layers/gru.js";
import { LSTM } from "../src/layers/lstm.js";
import { Loss } from "../src/layers/losses.js";
import { SequencePooling, type PoolingMode } from "../src/layers/pooling.js";
import { Sequential } from "../src/models/sequential.js";
import { checkGradients, type GradientCheckInput } from "../src/train/gradcheck.js";
import { evaluate, fit } from "../src/train/fit.js";
import { Adam } from "../src/train/optimizers.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, putInt, rand } from "./helpers.js";

const MODES: PoolingMode[] = ["last", "mean", "max"];
const ctx = { training: true, rng: new Rng(0) };

/** Plain float64 pooling of x [T, B, F] over each sample's first L_b steps; argmax = first max. */
function poolReference(mode: PoolingMode, x: Float32Array, lengths: number[], T: number, B: number, F: number) {
  const y = new Float64Array(B * F);
  const at = new Int32Array(B * F);
  for (let b = 0; b < B; b++) {
    const L = lengths[b];
    for (let f = 0; f < F; f++) {
      const v = (t: number) => x[(t * B + b) * F + f];
      if (mode === "last") y[b * F + f] = v(L - 1);
      else if (mode === "mean") {
        let s = 0;
        for (let t = 0; t < L; t++) s += v(t);
        y[b * F + f] = s / L;
      } else {
        let best = v(0), arg = 0;
        for (let t = 1; t < L; t++) if (v(t) > best) [best, arg] = [v(t), t];
        y[b * F + f] = best;
        at[b * F + f] = arg;
      }
    }
  }
  return { y, at };
}

/** dL/dx of the pooling for an upstream gradient dy [B, F]. */
function poolGradReference(mode: PoolingMode, dy: Float32Array, at: Int32Array, lengths: number[], T: number, B: number, F: number): Float64Array {
  const dx = new Float64Array(T * B * F);
  for (let b = 0; b < B; b++) {
    const L = lengths[b];
    for (let f = 0; f < F; f++) {
      const g = dy[b * F + f];
      if (mode === "last") dx[((L - 1) * B + b) * F + f] = g;
      else if (mode === "mean") for (let t = 0; t < L; t++) dx[(t * B + b) * F + f] = g / L;
      else dx[(at[b * F + f] * B + b) * F + f] = g;
    }
  }
  return dx;
}

describe("pooling kernels", () => {
  afterEach(freeAll);

  it("mean and max: SIMD = scalar to the bit, and match the reference, with and without lengths", () => {
    for (const F of [1, 2, 3, 4, 5, 7, 8, 9, 16, 17]) {
      for (const B of [1, 2, 3]) {
        for (const T of [1, 2, 5]) {
          for (const withLengths of [false, true]) {
            const seed = 1000 * F + 100 * B + 10 * T + (withLengths ? 1 : 0);
            const xv = rand(T * B * F, seed, -2, 2);
            if (T > 2) xv[2 * B * F] = xv[0]; // a tie: the first step must win
            const lens = Array.from({ length: B }, (_, b) => (withLengths ? 1 + ((b * 7 + T) % T) : T));
            const x = put(xv), lp = withLengths ? putInt(lens) : 0;
            const dyv = rand(B * F, seed + 1);
            const dy = put(dyv);
            const what = `F ${F} B ${B} T ${T} lengths ${withLengths}`;
            // mean
            const m1 = put(new Float32Array(B * F)), m2 = put(new Float32Array(B * F));
            k().f32_seqpool_mean(m1, x, lp, T, B, F);
            k().f32_seqpool_mean_scalar(m2, x, lp, T, B, F);
            expectBitEqual(get(m1, B * F), get(m2, B * F), `mean ${what}`);
            expectClose(get(m1, B * F), poolReference("mean", xv, lens, T, B, F).y, 1e-6, 1e-6, `mean vs reference ${what}`);
            const dm1 = put(new Float32Array(T * B * F).fill(9)), dm2 = put(new Float32Array(T * B * F).fill(9));
            k().f32_seqpool_mean_backward(dm1, dy, lp, T, B, F);
            k().f32_seqpool_mean_backward_scalar(dm2, dy, lp, T, B, F);
            expectBitEqual(get(dm1, T * B * F), get(dm2, T * B * F), `dmean ${what}`);
            expectClose(get(dm1, T * B * F), poolGradReference("mean", dyv, new Int32Array(0), lens, T, B, F), 1e-7, 1e-6, `dmean vs reference ${what}`);
            // max
            const x1 = put(new Float32Array(B * F)), x2 = put(new Float32Array(B * F));
            const a1 = putInt(new Int32Array(B * F)), a2 = putInt(new Int32Array(B * F));
            k().f32_seqpool_max(x1, a1, x, lp, T, B, F);
            k().f32_seqpool_max_scalar(x2, a2, x, lp, T, B, F);
            expectBitEqual(get(x1, B * F), get(x2, B * F), `max ${what}`);
            const ref = poolReference("max", xv, lens, T, B, F);
            expectBitEqual(get(x1, B * F), Float32Array.from(ref.y), `max vs reference ${what}`);
            const at = new Int32Array(get(a1, B * F).buffer.slice(0));
            expect([...at], `argmax ${what}`).toEqual([...ref.at]);
            expect([...new Int32Array(get(a2, B * F).buffer.slice(0))], `argmax scalar ${what}`).toEqual([...ref.at]);
            const dx1 = put(new Float32Array(T * B * F).fill(9)), dx2 = put(new Float32Array(T * B * F).fill(9));
            k().f32_seqpool_max_backward(dx1, dy, a1, T, B, F);
            k().f32_seqpool_max_backward_scalar(dx2, dy, a1, T, B, F);
            expectBitEqual(get(dx1, T * B * F), get(dx2, T * B * F), `dmax ${what}`);
            expectBitEqual(get(dx1, T * B * F), Float32Array.from(poolGradReference("max", dyv, ref.at, lens, T, B, F)), `dmax vs reference ${what}`);
            freeAll();
          }
        }
      }
    }
  });
});

describe("SequencePooling layer", () => {
  for (const mode of MODES) {
    it(`${mode}: forward and exact backward with per-sample lengths; padded steps get exact zeros`, () => {
      const [T, B, F] = [5, 4, 6];
      const lengths = [5, 1, 3, 2];
      const model = new Sequential([new SequencePooling({ mode })], { inputSize: F });
      const xv = rand(T * B * F, 3);
      const x = Tensor.fromArray(xv, [T, B, F]);
      const y = model.forward(x, { lengths });
      expect(y.shape).toEqual([B, F]);
      const ref = poolReference(mode, xv, lengths, T, B, F);
      expectClose(y.toFloat32Array(), ref.y, 1e-6, 1e-6, "pooled");
      const dyv = rand(B * F, 4);
      const dy = Tensor.fromArray(dyv, [B, F]);
      const dx = model.backward(dy).toFloat32Array();
      expectClose(dx, poolGradReference(mode, dyv, ref.at, lengths, T, B, F), 1e-7, 1e-6, "dx");
      for (let b = 0; b < B; b++) for (let t = lengths[b]; t < T; t++) for (let f = 0; f < F; f++) expect(dx[(t * B + b) * F + f]).toBe(0);
      for (const t of [x, dy]) t.dispose();
      model.dispose();
    });
  }

  it("without lengths: last = the last step, mean = over all T, as returnSequences: false and x.mean(0) give", () => {
    const [T, B, F] = [4, 3, 5];
    const xv = rand(T * B * F, 8);
    const x = Tensor.fromArray(xv, [T, B, F]);
    for (const mode of MODES) {
      const layer = new SequencePooling({ mode });
      const m = new Sequential([layer], { inputSize: F });
      expectClose(m.forward(x).toFloat32Array(), poolReference(mode, xv, [T, T, T], T, B, F).y, 1e-6, 1e-6, mode);
      m.dispose();
    }
    x.dispose();
  });

  it("a padded sample gives what the same sample alone, unpadded, gives (packed-sequence semantics)", () => {
    const [T, B, I] = [6, 3, 4];
    const lengths = [6, 2, 4];
    const xv = rand(T * B * I, 11);
    for (const mode of MODES) {
      const model = new Sequential([new GRU({ units: 5 }), new SequencePooling({ mode }), new Dense({ units: 3 })], { inputSize: I, seed: 2 });
      const x = Tensor.fromArray(xv, [T, B, I]);
      const batched = model.forward(x, { lengths }).toFloat32Array();
      // Garbage in the padded steps changes nothing.
      const noisy = Float32Array.from(xv);
      for (let b = 0; b < B; b++) for (let t = lengths[b]; t < T; t++) for (let i = 0; i < I; i++) noisy[(t * B + b) * I + i] = 100 + t;
      const xn = Tensor.fromArray(noisy, [T, B, I]);
      expectBitEqual(model.forward(xn, { lengths }).toFloat32Array(), batched, `${mode}: padded steps ignored`);
      for (let b = 0; b < B; b++) {
        const L = lengths[b];
        const alone = new Float32Array(L * I);
        for (let t = 0; t < L; t++) alone.set(xv.subarray((t * B + b) * I, (t * B + b + 1) * I), t * I);
        const xa = Tensor.fromArray(alone, [L, 1, I]);
        expectClose(model.forward(xa).toFloat32Array(), batched.subarray(b * 3, b * 3 + 3), 1e-6, 1e-5, `${mode}: sample ${b} alone`);
        xa.dispose();
      }
      for (const t of [x, xn]) t.dispose();
      model.dispose();
    }
  });
});

describe("finite differences through sequence-to-one models with lengths", () => {
  for (const mode of MODES) {
    it(`LSTM → pooling "${mode}" → Dense, cross-entropy: every parameter and the input`, () => {
      const [T, B, I] = [5, 3, 3];
      const lengths = [5, 2, 4];
      const model = new Sequential([new LSTM({ units: 6 }), new SequencePooling({ mode }), new Dense({ units: 4 })], { inputSize: I, loss: "softmaxCrossEntropy", seed: 6 });
      const x = Tensor.fromArray(rand(T * B * I, 12, -2, 2), [T, B, I]);
      const y = Tensor.fromArray([0, 3, 1], [B], "int32");
      let dx: Float32Array = new Float32Array(0);
      const inputs: GradientCheckInput[] = model.params.entries.map((e) => ({ name: e.name, values: Tensor.view(model.params.values, e.offset, e.shape), grad: () => model.params.readGrad(e.name) }));
      inputs.push({ name: "x", values: x, grad: () => dx });
      const report = checkGradients({
        loss: () => model.computeLoss(x, y, { lengths }),
        lossAndGrad: () => {
          const pred = model.forward(x, { training: true, lengths });
          model.params.zeroGrads();
          const l = model.loss!.compute(pred, y); // sequence-level targets: no step mask
          dx = model.backward(model.loss!.grad).toFloat32Array();
          return l;
        },
        inputs,
        // max pooling has kinks where the argmax changes: keep the step well inside one piece.
        epsilon: mode === "max" ? 1e-3 : undefined,
        tolerance: mode === "max" ? 2e-2 : undefined,
      });
      expect(report.results.filter((r) => !r.ok)).toEqual([]);
      for (const t of [x, y]) t.dispose();
      model.dispose();
    });
  }

  it("per-step targets: LSTM → Dense, MSE, the loss leaves out padded steps", () => {
    const [T, B, I, C] = [4, 3, 2, 3];
    const lengths = [4, 1, 3];
    const model = new Sequential([new LSTM({ units: 5 }), new Dense({ units: C })], { inputSize: I, loss: "mse", seed: 8 });
    const x = Tensor.fromArray(rand(T * B * I, 13), [T, B, I]);
    const y = Tensor.fromArray(rand(T * B * C, 14), [T, B, C]);
    const inputs = model.params.entries.map((e) => ({ name: e.name, values: Tensor.view(model.params.values, e.offset, e.shape), grad: () => model.params.readGrad(e.name) }));
    const report = checkGradients({ loss: () => model.computeLoss(x, y, { lengths }), lossAndGrad: () => model.lossAndGradients(x, y, { lengths }), inputs });
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    for (const t of [x, y]) t.dispose();
    model.dispose();
  });
});

describe("the loss with lengths", () => {
  it("sums only real steps (sumOverTime over the batch; mean over real rows); padded targets may hold anything", () => {
    const [T, B, C] = [3, 2, 4];
    const lengths = [3, 1];
    const logits = rand(T * B * C, 20, -2, 2);
    const targets = [1, 2, 3, 999, 0, -5]; // [T, B]: the padded rows (t ≥ 1 for b = 1) hold garbage
    const xent = (r: number) => {
      const row = [...logits.slice(r * C, r * C + C)];
      const m = Math.max(...row);
      return m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[targets[r]];
    };
    const real = [0, 1, 2, 4]; // rows t·B + b with t < lengths[b]
    const want = real.reduce((s, r) => s + xent(r), 0);
    for (const reduction of ["sumOverTime", "mean"] as const) {
      const model = new Sequential([new Dense({ units: C, bias: false })], { inputSize: C, loss: new Loss("softmaxCrossEntropy", { reduction }) });
      const eye = new Float32Array(C * C);
      for (let i = 0; i < C; i++) eye[i * C + i] = 1;
      model.setWeights({ "dense0.weight": eye });
      const x = Tensor.fromArray(logits, [T, B, C]);
      const y = Tensor.fromArray(targets, [T, B], "int32");
      const loss = model.lossAndGradients(x, y, { lengths });
      expect(loss).toBeCloseTo(want / (reduction === "mean" ? real.length : B), 5);
      const g = model.loss!.grad.toFloat32Array();
      for (const r of [3, 5]) expect([...g.subarray(r * C, r * C + C)]).toEqual([0, 0, 0, 0]);
      expect(() => model.lossAndGradients(x, y)).toThrow(/target 3 is 999, outside the 4 classes/); // without lengths they count
      for (const t of [x, y]) t.dispose();
      model.dispose();
    }
  });

  it("with every length = T, the same bits as no lengths at all", () => {
    const model = new Sequential([new LSTM({ units: 4 }), new Dense({ units: 2 })], { inputSize: 3, loss: "mse", seed: 1 });
    const x = Tensor.fromArray(rand(4 * 2 * 3, 1), [4, 2, 3]);
    const y = Tensor.fromArray(rand(4 * 2 * 2, 2), [4, 2, 2]);
    const a = model.lossAndGradients(x, y);
    const ga = model.params.grads.toFloat32Array();
    const b = model.lossAndGradients(x, y, { lengths: [4, 4] });
    expect(b).toBe(a);
    expectBitEqual(model.params.grads.toFloat32Array(), ga, "grads");
    for (const t of [x, y]) t.dispose();
    model.dispose();
  });
});

describe("padSequences", () => {
  it("pads token sequences at the end, with lengths", () => {
    const p = padSequences([[5, 6, 7], [8], [9, 10]]);
    expect(p.shape).toEqual([3, 3]);
    expect(p.data).toBeInstanceOf(Int32Array);
    expect([...p.data]).toEqual([5, 6, 7, 8, 0, 0, 9, 10, 0]);
    expect([...p.lengths]).toEqual([3, 1, 2]);
    const q = padSequences([[5, 6, 7], [8]], { maxLength: 2, value: 3 });
    expect([...q.data]).toEqual([5, 6, 8, 3]);
    expect([...q.lengths]).toEqual([2, 1]);
    const r = padSequences([[5, 6, 7], [8]], { maxLength: 2, truncate: "start" });
    expect([...r.data]).toEqual([6, 7, 8, 0]);
    const wide = padSequences([[1, 2]], { maxLength: 4 });
    expect([...wide.data]).toEqual([1, 2, 0, 0]);
  });

  it("pads sequences of feature vectors", () => {
    const p = padSequences([[[1, 2], [3, 4]], [[5, 6]]], { value: -1 });
    expect(p.shape).toEqual([2, 2, 2]);
    expect(p.data).toBeInstanceOf(Float32Array);
    expect([...p.data]).toEqual([1, 2, 3, 4, 5, 6, -1, -1]);
    expect([...p.lengths]).toEqual([2, 1]);
  });

  it("names bad input", () => {
    expect(() => padSequences([])).toThrow(/non-empty array of sequences/);
    expect(() => padSequences([[1], []])).toThrow(/sequence 1 is empty/);
    expect(() => padSequences([[1, 2.5]])).toThrow(/sequence 0, step 1 is 2.5; token ids must be whole numbers/);
    expect(() => padSequences([[[1, 2]], [[3]]])).toThrow(/sequence 1, step 0 should be a vector of 2 values \(like the first step\), got 1 values/);
    expect(() => padSequences([[[1, NaN]]])).toThrow(/value 1 is NaN/);
    expect(() => padSequences([[1]], { maxLength: 0 })).toThrow(/maxLength must be a whole number >= 1/);
    expect(() => padSequences([[1]], { pad: 1 } as never)).toThrow(/unknown option "pad"/);
  });
});

describe("lengths: errors", () => {
  it("names bad lengths in forward, fit and the pooling layer", async () => {
    const model = new Sequential([new GRU({ units: 3 }), new SequencePooling({ mode: "mean" }), new Dense({ units: 2 })], { inputSize: 2, loss: "softmaxCrossEntropy" });
    const x = Tensor.zeros([4, 2, 2]);
    expect(() => model.forward(x, { lengths: [4, 0] })).toThrow(/lengths\[1\] must be a whole number in \[1, 4\] \(the batch has 4 steps\), got 0/);
    expect(() => model.forward(x, { lengths: [5, 1] })).toThrow(/lengths\[0\] must be a whole number in \[1, 4\].*got 5/);
    expect(() => model.forward(x, { lengths: [2.5, 1] })).toThrow(/got 2.5/);
    expect(() => model.forward(x, { lengths: [1, 2, 3] })).toThrow(/one length per sample \(2\), got 3/);
    expect(() => model.forward(x, { lenghts: [1, 2] } as never)).toThrow(/unknown option "lenghts"/);
    const pool = new SequencePooling({ mode: "max" });
    const m2 = new Sequential([pool], { inputSize: 2 });
    expect(() => pool.forward(x, ctx, [9, 1])).toThrow(/pooling layer "pooling0".*lengths\[0\].*got 9/);
    await expect(fit(model, { x: [[[1, 2], [3, 4]]], y: [1], lengths: [3] })).rejects.toThrow(/lengths\[0\] must be a whole number in \[1, 2\].*got 3/);
    expect(() => new SequencePooling({ mode: "sum" as never })).toThrow(/mode must be one of "last", "mean", "max", got "sum"/);
    x.dispose();
    model.dispose();
    m2.dispose();
  });
});

describe("fit with variable lengths", () => {
  it("learns a sequence-to-one task whose padded steps hold noise", async () => {
    // Class: is the sum of the REAL steps positive? Padding holds large noise a model that
    // ignored lengths would trip over.
    const rng = new Rng(3);
    const seqs: number[][][] = [], labels: number[] = [];
    for (let n = 0; n < 400; n++) {
      const L = 2 + rng.int(9);
      const s: number[][] = [];
      let sum = 0;
      for (let t = 0; t < L; t++) {
        const v = rng.uniform(-1, 1);
        s.push([v]);
        sum += v;
      }
      seqs.push(s);
      labels.push(sum > 0 ? 1 : 0);
    }
    const p = padSequences(seqs, { value: 0 });
    for (let n = 0; n < 400; n++) for (let t = p.lengths[n]; t < p.shape[1]; t++) p.data[n * p.shape[1] + t] = rng.uniform(-5, 5);
    const model = new Sequential([new GRU({ units: 16 }), new SequencePooling({ mode: "mean" }), new Dense({ units: 2 })], { inputSize: 1, loss: "softmaxCrossEntropy", seed: 4 });
    const data = { x: { data: p.data, shape: p.shape }, y: labels, lengths: p.lengths };
    const history = await fit(model, data, { epochs: 15, batchSize: 16, optimizer: new Adam({ lr: 1e-2 }), validationSplit: 0.2, metrics: ["accuracy"] });
    expect(history.epochs[history.epochs.length - 1].valAccuracy).toBeGreaterThan(0.85);
    expect(evaluate(model, data, { metrics: ["accuracy"] }).accuracy).toBeGreaterThan(0.9);
    model.dispose();
  });
});
