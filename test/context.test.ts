// Context conditioning (the image-captioning case): a fixed per-sample vector joined to every
// step ("input") and/or mapped through a learned tanh projection to the first recurrent
// layer's initial state ("initialState"). Finite-difference checks of every parameter, the
// input and the context; what each mode computes; training through fit; clear errors.
import { describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Dense } from "../src/layers/dense.js";
import { Embedding } from "../src/layers/embedding.js";
import { GRU } from "../src/layers/gru.js";
import { LSTM } from "../src/layers/lstm.js";
import { Elman } from "../src/layers/elman.js";
import type { Layer } from "../src/layers/layer.js";
import { Sequential, type ContextMode } from "../src/models/sequential.js";
import { checkGradients, type GradientCheckInput } from "../src/train/gradcheck.js";
import { evaluate, fit } from "../src/train/fit.js";
import { Adam } from "../src/train/optimizers.js";
import { expectBitEqual, expectClose, rand } from "./helpers.js";

/** Finite differences of the model's loss: every parameter, the float input (if any) and the context. */
function checkWithContext(model: Sequential, x: Tensor, y: Tensor, c: Tensor, lengths?: number[]): void {
  let dx: Float32Array = new Float32Array(0);
  let dc: Float32Array = new Float32Array(0);
  const inputs: GradientCheckInput[] = model.params.entries.map((e) => ({ name: e.name, values: Tensor.view(model.params.values, e.offset, e.shape), grad: () => model.params.readGrad(e.name) }));
  if (x.dtype === "float32") inputs.push({ name: "x", values: x, grad: () => dx });
  inputs.push({ name: "context", values: c, grad: () => dc });
  const report = checkGradients({
    loss: () => model.computeLoss(x, y, { context: c, lengths }),
    lossAndGrad: () => {
      const pred = model.forward(x, { training: true, context: c, lengths });
      model.params.zeroGrads();
      const m = model.stepMask();
      const mask = m ? Tensor.fromArray(m, [m.length]) : null;
      const l = model.loss!.compute(pred, y, mask);
      mask?.dispose();
      dx = model.backward(model.loss!.grad).toFloat32Array();
      dc = model.contextGrad!.toFloat32Array();
      return l;
    },
    inputs,
  });
  expect(report.results.filter((r) => !r.ok)).toEqual([]);
  expect(dc.some((v) => v !== 0)).toBe(true);
}

describe("context conditioning: finite differences", () => {
  const [T, B, I, S] = [4, 3, 3, 5];
  const cases: [string, () => Layer[], ContextMode][] = [
    ["LSTM, initialState (h0 and c0)", () => [new LSTM({ units: 6 }), new Dense({ units: 4 })], "initialState"],
    ["GRU, input", () => [new GRU({ units: 6 }), new Dense({ units: 4 })], "input"],
    ["Dense → LSTM (returnSequences false), both", () => [new Dense({ units: 4, activation: "tanh" }), new LSTM({ units: 5, returnSequences: false }), new Dense({ units: 4 })], "both"],
    ["Elman, both", () => [new Elman({ units: 6 }), new Dense({ units: 4 })], "both"],
    ["Bidirectional GRU, initialState (both directions start from the context)", () => [new Bidirectional(new GRU({ units: 4 })), new Dense({ units: 4 })], "initialState"],
  ];
  for (const [name, layers, mode] of cases) {
    it(name, () => {
      const model = new Sequential(layers(), { inputSize: I, loss: "softmaxCrossEntropy", seed: 3, context: { size: S, mode } });
      const perStep = model.layers.every((l) => !(l instanceof LSTM) || l.returnSequences);
      const x = Tensor.fromArray(rand(T * B * I, 1), [T, B, I]);
      const y = perStep ? Tensor.fromArray(Array.from(rand(T * B, 2, 0, 4), Math.floor), [T, B], "int32") : Tensor.fromArray([1, 0, 3], [B], "int32");
      const c = Tensor.fromArray(rand(B * S, 3), [B, S]);
      checkWithContext(model, x, y, c);
      for (const t of [x, y, c]) t.dispose();
      model.dispose();
    });
  }

  it("Embedding → LSTM, both, per-step targets with lengths (the captioning model)", () => {
    const model = new Sequential([new Embedding({ vocab: 9, dim: 4, paddingIndex: 0 }), new LSTM({ units: 6 }), new Dense({ units: 9 })], { loss: "softmaxCrossEntropy", seed: 5, context: { size: S, mode: "both" } });
    const x = Tensor.fromArray(Array.from(rand(T * B, 4, 1, 9), Math.floor), [T, B], "int32");
    const y = Tensor.fromArray(Array.from(rand(T * B, 5, 0, 9), Math.floor), [T, B], "int32");
    const c = Tensor.fromArray(rand(B * S, 6), [B, S]);
    checkWithContext(model, x, y, c, [4, 2, 3]);
    for (const t of [x, y, c]) t.dispose();
    model.dispose();
  });
});

