// Loss kernels: each computes a loss and its gradient in one pass over R rows of C
// values (R = T·B steps × samples, row-major, row r at offset r·C).
//
// Conventions, for the TypeScript loss layer built on these:
//   - The return value is the SUM over the counted rows of the per-row loss, a float64.
//     The caller divides (by B for a per-sequence mean, by the number of counted rows for
//     a per-token mean, ...) and counts the rows itself: it knows the targets and mask.
//   - The gradient written is `scale` × d(returned sum)/d(input), so a caller that
//     reports sum/B passes scale = 1/B. Gradients are written (overwritten), never added.
//   - A row that is not counted gets a zero gradient row and adds nothing, even if its
//     inputs hold NaN.
//   - Sums run in float64 in a fixed order (activations.ts); exp is activations.ts' exp
//     (relative error <= 8.2e-8); log is AssemblyScript's own float64 Math.log. Results
//     are the same bits in every runtime, and each kernel's `_scalar` twin gives the same
//     bits (loss and gradient). Per row the loss is within ~1e-7 relative of exact.
//   - An output may be the same buffer as its input (in place). rows <= 0 or cols <= 0:
//     nothing is written and 0 is returned.
//
// f32_softmax_xent(dlogits, logits, targets, rows, cols, ignoreIndex, scale): f64
//   dlogits, logits (R, C) f32; targets (R) i32. Row r is skipped when targets[r] equals
//   ignoreIndex (which may lie inside [0, C), e.g. a padding class), and also, so the
//   kernel can never read out of bounds, when targets[r] is outside [0, C) (TypeScript
//   validates, so that means a bug upstream). Else, with t = targets[r],
//   m = max_c x[c], s = Σ_c exp(x[c] − m) (>= 1):
//     loss_r     = (m − x[t]) + log(s)                 (= logsumexp(x) − x[t], stable)
//     dlogits[c] = exp(x[c] − m) · f32(scale/s)  − (c == t ? scale : 0)
//   Finite for any finite logits (±1e4 included); a counted row holding NaN or +Infinity
//   gives NaN.
// f32_softmax(y, x, rows, cols): y[c] = exp(x[c] − m) · f32(1/s), per row.
// f32_log_softmax(y, x, rows, cols): y[c] = (x[c] − m) − f32(log(s)), per row.
// f32_mse(dpred, pred, target, mask, rows, cols, scale): f64
//   dpred, pred, target (R, C) f32; mask (R) f32 row weights, or 0 for none (all 1;
//   address 0 is never an allocation). With w = mask[r]: w == 0 skips the row; a 0/1
//   mask is the usual case, other values weight the row's loss and gradient.
//   With d[c] = pred[c] − target[c]:
//     loss_r   = w · Σ_c d[c]² / C                     (PyTorch MSELoss: mean over features)
//     dpred[c] = f32(pred[c] − target[c]) · f32(2·scale·w/C)
//   The loss squares the exact float64 differences.
// f32_sigmoid_bce(dlogits, logits, target, mask, rows, cols, scale): f64
//   binary cross-entropy on logits x with targets t in [0, 1]; mask as for f32_mse.
//     loss_r     = w · Σ_c (max(x, 0) − x·t + log(1 + exp(−|x|))) / C
//                                          (PyTorch BCEWithLogitsLoss: mean over features)
//     dlogits[c] = (sigmoid(x) − t) · f32(scale·w/C)
//   Finite for every finite x (exp(−|x|) <= 1 never overflows). sigmoid(x) − t is formed
//   without cancellation, so a confident right answer keeps its small gradient.
import { combine_lane_sums, exp_f32, exp_f32x4, promote_high_f32x4 } from "./activations";
import { f32_fill, f32_fill_scalar, f32_scale, f32_scale_scalar } from "./elementwise";

// log(1 + u) for u in [0, 1], as 2·atanh(s) with s = u/(2 + u) in [0, 1/3], by the series
// 2s(1 + s²/3 + s⁴/5 + ... + s¹²/13): truncation below 3e-8 relative, and no cancellation
// for small u. With exp's error, log(1 + exp(−|x|)) is within 2.6e-7 relative.
const L3: f32 = 1.0 / 3.0;
const L5: f32 = 1.0 / 5.0;
const L7: f32 = 1.0 / 7.0;
const L9: f32 = 1.0 / 9.0;
const L11: f32 = 1.0 / 11.0;
const L13: f32 = 1.0 / 13.0;

