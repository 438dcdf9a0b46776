import { afterEach, describe, expect, it } from "vitest";
import { Tensor, UnfoldError } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { mackeyGlass } from "../src/data/mackey-glass.js";
import {
  EchoStateNetwork, choleskySolve, emptyReservoir, entryIndex, estimateSpectralRadius, nrmse, randomReservoir,
} from "../src/models/esn.js";
import { Adam } from "../src/train/optimizers.js";
import { cosineDecay } from "../src/train/schedules.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, putInt, rand } from "./helpers.js";

const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 33];

describe("reservoir step kernel", () => {
  afterEach(freeAll);

  it("SIMD = scalar to the bit, and matches a float64 reference (sizes around the SIMD width, leaky or not)", () => {
    for (const N of SIZES) {
      for (const K of [1, 3]) {
        if (K > N) continue;
        for (const B of [1, 2, 3]) {
          for (const leak of [1, 0.3]) {
            const seed = 100 * N + 10 * K + B;
            const w = randomReservoir(N, K, 0.9, new Rng(seed));
            // Padding rows of the last group hold garbage on purpose: the kernel must ignore them.
            for (let i = N; i < Math.ceil(N / 4) * 4; i++) for (let k2 = 0; k2 < K; k2++) w.values[entryIndex(i, k2, K)] = 1e30;
            const n = B * N;
            const pre = rand(n, seed, -2, 2), prev = rand(n, seed + 1);
            const x1 = put(new Float32Array(n)), x2 = put(new Float32Array(n));
            const pp = put(pre), hp = put(prev), wv = put(w.values), wc = putInt(w.cols);
            k().f32_reservoir_step(x1, pp, hp, wv, wc, leak, B, N, K);
            k().f32_reservoir_step_scalar(x2, pp, hp, wv, wc, leak, B, N, K);
            const what = `N=${N} K=${K} B=${B} leak=${leak}`;
            expectBitEqual(get(x1, n), get(x2, n), what);
            const ref = new Float64Array(n);
            for (let b = 0; b < B; b++) {
              for (let i = 0; i < N; i++) {
                let s = pre[b * N + i];
                for (let k2 = 0; k2 < K; k2++) {
                  const e = entryIndex(i, k2, K);
                  s += w.values[e] * prev[b * N + w.cols[e]];
                }
                ref[b * N + i] = (1 - leak) * prev[b * N + i] + leak * Math.tanh(s);
              }
            }
            expectClose(get(x1, n), ref, 2e-6, 0, `vs float64 ${what}`);
            // In place over the input projection, as the model runs it.
            const inPlace = put(pre);
            k().f32_reservoir_step(inPlace, inPlace, hp, wv, wc, leak, B, N, K);
            expectBitEqual(get(inPlace, n), get(x2, n), `in place ${what}`);
            freeAll();
          }
        }
      }
    }
  });
});

