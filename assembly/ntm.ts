// Neural Turing machine kernels (Graves et al. 2014): the head parameters, the four stages of
// addressing, and the read and the erase/add write — each forward with its backward beside
// it. One call handles one head for a batch of B samples, each with its own memory (N, M).
//
// Head parameters, from the raw controller outputs z (one head's columns of a row of stride ldz):
//   [ key (M) | β | g | shift (3) | γ | erase (M) | add (M) ]   (erase and add: write head only)
//   k = tanh(z_k)   β = softplus(z_β)   g = σ(z_g)   s = softmax(z_s)   γ = 1 + softplus(z_γ)
//   e = σ(z_e)      a = tanh(z_a)
// Addressing, for one head with the previous weighting w_prev (B, N):
//   content:       K_i = k·M_i / (‖k‖·‖M_i‖ + ε_c),   w^c = softmax_i(β·K_i)
//   interpolation: w^g = g·w^c + (1 − g)·w_prev
//   shift:         w̃_i = s_{−1}·w^g_{i+1} + s_0·w^g_i + s_{+1}·w^g_{i−1}   (indices mod N; s stored
//                  as [s_{−1}, s_0, s_{+1}]: s_{+1} moves the focus one slot forward)
//   sharpening:    w_i = (w̃_i + ε_s)^γ / Σ_j (w̃_j + ε_s)^γ, computed as softmax_i(γ·log(w̃_i + ε_s))
// Read:  r_j = Σ_i w_i·M_ij.   Write:  M_ij = M'_ij·(1 − w_i·e_j) + w_i·a_j  (M' the memory before).
//
// Conventions: pointers to float32 arrays laid out as noted, (B, …) row-major; sizes in elements.
// A backward writes (=) the gradient of the stage's main input and ADDS (+=) into the others
// (head parameters, memory, previous weighting), as marked at each kernel. Every softmax is
// taken after subtracting the row's maximum; exp is activations.ts' exp_f32, log is
// AssemblyScript's own float32 log (compiled into the module: the same bits in every runtime).
// The stages over N (softmaxes, interpolation, shift, sharpening) are scalar in both forms —
// a few hundred operations per head and sample; the stages over N·M (similarity, read,
// write) run SIMD over M with a scalar tail, and each such kernel has a `_scalar` twin that
// gives the same bits (dot products over M sum four lane partials, combined as
// (s0 + s1) + (s2 + s3), then the tail, in both forms).
import { exp_f32, sigmoid_f32, tanh_f32 } from "./activations";

const COS_EPS: f32 = 1e-8;
const SHARPEN_EPS: f32 = 1e-12;

// ---------------------------------------------------------------------------------------
// Dot products over M in the fixed lane order, SIMD and scalar.

@inline function dot_simd(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize>j << 2)), v128.load(b + (<usize>j << 2))));
  let s = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return s;
}

@inline function dot_lanes(a: usize, b: usize, n: i32): f32 {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    s0 = s0 + load<f32>(a + o) * load<f32>(b + o);
    s1 = s1 + load<f32>(a + o, 4) * load<f32>(b + o, 4);
    s2 = s2 + load<f32>(a + o, 8) * load<f32>(b + o, 8);
    s3 = s3 + load<f32>(a + o, 12) * load<f32>(b + o, 12);
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return s;
}

/** y += alpha·x + beta·z over n (SIMD; a product, a product, two sums, in that order). */
@inline function axpbz_simd(y: usize, alpha: f32, x: usize, beta: f32, z: usize, n: i32): void {
  const a = f32x4.splat(alpha), b = f32x4.splat(beta);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.add(f32x4.mul(a, v128.load(x + o)), f32x4.mul(b, v128.load(z + o)))));
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(y + o, load<f32>(y + o) + (alpha * load<f32>(x + o) + beta * load<f32>(z + o)));
  }
}

@inline function axpbz_scalar(y: usize, alpha: f32, x: usize, beta: f32, z: usize, n: i32): void {
  for (let j = 0; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(y + o, load<f32>(y + o) + (alpha * load<f32>(x + o) + beta * load<f32>(z + o)));
  }
}

