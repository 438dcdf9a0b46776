// Householder QR in float64, for the orthogonal initializer (src/layers/init.ts).
// Matrices are COLUMN-MAJOR p x s with p >= s (leading dimension p), so every dot product
// and every update runs down one contiguous column. Pointers are byte addresses of float64
// arrays, sizes count elements.
//
// Reflector j is H_j = I - v_j v_jᵀ with ‖v_j‖² = 2 (v_j = 0, H_j = I, for a zero column),
// acting on rows j..p-1. `f64_householder_qr` leaves v_j in rows j..p-1 of column j and the
// strict upper triangle of R above it; R's diagonal goes to its own array. Then
// `f64_householder_q` turns those reflectors into Q in the same buffer. Applying H to a
// column x is x -= v (vᵀx), where vᵀx sums in the core's fixed reduction order
// (activations.ts: four lane sums by row mod 4, (s0 + s1) + (s2 + s3), then the tail rows
// one by one), and every operation is a correctly rounded f64 op (no fused multiply-add).
//
// Speed comes from loop order, not from changed arithmetic: each column receives the same
// reflections in the same order as in the textbook (reflector by reflector) algorithm of
// the `_scalar` twins, but the SIMD kernels apply a panel of PANEL reflectors to one pair of
// columns before moving on, so the pair stays in L1 while the panel is read from L2, and
// the big matrix is streamed once per panel instead of once per reflector. The twins and
// the SIMD kernels therefore give the same bits.
import { combine_lane_sums } from "./activations";

/** Reflectors applied to a column pair while it is hot in cache (4 to 64 measured alike). */
const PANEL = 16;

// ---------------------------------------------------------------------------------------
// Applying one reflector: x -= v (vᵀx) over n rows. `reflect2` and `reflect1` are left as
// functions of their own, not inlined: an engine that tiers code up (V8's Liftoff, then
// TurboFan) switches a function to optimised code only at its next call, so the first,
// long QR call gets fast after a few reflections instead of running 3-4x slower throughout.

/** H = I - v vᵀ applied to the columns x and y (n rows each); v is loaded once for both. */
function reflect2(v: usize, x: usize, y: usize, n: i32): void {
  let x01 = f64x2.splat(0), x23 = f64x2.splat(0), y01 = f64x2.splat(0), y23 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 3;
    const v01 = v128.load(v + o), v23 = v128.load(v + o, 16);
    x01 = f64x2.add(x01, f64x2.mul(v01, v128.load(x + o)));
    x23 = f64x2.add(x23, f64x2.mul(v23, v128.load(x + o, 16)));
    y01 = f64x2.add(y01, f64x2.mul(v01, v128.load(y + o)));
    y23 = f64x2.add(y23, f64x2.mul(v23, v128.load(y + o, 16)));
  }
  let dx = combine_lane_sums(x01, x23), dy = combine_lane_sums(y01, y23);
  for (let t = i; t < n; t++) {
    const o = <usize>t << 3;
    const vt = load<f64>(v + o);
    dx += vt * load<f64>(x + o);
    dy += vt * load<f64>(y + o);
  }
  const sx = f64x2.splat(dx), sy = f64x2.splat(dy);
  i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 3;
    const vi = v128.load(v + o);
    v128.store(x + o, f64x2.sub(v128.load(x + o), f64x2.mul(vi, sx)));
    v128.store(y + o, f64x2.sub(v128.load(y + o), f64x2.mul(vi, sy)));
  }
  if (i < n) {
    const o = <usize>i << 3;
    const vi = load<f64>(v + o);
    store<f64>(x + o, load<f64>(x + o) - vi * dx);
    store<f64>(y + o, load<f64>(y + o) - vi * dy);
  }
}

/** H = I - v vᵀ applied to the column x (n rows), SIMD. */
function reflect1(v: usize, x: usize, n: i32): void {
  const d = dot(v, x, n);
  const dv = f64x2.splat(d);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 3;
    v128.store(x + o, f64x2.sub(v128.load(x + o), f64x2.mul(v128.load(v + o), dv)));
  }
  if (i < n) store<f64>(x + (<usize>i << 3), load<f64>(x + (<usize>i << 3)) - load<f64>(v + (<usize>i << 3)) * d);
}

