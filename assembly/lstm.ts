// LSTM cell, one time step — forward and backward side by side. PyTorch conventions:
//   gate order i, f, g, o; a row of `gates` is [i | f | g | o], each H wide; the caller has
//   already added x·W_ihᵀ + b_ih + b_hh + h_prev·W_hhᵀ, so `gates` holds preactivations a.
//   i = σ(a_i + w_ci⊙c_prev)   f = σ(a_f + w_cf⊙c_prev)   g = tanh(a_g)
//   c = f⊙c_prev + i⊙g         o = σ(a_o + w_co⊙c)        h = o⊙tanh(c)
// The peephole terms (w_ci, w_cf, w_co: a (3, H) block) are present only when peephole != 0.
import { sigmoid_f32, sigmoid_f32x4, tanh_f32, tanh_f32x4 } from "./activations";

@inline function ld(p: usize): v128 {
  return v128.load(p);
}

@inline function lstmForwardAt(h: usize, c: usize, tanhc: usize, gates: usize, cPrev: usize, peephole: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const g0 = gates + (<usize>j << 2);
  const off = <usize>j << 2;
  const cp = load<f32>(cPrev + off);
  let ai = load<f32>(g0);
  let af = load<f32>(g0 + H4);
  let ao = load<f32>(g0 + 3 * H4);
  if (peephole) {
    ai += load<f32>(peephole + off) * cp;
    af += load<f32>(peephole + H4 + off) * cp;
  }
  const i = sigmoid_f32(ai);
  const f = sigmoid_f32(af);
  const g = tanh_f32(load<f32>(g0 + 2 * H4));
  const cn = f * cp + i * g;
  if (peephole) ao += load<f32>(peephole + 2 * H4 + off) * cn;
  const o = sigmoid_f32(ao);
  const tc = tanh_f32(cn);
  store<f32>(g0, i);
  store<f32>(g0 + H4, f);
  store<f32>(g0 + 2 * H4, g);
  store<f32>(g0 + 3 * H4, o);
  store<f32>(c + off, cn);
  store<f32>(tanhc + off, tc);
  store<f32>(h + off, o * tc);
}

/** Forward of one step for the whole batch, SIMD over hidden units with a scalar tail. */
export function f32_lstm_forward_step(
  h: usize, // (B, H) out: new hidden state
  c: usize, // (B, H) out: new cell state
  tanhc: usize, // (B, H) cache: tanh(c)
  gates: usize, // (B, 4H) in: preactivations; out: activations i, f, g, o
  cPrev: usize, // (B, H)
  peephole: usize, // (3, H) or 0
  batch: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const hb = h + rowH, cb = c + rowH, tb = tanhc + rowH, pb = cPrev + rowH;
    const gb = gates + <usize>b * 4 * H4;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off;
      const cp = ld(pb + off);
      let ai = ld(g0);
      let af = ld(g0 + H4);
      let ao = ld(g0 + 3 * H4);
      if (peephole) {
        ai = f32x4.add(ai, f32x4.mul(ld(peephole + off), cp));
        af = f32x4.add(af, f32x4.mul(ld(peephole + H4 + off), cp));
      }
      const i = sigmoid_f32x4(ai);
      const f = sigmoid_f32x4(af);
      const g = tanh_f32x4(ld(g0 + 2 * H4));
      const cn = f32x4.add(f32x4.mul(f, cp), f32x4.mul(i, g));
      if (peephole) ao = f32x4.add(ao, f32x4.mul(ld(peephole + 2 * H4 + off), cn));
      const o = sigmoid_f32x4(ao);
      const tc = tanh_f32x4(cn);
      v128.store(g0, i);
      v128.store(g0 + H4, f);
      v128.store(g0 + 2 * H4, g);
      v128.store(g0 + 3 * H4, o);
      v128.store(cb + off, cn);
      v128.store(tb + off, tc);
      v128.store(hb + off, f32x4.mul(o, tc));
    }
    for (let j = vecEnd; j < hidden; j++) lstmForwardAt(hb, cb, tb, gb, pb, peephole, hidden, j);
  }
}

/** Scalar twin of f32_lstm_forward_step: the test reference. */
export function f32_lstm_forward_step_scalar(h: usize, c: usize, tanhc: usize, gates: usize, cPrev: usize, peephole: usize, batch: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    for (let j = 0; j < hidden; j++) {
      lstmForwardAt(h + rowH, c + rowH, tanhc + rowH, gates + <usize>b * 4 * H4, cPrev + rowH, peephole, hidden, j);
    }
  }
}

// Backward of one step. With d· the gradient of the loss and a· the preactivations:
// (1) h = o⊙tc, tc = tanh(c):  do = dh⊙tc;  dc += dh⊙o⊙(1 − tc²)
// (2) o = σ(a_o + w_co⊙c):     da_o = do⊙o⊙(1 − o);  dc += da_o⊙w_co;  dw_co += da_o⊙c
// (3) c = f⊙c_prev + i⊙g:      di = dc⊙g;  df = dc⊙c_prev;  dg = dc⊙i;  dc_prev = dc⊙f
// (4) σ' = y(1 − y), tanh' = 1 − y²:  da_i = di⊙i⊙(1 − i);  da_f = df⊙f⊙(1 − f);  da_g = dg⊙(1 − g²)
// (5) peepholes read c_prev:   dc_prev += da_i⊙w_ci + da_f⊙w_cf;  dw_ci += da_i⊙c_prev;  dw_cf += da_f⊙c_prev
// dw_* are summed over the batch in order b = 0, 1, … in both the SIMD and the scalar code.

