// Elementwise kernels: fill, copy, axpy, scale, add, mul, clip, reductions, bias rows,
// activations and their derivatives. Pointers are byte addresses of float32 arrays,
// sizes count elements. Each kernel runs a SIMD loop over whole blocks of four and a
// scalar tail, so every n >= 0 works (n <= 0 does nothing); each has a `_scalar` twin
// doing the same operations one element at a time, its reference in the tests.
// The twins give the same bits as the SIMD kernels. An output may be the same buffer as
// an input (in place), never a partly overlapping one.
import {
  combine_lane_sums, exp_f32, exp_f32x4, pmax_f32, pmin_f32, promote_high_f32x4, sigmoid_f32, sigmoid_f32x4, tanh_f32,
  tanh_f32x4,
} from "./activations";

const EXPONENT_BITS: i32 = 0x7f800000;

/** y[i] = value. */
export function f32_fill(y: usize, value: f32, n: i32): void {
  const v = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), v);
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), value);
}
export function f32_fill_scalar(y: usize, value: f32, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), value);
}

/** y[i] = x[i]. */
export function f32_copy(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), v128.load(x + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(x + (<usize>i << 2)));
}
export function f32_copy_scalar(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(x + (<usize>i << 2)));
}

/** y[i] = y[i] + alpha * x[i] (a product, then a sum: no fused multiply-add). */
export function f32_axpy(y: usize, alpha: f32, x: usize, n: i32): void {
  const a = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(a, v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}
export function f32_axpy_scalar(y: usize, alpha: f32, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** y[i] = alpha * y[i]. */
export function f32_scale(y: usize, alpha: f32, n: i32): void {
  const a = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.mul(a, v128.load(y + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, alpha * load<f32>(y + o));
  }
}
export function f32_scale_scalar(y: usize, alpha: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, alpha * load<f32>(y + o));
  }
}

/** y[i] = a[i] + b[i]. */
export function f32_add(y: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) + load<f32>(b + o));
  }
}
export function f32_add_scalar(y: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** y[i] = a[i] * b[i]. */
export function f32_mul(y: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) * load<f32>(b + o));
  }
}
export function f32_mul_scalar(y: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) * load<f32>(b + o));
  }
}

/**
 * y[i] = min(max(y[i], lo), hi), in place, as pmin(pmax(y, lo), hi): NaN stays NaN (so a
 * NaN guard still sees it) and -0 stays -0.
 */
export function f32_clip(y: usize, lo: f32, hi: f32, n: i32): void {
  const l = f32x4.splat(lo);
  const h = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.pmin(f32x4.pmax(v128.load(y + o), l), h));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, pmin_f32(pmax_f32(load<f32>(y + o), lo), hi));
  }
}
export function f32_clip_scalar(y: usize, lo: f32, hi: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, pmin_f32(pmax_f32(load<f32>(y + o), lo), hi));
  }
}

/**
 * Σ x[i]² in float64 (each square exact), in the fixed order of activations.ts:
 * four lane sums over whole blocks, (s0 + s1) + (s2 + s3), then the tail in order.
 */
export function f32_sumsq(x: usize, n: i32): f64 {
  let s01 = f64x2.splat(0);
  let s23 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const lo = f64x2.promote_low_f32x4(v);
    const hi = promote_high_f32x4(v);
    s01 = f64x2.add(s01, f64x2.mul(lo, lo));
    s23 = f64x2.add(s23, f64x2.mul(hi, hi));
  }
  let s = combine_lane_sums(s01, s23);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  return s;
}
export function f32_sumsq_scalar(x: usize, n: i32): f64 {
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = x + (<usize>i << 2);
    const v0 = <f64>load<f32>(p), v1 = <f64>load<f32>(p, 4), v2 = <f64>load<f32>(p, 8), v3 = <f64>load<f32>(p, 12);
    s0 += v0 * v0;
    s1 += v1 * v1;
    s2 += v2 * v2;
    s3 += v3 * v3;
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  return s;
}

/** Σ x[i] in float64, in the same fixed order as `f32_sumsq`. */
export function f32_sum(x: usize, n: i32): f64 {
  let s01 = f64x2.splat(0);
  let s23 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    s01 = f64x2.add(s01, f64x2.promote_low_f32x4(v));
    s23 = f64x2.add(s23, promote_high_f32x4(v));
  }
  let s = combine_lane_sums(s01, s23);
  for (; i < n; i++) s += <f64>load<f32>(x + (<usize>i << 2));
  return s;
}
export function f32_sum_scalar(x: usize, n: i32): f64 {
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = x + (<usize>i << 2);
    s0 += <f64>load<f32>(p);
    s1 += <f64>load<f32>(p, 4);
    s2 += <f64>load<f32>(p, 8);
    s3 += <f64>load<f32>(p, 12);
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) s += <f64>load<f32>(x + (<usize>i << 2));
  return s;
}