/** Scalar twin of `reflect1`. */
@inline function reflect1_scalar(v: usize, x: usize, n: i32): void {
  const d = dot_scalar(v, x, n);
  for (let i = 0; i < n; i++) store<f64>(x + (<usize>i << 3), load<f64>(x + (<usize>i << 3)) - load<f64>(v + (<usize>i << 3)) * d);
}

/** x · y over n rows in the fixed order, SIMD. */
@inline function dot(x: usize, y: usize, n: i32): f64 {
  let s01 = f64x2.splat(0), s23 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 3;
    s01 = f64x2.add(s01, f64x2.mul(v128.load(x + o), v128.load(y + o)));
    s23 = f64x2.add(s23, f64x2.mul(v128.load(x + o, 16), v128.load(y + o, 16)));
  }
  let s = combine_lane_sums(s01, s23);
  for (; i < n; i++) s += load<f64>(x + (<usize>i << 3)) * load<f64>(y + (<usize>i << 3));
  return s;
}

/** Scalar twin of `dot`: the same sums in the same order, one element at a time. */
@inline function dot_scalar(x: usize, y: usize, n: i32): f64 {
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 3;
    s0 += load<f64>(x + o) * load<f64>(y + o);
    s1 += load<f64>(x + o, 8) * load<f64>(y + o, 8);
    s2 += load<f64>(x + o, 16) * load<f64>(y + o, 16);
    s3 += load<f64>(x + o, 24) * load<f64>(y + o, 24);
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) s += load<f64>(x + (<usize>i << 3)) * load<f64>(y + (<usize>i << 3));
  return s;
}

// ---------------------------------------------------------------------------------------
// Making a reflector: for the column x (n rows, norm² given), H x = α e_0 with
// α = -sign(x_0)·‖x‖ (α = ‖x‖ when x_0 = 0), so v = x - α e_0 has no cancellation in v_0.
// ‖x - α e_0‖² = 2‖x‖(‖x‖ + |x_0|); scaling v by 1/√(‖x‖(‖x‖ + |x_0|)) makes ‖v‖² = 2.
// Overwrites x with v and returns α (R's diagonal entry).

@inline function reflectorScale(x: usize, norm2: f64): f64 {
  const norm = Math.sqrt(norm2);
  const x0 = load<f64>(x);
  const alpha = x0 > 0 ? -norm : norm;
  store<f64>(x, x0 - alpha);
  return alpha;
}

@inline function reflectorFactor(x0MinusAlpha: f64, alpha: f64): f64 {
  // ‖x‖(‖x‖ + |x_0|) = |α|·|x_0 - α|, both exact inputs; 0 for a zero column (v = 0).
  const d = Math.abs(alpha) * Math.abs(x0MinusAlpha);
  return d > 0 ? 1 / Math.sqrt(d) : 0;
}

@inline function makeReflector(x: usize, n: i32): f64 {
  const alpha = reflectorScale(x, dot(x, x, n));
  const f = reflectorFactor(load<f64>(x), alpha);
  const fv = f64x2.splat(f);
  let i = 0;
  for (; i + 2 <= n; i += 2) v128.store(x + (<usize>i << 3), f64x2.mul(v128.load(x + (<usize>i << 3)), fv));
  if (i < n) store<f64>(x + (<usize>i << 3), load<f64>(x + (<usize>i << 3)) * f);
  return alpha;
}

@inline function makeReflector_scalar(x: usize, n: i32): f64 {
  const alpha = reflectorScale(x, dot_scalar(x, x, n));
  const f = reflectorFactor(load<f64>(x), alpha);
  for (let i = 0; i < n; i++) store<f64>(x + (<usize>i << 3), load<f64>(x + (<usize>i << 3)) * f);
  return alpha;
}

/** Address of element (row, col) of a column-major matrix with leading dimension ld. */
@inline function at(base: usize, row: i32, col: i32, ld: i32): usize {
  return base + ((<usize>col * <usize>ld + <usize>row) << 3);
}

// ---------------------------------------------------------------------------------------
// QR: A = Q R by Householder reflections, in place.

/**
 * Householder QR of the column-major p x s matrix `a` (p >= s), in place: afterwards
 * column j holds R[0..j-1, j] above the diagonal and the reflector v_j in rows j..p-1;
 * R's diagonal goes to `rdiag`. Q = H_0 H_1 … H_{s-1} (`f64_householder_q` forms it).
 */
