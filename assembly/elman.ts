// Elman cell, one time step — forward and backward side by side. PyTorch's nn.RNN layout;
// the caller has already added x·W_ihᵀ + b_ih + b_hh + h_prev·W_hhᵀ, so `act` holds the
// preactivations a. With a per-unit leak α (a leaky integrator, time constant 1/α):
//   y = act(a)    h = (1 − α)⊙h_prev + α⊙y
// and without one (leak == 0: α = 1 everywhere, plain nn.RNN) h = y.
// `activation` selects act: 0 tanh, 1 relu, 2 sigmoid (the same table as ACTIVATION_CODES in
// src/layers/elman.ts). Jordan networks run their hidden layer through these kernels with
// leak == 0, since h_t = act(W_ih x_t + b_ih + W_hy y_{t−1}) is the same step without h_prev.
import { sigmoid_f32, sigmoid_f32x4, tanh_f32, tanh_f32x4 } from "./activations";

const TANH: i32 = 0;
const RELU: i32 = 1;

@inline function ld(p: usize): v128 {
  return v128.load(p);
}

// Any code other than tanh and relu is sigmoid: the TypeScript side validated the name.
@inline function activate_f32x4(a: v128, activation: i32): v128 {
  if (activation == TANH) return tanh_f32x4(a);
  if (activation == RELU) return f32x4.max(a, f32x4.splat(0));
  return sigmoid_f32x4(a);
}

@inline function activate_f32(a: f32, activation: i32): f32 {
  if (activation == TANH) return tanh_f32(a);
  if (activation == RELU) return max<f32>(a, 0);
  return sigmoid_f32(a);
}

// dL/da from dL/dy and the output y: tanh' = 1 − y², relu' = [y > 0], σ' = y(1 − y).
@inline function activationGrad_f32x4(dy: v128, y: v128, activation: i32): v128 {
  const one = f32x4.splat(1);
  if (activation == TANH) return f32x4.mul(dy, f32x4.sub(one, f32x4.mul(y, y)));
  if (activation == RELU) return v128.and(dy, f32x4.gt(y, f32x4.splat(0)));
  return f32x4.mul(dy, f32x4.mul(y, f32x4.sub(one, y)));
}

@inline function activationGrad_f32(dy: f32, y: f32, activation: i32): f32 {
  if (activation == TANH) return dy * (<f32>1 - y * y);
  if (activation == RELU) return y > 0 ? dy : 0;
  return dy * (y * (<f32>1 - y));
}

@inline function elmanForwardAt(h: usize, act: usize, hPrev: usize, leak: usize, activation: i32, j: i32): void {
  const off = <usize>j << 2;
  const y = activate_f32(load<f32>(act + off), activation);
  let hn = y;
  if (leak) {
    const a = load<f32>(leak + off);
    hn = (<f32>1 - a) * load<f32>(hPrev + off) + a * y;
  }
  store<f32>(act + off, y);
  store<f32>(h + off, hn);
}

/**
 * Forward of one step for the whole batch, SIMD over hidden units with a scalar tail.
 * `h` may be `act` when leak == 0 (then h = y, and the caller keeps one buffer for both).
 */
export function f32_elman_forward_step(
  h: usize, // (B, H) out: new hidden state
  act: usize, // (B, H) in: preactivations a; out: y = act(a), the cache backward reads
  hPrev: usize, // (B, H); not read when leak == 0
  leak: usize, // (H) α per unit, or 0 for no leak
  batch: i32,
  hidden: i32,
  activation: i32, // 0 tanh, 1 relu, 2 sigmoid
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const hb = h + rowH, ab = act + rowH, pb = hPrev + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const y = activate_f32x4(ld(ab + off), activation);
      let hn = y;
      if (leak) {
        const a = ld(leak + off);
        hn = f32x4.add(f32x4.mul(f32x4.sub(one, a), ld(pb + off)), f32x4.mul(a, y));
      }
      v128.store(ab + off, y);
      v128.store(hb + off, hn);
    }
    for (let j = vecEnd; j < hidden; j++) elmanForwardAt(hb, ab, pb, leak, activation, j);
  }
}

