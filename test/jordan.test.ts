import { describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { Jordan, type JordanOptions } from "../src/layers/jordan.js";
import { Sequential } from "../src/models/sequential.js";
import { expectBitEqual, rand } from "./helpers.js";
import { gradCheckRecurrent } from "./rnn-harness.js";

describe("Jordan: finite differences (every parameter, x and the initial y)", () => {
  for (const outputActivation of ["linear", "tanh"] as const) {
    for (const T of [1, 5]) {
      it(`${outputActivation} output, T=${T}`, () => {
        gradCheckRecurrent(new Jordan({ units: 3, hiddenUnits: 7, outputActivation }), { T, B: 1, I: 5 });
        gradCheckRecurrent(new Jordan({ units: 5, hiddenUnits: 13, outputActivation }), { T, B: 3, I: 4 });
      });
    }
  }
  it("sigmoid output, relu and sigmoid hidden, returnSequences false, pytorch init", () => {
    gradCheckRecurrent(new Jordan({ units: 4, hiddenUnits: 9, outputActivation: "sigmoid" }), { T: 5, B: 2, I: 3 });
    gradCheckRecurrent(new Jordan({ units: 4, hiddenUnits: 9, activation: "relu" }), { T: 5, B: 2, I: 3, epsilon: 1e-3 });
    gradCheckRecurrent(new Jordan({ units: 4, hiddenUnits: 9, activation: "sigmoid", outputActivation: "tanh" }), { T: 5, B: 2, I: 3 });
    gradCheckRecurrent(new Jordan({ units: 2, hiddenUnits: 6, returnSequences: false }), { T: 5, B: 3, I: 3 });
    gradCheckRecurrent(new Jordan({ units: 3, hiddenUnits: 5, init: "pytorch", outputActivation: "tanh" }), { T: 5, B: 2, I: 4 });
  });
});

describe("Jordan: the recurrence runs through the previous output", () => {
  it("changing weight_hy changes the outputs from step 1 on, not step 0 (y_{-1} = 0)", () => {
    const T = 4, B = 2, I = 3, O = 3;
    const options: JordanOptions = { units: O, hiddenUnits: 6, outputActivation: "tanh" };
    const layer = new Jordan(options);
    const model = new Sequential([layer], { inputSize: I, seed: 11 });
    const x = Tensor.fromArray(rand(T * B * I, 3), [T, B, I]);
    try {
      expect(layer.units).toBe(O);
      expect(layer.hiddenUnits).toBe(6);
      const before = model.forward(x).toFloat32Array();
      expect(before.length).toBe(T * B * O);
      const w = model.getWeights()["jordan0.weight_hy"];
      model.setWeights({ "jordan0.weight_hy": w.map((v, i) => v + 0.5 * Math.cos(i)) });
      const after = model.forward(x).toFloat32Array();
      const step = B * O;
      expectBitEqual(after.slice(0, step), before.slice(0, step), "step 0");
      for (let t = 1; t < T; t++) {
        const diff = after.slice(t * step, (t + 1) * step).reduce((m, v, i) => Math.max(m, Math.abs(v - before[t * step + i])), 0);
        expect(diff, `step ${t} changed`).toBeGreaterThan(1e-4);
      }
      // A non-zero initial y reaches step 0 as well.
      const y0 = Tensor.fromArray(rand(B * O, 4), [B, O]);
      const fromY0 = layer.forward(x, { training: false, rng: new Rng(0) }, [y0]).toFloat32Array();
      expect(fromY0.slice(0, step).some((v, i) => v !== after[i])).toBe(true);
      // The final state is the last output.
      expectBitEqual(layer.finalState[0].toFloat32Array(), fromY0.slice((T - 1) * step), "final y");
      y0.dispose();
    } finally {
      x.dispose();
      model.dispose();
    }
  });
});

describe("Jordan: options", () => {
  it("declares PyTorch-named parameters of the documented shapes", () => {
    const model = new Sequential([new Jordan({ units: 2, hiddenUnits: 5 })], { inputSize: 3 });
    const shapes = Object.fromEntries(model.params.entries.map((e) => [e.name, e.shape]));
    expect(shapes).toEqual({
      "jordan0.weight_ih": [5, 3],
      "jordan0.weight_hy": [5, 2],
      "jordan0.bias_ih": [5],
      "jordan0.weight_ho": [2, 5],
      "jordan0.bias_ho": [2],
    });
    expect(model.outputSize).toBe(2);
    model.dispose();
  });

  it("rejects bad options with clear messages", () => {
    expect(() => new Jordan({ units: 2 } as JordanOptions)).toThrow(/Jordan: hiddenUnits must be a whole number >= 1, got undefined/);
    expect(() => new Jordan({ units: 2, hiddenUnits: 2.5 })).toThrow(/hiddenUnits must be a whole number/);
    expect(() => new Jordan({ units: 0, hiddenUnits: 4 })).toThrow(/Jordan: units must be a whole number >= 1/);
    expect(() => new Jordan({ units: 2, hiddenUnits: 4, outputActivation: "relu" as "tanh" })).toThrow(/Jordan: outputActivation must be one of "linear", "tanh", "sigmoid", got "relu"/);
    expect(() => new Jordan({ units: 2, hiddenUnits: 4, activation: "linear" as "tanh" })).toThrow(/Jordan: activation must be one of "tanh", "relu", "sigmoid"/);
    expect(() => new Jordan({ units: 2, hiddenUnits: 4, init: "identity" as "glorot" })).toThrow(/Jordan: init must be one of "glorot", "pytorch"/);
    expect(() => new Jordan({ units: 2, hiddenUnits: 4, leak: 0.5 } as JordanOptions)).toThrow(/Jordan: unknown option "leak"/);
  });

  it("names a wrong input width and a wrong initial y", () => {
    const layer = new Jordan({ units: 2, hiddenUnits: 4 });
    const model = new Sequential([layer], { inputSize: 3 });
    const x = Tensor.zeros([2, 1, 4]);
    const ctx = { training: false, rng: new Rng(0) };
    expect(() => layer.forward(x, ctx)).toThrow(/jordan layer "jordan0" expected input \[T, B, 3\], got \[2, 1, 4\]/);
    const good = Tensor.zeros([2, 1, 3]);
    const badY = Tensor.zeros([1, 4]);
    expect(() => layer.forward(good, ctx, [badY])).toThrow(/expected initial y \[1, 2\], got \[1, 4\]/);
    for (const t of [x, good, badY]) t.dispose();
    model.dispose();
  });
});
