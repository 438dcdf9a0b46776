// Recursive (tree) network kernels: gathering the two children of many nodes side by side,
// scattering their gradients back, and the binary Tree-LSTM cell (Tai et al. 2015, N-ary
// with N = 2) — forward and backward side by side.
//
// f32_gather_pairs(out, src, left, right, n, width)
//   out (n, 2W); src (rows, W); left, right (n) i32 row indices, valid (TypeScript builds them).
//     out[i] = [src[left[i]], src[right[i]]]
// f32_scatter_add_pairs(dsrc, dpairs, left, right, n, width)
//   dsrc (rows, W) accumulated (+=); dpairs (n, 2W).
//     for i = 0 .. n − 1 in order: dsrc[left[i]] += dpairs[i, :W]; dsrc[right[i]] += dpairs[i, W:]
//   (a row that is a child several times gets its gradients in that fixed order).
//
// Binary Tree-LSTM, one node per row; gate order i, f_l, f_r, o, u, each H wide, so a row of
// `gates` is [i | f_l | f_r | o | u]. The caller has already computed the preactivations
// a = W·[h_l; h_r] + b (one GEMM per level and operator). With c_l, c_r the children's cells:
//   i = σ(a_i)  f_l = σ(a_fl)  f_r = σ(a_fr)  o = σ(a_o)  u = tanh(a_u)
//   c = i⊙u + f_l⊙c_l + f_r⊙c_r      h = o⊙tanh(c)
// Each kernel has a `_scalar` twin that gives the same bits.
import { sigmoid_f32, sigmoid_f32x4, tanh_f32, tanh_f32x4 } from "./activations";
import { f32_add, f32_add_scalar, f32_copy, f32_copy_scalar } from "./elementwise";

/** out[i] = [src[left[i]], src[right[i]]] (see the header). */
export function f32_gather_pairs(out: usize, src: usize, left: usize, right: usize, n: i32, width: i32): void {
  const W4 = <usize>width << 2;
  for (let i = 0; i < n; i++) {
    const o = out + <usize>i * 2 * W4;
    f32_copy(o, src + <usize>load<i32>(left + (<usize>i << 2)) * W4, width);
    f32_copy(o + W4, src + <usize>load<i32>(right + (<usize>i << 2)) * W4, width);
  }
}
export function f32_gather_pairs_scalar(out: usize, src: usize, left: usize, right: usize, n: i32, width: i32): void {
  const W4 = <usize>width << 2;
  for (let i = 0; i < n; i++) {
    const o = out + <usize>i * 2 * W4;
    f32_copy_scalar(o, src + <usize>load<i32>(left + (<usize>i << 2)) * W4, width);
    f32_copy_scalar(o + W4, src + <usize>load<i32>(right + (<usize>i << 2)) * W4, width);
  }
}

/** dsrc[left[i]] += dpairs[i, :W]; dsrc[right[i]] += dpairs[i, W:], in order of i (see the header). */
export function f32_scatter_add_pairs(dsrc: usize, dpairs: usize, left: usize, right: usize, n: i32, width: i32): void {
  const W4 = <usize>width << 2;
  for (let i = 0; i < n; i++) {
    const d = dpairs + <usize>i * 2 * W4;
    const l = dsrc + <usize>load<i32>(left + (<usize>i << 2)) * W4;
    const r = dsrc + <usize>load<i32>(right + (<usize>i << 2)) * W4;
    f32_add(l, l, d, width);
    f32_add(r, r, d + W4, width);
  }
}
export function f32_scatter_add_pairs_scalar(dsrc: usize, dpairs: usize, left: usize, right: usize, n: i32, width: i32): void {
  const W4 = <usize>width << 2;
  for (let i = 0; i < n; i++) {
    const d = dpairs + <usize>i * 2 * W4;
    const l = dsrc + <usize>load<i32>(left + (<usize>i << 2)) * W4;
    const r = dsrc + <usize>load<i32>(right + (<usize>i << 2)) * W4;
    f32_add_scalar(l, l, d, width);
    f32_add_scalar(r, r, d + W4, width);
  }
}

@inline function ld(p: usize): v128 {
  return v128.load(p);
}