/** Scalar twin of f32_elman_forward_step: the test reference. */
export function f32_elman_forward_step_scalar(h: usize, act: usize, hPrev: usize, leak: usize, batch: i32, hidden: i32, activation: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    for (let j = 0; j < hidden; j++) elmanForwardAt(h + rowH, act + rowH, hPrev + rowH, leak, activation, j);
  }
}

// Backward of one step. With d· the gradient of the loss, dh = dL/dh_t summed over all paths:
// (1) h = (1 − α)⊙h_prev + α⊙y:  dy = α⊙dh   (dy = dh without leak)
// (2) y = act(a):                 da = dy⊙act'(a), act' taken from y (see activationGrad)
// (3) the leak's direct path:     dh_prev = (1 − α)⊙dh   (0 without leak); the caller adds da·W_hh
// (4) ∂h/∂α = y − h_prev:          dα += dh⊙(y − h_prev)
// dα is summed over the batch in order b = 0, 1, … in both the SIMD and the scalar code.

@inline function elmanBackwardAt(da: usize, dh: usize, dleak: usize, act: usize, hPrev: usize, leak: usize, activation: i32, j: i32): void {
  const off = <usize>j << 2;
  const dhv = load<f32>(dh + off);
  const y = load<f32>(act + off);
  let dy = dhv;
  let dhp: f32 = 0;
  if (leak) {
    const a = load<f32>(leak + off);
    dy = dhv * a; // (1)
    dhp = (<f32>1 - a) * dhv; // (3)
    if (dleak) store<f32>(dleak + off, load<f32>(dleak + off) + dhv * (y - load<f32>(hPrev + off))); // (4)
  }
  store<f32>(da + off, activationGrad_f32(dy, y, activation)); // (2)
  store<f32>(dh + off, dhp);
}

/**
 * Backward of one step for the whole batch. `dh` is updated in place to the leak's direct
 * part of dL/dh_{t−1}; the caller then accumulates da·W_hh into it.
 */
export function f32_elman_backward_step(
  da: usize, // (B, H) out: dL/d preactivations
  dh: usize, // (B, H) in: dL/dh_t, all paths summed; out: (1 − α)⊙dL/dh_t (0 without leak)
  dleak: usize, // (H) accumulated (+=) dL/dα, or 0 to skip; ignored when leak == 0
  act: usize, // (B, H) y = act(a) from the forward step
  hPrev: usize, // (B, H); read only for dleak
  leak: usize, // (H) α per unit, or 0 for no leak
  batch: i32,
  hidden: i32,
  activation: i32, // 0 tanh, 1 relu, 2 sigmoid
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const dab = da + rowH, dhb = dh + rowH, ab = act + rowH, pb = hPrev + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const dhv = ld(dhb + off);
      const y = ld(ab + off);
      let dy = dhv;
      let dhp = zero;
      if (leak) {
        const a = ld(leak + off);
        dy = f32x4.mul(dhv, a); // (1)
        dhp = f32x4.mul(f32x4.sub(one, a), dhv); // (3)
        if (dleak) v128.store(dleak + off, f32x4.add(ld(dleak + off), f32x4.mul(dhv, f32x4.sub(y, ld(pb + off))))); // (4)
      }
      v128.store(dab + off, activationGrad_f32x4(dy, y, activation)); // (2)
      v128.store(dhb + off, dhp);
    }
    for (let j = vecEnd; j < hidden; j++) elmanBackwardAt(dab, dhb, dleak, ab, pb, leak, activation, j);
  }
}

/** Scalar twin of f32_elman_backward_step: the test reference. */
export function f32_elman_backward_step_scalar(da: usize, dh: usize, dleak: usize, act: usize, hPrev: usize, leak: usize, batch: i32, hidden: i32, activation: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    for (let j = 0; j < hidden; j++) elmanBackwardAt(da + rowH, dh + rowH, dleak, act + rowH, hPrev + rowH, leak, activation, j);
  }
}
