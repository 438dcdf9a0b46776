import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Tensor, UnfoldError, initSync } from "../src/engine/index.js";
import type { WasmExports } from "../src/engine/wasm-bytes.js";
import { Rng } from "../src/data/rng.js";
import { GRU, type GRUOptions } from "../src/layers/gru.js";
import { Sequential } from "../src/models/sequential.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, rand } from "./helpers.js";
import { gradCheckRecurrent, loadFixture, replayFixture } from "./rnn-harness.js";

beforeAll(() => {
  initSync();
});

// ---------------------------------------------------------------------------------------
// Kernels: each SIMD step kernel against its scalar twin, to the bit, around the SIMD width.

/** The SIMD step kernels of assembly/gru.ts (each has a `_scalar` twin). */
type GruKernel = Extract<keyof WasmExports, `f32_gru_${string}_step`>;

/** An argument buffer: its name, width in units of H (per batch row), and the range of its random contents. */
type Arg = [name: string, widthInH: number, lo: number, hi: number];

const PRE: [number, number] = [-4, 4]; // preactivations: reach the flat parts of σ and tanh
const ACT: [number, number] = [0.02, 0.98]; // cached activations r, z (and n, fine for the arithmetic)
const ANY: [number, number] = [-1, 1];

const kernelCases: { fn: GruKernel; args: Arg[] }[] = [
  { fn: "f32_gru_forward_step", args: [["h", 1, ...ANY], ["gates", 3, ...PRE], ["hn", 1, ...ANY], ["hproj", 3, ...PRE], ["hPrev", 1, ...ANY]] },
  { fn: "f32_gru_backward_step", args: [["dgates", 3, ...ANY], ["dhproj", 3, ...ANY], ["dh", 1, ...ANY], ["gates", 3, ...ACT], ["hn", 1, ...PRE], ["hPrev", 1, ...ANY]] },
  { fn: "f32_gru_reset_gate_step", args: [["gates", 3, ...PRE], ["rh", 1, ...ANY], ["hPrev", 1, ...ANY]] },
  { fn: "f32_gru_candidate_step", args: [["h", 1, ...ANY], ["gates", 3, ...PRE], ["hPrev", 1, ...ANY]] },
  { fn: "f32_gru_candidate_backward_step", args: [["dgates", 3, ...ANY], ["dh", 1, ...ANY], ["gates", 3, ...ACT], ["hPrev", 1, ...ANY]] },
  { fn: "f32_gru_reset_gate_backward_step", args: [["dgates", 3, ...ANY], ["dh", 1, ...ANY], ["drh", 1, ...ANY], ["gates", 3, ...ACT], ["hPrev", 1, ...ANY]] },
];

const BATCHES = [1, 2, 3];
const HIDDENS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 33];