/** out = softmax(x) over n, in place allowed (x may be out). */
@inline function softmax_row(out: usize, x: usize, n: i32): void {
  let m = load<f32>(x);
  for (let i = 1; i < n; i++) m = max<f32>(m, load<f32>(x + (<usize>i << 2)));
  let s: f32 = 0;
  for (let i = 0; i < n; i++) {
    const e = exp_f32(load<f32>(x + (<usize>i << 2)) - m);
    store<f32>(out + (<usize>i << 2), e);
    s += e;
  }
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), load<f32>(out + (<usize>i << 2)) / s);
}

/** softplus(z) = max(z, 0) + log(1 + exp(−|z|)). */
@inline function softplus_f32(z: f32): f32 {
  return max<f32>(z, 0) + Mathf.log(<f32>1 + exp_f32(-abs<f32>(z)));
}

// ---------------------------------------------------------------------------------------
// Head parameters

/**
 * Activates one head's raw outputs for B samples (see the header). erase and add are 0 for a
 * read head (its z has M + 6 columns; a write head's has 3M + 6).
 */
export function f32_ntm_head_forward(
  key: usize, // (B, M) out
  beta: usize, // (B) out
  gate: usize, // (B) out
  shift: usize, // (B, 3) out
  gamma: usize, // (B) out
  erase: usize, // (B, M) out, or 0
  add: usize, // (B, M) out, or 0
  z: usize, // row b at z + b·ldz: the head's raw columns
  ldz: i32,
  batch: i32,
  width: i32, // M
): void {
  const M4 = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    const zb = z + <usize>b * (<usize>ldz << 2);
    for (let j = 0; j < width; j++) store<f32>(key + <usize>b * M4 + (<usize>j << 2), tanh_f32(load<f32>(zb + (<usize>j << 2))));
    const p = zb + M4;
    store<f32>(beta + (<usize>b << 2), softplus_f32(load<f32>(p)));
    store<f32>(gate + (<usize>b << 2), sigmoid_f32(load<f32>(p, 4)));
    softmax_row(shift + <usize>b * 12, p + 8, 3);
    store<f32>(gamma + (<usize>b << 2), <f32>1 + softplus_f32(load<f32>(p, 20)));
    if (erase) {
      const ze = p + 24, za = ze + M4;
      for (let j = 0; j < width; j++) {
        store<f32>(erase + <usize>b * M4 + (<usize>j << 2), sigmoid_f32(load<f32>(ze + (<usize>j << 2))));
        store<f32>(add + <usize>b * M4 + (<usize>j << 2), tanh_f32(load<f32>(za + (<usize>j << 2))));
      }
    }
  }
}

// Backward: dz from the gradients of the activated parameters, with
// tanh' = 1 − y², σ' = y(1 − y), softplus'(z) = σ(z), and the softmax's dz_k = s_k(ds_k − Σ_j s_j ds_j).

