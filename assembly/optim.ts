// Optimizer updates, each ONE pass over all of a model's parameters (the flat value,
// gradient and state buffers of a ParamStore), with torch.optim's semantics (PyTorch 1.13)
// and its order of operations. Pointers are byte addresses of float32 arrays, sizes count
// elements. `p` is updated in place, state buffers too; `g` is only read. Factors derived
// from hyperparameters (1 − β, bias corrections, 1 − lr·wd) are computed by the caller in
// float64 and passed as float32, as torch does with its Python floats. Each kernel runs a
// SIMD loop over whole blocks of four and a scalar tail; its `_scalar` twin does the same
// operations one element at a time and gives the same bits (no fused multiply-add, sqrt and
// division are correctly rounded in both).
//
// A value whose parameter, gradient and moment/momentum state are zero stays zero (given
// eps > 0): the padding between parameters in the flat buffers keeps its zeros.

// ---------------------------------------------------------------------------------------
// SGD (torch.optim.SGD):
//   d = g + wd·p                                   (when wd != 0)
//   b = first ? d : momentum·b + (1 − dampening)·d (when momentum != 0)
//   d = nesterov ? d + momentum·b : b
//   p = p − lr·d

@inline function sgdAt(p: usize, buf: usize, g: usize, lr: f32, momentum: f32, oneMinusDampening: f32, weightDecay: f32, nesterov: i32, first: i32, o: usize): void {
  const w = load<f32>(p + o);
  let d = load<f32>(g + o);
  if (weightDecay != 0) d = d + weightDecay * w;
  if (buf) {
    const b = first ? d : momentum * load<f32>(buf + o) + oneMinusDampening * d;
    store<f32>(buf + o, b);
    d = nesterov ? d + momentum * b : b;
  }
  store<f32>(p + o, w - lr * d);
}

/** One SGD step over n values. `buf` is 0 when momentum is 0; `first` is 1 on the first step. */
export function f32_sgd_step(
  p: usize, // (n) parameters, in place
  buf: usize, // (n) momentum buffer, in place; or 0 (no momentum)
  g: usize, // (n) gradients
  lr: f32,
  momentum: f32,
  oneMinusDampening: f32,
  weightDecay: f32,
  nesterov: i32,
  first: i32,
  n: i32,
): void {
  const vlr = f32x4.splat(lr);
  const vmom = f32x4.splat(momentum);
  const vdamp = f32x4.splat(oneMinusDampening);
  const vwd = f32x4.splat(weightDecay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const w = v128.load(p + o);
    let d = v128.load(g + o);
    if (weightDecay != 0) d = f32x4.add(d, f32x4.mul(vwd, w));
    if (buf) {
      const b = first ? d : f32x4.add(f32x4.mul(vmom, v128.load(buf + o)), f32x4.mul(vdamp, d));
      v128.store(buf + o, b);
      d = nesterov ? f32x4.add(d, f32x4.mul(vmom, b)) : b;
    }
    v128.store(p + o, f32x4.sub(w, f32x4.mul(vlr, d)));
  }
  for (; i < n; i++) sgdAt(p, buf, g, lr, momentum, oneMinusDampening, weightDecay, nesterov, first, <usize>i << 2);
}
export function f32_sgd_step_scalar(p: usize, buf: usize, g: usize, lr: f32, momentum: f32, oneMinusDampening: f32, weightDecay: f32, nesterov: i32, first: i32, n: i32): void {
  for (let i = 0; i < n; i++) sgdAt(p, buf, g, lr, momentum, oneMinusDampening, weightDecay, nesterov, first, <usize>i << 2);
}

// ---------------------------------------------------------------------------------------
// Adam and AdamW (torch.optim.Adam, torch.optim.AdamW), step t counted from 1:
//   d = g + wd·p                       (Adam's L2 decay, when weightDecay != 0)
//   p = p·paramScale                   (AdamW's decoupled decay: paramScale = 1 − lr·wd; Adam: 1)
//   m = β1·m + (1 − β1)·d
//   v = β2·v + (1 − β2)·d·d
//   p = p − stepSize·(m / (√v / bc2Sqrt + eps))
// with stepSize = lr / (1 − β1^t) and bc2Sqrt = √(1 − β2^t) from the caller (eps is added
// after the bias correction, as torch does).