/** 1 if no x[i] is NaN or ±Infinity (all exponent bits set), else 0. */
export function f32_all_finite(x: usize, n: i32): i32 {
  const e = i32x4.splat(EXPONENT_BITS);
  let bad = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    bad = v128.or(bad, i32x4.eq(v128.and(v128.load(x + (<usize>i << 2)), e), e));
  }
  let ok = !v128.any_true(bad);
  for (; i < n; i++) {
    if ((load<i32>(x + (<usize>i << 2)) & EXPONENT_BITS) == EXPONENT_BITS) ok = false;
  }
  return ok ? 1 : 0;
}
export function f32_all_finite_scalar(x: usize, n: i32): i32 {
  for (let i = 0; i < n; i++) {
    if ((load<i32>(x + (<usize>i << 2)) & EXPONENT_BITS) == EXPONENT_BITS) return 0;
  }
  return 1;
}

/** y[r, c] += bias[c]; y (rows, cols), bias (cols). */
export function f32_add_bias_rows(y: usize, bias: usize, rows: i32, cols: i32): void {
  const stride = <usize>max<i32>(cols, 0) << 2;
  for (let r = 0; r < rows; r++) {
    const yr = y + <usize>r * stride;
    f32_add(yr, yr, bias, cols);
  }
}
export function f32_add_bias_rows_scalar(y: usize, bias: usize, rows: i32, cols: i32): void {
  const stride = <usize>max<i32>(cols, 0) << 2;
  for (let r = 0; r < rows; r++) {
    const yr = y + <usize>r * stride;
    f32_add_scalar(yr, yr, bias, cols);
  }
}

/**
 * out[c] = (accumulate ? out[c] : 0) + x[0, c] + x[1, c] + ... + x[rows-1, c], added in
 * float32 left to right (the bias gradient of a layer); out (cols), x (rows, cols).
 */
export function f32_sum_rows(out: usize, x: usize, rows: i32, cols: i32, accumulate: i32): void {
  if (!accumulate) f32_fill(out, 0, cols);
  const stride = <usize>max<i32>(cols, 0) << 2;
  for (let r = 0; r < rows; r++) f32_add(out, out, x + <usize>r * stride, cols);
}
export function f32_sum_rows_scalar(out: usize, x: usize, rows: i32, cols: i32, accumulate: i32): void {
  if (!accumulate) f32_fill_scalar(out, 0, cols);
  const stride = <usize>max<i32>(cols, 0) << 2;
  for (let r = 0; r < rows; r++) f32_add_scalar(out, out, x + <usize>r * stride, cols);
}

/** y[i] = tanh(x[i]) (activations.ts: absolute error <= 4.2e-7). */
export function f32_vtanh(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), tanh_f32x4(v128.load(x + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), tanh_f32(load<f32>(x + (<usize>i << 2))));
}
export function f32_vtanh_scalar(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), tanh_f32(load<f32>(x + (<usize>i << 2))));
}

/** y[i] = sigmoid(x[i]) (activations.ts: absolute error <= 9e-8). */
export function f32_vsigmoid(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), sigmoid_f32x4(v128.load(x + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), sigmoid_f32(load<f32>(x + (<usize>i << 2))));
}
export function f32_vsigmoid_scalar(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), sigmoid_f32(load<f32>(x + (<usize>i << 2))));
}

/** y[i] = x[i] < 0 ? 0 : x[i] (pmax): NaN stays NaN, -0 stays -0. */
export function f32_vrelu(y: usize, x: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), f32x4.pmax(v128.load(x + (<usize>i << 2)), zero));
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), pmax_f32(load<f32>(x + (<usize>i << 2)), 0));
}
export function f32_vrelu_scalar(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), pmax_f32(load<f32>(x + (<usize>i << 2)), 0));
}

/** y[i] = exp(x[i]) (activations.ts: relative error <= 8.2e-8 over [-87, 88]). */
export function f32_vexp(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), exp_f32x4(v128.load(x + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), exp_f32(load<f32>(x + (<usize>i << 2))));
}
export function f32_vexp_scalar(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), exp_f32(load<f32>(x + (<usize>i << 2))));
}

// Derivatives from the forward output y, overwriting dx (dx may be dy).

/** dx[i] = dy[i] * (1 - y[i]²), y = tanh(x). */
export function f32_vtanh_grad(dx: usize, dy: usize, y: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(y + o);
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), f32x4.sub(one, f32x4.mul(v, v))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(y + o);
    store<f32>(dx + o, load<f32>(dy + o) * (<f32>1 - v * v));
  }
}
export function f32_vtanh_grad_scalar(dx: usize, dy: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(y + o);
    store<f32>(dx + o, load<f32>(dy + o) * (<f32>1 - v * v));
  }
}

/** dx[i] = dy[i] * (y[i] * (1 - y[i])), y = sigmoid(x). */
export function f32_vsigmoid_grad(dx: usize, dy: usize, y: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(y + o);
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), f32x4.mul(v, f32x4.sub(one, v))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(y + o);
    store<f32>(dx + o, load<f32>(dy + o) * (v * (<f32>1 - v)));
  }
}
export function f32_vsigmoid_grad_scalar(dx: usize, dy: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(y + o);
    store<f32>(dx + o, load<f32>(dy + o) * (v * (<f32>1 - v)));
  }
}

/** dx[i] = y[i] > 0 ? dy[i] : 0, y = relu(x). */
export function f32_vrelu_grad(dx: usize, dy: usize, y: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), zero)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}
export function f32_vrelu_grad_scalar(dx: usize, dy: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}