describe("float64 readout kernels", () => {
  afterEach(freeAll);

  it("f64_gemm_tn_f32: SIMD = scalar = float64 sums in order, full and upper-triangle", () => {
    for (const [m, n, kk] of [[1, 1, 1], [3, 5, 7], [4, 4, 130], [7, 2, 65], [9, 9, 3]]) {
      for (const upper of [0, 1]) {
        if (upper && m !== n) continue;
        const a = rand(kk * m, m + n + kk), b = upper ? a : rand(kk * n, m * n + kk);
        const c0 = new Float64Array(m * n).map((_, i) => i * 0.5);
        const asF32 = (d: Float64Array) => new Float32Array(d.buffer);
        const c1 = put(asF32(c0)), c2 = put(asF32(c0));
        const ap = put(a), bp = upper ? ap : put(b);
        k().f64_gemm_tn_f32(c1, ap, bp, m, n, kk, upper);
        k().f64_gemm_tn_f32_scalar(c2, ap, bp, m, n, kk, upper);
        const r1 = new Float64Array(get(c1, 2 * m * n).buffer), r2 = new Float64Array(get(c2, 2 * m * n).buffer);
        expect(Array.from(r1)).toEqual(Array.from(r2));
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = c0[i * n + j];
            if (!upper || j >= (i & ~1)) for (let p = 0; p < kk; p++) s += a[p * m + i] * b[p * n + j];
            expect(r1[i * n + j], `[${i}, ${j}] m=${m} n=${n} k=${kk} upper=${upper}`).toBe(s);
          }
        }
        freeAll();
      }
    }
  });

  it("f32_gemm_nn_f64b: SIMD = scalar = float64 sums rounded once", () => {
    for (const [m, n, kk] of [[1, 1, 1], [3, 5, 7], [2, 4, 33], [5, 1, 502]]) {
      const a = rand(m * kk, m + kk);
      const b = Float64Array.from(rand(kk * n, n + kk), (v) => v * 1000 + 1e-9);
      const bp = put(new Float32Array(b.buffer)), ap = put(a);
      const c1 = put(new Float32Array(m * n)), c2 = put(new Float32Array(m * n));
      k().f32_gemm_nn_f64b(c1, ap, bp, m, n, kk);
      k().f32_gemm_nn_f64b_scalar(c2, ap, bp, m, n, kk);
      expectBitEqual(get(c1, m * n), get(c2, m * n), `m=${m} n=${n} k=${kk}`);
      const ref = new Float32Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < kk; p++) s += a[i * kk + p] * b[p * n + j];
        ref[i * n + j] = s;
      }
      expectBitEqual(get(c1, m * n), ref, `vs float64 m=${m} n=${n} k=${kk}`);
      freeAll();
    }
  });
});

describe("spectral radius by power iteration", () => {
  it("is exact for rotation blocks (complex eigenvalue pairs) of known radius", () => {
    // 2x2 blocks [[a, −b], [b, a]] have eigenvalues a ± ib, |λ| = √(a² + b²).
    const radii = [0.5, 1.3, 0.8, 1.1];
    const N = 2 * radii.length, K = 2;
    const w = emptyReservoir(N, K);
    radii.forEach((r, blk) => {
      const angle = 0.7 + blk;
      const a = r * Math.cos(angle), b = r * Math.sin(angle);
      const i = 2 * blk;
      const set = (row: number, kk: number, col: number, v: number) => {
        w.cols[entryIndex(row, kk, K)] = col;
        w.values[entryIndex(row, kk, K)] = v;
      };
      set(i, 0, i, a);
      set(i, 1, i + 1, -b);
      set(i + 1, 0, i, b);
      set(i + 1, 1, i + 1, a);
    });
    expect(estimateSpectralRadius(w)).toBeCloseTo(Math.fround(1.3), 3);
  });

  it("is exact for a scaled cyclic shift (all eigenvalues on one circle), and 0 for a nilpotent matrix", () => {
    const N = 9;
    const w = emptyReservoir(N, 1);
    for (let i = 0; i < N; i++) {
      w.cols[entryIndex(i, 0, 1)] = (i + 1) % N;
      w.values[entryIndex(i, 0, 1)] = 0.75;
    }
    expect(estimateSpectralRadius(w)).toBeCloseTo(0.75, 10);
    // Strictly upper-triangular: every eigenvalue is 0.
    for (let i = 0; i < N; i++) w.cols[entryIndex(i, 0, 1)] = Math.min(i + 1, N - 1);
    w.values[entryIndex(N - 1, 0, 1)] = 0;
    expect(estimateSpectralRadius(w)).toBe(0);
  });

  it("a random reservoir is scaled to the radius asked for (checked from another start, with more iterations)", () => {
    for (const [N, K, radius] of [[60, 4, 0.9], [300, 10, 1.2]]) {
      const w = randomReservoir(N, K, radius, new Rng(N));
      expect(Math.abs(estimateSpectralRadius(w, 2000, 77) - radius) / radius).toBeLessThan(0.01);
    }
  });
});

