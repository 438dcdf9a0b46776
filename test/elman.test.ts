import { afterEach, describe, expect, it } from "vitest";
import { Tensor, UnfoldError } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { ACTIVATION_CODES, Elman, type RecurrentActivation } from "../src/layers/elman.js";
import { Sequential } from "../src/models/sequential.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, rand } from "./helpers.js";
import { gradCheckRecurrent, loadFixture, replayFixture } from "./rnn-harness.js";

const ACTIVATIONS: RecurrentActivation[] = ["tanh", "relu", "sigmoid"];
const BATCHES = [1, 2, 3];
const HIDDENS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 33];

// Float64 references of the step formulas (assembly/elman.ts header).
const act64: Record<RecurrentActivation, (a: number) => number> = {
  tanh: Math.tanh,
  relu: (a) => Math.max(a, 0),
  sigmoid: (a) => 1 / (1 + Math.exp(-a)),
};
const actGrad64: Record<RecurrentActivation, (y: number) => number> = {
  tanh: (y) => 1 - y * y,
  relu: (y) => (y > 0 ? 1 : 0),
  sigmoid: (y) => y * (1 - y),
};

describe("Elman step kernels", () => {
  afterEach(freeAll);

  for (const activation of ACTIVATIONS) {
    for (const leaky of [false, true]) {
      it(`forward and backward SIMD = scalar to the bit, and match float64: ${activation}, ${leaky ? "leak" : "no leak"}`, () => {
        const code = ACTIVATION_CODES[activation];
        for (const B of BATCHES) {
          for (const H of HIDDENS) {
            const n = B * H;
            const seed = 1000 * B + 10 * H + code + (leaky ? 5 : 0);
            const pre = rand(n, seed, -3, 3);
            const hPrev = rand(n, seed + 1);
            const alpha = leaky ? rand(H, seed + 2, 0.05, 1) : new Float32Array(H).fill(1);
            const leak = leaky ? put(alpha) : 0;
            const what = `${activation} B=${B} H=${H}`;

            // Forward.
            const h1 = put(new Float32Array(n)), a1 = put(pre), p1 = put(hPrev);
            const h2 = put(new Float32Array(n)), a2 = put(pre), p2 = put(hPrev);
            k().f32_elman_forward_step(h1, a1, p1, leak, B, H, code);
            k().f32_elman_forward_step_scalar(h2, a2, p2, leak, B, H, code);
            const y = get(a1, n);
            expectBitEqual(get(h1, n), get(h2, n), `h ${what}`);
            expectBitEqual(y, get(a2, n), `y ${what}`);
            const yRef = Array.from(pre, (a) => act64[activation](a));
            const hRef = yRef.map((v, i) => (1 - alpha[i % H]) * hPrev[i] + alpha[i % H] * v);
            expectClose(y, yRef, 1e-6, 0, `y vs float64 ${what}`);
            expectClose(get(h1, n), leaky ? hRef : yRef, 1e-6, 0, `h vs float64 ${what}`);
            if (!leaky) {
              // h may alias act without a leak (the Elman layer runs that way).
              const same = put(pre);
              k().f32_elman_forward_step(same, same, 0, 0, B, H, code);
              expectBitEqual(get(same, n), get(h2, n), `h == act ${what}`);
            }

            // Backward, from the forward's cached y.
            const dhIn = rand(n, seed + 3);
            const dleak0 = rand(H, seed + 4);
            const da1 = put(new Float32Array(n)), dh1 = put(dhIn), dl1 = put(dleak0);
            const da2 = put(new Float32Array(n)), dh2 = put(dhIn), dl2 = put(dleak0);
            k().f32_elman_backward_step(da1, dh1, dl1, a1, p1, leak, B, H, code);
            k().f32_elman_backward_step_scalar(da2, dh2, dl2, a2, p2, leak, B, H, code);
            expectBitEqual(get(da1, n), get(da2, n), `da ${what}`);
            expectBitEqual(get(dh1, n), get(dh2, n), `dh_prev ${what}`);
            expectBitEqual(get(dl1, H), get(dl2, H), `dleak ${what}`);
            const daRef = Array.from(dhIn, (d, i) => alpha[i % H] * d * actGrad64[activation](y[i]));
            const dhRef = Array.from(dhIn, (d, i) => (leaky ? (1 - alpha[i % H]) * d : 0));
            const dlRef = Array.from(dleak0);
            if (leaky) for (let i = 0; i < n; i++) dlRef[i % H] += dhIn[i] * (y[i] - hPrev[i]);
            expectClose(get(da1, n), daRef, 1e-6, 1e-6, `da vs float64 ${what}`);
            expectClose(get(dh1, n), dhRef, 1e-6, 1e-6, `dh_prev vs float64 ${what}`);
            expectClose(get(dl1, H), dlRef, 1e-6, 1e-6, `dleak vs float64 ${what}`);
            freeAll();
          }
        }
      });
    }
  }
});

describe("Elman: PyTorch parity", () => {
  for (const kind of ["tanh", "relu"] as const) {
    for (const tag of ["t1_b1_i5_h7", "t4_b3_i5_h13", "t6_b2_i4_h8", "t3_b1_i7_h16"]) {
      it(`rnn_${kind}_${tag}`, () => {
        const fx = loadFixture(`rnn_${kind}_${tag}`);
        replayFixture(fx, new Elman({ units: fx.H, activation: kind }));
      });
    }
  }
});

