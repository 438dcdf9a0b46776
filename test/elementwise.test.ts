// Elementwise kernels: each SIMD kernel against its scalar twin (same bits) and against a
// float64 reference (exact ops must match Math.fround to the bit; the approximations are
// held to the error bounds stated in assembly/activations.ts), over sizes around the SIMD
// width, in place, and with a guard after the end that must stay untouched.
import { afterEach, describe, expect, it } from "vitest";
import { engine } from "../src/engine/index.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, rand } from "./helpers.js";

const SIZES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 33, 63, 65, 127, 129, 1000];
const GUARD = 5; // floats after the end of every output, which no kernel may write
const SENTINEL = -12345.5;
const fr = Math.fround;

// The error bounds stated in assembly/activations.ts.
const TANH_MAX_ABS = 4.2e-7;
const SIGMOID_MAX_ABS = 9e-8;
const EXP_MAX_REL = 8.2e-8;

afterEach(freeAll);

/** Output buffer of n floats plus the guard, all SENTINEL. */
function out(n: number): number {
  return put(new Float32Array(n + GUARD).fill(SENTINEL));
}
/** Writes `data` into wasm memory at `ptr` (already allocated). */
function setAt(ptr: number, data: Float32Array): void {
  engine().f32().set(data, ptr / 4);
}
function expectGuard(ptr: number, n: number, what: string): void {
  const g = get(ptr + n * 4, GUARD);
  for (let i = 0; i < GUARD; i++) if (g[i] !== SENTINEL) expect.fail(`${what}: wrote past the end (n = ${n}, +${i})`);
}
/** SIMD output, scalar-twin output, and their check against each other and the guard. */
function runBoth(n: number, what: string, run: (y: number, scalar: boolean) => void): Float32Array {
  const y1 = out(n);
  const y2 = out(n);
  run(y1, false);
  run(y2, true);
  expectGuard(y1, n, what);
  expectGuard(y2, n, `${what}_scalar`);
  const a = get(y1, n);
  expectBitEqual(a, get(y2, n), `${what} vs ${what}_scalar, n = ${n}`);
  return a;
}

type Unary = "f32_vtanh" | "f32_vsigmoid" | "f32_vrelu" | "f32_vexp";
/** A unary kernel or its scalar twin. */
const unary = (name: Unary, scalar: boolean) => k()[scalar ? (`${name}_scalar` as `${Unary}_scalar`) : name];
const UNARY: { name: Unary; ref: (x: number) => number; lo: number; hi: number; atol: number; rtol: number }[] = [
  { name: "f32_vtanh", ref: Math.tanh, lo: -10, hi: 10, atol: TANH_MAX_ABS, rtol: 0 },
  { name: "f32_vsigmoid", ref: (x) => 1 / (1 + Math.exp(-x)), lo: -20, hi: 20, atol: SIGMOID_MAX_ABS, rtol: 0 },
  { name: "f32_vrelu", ref: (x) => Math.max(x, 0), lo: -3, hi: 3, atol: 0, rtol: 0 },
  { name: "f32_vexp", ref: Math.exp, lo: -30, hi: 30, atol: 0, rtol: EXP_MAX_REL },
];

describe("activations: SIMD vs scalar twin vs float64", () => {
  for (const u of UNARY) {
    it(`${u.name} over every size`, () => {
      for (const n of SIZES) {
        const x = rand(n, 1000 + n, u.lo, u.hi);
        const xp = put(x);
        const y = runBoth(n, u.name, (yp, scalar) => unary(u.name, scalar)(yp, xp, n));
        expectClose(y, Array.from(x, u.ref), u.atol, u.rtol, `${u.name} n = ${n}`);
        // In place gives the same bits.
        k()[u.name](xp, xp, n);
        expectBitEqual(get(xp, n), y, `${u.name} in place, n = ${n}`);
      }
    });
  }

  it("unaligned pointers", () => {
    const n = 37;
    const x = rand(n + 1, 5, -4, 4);
    const xp = put(x) + 4;
    const y1 = out(n + 1) + 4;
    const y2 = out(n);
    k().f32_vtanh(y1, xp, n);
    k().f32_vtanh_scalar(y2, xp, n);
    expectBitEqual(get(y1, n), get(y2, n), "f32_vtanh unaligned");
  });
});