describe("context conditioning: what each mode computes", () => {
  it("initialState: each state of the first recurrent layer starts at tanh(W c + b), one projection per state", () => {
    const [T, B, I, S, H] = [3, 2, 2, 4, 5];
    const model = new Sequential([new LSTM({ units: H })], { inputSize: I, seed: 1, context: { size: S, mode: "initialState" } });
    const w = model.getWeights();
    expect(Object.keys(w)).toEqual(["lstm0.weight_ih", "lstm0.weight_hh", "lstm0.bias_ih", "lstm0.bias_hh", "context.h0.weight", "context.h0.bias", "context.c0.weight", "context.c0.bias"]);
    expect(model.params.entry("context.c0.weight").shape).toEqual([H, S]);
    model.setWeights({ "context.h0.bias": rand(H, 9), "context.c0.bias": rand(H, 10) });
    const xv = rand(T * B * I, 2), cv = rand(B * S, 3);
    const x = Tensor.fromArray(xv, [T, B, I]);
    const c = Tensor.fromArray(cv, [B, S]);
    const out = model.forward(x, { context: c }).toFloat32Array();
    // The same LSTM alone, started from the projections computed here.
    const project = (name: string) => {
      const W = model.params.read(`context.${name}.weight`), b = model.params.read(`context.${name}.bias`);
      const h = new Float32Array(B * H);
      for (let s = 0; s < B; s++) for (let j = 0; j < H; j++) {
        let a = b[j];
        for (let i = 0; i < S; i++) a += W[j * S + i] * cv[s * S + i];
        h[s * H + j] = Math.tanh(a);
      }
      return Tensor.fromArray(h, [B, H]);
    };
    const plain = new Sequential([new LSTM({ units: H })], { inputSize: I });
    plain.setWeights(Object.fromEntries(Object.entries(w).filter(([n]) => n.startsWith("lstm0"))));
    const h0 = project("h0"), c0 = project("c0");
    const ref = (plain.layers[0] as LSTM).forward(x, { training: false, rng: new Rng(0) }, [h0, c0]).toFloat32Array();
    expectClose(out, ref, 2e-6, 1e-5, "output");
    for (const t of [x, c, h0, c0]) t.dispose();
    model.dispose();
    plain.dispose();
  });

  it("input: the same bits as a model without context fed [x_t, c] at every step", () => {
    const [T, B, I, S] = [4, 3, 2, 3];
    const model = new Sequential([new GRU({ units: 4 }), new Dense({ units: 2 })], { inputSize: I, seed: 2, context: { size: S, mode: "input" } });
    expect(model.params.entry("gru0.weight_ih").shape).toEqual([12, I + S]);
    const plain = new Sequential([new GRU({ units: 4 }), new Dense({ units: 2 })], { inputSize: I + S });
    plain.setWeights(model.getWeights());
    const xv = rand(T * B * I, 4), cv = rand(B * S, 5);
    const joined = new Float32Array(T * B * (I + S));
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) {
      joined.set(xv.subarray((t * B + b) * I, (t * B + b + 1) * I), (t * B + b) * (I + S));
      joined.set(cv.subarray(b * S, (b + 1) * S), (t * B + b) * (I + S) + I);
    }
    const x = Tensor.fromArray(xv, [T, B, I]), c = Tensor.fromArray(cv, [B, S]), xj = Tensor.fromArray(joined, [T, B, I + S]);
    expectBitEqual(model.forward(x, { context: c }).toFloat32Array(), plain.forward(xj).toFloat32Array(), "output");
    for (const t of [x, c, xj]) t.dispose();
    model.dispose();
    plain.dispose();
  });

  it("adding a context leaves the layers' initialisation as it was", () => {
    const a = new Sequential([new LSTM({ units: 4 }), new Dense({ units: 2 })], { inputSize: 3, seed: 7 });
    const b = new Sequential([new LSTM({ units: 4 }), new Dense({ units: 2 })], { inputSize: 3, seed: 7, context: { size: 2, mode: "initialState" } });
    const wa = a.getWeights(), wb = b.getWeights();
    for (const name of Object.keys(wa)) expectBitEqual(wb[name], wa[name], name);
    a.dispose();
    b.dispose();
  });
});

