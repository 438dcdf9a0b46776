// Attention kernels: a batch of query steps attends over a batch of memory steps (an
// encoder's outputs), each sample over its own memory only, masked by its length.
//
// Layout (time-major, as everywhere): queries (T, B, Q), memory (S, B, M), keys (S, B, K),
// scores and weights (T, B, S): row (t, b) of the scores holds query t of sample b against
// memory steps 0 .. S−1 of the same sample. `lengths` points at B int32 values in [1, S]
// (validated by TypeScript), or is 0 meaning every sample has all S memory steps; memory
// steps s >= lengths[b] get weight exactly 0 and no gradient.
//
//   dot / general (Luong):  score[t,b,s] = q[t,b,:] · k[s,b,:]      (k = m, or k = W m)
//   additive (Bahdanau):    score[t,b,s] = v · tanh(qp[t,b,:] + kp[s,b,:])
//                                          (qp = W_q q, kp = W_m m + b, projected by the caller)
//   weights[t,b,:] = softmax over the sample's real memory steps of score[t,b,:]
//   context[t,b,:] = Σ_s weights[t,b,s] · m[s,b,:]
//
// The products of one sample are strided matrix products over the (T, B, ·) layout, so
// the dot-score and context kernels run gemm.ts once per sample, with leading dimensions
// B·width: their summation order is gemm's (one f32 multiply-add chain per element, p
// ascending), the SIMD kernels and their `_scalar` twins give the same bits. The additive
// kernels and the softmax gradient reduce in the fixed lane order of activations.ts (four
// lane sums, (s0 + s1) + (s2 + s3), then the tail in order), which their twins repeat.
//
// Backward kernels ADD into the gradients of inputs that several terms reach (dquery,
// dkeys, dmemory, dqproj, dkproj, dv) and WRITE the intermediates (dweights, dscores).
import { combine_lane_sums, promote_high_f32x4, tanh_f32, tanh_f32x4 } from "./activations";
import { f32_fill, f32_fill_scalar } from "./elementwise";
import {
  f32_gemm_nn, f32_gemm_nn_scalar, f32_gemm_nt, f32_gemm_nt_scalar, f32_gemm_tn, f32_gemm_tn_scalar,
} from "./gemm";
import { f32_softmax, f32_softmax_scalar } from "./loss";

@inline function memoryLength(lengths: usize, b: i32, steps: i32): i32 {
  return lengths ? load<i32>(lengths + (<usize>b << 2)) : steps;
}

// ---------------------------------------------------------------------------------------
// Dot-product scores (Luong dot; general after the caller projects the memory to keys)

/** scores[t,b,s] = query[t,b,:] · keys[s,b,:] for every s (the softmax masks). */
export function f32_attention_scores_dot(
  scores: usize, // (T, B, S)
  query: usize, // (T, B, H)
  keys: usize, // (S, B, H)
  steps: i32, memorySteps: i32, batch: i32, width: i32,
): void {
  const ldq = batch * width, lds = batch * memorySteps;
  for (let b = 0; b < batch; b++) {
    const qb = query + (<usize>(b * width) << 2), kb = keys + (<usize>(b * width) << 2);
    f32_gemm_nt(scores + (<usize>(b * memorySteps) << 2), qb, kb, 0, steps, memorySteps, width, ldq, ldq, lds, 0);
  }
}
export function f32_attention_scores_dot_scalar(
  scores: usize, query: usize, keys: usize, steps: i32, memorySteps: i32, batch: i32, width: i32,
): void {
  const ldq = batch * width, lds = batch * memorySteps;
  for (let b = 0; b < batch; b++) {
    const qb = query + (<usize>(b * width) << 2), kb = keys + (<usize>(b * width) << 2);
    f32_gemm_nt_scalar(scores + (<usize>(b * memorySteps) << 2), qb, kb, 0, steps, memorySteps, width, ldq, ldq, lds, 0);
  }
}

/**
 * Backward of f32_attention_scores_dot, per sample b:
 *   dquery_b (T x H) += dscores_b (T x S) · keys_b (S x H)
 *   dkeys_b  (S x H) += dscores_bᵀ (S x T) · query_b (T x H)
 */