/** dz (written, the head's columns of rows of stride ldz) from the activated parameters' gradients. */
export function f32_ntm_head_backward(
  dz: usize, // row b at dz + b·ldz, out
  ldz: i32,
  dkey: usize, dbeta: usize, dgate: usize, dshift: usize, dgamma: usize, derase: usize, dadd: usize, // like the forward's outputs
  z: usize, // the raw outputs (for softplus')
  key: usize, gate: usize, shift: usize, erase: usize, add: usize, // the forward's outputs
  batch: i32,
  width: i32,
): void {
  const M4 = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    const zb = z + <usize>b * (<usize>ldz << 2), db = dz + <usize>b * (<usize>ldz << 2);
    for (let j = 0; j < width; j++) {
      const o = <usize>b * M4 + (<usize>j << 2);
      const k = load<f32>(key + o);
      store<f32>(db + (<usize>j << 2), load<f32>(dkey + o) * (<f32>1 - k * k));
    }
    const p = zb + M4, dp = db + M4;
    store<f32>(dp, load<f32>(dbeta + (<usize>b << 2)) * sigmoid_f32(load<f32>(p)));
    const g = load<f32>(gate + (<usize>b << 2));
    store<f32>(dp, load<f32>(dgate + (<usize>b << 2)) * (g * (<f32>1 - g)), 4);
    const s = shift + <usize>b * 12, ds = dshift + <usize>b * 12;
    const c = load<f32>(s) * load<f32>(ds) + load<f32>(s, 4) * load<f32>(ds, 4) + load<f32>(s, 8) * load<f32>(ds, 8);
    for (let q = 0; q < 3; q++) store<f32>(dp + 8 + (<usize>q << 2), load<f32>(s + (<usize>q << 2)) * (load<f32>(ds + (<usize>q << 2)) - c));
    store<f32>(dp, load<f32>(dgamma + (<usize>b << 2)) * sigmoid_f32(load<f32>(p, 20)), 20);
    if (erase) {
      for (let j = 0; j < width; j++) {
        const o = <usize>b * M4 + (<usize>j << 2);
        const e = load<f32>(erase + o), a = load<f32>(add + o);
        store<f32>(dp + 24 + (<usize>j << 2), load<f32>(derase + o) * (e * (<f32>1 - e)));
        store<f32>(dp + 24 + M4 + (<usize>j << 2), load<f32>(dadd + o) * (<f32>1 - a * a));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Content addressing

@inline function contentForward(wc: usize, sim: usize, key: usize, beta: usize, mem: usize, batch: i32, slots: i32, width: i32, simd: bool): void {
  const N4 = <usize>slots << 2, M4 = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    const kb = key + <usize>b * M4, mb = mem + <usize>b * N4 * <usize>width;
    const sb = sim + <usize>b * N4, wb = wc + <usize>b * N4;
    const kn = Mathf.sqrt(simd ? dot_simd(kb, kb, width) : dot_lanes(kb, kb, width));
    const bt = load<f32>(beta + (<usize>b << 2));
    for (let i = 0; i < slots; i++) {
      const mi = mb + <usize>i * M4;
      const u = simd ? dot_simd(kb, mi, width) : dot_lanes(kb, mi, width);
      const mn = Mathf.sqrt(simd ? dot_simd(mi, mi, width) : dot_lanes(mi, mi, width));
      const K = u / (kn * mn + COS_EPS);
      store<f32>(sb + (<usize>i << 2), K);
      store<f32>(wb + (<usize>i << 2), bt * K);
    }
    softmax_row(wb, wb, slots);
  }
}

/** w^c = softmax(β·cos(k, M_i)) for B samples (see the header); caches the similarities. */
export function f32_ntm_content_forward(
  wc: usize, // (B, N) out
  sim: usize, // (B, N) out: K_i, the cache backward reads
  key: usize, // (B, M)
  beta: usize, // (B)
  mem: usize, // (B, N, M)
  batch: i32,
  slots: i32,
  width: i32,
): void {
  contentForward(wc, sim, key, beta, mem, batch, slots, width, true);
}
export function f32_ntm_content_forward_scalar(wc: usize, sim: usize, key: usize, beta: usize, mem: usize, batch: i32, slots: i32, width: i32): void {
  contentForward(wc, sim, key, beta, mem, batch, slots, width, false);
}

// Backward, with D_i = ‖k‖·‖M_i‖ + ε_c and u_i = k·M_i (recomputed):
// (1) softmax:  dz_i = w^c_i·(dw^c_i − Σ_j w^c_j·dw^c_j)
// (2) z = β·K:  dβ += Σ_i dz_i·K_i;  dK_i = β·dz_i
// (3) K_i = u_i / D_i:
//     dk   += dK_i·(M_i / D_i − u_i·‖M_i‖ / (D_i²·‖k‖) · k)
//     dM_i += dK_i·(k / D_i − u_i·‖k‖ / (D_i²·‖M_i‖) · M_i)
//     (the second term is left out where a norm is 0: there the similarity is 0 around it)

@inline function contentBackward(dkey: usize, dbeta: usize, dmem: usize, dwc: usize, wc: usize, sim: usize, key: usize, beta: usize, mem: usize, batch: i32, slots: i32, width: i32, simd: bool): void {
  const N4 = <usize>slots << 2, M4 = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    const kb = key + <usize>b * M4, dkb = dkey + <usize>b * M4;
    const mb = mem + <usize>b * N4 * <usize>width, dmb = dmem + <usize>b * N4 * <usize>width;
    const wb = wc + <usize>b * N4, dwb = dwc + <usize>b * N4, sb = sim + <usize>b * N4;
    const kn = Mathf.sqrt(simd ? dot_simd(kb, kb, width) : dot_lanes(kb, kb, width));
    const bt = load<f32>(beta + (<usize>b << 2));
    let c: f32 = 0;
    for (let i = 0; i < slots; i++) c += load<f32>(wb + (<usize>i << 2)) * load<f32>(dwb + (<usize>i << 2));
    let db: f32 = 0;
    for (let i = 0; i < slots; i++) {
      const dzi = load<f32>(wb + (<usize>i << 2)) * (load<f32>(dwb + (<usize>i << 2)) - c); // (1)
      db += dzi * load<f32>(sb + (<usize>i << 2)); // (2)
      const dK = bt * dzi;
      const mi = mb + <usize>i * M4;
      const u = simd ? dot_simd(kb, mi, width) : dot_lanes(kb, mi, width);
      const mn = Mathf.sqrt(simd ? dot_simd(mi, mi, width) : dot_lanes(mi, mi, width));
      const D = kn * mn + COS_EPS;
      const q = dK / D;
      const r = (dK * u) / (D * D); // (3)
      const toK: f32 = kn > 0 ? -(r * mn) / kn : 0;
      const toM: f32 = mn > 0 ? -(r * kn) / mn : 0;
      if (simd) {
        axpbz_simd(dkb, q, mi, toK, kb, width);
        axpbz_simd(dmb + <usize>i * M4, q, kb, toM, mi, width);
      } else {
        axpbz_scalar(dkb, q, mi, toK, kb, width);
        axpbz_scalar(dmb + <usize>i * M4, q, kb, toM, mi, width);
      }
    }
    store<f32>(dbeta + (<usize>b << 2), load<f32>(dbeta + (<usize>b << 2)) + db);
  }
}

/** Gradients of content addressing: dkey, dbeta and dmem ADDED (+=) from dwc. */
export function f32_ntm_content_backward(
  dkey: usize, // (B, M) +=
  dbeta: usize, // (B) +=
  dmem: usize, // (B, N, M) +=
  dwc: usize, // (B, N)
  wc: usize, // (B, N) from the forward
  sim: usize, // (B, N) from the forward
  key: usize, // (B, M)
  beta: usize, // (B)
  mem: usize, // (B, N, M)
  batch: i32,
  slots: i32,
  width: i32,
): void {
  contentBackward(dkey, dbeta, dmem, dwc, wc, sim, key, beta, mem, batch, slots, width, true);
}
export function f32_ntm_content_backward_scalar(dkey: usize, dbeta: usize, dmem: usize, dwc: usize, wc: usize, sim: usize, key: usize, beta: usize, mem: usize, batch: i32, slots: i32, width: i32): void {
  contentBackward(dkey, dbeta, dmem, dwc, wc, sim, key, beta, mem, batch, slots, width, false);
}

// ---------------------------------------------------------------------------------------
// Interpolation, shift, sharpening (scalar: O(N) per head and sample)

/** w^g = g·w^c + (1 − g)·w_prev. */
export function f32_ntm_interpolate_forward(
  wg: usize, // (B, N) out
  wc: usize, // (B, N)
  wprev: usize, // (B, N)
  gate: usize, // (B)
  batch: i32,
  slots: i32,
): void {
  for (let b = 0; b < batch; b++) {
    const g = load<f32>(gate + (<usize>b << 2));
    for (let i = 0; i < slots; i++) {
      const o = (<usize>b * <usize>slots + <usize>i) << 2;
      store<f32>(wg + o, g * load<f32>(wc + o) + (<f32>1 - g) * load<f32>(wprev + o));
    }
  }
}

/** dw^c = g·dw^g (written); dw_prev += (1 − g)·dw^g; dg += Σ_i dw^g_i·(w^c_i − w_prev_i). */
export function f32_ntm_interpolate_backward(
  dwc: usize, // (B, N) out
  dwprev: usize, // (B, N) +=
  dgate: usize, // (B) +=
  dwg: usize, // (B, N)
  wc: usize, // (B, N)
  wprev: usize, // (B, N)
  gate: usize, // (B)
  batch: i32,
  slots: i32,
): void {
  for (let b = 0; b < batch; b++) {
    const g = load<f32>(gate + (<usize>b << 2));
    let dg: f32 = 0;
    for (let i = 0; i < slots; i++) {
      const o = (<usize>b * <usize>slots + <usize>i) << 2;
      const d = load<f32>(dwg + o);
      store<f32>(dwc + o, g * d);
      store<f32>(dwprev + o, load<f32>(dwprev + o) + (<f32>1 - g) * d);
      dg += d * (load<f32>(wc + o) - load<f32>(wprev + o));
    }
    store<f32>(dgate + (<usize>b << 2), load<f32>(dgate + (<usize>b << 2)) + dg);
  }
}

/** w̃_i = s_{−1}·w^g_{i+1} + s_0·w^g_i + s_{+1}·w^g_{i−1}, indices mod N. */
export function f32_ntm_shift_forward(
  ws: usize, // (B, N) out
  wg: usize, // (B, N)
  shift: usize, // (B, 3): s_{−1}, s_0, s_{+1}
  batch: i32,
  slots: i32,
): void {
  for (let b = 0; b < batch; b++) {
    const s = shift + <usize>b * 12;
    const sm = load<f32>(s), s0 = load<f32>(s, 4), sp = load<f32>(s, 8);
    const row = wg + <usize>b * (<usize>slots << 2), out = ws + <usize>b * (<usize>slots << 2);
    for (let i = 0; i < slots; i++) {
      const next = i + 1 == slots ? 0 : i + 1, prev = i == 0 ? slots - 1 : i - 1;
      store<f32>(out + (<usize>i << 2), sm * load<f32>(row + (<usize>next << 2)) + s0 * load<f32>(row + (<usize>i << 2)) + sp * load<f32>(row + (<usize>prev << 2)));
    }
  }
}

/**
 * dw^g_j = s_{−1}·dw̃_{j−1} + s_0·dw̃_j + s_{+1}·dw̃_{j+1} (written);
 * ds += [Σ_i dw̃_i·w^g_{i+1}, Σ_i dw̃_i·w^g_i, Σ_i dw̃_i·w^g_{i−1}].
 */
export function f32_ntm_shift_backward(
  dwg: usize, // (B, N) out
  dshift: usize, // (B, 3) +=
  dws: usize, // (B, N)
  wg: usize, // (B, N)
  shift: usize, // (B, 3)
  batch: i32,
  slots: i32,
): void {
  for (let b = 0; b < batch; b++) {
    const s = shift + <usize>b * 12, ds = dshift + <usize>b * 12;
    const sm = load<f32>(s), s0 = load<f32>(s, 4), sp = load<f32>(s, 8);
    const row = wg + <usize>b * (<usize>slots << 2), d = dws + <usize>b * (<usize>slots << 2), out = dwg + <usize>b * (<usize>slots << 2);
    let dm: f32 = 0, d0: f32 = 0, dp: f32 = 0;
    for (let i = 0; i < slots; i++) {
      const next = i + 1 == slots ? 0 : i + 1, prev = i == 0 ? slots - 1 : i - 1;
      const di = load<f32>(d + (<usize>i << 2));
      dm += di * load<f32>(row + (<usize>next << 2));
      d0 += di * load<f32>(row + (<usize>i << 2));
      dp += di * load<f32>(row + (<usize>prev << 2));
      store<f32>(out + (<usize>i << 2), sm * load<f32>(d + (<usize>prev << 2)) + s0 * di + sp * load<f32>(d + (<usize>next << 2)));
    }
    store<f32>(ds, load<f32>(ds) + dm);
    store<f32>(ds, load<f32>(ds, 4) + d0, 4);
    store<f32>(ds, load<f32>(ds, 8) + dp, 8);
  }
}

/** w = softmax(γ·log(w̃ + ε_s)): w̃^γ normalised; caches log(w̃ + ε_s). */
export function f32_ntm_sharpen_forward(
  w: usize, // (B, N) out
  logw: usize, // (B, N) out: log(w̃ + ε_s), the cache backward reads
  ws: usize, // (B, N)
  gamma: usize, // (B)
  batch: i32,
  slots: i32,
): void {
  for (let b = 0; b < batch; b++) {
    const g = load<f32>(gamma + (<usize>b << 2));
    const row = <usize>b * (<usize>slots << 2);
    for (let i = 0; i < slots; i++) {
      const o = row + (<usize>i << 2);
      const l = Mathf.log(load<f32>(ws + o) + SHARPEN_EPS);
      store<f32>(logw + o, l);
      store<f32>(w + o, g * l);
    }
    softmax_row(w + row, w + row, slots);
  }
}

/**
 * dw̃_i = dl_i·γ / (w̃_i + ε_s) (written), dγ += Σ_i dl_i·log(w̃_i + ε_s), with the softmax's
 * dl_i = w_i·(dw_i − Σ_j w_j·dw_j).
 */
export function f32_ntm_sharpen_backward(
  dws: usize, // (B, N) out
  dgamma: usize, // (B) +=
  dw: usize, // (B, N)
  w: usize, // (B, N) from the forward
  logw: usize, // (B, N) from the forward
  ws: usize, // (B, N)
  gamma: usize, // (B)
  batch: i32,
  slots: i32,
): void {
  for (let b = 0; b < batch; b++) {
    const g = load<f32>(gamma + (<usize>b << 2));
    const row = <usize>b * (<usize>slots << 2);
    let c: f32 = 0;
    for (let i = 0; i < slots; i++) c += load<f32>(w + row + (<usize>i << 2)) * load<f32>(dw + row + (<usize>i << 2));
    let dg: f32 = 0;
    for (let i = 0; i < slots; i++) {
      const o = row + (<usize>i << 2);
      const dl = load<f32>(w + o) * (load<f32>(dw + o) - c);
      dg += dl * load<f32>(logw + o);
      store<f32>(dws + o, (dl * g) / (load<f32>(ws + o) + SHARPEN_EPS));
    }
    store<f32>(dgamma + (<usize>b << 2), load<f32>(dgamma + (<usize>b << 2)) + dg);
  }
}

// ---------------------------------------------------------------------------------------
// Read and write (SIMD over M)

@inline function readForward(r: usize, ldr: i32, w: usize, mem: usize, batch: i32, slots: i32, width: i32, simd: bool): void {
  const M4 = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    const rb = r + <usize>b * (<usize>ldr << 2), mb = mem + <usize>b * <usize>slots * M4, wb = w + <usize>b * (<usize>slots << 2);
    for (let j = 0; j < width; j++) store<f32>(rb + (<usize>j << 2), 0);
    for (let i = 0; i < slots; i++) {
      const wi = load<f32>(wb + (<usize>i << 2));
      const mi = mb + <usize>i * M4;
      let j = 0;
      if (simd) {
        const wv = f32x4.splat(wi);
        for (; j + 4 <= width; j += 4) {
          const o = <usize>j << 2;
          v128.store(rb + o, f32x4.add(v128.load(rb + o), f32x4.mul(wv, v128.load(mi + o))));
        }
      }
      for (; j < width; j++) store<f32>(rb + (<usize>j << 2), load<f32>(rb + (<usize>j << 2)) + wi * load<f32>(mi + (<usize>j << 2)));
    }
  }
}

