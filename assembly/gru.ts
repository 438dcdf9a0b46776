// GRU cell, one time step — forward and backward side by side. PyTorch conventions:
//   gate order r, z, n; a row of `gates` is [r | z | n], each H wide, as the rows of
//   weight_ih [3H, I], weight_hh [3H, H], bias_ih [3H], bias_hh [3H].
// Two forms over the same parameters:
//
// Reset after the hidden product (PyTorch; Keras reset_after=True), one kernel per step.
//   The caller gives the input projection gates = x·W_ihᵀ + b_ih and, separately, the hidden
//   projection hproj = h_prev·W_hhᵀ + b_hh, because r multiplies only its n part (b_hn included):
//   r = σ(g_r + hp_r)   z = σ(g_z + hp_z)   n = tanh(g_n + r⊙hp_n)   h = (1 − z)⊙n + z⊙h_prev
//
// Reset before the hidden product (Cho et al. 2014; Keras reset_after=False):
//   n = tanh(W_in x + b_in + W_hn (r⊙h_prev) + b_hn) needs r before the n part of the hidden
//   product, so a step is two kernels around a GEMM; the caller accumulates every projection
//   (and both biases) into `gates`, which hold preactivations a:
//   f32_gru_reset_gate_step:  r = σ(a_r)   z = σ(a_z)   rh = r⊙h_prev
//   caller:                   a_n += rh·W_hnᵀ
//   f32_gru_candidate_step:   n = tanh(a_n)   h = (1 − z)⊙n + z⊙h_prev
//
// Every kernel runs SIMD over hidden units with a scalar tail; the tail and the `_scalar`
// twin share one @inline per-element function performing the same f32 operations in the
// same order as a SIMD lane, so the two agree to the bit.
import { sigmoid_f32, sigmoid_f32x4, tanh_f32, tanh_f32x4 } from "./activations";

@inline function ld(p: usize): v128 {
  return v128.load(p);
}

// ---------------------------------------------------------------------------------------
// Reset after: forward

@inline function gruForwardAt(h: usize, gates: usize, hn: usize, hproj: usize, hPrev: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const off = <usize>j << 2;
  const g0 = gates + off;
  const p0 = hproj + off;
  const r = sigmoid_f32(load<f32>(g0) + load<f32>(p0));
  const z = sigmoid_f32(load<f32>(g0 + H4) + load<f32>(p0 + H4));
  const hnv = load<f32>(p0 + 2 * H4);
  const n = tanh_f32(load<f32>(g0 + 2 * H4) + r * hnv);
  const hp = load<f32>(hPrev + off);
  store<f32>(g0, r);
  store<f32>(g0 + H4, z);
  store<f32>(g0 + 2 * H4, n);
  store<f32>(hn + off, hnv);
  store<f32>(h + off, (1 - z) * n + z * hp);
}

/** Forward of one step (reset after the hidden product) for the whole batch. */
export function f32_gru_forward_step(
  h: usize, // (B, H) out: new hidden state
  gates: usize, // (B, 3H) in: input projection x·W_ihᵀ + b_ih; out: activations r, z, n
  hn: usize, // (B, H) cache: hp_n = h_prev·W_hnᵀ + b_hn, the factor r multiplies
  hproj: usize, // (B, 3H) in: hidden projection h_prev·W_hhᵀ + b_hh
  hPrev: usize, // (B, H)
  batch: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 3 * H4;
    const hb = h + rowH, nb = hn + rowH, pb = hPrev + rowH;
    const gb = gates + rowG, qb = hproj + rowG;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off;
      const p0 = qb + off;
      const r = sigmoid_f32x4(f32x4.add(ld(g0), ld(p0)));
      const z = sigmoid_f32x4(f32x4.add(ld(g0 + H4), ld(p0 + H4)));
      const hnv = ld(p0 + 2 * H4);
      const n = tanh_f32x4(f32x4.add(ld(g0 + 2 * H4), f32x4.mul(r, hnv)));
      const hp = ld(pb + off);
      v128.store(g0, r);
      v128.store(g0 + H4, z);
      v128.store(g0 + 2 * H4, n);
      v128.store(nb + off, hnv);
      v128.store(hb + off, f32x4.add(f32x4.mul(f32x4.sub(one, z), n), f32x4.mul(z, hp)));
    }
    for (let j = vecEnd; j < hidden; j++) gruForwardAt(hb, gb, nb, qb, pb, hidden, j);
  }
}