export function f32_attention_scores_dot_backward(
  dquery: usize, // (T, B, H) added to
  dkeys: usize, // (S, B, H) added to
  dscores: usize, // (T, B, S)
  query: usize, // (T, B, H)
  keys: usize, // (S, B, H)
  steps: i32, memorySteps: i32, batch: i32, width: i32,
): void {
  const ldq = batch * width, lds = batch * memorySteps;
  for (let b = 0; b < batch; b++) {
    const oq = <usize>(b * width) << 2, os = <usize>(b * memorySteps) << 2;
    f32_gemm_nn(dquery + oq, dscores + os, keys + oq, 0, steps, width, memorySteps, lds, ldq, ldq, 1);
    f32_gemm_tn(dkeys + oq, dscores + os, query + oq, 0, memorySteps, width, steps, lds, ldq, ldq, 1);
  }
}
export function f32_attention_scores_dot_backward_scalar(
  dquery: usize, dkeys: usize, dscores: usize, query: usize, keys: usize, steps: i32, memorySteps: i32, batch: i32, width: i32,
): void {
  const ldq = batch * width, lds = batch * memorySteps;
  for (let b = 0; b < batch; b++) {
    const oq = <usize>(b * width) << 2, os = <usize>(b * memorySteps) << 2;
    f32_gemm_nn_scalar(dquery + oq, dscores + os, keys + oq, 0, steps, width, memorySteps, lds, ldq, ldq, 1);
    f32_gemm_tn_scalar(dkeys + oq, dscores + os, query + oq, 0, memorySteps, width, steps, lds, ldq, ldq, 1);
  }
}

// ---------------------------------------------------------------------------------------
// Additive scores (Bahdanau)

/**
 * scores[t,b,s] = Σ_a v[a] · tanh(qproj[t,b,a] + kproj[s,b,a]) for s < lengths[b]; the
 * scores of masked steps are written as 0 (the softmax never reads them).
 */
export function f32_attention_scores_additive(
  scores: usize, // (T, B, S)
  qproj: usize, // (T, B, A)
  kproj: usize, // (S, B, A)
  v: usize, // (A)
  lengths: usize, // (B) int32, or 0
  steps: i32, memorySteps: i32, batch: i32, units: i32,
): void {
  const a4 = units & ~3;
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const L = memoryLength(lengths, b, memorySteps);
      const row = scores + (<usize>((t * batch + b) * memorySteps) << 2);
      const q = qproj + (<usize>((t * batch + b) * units) << 2);
      for (let s = 0; s < L; s++) {
        const kp = kproj + (<usize>((s * batch + b) * units) << 2);
        let acc = f32x4.splat(0);
        for (let a = 0; a < a4; a += 4) {
          const o = <usize>a << 2;
          const e = tanh_f32x4(f32x4.add(v128.load(q + o), v128.load(kp + o)));
          acc = f32x4.add(acc, f32x4.mul(v128.load(v + o), e));
        }
        let sum = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
        for (let a = a4; a < units; a++) {
          const o = <usize>a << 2;
          sum += load<f32>(v + o) * tanh_f32(load<f32>(q + o) + load<f32>(kp + o));
        }
        store<f32>(row + (<usize>s << 2), sum);
      }
      f32_fill(row + (<usize>L << 2), 0, memorySteps - L);
    }
  }
}
export function f32_attention_scores_additive_scalar(
  scores: usize, qproj: usize, kproj: usize, v: usize, lengths: usize, steps: i32, memorySteps: i32, batch: i32, units: i32,
): void {
  const a4 = units & ~3;
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const L = memoryLength(lengths, b, memorySteps);
      const row = scores + (<usize>((t * batch + b) * memorySteps) << 2);
      const q = qproj + (<usize>((t * batch + b) * units) << 2);
      for (let s = 0; s < L; s++) {
        const kp = kproj + (<usize>((s * batch + b) * units) << 2);
        let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
        for (let a = 0; a < a4; a += 4) {
          const o = <usize>a << 2;
          s0 += load<f32>(v + o) * tanh_f32(load<f32>(q + o) + load<f32>(kp + o));
          s1 += load<f32>(v + o, 4) * tanh_f32(load<f32>(q + o, 4) + load<f32>(kp + o, 4));
          s2 += load<f32>(v + o, 8) * tanh_f32(load<f32>(q + o, 8) + load<f32>(kp + o, 8));
          s3 += load<f32>(v + o, 12) * tanh_f32(load<f32>(q + o, 12) + load<f32>(kp + o, 12));
        }
        let sum = (s0 + s1) + (s2 + s3);
        for (let a = a4; a < units; a++) {
          const o = <usize>a << 2;
          sum += load<f32>(v + o) * tanh_f32(load<f32>(q + o) + load<f32>(kp + o));
        }
        store<f32>(row + (<usize>s << 2), sum);
      }
      f32_fill_scalar(row + (<usize>L << 2), 0, memorySteps - L);
    }
  }
}