/** r_j = Σ_i w_i·M_ij, summed in order of i; row b of r at r + b·ldr. */
export function f32_ntm_read_forward(
  r: usize, // (B, M) out, row stride ldr
  ldr: i32,
  w: usize, // (B, N)
  mem: usize, // (B, N, M)
  batch: i32,
  slots: i32,
  width: i32,
): void {
  readForward(r, ldr, w, mem, batch, slots, width, true);
}
export function f32_ntm_read_forward_scalar(r: usize, ldr: i32, w: usize, mem: usize, batch: i32, slots: i32, width: i32): void {
  readForward(r, ldr, w, mem, batch, slots, width, false);
}

@inline function readBackward(dw: usize, dmem: usize, dr: usize, ldr: i32, w: usize, mem: usize, batch: i32, slots: i32, width: i32, simd: bool): void {
  const M4 = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    const rb = dr + <usize>b * (<usize>ldr << 2), mb = mem + <usize>b * <usize>slots * M4, dmb = dmem + <usize>b * <usize>slots * M4;
    const wb = w + <usize>b * (<usize>slots << 2), dwb = dw + <usize>b * (<usize>slots << 2);
    for (let i = 0; i < slots; i++) {
      const mi = mb + <usize>i * M4, dmi = dmb + <usize>i * M4;
      const o = <usize>i << 2;
      store<f32>(dwb + o, load<f32>(dwb + o) + (simd ? dot_simd(rb, mi, width) : dot_lanes(rb, mi, width)));
      const wi = load<f32>(wb + o);
      let j = 0;
      if (simd) {
        const wv = f32x4.splat(wi);
        for (; j + 4 <= width; j += 4) {
          const q = <usize>j << 2;
          v128.store(dmi + q, f32x4.add(v128.load(dmi + q), f32x4.mul(wv, v128.load(rb + q))));
        }
      }
      for (; j < width; j++) store<f32>(dmi + (<usize>j << 2), load<f32>(dmi + (<usize>j << 2)) + wi * load<f32>(rb + (<usize>j << 2)));
    }
  }
}

