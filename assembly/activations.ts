// Fast float32 exp, sigmoid and tanh for the kernels, in a SIMD form (four lanes of a
// v128) and a scalar twin. A twin performs the same IEEE operations in the same order
// as one lane of the SIMD form: no fused multiply-add, no relaxed SIMD, no host Math.
// So a SIMD lane and the scalar twin agree to the bit, and a cell kernel can finish its
// tail elements with the scalar form without the tail differing from the body.
//
// The error bounds below were measured against float64 references by trying every
// float32 input in the stated range; test/elementwise.test.ts holds each function to its
// bound on dense grids.
// NaN in gives NaN out; ±Infinity and huge inputs give the limits.

// Clamps use pmin/pmax, not min/max: one instruction each on x86 and ARM (wasm's min/max
// need several to order -0 before +0 and to propagate NaN), and with the variable as the
// first operand a NaN passes through. The scalar twins spell the same comparison.

/** Scalar twin of `f32x4.pmin`: b < a ? b : a. */
@inline export function pmin_f32(a: f32, b: f32): f32 {
  return b < a ? b : a;
}
/** Scalar twin of `f32x4.pmax`: a < b ? b : a. */
@inline export function pmax_f32(a: f32, b: f32): f32 {
  return a < b ? b : a;
}

// exp: x = n*ln2 + r, |r| <= ln2/2, n rounded to nearest; e^r by Cephes' expf
// polynomial; 2^n applied as two power-of-two factors so that every n in [-150, 128]
// works: results overflow to +Infinity from ln(FLT_MAX) = 88.7228 on and underflow
// gradually (subnormals) below -87.3365, reaching exactly 0 at -103.9721.
const EXP_HI: f32 = 89.0; // exp(89) > FLT_MAX: the product overflows to +Infinity
const EXP_LO: f32 = -104.0; // exp(-104) < FLT_TRUE_MIN / 2: the product rounds to 0
const LOG2E: f32 = 1.44269504088896341;
// Adding 1.5 * 2^23 rounds a float32 of magnitude < 2^22 to an integer (ties to even)
// and leaves that integer in the low bits of its representation: a conversion to int
// that never traps, not even for NaN.
const ROUND_MAGIC: f32 = 12582912.0;
const ROUND_MAGIC_BITS: i32 = 0x4b400000;
// ln2 split in two: LN2_HI has 9 significant bits, so n * LN2_HI is exact.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const EXP_P0: f32 = 1.9875691500e-4;
const EXP_P1: f32 = 1.3981999507e-3;
const EXP_P2: f32 = 8.3334519073e-3;
const EXP_P3: f32 = 4.1665795894e-2;
const EXP_P4: f32 = 1.6666665459e-1;
const EXP_P5: f32 = 5.0000001201e-1;

// tanh: odd rational p(x)/q(x) of degrees 13/6 (the minimax fit used by Eigen, XLA and
// ONNX Runtime's MLAS), the input clamped to ±7.90531110763549805, where the fit
// reaches ±1 exactly. |tanh_f32(x)| <= 1 for every x.
const TANH_CLAMP: f32 = 7.90531110763549805;
const TANH_A1: f32 = 4.89352455891786e-3;
const TANH_A3: f32 = 6.37261928875436e-4;
const TANH_A5: f32 = 1.48572235717979e-5;
const TANH_A7: f32 = 5.12229709037114e-8;
const TANH_A9: f32 = -8.60467152213735e-11;
const TANH_A11: f32 = 2.00018790482477e-13;
const TANH_A13: f32 = -2.76076847742355e-16;
const TANH_B0: f32 = 4.89352518554385e-3;
const TANH_B2: f32 = 2.26843463243900e-3;
const TANH_B4: f32 = 1.18534705686654e-4;
const TANH_B6: f32 = 1.19825839466702e-6;

/**
 * e^x for four lanes. Max relative error 8.2e-8 over [-87, 88] (8.16e-8 seen);
 * exactly 1 at 0, +Infinity from 88.7228 on, exactly 0 from -103.9721 down.
 */
