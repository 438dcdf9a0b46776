// Sequence-to-one pooling over time with per-sample lengths: the mean and the max over each
// sample's real steps, forward and backward side by side. ("last" is a gather of each
// sample's last real step: f32_gather_last_steps / f32_scatter_last_steps in sequence.ts.)
//
// Layout is time-major: x (T, B, F), step t of sample b at row t·B + b. `lengths` (B) i32
// gives each sample's real steps 0 .. L_b − 1, or is 0 for "every sample has T steps".
// TypeScript validates lengths into [1, T]; the kernels clamp L_b into [1, T] anyway, so they
// never read outside x. T, B or F <= 0 does nothing.
//
// f32_seqpool_mean(y, x, lengths, T, B, F)         y[b] = (x[0, b] + x[1, b] + … + x[L_b − 1, b]) / L_b
//                                                  (f32 sums in order of t, then one division)
// f32_seqpool_mean_backward(dx, dy, lengths, T, B, F)
//                                                  dx[t, b] = t < L_b ? dy[b] / L_b : 0
// f32_seqpool_max(y, argmax, x, lengths, T, B, F)  y[b, f] = max_{t < L_b} x[t, b, f]; argmax (B, F) i32
//                                                  caches the FIRST t that reaches it (a later equal
//                                                  value never replaces it, nor does a NaN)
// f32_seqpool_max_backward(dx, dy, argmax, T, B, F)
//                                                  dx[t, b, f] = t == argmax[b, f] ? dy[b, f] : 0
// Backward kernels overwrite all of dx (T, B, F): padded steps get exact zeros.
// Each has a `_scalar` twin doing the same operations one element at a time; the two give
// the same bits.

@inline function clampLength(lengths: usize, b: i32, steps: i32): i32 {
  if (!lengths) return steps;
  return min<i32>(max<i32>(load<i32>(lengths + (<usize>b << 2)), 1), steps);
}

// ---------------------------------------------------------------------------------------
// mean

export function f32_seqpool_mean(
  y: usize, // (B, F) out
  x: usize, // (T, B, F)
  lengths: usize, // (B) i32, or 0
  steps: i32,
  batch: i32,
  features: i32,
): void {
  const row = <usize>max<i32>(features, 0) << 2;
  const stepStride = <usize>max<i32>(batch, 0) * row;
  const vecEnd = features & ~3;
  for (let b = 0; b < batch; b++) {
    if (steps <= 0) break;
    const L = clampLength(lengths, b, steps);
    const n = <f32>L;
    const nv = f32x4.splat(n);
    const src = x + <usize>b * row;
    const dst = y + <usize>b * row;
    let f = 0;
    for (; f < vecEnd; f += 4) {
      const o = <usize>f << 2;
      let s = v128.load(src + o);
      for (let t = 1; t < L; t++) s = f32x4.add(s, v128.load(src + <usize>t * stepStride + o));
      v128.store(dst + o, f32x4.div(s, nv));
    }
    for (; f < features; f++) {
      const o = <usize>f << 2;
      let s = load<f32>(src + o);
      for (let t = 1; t < L; t++) s += load<f32>(src + <usize>t * stepStride + o);
      store<f32>(dst + o, s / n);
    }
  }
}
export function f32_seqpool_mean_scalar(y: usize, x: usize, lengths: usize, steps: i32, batch: i32, features: i32): void {
  if (steps <= 0) return;
  const row = <usize>max<i32>(features, 0) << 2;
  for (let b = 0; b < batch; b++) {
    const L = clampLength(lengths, b, steps);
    for (let f = 0; f < features; f++) {
      const o = <usize>f << 2;
      let s = load<f32>(x + <usize>b * row + o);
      for (let t = 1; t < L; t++) s += load<f32>(x + (<usize>t * batch + b) * row + o);
      store<f32>(y + <usize>b * row + o, s / <f32>L);
    }
  }
}