@inline function log1p_unit_f32x4(u: v128): v128 {
  const s = f32x4.div(u, f32x4.add(f32x4.splat(2), u));
  const s2 = f32x4.mul(s, s);
  let p = f32x4.add(f32x4.mul(f32x4.splat(L13), s2), f32x4.splat(L11));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(L9));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(L7));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(L5));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(L3));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1));
  return f32x4.mul(f32x4.add(s, s), p);
}
@inline function log1p_unit_f32(u: f32): f32 {
  const s = u / (<f32>2 + u);
  const s2 = s * s;
  let p = L13 * s2 + L11;
  p = p * s2 + L9;
  p = p * s2 + L7;
  p = p * s2 + L5;
  p = p * s2 + L3;
  p = p * s2 + <f32>1;
  return (s + s) * p;
}

/** max_c x[c] (−Infinity for n = 0; NaN if any x[c] is NaN). */
@inline function row_max(x: usize, n: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) mv = f32x4.max(mv, v128.load(x + (<usize>i << 2)));
  let m = max<f32>(
    max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
    max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)),
  );
  for (; i < n; i++) m = max<f32>(m, load<f32>(x + (<usize>i << 2)));
  return m;
}
@inline function row_max_scalar(x: usize, n: i32): f32 {
  let m: f32 = -Infinity;
  for (let i = 0; i < n; i++) m = max<f32>(m, load<f32>(x + (<usize>i << 2)));
  return m;
}

/** Σ_c exp(x[c] − shift) in float64, fixed order; writes each exp(x[c] − shift) to y unless y is 0. */
@inline function sum_exp_shifted(y: usize, x: usize, shift: f32, n: i32): f64 {
  const sv = f32x4.splat(shift);
  let s01 = f64x2.splat(0);
  let s23 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const e = exp_f32x4(f32x4.sub(v128.load(x + o), sv));
    if (y) v128.store(y + o, e);
    s01 = f64x2.add(s01, f64x2.promote_low_f32x4(e));
    s23 = f64x2.add(s23, promote_high_f32x4(e));
  }
  let s = combine_lane_sums(s01, s23);
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const e = exp_f32(load<f32>(x + o) - shift);
    if (y) store<f32>(y + o, e);
    s += <f64>e;
  }
  return s;
}
@inline function sum_exp_shifted_scalar(y: usize, x: usize, shift: f32, n: i32): f64 {
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const e0 = exp_f32(load<f32>(x + o) - shift);
    const e1 = exp_f32(load<f32>(x + o, 4) - shift);
    const e2 = exp_f32(load<f32>(x + o, 8) - shift);
    const e3 = exp_f32(load<f32>(x + o, 12) - shift);
    if (y) {
      store<f32>(y + o, e0);
      store<f32>(y + o, e1, 4);
      store<f32>(y + o, e2, 8);
      store<f32>(y + o, e3, 12);
    }
    s0 += <f64>e0;
    s1 += <f64>e1;
    s2 += <f64>e2;
    s3 += <f64>e3;
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const e = exp_f32(load<f32>(x + o) - shift);
    if (y) store<f32>(y + o, e);
    s += <f64>e;
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Softmax cross-entropy

export function f32_softmax_xent(
  dlogits: usize, logits: usize, targets: usize, rows: i32, cols: i32, ignoreIndex: i32, scale: f32,
): f64 {
  const stride = <usize>max<i32>(cols, 0) << 2;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const x = logits + <usize>r * stride;
    const d = dlogits + <usize>r * stride;
    const t = load<i32>(targets + (<usize>r << 2));
    if (t == ignoreIndex || <u32>t >= <u32>cols) {
      f32_fill(d, 0, cols);
      continue;
    }
    // Read x[t] before the row of dlogits (possibly the same memory) is written.
    const xt = load<f32>(x + (<usize>t << 2));
    const m = row_max(x, cols);
    const s = sum_exp_shifted(d, x, m, cols); // d = exp(x − m), s >= 1 (the max gives 1)
    loss += (<f64>m - <f64>xt) + Math.log(s);
    f32_scale(d, <f32>(<f64>scale / s), cols);
    const dt = d + (<usize>t << 2);
    store<f32>(dt, load<f32>(dt) - scale);
  }
  return loss;
}
export function f32_softmax_xent_scalar(
  dlogits: usize, logits: usize, targets: usize, rows: i32, cols: i32, ignoreIndex: i32, scale: f32,
): f64 {
  const stride = <usize>max<i32>(cols, 0) << 2;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const x = logits + <usize>r * stride;
    const d = dlogits + <usize>r * stride;
    const t = load<i32>(targets + (<usize>r << 2));
    if (t == ignoreIndex || <u32>t >= <u32>cols) {
      f32_fill_scalar(d, 0, cols);
      continue;
    }
    const xt = load<f32>(x + (<usize>t << 2));
    const m = row_max_scalar(x, cols);
    const s = sum_exp_shifted_scalar(d, x, m, cols);
    loss += (<f64>m - <f64>xt) + Math.log(s);
    f32_scale_scalar(d, <f32>(<f64>scale / s), cols);
    const dt = d + (<usize>t << 2);
    store<f32>(dt, load<f32>(dt) - scale);
  }
  return loss;
}