/** dw_i += dr·M_i; dM_ij += w_i·dr_j. Row b of dr at dr + b·ldr. */
export function f32_ntm_read_backward(
  dw: usize, // (B, N) +=
  dmem: usize, // (B, N, M) +=
  dr: usize, // (B, M), row stride ldr
  ldr: i32,
  w: usize, // (B, N)
  mem: usize, // (B, N, M)
  batch: i32,
  slots: i32,
  width: i32,
): void {
  readBackward(dw, dmem, dr, ldr, w, mem, batch, slots, width, true);
}
export function f32_ntm_read_backward_scalar(dw: usize, dmem: usize, dr: usize, ldr: i32, w: usize, mem: usize, batch: i32, slots: i32, width: i32): void {
  readBackward(dw, dmem, dr, ldr, w, mem, batch, slots, width, false);
}

@inline function writeForward(mem: usize, memPrev: usize, w: usize, erase: usize, add: usize, batch: i32, slots: i32, width: i32, simd: bool): void {
  const M4 = <usize>width << 2;
  const one = f32x4.splat(1);
  for (let b = 0; b < batch; b++) {
    const eb = erase + <usize>b * M4, ab = add + <usize>b * M4;
    for (let i = 0; i < slots; i++) {
      const wi = load<f32>(w + ((<usize>b * <usize>slots + <usize>i) << 2));
      const row = (<usize>b * <usize>slots + <usize>i) * M4;
      const p = memPrev + row, m = mem + row;
      let j = 0;
      if (simd) {
        const wv = f32x4.splat(wi);
        for (; j + 4 <= width; j += 4) {
          const o = <usize>j << 2;
          const keep = f32x4.sub(one, f32x4.mul(wv, v128.load(eb + o)));
          v128.store(m + o, f32x4.add(f32x4.mul(v128.load(p + o), keep), f32x4.mul(wv, v128.load(ab + o))));
        }
      }
      for (; j < width; j++) {
        const o = <usize>j << 2;
        store<f32>(m + o, load<f32>(p + o) * (<f32>1 - wi * load<f32>(eb + o)) + wi * load<f32>(ab + o));
      }
    }
  }
}