/** Scalar twin of f32_gru_forward_step: the test reference. */
export function f32_gru_forward_step_scalar(h: usize, gates: usize, hn: usize, hproj: usize, hPrev: usize, batch: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 3 * H4;
    for (let j = 0; j < hidden; j++) gruForwardAt(h + rowH, gates + rowG, hn + rowH, hproj + rowG, hPrev + rowH, hidden, j);
  }
}

// Reset after: backward. With d· the gradient of the loss, a_n = g_n + r⊙hp_n:
// (1) h = (1 − z)⊙n + z⊙h_prev:  dn = dh⊙(1 − z);  dz = dh⊙(h_prev − n);  dh_prev = dh⊙z + …
// (2) n = tanh(a_n), tanh' = 1 − n²:  da_n = dn⊙(1 − n²)
// (3) a_n = g_n + r⊙hp_n:  dg_n = da_n;  dhp_n = da_n⊙r;  dr = da_n⊙hp_n
// (4) σ' = y(1 − y):  da_r = dr⊙r⊙(1 − r);  da_z = dz⊙z⊙(1 − z)
// (5) r and z see the plain sum of both projections: dgates = [da_r, da_z, da_n],
//     dhproj = [da_r, da_z, da_n⊙r]; the caller adds dhproj·W_hh to dh_prev.

@inline function gruBackwardAt(dgates: usize, dhproj: usize, dh: usize, gates: usize, hn: usize, hPrev: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const off = <usize>j << 2;
  const g0 = gates + off;
  const r = load<f32>(g0), z = load<f32>(g0 + H4), n = load<f32>(g0 + 2 * H4);
  const hp = load<f32>(hPrev + off);
  const dhv = load<f32>(dh + off);
  const dan = dhv * (1 - z) * (1 - n * n); // (1), (2)
  const daz = dhv * (hp - n) * z * (1 - z); // (1), (4)
  const dar = dan * load<f32>(hn + off) * r * (1 - r); // (3), (4)
  const d0 = dgates + off;
  const q0 = dhproj + off;
  store<f32>(d0, dar); // (5)
  store<f32>(d0 + H4, daz);
  store<f32>(d0 + 2 * H4, dan);
  store<f32>(q0, dar);
  store<f32>(q0 + H4, daz);
  store<f32>(q0 + 2 * H4, dan * r); // (3)
  store<f32>(dh + off, dhv * z); // (1)
}

/** Backward of one step (reset after). `dh` is left holding the direct term dh⊙z of dL/dh_{t-1}. */
export function f32_gru_backward_step(
  dgates: usize, // (B, 3H) out: dL/d input projection
  dhproj: usize, // (B, 3H) out: dL/d hidden projection
  dh: usize, // (B, H) in: dL/dh_t, all paths summed; out: dh⊙z (the caller adds dhproj·W_hh)
  gates: usize, // (B, 3H) activations r, z, n from the forward step
  hn: usize, // (B, H) hp_n from the forward step
  hPrev: usize, // (B, H)
  batch: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 3 * H4;
    const gb = gates + rowG, db = dgates + rowG, qb = dhproj + rowG;
    const dhb = dh + rowH, nb = hn + rowH, pb = hPrev + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off;
      const r = ld(g0), z = ld(g0 + H4), n = ld(g0 + 2 * H4);
      const hp = ld(pb + off);
      const dhv = ld(dhb + off);
      const dan = f32x4.mul(f32x4.mul(dhv, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
      const daz = f32x4.mul(f32x4.mul(f32x4.mul(dhv, f32x4.sub(hp, n)), z), f32x4.sub(one, z));
      const dar = f32x4.mul(f32x4.mul(f32x4.mul(dan, ld(nb + off)), r), f32x4.sub(one, r));
      const d0 = db + off;
      const q0 = qb + off;
      v128.store(d0, dar);
      v128.store(d0 + H4, daz);
      v128.store(d0 + 2 * H4, dan);
      v128.store(q0, dar);
      v128.store(q0 + H4, daz);
      v128.store(q0 + 2 * H4, f32x4.mul(dan, r));
      v128.store(dhb + off, f32x4.mul(dhv, z));
    }
    for (let j = vecEnd; j < hidden; j++) gruBackwardAt(db, qb, dhb, gb, nb, pb, hidden, j);
  }
}

/** Scalar twin of f32_gru_backward_step: the test reference. */
export function f32_gru_backward_step_scalar(dgates: usize, dhproj: usize, dh: usize, gates: usize, hn: usize, hPrev: usize, batch: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 3 * H4;
    for (let j = 0; j < hidden; j++) gruBackwardAt(dgates + rowG, dhproj + rowG, dh + rowH, gates + rowG, hn + rowH, hPrev + rowH, hidden, j);
  }
}