@inline export function exp_f32x4(x: v128): v128 {
  x = f32x4.pmax(f32x4.pmin(x, f32x4.splat(EXP_HI)), f32x4.splat(EXP_LO));
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(ROUND_MAGIC));
  const n = i32x4.sub(t, i32x4.splat(ROUND_MAGIC_BITS));
  const fn = f32x4.sub(t, f32x4.splat(ROUND_MAGIC));
  let r = f32x4.sub(x, f32x4.mul(fn, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(fn, f32x4.splat(LN2_LO)));
  const r2 = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(f32x4.splat(EXP_P0), r), f32x4.splat(EXP_P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EXP_P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EXP_P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EXP_P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EXP_P5));
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1.0));
  // 2^n = 2^n1 * 2^n2 with n1 = floor(n/2): both halves stay normal for n in [-150, 128].
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/** Scalar twin of `exp_f32x4`, bit-identical to one of its lanes. */
@inline export function exp_f32(x: f32): f32 {
  x = pmax_f32(pmin_f32(x, EXP_HI), EXP_LO);
  const t = x * LOG2E + ROUND_MAGIC;
  const n = reinterpret<i32>(t) - ROUND_MAGIC_BITS;
  const fn = t - ROUND_MAGIC;
  let r = x - fn * LN2_HI;
  r = r - fn * LN2_LO;
  const r2 = r * r;
  let p = EXP_P0 * r + EXP_P1;
  p = p * r + EXP_P2;
  p = p * r + EXP_P3;
  p = p * r + EXP_P4;
  p = p * r + EXP_P5;
  p = p * r2 + r + <f32>1.0;
  const n1 = n >> 1;
  const n2 = n - n1;
  return p * reinterpret<f32>((n1 + 127) << 23) * reinterpret<f32>((n2 + 127) << 23);
}

/**
 * tanh(x) for four lanes. Max absolute error 4.2e-7 over the real line (4.10e-7 seen, at
 * x = ±5.8279); exactly ±1 from |x| >= 7.9053 on, ±Infinity included; odd: f(-x) = -f(x).
 * Not monotone at the last-ulp level above |x| ~ 4 (rounding jitter within the bound).
 */
@inline export function tanh_f32x4(x: v128): v128 {
  x = f32x4.pmax(f32x4.pmin(x, f32x4.splat(TANH_CLAMP)), f32x4.splat(-TANH_CLAMP));
  const x2 = f32x4.mul(x, x);
  let p = f32x4.add(f32x4.mul(f32x4.splat(TANH_A13), x2), f32x4.splat(TANH_A11));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(TANH_A9));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(TANH_A7));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(TANH_A5));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(TANH_A3));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(TANH_A1));
  p = f32x4.mul(p, x);
  let q = f32x4.add(f32x4.mul(f32x4.splat(TANH_B6), x2), f32x4.splat(TANH_B4));
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(TANH_B2));
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(TANH_B0));
  return f32x4.div(p, q);
}

/** Scalar twin of `tanh_f32x4`, bit-identical to one of its lanes. */
@inline export function tanh_f32(x: f32): f32 {
  x = pmax_f32(pmin_f32(x, TANH_CLAMP), -TANH_CLAMP);
  const x2 = x * x;
  let p = TANH_A13 * x2 + TANH_A11;
  p = p * x2 + TANH_A9;
  p = p * x2 + TANH_A7;
  p = p * x2 + TANH_A5;
  p = p * x2 + TANH_A3;
  p = p * x2 + TANH_A1;
  p = p * x;
  let q = TANH_B6 * x2 + TANH_B4;
  q = q * x2 + TANH_B2;
  q = q * x2 + TANH_B0;
  return p / q;
}

/**
 * sigmoid(x) = 1 / (1 + e^-x) for four lanes, with `exp_f32x4`. Max absolute error 9e-8
 * over the real line (8.93e-8 seen), and no cancellation for very negative x: relative
 * error <= 1.5e-7 wherever the result is a normal float32. Exactly 0.5 at 0, exactly 1
 * from 16.6355 on, exactly 0 below -88.7228.
 */
@inline export function sigmoid_f32x4(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, exp_f32x4(f32x4.neg(x))));
}

/** Scalar twin of `sigmoid_f32x4`, bit-identical to one of its lanes. */
@inline export function sigmoid_f32(x: f32): f32 {
  return <f32>1.0 / (<f32>1.0 + exp_f32(-x));
}

// Reduction helpers shared by the kernels. Every float64 reduction of float32 data in
// the core sums in one fixed order: four running sums, one per lane position (element
// i goes to sum i mod 4) over the whole blocks of four, combined as (s0 + s1) + (s2 + s3),
// then the tail elements added one by one in order. The scalar twins repeat that order,
// so a SIMD reduction and its twin return the same float64 to the bit.

/** Lanes 2 and 3 of a float32 vector, promoted to float64. */
@inline export function promote_high_f32x4(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
}

/** (s0 + s1) + (s2 + s3) of the lane sums held as [s0, s1] and [s2, s3]. */
@inline export function combine_lane_sums(s01: v128, s23: v128): f64 {
  const s0 = f64x2.extract_lane(s01, 0);
  const s1 = f64x2.extract_lane(s01, 1);
  const s2 = f64x2.extract_lane(s23, 0);
  const s3 = f64x2.extract_lane(s23, 1);
  return (s0 + s1) + (s2 + s3);
}