@inline function adamAt(p: usize, m: usize, v: usize, g: usize, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, stepSize: f32, bc2Sqrt: f32, eps: f32, weightDecay: f32, paramScale: f32, o: usize): void {
  let w = load<f32>(p + o);
  let d = load<f32>(g + o);
  if (weightDecay != 0) d = d + weightDecay * w;
  w = w * paramScale;
  const mt = beta1 * load<f32>(m + o) + oneMinusBeta1 * d;
  const vt = beta2 * load<f32>(v + o) + oneMinusBeta2 * d * d;
  store<f32>(m + o, mt);
  store<f32>(v + o, vt);
  store<f32>(p + o, w - stepSize * (mt / (sqrt<f32>(vt) / bc2Sqrt + eps)));
}

/** One Adam (paramScale 1) or AdamW (weightDecay 0, paramScale 1 − lr·wd) step over n values. */
export function f32_adam_step(
  p: usize, // (n) parameters, in place
  m: usize, // (n) first moment (exp_avg), in place
  v: usize, // (n) second moment (exp_avg_sq), in place
  g: usize, // (n) gradients
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  stepSize: f32,
  bc2Sqrt: f32,
  eps: f32,
  weightDecay: f32,
  paramScale: f32,
  n: i32,
): void {
  const vb1 = f32x4.splat(beta1), vc1 = f32x4.splat(oneMinusBeta1);
  const vb2 = f32x4.splat(beta2), vc2 = f32x4.splat(oneMinusBeta2);
  const vstep = f32x4.splat(stepSize), vbc2 = f32x4.splat(bc2Sqrt), veps = f32x4.splat(eps);
  const vwd = f32x4.splat(weightDecay), vscale = f32x4.splat(paramScale);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let w = v128.load(p + o);
    let d = v128.load(g + o);
    if (weightDecay != 0) d = f32x4.add(d, f32x4.mul(vwd, w));
    w = f32x4.mul(w, vscale);
    const mt = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vc1, d));
    const vt = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(f32x4.mul(vc2, d), d));
    v128.store(m + o, mt);
    v128.store(v + o, vt);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vt), vbc2), veps);
    v128.store(p + o, f32x4.sub(w, f32x4.mul(vstep, f32x4.div(mt, denom))));
  }
  for (; i < n; i++) adamAt(p, m, v, g, beta1, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, bc2Sqrt, eps, weightDecay, paramScale, <usize>i << 2);
}
export function f32_adam_step_scalar(p: usize, m: usize, v: usize, g: usize, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, stepSize: f32, bc2Sqrt: f32, eps: f32, weightDecay: f32, paramScale: f32, n: i32): void {
  for (let i = 0; i < n; i++) adamAt(p, m, v, g, beta1, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, bc2Sqrt, eps, weightDecay, paramScale, <usize>i << 2);
}

// ---------------------------------------------------------------------------------------
// RMSprop (torch.optim.RMSprop):
//   d = g + wd·p                               (when wd != 0)
//   s = α·s + (1 − α)·d·d
//   centered: a = α·a + (1 − α)·d;  avg = √(s − a·a) + eps;   else avg = √s + eps
//   momentum: b = momentum·b + d / avg;  p = p − lr·b;        else p = p − lr·(d / avg)
// The momentum buffer starts at zero (unlike SGD's).

@inline function rmspropAt(p: usize, squareAvg: usize, gradAvg: usize, buf: usize, g: usize, lr: f32, alpha: f32, oneMinusAlpha: f32, eps: f32, weightDecay: f32, momentum: f32, o: usize): void {
  const w = load<f32>(p + o);
  let d = load<f32>(g + o);
  if (weightDecay != 0) d = d + weightDecay * w;
  const s = alpha * load<f32>(squareAvg + o) + oneMinusAlpha * d * d;
  store<f32>(squareAvg + o, s);
  let avg: f32;
  if (gradAvg) {
    const a = alpha * load<f32>(gradAvg + o) + oneMinusAlpha * d;
    store<f32>(gradAvg + o, a);
    avg = sqrt<f32>(s - a * a) + eps;
  } else {
    avg = sqrt<f32>(s) + eps;
  }
  if (buf) {
    const b = momentum * load<f32>(buf + o) + d / avg;
    store<f32>(buf + o, b);
    store<f32>(p + o, w - lr * b);
  } else {
    store<f32>(p + o, w - lr * (d / avg));
  }
}

