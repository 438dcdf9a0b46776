import { ParamStore, Tensor, UnfoldError, engine, formatShape } from "../engine/index.js";
import { Rng } from "../data/rng.js";
import type { Layer, RunContext } from "../layers/layer.js";
import { Loss, type LossName } from "../layers/losses.js";

export interface SequentialOptions {
  /** Features of each input step. Required unless the first layer fixes its own input. */
  inputSize?: number;
  /** The training loss, by name or as a configured Loss. */
  loss?: LossName | Loss;
  /** Seeds initialisation (and, in training, dropout and shuffling). Default 0. */
  seed?: number;
}

/**
 * Layers applied in order to a time-major batch [T, B, F]. All parameters live in one flat
 * store (values and gradients), initialised from the seed in layer order. The model owns
 * its layers, its loss and its store; `dispose()` frees them all.
 */
export class Sequential {
  readonly layers: readonly Layer[];
  readonly params: ParamStore;
  readonly loss: Loss | null;
  readonly rng: Rng;
  readonly inputSize: number;
  readonly outputSize: number;
  private disposed = false;
  private output: Tensor | null = null;

  constructor(layers: Layer[], options: SequentialOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!["inputSize", "loss", "seed"].includes(key)) throw new UnfoldError(`Sequential: unknown option "${key}" (known: inputSize, loss, seed)`);
    }
    if (!Array.isArray(layers) || layers.length === 0) throw new UnfoldError("Sequential needs at least one layer");
    const inputSize = options.inputSize;
    if (typeof inputSize !== "number" || !Number.isInteger(inputSize) || inputSize < 1) {
      throw new UnfoldError(`Sequential: inputSize must be a whole number >= 1 (features per step), got ${String(inputSize)}`);
    }
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new UnfoldError(`Sequential: seed must be a whole number, got ${seed}`);
    this.rng = new Rng(seed);
    this.inputSize = inputSize;
    let size = inputSize;
    const counts = new Map<string, number>();
    for (const layer of layers) {
      const n = counts.get(layer.kind) ?? 0;
      counts.set(layer.kind, n + 1);
      size = layer.build(size, `${layer.kind}${n}`);
    }
    this.outputSize = size;
    this.layers = layers;
    const specs = layers.flatMap((l) => l.paramSpecs);
    this.params = new ParamStore(specs);
    for (const spec of specs) this.params.write(spec.name, spec.init(spec.shape, this.rng));
    for (const layer of layers) layer.bind(this.params);
    this.loss = options.loss === undefined ? null : typeof options.loss === "string" ? new Loss(options.loss) : options.loss;
  }

  private context(training: boolean): RunContext {
    return { training, rng: this.rng };
  }

  private checkAlive(): void {
    if (this.disposed) throw new UnfoldError("this model was disposed and can no longer be used");
  }

  /** Validates an input batch: [T, B, inputSize], float32, finite. */
  checkInput(x: Tensor): void {
    if (x.shape.length !== 3 || x.shape[2] !== this.inputSize) {
      throw new UnfoldError(`model expected input [T, B, ${this.inputSize}] (time-major), got ${formatShape(x.shape)}`);
    }
    if (x.dtype !== "float32") throw new UnfoldError(`model expected float32 input, got ${x.dtype}`);
    if (!engine().k.f32_all_finite(x.ptr, x.size)) throw new UnfoldError(`model input ${formatShape(x.shape)} contains NaN or Infinity`);
  }

  /** Runs every layer. The result is owned by the model and valid until its next call. */
  forward(x: Tensor, options: { training?: boolean } = {}): Tensor {
    this.checkAlive();
    this.checkInput(x);
    const ctx = this.context(options.training ?? false);
    let h = x;
    for (const layer of this.layers) h = layer.forward(h, ctx);
    this.output = h;
    return h;
  }

  /** The output of the last forward (owned by the model), or null before the first. */
  get lastOutput(): Tensor | null {
    return this.output;
  }

  /** Back through every layer from the gradient of the last forward's output; adds into the parameter gradients. */
  backward(dy: Tensor): Tensor {
    this.checkAlive();
    let d = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) d = this.layers[i].backward(d);
    return d;
  }

  /** The output for `x`, as a new tensor the caller owns. */
  predict(x: Tensor): Tensor {
    const y = this.forward(x);
    return Tensor.fromArray(y.toFloat32Array(), y.shape);
  }

  /** Forward, loss and backward: gradients of the loss are left in `params.grads`. Returns the loss. */
  lossAndGradients(x: Tensor, target: Tensor): number {
    if (!this.loss) throw new UnfoldError("this model has no loss: pass { loss } to the Sequential constructor");
    const y = this.forward(x, { training: true });
    this.params.zeroGrads();
    const value = this.loss.compute(y, target);
    this.backward(this.loss.grad);
    return value;
  }

  /**
   * One step of plain SGD (θ ← θ − lr·∇θ). Returns the loss before the update. The full set
   * of optimizers lives in train/.
   */
  trainStep(x: Tensor, target: Tensor, options: { lr: number }): number {
    if (!(options.lr > 0) || !Number.isFinite(options.lr)) throw new UnfoldError(`trainStep: lr must be a finite number > 0, got ${options.lr}`);
    const value = this.lossAndGradients(x, target);
    const k = engine().k;
    if (!Number.isFinite(value) || !k.f32_all_finite(this.params.grads.ptr, this.params.length)) {
      throw new UnfoldError(`trainStep: the loss or a gradient is not finite (loss ${value}); the weights were left unchanged — try a lower learning rate or gradient clipping`);
    }
    k.f32_axpy(this.params.values.ptr, -options.lr, this.params.grads.ptr, this.params.length);
    return value;
  }

  /** A copy of every parameter, by name (PyTorch-style names, e.g. `lstm0.weight_ih`). */
  getWeights(): Record<string, Float32Array> {
    this.checkAlive();
    const out: Record<string, Float32Array> = {};
    for (const e of this.params.entries) out[e.name] = this.params.read(e.name);
    return out;
  }

  /** Sets parameters by name. Every value is checked before any is written. */
  setWeights(weights: Record<string, ArrayLike<number>>): void {
    this.checkAlive();
    for (const [name, data] of Object.entries(weights)) {
      const e = this.params.entry(name);
      if (data.length !== e.size) throw new UnfoldError(`parameter "${name}" has shape ${formatShape(e.shape)} (${e.size} values), got ${data.length}`);
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new UnfoldError(`parameter "${name}" value ${i} is ${data[i]}: weights must be finite`);
    }
    for (const [name, data] of Object.entries(weights)) this.params.write(name, data);
  }

  dispose(): void {
    if (this.disposed) return;
    for (const layer of this.layers) layer.dispose();
    this.loss?.dispose();
    this.params.dispose();
    this.disposed = true;
  }
}