@inline function lstmBackwardAt(dgates: usize, dc: usize, dpeephole: usize, dh: usize, gates: usize, cPrev: usize, c: usize, tanhc: usize, peephole: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const off = <usize>j << 2;
  const g0 = gates + off;
  const d0 = dgates + off;
  const i = load<f32>(g0), f = load<f32>(g0 + H4), g = load<f32>(g0 + 2 * H4), o = load<f32>(g0 + 3 * H4);
  const tc = load<f32>(tanhc + off);
  const cp = load<f32>(cPrev + off);
  const dhv = load<f32>(dh + off);
  const dao = dhv * tc * o * (1 - o); // (1), (2)
  let dcv = load<f32>(dc + off) + dhv * o * (1 - tc * tc); // (1)
  if (peephole) dcv += dao * load<f32>(peephole + 2 * H4 + off); // (2)
  const dai = dcv * g * i * (1 - i); // (3), (4)
  const daf = dcv * cp * f * (1 - f);
  const dag = dcv * i * (1 - g * g);
  let dcp = dcv * f; // (3)
  if (peephole) {
    dcp += dai * load<f32>(peephole + off) + daf * load<f32>(peephole + H4 + off); // (5)
    store<f32>(dpeephole + off, load<f32>(dpeephole + off) + dai * cp);
    store<f32>(dpeephole + H4 + off, load<f32>(dpeephole + H4 + off) + daf * cp);
    store<f32>(dpeephole + 2 * H4 + off, load<f32>(dpeephole + 2 * H4 + off) + dao * load<f32>(c + off));
  }
  store<f32>(d0, dai);
  store<f32>(d0 + H4, daf);
  store<f32>(d0 + 2 * H4, dag);
  store<f32>(d0 + 3 * H4, dao);
  store<f32>(dc + off, dcp);
}

/** Backward of one step for the whole batch. `dc` is updated in place to dL/dc_{t-1}. */
export function f32_lstm_backward_step(
  dgates: usize, // (B, 4H) out: dL/d preactivations
  dc: usize, // (B, H) in: dL/dc_t from later steps; out: dL/dc_{t-1}
  dpeephole: usize, // (3, H) accumulated (+=); ignored when peephole == 0
  dh: usize, // (B, H) in: dL/dh_t, all paths summed
  gates: usize, // (B, 4H) activations i, f, g, o from the forward step
  cPrev: usize, // (B, H)
  c: usize, // (B, H) the step's cell state (used by the o peephole)
  tanhc: usize, // (B, H) tanh(c)
  peephole: usize, // (3, H) or 0
  batch: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const vecEnd = hidden & ~3;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const gb = gates + <usize>b * 4 * H4, db = dgates + <usize>b * 4 * H4;
    const dcb = dc + rowH, dhb = dh + rowH, pb = cPrev + rowH, cb = c + rowH, tb = tanhc + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off;
      const i = ld(g0), f = ld(g0 + H4), g = ld(g0 + 2 * H4), o = ld(g0 + 3 * H4);
      const tc = ld(tb + off);
      const cp = ld(pb + off);
      const dhv = ld(dhb + off);
      const dao = f32x4.mul(f32x4.mul(f32x4.mul(dhv, tc), o), f32x4.sub(one, o));
      let dcv = f32x4.add(ld(dcb + off), f32x4.mul(f32x4.mul(dhv, o), f32x4.sub(one, f32x4.mul(tc, tc))));
      if (peephole) dcv = f32x4.add(dcv, f32x4.mul(dao, ld(peephole + 2 * H4 + off)));
      const dai = f32x4.mul(f32x4.mul(f32x4.mul(dcv, g), i), f32x4.sub(one, i));
      const daf = f32x4.mul(f32x4.mul(f32x4.mul(dcv, cp), f), f32x4.sub(one, f));
      const dag = f32x4.mul(f32x4.mul(dcv, i), f32x4.sub(one, f32x4.mul(g, g)));
      let dcp = f32x4.mul(dcv, f);
      if (peephole) {
        dcp = f32x4.add(dcp, f32x4.add(f32x4.mul(dai, ld(peephole + off)), f32x4.mul(daf, ld(peephole + H4 + off))));
        v128.store(dpeephole + off, f32x4.add(ld(dpeephole + off), f32x4.mul(dai, cp)));
        v128.store(dpeephole + H4 + off, f32x4.add(ld(dpeephole + H4 + off), f32x4.mul(daf, cp)));
        v128.store(dpeephole + 2 * H4 + off, f32x4.add(ld(dpeephole + 2 * H4 + off), f32x4.mul(dao, ld(cb + off))));
      }
      const d0 = db + off;
      v128.store(d0, dai);
      v128.store(d0 + H4, daf);
      v128.store(d0 + 2 * H4, dag);
      v128.store(d0 + 3 * H4, dao);
      v128.store(dcb + off, dcp);
    }
    for (let j = vecEnd; j < hidden; j++) lstmBackwardAt(db, dcb, dpeephole, dhb, gb, pb, cb, tb, peephole, hidden, j);
  }
}

/** Scalar twin of f32_lstm_backward_step: the test reference. */
export function f32_lstm_backward_step_scalar(dgates: usize, dc: usize, dpeephole: usize, dh: usize, gates: usize, cPrev: usize, c: usize, tanhc: usize, peephole: usize, batch: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const rowH = <usize>b * H4;
    const rowG = <usize>b * 4 * H4;
    for (let j = 0; j < hidden; j++) {
      lstmBackwardAt(dgates + rowG, dc + rowH, dpeephole, dh + rowH, gates + rowG, cPrev + rowH, c + rowH, tanhc + rowH, peephole, hidden, j);
    }
  }
}
