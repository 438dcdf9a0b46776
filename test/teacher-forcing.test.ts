// Teacher forcing and scheduled sampling. Jordan nets: with teacher forcing each step sees
// the target y_{t−1} (so step t equals a one-step run started from that target, bit for
// bit), the gradient stops at fed targets (finite differences, full and mixed), probability 1
// is free running exactly, and a net trained with teacher forcing generates on its own.
// Token models: scheduled sampling replaces inputs by the model's own predictions (checked
// against doing it by hand), refuses data that is not next-token, and follows a schedule.
import { describe, expect, it } from "vitest";
import { Tensor, UnfoldError } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { Dense } from "../src/layers/dense.js";
import { Embedding } from "../src/layers/embedding.js";
import { GRU } from "../src/layers/gru.js";
import { Jordan } from "../src/layers/jordan.js";
import { LSTM } from "../src/layers/lstm.js";
import { Sequential } from "../src/models/sequential.js";
import { argmax } from "../src/models/generate.js";
import { fit } from "../src/train/fit.js";
import { Adam } from "../src/train/optimizers.js";
import { checkGradients } from "../src/train/gradcheck.js";
import { expectBitEqual, rand } from "./helpers.js";

const T = 6, B = 3, I = 2, O = 3;

function jordanModel(seed = 1) {
  const layer = new Jordan({ units: O, hiddenUnits: 7, outputActivation: "tanh" });
  return { layer, model: new Sequential([layer], { inputSize: I, loss: "mse", seed }) };
}