/** Runs a unary kernel over `xs` (any length) in wasm and returns the result. */
function apply(name: Unary, xs: Float32Array, scalar = false): Float32Array {
  const xp = put(xs);
  const yp = put(new Float32Array(xs.length));
  unary(name, scalar)(yp, xp, xs.length);
  return get(yp, xs.length);
}

describe("approximation error bounds (activations.ts)", () => {
  const N = 2_000_000;
  const grid = new Float32Array(N + 1);
  for (let i = 0; i <= N; i++) grid[i] = -20 + (40 * i) / N;
  // The region where tanh and sigmoid bend most, at a finer step, and tiny arguments.
  const fine = new Float32Array(400_001);
  for (let i = 0; i < fine.length; i++) fine[i] = -8 + (16 * i) / (fine.length - 1);
  const tiny = Float32Array.from([0, -0, 1e-45, -1e-45, 1e-38, 1e-30, 1e-10, -1e-10, 1e-5, 3e-4, 1e-3]);

  function maxAbsErr(name: Unary, xs: Float32Array, ref: (x: number) => number): { err: number; at: number } {
    const y = apply(name, xs);
    let err = 0;
    let at = 0;
    for (let i = 0; i < xs.length; i++) {
      const e = Math.abs(y[i] - ref(xs[i]));
      if (!(e <= err)) {
        err = e;
        at = xs[i];
      }
    }
    return { err, at };
  }

  it(`tanh: max abs error <= ${TANH_MAX_ABS}, |tanh| <= 1, odd`, () => {
    for (const xs of [grid, fine, tiny]) {
      const { err, at } = maxAbsErr("f32_vtanh", xs, Math.tanh);
      expect(err, `at x = ${at}`).toBeLessThanOrEqual(TANH_MAX_ABS);
    }
    const y = apply("f32_vtanh", grid);
    const yn = apply("f32_vtanh", grid.map((v) => -v));
    for (let i = 0; i < grid.length; i++) {
      if (!(Math.abs(y[i]) <= 1)) expect.fail(`|tanh(${grid[i]})| = ${Math.abs(y[i])} > 1`);
      if (yn[i] !== -y[i]) expect.fail(`tanh not odd at ${grid[i]}`);
    }
  });

  it(`sigmoid: max abs error <= ${SIGMOID_MAX_ABS}, within [0, 1]`, () => {
    const ref = (x: number) => 1 / (1 + Math.exp(-x));
    const wide = new Float32Array(N + 1).map((_, i) => -100 + (200 * i) / N);
    for (const xs of [grid, fine, tiny, wide]) {
      const { err, at } = maxAbsErr("f32_vsigmoid", xs, ref);
      expect(err, `at x = ${at}`).toBeLessThanOrEqual(SIGMOID_MAX_ABS);
    }
    for (const v of apply("f32_vsigmoid", grid)) if (!(v >= 0 && v <= 1)) expect.fail(`sigmoid out of [0, 1]: ${v}`);
  });

  it(`exp: max relative error <= ${EXP_MAX_REL} over [-87, 88]`, () => {
    const xs = new Float32Array(N + 1).map((_, i) => -87 + (175 * i) / N);
    for (const set of [xs, grid, fine, tiny]) {
      const y = apply("f32_vexp", set);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < set.length; i++) {
        const r = Math.exp(set[i]);
        const e = Math.abs(y[i] - r) / r;
        if (!(e <= worst)) {
          worst = e;
          at = set[i];
        }
      }
      expect(worst, `at x = ${at}`).toBeLessThanOrEqual(EXP_MAX_REL);
    }
  });

  it("extremes: ±Infinity, ±1e30, NaN, ±0 and the saturation edges", () => {
    const xs = Float32Array.from([Infinity, -Infinity, 1e30, -1e30, NaN, 0, -0, 88.7, 88.75, -87.3, -103, -104, -200, 100, -100, 3.4e38]);
    const t = apply("f32_vtanh", xs);
    const s = apply("f32_vsigmoid", xs);
    const e = apply("f32_vexp", xs);
    const r = apply("f32_vrelu", xs);
    for (const scalar of [false, true]) {
      // The twins agree on the extremes too (NaN compared as NaN, not by payload).
      for (const name of ["f32_vtanh", "f32_vsigmoid", "f32_vexp", "f32_vrelu"] as Unary[]) {
        const a = apply(name, xs, scalar);
        const b = { f32_vtanh: t, f32_vsigmoid: s, f32_vexp: e, f32_vrelu: r }[name];
        for (let i = 0; i < xs.length; i++) {
          expect(Number.isNaN(a[i]) ? NaN : a[i], `${name}(${xs[i]})`).toBe(Number.isNaN(b[i]) ? NaN : b[i]);
        }
      }
    }
    expect(Array.from(t.slice(0, 4))).toEqual([1, -1, 1, -1]);
    expect(t[4]).toBeNaN();
    expect(t[5]).toBe(0);
    expect(Object.is(t[6], -0)).toBe(true);
    expect(Array.from(s.slice(0, 4))).toEqual([1, 0, 1, 0]);
    expect(s[4]).toBeNaN();
    expect(s[5]).toBe(0.5);
    expect(e[0]).toBe(Infinity);
    expect(e[1]).toBe(0);
    expect(e[2]).toBe(Infinity);
    expect(e[3]).toBe(0);
    expect(e[4]).toBeNaN();
    expect(e[5]).toBe(1);
    expect(e[6]).toBe(1);
    expect(e[7] / Math.exp(fr(88.7))).toBeCloseTo(1, 6); // below FLT_MAX: finite
    expect(e[8]).toBe(Infinity); // exp(88.75) > FLT_MAX
    expect(e[9] / Math.exp(fr(-87.3))).toBeCloseTo(1, 6); // near FLT_MIN, still normal
    expect(e[10]).toBeGreaterThan(0); // subnormal, gradual underflow
    expect(e[10]).toBeLessThan(1e-44);
    expect(e[11]).toBe(0);
    expect(e[12]).toBe(0);
    expect(Array.from(r.slice(0, 4))).toEqual([Infinity, 0, fr(1e30), 0]);
    expect(r[4]).toBeNaN();
  });
});