@inline function treeLstmForwardAt(h: usize, c: usize, tanhc: usize, gates: usize, cPairs: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const off = <usize>j << 2;
  const g0 = gates + off;
  const i = sigmoid_f32(load<f32>(g0));
  const fl = sigmoid_f32(load<f32>(g0 + H4));
  const fr = sigmoid_f32(load<f32>(g0 + 2 * H4));
  const o = sigmoid_f32(load<f32>(g0 + 3 * H4));
  const u = tanh_f32(load<f32>(g0 + 4 * H4));
  const cn = i * u + fl * load<f32>(cPairs + off) + fr * load<f32>(cPairs + H4 + off);
  const tc = tanh_f32(cn);
  store<f32>(g0, i);
  store<f32>(g0 + H4, fl);
  store<f32>(g0 + 2 * H4, fr);
  store<f32>(g0 + 3 * H4, o);
  store<f32>(g0 + 4 * H4, u);
  store<f32>(c + off, cn);
  store<f32>(tanhc + off, tc);
  store<f32>(h + off, o * tc);
}

/** Tree-LSTM forward for n nodes, SIMD over hidden units with a scalar tail. */
export function f32_treelstm_forward(
  h: usize, // (n, H) out
  c: usize, // (n, H) out
  tanhc: usize, // (n, H) cache: tanh(c)
  gates: usize, // (n, 5H) in: preactivations; out: i, f_l, f_r, o, u
  cPairs: usize, // (n, 2H) the children's cells [c_l | c_r]
  n: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const vecEnd = hidden & ~3;
  for (let r = 0; r < n; r++) {
    const rowH = <usize>r * H4;
    const hb = h + rowH, cb = c + rowH, tb = tanhc + rowH;
    const gb = gates + <usize>r * 5 * H4, pb = cPairs + <usize>r * 2 * H4;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off;
      const i = sigmoid_f32x4(ld(g0));
      const fl = sigmoid_f32x4(ld(g0 + H4));
      const fr = sigmoid_f32x4(ld(g0 + 2 * H4));
      const o = sigmoid_f32x4(ld(g0 + 3 * H4));
      const u = tanh_f32x4(ld(g0 + 4 * H4));
      const cn = f32x4.add(f32x4.add(f32x4.mul(i, u), f32x4.mul(fl, ld(pb + off))), f32x4.mul(fr, ld(pb + H4 + off)));
      const tc = tanh_f32x4(cn);
      v128.store(g0, i);
      v128.store(g0 + H4, fl);
      v128.store(g0 + 2 * H4, fr);
      v128.store(g0 + 3 * H4, o);
      v128.store(g0 + 4 * H4, u);
      v128.store(cb + off, cn);
      v128.store(tb + off, tc);
      v128.store(hb + off, f32x4.mul(o, tc));
    }
    for (let j = vecEnd; j < hidden; j++) treeLstmForwardAt(hb, cb, tb, gb, pb, hidden, j);
  }
}

/** Scalar twin of f32_treelstm_forward. */
export function f32_treelstm_forward_scalar(h: usize, c: usize, tanhc: usize, gates: usize, cPairs: usize, n: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let r = 0; r < n; r++) {
    const rowH = <usize>r * H4;
    for (let j = 0; j < hidden; j++) treeLstmForwardAt(h + rowH, c + rowH, tanhc + rowH, gates + <usize>r * 5 * H4, cPairs + <usize>r * 2 * H4, hidden, j);
  }
}

// Backward of a node, from dh and dc (the gradients that reached h and c from the parent):
// (1) h = o⊙tc, tc = tanh(c):        do = dh⊙tc;  dc' = dc + dh⊙o⊙(1 − tc²)
// (2) c = i⊙u + f_l⊙c_l + f_r⊙c_r:   di = dc'⊙u;  du = dc'⊙i;  df_l = dc'⊙c_l;  df_r = dc'⊙c_r;
//                                    dc_l = dc'⊙f_l;  dc_r = dc'⊙f_r
// (3) σ' = y(1 − y), tanh' = 1 − y²: da_i = di⊙i(1 − i), da_fl = df_l⊙f_l(1 − f_l),
//     da_fr = df_r⊙f_r(1 − f_r), da_o = do⊙o(1 − o), da_u = du⊙(1 − u²)

@inline function treeLstmBackwardAt(dgates: usize, dcPairs: usize, dh: usize, dc: usize, gates: usize, cPairs: usize, tanhc: usize, hidden: i32, j: i32): void {
  const H4 = <usize>hidden << 2;
  const off = <usize>j << 2;
  const g0 = gates + off, d0 = dgates + off;
  const i = load<f32>(g0), fl = load<f32>(g0 + H4), fr = load<f32>(g0 + 2 * H4), o = load<f32>(g0 + 3 * H4), u = load<f32>(g0 + 4 * H4);
  const tc = load<f32>(tanhc + off);
  const dhv = load<f32>(dh + off);
  const dao = dhv * tc * o * (1 - o); // (1), (3)
  const dcv = load<f32>(dc + off) + dhv * o * (1 - tc * tc); // (1)
  const cl = load<f32>(cPairs + off), cr = load<f32>(cPairs + H4 + off);
  store<f32>(d0, dcv * u * i * (1 - i)); // (2), (3)
  store<f32>(d0 + H4, dcv * cl * fl * (1 - fl));
  store<f32>(d0 + 2 * H4, dcv * cr * fr * (1 - fr));
  store<f32>(d0 + 3 * H4, dao);
  store<f32>(d0 + 4 * H4, dcv * i * (1 - u * u));
  store<f32>(dcPairs + off, dcv * fl);
  store<f32>(dcPairs + H4 + off, dcv * fr);
}