describe("context conditioning: training", () => {
  it("an LSTM learns to say what its context shows (initialState only: the inputs are noise)", async () => {
    const [N, T, S] = [256, 6, 4];
    const rng = new Rng(1);
    const x = new Float32Array(N * T * 2), c = new Float32Array(N * S), y = new Int32Array(N * T);
    for (let n = 0; n < N; n++) {
      const cls = rng.int(S);
      c[n * S + cls] = 1;
      for (let t = 0; t < T; t++) y[n * T + t] = (cls + t) % S; // a "caption" that depends on the context
      for (let i = 0; i < T * 2; i++) x[n * T * 2 + i] = rng.uniform(-1, 1);
    }
    const data = { x: { data: x, shape: [N, T, 2] }, y: { data: y, shape: [N, T] }, context: { data: c, shape: [N, S] } };
    const model = new Sequential([new LSTM({ units: 16 }), new Dense({ units: S })], { inputSize: 2, loss: "softmaxCrossEntropy", seed: 2, context: { size: S, mode: "initialState" } });
    await fit(model, data, { epochs: 20, batchSize: 16, optimizer: new Adam({ lr: 1e-2 }) });
    expect(evaluate(model, data, { metrics: ["accuracy"] }).accuracy).toBeGreaterThan(0.95);
    model.dispose();
  });
});

describe("context conditioning: errors", () => {
  it("names a missing, unexpected or wrong-sized context", async () => {
    const model = new Sequential([new LSTM({ units: 3 }), new Dense({ units: 2 })], { inputSize: 2, loss: "mse", context: { size: 4, mode: "both" } });
    const x = Tensor.zeros([3, 2, 2]);
    const c = Tensor.zeros([2, 5]);
    expect(() => model.forward(x)).toThrow(/conditioned on a context: pass \{ context \} \(\[2, 4\] float32\)/);
    expect(() => model.forward(x, { context: c })).toThrow(/expected context \[2, 4\] \(batch 2, context size 4\), got float32 \[2, 5\]/);
    const c3 = Tensor.zeros([3, 4]);
    expect(() => model.forward(x, { context: c3 })).toThrow(/expected context \[2, 4\].*got float32 \[3, 4\]/);
    const nan = Tensor.fromArray(new Float32Array(8).fill(NaN), [2, 4]);
    expect(() => model.forward(x, { context: nan })).toThrow(/context \[2, 4\] contains NaN/);
    const plain = new Sequential([new Dense({ units: 2 })], { inputSize: 2, loss: "mse" });
    const ok = Tensor.zeros([2, 4]);
    expect(() => plain.forward(x, { context: ok })).toThrow(/this model takes no context/);
    const data = { x: [[[1, 2]]], y: [[[1, 2]]] };
    await expect(fit(model, data)).rejects.toThrow(/conditioned on a context of 4 values per sample; give context \[N, 4\]/);
    await expect(fit(model, { ...data, context: [[1, 2, 3]] })).rejects.toThrow(/context has 3 values per sample, the model takes 4/);
    await expect(fit(plain, { ...data, context: [[1, 2, 3, 4]] })).rejects.toThrow(/the data has a context, but the model takes none/);
    for (const t of [x, c, c3, nan, ok]) t.dispose();
    model.dispose();
    plain.dispose();
  });

  it("validates the context options", () => {
    const make = (context: unknown, layers: Layer[] = [new LSTM({ units: 2 })]) => () => new Sequential(layers, { inputSize: 2, context: context as never });
    expect(make({ size: 0, mode: "input" })).toThrow(/context.size must be a whole number >= 1, got 0/);
    expect(make({ size: 2, mode: "start" })).toThrow(/context.mode must be one of "input", "initialState", "both", got start/);
    expect(make({ size: 2, mode: "input", extra: 1 })).toThrow(/unknown context option "extra"/);
    expect(make({ size: 2, mode: "initialState" }, [new Dense({ units: 2 })])).toThrow(/sets the initial state of the first recurrent layer, and the model has none/);
    expect(() => new Sequential([new Embedding({ vocab: 3, dim: 2 })], { context: { size: 2, mode: "input" } })).toThrow(/a layer must follow the Embedding/);
  });
});
