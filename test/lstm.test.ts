import { afterEach, describe, expect, it } from "vitest";
import { Tensor, engine } from "../src/engine/index.js";
import { LSTM } from "../src/layers/lstm.js";
import { Dense } from "../src/layers/dense.js";
import { Sequential } from "../src/models/sequential.js";
import { expectBitEqual, freeAll, get, k, put, rand } from "./helpers.js";
import { expectTorchClose, gradCheckRecurrent, loadFixture, replayFixture, tensorOf, type FixtureTensor } from "./rnn-harness.js";

afterEach(freeAll);

describe("LSTM step kernels", () => {
  const sizes: [number, number][] = [];
  for (const B of [1, 2, 3]) for (const H of [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 33]) sizes.push([B, H]);

  it.each(sizes)("forward SIMD equals its scalar twin bit for bit (B=%i, H=%i)", (B, H) => {
    for (const peephole of [false, true]) {
      const gatesIn = rand(B * 4 * H, B * 100 + H, -3, 3);
      const cPrev = put(rand(B * H, H + 1, -2, 2));
      const peep = peephole ? put(rand(3 * H, H + 2)) : 0;
      const run = (fn: typeof k extends () => infer K ? K[keyof K] : never) => {
        const h = put(new Float32Array(B * H)), c = put(new Float32Array(B * H)), tc = put(new Float32Array(B * H));
        const g = put(gatesIn);
        (fn as (...a: number[]) => void)(h, c, tc, g, cPrev, peep, B, H);
        return [get(h, B * H), get(c, B * H), get(tc, B * H), get(g, B * 4 * H)];
      };
      const simd = run(k().f32_lstm_forward_step as never);
      const scalar = run(k().f32_lstm_forward_step_scalar as never);
      simd.forEach((v, i) => expectBitEqual(v, scalar[i], `forward output ${i}`));
    }
  });

  it.each(sizes)("backward SIMD equals its scalar twin bit for bit (B=%i, H=%i)", (B, H) => {
    for (const peephole of [false, true]) {
      const gates = put(rand(B * 4 * H, B + H, 0.01, 0.99));
      const cPrev = put(rand(B * H, 3 + H)), c = put(rand(B * H, 4 + H)), tanhc = put(rand(B * H, 5 + H, -0.9, 0.9));
      const dh = put(rand(B * H, 6 + H));
      const peep = peephole ? put(rand(3 * H, H + 7)) : 0;
      const dcIn = rand(B * H, 8 + H);
      const run = (fn: (...a: number[]) => void) => {
        const dg = put(new Float32Array(B * 4 * H)), dc = put(dcIn), dp = put(rand(3 * H, 9));
        fn(dg, dc, dp, dh, gates, cPrev, c, tanhc, peep, B, H);
        return [get(dg, B * 4 * H), get(dc, B * H), get(dp, 3 * H)];
      };
      const simd = run(k().f32_lstm_backward_step);
      const scalar = run(k().f32_lstm_backward_step_scalar);
      simd.forEach((v, i) => expectBitEqual(v, scalar[i], `backward output ${i}`));
    }
  });
});

describe("LSTM matches PyTorch nn.LSTM", () => {
  it.each(["lstm_t1_b1_i5_h7", "lstm_t4_b3_i5_h13", "lstm_t6_b2_i4_h8", "lstm_t3_b1_i7_h16"])("%s: outputs, final states and every gradient", (name) => {
    const fx = loadFixture(name);
    replayFixture(fx, new LSTM({ units: fx.H }));
  });

  it("trains like PyTorch: 20 SGD steps of LSTM + Linear + cross-entropy, loss by loss", () => {
    interface Trajectory {
      T: number; B: number; I: number; H: number; V: number; lr: number;
      params: Record<string, FixtureTensor>; final_params: Record<string, FixtureTensor>;
      x: FixtureTensor; targets: FixtureTensor; losses: number[];
    }
    const fx = loadFixture<Trajectory>("lstm_sgd_trajectory");
    const model = new Sequential([new LSTM({ units: fx.H }), new Dense({ units: fx.V })], { inputSize: fx.I, loss: "softmaxCrossEntropy" });
    const rename = (n: string) => (n.startsWith("head.") ? n.replace("head.", "dense0.") : `lstm0.${n.replace(/_l0$/, "")}`);
    model.setWeights(Object.fromEntries(Object.entries(fx.params).map(([n, t]) => [rename(n), t.data])));
    const x = tensorOf(fx.x);
    const y = Tensor.fromArray(fx.targets.data, fx.targets.shape, "int32");
    const losses = fx.losses.map(() => model.trainStep(x, y, { lr: fx.lr }));
    // Losses agree to 1e-5 relative at every step; the small per-step float32 differences do not grow.
    losses.forEach((l, i) => expect(Math.abs(l - fx.losses[i]) / fx.losses[i], `loss ${i}: ${l} vs ${fx.losses[i]}`).toBeLessThan(1e-5));
    for (const [n, t] of Object.entries(fx.final_params)) expectTorchClose(model.params.read(rename(n)), t, `final ${n}`);
    x.dispose();
    y.dispose();
    model.dispose();
  });
});