describe("Jordan with teacher forcing", () => {
  it("step t sees the target y_{t−1}: equals a one-step run from that target, bit for bit", () => {
    const { model } = jordanModel();
    const x = Tensor.fromArray(rand(T * B * I, 1), [T, B, I]);
    const y = Tensor.fromArray(rand(T * B * O, 2), [T, B, O]);
    model.computeLoss(x, y, { teacherForcing: true });
    const forced = model.lastOutput!.toFloat32Array();
    const n = B * O;
    for (let t = 0; t < T; t++) {
      const xt = Tensor.fromArray(x.toFloat32Array().slice(t * B * I, (t + 1) * B * I), [1, B, I]);
      const prev = Tensor.fromArray(t === 0 ? new Float32Array(n) : y.toFloat32Array().slice((t - 1) * n, t * n), [B, O]);
      const one = model.forward(xt, { initialState: [prev] }).toFloat32Array();
      expectBitEqual(one, forced.slice(t * n, (t + 1) * n), `step ${t}`);
      xt.dispose();
      prev.dispose();
    }
    // Free running (no option) feeds its own outputs: different from step 1 on.
    const free = model.forward(x).toFloat32Array();
    expectBitEqual(free.slice(0, n), forced.slice(0, n), "step 0");
    expect(Array.from(free.slice(n))).not.toEqual(Array.from(forced.slice(n)));
    x.dispose();
    y.dispose();
    model.dispose();
  });

  for (const [mixed, varying] of [[false, false], [false, true], [true, true]]) {
    it(`finite differences: the gradient stops at fed targets (${mixed ? "scheduled sampling: some steps fed their own output" : "every step fed the target"}${varying ? ", variable lengths" : ""})`, () => {
      const { layer, model } = jordanModel(3);
      const x = Tensor.fromArray(rand(T * B * I, 4), [T, B, I]);
      const y = Tensor.fromArray(rand(T * B * O, 5), [T, B, O]);
      const lengths = varying ? Int32Array.from([6, 4, 2]) : undefined;
      const own = mixed ? Uint8Array.from({ length: T * B }, (_, i) => (i >= B && i % 2 === 0 ? 1 : 0)) : null;
      const teach = () => void (layer.teacher = { targets: y, own });
      const loss = () => (teach(), model.computeLoss(x, y, { lengths }));
      const lossAndGrad = () => (teach(), model.lossAndGradients(x, y, { lengths }));
      const report = checkGradients({ loss, lossAndGrad, inputs: [{ name: "params", values: model.params.values, grad: () => model.params.grads.toFloat32Array() }], directions: 3, seed: 7 });
      expect(report.ok, JSON.stringify(report.results)).toBe(true);
      x.dispose();
      y.dispose();
      model.dispose();
    });
  }

  it("scheduled sampling with probability 1 is free running, outputs and gradients bit for bit", () => {
    const x = Tensor.fromArray(rand(T * B * I, 6), [T, B, I]);
    const y = Tensor.fromArray(rand(T * B * O, 7), [T, B, O]);
    const a = jordanModel(2).model;
    const b = jordanModel(2).model;
    const la = a.lossAndGradients(x, y);
    const lb = b.lossAndGradients(x, y, { scheduledSampling: { probability: 1 } });
    expect(lb).toBe(la);
    expectBitEqual(b.params.grads.toFloat32Array(), a.params.grads.toFloat32Array(), "gradients");
    // Probability 0 is plain teacher forcing.
    const lc = b.lossAndGradients(x, y, { scheduledSampling: { probability: 0 } });
    expect(lc).toBe(a.lossAndGradients(x, y, { teacherForcing: true }));
    for (const t of [x, y]) t.dispose();
    a.dispose();
    b.dispose();
  });

  it("a Jordan net trained with teacher forcing generates a rotation on its own", async () => {
    // y_t = R(ω) y_{t−1}: (sin, cos) of a phase advancing by ω; the input is a constant 1.
    const steps = 30, n = 64, w = 0.3;
    const rng = new Rng(3);
    const phases = Float32Array.from({ length: n }, () => rng.uniform(0, 2 * Math.PI));
    const xs = new Float32Array(n * steps).fill(1);
    const ys = new Float32Array(n * steps * 2);
    for (let s = 0; s < n; s++) for (let t = 0; t < steps; t++) {
      ys[(s * steps + t) * 2] = Math.sin(phases[s] + w * (t + 1));
      ys[(s * steps + t) * 2 + 1] = Math.cos(phases[s] + w * (t + 1));
    }
    const model = new Sequential([new Jordan({ units: 2, hiddenUnits: 16, outputActivation: "tanh" })], { inputSize: 1, loss: "mse", seed: 5 });
    const optimizer = new Adam({ lr: 1e-2 });
    // Free-running error from the true starting point y_{−1} = (sin φ, cos φ), over all steps.
    const freeError = () => {
      const x = Tensor.fromArray(xs.slice(0, 8 * steps), [steps, 8, 1]);
      const start = Tensor.fromArray(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? Math.sin(phases[i >> 1]) : Math.cos(phases[i >> 1]))), [8, 2]);
      const out = model.forward(x, { initialState: [start] }).toFloat32Array();
      let se = 0;
      for (let t = 0; t < steps; t++) for (let s = 0; s < 8; s++) for (let c = 0; c < 2; c++) se += (out[(t * 8 + s) * 2 + c] - ys[(s * steps + t) * 2 + c]) ** 2;
      x.dispose();
      start.dispose();
      return se / (steps * 8 * 2);
    };
    const before = freeError();
    // Training data starts every sequence at step 1 with its true y_0 fed by the targets: the
    // first step (y_{−1} = 0) is part of the loss too, so the net also learns to start.
    await fit(model, { x: { data: xs, shape: [n, steps, 1] }, y: { data: ys, shape: [n, steps, 2] } }, { epochs: 150, batchSize: 16, optimizer, teacherForcing: true });
    const after = freeError();
    expect(before).toBeGreaterThan(0.2);
    expect(after).toBeLessThan(0.02);
    optimizer.dispose();
    model.dispose();
  });

  it("refuses what does not apply, with messages that say why", () => {
    const x = Tensor.fromArray(rand(T * B * I, 8), [T, B, I]);
    const y = Tensor.fromArray(rand(T * B * O, 9), [T, B, O]);
    const lstm = new Sequential([new LSTM({ units: 4 }), new Dense({ units: O })], { inputSize: I, loss: "mse" });
    expect(() => lstm.lossAndGradients(x, y, { teacherForcing: true })).toThrow(/applies to a model whose last layer is a Jordan layer, or to a token model/);
    const { model } = jordanModel();
    expect(() => model.lossAndGradients(x, y, { scheduledSampling: { probability: 1.5 } })).toThrow(/probability must be in \[0, 1\], got 1.5/);
    expect(() => model.lossAndGradients(x, y, { scheduledSampling: { probability: 0.5, from: "argmax" } })).toThrow(/a Jordan layer feeds back its output values/);
    const wrong = Tensor.fromArray(rand(T * B * 2, 9), [T, B, 2]);
    expect(() => model.computeLoss(x, wrong, { teacherForcing: true })).toThrow(/must be float32 \[6, 3, 3\] like its output, got float32 \[6, 3, 2\]/);
    // Nothing stays armed after a failed call: the next plain forward feeds itself.
    const free = new Sequential([new Jordan({ units: O, hiddenUnits: 7, outputActivation: "tanh" })], { inputSize: I, seed: 1 });
    expectBitEqual(model.forward(x).toFloat32Array(), free.forward(x).toFloat32Array(), "free running after an error");
    for (const t of [x, y, wrong]) t.dispose();
    for (const m of [lstm, model, free]) m.dispose();
  });
});

