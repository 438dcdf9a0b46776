// Optimizers with torch.optim's semantics (PyTorch 1.13). Each step is: one pass for the
// global gradient norm (float64), optional clipping, then ONE kernel over all of a model's
// parameters: the flat value and gradient buffers of its ParamStore, and state buffers of the
// same length. The optimizer owns its state (Tensors in wasm memory, allocated when it is
// first bound to a store); `dispose()` frees them.
import { ParamStore, Tensor, UnfoldError, checkInt, engine } from "../engine/index.js";
import { checkNumber, checkOptions, type Schedule } from "./schedules.js";

/** A learning rate: a number, or a Schedule called with the step count (0-based) at every step. */
export type LearningRate = number | Schedule;

/** Options every optimizer takes besides its own. */
interface ClipOptions {
  /**
   * Rescales the gradients when their global norm (over ALL parameters) exceeds this:
   * g ← g·min(1, clipNorm/‖g‖). A number > 0; default none.
   */
  clipNorm?: number;
  /** Clamps every gradient element to [−clipValue, clipValue] (after `clipNorm`). A number > 0; default none. */
  clipValue?: number;
}

export interface SGDOptions extends ClipOptions {
  /** Learning rate, a number >= 0 or a Schedule. Required (as in PyTorch). */
  lr: LearningRate;
  /** Momentum factor, >= 0. Default 0 (plain SGD). The buffer starts as the first gradient. */
  momentum?: number;
  /** Dampening of the momentum: b ← momentum·b + (1 − dampening)·g, in [0, 1]. Default 0. */
  dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean;
  /** L2 penalty, >= 0, added to the gradient before momentum: g ← g + weightDecay·p. Default 0. */
  weightDecay?: number;
}

export interface AdamOptions extends ClipOptions {
  /** Learning rate, a number >= 0 or a Schedule. Default 1e-3. */
  lr?: LearningRate;
  /** Decay rates [β1, β2] of the first and second moment averages, each in [0, 1). Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the bias-corrected √v̂ in the denominator, > 0. Default 1e-8. */
  eps?: number;
  /** L2 penalty, >= 0, added to the gradient: g ← g + weightDecay·p (see AdamW for decoupled decay). Default 0. */
  weightDecay?: number;
}

export interface AdamWOptions extends ClipOptions {
  /** Learning rate, a number >= 0 or a Schedule. Default 1e-3. */
  lr?: LearningRate;
  /** Decay rates [β1, β2] of the first and second moment averages, each in [0, 1). Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the bias-corrected √v̂ in the denominator, > 0. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay, >= 0: p ← p·(1 − lr·weightDecay) before the Adam update. Default 1e-2. */
  weightDecay?: number;
}

export interface RMSpropOptions extends ClipOptions {
  /** Learning rate, a number >= 0 or a Schedule. Default 1e-2. */
  lr?: LearningRate;
  /** Smoothing constant of the running mean of g², in [0, 1]. Default 0.99. */
  alpha?: number;
  /** Added to the square root of the running mean, > 0. Default 1e-8. */
  eps?: number;
  /** L2 penalty, >= 0, added to the gradient: g ← g + weightDecay·p. Default 0. */
  weightDecay?: number;
  /** Momentum factor, >= 0: the buffer accumulates g/(√v + eps) and lr multiplies it. Default 0. */
  momentum?: number;
  /** Normalises by the estimated variance, v − (mean g)², instead of v. Default false. */
  centered?: boolean;
}

export interface AdagradOptions extends ClipOptions {
  /** Learning rate, a number >= 0 or a Schedule. Default 1e-2. */
  lr?: LearningRate;
  /** Learning-rate decay, >= 0: step t (from 1) uses lr / (1 + (t − 1)·lrDecay). Default 0. */
  lrDecay?: number;
  /** L2 penalty, >= 0, added to the gradient: g ← g + weightDecay·p. Default 0. */
  weightDecay?: number;
  /** Starting value of the sum of squared gradients, >= 0. Default 0. */
  initialAccumulatorValue?: number;
  /** Added to the square root of the sum, > 0. Default 1e-10 (PyTorch's Adagrad default). */
  eps?: number;
}