describe("LSTM gradients (finite differences)", () => {
  it.each([
    ["T=1 B=1", { T: 1, B: 1, I: 5 }, {}],
    ["T=4 B=3 H=13", { T: 4, B: 3, I: 5 }, {}],
    ["peepholes", { T: 4, B: 2, I: 5 }, { peephole: true }],
    ["peepholes T=1", { T: 1, B: 1, I: 5 }, { peephole: true }],
    ["last output only", { T: 5, B: 2, I: 5 }, { returnSequences: false }],
    ["pytorch init", { T: 3, B: 2, I: 5 }, { init: "pytorch" as const }],
  ])("%s", (_name, shape, opts) => {
    gradCheckRecurrent(new LSTM({ units: shape.T === 4 && shape.B === 3 ? 13 : 7, ...opts }), shape);
  });
});

describe("LSTM layer behaviour", () => {
  it("initialises the forget-gate bias to 1 by default, 0 with init: pytorch unless given", () => {
    const a = new Sequential([new LSTM({ units: 4 })], { inputSize: 3 });
    const b = a.params.read("lstm0.bias_ih");
    expect([...b.slice(4, 8)]).toEqual([1, 1, 1, 1]);
    expect([...b.slice(0, 4), ...b.slice(8)].every((v) => v === 0)).toBe(true);
    const c = new Sequential([new LSTM({ units: 4, forgetBias: 2.5 })], { inputSize: 3 });
    expect([...c.params.read("lstm0.bias_ih").slice(4, 8)]).toEqual([2.5, 2.5, 2.5, 2.5]);
    a.dispose();
    c.dispose();
  });

  it("has orthogonal recurrent gate blocks by default", () => {
    const H = 16;
    const m = new Sequential([new LSTM({ units: H })], { inputSize: 3, seed: 3 });
    const w = m.params.read("lstm0.weight_hh");
    for (let g = 0; g < 4; g++) {
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < H; j++) {
          let dot = 0;
          for (let c = 0; c < H; c++) dot += w[(g * H + i) * H + c] * w[(g * H + j) * H + c];
          expect(Math.abs(dot - (i === j ? 1 : 0))).toBeLessThan(1e-5);
        }
      }
    }
    m.dispose();
  });

  it("rejects bad inputs and options with messages that name the problem", () => {
    expect(() => new LSTM({ units: 0 })).toThrow(/units must be a whole number >= 1, got 0/);
    expect(() => new LSTM({ units: 4, peepholes: true } as never)).toThrow(/unknown option "peepholes"/);
    const m = new Sequential([new LSTM({ units: 4 })], { inputSize: 64 });
    const bad = Tensor.zeros([5, 2, 63]);
    expect(() => m.forward(bad)).toThrow(/expected input \[T, B, 64\] \(time-major\), got \[5, 2, 63\]/);
    const nan = Tensor.fromArray(new Float32Array(5 * 2 * 64).fill(NaN), [5, 2, 64]);
    expect(() => m.forward(nan)).toThrow(/NaN or Infinity/);
    const layer = m.layers[0] as LSTM;
    const x = Tensor.zeros([5, 2, 64]);
    const h0 = Tensor.zeros([3, 4]);
    expect(() => layer.forward(x, { training: false, rng: m.rng }, [h0, h0])).toThrow(/expected initial h \[2, 4\], got \[3, 4\]/);
    for (const t of [bad, nan, x, h0]) t.dispose();
    m.dispose();
  });

  it("reuses its caches: 1,000 training steps do not grow wasm memory, dispose frees it all", () => {
    const alloc = engine().allocator;
    const baseline = alloc.bytesInUse;
    const model = new Sequential([new LSTM({ units: 32 }), new Dense({ units: 10 })], { inputSize: 8, loss: "softmaxCrossEntropy", seed: 1 });
    const x = Tensor.fromArray(rand(12 * 4 * 8, 1), [12, 4, 8]);
    const y = Tensor.fromArray(Array.from({ length: 48 }, (_, i) => i % 10), [12, 4], "int32");
    const first = model.trainStep(x, y, { lr: 0.05 });
    const memory = alloc.memoryBytes;
    const inUse = alloc.bytesInUse;
    let last = first;
    for (let i = 0; i < 1000; i++) last = model.trainStep(x, y, { lr: 0.05 });
    expect(alloc.memoryBytes).toBe(memory);
    expect(alloc.bytesInUse).toBe(inUse);
    expect(last).toBeLessThan(first / 2); // and it learned something
    x.dispose();
    y.dispose();
    model.dispose();
    expect(alloc.bytesInUse).toBe(baseline);
  });
});
