// Optimizers: each update kernel against its scalar twin (same bits, sizes around the SIMD
// width, nothing written past the end), the optimizers against PyTorch 1.13 trajectories
// and against a float64 reference of torch's formulas, clipping, schedules, checkpoints
// (bit-identical continuation) and the errors users meet.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { ParamStore, Tensor, engine } from "../src/engine/index.js";
import { Dense } from "../src/layers/dense.js";
import { Sequential } from "../src/models/sequential.js";
import {
  Adagrad, Adam, AdamW, Optimizer, RMSprop, SGD,
  type AdagradOptions, type AdamOptions, type AdamWOptions, type OptimizerState, type RMSpropOptions, type SGDOptions,
} from "../src/train/optimizers.js";
import { cosineDecay, exponentialDecay, linearRamp, scheduleFromSpec, scheduleSpec, stepDecay, warmup, type Schedule } from "../src/train/schedules.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, rand } from "./helpers.js";

afterEach(freeAll);

const fr = Math.fround;

// ---------------------------------------------------------------------------------------
// Kernels: SIMD vs scalar twin

const SIZES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 33, 129];
const GUARD = 5;
const SENTINEL = -12345.5;

type Ptrs = Record<string, number>;
interface KernelCase {
  what: string;
  /** Each buffer the kernel touches, with the range of its random contents. `g` is read only. */
  buffers: Record<string, [number, number]>;
  run: (scalar: boolean, b: Ptrs, n: number) => void;
}