describe("exact kernels: SIMD vs scalar twin vs Math.fround reference", () => {
  it("f32_fill, f32_copy", () => {
    for (const n of SIZES) {
      const v = fr(-2.75);
      const y = runBoth(n, "f32_fill", (yp, scalar) => k()[scalar ? "f32_fill_scalar" : "f32_fill"](yp, v, n));
      expectBitEqual(y, new Float32Array(n).fill(v), `f32_fill n = ${n}`);
      const x = rand(n, n, -5, 5);
      const xp = put(x);
      const c = runBoth(n, "f32_copy", (yp, scalar) => k()[scalar ? "f32_copy_scalar" : "f32_copy"](yp, xp, n));
      expectBitEqual(c, x, `f32_copy n = ${n}`);
    }
  });

  it("f32_axpy, f32_scale, f32_clip (in place on y)", () => {
    for (const n of SIZES) {
      const y0 = rand(n, 10 + n, -3, 3);
      const x = rand(n, 20 + n, -3, 3);
      const xp = put(x);
      const alpha = fr(0.37);
      const cases: [string, (yp: number, scalar: boolean) => void, (i: number) => number][] = [
        ["f32_axpy", (yp, sc) => k()[sc ? "f32_axpy_scalar" : "f32_axpy"](yp, alpha, xp, n), (i) => fr(y0[i] + fr(alpha * x[i]))],
        ["f32_scale", (yp, sc) => k()[sc ? "f32_scale_scalar" : "f32_scale"](yp, alpha, n), (i) => fr(alpha * y0[i])],
        ["f32_clip", (yp, sc) => k()[sc ? "f32_clip_scalar" : "f32_clip"](yp, -1, 1.5, n), (i) => Math.min(Math.max(y0[i], -1), 1.5)],
      ];
      for (const [name, run, ref] of cases) {
        const y = runBoth(n, name, (yp, scalar) => {
          setAt(yp, y0);
          run(yp, scalar);
        });
        expectBitEqual(y, Float32Array.from({ length: n }, (_, i) => ref(i)), `${name} n = ${n}`);
      }
    }
  });

  it("f32_add, f32_mul, including y aliasing an input", () => {
    for (const n of SIZES) {
      const a = rand(n, 30 + n, -3, 3);
      const b = rand(n, 40 + n, -3, 3);
      const ap = put(a);
      const bp = put(b);
      const sum = runBoth(n, "f32_add", (yp, s) => k()[s ? "f32_add_scalar" : "f32_add"](yp, ap, bp, n));
      expectBitEqual(sum, Float32Array.from({ length: n }, (_, i) => fr(a[i] + b[i])), `f32_add n = ${n}`);
      const prod = runBoth(n, "f32_mul", (yp, s) => k()[s ? "f32_mul_scalar" : "f32_mul"](yp, ap, bp, n));
      expectBitEqual(prod, Float32Array.from({ length: n }, (_, i) => fr(a[i] * b[i])), `f32_mul n = ${n}`);
      k().f32_add(ap, ap, bp, n);
      expectBitEqual(get(ap, n), sum, `f32_add in place, n = ${n}`);
      k().f32_mul(bp, ap, bp, n);
      expectBitEqual(get(bp, n), Float32Array.from({ length: n }, (_, i) => fr(sum[i] * b[i])), `f32_mul in place, n = ${n}`);
    }
  });

  it("f32_clip keeps NaN, clamps ±Infinity", () => {
    const x = Float32Array.from([NaN, Infinity, -Infinity, 0.5, 7, NaN, -7]);
    for (const name of ["f32_clip", "f32_clip_scalar"] as const) {
      const p = put(x);
      k()[name](p, -2, 2, x.length);
      const y = get(p, x.length);
      expect(Number.isNaN(y[0]) && Number.isNaN(y[5]), name).toBe(true);
      expect(Array.from(y.slice(1, 5)).concat(y[6]), name).toEqual([2, -2, 0.5, 2, -2]);
    }
  });

  it("gradients from outputs: tanh, sigmoid, relu (dx may alias dy)", () => {
    for (const n of SIZES) {
      const dy = rand(n, 50 + n, -2, 2);
      const yt = rand(n, 60 + n, -1, 1);
      const ys = rand(n, 70 + n, 0, 1);
      const yr = rand(n, 80 + n, -1, 1).map((v, i) => (i % 5 === 0 ? 0 : v)); // exact zeros count as "not > 0"
      const dyp = put(dy);
      type Grad = "f32_vtanh_grad" | "f32_vsigmoid_grad" | "f32_vrelu_grad";
      const cases: [Grad, Float32Array, (i: number) => number][] = [
        ["f32_vtanh_grad", yt, (i) => fr(dy[i] * fr(1 - fr(yt[i] * yt[i])))],
        ["f32_vsigmoid_grad", ys, (i) => fr(dy[i] * fr(ys[i] * fr(1 - ys[i])))],
        ["f32_vrelu_grad", yr, (i) => (yr[i] > 0 ? dy[i] : 0)],
      ];
      for (const [name, y, ref] of cases) {
        const yp = put(y);
        const dx = runBoth(n, name, (p, s) => k()[s ? (`${name}_scalar` as `${Grad}_scalar`) : name](p, dyp, yp, n));
        expectBitEqual(dx, Float32Array.from({ length: n }, (_, i) => ref(i)), `${name} n = ${n}`);
        const dyCopy = put(dy);
        k()[name](dyCopy, dyCopy, yp, n);
        expectBitEqual(get(dyCopy, n), dx, `${name} in place, n = ${n}`);
      }
    }
  });
});