// ---------------------------------------------------------------------------------------
// Softmax and log-softmax (inference, sampling)

export function f32_softmax(y: usize, x: usize, rows: i32, cols: i32): void {
  const stride = <usize>max<i32>(cols, 0) << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * stride;
    const yr = y + <usize>r * stride;
    const s = sum_exp_shifted(yr, xr, row_max(xr, cols), cols);
    f32_scale(yr, <f32>(1.0 / s), cols);
  }
}
export function f32_softmax_scalar(y: usize, x: usize, rows: i32, cols: i32): void {
  const stride = <usize>max<i32>(cols, 0) << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * stride;
    const yr = y + <usize>r * stride;
    const s = sum_exp_shifted_scalar(yr, xr, row_max_scalar(xr, cols), cols);
    f32_scale_scalar(yr, <f32>(1.0 / s), cols);
  }
}

export function f32_log_softmax(y: usize, x: usize, rows: i32, cols: i32): void {
  const stride = <usize>max<i32>(cols, 0) << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * stride;
    const yr = y + <usize>r * stride;
    const m = row_max(xr, cols);
    // x − m is exact or nearly so, and log(s) is small: subtracting them separately keeps
    // the accuracy that x − (m + log s) would lose when m is large.
    const ls = <f32>Math.log(sum_exp_shifted(0, xr, m, cols));
    const mv = f32x4.splat(m);
    const lv = f32x4.splat(ls);
    let i = 0;
    for (; i + 4 <= cols; i += 4) {
      const o = <usize>i << 2;
      v128.store(yr + o, f32x4.sub(f32x4.sub(v128.load(xr + o), mv), lv));
    }
    for (; i < cols; i++) {
      const o = <usize>i << 2;
      store<f32>(yr + o, (load<f32>(xr + o) - m) - ls);
    }
  }
}
export function f32_log_softmax_scalar(y: usize, x: usize, rows: i32, cols: i32): void {
  const stride = <usize>max<i32>(cols, 0) << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * stride;
    const yr = y + <usize>r * stride;
    const m = row_max_scalar(xr, cols);
    const ls = <f32>Math.log(sum_exp_shifted_scalar(0, xr, m, cols));
    for (let i = 0; i < cols; i++) {
      const o = <usize>i << 2;
      store<f32>(yr + o, (load<f32>(xr + o) - m) - ls);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Mean squared error

export function f32_mse(
  dpred: usize, pred: usize, target: usize, mask: usize, rows: i32, cols: i32, scale: f32,
): f64 {
  if (cols <= 0) return 0;
  const stride = <usize>cols << 2;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * stride;
    const d = dpred + off;
    const p = pred + off;
    const t = target + off;
    const w: f32 = mask ? load<f32>(mask + (<usize>r << 2)) : 1;
    if (w == 0) {
      f32_fill(d, 0, cols);
      continue;
    }
    const coef = <f32>(2.0 * <f64>scale * <f64>w / <f64>cols);
    const cv = f32x4.splat(coef);
    let s01 = f64x2.splat(0);
    let s23 = f64x2.splat(0);
    let i = 0;
    for (; i + 4 <= cols; i += 4) {
      const o = <usize>i << 2;
      const vp = v128.load(p + o);
      const vt = v128.load(t + o);
      v128.store(d + o, f32x4.mul(f32x4.sub(vp, vt), cv));
      // The squared error in float64 from the float32 inputs: exact differences.
      const lo = f64x2.sub(f64x2.promote_low_f32x4(vp), f64x2.promote_low_f32x4(vt));
      const hi = f64x2.sub(promote_high_f32x4(vp), promote_high_f32x4(vt));
      s01 = f64x2.add(s01, f64x2.mul(lo, lo));
      s23 = f64x2.add(s23, f64x2.mul(hi, hi));
    }
    let s = combine_lane_sums(s01, s23);
    for (; i < cols; i++) {
      const o = <usize>i << 2;
      const fp = load<f32>(p + o);
      const ft = load<f32>(t + o);
      store<f32>(d + o, (fp - ft) * coef);
      const e = <f64>fp - <f64>ft;
      s += e * e;
    }
    loss += <f64>w * s / <f64>cols;
  }
  return loss;
}
export function f32_mse_scalar(
  dpred: usize, pred: usize, target: usize, mask: usize, rows: i32, cols: i32, scale: f32,
): f64 {
  if (cols <= 0) return 0;
  const stride = <usize>cols << 2;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * stride;
    const d = dpred + off;
    const p = pred + off;
    const t = target + off;
    const w: f32 = mask ? load<f32>(mask + (<usize>r << 2)) : 1;
    if (w == 0) {
      f32_fill_scalar(d, 0, cols);
      continue;
    }
    const coef = <f32>(2.0 * <f64>scale * <f64>w / <f64>cols);
    let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
    let i = 0;
    for (; i + 4 <= cols; i += 4) {
      const o = <usize>i << 2;
      const p0 = load<f32>(p + o), p1 = load<f32>(p + o, 4), p2 = load<f32>(p + o, 8), p3 = load<f32>(p + o, 12);
      const t0 = load<f32>(t + o), t1 = load<f32>(t + o, 4), t2 = load<f32>(t + o, 8), t3 = load<f32>(t + o, 12);
      store<f32>(d + o, (p0 - t0) * coef);
      store<f32>(d + o, (p1 - t1) * coef, 4);
      store<f32>(d + o, (p2 - t2) * coef, 8);
      store<f32>(d + o, (p3 - t3) * coef, 12);
      const e0 = <f64>p0 - <f64>t0, e1 = <f64>p1 - <f64>t1, e2 = <f64>p2 - <f64>t2, e3 = <f64>p3 - <f64>t3;
      s0 += e0 * e0;
      s1 += e1 * e1;
      s2 += e2 * e2;
      s3 += e3 * e3;
    }
    let s = (s0 + s1) + (s2 + s3);
    for (; i < cols; i++) {
      const o = <usize>i << 2;
      const fp = load<f32>(p + o);
      const ft = load<f32>(t + o);
      store<f32>(d + o, (fp - ft) * coef);
      const e = <f64>fp - <f64>ft;
      s += e * e;
    }
    loss += <f64>w * s / <f64>cols;
  }
  return loss;
}

