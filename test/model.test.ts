// End-to-end checks of the model path: Dense and every loss, through a whole Sequential,
// by finite differences of the model's own loss.
import { describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Dense, type Activation } from "../src/layers/dense.js";
import { Loss, type LossName } from "../src/layers/losses.js";
import { LSTM } from "../src/layers/lstm.js";
import type { Layer } from "../src/layers/layer.js";
import { Sequential } from "../src/models/sequential.js";
import { checkGradients } from "../src/train/gradcheck.js";
import { rand } from "./helpers.js";

function targetsFor(loss: LossName, shape: number[], classes: number, seed: number): Tensor {
  if (loss === "softmaxCrossEntropy") {
    const lead = shape.slice(0, -1);
    const n = lead.reduce((a, b) => a * b, 1);
    return Tensor.fromArray(Array.from(rand(n, seed, 0, classes), Math.floor), lead, "int32");
  }
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromArray(rand(n, seed, loss === "mse" ? -1 : 0, 1), shape);
}

/** Finite-difference check of every parameter of `model` through its loss. */
function checkModel(model: Sequential, x: Tensor, y: Tensor): void {
  const inputs = model.params.entries.map((e) => ({
    name: e.name,
    values: Tensor.view(model.params.values, e.offset, e.shape),
    grad: () => model.params.readGrad(e.name),
  }));
  const report = checkGradients({
    loss: () => model.loss!.compute(model.forward(x), y),
    lossAndGrad: () => model.lossAndGradients(x, y),
    inputs,
  });
  expect(report.results.filter((r) => !r.ok)).toEqual([]);
}

describe("Dense and losses through a model", () => {
  const cases: [LossName, Activation, "sumOverTime" | "mean"][] = [];
  for (const loss of ["softmaxCrossEntropy", "mse", "sigmoidBinaryCrossEntropy"] as LossName[]) {
    for (const act of ["linear", "tanh", "sigmoid"] as Activation[]) cases.push([loss, act, "sumOverTime"]);
    cases.push([loss, "linear", "mean"]);
  }

  it.each(cases)("%s after Dense(%s), reduction %s", (lossName, activation, reduction) => {
    const [T, B, I, C] = [3, 2, 5, 6];
    const model = new Sequential([new Dense({ units: 7, activation: "tanh" }), new Dense({ units: C, activation })], {
      inputSize: I,
      loss: new Loss(lossName, { reduction }),
      seed: 3,
    });
    const x = Tensor.fromArray(rand(T * B * I, 1), [T, B, I]);
    const y = targetsFor(lossName, [T, B, C], C, 2);
    checkModel(model, x, y);
    model.dispose();
    x.dispose();
    y.dispose();
  });

  it("an LSTM sequence-to-one classifier: every parameter, through cross-entropy", () => {
    const model = new Sequential([new LSTM({ units: 9, returnSequences: false }), new Dense({ units: 4 })], { inputSize: 3, loss: "softmaxCrossEntropy", seed: 5 });
    const x = Tensor.fromArray(rand(6 * 3 * 3, 4), [6, 3, 3]);
    const y = Tensor.fromArray([0, 3, 1], [3], "int32");
    checkModel(model, x, y);
    model.dispose();
  });
});

describe("losses: values and conventions", () => {
  it("cross-entropy is summed over time and averaged over the batch, ignoring ignoreIndex", () => {
    const [T, B, C] = [2, 2, 3];
    const logits = rand(T * B * C, 9, -2, 2);
    const targets = [0, 2, -100, 1];
    const pred = Tensor.fromArray(logits, [T, B, C]);
    const y = Tensor.fromArray(targets, [T, B], "int32");
    let want = 0;
    for (let r = 0; r < T * B; r++) {
      if (targets[r] === -100) continue;
      const row = [...logits.slice(r * C, r * C + C)];
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      want += lse - row[targets[r]];
    }
    const sum = new Loss("softmaxCrossEntropy", { ignoreIndex: -100 });
    expect(sum.compute(pred, y)).toBeCloseTo(want / B, 5);
    const grad = sum.grad.toFloat32Array();
    expect([...grad.slice(2 * C, 3 * C)]).toEqual([0, 0, 0]); // the ignored row
    const mean = new Loss("softmaxCrossEntropy", { ignoreIndex: -100, reduction: "mean" });
    expect(mean.compute(pred, y)).toBeCloseTo(want / 3, 5);
    for (const t of [pred, y]) t.dispose();
    sum.dispose();
    mean.dispose();
  });

  it("names bad targets", () => {
    const pred = Tensor.zeros([2, 3, 4]);
    const ce = new Loss("softmaxCrossEntropy");
    const wrongShape = Tensor.zeros([2, 2], "int32");
    expect(() => ce.compute(pred, wrongShape)).toThrow(/expected targets \[2, 3\] for predictions \[2, 3, 4\], got \[2, 2\]/);
    const outOfRange = Tensor.fromArray([0, 1, 2, 3, 4, 0], [2, 3], "int32");
    expect(() => ce.compute(pred, outOfRange)).toThrow(/target 4 is 4, outside the 4 classes \[0, 3\]/);
    const floats = Tensor.zeros([2, 3]);
    expect(() => ce.compute(pred, floats)).toThrow(/expects int32 class targets/);
    const mse = new Loss("mse");
    const nanTarget = Tensor.fromArray(new Float32Array(24).fill(NaN), [2, 3, 4]);
    expect(() => mse.compute(pred, nanTarget)).toThrow(/target 0 is NaN/);
    expect(() => new Loss("hinge" as never)).toThrow(/unknown loss "hinge"/);
    expect(() => new Loss("mse", { ignoreIndex: 3 })).toThrow(/ignoreIndex applies to softmaxCrossEntropy only/);
    for (const t of [pred, wrongShape, outOfRange, floats, nanTarget]) t.dispose();
  });
});