export function f64_householder_qr(
  a: usize, // (s, p) column-major p x s, in place: R above the diagonal, reflectors below
  rdiag: usize, // (s) R's diagonal
  p: i32,
  s: i32,
): void {
  for (let j0 = 0; j0 < s; j0 += PANEL) {
    const j1 = min(j0 + PANEL, s);
    // The panel, left-looking: column c takes the panel's earlier reflectors, then makes its own.
    for (let c = j0; c < j1; c++) {
      for (let j = j0; j < c; j++) reflect1(at(a, j, j, p), at(a, j, c, p), p - j);
      store<f64>(rdiag + (<usize>c << 3), makeReflector(at(a, c, c, p), p - c));
    }
    // The columns right of the panel, two at a time, each taking the whole panel.
    let c = j1;
    for (; c + 2 <= s; c += 2) {
      for (let j = j0; j < j1; j++) reflect2(at(a, j, j, p), at(a, j, c, p), at(a, j, c + 1, p), p - j);
    }
    if (c < s) for (let j = j0; j < j1; j++) reflect1(at(a, j, j, p), at(a, j, c, p), p - j);
  }
}
export function f64_householder_qr_scalar(a: usize, rdiag: usize, p: i32, s: i32): void {
  for (let j = 0; j < s; j++) {
    store<f64>(rdiag + (<usize>j << 3), makeReflector_scalar(at(a, j, j, p), p - j));
    for (let c = j + 1; c < s; c++) reflect1_scalar(at(a, j, j, p), at(a, j, c, p), p - j);
  }
}

/**
 * Q = H_0 H_1 … H_{s-1} [I_s; 0] (p x s, orthonormal columns), formed in place over the
 * reflectors that `f64_householder_qr` left in `a` (R above the diagonal is overwritten; its
 * diagonal, kept apart, is all that is left of R). Column c of Q is H_0 … H_c e_c
 * (H_j e_c = e_c for j > c): built from e_c by H_c first, H_0 last, once no column still
 * to be built needs v_c.
 */
export function f64_householder_q(
  a: usize, // (s, p) column-major p x s, in place: the reflectors in, Q out
  p: i32,
  s: i32,
): void {
  // Panels from the last down. The columns right of the panel, two at a time, take the
  // panel's reflectors from the last down; then the panel's own columns, from the last
  // down, each turned from v_c into H_c e_c and given the panel's reflectors below c.
  const last = s > 0 ? ((s - 1) / PANEL) * PANEL : 0;
  for (let j0 = last; j0 >= 0 && s > 0; j0 -= PANEL) {
    const j1 = min(j0 + PANEL, s);
    let c = j1;
    for (; c + 2 <= s; c += 2) {
      for (let j = j1 - 1; j >= j0; j--) reflect2(at(a, j, j, p), at(a, j, c, p), at(a, j, c + 1, p), p - j);
    }
    if (c < s) for (let j = j1 - 1; j >= j0; j--) reflect1(at(a, j, j, p), at(a, j, c, p), p - j);
    for (c = j1 - 1; c >= j0; c--) {
      reflectedUnit(a, c, p);
      for (let j = c - 1; j >= j0; j--) reflect1(at(a, j, j, p), at(a, j, c, p), p - j);
    }
  }
}
export function f64_householder_q_scalar(a: usize, p: i32, s: i32): void {
  for (let j = s - 1; j >= 0; j--) {
    for (let c = j + 1; c < s; c++) reflect1_scalar(at(a, j, j, p), at(a, j, c, p), p - j);
    reflectedUnit(a, j, p);
  }
}

/**
 * Column c, holding v_c in rows c..p-1, becomes H_c e_c = e_c - v_c·v_c[0], with the same
 * operations `reflect1` would do on e_c (vᵀe_c = v_c[0] exactly; 0 - v_i·v_c[0]).
 */
@inline function reflectedUnit(a: usize, c: i32, p: i32): void {
  const x = at(a, c, c, p);
  memory.fill(at(a, 0, c, p), 0, <usize>c << 3);
  const d = load<f64>(x);
  store<f64>(x, 1 - d * d);
  for (let i = 1; i < p - c; i++) store<f64>(x + (<usize>i << 3), 0 - load<f64>(x + (<usize>i << 3)) * d);
}