// ---------------------------------------------------------------------------------------
// Reset before: forward, two kernels around the caller's a_n += rh·W_hnᵀ

@inline function gruResetGateAt(gates: usize, rh: usize, hPrev: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const off = <usize>j << 2;
  const g0 = gates + off;
  const r = sigmoid_f32(load<f32>(g0));
  store<f32>(g0, r);
  store<f32>(g0 + H4, sigmoid_f32(load<f32>(g0 + H4)));
  store<f32>(rh + off, r * load<f32>(hPrev + off));
}

/** First half of a reset-before step: the gates r, z and the reset state r⊙h_prev. */
export function f32_gru_reset_gate_step(
  gates: usize, // (B, 3H) in: preactivations a_r, a_z (all projections summed); out: r, z. The n part is untouched.
  rh: usize, // (B, H) out and cache: r⊙h_prev, the input of the n part of the hidden product
  hPrev: usize, // (B, H)
  batch: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const gb = gates + <usize>b * 3 * H4, rb = rh + rowH, pb = hPrev + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off;
      const r = sigmoid_f32x4(ld(g0));
      v128.store(g0, r);
      v128.store(g0 + H4, sigmoid_f32x4(ld(g0 + H4)));
      v128.store(rb + off, f32x4.mul(r, ld(pb + off)));
    }
    for (let j = vecEnd; j < hidden; j++) gruResetGateAt(gb, rb, pb, hidden, j);
  }
}

/** Scalar twin of f32_gru_reset_gate_step: the test reference. */
export function f32_gru_reset_gate_step_scalar(gates: usize, rh: usize, hPrev: usize, batch: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    for (let j = 0; j < hidden; j++) gruResetGateAt(gates + <usize>b * 3 * H4, rh + rowH, hPrev + rowH, hidden, j);
  }
}

@inline function gruCandidateAt(h: usize, gates: usize, hPrev: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const off = <usize>j << 2;
  const g0 = gates + off;
  const z = load<f32>(g0 + H4);
  const n = tanh_f32(load<f32>(g0 + 2 * H4));
  store<f32>(g0 + 2 * H4, n);
  store<f32>(h + off, (1 - z) * n + z * load<f32>(hPrev + off));
}

/** Second half of a reset-before step: the candidate n and the new state. */
export function f32_gru_candidate_step(
  h: usize, // (B, H) out: new hidden state
  gates: usize, // (B, 3H) in: r, z (activations) and a_n (preactivation); out: a_n replaced by n
  hPrev: usize, // (B, H)
  batch: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const hb = h + rowH, gb = gates + <usize>b * 3 * H4, pb = hPrev + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off;
      const z = ld(g0 + H4);
      const n = tanh_f32x4(ld(g0 + 2 * H4));
      v128.store(g0 + 2 * H4, n);
      v128.store(hb + off, f32x4.add(f32x4.mul(f32x4.sub(one, z), n), f32x4.mul(z, ld(pb + off))));
    }
    for (let j = vecEnd; j < hidden; j++) gruCandidateAt(hb, gb, pb, hidden, j);
  }
}

/** Scalar twin of f32_gru_candidate_step: the test reference. */
export function f32_gru_candidate_step_scalar(h: usize, gates: usize, hPrev: usize, batch: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    for (let j = 0; j < hidden; j++) gruCandidateAt(h + rowH, gates + <usize>b * 3 * H4, hPrev + rowH, hidden, j);
  }
}

// Reset before: backward, two kernels around the caller's drh = da_n·W_hn. With rh = r⊙h_prev:
// (1) h = (1 − z)⊙n + z⊙h_prev:  dn = dh⊙(1 − z);  dz = dh⊙(h_prev − n);  dh_prev = dh⊙z + …
// (2) σ' = y(1 − y), tanh' = 1 − y²:  da_n = dn⊙(1 − n²);  da_z = dz⊙z⊙(1 − z)
// (3) a_n = … + rh·W_hnᵀ:  drh = da_n·W_hn  (the caller's GEMM)
// (4) rh = r⊙h_prev:  dr = drh⊙h_prev;  dh_prev += drh⊙r
// (5) da_r = dr⊙r⊙(1 − r)
// Every projection enters a as a plain sum, so dgates = [da_r, da_z, da_n] is the gradient of
// both the input and the hidden projection; the caller adds [da_r, da_z]·W_h{r,z} to dh_prev.

