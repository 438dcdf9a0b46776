// Echo state network kernels: the reservoir step over a sparse recurrent matrix, and the
// float64 products that build and apply the ridge-regression readout.
//
// The reservoir matrix W (N, N) is stored with a fixed in-degree K (every unit reads exactly
// K others: the ELL format), its rows in groups of four so that a SIMD lane is one unit:
//   value of row i = 4g + r, entry k:  weights[(g·K + k)·4 + r]   (f32)
//   its column:                        cols[(g·K + k)·4 + r]      (i32, in [0, N))
// for g < G = ceil(N/4); the rows past N in the last group are padding (any value, column 0;
// they are never written back). Storage: G·K·4 values and as many columns.
//
// f32_reservoir_step(x, pre, xPrev, weights, cols, leak, batch, units, degree)
//   x, pre, xPrev (B, N); leak α in (0, 1]. For every sample b and unit i:
//     s = pre[b, i];  for k = 0 .. K−1:  s = s + W[i, k]·xPrev[b, col[i, k]]   (f32, in order)
//     y = tanh(s)   (activations.ts: absolute error <= 4.2e-7)
//     x[b, i] = α == 1 ? y : (1 − α)·xPrev[b, i] + α·y
//   x must not overlap xPrev (every unit reads the whole previous state); pre may be x.
//   The SIMD kernel and its scalar twin give the same bits.
//
// f64_gemm_tn_f32(c, a, b, m, n, k, upper)
//   c (m, n) f64 accumulated (+=); a (k, m) f32; b (k, n) f32:  c += aᵀ·b, every element
//   summed over p = 0 .. k−1 in order in float64 (products of floats promoted to f64 are exact).
//   upper != 0 (a Gram matrix aᵀa, with a == b and m == n): only the elements with
//   j >= (i & ~1) are computed, the rest are left as they are; the caller mirrors.
// f32_gemm_nn_f64b(c, a, b, m, n, k)
//   c (m, n) f32 = a (m, k) f32 · b (k, n) f64, each element summed over p in order in
//   float64 and rounded once: the readout applied to the reservoir states.
import { tanh_f32, tanh_f32x4 } from "./activations";

/** One unit's new state (the scalar path; the SIMD loop does four units of a group at once). */
@inline function reservoirUnit(x: usize, pre: usize, xPrev: usize, weights: usize, cols: usize, leak: f32, degree: i32, i: i32): void {
  const g = i >> 2, r = i & 3;
  let s = load<f32>(pre + (<usize>i << 2));
  for (let k = 0; k < degree; k++) {
    const e = ((<usize>g * <usize>degree + <usize>k) << 4) + (<usize>r << 2);
    s = s + load<f32>(weights + e) * load<f32>(xPrev + (<usize>load<i32>(cols + e) << 2));
  }
  const y = tanh_f32(s);
  store<f32>(x + (<usize>i << 2), leak == 1 ? y : (<f32>1 - leak) * load<f32>(xPrev + (<usize>i << 2)) + leak * y);
}

/** One reservoir step for the whole batch (see the header). */
export function f32_reservoir_step(
  x: usize, // (B, N) out: new state
  pre: usize, // (B, N) in: W_in·u + b for this step
  xPrev: usize, // (B, N)
  weights: usize, // (G, K, 4) f32
  cols: usize, // (G, K, 4) i32
  leak: f32, // α in (0, 1]
  batch: i32,
  units: i32,
  degree: i32,
): void {
  const N4 = <usize>units << 2;
  const full = units >> 2;
  const a = f32x4.splat(leak);
  const keep = f32x4.splat(<f32>1 - leak);
  for (let b = 0; b < batch; b++) {
    const xb = x + <usize>b * N4, pb = pre + <usize>b * N4, hb = xPrev + <usize>b * N4;
    for (let g = 0; g < full; g++) {
      const off = <usize>g << 4;
      let s = v128.load(pb + off);
      for (let k = 0; k < degree; k++) {
        const e = (<usize>g * <usize>degree + <usize>k) << 4;
        const c = v128.load(cols + e);
        let v = f32x4.splat(load<f32>(hb + (<usize>i32x4.extract_lane(c, 0) << 2)));
        v = f32x4.replace_lane(v, 1, load<f32>(hb + (<usize>i32x4.extract_lane(c, 1) << 2)));
        v = f32x4.replace_lane(v, 2, load<f32>(hb + (<usize>i32x4.extract_lane(c, 2) << 2)));
        v = f32x4.replace_lane(v, 3, load<f32>(hb + (<usize>i32x4.extract_lane(c, 3) << 2)));
        s = f32x4.add(s, f32x4.mul(v128.load(weights + e), v));
      }
      const y = tanh_f32x4(s);
      v128.store(xb + off, leak == 1 ? y : f32x4.add(f32x4.mul(keep, v128.load(hb + off)), f32x4.mul(a, y)));
    }
    for (let i = full << 2; i < units; i++) reservoirUnit(xb, pb, hb, weights, cols, leak, degree, i);
  }
}