describe("Elman: finite differences", () => {
  const small = { T: 1, B: 1, I: 5 };
  const awkward = { T: 4, B: 3, I: 5 };
  it("tanh", () => {
    gradCheckRecurrent(new Elman({ units: 7 }), small);
    gradCheckRecurrent(new Elman({ units: 13 }), awkward);
  });
  it("relu (epsilon 1e-3 to stay off the kinks)", () => {
    gradCheckRecurrent(new Elman({ units: 7, activation: "relu" }), { ...small, epsilon: 1e-3 });
    gradCheckRecurrent(new Elman({ units: 13, activation: "relu" }), { ...awkward, epsilon: 1e-3 });
  });
  it("sigmoid", () => {
    gradCheckRecurrent(new Elman({ units: 7, activation: "sigmoid" }), small);
    gradCheckRecurrent(new Elman({ units: 13, activation: "sigmoid" }), awkward);
  });
  it("leaky (α = 0.3), every activation", () => {
    for (const activation of ACTIVATIONS) {
      const epsilon = activation === "relu" ? 1e-3 : undefined;
      gradCheckRecurrent(new Elman({ units: 7, activation, leak: 0.3 }), { ...small, epsilon });
      gradCheckRecurrent(new Elman({ units: 13, activation, leak: 0.3 }), { ...awkward, epsilon });
    }
  });
  it("identity init + relu (IRNN)", () => {
    gradCheckRecurrent(new Elman({ units: 7, activation: "relu", init: "identity" }), { ...small, epsilon: 1e-3 });
    gradCheckRecurrent(new Elman({ units: 13, activation: "relu", init: "identity" }), { ...awkward, epsilon: 1e-3 });
  });
  it("returnSequences false", () => {
    gradCheckRecurrent(new Elman({ units: 7, returnSequences: false }), small);
    gradCheckRecurrent(new Elman({ units: 13, returnSequences: false, leak: 0.3 }), awkward);
  });
  it("pytorch init", () => {
    gradCheckRecurrent(new Elman({ units: 13, init: "pytorch" }), awkward);
  });
});

describe("Elman: initialisation and state", () => {
  it("identity init gives W_hh = I and zero biases; glorot gives an orthogonal W_hh", () => {
    const H = 6;
    const irnn = new Sequential([new Elman({ units: H, activation: "relu", init: "identity" })], { inputSize: 3, seed: 1 });
    const ortho = new Sequential([new Elman({ units: H })], { inputSize: 3, seed: 1 });
    try {
      const w = irnn.getWeights();
      for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) expect(w["elman0.weight_hh"][i * H + j]).toBe(i === j ? 1 : 0);
      expect(Array.from(w["elman0.bias_ih"]).every((v) => v === 0)).toBe(true);
      expect(Array.from(w["elman0.bias_hh"]).every((v) => v === 0)).toBe(true);
      const q = ortho.getWeights()["elman0.weight_hh"];
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < H; j++) {
          let dot = 0;
          for (let c = 0; c < H; c++) dot += q[i * H + c] * q[j * H + c];
          expect(dot).toBeCloseTo(i === j ? 1 : 0, 5);
        }
      }
    } finally {
      irnn.dispose();
      ortho.dispose();
    }
  });

  it("a leak mixes in the previous state", () => {
    const x = Tensor.fromArray(rand(3 * 2 * 4, 5), [3, 2, 4]);
    const run = (leak: number) => {
      const layer = new Elman({ units: 5, leak });
      const model = new Sequential([layer], { inputSize: 4, seed: 3 });
      const out = layer.forward(x, { training: false, rng: new Rng(0) }).toFloat32Array();
      model.dispose();
      return out;
    };
    const plain = run(1);
    const leaky = run(0.25);
    // First step from h0 = 0: h_0 = α·y_0, exactly α times the plain output (α a power of two).
    for (let i = 0; i < 2 * 5; i++) expect(leaky[i]).toBe(0.25 * plain[i]);
    // Later steps keep (1 − α) of the previous state, so they differ from α times the plain ones.
    expect(leaky.slice(10).some((v, i) => Math.abs(v - 0.25 * plain[10 + i]) > 1e-3)).toBe(true);
    x.dispose();
  });
});

describe("Elman: errors", () => {
  it("names a wrong input width", () => {
    const layer = new Elman({ units: 4 });
    const model = new Sequential([layer], { inputSize: 5 });
    const x = Tensor.zeros([2, 1, 6]);
    expect(() => layer.forward(x, { training: false, rng: new Rng(0) })).toThrow(/elman layer "elman0" expected input \[T, B, 5\], got \[2, 1, 6\]/);
    expect(() => model.forward(x)).toThrow(UnfoldError);
    x.dispose();
    model.dispose();
  });

  it("rejects a leak outside (0, 1]", () => {
    for (const leak of [0, 1.5, NaN, -0.2]) {
      expect(() => new Elman({ units: 4, leak })).toThrow(/Elman: leak must be a number in \(0, 1\]/);
    }
    expect(() => new Elman({ units: 4, leak: "0.5" as unknown as number })).toThrow(/leak must be a number/);
  });

  it("rejects an unknown activation, init or option", () => {
    expect(() => new Elman({ units: 4, activation: "softmax" as RecurrentActivation })).toThrow(/Elman: activation must be one of "tanh", "relu", "sigmoid", got "softmax"/);
    expect(() => new Elman({ units: 4, init: "he" as "glorot" })).toThrow(/Elman: init must be one of "glorot", "pytorch", "identity", got "he"/);
    expect(() => new Elman({ units: 4, leakRate: 0.5 } as unknown as { units: number })).toThrow(/Elman: unknown option "leakRate"/);
    expect(() => new Elman({ units: 0 })).toThrow(/Elman: units must be a whole number >= 1/);
  });

  it("accepts relu with the default init", () => {
    const model = new Sequential([new Elman({ units: 4, activation: "relu" })], { inputSize: 2 });
    model.dispose();
  });
});
