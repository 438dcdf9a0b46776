// Multiple time scales in the Elman layer: skip connections through time (timeSkip) and
// trainable per-unit leaks — finite differences, the forward formula, and the adding problem.
import { describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { addingProblem } from "../src/data/tasks.js";
import { Dense } from "../src/layers/dense.js";
import { Elman } from "../src/layers/elman.js";
import { Sequential } from "../src/models/sequential.js";
import { evaluate, fit } from "../src/train/fit.js";
import { Adam } from "../src/train/optimizers.js";
import { expectClose, rand } from "./helpers.js";
import { gradCheckRecurrent } from "./rnn-harness.js";

describe("Elman time skip and trainable leak: finite differences", () => {
  const shape = { T: 7, B: 3, I: 4 };
  it("timeSkip (d = 2, 3, and d > T: the skip never fires)", () => {
    gradCheckRecurrent(new Elman({ units: 5, timeSkip: 2 }), shape);
    gradCheckRecurrent(new Elman({ units: 9, timeSkip: 3 }), shape);
    gradCheckRecurrent(new Elman({ units: 5, timeSkip: 9 }), { ...shape, allowZeroGrads: true });
  });
  it("trainable leak, every activation", () => {
    gradCheckRecurrent(new Elman({ units: 6, leak: "trainable", leakRange: [0.05, 0.8] }), shape);
    gradCheckRecurrent(new Elman({ units: 6, leak: "trainable", activation: "sigmoid" }), shape);
    gradCheckRecurrent(new Elman({ units: 6, leak: "trainable", activation: "relu" }), { ...shape, epsilon: 1e-3 });
  });
  it("both, with variable lengths, returnSequences false, recurrent dropout, and stacked", () => {
    gradCheckRecurrent(new Elman({ units: 7, timeSkip: 3, leak: "trainable" }), { ...shape, lengths: [7, 4, 2] });
    gradCheckRecurrent(new Elman({ units: 7, timeSkip: 2, leak: 0.5, returnSequences: false }), { ...shape, lengths: [3, 7, 5] });
    gradCheckRecurrent(new Elman({ units: 5, timeSkip: 2, leak: "trainable", recurrentDropout: 0.3 }), { ...shape, dropoutSeed: 11 });
    gradCheckRecurrent(new Elman({ units: 5, timeSkip: 3, leak: "trainable", layers: 2 }), shape);
  });
});

describe("Elman time skip and trainable leak: forward", () => {
  it("matches h_t = (1 − α)⊙h_{t−1} + α⊙tanh(W_ih x_t + b + W_hh h_{t−1} + W_skip h_{t−d}) in float64", () => {
    const T = 9, B = 2, I = 3, H = 5, d = 3;
    const layer = new Elman({ units: H, timeSkip: d, leak: "trainable", leakRange: [0.1, 0.7] });
    const model = new Sequential([layer], { inputSize: I, seed: 4 });
    const w = model.getWeights();
    const xs = rand(T * B * I, 3);
    const h0 = rand(B * H, 5, -0.5, 0.5);
    const x = Tensor.fromArray(xs, [T, B, I]);
    const init = Tensor.fromArray(h0, [B, H]);
    const out = layer.forward(x, { training: false, rng: new Rng(0) }, [init]).toFloat32Array();
    const alpha = Array.from(w["elman0.leak_logit"], (th) => 1 / (1 + Math.exp(-th)));
    expect(alpha[0]).toBeCloseTo(0.1, 6);
    expect(alpha[H - 1]).toBeCloseTo(0.7, 6);
    const hist: Float64Array[] = [Float64Array.from(h0)]; // hist[r] = history row r
    for (let t = 0; t < T; t++) {
      const h = new Float64Array(B * H);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < H; j++) {
          let a = w["elman0.bias_ih"][j] + w["elman0.bias_hh"][j];
          for (let i = 0; i < I; i++) a += w["elman0.weight_ih"][j * I + i] * xs[(t * B + b) * I + i];
          for (let i = 0; i < H; i++) a += w["elman0.weight_hh"][j * H + i] * hist[t][b * H + i];
          if (t + 1 - d >= 0) for (let i = 0; i < H; i++) a += w["elman0.weight_skip"][j * H + i] * hist[t + 1 - d][b * H + i];
          h[b * H + j] = (1 - alpha[j]) * hist[t][b * H + j] + alpha[j] * Math.tanh(a);
        }
      }
      hist.push(h);
    }
    const expected = new Float64Array(T * B * H);
    for (let t = 0; t < T; t++) expected.set(hist[t + 1], t * B * H);
    expectClose(out, expected, 2e-5, 1e-5, "output");
    expect(layer.causal).toBe(false);
    expect(() => model.step(Tensor.zeros([B, I]))).toThrow(/cannot run one step at a time/);
    x.dispose();
    init.dispose();
    model.dispose();
  });

  it("checks the new options", () => {
    expect(() => new Elman({ units: 4, timeSkip: 1 })).toThrow(/timeSkip must be a whole number >= 2/);
    expect(() => new Elman({ units: 4, timeSkip: 2.5 })).toThrow(/timeSkip must be a whole number >= 2/);
    expect(() => new Elman({ units: 4, leak: "learned" as "trainable" })).toThrow(/leak must be a number in \(0, 1\] \(1 = no leak\) or "trainable", got "learned"/);
    expect(() => new Elman({ units: 4, leakRange: [0.1, 0.5] })).toThrow(/leakRange .* needs leak: "trainable"/);
    expect(() => new Elman({ units: 4, leak: "trainable", leakRange: [0, 0.5] })).toThrow(/leakRange must be two numbers in \(0, 1\)/);
    const copy = new Elman({ units: 4, leak: "trainable", timeSkip: 3, layers: 2 });
    expect(copy.options).toMatchObject({ leak: "trainable", leakRange: [0.01, 0.9], timeSkip: 3 });
  });
});