/** Tree-LSTM backward for n nodes: writes the preactivation gradients and the children's cell gradients. */
export function f32_treelstm_backward(
  dgates: usize, // (n, 5H) out: dL/d preactivations
  dcPairs: usize, // (n, 2H) out: [dL/dc_l | dL/dc_r] (the caller scatters them to the children)
  dh: usize, // (n, H) dL/dh
  dc: usize, // (n, H) dL/dc from the parent
  gates: usize, // (n, 5H) activations from the forward
  cPairs: usize, // (n, 2H) the children's cells
  tanhc: usize, // (n, H)
  n: i32,
  hidden: i32,
): void {
  const H4 = <usize>hidden << 2;
  const one = f32x4.splat(1);
  const vecEnd = hidden & ~3;
  for (let r = 0; r < n; r++) {
    const rowH = <usize>r * H4;
    const gb = gates + <usize>r * 5 * H4, db = dgates + <usize>r * 5 * H4;
    const pb = cPairs + <usize>r * 2 * H4, dpb = dcPairs + <usize>r * 2 * H4;
    const dhb = dh + rowH, dcb = dc + rowH, tb = tanhc + rowH;
    for (let j = 0; j < vecEnd; j += 4) {
      const off = <usize>j << 2;
      const g0 = gb + off, d0 = db + off;
      const i = ld(g0), fl = ld(g0 + H4), fr = ld(g0 + 2 * H4), o = ld(g0 + 3 * H4), u = ld(g0 + 4 * H4);
      const tc = ld(tb + off);
      const dhv = ld(dhb + off);
      const dao = f32x4.mul(f32x4.mul(f32x4.mul(dhv, tc), o), f32x4.sub(one, o));
      const dcv = f32x4.add(ld(dcb + off), f32x4.mul(f32x4.mul(dhv, o), f32x4.sub(one, f32x4.mul(tc, tc))));
      const cl = ld(pb + off), cr = ld(pb + H4 + off);
      v128.store(d0, f32x4.mul(f32x4.mul(f32x4.mul(dcv, u), i), f32x4.sub(one, i)));
      v128.store(d0 + H4, f32x4.mul(f32x4.mul(f32x4.mul(dcv, cl), fl), f32x4.sub(one, fl)));
      v128.store(d0 + 2 * H4, f32x4.mul(f32x4.mul(f32x4.mul(dcv, cr), fr), f32x4.sub(one, fr)));
      v128.store(d0 + 3 * H4, dao);
      v128.store(d0 + 4 * H4, f32x4.mul(f32x4.mul(dcv, i), f32x4.sub(one, f32x4.mul(u, u))));
      v128.store(dpb + off, f32x4.mul(dcv, fl));
      v128.store(dpb + H4 + off, f32x4.mul(dcv, fr));
    }
    for (let j = vecEnd; j < hidden; j++) treeLstmBackwardAt(db, dpb, dhb, dcb, gb, pb, tb, hidden, j);
  }
}

/** Scalar twin of f32_treelstm_backward. */
export function f32_treelstm_backward_scalar(dgates: usize, dcPairs: usize, dh: usize, dc: usize, gates: usize, cPairs: usize, tanhc: usize, n: i32, hidden: i32): void {
  const H4 = <usize>hidden << 2;
  for (let r = 0; r < n; r++) {
    const rowH = <usize>r * H4;
    treeLstmRow(dgates + <usize>r * 5 * H4, dcPairs + <usize>r * 2 * H4, dh + rowH, dc + rowH, gates + <usize>r * 5 * H4, cPairs + <usize>r * 2 * H4, tanhc + rowH, hidden);
  }
}

@inline function treeLstmRow(dgates: usize, dcPairs: usize, dh: usize, dc: usize, gates: usize, cPairs: usize, tanhc: usize, hidden: i32): void {
  for (let j = 0; j < hidden; j++) treeLstmBackwardAt(dgates, dcPairs, dh, dc, gates, cPairs, tanhc, hidden, j);
}