describe("Sequential", () => {
  const make = (seed: number): Sequential =>
    new Sequential([new LSTM({ units: 8 }), new Dense({ units: 3 })] as Layer[], { inputSize: 4, loss: "softmaxCrossEntropy", seed });

  it("same seed, same data: bit-identical weights after training", () => {
    const x = Tensor.fromArray(rand(5 * 2 * 4, 1), [5, 2, 4]);
    const y = Tensor.fromArray([0, 1, 2, 0, 1, 2, 0, 1, 2, 0], [5, 2], "int32");
    const runs = [make(11), make(11)].map((m) => {
      for (let i = 0; i < 20; i++) m.trainStep(x, y, { lr: 0.1 });
      const w = m.params.values.toFloat32Array();
      m.dispose();
      return new Uint32Array(w.buffer);
    });
    expect(runs[0]).toEqual(runs[1]);
    const other = make(12);
    expect(new Uint32Array(other.params.values.toFloat32Array().buffer)).not.toEqual(runs[0]);
    other.dispose();
  });

  it("refuses a non-finite step and leaves the weights as they were", () => {
    const m = new Sequential([new Dense({ units: 3 })], { inputSize: 4, loss: "mse" });
    m.setWeights({ "dense0.weight": new Float32Array(12).fill(1e30) });
    const x = Tensor.fromArray(new Float32Array(2 * 2 * 4).fill(1e30), [2, 2, 4]); // finite, but x·W overflows
    const y = Tensor.zeros([2, 2, 3]);
    const before = m.params.values.toFloat32Array();
    expect(() => m.trainStep(x, y, { lr: 1 })).toThrow(/not finite.*weights were left unchanged/);
    expect(m.params.values.toFloat32Array()).toEqual(before);
    for (const t of [x, y]) t.dispose();
    m.dispose();
  });

  it("validates options and weights", () => {
    expect(() => new Sequential([new Dense({ units: 2 })], {})).toThrow(/inputSize must be a whole number/);
    expect(() => new Sequential([], { inputSize: 2 })).toThrow(/at least one layer/);
    expect(() => new Sequential([new Dense({ units: 2 })], { inputSize: 2, lr: 3 } as never)).toThrow(/unknown option "lr"/);
    const m = new Sequential([new Dense({ units: 2 })], { inputSize: 3 });
    expect(() => m.setWeights({ "dense0.weight": [1, 2] })).toThrow(/has shape \[2, 3\] \(6 values\), got 2/);
    expect(() => m.setWeights({ "dense0.bias": [1, NaN] })).toThrow(/value 1 is NaN/);
    expect(() => m.setWeights({ nope: [1] })).toThrow(/no parameter named "nope"/);
    const layer = m.layers[0];
    expect(() => new Sequential([layer], { inputSize: 3 })).toThrow(/already part of a model/);
    m.dispose();
    expect(() => m.getWeights()).toThrow(/disposed/);
  });
});

describe("Sequential construction failures", () => {
  it("frees everything it took when a layer's initialiser or the loss is refused", async () => {
    const { engine } = await import("../src/engine/index.js");
    const before = engine().allocator.bytesInUse;
    expect(() => new Sequential([new Dense({ units: 3 })], { inputSize: 2, loss: "bogus" as never })).toThrow(/unknown loss "bogus"/);
    expect(() => new LSTM({ units: 3, forgetBias: 1e308 })).toThrow(/forgetBias must be a finite float32 number/);
    expect(engine().allocator.bytesInUse).toBe(before);
  });
});