/** Scalar twin of f32_reservoir_step: the test reference. */
export function f32_reservoir_step_scalar(x: usize, pre: usize, xPrev: usize, weights: usize, cols: usize, leak: f32, batch: i32, units: i32, degree: i32): void {
  const N4 = <usize>units << 2;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < units; i++) reservoirUnit(x + <usize>b * N4, pre + <usize>b * N4, xPrev + <usize>b * N4, weights, cols, leak, degree, i);
  }
}

/** Rows of a and b per block of f64_gemm_tn_f32: 64 rows of 500 floats (128 KiB) stay in L2. */
const GRAM_KB = 64;

/** c[i, j] += Σ_{p0 <= p < p1} a[p, i]·b[p, j] for one element, in order, in float64. */
@inline function dotColumns(c: usize, a: usize, b: usize, m: i32, n: i32, p0: i32, p1: i32, i: i32, j: i32): void {
  const ci = c + ((<usize>i * <usize>n + <usize>j) << 3);
  let s = load<f64>(ci);
  for (let p = p0; p < p1; p++) {
    s = s + <f64>load<f32>(a + ((<usize>p * <usize>m + <usize>i) << 2)) * <f64>load<f32>(b + ((<usize>p * <usize>n + <usize>j) << 2));
  }
  store<f64>(ci, s);
}

/** c (m, n) f64 += a (k, m)ᵀ · b (k, n), float64 sums in order of p (see the header). */
export function f64_gemm_tn_f32(c: usize, a: usize, b: usize, m: i32, n: i32, k: i32, upper: i32): void {
  // Blocks of KB rows of a and b stay in L2 while every element of c takes its partial sum
  // over them; blocks are visited in order of p, and within one in order too, so every
  // element sees the same sequence of operations as in the scalar twin. Two columns of c
  // per f64x2.
  for (let p0 = 0; p0 < k; p0 += GRAM_KB) {
    const p1 = min(k, p0 + GRAM_KB);
    for (let i = 0; i < m; i++) {
      const j0 = upper ? i & ~1 : 0;
      const ci = c + (<usize>i * <usize>n << 3);
      let j = j0;
      for (; j + 2 <= n; j += 2) {
        let s = v128.load(ci + (<usize>j << 3));
        for (let p = p0; p < p1; p++) {
          const ai = f64x2.splat(<f64>load<f32>(a + ((<usize>p * <usize>m + <usize>i) << 2)));
          const bp = b + ((<usize>p * <usize>n + <usize>j) << 2);
          s = f64x2.add(s, f64x2.mul(ai, f64x2.promote_low_f32x4(v128.load64_zero(bp))));
        }
        v128.store(ci + (<usize>j << 3), s);
      }
      for (; j < n; j++) dotColumns(c, a, b, m, n, p0, p1, i, j);
    }
  }
}

/** Scalar twin of f64_gemm_tn_f32. */
export function f64_gemm_tn_f32_scalar(c: usize, a: usize, b: usize, m: i32, n: i32, k: i32, upper: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = upper ? i & ~1 : 0; j < n; j++) dotColumns(c, a, b, m, n, 0, k, i, j);
  }
}

/** c[i, j] = f32(Σ_p a[i, p]·b[p, j]) for one element. */
@inline function dotRowColumn(c: usize, a: usize, b: usize, n: i32, k: i32, i: i32, j: i32): void {
  let s: f64 = 0;
  for (let p = 0; p < k; p++) {
    s = s + <f64>load<f32>(a + ((<usize>i * <usize>k + <usize>p) << 2)) * load<f64>(b + ((<usize>p * <usize>n + <usize>j) << 3));
  }
  store<f32>(c + ((<usize>i * <usize>n + <usize>j) << 2), <f32>s);
}

/** c (m, n) f32 = a (m, k) f32 · b (k, n) f64, summed in float64 (see the header). */
export function f32_gemm_nn_f64b(c: usize, a: usize, b: usize, m: i32, n: i32, k: i32): void {
  for (let i = 0; i < m; i++) {
    let j = 0;
    for (; j + 2 <= n; j += 2) {
      let s = f64x2.splat(0);
      for (let p = 0; p < k; p++) {
        const ai = f64x2.splat(<f64>load<f32>(a + ((<usize>i * <usize>k + <usize>p) << 2)));
        s = f64x2.add(s, f64x2.mul(ai, v128.load(b + ((<usize>p * <usize>n + <usize>j) << 3))));
      }
      const ci = c + ((<usize>i * <usize>n + <usize>j) << 2);
      store<f32>(ci, <f32>f64x2.extract_lane(s, 0));
      store<f32>(ci, <f32>f64x2.extract_lane(s, 1), 4);
    }
    for (; j < n; j++) dotRowColumn(c, a, b, n, k, i, j);
  }
}

/** Scalar twin of f32_gemm_nn_f64b. */
export function f32_gemm_nn_f64b_scalar(c: usize, a: usize, b: usize, m: i32, n: i32, k: i32): void {
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) dotRowColumn(c, a, b, n, k, i, j);
}