describe("scheduled sampling for a token model", () => {
  const V = 5, steps = 7, batch = 4;
  /** Next-token data: x_t = y_{t−1}. */
  function nextToken(seed: number) {
    const rng = new Rng(seed);
    const seq = Int32Array.from({ length: (steps + 1) * batch }, () => Math.floor(rng.next() * V));
    const x = Tensor.fromArray(seq.slice(0, steps * batch), [steps, batch], "int32");
    const y = Tensor.fromArray(seq.slice(batch), [steps, batch], "int32");
    return { x, y };
  }
  const lm = (seed = 2) => new Sequential([new Embedding({ vocab: V, dim: 4 }), new GRU({ units: 6 }), new Dense({ units: V })], { loss: "softmaxCrossEntropy", seed });

  it("probability 1, argmax: the inputs after the first are the model's predictions, as done by hand", () => {
    const { x, y } = nextToken(1);
    const model = lm();
    const logits = model.forward(x).toFloat32Array();
    const mixed = x.toTypedArray() as Int32Array;
    for (let t = 1; t < steps; t++) for (let b = 0; b < batch; b++) mixed[t * batch + b] = argmax(logits.subarray(((t - 1) * batch + b) * V, ((t - 1) * batch + b + 1) * V));
    const byHand = Tensor.fromArray(mixed, [steps, batch], "int32");
    const expected = model.computeLoss(byHand, y);
    expect(model.lossAndGradients(x, y, { scheduledSampling: { probability: 1, from: "argmax" } })).toBe(expected);
    // Probability 0 is plain training, bit for bit.
    expect(model.lossAndGradients(x, y, { scheduledSampling: { probability: 0 } })).toBe(model.lossAndGradients(x, y));
    for (const t of [x, y, byHand]) t.dispose();
    model.dispose();
  });

  it("refuses data that is not next-token, and teacherForcing (a token model always has it)", () => {
    const { x, y } = nextToken(2);
    const model = lm();
    const shifted = x.toTypedArray() as Int32Array;
    shifted[3 * batch + 1] = (shifted[3 * batch + 1] + 1) % V;
    const bad = Tensor.fromArray(shifted, [steps, batch], "int32");
    expect(() => model.lossAndGradients(bad, y, { scheduledSampling: { probability: 0.5 } })).toThrow(/needs next-token data .* sample 1 has input \d at step 3 and target \d at step 2/);
    expect(() => model.lossAndGradients(x, y, { teacherForcing: true })).toThrow(UnfoldError);
    for (const t of [x, y, bad]) t.dispose();
    model.dispose();
  });

  it("fit follows a schedule of the optimizer's step count", async () => {
    const rng = new Rng(4);
    const seqs = Int32Array.from({ length: 16 * (steps + 1) }, () => Math.floor(rng.next() * V));
    const xs = new Int32Array(16 * steps), ys = new Int32Array(16 * steps);
    for (let s = 0; s < 16; s++) for (let t = 0; t < steps; t++) {
      xs[s * steps + t] = seqs[s * (steps + 1) + t];
      ys[s * steps + t] = seqs[s * (steps + 1) + t + 1];
    }
    const model = lm();
    const seen: number[] = [];
    const optimizer = new Adam({ lr: 1e-2 });
    await fit(model, { x: { data: xs, shape: [16, steps] }, y: { data: ys, shape: [16, steps] } }, {
      epochs: 2, batchSize: 4, optimizer,
      scheduledSampling: { probability: (step) => (seen.push(step), Math.min(1, step / 8)) },
    });
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await expect(fit(model, { x: { data: xs, shape: [16, steps] }, y: { data: ys, shape: [16, steps] } }, { optimizer, scheduledSampling: { probability: () => 2 } })).rejects.toThrow(/scheduled-sampling probability at step 8 is 2/);
    optimizer.dispose();
    model.dispose();
  });
});