/**
 * Backward of f32_attention_scores_additive. With e = tanh(qproj[t,b] + kproj[s,b])
 * recomputed (cheaper in memory than keeping T·S·B·A activations) and g = dscores[t,b,s],
 * for every real memory step s < lengths[b]:
 *   (1) dv           += g · e
 *   (2) w             = (g · v) ⊙ (1 − e²)         (tanh' = 1 − e²)
 *   (3) dqproj[t,b]  += w,   dkproj[s,b] += w
 */
export function f32_attention_scores_additive_backward(
  dqproj: usize, // (T, B, A) added to
  dkproj: usize, // (S, B, A) added to
  dv: usize, // (A) added to
  dscores: usize, // (T, B, S)
  qproj: usize, // (T, B, A)
  kproj: usize, // (S, B, A)
  v: usize, // (A)
  lengths: usize, // (B) int32, or 0
  steps: i32, memorySteps: i32, batch: i32, units: i32,
): void {
  const a4 = units & ~3;
  const one = f32x4.splat(1);
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const L = memoryLength(lengths, b, memorySteps);
      const drow = dscores + (<usize>((t * batch + b) * memorySteps) << 2);
      const q = qproj + (<usize>((t * batch + b) * units) << 2);
      const dq = dqproj + (<usize>((t * batch + b) * units) << 2);
      for (let s = 0; s < L; s++) {
        const g = load<f32>(drow + (<usize>s << 2));
        const gv = f32x4.splat(g);
        const kp = kproj + (<usize>((s * batch + b) * units) << 2);
        const dk = dkproj + (<usize>((s * batch + b) * units) << 2);
        for (let a = 0; a < a4; a += 4) {
          const o = <usize>a << 2;
          const e = tanh_f32x4(f32x4.add(v128.load(q + o), v128.load(kp + o)));
          v128.store(dv + o, f32x4.add(v128.load(dv + o), f32x4.mul(gv, e)));
          const w = f32x4.mul(f32x4.mul(gv, v128.load(v + o)), f32x4.sub(one, f32x4.mul(e, e)));
          v128.store(dq + o, f32x4.add(v128.load(dq + o), w));
          v128.store(dk + o, f32x4.add(v128.load(dk + o), w));
        }
        for (let a = a4; a < units; a++) additiveBackwardElement(dq, dk, dv, q, kp, v, g, <usize>a << 2);
      }
    }
  }
}
export function f32_attention_scores_additive_backward_scalar(
  dqproj: usize, dkproj: usize, dv: usize, dscores: usize, qproj: usize, kproj: usize, v: usize, lengths: usize,
  steps: i32, memorySteps: i32, batch: i32, units: i32,
): void {
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const L = memoryLength(lengths, b, memorySteps);
      const drow = dscores + (<usize>((t * batch + b) * memorySteps) << 2);
      const q = qproj + (<usize>((t * batch + b) * units) << 2);
      const dq = dqproj + (<usize>((t * batch + b) * units) << 2);
      for (let s = 0; s < L; s++) {
        const g = load<f32>(drow + (<usize>s << 2));
        const kp = kproj + (<usize>((s * batch + b) * units) << 2);
        const dk = dkproj + (<usize>((s * batch + b) * units) << 2);
        for (let a = 0; a < units; a++) additiveBackwardElement(dq, dk, dv, q, kp, v, g, <usize>a << 2);
      }
    }
  }
}