/**
 * The adding problem at T steps (two marked numbers in [0, 1), one in each half; the target is
 * their sum): a one-layer tanh Elman network of `units` units, trained with Adam. Returns the
 * held-out MSE (always predicting the mean scores about 0.167).
 */
export async function addingMSE(elman: Elman, steps: number, options: { train: number; epochs: number; seed: number; lr: number }): Promise<number> {
  const model = new Sequential([elman, new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: options.seed });
  const optimizer = new Adam({ lr: options.lr, clipNorm: 1 });
  try {
    await fit(model, addingProblem(options.train, steps, options.seed + 1), { epochs: options.epochs, batchSize: 32, optimizer });
    return evaluate(model, addingProblem(500, steps, options.seed + 2)).loss;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

describe("adding problem at T = 200: multiple time scales learn what a plain tanh Elman network cannot", () => {
  // One epoch of 20000 sequences (625 Adam steps) each; examples/timescales.ts runs longer.
  const steps = 200;
  const run = { train: 20_000, epochs: 1, seed: 5, lr: 3e-3 };
  it("plain tanh Elman: no better than predicting the mean", async () => {
    const mse = await addingMSE(new Elman({ units: 32, returnSequences: false }), steps, run);
    expect(mse).toBeGreaterThan(0.1);
  }, 60_000);
  it("trainable per-unit leaks (ReLU units): far below it", async () => {
    const mse = await addingMSE(new Elman({ units: 32, returnSequences: false, activation: "relu", leak: "trainable", leakRange: [0.001, 0.1] }), steps, run);
    expect(mse).toBeLessThan(0.05);
  }, 60_000);
  it("trainable leaks and a skip of 20 steps: far below it", async () => {
    const mse = await addingMSE(new Elman({ units: 32, returnSequences: false, activation: "relu", leak: "trainable", leakRange: [0.001, 0.1], timeSkip: 20 }), steps, run);
    expect(mse).toBeLessThan(0.05);
  }, 60_000);
});