describe("Cholesky solve and NRMSE", () => {
  it("solves a symmetric positive definite system with several right-hand sides", () => {
    const n = 7, m = 3;
    const rng = new Rng(3);
    const g = Float64Array.from({ length: n * n }, () => rng.uniform(-1, 1));
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = i === j ? 0.5 : 0;
      for (let p = 0; p < n; p++) s += g[p * n + i] * g[p * n + j];
      a[i * n + j] = s;
    }
    const x = Float64Array.from({ length: n * m }, () => rng.uniform(-2, 2));
    const b = new Float64Array(n * m);
    for (let i = 0; i < n; i++) for (let c = 0; c < m; c++) for (let p = 0; p < n; p++) b[i * m + c] += a[i * n + p] * x[p * m + c];
    // Only the upper triangle is read: garbage below it must not matter.
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] = NaN;
    expectClose(choleskySolve(a, b, n, m), x, 1e-10, 1e-10, "x");
  });

  it("names a matrix that is not positive definite", () => {
    expect(() => choleskySolve(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2, 1)).toThrow(/not positive definite/);
  });

  it("nrmse is 0 for a perfect prediction and 1 for predicting the mean", () => {
    const t = [1, 2, 3, 4];
    expect(nrmse(t, t)).toBe(0);
    expect(nrmse([2.5, 2.5, 2.5, 2.5], t)).toBeCloseTo(1, 12);
  });
});

describe("Mackey–Glass series", () => {
  it("is the same bits every time, stays in its known range, and agrees with a fine Euler integration", () => {
    const a = mackeyGlass(500);
    expect(Array.from(mackeyGlass(500))).toEqual(Array.from(a));
    expect(Math.min(...a)).toBeGreaterThan(0.2);
    expect(Math.max(...a)).toBeLessThan(1.5);
    // Euler with dt = 0.001 from the same history, over the first 60 time units (before chaos
    // separates the two): RK4 at dt = 0.1 is far more accurate than this reference.
    const rk = mackeyGlass(61, { transient: 0 });
    const dt = 0.001, delay = 17000;
    const hist: number[] = [1.2];
    for (let i = 0; i < 60000; i++) {
      const x = hist[i], xd = i - delay < 0 ? 1.2 : hist[i - delay];
      hist.push(x + dt * ((0.2 * xd) / (1 + xd ** 10) - 0.1 * x));
    }
    for (let t = 0; t <= 60; t++) expect(Math.abs(rk[t] - hist[t * 1000])).toBeLessThan(2e-3);
  });

  it("checks its options", () => {
    expect(() => mackeyGlass(10, { tau: 17.05 })).toThrow(/whole multiple/);
    expect(() => mackeyGlass(0)).toThrow(UnfoldError);
    expect(() => mackeyGlass(10, { delay: 3 } as never)).toThrow(/unknown option "delay"/);
  });
});

/** One-step-ahead Mackey–Glass data: inputs s_t − 1, targets s_{t+1} − 1, as [T, 1, 1]. */
function mackeyGlassData(total: number) {
  const s = mackeyGlass(total + 1);
  const xs = new Float32Array(total), ys = new Float32Array(total);
  for (let t = 0; t < total; t++) {
    xs[t] = s[t] - 1;
    ys[t] = s[t + 1] - 1;
  }
  return { xs, ys };
}