describe("GRU step kernels", () => {
  afterEach(freeAll);

  it("covers every GRU step kernel", () => {
    const exported = Object.keys(k()).filter((name) => /^f32_gru_\w+_step$/.test(name));
    expect(kernelCases.map((c) => c.fn).sort()).toEqual(exported.sort());
  });

  for (const { fn, args } of kernelCases) {
    it(`${fn} matches ${fn}_scalar to the bit`, () => {
      const kx = k() as unknown as Record<GruKernel | `${GruKernel}_scalar`, (...a: number[]) => void>;
      for (const B of BATCHES) {
        for (const H of HIDDENS) {
          const data = args.map(([, w, lo, hi], i) => rand(B * w * H, 1000 * B + 10 * H + i, lo, hi));
          const simd = data.map(put);
          const scalar = data.map(put);
          kx[fn](...simd, B, H);
          kx[`${fn}_scalar`](...scalar, B, H);
          // Every buffer, inputs included: a kernel must write exactly what its twin writes.
          args.forEach(([name], i) => expectBitEqual(get(simd[i], data[i].length), get(scalar[i], data[i].length), `${fn} B=${B} H=${H} ${name}`));
          freeAll();
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------------------
// A float64 reference of both forms, for the forward of the reset-before form (PyTorch
// has no such cell, so no fixture) and the zero-initial-state, last-output path.

function referenceGru(w: Record<string, Float32Array>, x: Float32Array, T: number, B: number, I: number, H: number, resetAfter: boolean): Float64Array[] {
  const [wih, whh, bih, bhh] = [w["gru0.weight_ih"], w["gru0.weight_hh"], w["gru0.bias_ih"], w["gru0.bias_hh"]];
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  let h = new Float64Array(B * H);
  const out: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const next = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      const xb = (row: number) => {
        let s = bih[row];
        for (let i = 0; i < I; i++) s += wih[row * I + i] * x[(t * B + b) * I + i];
        return s;
      };
      const hb = (row: number, scale: (j: number) => number = () => 1) => {
        let s = bhh[row];
        for (let j = 0; j < H; j++) s += whh[row * H + j] * scale(j) * h[b * H + j];
        return s;
      };
      const r = Array.from({ length: H }, (_, j) => sig(xb(j) + hb(j)));
      for (let j = 0; j < H; j++) {
        const z = sig(xb(H + j) + hb(H + j));
        const n = resetAfter ? Math.tanh(xb(2 * H + j) + r[j] * hb(2 * H + j)) : Math.tanh(xb(2 * H + j) + hb(2 * H + j, (i) => r[i]));
        next[b * H + j] = (1 - z) * n + z * h[b * H + j];
      }
    }
    h = next;
    out.push(h);
  }
  return out;
}

describe("GRU layer", () => {
  const ctx = { training: true, rng: new Rng(0) };

  describe("PyTorch parity (reset after)", () => {
    for (const name of ["gru_t1_b1_i5_h7", "gru_t4_b3_i5_h13", "gru_t6_b2_i4_h8", "gru_t3_b1_i7_h16"]) {
      it(name, () => {
        const fx = loadFixture(name);
        replayFixture(fx, new GRU({ units: fx.H }));
      });
    }
  });

  describe("forward against a float64 reference, zero initial state", () => {
    for (const resetAfter of [true, false]) {
      for (const returnSequences of [true, false]) {
        it(`resetAfter ${resetAfter}, returnSequences ${returnSequences}`, () => {
          const T = 5, B = 3, I = 6, H = 11;
          const layer = new GRU({ units: H, resetAfter, returnSequences, init: "pytorch" });
          const model = new Sequential([layer], { inputSize: I, seed: 3 });
          const x = Tensor.fromArray(rand(T * B * I, 99), [T, B, I]);
          const ref = referenceGru(model.getWeights(), x.toFloat32Array(), T, B, I, H, resetAfter);
          const out = layer.forward(x, ctx);
          const want = returnSequences ? ref.flatMap((s) => [...s]) : [...ref[T - 1]];
          expect(out.shape).toEqual(returnSequences ? [T, B, H] : [B, H]);
          expectClose(out.toFloat32Array(), want, 2e-6, 1e-5, "output");
          expectClose(layer.finalState[0].toFloat32Array(), ref[T - 1], 2e-6, 1e-5, "final h");
          x.dispose();
          model.dispose();
        });
      }
    }
  });

  describe("finite differences", () => {
    const shapes = [
      { T: 1, B: 1, I: 5, H: 7 },
      { T: 4, B: 3, I: 5, H: 13 },
    ];
    for (const resetAfter of [true, false]) {
      for (const returnSequences of [true, false]) {
        for (const { T, B, I, H } of shapes) {
          it(`resetAfter ${resetAfter}, returnSequences ${returnSequences}, T=${T} B=${B} I=${I} H=${H}`, () => {
            // PyTorch init: non-zero biases, so every bias path carries a non-trivial value.
            gradCheckRecurrent(new GRU({ units: H, resetAfter, returnSequences, init: "pytorch" }), { T, B, I });
          });
        }
      }
    }
    it("with the default Glorot/orthogonal init", () => {
      gradCheckRecurrent(new GRU({ units: 6, resetAfter: false }), { T: 3, B: 2, I: 4 });
      gradCheckRecurrent(new GRU({ units: 6 }), { T: 3, B: 2, I: 4 });
    });
  });

  describe("initialisation", () => {
    it("glorot: per-gate Glorot bounds, orthogonal recurrent blocks, zero biases", () => {
      const I = 10, H = 6;
      const model = new Sequential([new GRU({ units: H })], { inputSize: I, seed: 1 });
      const w = model.getWeights();
      const limit = Math.sqrt(6 / (I + H));
      expect(w["gru0.weight_ih"].length).toBe(3 * H * I);
      expect(w["gru0.weight_ih"].every((v) => Math.abs(v) <= limit)).toBe(true);
      const whh = w["gru0.weight_hh"];
      for (let g = 0; g < 3; g++) {
        for (let a = 0; a < H; a++) {
          for (let b = 0; b < H; b++) {
            let dot = 0;
            for (let j = 0; j < H; j++) dot += whh[(g * H + a) * H + j] * whh[(g * H + b) * H + j];
            expect(dot).toBeCloseTo(a === b ? 1 : 0, 5);
          }
        }
      }
      expect([...w["gru0.bias_ih"], ...w["gru0.bias_hh"]].every((v) => v === 0)).toBe(true);
      model.dispose();
    });

    it("pytorch: every parameter uniform in ±1/√H", () => {
      const H = 9;
      const model = new Sequential([new GRU({ units: H, init: "pytorch" })], { inputSize: 4, seed: 1 });
      for (const [name, v] of Object.entries(model.getWeights())) {
        expect(v.every((a) => Math.abs(a) <= 1 / Math.sqrt(H)), name).toBe(true);
        expect(v.some((a) => a !== 0), name).toBe(true);
      }
      model.dispose();
    });
  });

  describe("errors", () => {
    it("names the expected input shape", () => {
      const layer = new GRU({ units: 4 });
      const model = new Sequential([layer], { inputSize: 5 });
      const x = Tensor.zeros([2, 1, 4]);
      expect(() => layer.forward(x, ctx)).toThrow(UnfoldError);
      expect(() => layer.forward(x, ctx)).toThrow('gru layer "gru0" expected input [T, B, 5], got [2, 1, 4]');
      x.dispose();
      model.dispose();
    });

    it("rejects unknown and invalid options", () => {
      expect(() => new GRU({ units: 4, resetafter: false } as unknown as GRUOptions)).toThrow('GRU: unknown option "resetafter"');
      expect(() => new GRU({ units: 4, resetAfter: "no" } as unknown as GRUOptions)).toThrow(/resetAfter must be true or false/);
      expect(() => new GRU({ units: 4, init: "he" } as unknown as GRUOptions)).toThrow(/init must be "glorot" or "pytorch"/);
      expect(() => new GRU({ units: 0 })).toThrow(/units must be a whole number/);
    });

    it("has one state, h, and checks the initial state's shape", () => {
      const layer = new GRU({ units: 3 });
      expect(layer.stateNames).toEqual(["h"]);
      const model = new Sequential([layer], { inputSize: 2 });
      const x = Tensor.zeros([2, 4, 2]);
      const h0 = Tensor.zeros([4, 5]);
      expect(() => layer.forward(x, ctx, [h0])).toThrow("expected initial h [4, 3], got [4, 5]");
      for (const t of [x, h0]) t.dispose();
      model.dispose();
    });
  });
});