/** Options after defaults and validation; `clipNorm`/`clipValue` are null when off. */
export interface ResolvedCommonOptions {
  lr: LearningRate;
  clipNorm: number | null;
  clipValue: number | null;
}
export interface ResolvedSGDOptions extends ResolvedCommonOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}
export interface ResolvedAdamOptions extends ResolvedCommonOptions {
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}
export interface ResolvedRMSpropOptions extends ResolvedCommonOptions {
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
}
export interface ResolvedAdagradOptions extends ResolvedCommonOptions {
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  eps: number;
}

/** A checkpoint of an optimizer: plain data, copied out of wasm memory. */
export interface OptimizerState {
  /** The optimizer's class name, e.g. "Adam". */
  name: string;
  /** Updates made so far (0-based count: the next step is step + 1). */
  step: number;
  /** The resolved options, for the record (`lr` is null when it is a Schedule). */
  options: Record<string, number | boolean | number[] | null>;
  /** The state buffers by name (PyTorch's names in camelCase), each of the store's length. */
  buffers: Record<string, Float32Array>;
}

const CLIP_KEYS = ["clipNorm", "clipValue"] as const;

function resolveCommon(kind: string, options: ClipOptions & { lr?: LearningRate }, defaultLr: number | null): ResolvedCommonOptions {
  let lr: LearningRate;
  if (options.lr === undefined) {
    if (defaultLr === null) throw new UnfoldError(`${kind}: lr is required (a number >= 0 or a schedule)`);
    lr = defaultLr;
  } else if (typeof options.lr === "function") {
    lr = options.lr;
  } else {
    lr = checkNumber(`${kind}: lr`, options.lr, 0);
  }
  const clipNorm = options.clipNorm === undefined ? null : checkNumber(`${kind}: clipNorm`, options.clipNorm, 0, Infinity, true);
  const clipValue = options.clipValue === undefined ? null : checkNumber(`${kind}: clipValue`, options.clipValue, 0, Infinity, true);
  return { lr, clipNorm, clipValue };
}

function checkBoolean(what: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new UnfoldError(`${what} must be true or false, got ${String(value)}`);
  return value;
}

function resolveBetas(kind: string, value: unknown): readonly [number, number] {
  if (value === undefined) return [0.9, 0.999];
  if (!Array.isArray(value) || value.length !== 2) {
    throw new UnfoldError(`${kind}: betas must be two numbers [beta1, beta2], got ${Array.isArray(value) ? `${value.length} values` : String(value)}`);
  }
  return Object.freeze([checkNumber(`${kind}: betas[0]`, value[0], 0, 1, false, true), checkNumber(`${kind}: betas[1]`, value[1], 0, 1, false, true)] as const);
}

export function resolveSGDOptions(options: SGDOptions): ResolvedSGDOptions {
  checkOptions("SGD", options, ["lr", "momentum", "dampening", "nesterov", "weightDecay", ...CLIP_KEYS]);
  const resolved = {
    ...resolveCommon("SGD", options, null),
    momentum: checkNumber("SGD: momentum", options.momentum ?? 0, 0),
    dampening: checkNumber("SGD: dampening", options.dampening ?? 0, 0, 1),
    nesterov: checkBoolean("SGD: nesterov", options.nesterov, false),
    weightDecay: checkNumber("SGD: weightDecay", options.weightDecay ?? 0, 0),
  };
  if (resolved.nesterov && (resolved.momentum <= 0 || resolved.dampening !== 0)) {
    throw new UnfoldError(`SGD: nesterov needs momentum > 0 and dampening 0, got momentum ${resolved.momentum}, dampening ${resolved.dampening}`);
  }
  return resolved;
}

function resolveAdam(kind: "Adam" | "AdamW", options: AdamOptions | AdamWOptions, defaultWeightDecay: number): ResolvedAdamOptions {
  checkOptions(kind, options, ["lr", "betas", "eps", "weightDecay", ...CLIP_KEYS]);
  return {
    ...resolveCommon(kind, options, 1e-3),
    betas: resolveBetas(kind, options.betas),
    eps: checkNumber(`${kind}: eps`, options.eps ?? 1e-8, 0, Infinity, true),
    weightDecay: checkNumber(`${kind}: weightDecay`, options.weightDecay ?? defaultWeightDecay, 0),
  };
}