describe("EchoStateNetwork", () => {
  it("predicts Mackey–Glass (τ = 17) one step ahead with held-out NRMSE far below 0.01", () => {
    const total = 2000, trainSteps = 1500;
    const { xs, ys } = mackeyGlassData(total);
    const esn = new EchoStateNetwork({ inputSize: 1, outputSize: 1, units: 200, seed: 1 });
    const x = Tensor.fromArray(xs.subarray(0, trainSteps), [trainSteps, 1, 1]);
    const y = Tensor.fromArray(ys.subarray(0, trainSteps), [trainSteps, 1, 1]);
    const all = Tensor.fromArray(xs, [total, 1, 1]);
    const { nrmse: train } = esn.fit(x, y);
    const pred = esn.predict(all);
    const p = pred.toFloat32Array();
    const test = nrmse(p.subarray(trainSteps), ys.subarray(trainSteps));
    expect(train).toBeLessThan(1e-3);
    expect(test).toBeLessThan(1e-3);
    // Same seed, same data: the same bits.
    const again = new EchoStateNetwork({ inputSize: 1, outputSize: 1, units: 200, seed: 1 });
    again.fit(x, y);
    const pred2 = again.predict(all);
    expectBitEqual(pred2.toFloat32Array(), p, "prediction of a second model from the same seed");
    for (const t of [x, y, all, pred, pred2]) t.dispose();
    esn.dispose();
    again.dispose();
  });

  it("continues from a final state: two halves run like the whole", () => {
    const esn = new EchoStateNetwork({ inputSize: 2, outputSize: 1, units: 37, degree: 5, leak: 0.6, seed: 4 });
    const x = Tensor.fromArray(rand(30 * 3 * 2, 9), [30, 3, 2]);
    const whole = esn.run(x).toFloat32Array();
    const first = Tensor.fromArray(rand(30 * 3 * 2, 9).subarray(0, 12 * 6), [12, 3, 2]);
    const second = Tensor.fromArray(rand(30 * 3 * 2, 9).subarray(12 * 6), [18, 3, 2]);
    esn.run(first);
    const carry = Tensor.fromArray(esn.finalState.toFloat32Array(), [3, 37]);
    const rest = esn.run(second, carry).toFloat32Array();
    expectBitEqual(rest, whole.subarray(12 * 3 * 37), "second half");
    for (const t of [x, first, second, carry]) t.dispose();
    esn.dispose();
  });

  it("fits the readout online with an Unfold optimizer", () => {
    const total = 1200, trainSteps = 1000;
    const { xs, ys } = mackeyGlassData(total);
    const esn = new EchoStateNetwork({ inputSize: 1, outputSize: 1, units: 100, seed: 2 });
    const x = Tensor.fromArray(xs.subarray(0, trainSteps), [trainSteps, 1, 1]);
    const y = Tensor.fromArray(ys.subarray(0, trainSteps), [trainSteps, 1, 1]);
    const optimizer = new Adam({ lr: cosineDecay({ lr: 3e-3, totalSteps: 20 * 57, minLr: 1e-5 }) });
    const { losses } = esn.fitOnline(x, y, { optimizer, epochs: 20, batchSize: 16 });
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 20);
    const all = Tensor.fromArray(xs, [total, 1, 1]);
    const pred = esn.predict(all);
    expect(nrmse(pred.toFloat32Array().subarray(trainSteps), ys.subarray(trainSteps))).toBeLessThan(0.1);
    for (const t of [x, y, all, pred]) t.dispose();
    optimizer.dispose();
    esn.dispose();
  });

  it("names what is wrong with its options and inputs", () => {
    expect(() => new EchoStateNetwork({ inputSize: 1, outputSize: 1, units: 5, degree: 6 })).toThrow(/degree .* at most units \(5\)/);
    expect(() => new EchoStateNetwork({ inputSize: 1, outputSize: 1, units: 5, leak: 0 })).toThrow(/leak must be a number in \(0, 1\]/);
    expect(() => new EchoStateNetwork({ inputSize: 1, outputSize: 1, units: 5, radius: 1 } as never)).toThrow(/unknown option "radius"/);
    const esn = new EchoStateNetwork({ inputSize: 2, outputSize: 1, units: 8 });
    const x = Tensor.fromArray(rand(10 * 2, 1), [10, 1, 2]);
    const bad = Tensor.fromArray(rand(10 * 3, 1), [10, 1, 3]);
    expect(() => esn.run(bad)).toThrow(/expected input \[T, B, 2\].*\[10, 1, 3\]/);
    expect(() => esn.predict(x)).toThrow(/fit the readout/);
    const y = Tensor.fromArray(rand(10, 2), [10, 1, 1]);
    expect(() => esn.fit(x, y, { washout: 10 })).toThrow(/washout must be a whole number in .*\[0, 9\]/);
    esn.dispose();
    expect(() => esn.run(x)).toThrow(/disposed/);
    for (const t of [x, bad, y]) t.dispose();
  });
});