// ---------------------------------------------------------------------------------------
// Binary cross-entropy on logits

// One element of BCE with logits, in float32: u = exp(−|x|) in [0, 1], q = u/(1 + u) =
// sigmoid(−|x|); sigmoid(x) − t = (1 − t) − q for x >= 0 and q − t below, so a confident
// right answer (t = 1, x = 30) keeps a small gradient (−9e-14) instead of rounding to 0;
// log(1 + exp(−|x|)) = log1p_unit(u).
export function f32_sigmoid_bce(
  dlogits: usize, logits: usize, target: usize, mask: usize, rows: i32, cols: i32, scale: f32,
): f64 {
  if (cols <= 0) return 0;
  const stride = <usize>cols << 2;
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const zero64 = f64x2.splat(0);
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * stride;
    const d = dlogits + off;
    const x = logits + off;
    const t = target + off;
    const w: f32 = mask ? load<f32>(mask + (<usize>r << 2)) : 1;
    if (w == 0) {
      f32_fill(d, 0, cols);
      continue;
    }
    const coef = <f32>(<f64>scale * <f64>w / <f64>cols);
    const cv = f32x4.splat(coef);
    let s01 = f64x2.splat(0);
    let s23 = f64x2.splat(0);
    let i = 0;
    for (; i + 4 <= cols; i += 4) {
      const o = <usize>i << 2;
      const vx = v128.load(x + o);
      const vt = v128.load(t + o);
      const u = exp_f32x4(f32x4.neg(f32x4.abs(vx)));
      const q = f32x4.div(u, f32x4.add(one, u)); // sigmoid(−|x|)
      const g = v128.bitselect(f32x4.sub(f32x4.sub(one, vt), q), f32x4.sub(q, vt), f32x4.ge(vx, zero));
      v128.store(d + o, f32x4.mul(g, cv));
      const sp = log1p_unit_f32x4(u);
      // max(x, 0) − x·t in float64 is exact up to one rounding of the difference.
      const xlo = f64x2.promote_low_f32x4(vx);
      const xhi = promote_high_f32x4(vx);
      const lo = f64x2.add(
        f64x2.sub(f64x2.pmax(xlo, zero64), f64x2.mul(xlo, f64x2.promote_low_f32x4(vt))),
        f64x2.promote_low_f32x4(sp),
      );
      const hi = f64x2.add(
        f64x2.sub(f64x2.pmax(xhi, zero64), f64x2.mul(xhi, promote_high_f32x4(vt))),
        promote_high_f32x4(sp),
      );
      s01 = f64x2.add(s01, lo);
      s23 = f64x2.add(s23, hi);
    }
    let s = combine_lane_sums(s01, s23);
    for (; i < cols; i++) {
      const o = <usize>i << 2;
      const fx = load<f32>(x + o);
      const ft = load<f32>(t + o);
      s += bce_element(d + o, fx, ft, coef);
    }
    loss += <f64>w * s / <f64>cols;
  }
  return loss;
}