export function resolveAdamOptions(options: AdamOptions): ResolvedAdamOptions {
  return resolveAdam("Adam", options, 0);
}

export function resolveAdamWOptions(options: AdamWOptions): ResolvedAdamOptions {
  return resolveAdam("AdamW", options, 1e-2);
}

export function resolveRMSpropOptions(options: RMSpropOptions): ResolvedRMSpropOptions {
  checkOptions("RMSprop", options, ["lr", "alpha", "eps", "weightDecay", "momentum", "centered", ...CLIP_KEYS]);
  return {
    ...resolveCommon("RMSprop", options, 1e-2),
    alpha: checkNumber("RMSprop: alpha", options.alpha ?? 0.99, 0, 1),
    eps: checkNumber("RMSprop: eps", options.eps ?? 1e-8, 0, Infinity, true),
    weightDecay: checkNumber("RMSprop: weightDecay", options.weightDecay ?? 0, 0),
    momentum: checkNumber("RMSprop: momentum", options.momentum ?? 0, 0),
    centered: checkBoolean("RMSprop: centered", options.centered, false),
  };
}

export function resolveAdagradOptions(options: AdagradOptions): ResolvedAdagradOptions {
  checkOptions("Adagrad", options, ["lr", "lrDecay", "weightDecay", "initialAccumulatorValue", "eps", ...CLIP_KEYS]);
  return {
    ...resolveCommon("Adagrad", options, 1e-2),
    lrDecay: checkNumber("Adagrad: lrDecay", options.lrDecay ?? 0, 0),
    weightDecay: checkNumber("Adagrad: weightDecay", options.weightDecay ?? 0, 0),
    initialAccumulatorValue: checkNumber("Adagrad: initialAccumulatorValue", options.initialAccumulatorValue ?? 0, 0),
    eps: checkNumber("Adagrad: eps", options.eps ?? 1e-10, 0, Infinity, true),
  };
}

/**
 * An optimizer: `step(params)` reads the gradients in `params.grads`, optionally clips them
 * (in place), and updates `params.values`. Its state (momentum, moments, accumulators, each a
 * Tensor of the store's length, and the step count) belongs to ONE ParamStore, bound on the
 * first step (or by `bind`); the optimizer owns that state and `dispose()` frees it, after
 * which the optimizer starts afresh (step 0) on its next step.
 */
export abstract class Optimizer<O extends ResolvedCommonOptions = ResolvedCommonOptions> {
  /** The class name, as recorded in `getState()`. */
  abstract readonly name: string;
  /** The options after defaults and validation. */
  readonly options: Readonly<O>;
  private store: ParamStore | null = null;
  /** Length of the state buffers (set by binding, or by `setState` before binding); -1 when there are none. */
  private length = -1;
  private readonly buffers = new Map<string, Tensor>();
  private steps = 0;

  protected constructor(options: O) {
    this.options = Object.freeze(options);
  }

  /** The state buffers these options need, in a fixed order. */
  protected abstract bufferNames(): readonly string[];

  /** The value a fresh state buffer starts with. */
  protected initialValue(_buffer: string): number {
    return 0;
  }

  /**
   * Runs the update kernel for step `t` (counted from 1) with learning rate `lr` over `count`
   * elements from element `start` of the flat buffers (values, gradients and state alike).
   */
  protected abstract update(params: ParamStore, lr: number, t: number, start: number, count: number): void;