describe("reductions", () => {
  it("f32_sum, f32_sumsq: SIMD === scalar twin, float64 reference", () => {
    for (const n of SIZES) {
      const x = rand(n, 90 + n, -3, 3);
      const xp = put(x);
      const s = k().f32_sum(xp, n);
      const q = k().f32_sumsq(xp, n);
      expect(s, `f32_sum n = ${n}`).toBe(k().f32_sum_scalar(xp, n));
      expect(q, `f32_sumsq n = ${n}`).toBe(k().f32_sumsq_scalar(xp, n));
      let rs = 0;
      let rq = 0;
      for (const v of x) {
        rs += v;
        rq += v * v;
      }
      expect(Math.abs(s - rs), `f32_sum n = ${n}`).toBeLessThanOrEqual(1e-12 * (1 + n));
      expect(Math.abs(q - rq), `f32_sumsq n = ${n}`).toBeLessThanOrEqual(1e-12 * (1 + rq));
    }
  });

  it("f32_sum keeps float64 accuracy where float32 would not", () => {
    // 1e8 then many small values: a float32 accumulator would drop every one of them.
    const n = 4001;
    const x = new Float32Array(n).fill(1);
    x[0] = 1e8;
    const xp = put(x);
    expect(k().f32_sum(xp, n)).toBe(1e8 + 4000);
    expect(k().f32_sum_scalar(xp, n)).toBe(1e8 + 4000);
  });

  it("f32_all_finite finds a NaN or ±Infinity at any position", () => {
    for (const n of SIZES) {
      const x = rand(n, 100 + n, -1e30, 1e30);
      const xp = put(x);
      expect(k().f32_all_finite(xp, n), `n = ${n}`).toBe(1);
      expect(k().f32_all_finite_scalar(xp, n), `n = ${n}`).toBe(1);
      for (const pos of new Set([0, n >> 1, n - 1, n - 2, n - 4].filter((p) => p >= 0 && p < n))) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const y = x.slice();
          y[pos] = bad;
          const yp = put(y);
          expect(k().f32_all_finite(yp, n), `n = ${n}, ${bad} at ${pos}`).toBe(0);
          expect(k().f32_all_finite_scalar(yp, n), `n = ${n}, ${bad} at ${pos}`).toBe(0);
        }
      }
      // A non-finite value just past the end is not looked at.
      const z = new Float32Array(n + 1);
      z[n] = NaN;
      expect(k().f32_all_finite(put(z), n)).toBe(1);
    }
    const edge = put(Float32Array.from([3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0]));
    expect(k().f32_all_finite(edge, 4)).toBe(1);
  });
});