/** One element of the additive backward (the same operations as one lane of the SIMD loop). */
@inline function additiveBackwardElement(dq: usize, dk: usize, dv: usize, q: usize, kp: usize, v: usize, g: f32, o: usize): void {
  const e = tanh_f32(load<f32>(q + o) + load<f32>(kp + o));
  store<f32>(dv + o, load<f32>(dv + o) + g * e);
  const w = (g * load<f32>(v + o)) * (<f32>1 - e * e);
  store<f32>(dq + o, load<f32>(dq + o) + w);
  store<f32>(dk + o, load<f32>(dk + o) + w);
}

// ---------------------------------------------------------------------------------------
// Masked softmax over the memory steps

/**
 * weights[t,b,:L] = softmax(scores[t,b,:L]) with L = lengths[b] (loss.ts' f32_softmax on
 * the real steps: exp with relative error <= 8.2e-8, float64 sum), weights[t,b,L:] = 0.
 */
export function f32_attention_softmax(
  weights: usize, // (T, B, S)
  scores: usize, // (T, B, S)
  lengths: usize, // (B) int32, or 0
  steps: i32, memorySteps: i32, batch: i32,
): void {
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const L = memoryLength(lengths, b, memorySteps);
      const o = <usize>((t * batch + b) * memorySteps) << 2;
      f32_softmax(weights + o, scores + o, 1, L);
      f32_fill(weights + o + (<usize>L << 2), 0, memorySteps - L);
    }
  }
}
export function f32_attention_softmax_scalar(
  weights: usize, scores: usize, lengths: usize, steps: i32, memorySteps: i32, batch: i32,
): void {
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const L = memoryLength(lengths, b, memorySteps);
      const o = <usize>((t * batch + b) * memorySteps) << 2;
      f32_softmax_scalar(weights + o, scores + o, 1, L);
      f32_fill_scalar(weights + o + (<usize>L << 2), 0, memorySteps - L);
    }
  }
}

/**
 * Backward of the softmax, row by row (R = T·B rows of S):
 *   dscores[c] = w[c] · (dweights[c] − Σ_j w[j]·dweights[j])
 * The sum runs in float64. Masked steps have w = 0, so they get 0. Written, not added.
 */