/** M_ij = M'_ij·(1 − w_i·e_j) + w_i·a_j: erase, then add. mem must not overlap memPrev. */
export function f32_ntm_write_forward(
  mem: usize, // (B, N, M) out
  memPrev: usize, // (B, N, M)
  w: usize, // (B, N)
  erase: usize, // (B, M)
  add: usize, // (B, M)
  batch: i32,
  slots: i32,
  width: i32,
): void {
  writeForward(mem, memPrev, w, erase, add, batch, slots, width, true);
}
export function f32_ntm_write_forward_scalar(mem: usize, memPrev: usize, w: usize, erase: usize, add: usize, batch: i32, slots: i32, width: i32): void {
  writeForward(mem, memPrev, w, erase, add, batch, slots, width, false);
}

// Backward of the write, with dM the gradient of the memory after it:
// (1) dM'_ij = dM_ij·(1 − w_i·e_j)
// (2) dw_i += Σ_j dM_ij·(a_j − M'_ij·e_j)
// (3) de_j += −Σ_i dM_ij·M'_ij·w_i;   da_j += Σ_i dM_ij·w_i   (summed in order of i)

@inline function writeBackward(dmemPrev: usize, dw: usize, derase: usize, dadd: usize, dmem: usize, memPrev: usize, w: usize, erase: usize, add: usize, batch: i32, slots: i32, width: i32, simd: bool): void {
  const M4 = <usize>width << 2;
  const one = f32x4.splat(1);
  for (let b = 0; b < batch; b++) {
    const eb = erase + <usize>b * M4, ab = add + <usize>b * M4, deb = derase + <usize>b * M4, dab = dadd + <usize>b * M4;
    for (let i = 0; i < slots; i++) {
      const wo = (<usize>b * <usize>slots + <usize>i) << 2;
      const wi = load<f32>(w + wo);
      const row = (<usize>b * <usize>slots + <usize>i) * M4;
      const p = memPrev + row, d = dmem + row, dp = dmemPrev + row;
      let j = 0;
      let dwi: f32 = 0;
      if (simd) {
        const wv = f32x4.splat(wi);
        let acc = f32x4.splat(0);
        for (; j + 4 <= width; j += 4) {
          const o = <usize>j << 2;
          const dv = v128.load(d + o), pv = v128.load(p + o), ev = v128.load(eb + o);
          v128.store(dp + o, f32x4.mul(dv, f32x4.sub(one, f32x4.mul(wv, ev)))); // (1)
          acc = f32x4.add(acc, f32x4.mul(dv, f32x4.sub(v128.load(ab + o), f32x4.mul(pv, ev)))); // (2)
          v128.store(deb + o, f32x4.sub(v128.load(deb + o), f32x4.mul(f32x4.mul(dv, pv), wv))); // (3)
          v128.store(dab + o, f32x4.add(v128.load(dab + o), f32x4.mul(dv, wv)));
        }
        dwi = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      } else {
        let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
        for (; j + 4 <= width; j += 4) {
          for (let q = 0; q < 4; q++) {
            const o = <usize>(j + q) << 2;
            const dv = load<f32>(d + o), pv = load<f32>(p + o), ev = load<f32>(eb + o);
            store<f32>(dp + o, dv * (<f32>1 - wi * ev));
            const t = dv * (load<f32>(ab + o) - pv * ev);
            if (q == 0) s0 = s0 + t;
            else if (q == 1) s1 = s1 + t;
            else if (q == 2) s2 = s2 + t;
            else s3 = s3 + t;
            store<f32>(deb + o, load<f32>(deb + o) - (dv * pv) * wi);
            store<f32>(dab + o, load<f32>(dab + o) + dv * wi);
          }
        }
        dwi = (s0 + s1) + (s2 + s3);
      }
      for (; j < width; j++) {
        const o = <usize>j << 2;
        const dv = load<f32>(d + o), pv = load<f32>(p + o), ev = load<f32>(eb + o);
        store<f32>(dp + o, dv * (<f32>1 - wi * ev));
        dwi += dv * (load<f32>(ab + o) - pv * ev);
        store<f32>(deb + o, load<f32>(deb + o) - (dv * pv) * wi);
        store<f32>(dab + o, load<f32>(dab + o) + dv * wi);
      }
      store<f32>(dw + wo, load<f32>(dw + wo) + dwi);
    }
  }
}

/** Gradients of the erase/add write: dmemPrev written; dw, derase, dadd ADDED (see (1)–(3) above). */
export function f32_ntm_write_backward(
  dmemPrev: usize, // (B, N, M) out; must not overlap dmem
  dw: usize, // (B, N) +=
  derase: usize, // (B, M) +=
  dadd: usize, // (B, M) +=
  dmem: usize, // (B, N, M): dL/d(memory after the write)
  memPrev: usize, // (B, N, M)
  w: usize, // (B, N)
  erase: usize, // (B, M)
  add: usize, // (B, M)
  batch: i32,
  slots: i32,
  width: i32,
): void {
  writeBackward(dmemPrev, dw, derase, dadd, dmem, memPrev, w, erase, add, batch, slots, width, true);
}
export function f32_ntm_write_backward_scalar(dmemPrev: usize, dw: usize, derase: usize, dadd: usize, dmem: usize, memPrev: usize, w: usize, erase: usize, add: usize, batch: i32, slots: i32, width: i32): void {
  writeBackward(dmemPrev, dw, derase, dadd, dmem, memPrev, w, erase, add, batch, slots, width, false);
}
