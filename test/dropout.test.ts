// Dropout: the wasm mask generator against the project's Rng, the Dropout layer, and
// variational recurrent dropout (one mask per sequence on h_{t−1} where it enters W_hh),
// checked against a float64 reference and by finite differences with a fixed seed.
import { afterEach, describe, expect, it } from "vitest";
import { Tensor, UnfoldError } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { Dropout, fillDropoutMask } from "../src/layers/dropout.js";
import { Dense } from "../src/layers/dense.js";
import { LSTM } from "../src/layers/lstm.js";
import { GRU } from "../src/layers/gru.js";
import { Elman } from "../src/layers/elman.js";
import { Sequential } from "../src/models/sequential.js";
import { checkGradients } from "../src/train/gradcheck.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, rand } from "./helpers.js";
import { gradCheckRecurrent } from "./rnn-harness.js";

afterEach(freeAll);

describe("dropout mask kernel", () => {
  it.each([0, 0.1, 0.5, 0.9])("draws the mask Rng.next() < rate would (rate %f), scaled 1/(1 − rate)", (rate) => {
    const n = 1003;
    const seed = [0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321];
    const mask = put(new Float32Array(n));
    k().f32_dropout_mask(mask, n, rate, seed[0], seed[1], seed[2], seed[3]);
    const rng = new Rng(0);
    rng.setState([...seed, NaN]);
    const scale = Math.fround(1 / (1 - rate));
    const want = Float32Array.from({ length: n }, () => (rng.next() < rate ? 0 : scale));
    expectBitEqual(get(mask, n), want, "mask");
    if (rate > 0) {
      const kept = want.filter((v) => v !== 0).length / n;
      expect(Math.abs(kept - (1 - rate))).toBeLessThan(0.05);
    }
  });

  it("y += a ⊙ b: SIMD equals its scalar twin, every size around the vector width", () => {
    for (let n = 0; n <= 19; n++) {
      const a = put(rand(n, n + 1)), b = put(rand(n, n + 2)), y0 = rand(n, n + 3);
      const y1 = put(y0), y2 = put(y0);
      k().f32_mul_acc(y1, a, b, n);
      k().f32_mul_acc_scalar(y2, a, b, n);
      expectBitEqual(get(y1, n), get(y2, n), `n=${n}`);
      const ref = Float32Array.from(y0, (v, i) => Math.fround(v + Math.fround(get(a, n)[i] * get(b, n)[i])));
      expectBitEqual(get(y1, n), ref, `reference n=${n}`);
    }
  });
});

describe("Dropout layer", () => {
  const build = (rate: number, I = 6) => {
    const d = new Dropout({ rate });
    const m = new Sequential([d, new Dense({ units: 2 })], { inputSize: I, seed: 1 });
    return { d, m };
  };

  it("is the identity at inference and with rate 0", () => {
    const { d, m } = build(0.5);
    const x = Tensor.fromArray(rand(4 * 3 * 6, 1), [4, 3, 6]);
    expect(d.forward(x, { training: false, rng: new Rng(1) })).toBe(x);
    const dy = Tensor.fromArray(rand(4 * 3 * 6, 2), [4, 3, 6]);
    expect(d.backward(dy)).toBe(dy);
    const zero = build(0);
    expect(zero.d.forward(x, { training: true, rng: new Rng(1) })).toBe(x);
    for (const t of [x, dy]) t.dispose();
    m.dispose();
    zero.m.dispose();
  });

  it("zeroes about `rate` of the elements, scales the rest, keeps the mean, and is seeded", () => {
    const { d, m } = build(0.3, 50);
    const x = Tensor.fromArray(new Float32Array(20 * 10 * 50).fill(1), [20, 10, 50]);
    const y = d.forward(x, { training: true, rng: new Rng(4) }).toFloat32Array();
    const zeros = y.filter((v) => v === 0).length / y.length;
    expect(Math.abs(zeros - 0.3)).toBeLessThan(0.02);
    expect(y.every((v) => v === 0 || v === Math.fround(1 / 0.7))).toBe(true);
    expect(Math.abs(y.reduce((a, b) => a + b, 0) / y.length - 1)).toBeLessThan(0.03);
    expectBitEqual(d.forward(x, { training: true, rng: new Rng(4) }).toFloat32Array(), y, "same seed, same mask");
    const rng = new Rng(4);
    const first = d.forward(x, { training: true, rng }).toFloat32Array();
    const second = d.forward(x, { training: true, rng }).toFloat32Array();
    expect(second.some((v, i) => v !== first[i]), "a fresh mask at every forward").toBe(true);
    x.dispose();
    m.dispose();
  });

  it("works on [B, F] and [T, B, F] inputs; its gradient passes the mask (finite differences)", () => {
    for (const shape of [[5, 6], [3, 4, 6]]) {
      const { d, m } = build(0.4);
      const size = shape.reduce((a, b) => a * b, 1);
      const x = Tensor.fromArray(rand(size, 3), shape);
      const w = rand(size, 4);
      const loss = () => {
        const y = d.forward(x, { training: true, rng: new Rng(8) }).toFloat32Array();
        return y.reduce((s, v, i) => s + v * v * w[i], 0);
      };
      let dx: Float32Array = new Float32Array(0);
      const lossAndGrad = () => {
        const y = d.forward(x, { training: true, rng: new Rng(8) }).toFloat32Array();
        const dy = Tensor.fromArray(y.map((v, i) => 2 * v * w[i]), shape);
        dx = d.backward(dy).toFloat32Array();
        dy.dispose();
        return y.reduce((s, v, i) => s + v * v * w[i], 0);
      };
      const report = checkGradients({ loss, lossAndGrad, inputs: [{ name: "x", values: x, grad: () => dx }] });
      expect(report.results.filter((r) => !r.ok)).toEqual([]);
      x.dispose();
      m.dispose();
    }
  });

  it("rejects bad rates and inputs", () => {
    expect(() => new Dropout({ rate: 1 })).toThrow(/Dropout: rate must be a probability in \[0, 1\), got 1/);
    expect(() => new Dropout({ rate: -0.1 })).toThrow(/rate must be a probability/);
    expect(() => new Dropout({ p: 0.5 } as never)).toThrow(/unknown option "p"/);
    const { d, m } = build(0.5);
    const x = Tensor.zeros([2, 5]);
    expect(() => d.forward(x, { training: true, rng: new Rng(0) })).toThrow(/dropout layer "dropout0" expected input \[\.\.\., 6\], got \[2, 5\]/);
    expect(() => new Dropout({ rate: 0.5 }).backward(x)).toThrow(UnfoldError);
    x.dispose();
    m.dispose();
  });

  it("keeps its options", () => {
    expect(new Dropout({ rate: 0.25 }).options).toEqual({ rate: 0.25 });
  });
});