  /** Updates made so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** The learning rate the next step uses. */
  get lr(): number {
    const { lr } = this.options;
    const value = typeof lr === "number" ? lr : lr(this.steps);
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new UnfoldError(`${this.name}: the learning-rate schedule gave ${String(value)} at step ${this.steps}; it must be a finite number >= 0`);
    }
    return value;
  }

  /** Address of element `start` of a state buffer (it exists once bound). */
  protected buffer(name: string, start = 0): number {
    const t = this.buffers.get(name);
    if (!t) throw new UnfoldError(`${this.name}: internal: no state buffer "${name}"`);
    return t.ptr + start * 4;
  }

  /**
   * Ties the optimizer's state to `params`, allocating it if needed (a no-op when already
   * bound to it). Throws if the state belongs to another store or has another length.
   */
  bind(params: ParamStore): void {
    if (!(params instanceof ParamStore)) throw new UnfoldError(`${this.name}: expected a ParamStore (e.g. model.params), got ${params === null ? "null" : typeof params}`);
    if (this.store === params) return;
    if (this.store) {
      throw new UnfoldError(
        `${this.name}: this optimizer's state belongs to another ParamStore (${this.store.length} values, this one has ${params.length}); ` +
          `use one optimizer per model, or dispose() it to start afresh`,
      );
    }
    if (this.length >= 0) {
      if (this.length !== params.length) {
        throw new UnfoldError(`${this.name}: the restored state holds ${this.length} values per buffer, but the ParamStore has ${params.length}`);
      }
    } else {
      this.allocate(params.length);
    }
    this.store = params;
  }

  /**
   * One update of `params.values` from `params.grads`: the global gradient norm, clipping
   * (which rescales `params.grads` in place), then the update. Returns the norm BEFORE
   * clipping. A non-finite gradient throws and leaves parameters and state unchanged.
   *
   * A row-sparse parameter (an Embedding with `sparse: true`) takes part with the rows its
   * examples touched and nothing else: the other rows keep their values AND their state
   * (moments, momentum, accumulators), as torch.optim.SparseAdam and a sparse Adagrad do —
   * "lazy" updates. Weight decay, too, reaches only the touched rows.
   */
  step(params: ParamStore): { gradNorm: number } {
    this.bind(params);
    const lr = this.lr;
    const k = engine().k;
    const grads = params.grads.ptr;
    let sumsq = 0;
    params.forEachRange((start, count) => (sumsq += k.f32_sumsq(grads + start * 4, count)));
    const gradNorm = Math.sqrt(sumsq);
    // The squares are summed in float64, which cannot overflow from float32 values: the norm
    // is finite exactly when every gradient is.
    if (!Number.isFinite(gradNorm)) {
      throw new UnfoldError(
        `${this.name}: a gradient is ${Number.isNaN(gradNorm) ? "NaN" : "infinite"} (gradient norm ${gradNorm}); ` +
          `the parameters were left unchanged — try a lower learning rate or clipNorm`,
      );
    }
    const { clipNorm, clipValue } = this.options;
    const t = this.steps + 1;
    params.forEachRange((start, count) => {
      const g = grads + start * 4;
      if (clipNorm !== null && gradNorm > clipNorm) k.f32_scale(g, clipNorm / gradNorm, count);
      if (clipValue !== null) k.f32_clip(g, -clipValue, clipValue, count);
      this.update(params, lr, t, start, count);
    });
    this.steps++;
    return { gradNorm };
  }

  /** A copy of the state: step count, options, and every state buffer (empty before the first bind). */
  getState(): OptimizerState {
    const options: OptimizerState["options"] = {};
    for (const [key, value] of Object.entries(this.options)) {
      options[key] = typeof value === "function" ? null : Array.isArray(value) ? [...value] : (value as number | boolean | null);
    }
    const buffers: Record<string, Float32Array> = {};
    for (const [name, t] of this.buffers) buffers[name] = t.toFloat32Array();
    return { name: this.name, step: this.steps, options, buffers };
  }

  /**
   * Restores a state from `getState()` so that the following steps give the same bits as the
   * optimizer it came from. Checks everything before changing anything: the optimizer name,
   * the step, and that the buffers are exactly the ones these options use, all of one length
   * (the bound store's, if bound), and finite. The options recorded in the state are not
   * applied: this optimizer keeps its own.
   */
  setState(state: OptimizerState): void {
    const what = `${this.name}.setState`;
    if (state === null || typeof state !== "object") throw new UnfoldError(`${what}: expected a state from getState(), got ${state === null ? "null" : typeof state}`);
    if (state.name !== this.name) throw new UnfoldError(`${what}: the state is from ${JSON.stringify(state.name)}, not ${this.name}`);
    const step = checkInt(`${what}: step`, state.step);
    const buffers = state.buffers;
    if (buffers === null || typeof buffers !== "object") throw new UnfoldError(`${what}: buffers must be an object of Float32Arrays, got ${buffers === null ? "null" : typeof buffers}`);
    const expected = this.bufferNames();
    const given = Object.keys(buffers);
    let length = -1;
    if (given.length > 0 || (step > 0 && expected.length > 0)) {
      const list = expected.length ? expected.join(", ") : "none";
      for (const name of expected) {
        if (!(name in buffers)) throw new UnfoldError(`${what}: missing buffer "${name}" (${this.name} with these options keeps: ${list})`);
      }
      for (const name of given) {
        if (!expected.includes(name)) throw new UnfoldError(`${what}: unexpected buffer "${name}" (${this.name} with these options keeps: ${list})`);
      }
      for (const name of expected) {
        const data = buffers[name];
        if (!(data instanceof Float32Array)) throw new UnfoldError(`${what}: buffer "${name}" must be a Float32Array, got ${data === null ? "null" : typeof data}`);
        if (length < 0) length = data.length;
        if (data.length !== length) throw new UnfoldError(`${what}: buffer "${name}" has ${data.length} values, buffer "${expected[0]}" has ${length}`);
        for (let i = 0; i < data.length; i++) {
          if (!Number.isFinite(data[i])) throw new UnfoldError(`${what}: buffer "${name}" value ${i} is ${data[i]}: optimizer state must be finite`);
        }
      }
      if (this.store && length !== this.store.length) {
        throw new UnfoldError(`${what}: the state holds ${length} values per buffer, but the bound ParamStore has ${this.store.length}`);
      }
    }
    // Valid: replace the state.
    if (length < 0) {
      // No buffers (a fresh state, or options that keep none): start from initial values.
      this.freeBuffers();
      if (this.store) this.allocate(this.store.length);
    } else {
      if (length !== this.length || this.buffers.size !== expected.length) {
        this.freeBuffers();
        this.allocate(length);
      }
      for (const name of expected) this.buffers.get(name)!.write(buffers[name], true);
    }
    this.steps = step;
  }

  /** Frees the state; the optimizer is unbound and starts from step 0 on its next step. */
  dispose(): void {
    this.freeBuffers();
    this.store = null;
    this.steps = 0;
  }

  private allocate(length: number): void {
    try {
      for (const name of this.bufferNames()) {
        const t = new Tensor([length]);
        this.buffers.set(name, t);
        const value = this.initialValue(name);
        if (value !== 0) t.fill(value);
      }
    } catch (e) {
      this.freeBuffers();
      throw e;
    }
    this.length = length;
  }

  private freeBuffers(): void {
    for (const t of this.buffers.values()) t.dispose();
    this.buffers.clear();
    this.length = -1;
  }
}