describe("bias rows", () => {
  const SHAPES: [number, number][] = [];
  for (const rows of [0, 1, 2, 3, 7]) for (const cols of [0, 1, 3, 4, 5, 8, 13, 17, 33, 129]) SHAPES.push([rows, cols]);

  it("f32_add_bias_rows: y[r, c] += bias[c]", () => {
    for (const [rows, cols] of SHAPES) {
      const n = rows * cols;
      const y0 = rand(n, rows * 100 + cols, -2, 2);
      const bias = rand(cols, cols, -1, 1);
      const bp = put(bias);
      const y = runBoth(n, "f32_add_bias_rows", (yp, s) => {
        setAt(yp, y0);
        k()[s ? "f32_add_bias_rows_scalar" : "f32_add_bias_rows"](yp, bp, rows, cols);
      });
      expectBitEqual(y, Float32Array.from({ length: n }, (_, i) => fr(y0[i] + bias[i % cols])), `[${rows}, ${cols}]`);
    }
  });

  it("f32_sum_rows: out[c] (+)= Σ_r x[r, c], left to right in float32", () => {
    for (const [rows, cols] of SHAPES) {
      const x = rand(rows * cols, rows * 7 + cols, -2, 2);
      const xp = put(x);
      const prior = rand(cols, 3 + cols, -1, 1);
      for (const accumulate of [0, 1]) {
        const got = runBoth(cols, "f32_sum_rows", (op, s) => {
          setAt(op, prior);
          k()[s ? "f32_sum_rows_scalar" : "f32_sum_rows"](op, xp, rows, cols, accumulate);
        });
        const want = Float32Array.from({ length: cols }, (_, c) => {
          let acc = accumulate ? prior[c] : 0;
          for (let r = 0; r < rows; r++) acc = fr(acc + x[r * cols + c]);
          return acc;
        });
        expectBitEqual(got, want, `[${rows}, ${cols}] accumulate = ${accumulate}`);
      }
    }
  });
});