const KERNEL_CASES: KernelCase[] = [
  {
    what: "f32_sgd_step, plain",
    buffers: { p: [-1, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_sgd_step_scalar : k().f32_sgd_step)(b.p, 0, b.g, 0.1, 0, 1, 0, 0, 0, n),
  },
  {
    what: "f32_sgd_step, first momentum step",
    buffers: { p: [-1, 1], buf: [-1, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_sgd_step_scalar : k().f32_sgd_step)(b.p, b.buf, b.g, 0.1, 0.9, 0.8, 0.01, 0, 1, n),
  },
  {
    what: "f32_sgd_step, momentum + dampening + weight decay",
    buffers: { p: [-1, 1], buf: [-1, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_sgd_step_scalar : k().f32_sgd_step)(b.p, b.buf, b.g, 0.1, 0.9, 0.8, 0.01, 0, 0, n),
  },
  {
    what: "f32_sgd_step, nesterov",
    buffers: { p: [-1, 1], buf: [-1, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_sgd_step_scalar : k().f32_sgd_step)(b.p, b.buf, b.g, 0.05, 0.9, 1, 0.02, 1, 0, n),
  },
  {
    what: "f32_adam_step, Adam with L2",
    buffers: { p: [-1, 1], m: [-1, 1], v: [0, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_adam_step_scalar : k().f32_adam_step)(b.p, b.m, b.v, b.g, 0.9, 0.1, 0.999, 0.001, 0.03, 0.07, 1e-8, 0.01, 1, n),
  },
  {
    what: "f32_adam_step, AdamW",
    buffers: { p: [-1, 1], m: [-1, 1], v: [0, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_adam_step_scalar : k().f32_adam_step)(b.p, b.m, b.v, b.g, 0.9, 0.1, 0.999, 0.001, 0.03, 0.07, 1e-8, 0, 0.9999, n),
  },
  {
    what: "f32_rmsprop_step, plain",
    buffers: { p: [-1, 1], sq: [0, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_rmsprop_step_scalar : k().f32_rmsprop_step)(b.p, b.sq, 0, 0, b.g, 0.01, 0.99, 0.01, 1e-8, 0, 0, n),
  },
  {
    what: "f32_rmsprop_step, centered + momentum + weight decay",
    buffers: { p: [-1, 1], sq: [0.5, 1], ga: [-0.5, 0.5], buf: [-1, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_rmsprop_step_scalar : k().f32_rmsprop_step)(b.p, b.sq, b.ga, b.buf, b.g, 0.01, 0.9, 0.1, 1e-8, 0.01, 0.5, n),
  },
  {
    what: "f32_rmsprop_step, momentum",
    buffers: { p: [-1, 1], sq: [0, 1], buf: [-1, 1], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_rmsprop_step_scalar : k().f32_rmsprop_step)(b.p, b.sq, 0, b.buf, b.g, 0.01, 0.99, 0.01, 1e-8, 0, 0.9, n),
  },
  {
    what: "f32_adagrad_step",
    buffers: { p: [-1, 1], sum: [0, 2], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_adagrad_step_scalar : k().f32_adagrad_step)(b.p, b.sum, b.g, 0.1, 1e-10, 0, n),
  },
  {
    what: "f32_adagrad_step, weight decay",
    buffers: { p: [-1, 1], sum: [0, 2], g: [-1, 1] },
    run: (s, b, n) => (s ? k().f32_adagrad_step_scalar : k().f32_adagrad_step)(b.p, b.sum, b.g, 0.07, 1e-10, 0.1, n),
  },
];

describe("update kernels: SIMD vs scalar twin", () => {
  for (const c of KERNEL_CASES) {
    it(`${c.what}: same bits for every size, nothing past the end`, () => {
      for (const n of SIZES) {
        const names = Object.keys(c.buffers);
        const data = names.map((name, i) => rand(n, 100 * n + i, ...c.buffers[name]));
        const runs = [false, true].map((scalar) => {
          const ptrs: Ptrs = {};
          names.forEach((name, i) => {
            const withGuard = new Float32Array(n + GUARD).fill(SENTINEL);
            withGuard.set(data[i]);
            ptrs[name] = put(withGuard);
          });
          c.run(scalar, ptrs, n);
          return names.map((name) => get(ptrs[name], n + GUARD));
        });
        names.forEach((name, i) => {
          const [simd, scalar] = [runs[0][i], runs[1][i]];
          expectBitEqual(simd.subarray(0, n), scalar.subarray(0, n), `${c.what}: ${name} SIMD vs scalar, n = ${n}`);
          for (const out of [simd, scalar]) {
            for (let j = n; j < n + GUARD; j++) if (out[j] !== SENTINEL) expect.fail(`${c.what}: ${name} written past the end (n = ${n})`);
          }
          if (name === "g") expectBitEqual(simd.subarray(0, n), data[i], `${c.what}: gradients must stay unchanged`);
          else if (name === "p" && n > 0) expect(simd.subarray(0, n)).not.toEqual(data[i]);
        });
      }
    });
  }
});

// ---------------------------------------------------------------------------------------
// Helpers: stores, gradients, optimizers by kind

type Kind = "SGD" | "Adam" | "AdamW" | "RMSprop" | "Adagrad";
type AnyOptions = SGDOptions | AdamOptions | AdamWOptions | RMSpropOptions | AdagradOptions;

function make(kind: Kind, options: AnyOptions): Optimizer {
  switch (kind) {
    case "SGD":
      return new SGD(options as SGDOptions);
    case "Adam":
      return new Adam(options as AdamOptions);
    case "AdamW":
      return new AdamW(options as AdamWOptions);
    case "RMSprop":
      return new RMSprop(options as RMSpropOptions);
    case "Adagrad":
      return new Adagrad(options as AdagradOptions);
  }
}

/** A store of several parameters (so the flat buffers have padding between them). */
const SPECS = [
  { name: "a", shape: [13] },
  { name: "b", shape: [4, 6] },
  { name: "c", shape: [3] },
];

function newStore(seed: number): ParamStore {
  const store = new ParamStore(SPECS);
  store.entries.forEach((e, i) => store.write(e.name, rand(e.size, seed + i)));
  return store;
}

function writeGrads(store: ParamStore, grads: Record<string, Float32Array>): void {
  for (const e of store.entries) Tensor.view(store.grads, e.offset, [e.size]).write(grads[e.name]);
}

function randomGrads(seed: number, scale = 1): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  SPECS.forEach((s, i) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    out[s.name] = rand(size, seed * 31 + i, -scale, scale);
  });
  return out;
}

/** Every value of the flat buffer that belongs to no parameter. */
function padding(store: ParamStore, buffer: Tensor): number[] {
  const all = buffer.toFloat32Array();
  const used = new Uint8Array(store.length);
  for (const e of store.entries) used.fill(1, e.offset, e.offset + e.size);
  return Array.from(all).filter((_, i) => !used[i]);
}

// ---------------------------------------------------------------------------------------
// Against PyTorch 1.13

interface TorchFixture {
  p0: number[];
  grads: number[][];
  cases: Record<string, { optimizer: string; options: Record<string, number | boolean | number[]>; trajectory: number[][] }>;
}
const fixture = JSON.parse(readFileSync(new URL("./fixtures/torch/optimizers.json", import.meta.url), "utf8")) as TorchFixture;

/** torch's option names in camelCase; amsgrad must be off (not supported). */
function torchOptions(options: Record<string, number | boolean | number[]>): AnyOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (key === "amsgrad") {
      expect(value).toBe(false);
      continue;
    }
    out[key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return out as AnyOptions;
}

// The trajectory is float64 arithmetic on the fixture's float32 inputs; ours is float32, so
// each value may differ by the rounding of a few float32 operations per step, over 5 steps.
const TORCH_RTOL = 1e-6;
const TORCH_ATOL = 1e-7;

describe("optimizers against PyTorch 1.13 (torch.optim, 5 steps)", () => {
  const names = Object.keys(fixture.cases);
  it("has all the cases", () => {
    expect(names.sort()).toEqual(
      ["adagrad", "adam", "adam_wd", "adamw", "rmsprop", "rmsprop_momentum", "sgd", "sgd_momentum", "sgd_nesterov", "sgd_wd"].sort(),
    );
  });
  for (const name of names) {
    it(`${name}: trajectory within ${TORCH_RTOL} relative (+${TORCH_ATOL} absolute)`, () => {
      const c = fixture.cases[name];
      const store = new ParamStore([{ name: "p", shape: [10] }]);
      const entry = store.entry("p");
      store.write("p", fixture.p0);
      const opt = make(c.optimizer as Kind, torchOptions(c.options));
      for (let s = 0; s < fixture.grads.length; s++) {
        Tensor.view(store.grads, entry.offset, [10]).write(fixture.grads[s]);
        opt.step(store);
        expectClose(store.read("p"), c.trajectory[s], TORCH_ATOL, TORCH_RTOL, `${name} step ${s + 1}`);
      }
      expect(opt.stepCount).toBe(5);
      expect(padding(store, store.values).every((v) => v === 0)).toBe(true);
      opt.dispose();
      store.dispose();
    });
  }
});

// ---------------------------------------------------------------------------------------
// Against a float64 reference of torch's formulas

type Reference = (p: Float64Array, g: Float64Array, t: number) => void;

/** torch.optim's update rules in float64, state included; t counts from 1. */
function reference(kind: Kind, opt: Optimizer, n: number): Reference {
  const o = opt.options as unknown as Record<string, number | boolean | number[]>;
  const lr = o.lr as number;
  const wd = o.weightDecay as number;
  const zeros = () => new Float64Array(n);
  switch (kind) {
    case "SGD": {
      const momentum = o.momentum as number, dampening = o.dampening as number, nesterov = o.nesterov as boolean;
      const buf = zeros();
      return (p, g, t) => {
        for (let i = 0; i < n; i++) {
          let d = g[i] + wd * p[i];
          if (momentum !== 0) {
            buf[i] = t === 1 ? d : momentum * buf[i] + (1 - dampening) * d;
            d = nesterov ? d + momentum * buf[i] : buf[i];
          }
          p[i] -= lr * d;
        }
      };
    }
    case "Adam":
    case "AdamW": {
      const [b1, b2] = o.betas as number[];
      const eps = o.eps as number;
      const m = zeros(), v = zeros();
      return (p, g, t) => {
        const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
        for (let i = 0; i < n; i++) {
          let d = g[i];
          if (kind === "Adam") d += wd * p[i];
          else p[i] *= 1 - lr * wd;
          m[i] = b1 * m[i] + (1 - b1) * d;
          v[i] = b2 * v[i] + (1 - b2) * d * d;
          p[i] -= (lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
        }
      };
    }
    case "RMSprop": {
      const alpha = o.alpha as number, eps = o.eps as number, momentum = o.momentum as number, centered = o.centered as boolean;
      const sq = zeros(), ga = zeros(), buf = zeros();
      return (p, g) => {
        for (let i = 0; i < n; i++) {
          const d = g[i] + wd * p[i];
          sq[i] = alpha * sq[i] + (1 - alpha) * d * d;
          let avg: number;
          if (centered) {
            ga[i] = alpha * ga[i] + (1 - alpha) * d;
            avg = Math.sqrt(sq[i] - ga[i] * ga[i]) + eps;
          } else {
            avg = Math.sqrt(sq[i]) + eps;
          }
          if (momentum > 0) {
            buf[i] = momentum * buf[i] + d / avg;
            p[i] -= lr * buf[i];
          } else {
            p[i] -= (lr * d) / avg;
          }
        }
      };
    }
    case "Adagrad": {
      const lrDecay = o.lrDecay as number, eps = o.eps as number;
      const sum = new Float64Array(n).fill(o.initialAccumulatorValue as number);
      return (p, g, t) => {
        const clr = lr / (1 + (t - 1) * lrDecay);
        for (let i = 0; i < n; i++) {
          const d = g[i] + wd * p[i];
          sum[i] += d * d;
          p[i] -= (clr * d) / (Math.sqrt(sum[i]) + eps);
        }
      };
    }
  }
}

const CONFIGS: { kind: Kind; options: AnyOptions }[] = [
  { kind: "SGD", options: { lr: 0.05 } },
  { kind: "SGD", options: { lr: 0.05, momentum: 0.9, dampening: 0.2, weightDecay: 0.01 } },
  { kind: "SGD", options: { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.02 } },
  { kind: "Adam", options: { lr: 0.01, betas: [0.8, 0.99], weightDecay: 0.05 } },
  { kind: "Adam", options: {} },
  { kind: "AdamW", options: { lr: 0.01, weightDecay: 0.1, eps: 1e-6 } },
  { kind: "RMSprop", options: { lr: 0.01 } },
  { kind: "RMSprop", options: { lr: 0.01, alpha: 0.9, momentum: 0.5, centered: true, weightDecay: 0.01 } },
  { kind: "RMSprop", options: { lr: 0.02, momentum: 0.7 } },
  { kind: "Adagrad", options: { lr: 0.1, lrDecay: 0.05, initialAccumulatorValue: 0.1, weightDecay: 0.01 } },
];
const label = (c: { kind: Kind; options: AnyOptions }) => `${c.kind}(${JSON.stringify(c.options)})`;

describe("optimizers against a float64 reference (random data, several parameters, 8 steps)", () => {
  for (const c of CONFIGS) {
    it(label(c), () => {
      const store = newStore(11);
      const opt = make(c.kind, c.options);
      const refs = new Map<string, { p: Float64Array; step: Reference }>();
      for (const e of store.entries) refs.set(e.name, { p: Float64Array.from(store.read(e.name)), step: reference(c.kind, opt, e.size) });
      for (let t = 1; t <= 8; t++) {
        const grads = randomGrads(t);
        writeGrads(store, grads);
        opt.step(store);
        for (const e of store.entries) {
          const r = refs.get(e.name)!;
          r.step(r.p, Float64Array.from(grads[e.name]), t);
          expectClose(store.read(e.name), r.p, 1e-6, 1e-5, `${label(c)} ${e.name} step ${t}`);
        }
      }
      // One pass over the flat buffers: the padding between parameters stays zero.
      expect(padding(store, store.values).every((v) => v === 0)).toBe(true);
      opt.dispose();
      store.dispose();
    });
  }

  it("defaults are PyTorch's", () => {
    const common = { clipNorm: null, clipValue: null };
    expect(new SGD({ lr: 0.1 }).options).toEqual({ lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...common });
    expect(new Adam().options).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, ...common });
    expect(new AdamW().options).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...common });
    expect(new RMSprop().options).toEqual({ lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...common });
    expect(new Adagrad().options).toEqual({ lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, ...common });
  });

  it("trains a small model (Sequential + Adam): the loss falls", () => {
    const model = new Sequential([new Dense({ units: 7, activation: "tanh" }), new Dense({ units: 2 })], { inputSize: 3, loss: "mse", seed: 3 });
    const x = Tensor.fromArray(rand(5 * 4 * 3, 1), [5, 4, 3]);
    const y = Tensor.fromArray(rand(5 * 4 * 2, 2, -0.5, 0.5), [5, 4, 2]);
    const opt = new Adam({ lr: 0.02, clipNorm: 5 });
    const first = model.lossAndGradients(x, y);
    let last = first;
    for (let i = 0; i < 60; i++) {
      opt.step(model.params);
      last = model.lossAndGradients(x, y);
    }
    expect(last).toBeLessThan(first * 0.5);
    opt.dispose();
    for (const t of [x, y]) t.dispose();
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------
// Clipping

function flatNorm(data: Float32Array): number {
  let s = 0;
  for (const v of data) s += v * v;
  return Math.sqrt(s);
}

describe("clipping", () => {
  it("clipNorm scales the global norm to exactly clipNorm and reports the norm before clipping", () => {
    const store = newStore(1);
    writeGrads(store, randomGrads(5, 3));
    const g0 = store.grads.toFloat32Array();
    const p0 = store.values.toFloat32Array();
    const norm = flatNorm(g0);
    expect(norm).toBeGreaterThan(2);
    const opt = new SGD({ lr: 1, clipNorm: 1 });
    const { gradNorm } = opt.step(store);
    expect(Math.abs(gradNorm - norm)).toBeLessThanOrEqual(1e-12 * norm);
    const g1 = store.grads.toFloat32Array();
    const scale = fr(1 / gradNorm);
    expectBitEqual(g1, g0.map((v) => fr(v * scale)), "clipped gradients");
    expect(Math.abs(flatNorm(g1) - 1)).toBeLessThan(1e-6);
    // lr 1: p − 1·g is exactly fround(p − g), so the update used the clipped gradients.
    expectBitEqual(store.values.toFloat32Array(), p0.map((v, i) => fr(v - g1[i])), "values after the update");
    opt.dispose();
    store.dispose();
  });

  it("clipNorm leaves gradients below the threshold unchanged", () => {
    const store = newStore(1);
    writeGrads(store, randomGrads(6, 0.1));
    const g0 = store.grads.toFloat32Array();
    const opt = new Adam({ clipNorm: 100 });
    const { gradNorm } = opt.step(store);
    expect(Math.abs(gradNorm - flatNorm(g0))).toBeLessThanOrEqual(1e-12 * gradNorm);
    expectBitEqual(store.grads.toFloat32Array(), g0, "gradients");
    opt.dispose();
    store.dispose();
  });

  it("clipValue clamps each gradient; with clipNorm, the norm is clipped first", () => {
    const store = newStore(1);
    writeGrads(store, randomGrads(7, 3));
    const g0 = store.grads.toFloat32Array();
    const opt = new SGD({ lr: 0.1, clipValue: 0.5 });
    const { gradNorm } = opt.step(store);
    expect(Math.abs(gradNorm - flatNorm(g0))).toBeLessThanOrEqual(1e-12 * gradNorm);
    expectBitEqual(store.grads.toFloat32Array(), g0.map((v) => Math.min(Math.max(v, -0.5), 0.5)), "clamped gradients");

    writeGrads(store, randomGrads(7, 3));
    const both = new SGD({ lr: 0.1, clipNorm: 2, clipValue: 0.25 });
    const r = both.step(store);
    const scale = fr(2 / r.gradNorm);
    expectBitEqual(store.grads.toFloat32Array(), g0.map((v) => Math.min(Math.max(fr(v * scale), -0.25), 0.25)), "norm then value");
    for (const o of [opt, both]) o.dispose();
    store.dispose();
  });

  it("a non-finite gradient throws and changes nothing", () => {
    const store = newStore(1);
    const opt = new Adam({ clipNorm: 1 });
    writeGrads(store, randomGrads(8));
    opt.step(store);
    const before = store.values.toFloat32Array();
    const stateBefore = opt.getState();
    for (const [bad, word] of [[NaN, "NaN"], [Infinity, "infinite"]] as const) {
      writeGrads(store, randomGrads(9));
      engine().f32()[store.grads.ptr / 4 + store.entry("b").offset + 3] = bad;
      expect(() => opt.step(store)).toThrow(new RegExp(`Adam: a gradient is ${word}.*parameters were left unchanged`));
      expectBitEqual(store.values.toFloat32Array(), before, "values");
      expect(opt.stepCount).toBe(1);
      expectBitEqual(opt.getState().buffers.expAvg, stateBefore.buffers.expAvg, "state");
    }
    opt.dispose();
    store.dispose();
  });
});

// ---------------------------------------------------------------------------------------
// Schedules

describe("schedules", () => {
  it("the built-in schedules describe themselves, and their descriptions (through JSON) make the same schedules", () => {
    const made: Schedule[] = [
      stepDecay({ lr: 0.1, stepSize: 3 }), exponentialDecay({ lr: 0.2, gamma: 0.9 }), cosineDecay({ lr: 1e-2, totalSteps: 20, minLr: 1e-4 }),
      linearRamp({ from: 0, to: 0.5, steps: 7 }), warmup(cosineDecay({ lr: 3e-3, totalSteps: 50 }), { steps: 5 }), warmup(0.01, { steps: 4 }),
    ];
    for (const s of made) {
      const spec = scheduleSpec(s);
      expect(spec).not.toBeNull();
      const again = scheduleFromSpec(JSON.parse(JSON.stringify(spec)));
      for (const step of [0, 1, 2, 3, 4, 5, 6, 7, 13, 19, 20, 21, 100]) expect(again(step)).toBe(s(step));
    }
    // A function of the caller's own has no description, nor does a warm-up over one.
    expect(scheduleSpec((step) => 1 / (1 + step))).toBeNull();
    expect(scheduleSpec(warmup((step) => 1 / (1 + step), { steps: 2 }))).toBeNull();
    expect(() => scheduleFromSpec({ kind: "cosineDecay", options: { lr: 0.1, totalSteps: 0 } })).toThrow(/totalSteps/);
    expect(() => scheduleFromSpec({ kind: "nope" } as never)).toThrow(/unknown schedule kind "nope"/);
  });

  it("stepDecay", () => {
    const s = stepDecay({ lr: 0.1, stepSize: 3, gamma: 0.5 });
    expect([0, 1, 2, 3, 5, 6, 9].map(s)).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
    expect(stepDecay({ lr: 1, stepSize: 2 })(2)).toBeCloseTo(0.1, 15);
  });

  it("exponentialDecay", () => {
    const s = exponentialDecay({ lr: 0.2, gamma: 0.9 });
    expect(s(0)).toBe(0.2);
    expect(s(1)).toBeCloseTo(0.18, 15);
    expect(s(10)).toBeCloseTo(0.2 * 0.9 ** 10, 15);
  });

  it("cosineDecay", () => {
    const s = cosineDecay({ lr: 0.1, totalSteps: 10, minLr: 0.02 });
    expect(s(0)).toBe(0.1);
    expect(s(5)).toBeCloseTo(0.06, 15);
    expect(s(10)).toBeCloseTo(0.02, 15);
    expect(s(25)).toBe(0.02);
    expect(cosineDecay({ lr: 1, totalSteps: 4 })(2)).toBeCloseTo(0.5, 15);
  });

  it("warmup ramps linearly from 0 to the wrapped schedule", () => {
    const inner = exponentialDecay({ lr: 0.1, gamma: 0.5 });
    const s = warmup(inner, { steps: 4 });
    expect(s(0)).toBe(0);
    expect(s(2)).toBeCloseTo(inner(2) / 2, 15);
    expect(s(3)).toBeCloseTo((inner(3) * 3) / 4, 15);
    expect(s(4)).toBe(inner(4));
    expect(s(7)).toBe(inner(7));
    expect(warmup(0.01, { steps: 10 })(5)).toBeCloseTo(0.005, 15);
  });

  it("the optimizer calls the schedule with its step count", () => {
    const store = new ParamStore([{ name: "p", shape: [3] }]);
    store.write("p", [1, 2, 3]);
    const seen: number[] = [];
    const schedule: Schedule = (step) => {
      seen.push(step);
      return 0.5 / (step + 1);
    };
    const opt = new SGD({ lr: schedule });
    let expected = new Float32Array([1, 2, 3]);
    for (let t = 0; t < 4; t++) {
      expect(opt.lr).toBe(0.5 / (t + 1));
      Tensor.view(store.grads, 0, [3]).write([1, 1, 1]);
      opt.step(store);
      const lr = fr(0.5 / (t + 1));
      expected = expected.map((v) => fr(v - lr));
      expectBitEqual(store.read("p"), expected, `step ${t}`);
    }
    expect(seen.filter((_, i) => i % 2 === 1)).toEqual([0, 1, 2, 3]);
    opt.dispose();
    store.dispose();
  });

  it("rejects bad options and steps, naming them", () => {
    expect(() => stepDecay({ lr: 0.1, stepSize: 0 })).toThrow(/stepDecay: stepSize must be a whole number in \[1,/);
    expect(() => stepDecay({ lr: -1, stepSize: 2 })).toThrow(/stepDecay: lr must be a finite number in \[0, ∞\), got -1/);
    expect(() => exponentialDecay({ lr: 0.1, gamma: 0 })).toThrow(/exponentialDecay: gamma must be a finite number in \(0, 1\], got 0/);
    expect(() => cosineDecay({ lr: 0.1, totalSteps: 10, minLr: 0.2 })).toThrow(/cosineDecay: minLr must be a finite number in \[0, 0.1\], got 0.2/);
    expect(() => warmup(0.1, { steps: 0 })).toThrow(/warmup: steps must be a whole number/);
    expect(() => exponentialDecay({ lr: 0.1, gamma: 0.9, decay: 1 } as never)).toThrow(/exponentialDecay: unknown option "decay"/);
    expect(() => stepDecay(undefined as never)).toThrow(/stepDecay takes an options object/);
    expect(() => exponentialDecay({ lr: 0.1, gamma: 0.9 })(-1)).toThrow(/exponentialDecay: the step must be a whole number/);
    expect(() => cosineDecay({ lr: 0.1, totalSteps: 3 })(1.5)).toThrow(/the step must be a whole number/);
  });
});

// ---------------------------------------------------------------------------------------
// Checkpoints

const STATE_CONFIGS: { kind: Kind; options: AnyOptions }[] = [
  ...CONFIGS,
  { kind: "Adam", options: { lr: warmup(cosineDecay({ lr: 0.01, totalSteps: 20 }), { steps: 3 }), clipNorm: 1 } },
  { kind: "Adagrad", options: { lr: stepDecay({ lr: 0.1, stepSize: 2 }), lrDecay: 0.1, clipValue: 0.3 } },
];

describe("getState / setState", () => {
  for (const c of STATE_CONFIGS) {
    it(`${label(c)}: a restored optimizer continues with the same bits`, () => {
      const a = newStore(21);
      const b = newStore(99);
      const optA = make(c.kind, c.options);
      for (let s = 0; s < 3; s++) {
        writeGrads(a, randomGrads(40 + s));
        optA.step(a);
      }
      const state = optA.getState();
      expect(state.name).toBe(c.kind);
      expect(state.step).toBe(3);
      b.values.write(a.values.toFloat32Array());
      const optB = make(c.kind, c.options);
      optB.setState(state);
      for (const buf of Object.values(state.buffers)) buf.fill(7); // setState copied them
      expect(optB.stepCount).toBe(3);
      for (let s = 3; s < 8; s++) {
        const g = randomGrads(40 + s, 2);
        writeGrads(a, g);
        writeGrads(b, g);
        expect(optB.step(b).gradNorm).toBe(optA.step(a).gradNorm);
      }
      expectBitEqual(b.values.toFloat32Array(), a.values.toFloat32Array(), "values");
      const [sa, sb] = [optA.getState(), optB.getState()];
      expect(Object.keys(sb.buffers)).toEqual(Object.keys(sa.buffers));
      for (const name of Object.keys(sa.buffers)) expectBitEqual(sb.buffers[name], sa.buffers[name], name);
      for (const o of [optA, optB]) o.dispose();
      for (const s of [a, b]) s.dispose();
    });
  }

  it("records the buffers by PyTorch's names and the options as data", () => {
    const store = newStore(1);
    writeGrads(store, randomGrads(1));
    const expected: [Optimizer, string[]][] = [
      [new SGD({ lr: 0.1 }), []],
      [new SGD({ lr: 0.1, momentum: 0.9 }), ["momentumBuffer"]],
      [new Adam(), ["expAvg", "expAvgSq"]],
      [new AdamW(), ["expAvg", "expAvgSq"]],
      [new RMSprop({ momentum: 0.9, centered: true }), ["squareAvg", "momentumBuffer", "gradAvg"]],
      [new Adagrad({ initialAccumulatorValue: 0.5 }), ["sum"]],
    ];
    for (const [opt, names] of expected) {
      expect(opt.getState().buffers).toEqual({}); // nothing allocated before the first step
      opt.step(store);
      const state = opt.getState();
      expect(Object.keys(state.buffers)).toEqual(names);
      for (const buf of Object.values(state.buffers)) expect(buf.length).toBe(store.length);
      opt.dispose();
    }
    const s = new AdamW({ lr: exponentialDecay({ lr: 0.1, gamma: 0.5 }), clipNorm: 2 }).getState();
    expect(s).toEqual({ name: "AdamW", step: 0, options: { lr: null, clipNorm: 2, clipValue: null, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 }, buffers: {} });
    store.dispose();
  });

  it("restores into an unbound optimizer, checking the store's length on the first step", () => {
    const store = newStore(1);
    const opt = new Adam();
    writeGrads(store, randomGrads(1));
    opt.step(store);
    const state = opt.getState();
    const fresh = new Adam();
    fresh.setState(state);
    const other = new ParamStore([{ name: "x", shape: [5] }]);
    expect(() => fresh.step(other)).toThrow(/Adam: the restored state holds 64 values per buffer, but the ParamStore has 16/);
    fresh.step(store);
    expect(fresh.stepCount).toBe(2);
    for (const o of [opt, fresh]) o.dispose();
    for (const s of [store, other]) s.dispose();
  });

  it("rejects a state that does not fit, naming what is wrong, and changes nothing", () => {
    const store = newStore(1);
    const opt = new RMSprop({ momentum: 0.9 });
    writeGrads(store, randomGrads(1));
    opt.step(store);
    const good = opt.getState();
    const bad = (change: (s: OptimizerState) => void): OptimizerState => {
      const s = opt.getState();
      change(s);
      return s;
    };
    expect(() => opt.setState(bad((s) => (s.name = "Adam")))).toThrow(/RMSprop.setState: the state is from "Adam", not RMSprop/);
    expect(() => opt.setState(bad((s) => (s.step = -1)))).toThrow(/RMSprop.setState: step must be a whole number/);
    expect(() => opt.setState(bad((s) => delete s.buffers.momentumBuffer))).toThrow(/missing buffer "momentumBuffer" \(RMSprop with these options keeps: squareAvg, momentumBuffer\)/);
    expect(() => opt.setState(bad((s) => (s.buffers.gradAvg = new Float32Array(store.length))))).toThrow(/unexpected buffer "gradAvg"/);
    expect(() => opt.setState(bad((s) => (s.buffers.squareAvg = new Float32Array(3))))).toThrow(/buffer "momentumBuffer" has 64 values, buffer "squareAvg" has 3/);
    expect(() =>
      opt.setState(bad((s) => {
        s.buffers.squareAvg = new Float32Array(5);
        s.buffers.momentumBuffer = new Float32Array(5);
      })),
    ).toThrow(/the state holds 5 values per buffer, but the bound ParamStore has 64/);
    expect(() => opt.setState(bad((s) => (s.buffers.squareAvg[2] = NaN)))).toThrow(/buffer "squareAvg" value 2 is NaN/);
    expect(() => opt.setState(bad((s) => (s.buffers.squareAvg = [1, 2] as never)))).toThrow(/buffer "squareAvg" must be a Float32Array/);
    expect(() => opt.setState(null as never)).toThrow(/expected a state from getState\(\)/);
    const after = opt.getState();
    expect(after.step).toBe(good.step);
    for (const name of Object.keys(good.buffers)) expectBitEqual(after.buffers[name], good.buffers[name], name);
    opt.dispose();
    store.dispose();
  });
});

// ---------------------------------------------------------------------------------------
// Ownership and errors

describe("ownership and validation", () => {
  it("belongs to one ParamStore; dispose() frees its state and starts afresh", () => {
    const allocator = engine().allocator;
    const a = newStore(1);
    const b = newStore(2);
    const blocks = allocator.liveBlocks;
    const opt = new RMSprop({ momentum: 0.5, centered: true });
    writeGrads(a, randomGrads(1));
    opt.step(a);
    expect(allocator.liveBlocks).toBe(blocks + 3);
    expect(() => opt.step(b)).toThrow(/RMSprop: this optimizer's state belongs to another ParamStore/);
    expect(() => opt.bind(b)).toThrow(/belongs to another ParamStore/);
    expect(() => opt.step({} as never)).toThrow(/RMSprop: expected a ParamStore/);
    for (let i = 0; i < 5; i++) opt.step(a); // stepping allocates nothing more
    expect(allocator.liveBlocks).toBe(blocks + 3);
    opt.dispose();
    expect(allocator.liveBlocks).toBe(blocks);
    expect(opt.stepCount).toBe(0);
    opt.step(b);
    expect(opt.stepCount).toBe(1);
    opt.dispose();
    opt.dispose();
    expect(allocator.liveBlocks).toBe(blocks);
    for (const s of [a, b]) s.dispose();
  });

  it("rejects unknown and out-of-range options, naming them", () => {
    const cases: [() => unknown, RegExp][] = [
      [() => new SGD({} as never), /SGD: lr is required/],
      [() => new SGD({ lr: -0.1 }), /SGD: lr must be a finite number in \[0, ∞\), got -0.1/],
      [() => new SGD({ lr: NaN }), /SGD: lr must be a finite number/],
      [() => new SGD({ lr: 0.1, momentum: -0.5 }), /SGD: momentum must be a finite number in \[0, ∞\), got -0.5/],
      [() => new SGD({ lr: 0.1, dampening: 2 }), /SGD: dampening must be a finite number in \[0, 1\], got 2/],
      [() => new SGD({ lr: 0.1, nesterov: true }), /SGD: nesterov needs momentum > 0 and dampening 0, got momentum 0/],
      [() => new SGD({ lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /nesterov needs momentum > 0 and dampening 0/],
      [() => new SGD({ lr: 0.1, nesterov: "yes" } as never), /SGD: nesterov must be true or false, got yes/],
      [() => new SGD({ lr: 0.1, weight_decay: 0.1 } as never), /SGD: unknown option "weight_decay" \(known: lr, momentum, dampening, nesterov, weightDecay, clipNorm, clipValue\)/],
      [() => new Adam({ amsgrad: true } as never), /Adam: unknown option "amsgrad"/],
      [() => new Adam({ betas: [1, 0.999] }), /Adam: betas\[0\] must be a finite number in \[0, 1\), got 1/],
      [() => new Adam({ betas: [0.9] as never }), /Adam: betas must be two numbers \[beta1, beta2\], got 1 values/],
      [() => new AdamW({ eps: 0 }), /AdamW: eps must be a finite number in \(0, ∞\), got 0/],
      [() => new AdamW({ weightDecay: -1 }), /AdamW: weightDecay must be a finite number in \[0, ∞\), got -1/],
      [() => new RMSprop({ alpha: 1.5 }), /RMSprop: alpha must be a finite number in \[0, 1\], got 1.5/],
      [() => new RMSprop({ centered: 1 } as never), /RMSprop: centered must be true or false/],
      [() => new Adagrad({ lrDecay: -0.1 }), /Adagrad: lrDecay must be a finite number in \[0, ∞\)/],
      [() => new Adagrad({ initialAccumulatorValue: Infinity }), /Adagrad: initialAccumulatorValue must be a finite number/],
      [() => new Adam({ clipNorm: 0 }), /Adam: clipNorm must be a finite number in \(0, ∞\), got 0/],
      [() => new Adam({ clipValue: -1 }), /Adam: clipValue must be a finite number in \(0, ∞\), got -1/],
      [() => new Adam(null as never), /Adam takes an options object/],
    ];
    for (const [make, message] of cases) expect(make).toThrow(message);
  });

  it("a schedule giving a bad rate throws before anything changes", () => {
    const store = newStore(1);
    writeGrads(store, randomGrads(1, 5));
    const g0 = store.grads.toFloat32Array();
    const p0 = store.values.toFloat32Array();
    const opt = new SGD({ lr: (step) => (step === 0 ? -1 : 0.1), clipNorm: 1 });
    expect(() => opt.step(store)).toThrow(/SGD: the learning-rate schedule gave -1 at step 0; it must be a finite number >= 0/);
    expectBitEqual(store.grads.toFloat32Array(), g0, "gradients (not clipped)");
    expectBitEqual(store.values.toFloat32Array(), p0, "values");
    expect(opt.stepCount).toBe(0);
    opt.dispose();
    store.dispose();
  });
});