// Scalar twin of one lane of f32_sigmoid_bce: writes the gradient, returns the loss term.
@inline function bce_element(dp: usize, x: f32, t: f32, coef: f32): f64 {
  const u = exp_f32(-abs<f32>(x));
  const q = u / (<f32>1 + u);
  const g = x >= 0 ? (<f32>1 - t) - q : q - t;
  store<f32>(dp, g * coef);
  const xd = <f64>x;
  return ((xd < 0 ? 0 : xd) - xd * <f64>t) + <f64>log1p_unit_f32(u); // pmax(x, 0), as f64x2.pmax
}

export function f32_sigmoid_bce_scalar(
  dlogits: usize, logits: usize, target: usize, mask: usize, rows: i32, cols: i32, scale: f32,
): f64 {
  if (cols <= 0) return 0;
  const stride = <usize>cols << 2;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * stride;
    const d = dlogits + off;
    const x = logits + off;
    const t = target + off;
    const w: f32 = mask ? load<f32>(mask + (<usize>r << 2)) : 1;
    if (w == 0) {
      f32_fill_scalar(d, 0, cols);
      continue;
    }
    const coef = <f32>(<f64>scale * <f64>w / <f64>cols);
    let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
    let i = 0;
    for (; i + 4 <= cols; i += 4) {
      const o = <usize>i << 2;
      s0 += bce_element(d + o, load<f32>(x + o), load<f32>(t + o), coef);
      s1 += bce_element(d + o + 4, load<f32>(x + o, 4), load<f32>(t + o, 4), coef);
      s2 += bce_element(d + o + 8, load<f32>(x + o, 8), load<f32>(t + o, 8), coef);
      s3 += bce_element(d + o + 12, load<f32>(x + o, 12), load<f32>(t + o, 12), coef);
    }
    let s = (s0 + s1) + (s2 + s3);
    for (; i < cols; i++) {
      const o = <usize>i << 2;
      s += bce_element(d + o, load<f32>(x + o), load<f32>(t + o), coef);
    }
    loss += <f64>w * s / <f64>cols;
  }
  return loss;
}