@inline function gruCandidateBackwardAt(dgates: usize, dh: usize, gates: usize, hPrev: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const off = <usize>j << 2;
  const g0 = gates + off;
  const z = load<f32>(g0 + H4), n = load<f32>(g0 + 2 * H4);
  const hp = load<f32>(hPrev + off);
  const dhv = load<f32>(dh + off);
  store<f32>(dgates + off + H4, dhv * (hp - n) * z * (1 - z)); // (1), (2)
  store<f32>(dgates + off + 2 * H4, dhv * (1 - z) * (1 - n * n)); // (1), (2)
  store<f32>(dh + off, dhv * z); // (1)
}

/** Backward of the candidate half: da_z, da_n; `dh` is left holding the direct term dh⊙z. */
export function f32_gru_candidate_backward_step(
  dgates: usize, // (B, 3H) out: da_z, da_n (the r part is written by f32_gru_reset_gate_backward_step)
  dh: usize, // (B, H) in: dL/dh_t, all paths summed; out: dh⊙z
  gates: usize, // (B, 3H) activations r, z, n from the forward step
  hPrev: usize, // (B, H)
  batch: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 3 * H4;
    const gb = gates + rowG, db = dgates + rowG, dhb = dh + rowH, pb = hPrev + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off;
      const z = ld(g0 + H4), n = ld(g0 + 2 * H4);
      const hp = ld(pb + off);
      const dhv = ld(dhb + off);
      v128.store(db + off + H4, f32x4.mul(f32x4.mul(f32x4.mul(dhv, f32x4.sub(hp, n)), z), f32x4.sub(one, z)));
      v128.store(db + off + 2 * H4, f32x4.mul(f32x4.mul(dhv, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n))));
      v128.store(dhb + off, f32x4.mul(dhv, z));
    }
    for (let j = vecEnd; j < hidden; j++) gruCandidateBackwardAt(db, dhb, gb, pb, hidden, j);
  }
}

/** Scalar twin of f32_gru_candidate_backward_step: the test reference. */
export function f32_gru_candidate_backward_step_scalar(dgates: usize, dh: usize, gates: usize, hPrev: usize, batch: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 3 * H4;
    for (let j = 0; j < hidden; j++) gruCandidateBackwardAt(dgates + rowG, dh + rowH, gates + rowG, hPrev + rowH, hidden, j);
  }
}

@inline function gruResetGateBackwardAt(dgates: usize, dh: usize, drh: usize, gates: usize, hPrev: usize, j: i32): void {
  const off = <usize>j << 2;
  const r = load<f32>(gates + off);
  const drhv = load<f32>(drh + off);
  store<f32>(dgates + off, drhv * load<f32>(hPrev + off) * r * (1 - r)); // (4), (5)
  store<f32>(dh + off, load<f32>(dh + off) + drhv * r); // (4)
}

/** Backward of the reset-gate half: da_r, and dh += drh⊙r. */
export function f32_gru_reset_gate_backward_step(
  dgates: usize, // (B, 3H) out: da_r (the z and n parts are left as they are)
  dh: usize, // (B, H) accumulated (+=): drh⊙r
  drh: usize, // (B, H) in: dL/d(r⊙h_prev) = da_n·W_hn
  gates: usize, // (B, 3H) activations r, z, n from the forward step
  hPrev: usize, // (B, H)
  batch: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 3 * H4;
    const gb = gates + rowG, db = dgates + rowG, dhb = dh + rowH, rb = drh + rowH, pb = hPrev + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const r = ld(gb + off);
      const drhv = ld(rb + off);
      v128.store(db + off, f32x4.mul(f32x4.mul(f32x4.mul(drhv, ld(pb + off)), r), f32x4.sub(one, r)));
      v128.store(dhb + off, f32x4.add(ld(dhb + off), f32x4.mul(drhv, r)));
    }
    for (let j = vecEnd; j < hidden; j++) gruResetGateBackwardAt(db, dhb, rb, gb, pb, j);
  }
}

/** Scalar twin of f32_gru_reset_gate_backward_step: the test reference. */
export function f32_gru_reset_gate_backward_step_scalar(dgates: usize, dh: usize, drh: usize, gates: usize, hPrev: usize, batch: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 3 * H4;
    for (let j = 0; j < hidden; j++) gruResetGateBackwardAt(dgates + rowG, dh + rowH, drh + rowH, gates + rowG, hPrev + rowH, j);
  }
}