/** Stochastic gradient descent with optional momentum, dampening, Nesterov and L2 decay (torch.optim.SGD). */
export class SGD extends Optimizer<ResolvedSGDOptions> {
  readonly name = "SGD";

  constructor(options: SGDOptions) {
    super(resolveSGDOptions(options));
  }

  protected bufferNames(): readonly string[] {
    return this.options.momentum !== 0 ? ["momentumBuffer"] : [];
  }

  protected update(params: ParamStore, lr: number, t: number, start: number, count: number): void {
    const o = this.options;
    const buf = o.momentum !== 0 ? this.buffer("momentumBuffer", start) : 0;
    const { values, grads } = at(params, start);
    engine().k.f32_sgd_step(values, buf, grads, lr, o.momentum, 1 - o.dampening, o.weightDecay, o.nesterov ? 1 : 0, t === 1 ? 1 : 0, count);
  }
}

/** Addresses of element `start` of a store's values and gradients. */
function at(params: ParamStore, start: number): { values: number; grads: number } {
  return { values: params.values.ptr + start * 4, grads: params.grads.ptr + start * 4 };
}

/** The Adam update for both Adam (L2 decay in the gradient) and AdamW (decoupled decay), over `count` elements from `start`. */
function adamUpdate(opt: Optimizer<ResolvedAdamOptions>, m: number, v: number, params: ParamStore, lr: number, t: number, decoupled: boolean, start: number, count: number): void {
  const { betas, eps, weightDecay } = opt.options;
  const [beta1, beta2] = betas;
  // Bias corrections in float64, passed as float32 factors (as torch does with Python floats).
  const stepSize = lr / (1 - beta1 ** t);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
  const { values, grads } = at(params, start);
  engine().k.f32_adam_step(
    values, m, v, grads,
    beta1, 1 - beta1, beta2, 1 - beta2, stepSize, bc2Sqrt, eps,
    decoupled ? 0 : weightDecay, decoupled ? 1 - lr * weightDecay : 1, count,
  );
}