describe("variational recurrent dropout", () => {
  it("masks h_{t−1} in W_hh·h_{t−1} with one mask for every step (an Elman against a float64 reference)", () => {
    const T = 5, B = 3, I = 2, H = 4, rate = 0.4, alpha = 0.6;
    const layer = new Elman({ units: H, recurrentDropout: rate, leak: alpha, init: "pytorch" });
    const m = new Sequential([layer], { inputSize: I, seed: 2 });
    const x = rand(T * B * I, 5);
    const xt = Tensor.fromArray(x, [T, B, I]);
    const out = layer.forward(xt, { training: true, rng: new Rng(21) }).toFloat32Array();
    // The mask the layer drew: the first draw from the same generator.
    const maskT = Tensor.zeros([B, H]);
    fillDropoutMask(maskT, rate, new Rng(21));
    const mask = maskT.toFloat32Array();
    expect(mask.some((v) => v === 0) && mask.some((v) => v !== 0)).toBe(true);
    const wih = m.params.read("elman0.weight_ih"), whh = m.params.read("elman0.weight_hh");
    const bih = m.params.read("elman0.bias_ih"), bhh = m.params.read("elman0.bias_hh");
    let h = new Float64Array(B * H);
    const want = new Float64Array(T * B * H);
    for (let t = 0; t < T; t++) {
      const next = new Float64Array(B * H);
      for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) {
        let a = bih[j] + bhh[j];
        for (let i = 0; i < I; i++) a += wih[j * I + i] * x[(t * B + b) * I + i];
        for (let i = 0; i < H; i++) a += whh[j * H + i] * mask[b * H + i] * h[b * H + i];
        next[b * H + j] = (1 - alpha) * h[b * H + j] + alpha * Math.tanh(a);
      }
      h = next;
      want.set(h, t * B * H);
    }
    expectClose(out, want, 2e-6, 1e-5, "output");
    // Off at inference: the plain layer.
    const plain = new Sequential([new Elman({ units: H, leak: alpha, init: "pytorch" })], { inputSize: I, seed: 2 });
    expectBitEqual(m.forward(xt).toFloat32Array(), plain.forward(xt).toFloat32Array(), "inference");
    for (const t of [xt, maskT]) t.dispose();
    m.dispose();
    plain.dispose();
  });

  const cases: [string, () => LSTM | GRU | Elman][] = [
    ["LSTM", () => new LSTM({ units: 6, recurrentDropout: 0.3 })],
    ["LSTM peephole", () => new LSTM({ units: 5, recurrentDropout: 0.5, peephole: true, init: "pytorch" })],
    ["GRU reset after", () => new GRU({ units: 6, recurrentDropout: 0.3, init: "pytorch" })],
    ["GRU reset before", () => new GRU({ units: 5, recurrentDropout: 0.3, resetAfter: false, init: "pytorch" })],
    ["Elman", () => new Elman({ units: 6, recurrentDropout: 0.3 })],
    ["Elman leaky", () => new Elman({ units: 7, recurrentDropout: 0.3, leak: 0.5 })],
  ];
  it.each(cases)("%s: finite differences with a fixed seed", (_name, make) => {
    gradCheckRecurrent(make(), { T: 4, B: 3, I: 3, dropoutSeed: 13 });
  });
  it.each(cases)("%s: with a masked batch, finite differences", (_name, make) => {
    gradCheckRecurrent(make(), { T: 4, B: 3, I: 3, dropoutSeed: 17, lengths: [2, 4, 1] });
  });
  it("in a stack, each level draws its own mask", () => {
    gradCheckRecurrent(new GRU({ units: 5, layers: 2, recurrentDropout: 0.4, dropout: 0.2 }), { T: 4, B: 2, I: 3, dropoutSeed: 19 });
  });

  it("rejects what it cannot do", () => {
    expect(() => new LSTM({ units: 3, recurrentDropout: 1 })).toThrow(/LSTM: recurrentDropout must be a probability in \[0, 1\), got 1/);
    expect(() => new GRU({ units: 3, recurrentDropout: "0.2" as never })).toThrow(/GRU: recurrentDropout must be a probability/);
  });
});