export function f32_seqpool_mean_backward(
  dx: usize, // (T, B, F) out (overwritten)
  dy: usize, // (B, F)
  lengths: usize, // (B) i32, or 0
  steps: i32,
  batch: i32,
  features: i32,
): void {
  const row = <usize>max<i32>(features, 0) << 2;
  const vecEnd = features & ~3;
  const zero = f32x4.splat(0);
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const L = clampLength(lengths, b, steps);
      const n = <f32>L;
      const nv = f32x4.splat(n);
      const real = t < L;
      const dst = dx + (<usize>t * batch + b) * row;
      const src = dy + <usize>b * row;
      let f = 0;
      for (; f < vecEnd; f += 4) v128.store(dst + (<usize>f << 2), real ? f32x4.div(v128.load(src + (<usize>f << 2)), nv) : zero);
      for (; f < features; f++) store<f32>(dst + (<usize>f << 2), real ? load<f32>(src + (<usize>f << 2)) / n : 0);
    }
  }
}
export function f32_seqpool_mean_backward_scalar(dx: usize, dy: usize, lengths: usize, steps: i32, batch: i32, features: i32): void {
  const row = <usize>max<i32>(features, 0) << 2;
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const L = clampLength(lengths, b, steps);
      for (let f = 0; f < features; f++) {
        const o = <usize>f << 2;
        store<f32>(dx + (<usize>t * batch + b) * row + o, t < L ? load<f32>(dy + <usize>b * row + o) / <f32>L : 0);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// max

export function f32_seqpool_max(
  y: usize, // (B, F) out
  argmax: usize, // (B, F) i32 cache: the step of each maximum
  x: usize, // (T, B, F)
  lengths: usize, // (B) i32, or 0
  steps: i32,
  batch: i32,
  features: i32,
): void {
  if (steps <= 0) return;
  const row = <usize>max<i32>(features, 0) << 2;
  const stepStride = <usize>max<i32>(batch, 0) * row;
  const vecEnd = features & ~3;
  for (let b = 0; b < batch; b++) {
    const L = clampLength(lengths, b, steps);
    const src = x + <usize>b * row;
    const dst = y + <usize>b * row;
    const idx = argmax + <usize>b * row;
    let f = 0;
    for (; f < vecEnd; f += 4) {
      const o = <usize>f << 2;
      let best = v128.load(src + o);
      let at = i32x4.splat(0);
      for (let t = 1; t < L; t++) {
        const v = v128.load(src + <usize>t * stepStride + o);
        const gt = f32x4.gt(v, best);
        best = v128.bitselect(v, best, gt);
        at = v128.bitselect(i32x4.splat(t), at, gt);
      }
      v128.store(dst + o, best);
      v128.store(idx + o, at);
    }
    for (; f < features; f++) {
      const o = <usize>f << 2;
      let best = load<f32>(src + o);
      let at = 0;
      for (let t = 1; t < L; t++) {
        const v = load<f32>(src + <usize>t * stepStride + o);
        if (v > best) {
          best = v;
          at = t;
        }
      }
      store<f32>(dst + o, best);
      store<i32>(idx + o, at);
    }
  }
}
export function f32_seqpool_max_scalar(y: usize, argmax: usize, x: usize, lengths: usize, steps: i32, batch: i32, features: i32): void {
  if (steps <= 0) return;
  const row = <usize>max<i32>(features, 0) << 2;
  for (let b = 0; b < batch; b++) {
    const L = clampLength(lengths, b, steps);
    for (let f = 0; f < features; f++) {
      const o = <usize>f << 2;
      let best = load<f32>(x + <usize>b * row + o);
      let at = 0;
      for (let t = 1; t < L; t++) {
        const v = load<f32>(x + (<usize>t * batch + b) * row + o);
        if (v > best) {
          best = v;
          at = t;
        }
      }
      store<f32>(y + <usize>b * row + o, best);
      store<i32>(argmax + <usize>b * row + o, at);
    }
  }
}

export function f32_seqpool_max_backward(
  dx: usize, // (T, B, F) out (overwritten)
  dy: usize, // (B, F)
  argmax: usize, // (B, F) i32, from the forward
  steps: i32,
  batch: i32,
  features: i32,
): void {
  const row = <usize>max<i32>(features, 0) << 2;
  const vecEnd = features & ~3;
  for (let t = 0; t < steps; t++) {
    const tv = i32x4.splat(t);
    for (let b = 0; b < batch; b++) {
      const dst = dx + (<usize>t * batch + b) * row;
      const src = dy + <usize>b * row;
      const idx = argmax + <usize>b * row;
      let f = 0;
      for (; f < vecEnd; f += 4) {
        const o = <usize>f << 2;
        v128.store(dst + o, v128.and(v128.load(src + o), i32x4.eq(v128.load(idx + o), tv)));
      }
      for (; f < features; f++) {
        const o = <usize>f << 2;
        store<f32>(dst + o, load<i32>(idx + o) == t ? load<f32>(src + o) : 0);
      }
    }
  }
}
export function f32_seqpool_max_backward_scalar(dx: usize, dy: usize, argmax: usize, steps: i32, batch: i32, features: i32): void {
  const row = <usize>max<i32>(features, 0) << 2;
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      for (let f = 0; f < features; f++) {
        const o = <usize>b * row + (<usize>f << 2);
        store<f32>(dx + (<usize>t * batch + b) * row + (<usize>f << 2), load<i32>(argmax + o) == t ? load<f32>(dy + o) : 0);
      }
    }
  }
}