/** Adam with L2 weight decay added to the gradient (torch.optim.Adam, amsgrad off). */
export class Adam extends Optimizer<ResolvedAdamOptions> {
  readonly name = "Adam";

  constructor(options: AdamOptions = {}) {
    super(resolveAdamOptions(options));
  }

  protected bufferNames(): readonly string[] {
    return ["expAvg", "expAvgSq"];
  }

  protected update(params: ParamStore, lr: number, t: number, start: number, count: number): void {
    adamUpdate(this, this.buffer("expAvg", start), this.buffer("expAvgSq", start), params, lr, t, false, start, count);
  }
}

/** Adam with decoupled weight decay, p ← p·(1 − lr·wd) before the update (torch.optim.AdamW, amsgrad off). */
export class AdamW extends Optimizer<ResolvedAdamOptions> {
  readonly name = "AdamW";

  constructor(options: AdamWOptions = {}) {
    super(resolveAdamWOptions(options));
  }

  protected bufferNames(): readonly string[] {
    return ["expAvg", "expAvgSq"];
  }

  protected update(params: ParamStore, lr: number, t: number, start: number, count: number): void {
    adamUpdate(this, this.buffer("expAvg", start), this.buffer("expAvgSq", start), params, lr, t, true, start, count);
  }
}

/** RMSprop with optional momentum and centering (torch.optim.RMSprop). */
export class RMSprop extends Optimizer<ResolvedRMSpropOptions> {
  readonly name = "RMSprop";

  constructor(options: RMSpropOptions = {}) {
    super(resolveRMSpropOptions(options));
  }

  protected bufferNames(): readonly string[] {
    const names = ["squareAvg"];
    if (this.options.momentum > 0) names.push("momentumBuffer");
    if (this.options.centered) names.push("gradAvg");
    return names;
  }

  protected update(params: ParamStore, lr: number, _t: number, start: number, count: number): void {
    const o = this.options;
    const { values, grads } = at(params, start);
    engine().k.f32_rmsprop_step(
      values, this.buffer("squareAvg", start), o.centered ? this.buffer("gradAvg", start) : 0, o.momentum > 0 ? this.buffer("momentumBuffer", start) : 0,
      grads, lr, o.alpha, 1 - o.alpha, o.eps, o.weightDecay, o.momentum, count,
    );
  }
}

/** Adagrad with learning-rate decay and a starting accumulator (torch.optim.Adagrad). */
export class Adagrad extends Optimizer<ResolvedAdagradOptions> {
  readonly name = "Adagrad";

  constructor(options: AdagradOptions = {}) {
    super(resolveAdagradOptions(options));
  }

  protected bufferNames(): readonly string[] {
    return ["sum"];
  }

  protected override initialValue(): number {
    return this.options.initialAccumulatorValue;
  }

  protected update(params: ParamStore, lr: number, t: number, start: number, count: number): void {
    const o = this.options;
    const clr = lr / (1 + (t - 1) * o.lrDecay);
    const { values, grads } = at(params, start);
    engine().k.f32_adagrad_step(values, this.buffer("sum", start), grads, clr, o.eps, o.weightDecay, count);
  }
}