export function f32_attention_softmax_backward(
  dscores: usize, // (R, S)
  dweights: usize, // (R, S)
  weights: usize, // (R, S)
  rows: i32, cols: i32,
): void {
  const c4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const o = <usize>(r * cols) << 2;
    const w = weights + o, dw = dweights + o, ds = dscores + o;
    let s01 = f64x2.splat(0);
    let s23 = f64x2.splat(0);
    for (let c = 0; c < c4; c += 4) {
      const p = f32x4.mul(v128.load(w + (<usize>c << 2)), v128.load(dw + (<usize>c << 2)));
      s01 = f64x2.add(s01, f64x2.promote_low_f32x4(p));
      s23 = f64x2.add(s23, promote_high_f32x4(p));
    }
    let dot = combine_lane_sums(s01, s23);
    for (let c = c4; c < cols; c++) dot += <f64>(load<f32>(w + (<usize>c << 2)) * load<f32>(dw + (<usize>c << 2)));
    const dv = f32x4.splat(<f32>dot);
    for (let c = 0; c < c4; c += 4) {
      const q = <usize>c << 2;
      v128.store(ds + q, f32x4.mul(v128.load(w + q), f32x4.sub(v128.load(dw + q), dv)));
    }
    for (let c = c4; c < cols; c++) {
      const q = <usize>c << 2;
      store<f32>(ds + q, load<f32>(w + q) * (load<f32>(dw + q) - <f32>dot));
    }
  }
}
export function f32_attention_softmax_backward_scalar(dscores: usize, dweights: usize, weights: usize, rows: i32, cols: i32): void {
  const c4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const o = <usize>(r * cols) << 2;
    const w = weights + o, dw = dweights + o, ds = dscores + o;
    let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
    for (let c = 0; c < c4; c += 4) {
      const q = <usize>c << 2;
      s0 += <f64>(load<f32>(w + q) * load<f32>(dw + q));
      s1 += <f64>(load<f32>(w + q, 4) * load<f32>(dw + q, 4));
      s2 += <f64>(load<f32>(w + q, 8) * load<f32>(dw + q, 8));
      s3 += <f64>(load<f32>(w + q, 12) * load<f32>(dw + q, 12));
    }
    let dot = (s0 + s1) + (s2 + s3);
    for (let c = c4; c < cols; c++) dot += <f64>(load<f32>(w + (<usize>c << 2)) * load<f32>(dw + (<usize>c << 2)));
    const d = <f32>dot;
    for (let c = 0; c < cols; c++) {
      const q = <usize>c << 2;
      store<f32>(ds + q, load<f32>(w + q) * (load<f32>(dw + q) - d));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Weighted sum of the memory

/** context_b (T x M) = weights_b (T x S) · memory_b (S x M), per sample b. */
export function f32_attention_context(
  context: usize, // (T, B, M)
  weights: usize, // (T, B, S)
  memory: usize, // (S, B, M)
  steps: i32, memorySteps: i32, batch: i32, width: i32,
): void {
  const ldm = batch * width, lds = batch * memorySteps;
  for (let b = 0; b < batch; b++) {
    const om = <usize>(b * width) << 2;
    f32_gemm_nn(context + om, weights + (<usize>(b * memorySteps) << 2), memory + om, 0, steps, width, memorySteps, lds, ldm, ldm, 0);
  }
}
export function f32_attention_context_scalar(
  context: usize, weights: usize, memory: usize, steps: i32, memorySteps: i32, batch: i32, width: i32,
): void {
  const ldm = batch * width, lds = batch * memorySteps;
  for (let b = 0; b < batch; b++) {
    const om = <usize>(b * width) << 2;
    f32_gemm_nn_scalar(context + om, weights + (<usize>(b * memorySteps) << 2), memory + om, 0, steps, width, memorySteps, lds, ldm, ldm, 0);
  }
}

/**
 * Backward of f32_attention_context, per sample b:
 *   dweights_b (T x S)  = dcontext_b (T x M) · memory_bᵀ (M x S)      (written)
 *   dmemory_b  (S x M) += weights_bᵀ (S x T) · dcontext_b (T x M)
 */
export function f32_attention_context_backward(
  dweights: usize, // (T, B, S) written
  dmemory: usize, // (S, B, M) added to
  dcontext: usize, // (T, B, M)
  weights: usize, // (T, B, S)
  memory: usize, // (S, B, M)
  steps: i32, memorySteps: i32, batch: i32, width: i32,
): void {
  const ldm = batch * width, lds = batch * memorySteps;
  for (let b = 0; b < batch; b++) {
    const om = <usize>(b * width) << 2, os = <usize>(b * memorySteps) << 2;
    f32_gemm_nt(dweights + os, dcontext + om, memory + om, 0, steps, memorySteps, width, ldm, ldm, lds, 0);
    f32_gemm_tn(dmemory + om, weights + os, dcontext + om, 0, memorySteps, width, steps, lds, ldm, ldm, 1);
  }
}
export function f32_attention_context_backward_scalar(
  dweights: usize, dmemory: usize, dcontext: usize, weights: usize, memory: usize, steps: i32, memorySteps: i32, batch: i32, width: i32,
): void {
  const ldm = batch * width, lds = batch * memorySteps;
  for (let b = 0; b < batch; b++) {
    const om = <usize>(b * width) << 2, os = <usize>(b * memorySteps) << 2;
    f32_gemm_nt_scalar(dweights + os, dcontext + om, memory + om, 0, steps, memorySteps, width, ldm, ldm, lds, 0);
    f32_gemm_tn_scalar(dmemory + om, weights + os, dcontext + om, 0, memorySteps, width, steps, lds, ldm, ldm, 1);
  }
}