/** One RMSprop step over n values. `gradAvg` is 0 unless centered; `buf` is 0 unless momentum > 0. */
export function f32_rmsprop_step(
  p: usize, // (n) parameters, in place
  squareAvg: usize, // (n) running mean of d², in place
  gradAvg: usize, // (n) running mean of d (centered), in place; or 0
  buf: usize, // (n) momentum buffer, in place; or 0
  g: usize, // (n) gradients
  lr: f32,
  alpha: f32,
  oneMinusAlpha: f32,
  eps: f32,
  weightDecay: f32,
  momentum: f32,
  n: i32,
): void {
  const vlr = f32x4.splat(lr), valpha = f32x4.splat(alpha), vc = f32x4.splat(oneMinusAlpha);
  const veps = f32x4.splat(eps), vwd = f32x4.splat(weightDecay), vmom = f32x4.splat(momentum);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const w = v128.load(p + o);
    let d = v128.load(g + o);
    if (weightDecay != 0) d = f32x4.add(d, f32x4.mul(vwd, w));
    const s = f32x4.add(f32x4.mul(valpha, v128.load(squareAvg + o)), f32x4.mul(f32x4.mul(vc, d), d));
    v128.store(squareAvg + o, s);
    let avg: v128;
    if (gradAvg) {
      const a = f32x4.add(f32x4.mul(valpha, v128.load(gradAvg + o)), f32x4.mul(vc, d));
      v128.store(gradAvg + o, a);
      avg = f32x4.add(f32x4.sqrt(f32x4.sub(s, f32x4.mul(a, a))), veps);
    } else {
      avg = f32x4.add(f32x4.sqrt(s), veps);
    }
    if (buf) {
      const b = f32x4.add(f32x4.mul(vmom, v128.load(buf + o)), f32x4.div(d, avg));
      v128.store(buf + o, b);
      v128.store(p + o, f32x4.sub(w, f32x4.mul(vlr, b)));
    } else {
      v128.store(p + o, f32x4.sub(w, f32x4.mul(vlr, f32x4.div(d, avg))));
    }
  }
  for (; i < n; i++) rmspropAt(p, squareAvg, gradAvg, buf, g, lr, alpha, oneMinusAlpha, eps, weightDecay, momentum, <usize>i << 2);
}
export function f32_rmsprop_step_scalar(p: usize, squareAvg: usize, gradAvg: usize, buf: usize, g: usize, lr: f32, alpha: f32, oneMinusAlpha: f32, eps: f32, weightDecay: f32, momentum: f32, n: i32): void {
  for (let i = 0; i < n; i++) rmspropAt(p, squareAvg, gradAvg, buf, g, lr, alpha, oneMinusAlpha, eps, weightDecay, momentum, <usize>i << 2);
}

// ---------------------------------------------------------------------------------------
// Adagrad (torch.optim.Adagrad), with clr = lr / (1 + (t − 1)·lrDecay) from the caller:
//   d = g + wd·p            (when wd != 0)
//   s = s + d·d
//   p = p − clr·(d / (√s + eps))

@inline function adagradAt(p: usize, sum: usize, g: usize, clr: f32, eps: f32, weightDecay: f32, o: usize): void {
  const w = load<f32>(p + o);
  let d = load<f32>(g + o);
  if (weightDecay != 0) d = d + weightDecay * w;
  const s = load<f32>(sum + o) + d * d;
  store<f32>(sum + o, s);
  store<f32>(p + o, w - clr * (d / (sqrt<f32>(s) + eps)));
}

/** One Adagrad step over n values. */
export function f32_adagrad_step(
  p: usize, // (n) parameters, in place
  sum: usize, // (n) sum of squared gradients, in place
  g: usize, // (n) gradients
  clr: f32,
  eps: f32,
  weightDecay: f32,
  n: i32,
): void {
  const vclr = f32x4.splat(clr), veps = f32x4.splat(eps), vwd = f32x4.splat(weightDecay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const w = v128.load(p + o);
    let d = v128.load(g + o);
    if (weightDecay != 0) d = f32x4.add(d, f32x4.mul(vwd, w));
    const s = f32x4.add(v128.load(sum + o), f32x4.mul(d, d));
    v128.store(sum + o, s);
    v128.store(p + o, f32x4.sub(w, f32x4.mul(vclr, f32x4.div(d, f32x4.add(f32x4.sqrt(s), veps)))));
  }
  for (; i < n; i++) adagradAt(p, sum, g, clr, eps, weightDecay, <usize>i << 2);
}
export function f32_adagrad_step_scalar(p: usize, sum: usize, g: usize, clr: f32, eps: f32, weightDecay: f32, n: i32): void {
  for (let i = 0; i < n; i++) adagradAt(p, sum, g, clr, eps, weightDecay, <usize>i << 2);
}
