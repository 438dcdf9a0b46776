import { ParamStore, Tensor, UnfoldError, Workspace, engine, formatShape, type DType } from "../engine/index.js";
import { Rng } from "../data/rng.js";
import { Dense } from "../layers/dense.js";
import { Embedding, checkTokenIds } from "../layers/embedding.js";
import { Jordan } from "../layers/jordan.js";
import { checkKnownOptions, type Layer, type RunContext } from "../layers/layer.js";
import { Loss, type LossName } from "../layers/losses.js";
import { SequencePooling } from "../layers/pooling.js";
import { RecurrentLayer, checkLengths } from "../layers/recurrent.js";
import { layerConfig } from "../layers/registry.js";
import type { LayerConfig } from "../layers/recurrent.js";
import type { LossOptions } from "../layers/losses.js";
import { matchWeights, modelParts, readModelFile, writeModelFile } from "../io/model-file.js";
import { TokenSampler } from "./generate.js";

/**
 * How a fixed per-sample context vector c [B, size] conditions the model (the
 * image-captioning case: c is the image's feature vector).
 * - `"input"`: c is concatenated to the input of every step, before the first layer (after
 *   the Embedding when the model takes tokens), so that layer sees [x_t, c].
 * - `"initialState"`: each state of the first recurrent layer starts at tanh(W c + b), one
 *   learned projection per state (`context.h0.*`, and `context.c0.*` for an LSTM's cell
 *   state), instead of zeros.
 * - `"both"`: both.
 */
export type ContextMode = "input" | "initialState" | "both";
const CONTEXT_MODES: readonly ContextMode[] = ["input", "initialState", "both"];

export interface ContextOptions {
  /** Width of the context vector. */
  size: number;
  mode: ContextMode;
}

export interface SequentialOptions {
  /**
   * Features of each input step. Required unless the first layer is an Embedding (which
   * takes token ids; then inputSize, if given, must equal its vocab).
   */
  inputSize?: number;
  /** The training loss, by name or as a configured Loss. */
  loss?: LossName | Loss;
  /** Seeds initialisation (and, in training, dropout and shuffling). Default 0. */
  seed?: number;
  /** Condition every sequence on a fixed per-sample vector given with the input. */
  context?: ContextOptions;
}

/** Marks constructor options of a model whose every weight is written right after (load): no initialisers run. */
const UNINITIALISED = Symbol("uninitialised");

/**
 * A model's architecture as plain JSON: what `Sequential.fromConfig` builds again (with fresh
 * weights) and what a saved model file describes itself with.
 */
export interface ModelConfig {
  /** Features per input step; for token input, the vocabulary size. */
  inputSize: number;
  /** The training loss, by name and options, or null for none. */
  loss: { name: LossName; options: LossOptions } | null;
  /** The context's width and mode, or null. */
  context: ContextOptions | null;
  /** Every layer's kind and resolved options, in order (composites hold their parts' configs). */
  layers: LayerConfig[];
}

/** What a forward pass takes besides the input. */
export interface ForwardOptions {
  /** Training mode (dropout on). Default false. */
  training?: boolean;
  /**
   * Real steps of each sample, B whole numbers in [1, T]: recurrent layers and pooling heads
   * ignore the steps past them, and so does the loss of per-step targets.
   */
  lengths?: ArrayLike<number>;
  /** The per-sample context [B, size], for a model built with `context`. */
  context?: Tensor;
  /**
   * Where every recurrent layer starts, instead of zeros (and instead of the context's
   * projection): the tensors in the order of `getState()` — each layer's states, h then c for
   * an LSTM — each [B, width]. This continues a sequence from the `lastFinalState` of an
   * earlier forward (truncated BPTT does so chunk by chunk); the gradient stops there. With it,
   * a length may be 0: that sample ended in an earlier chunk, and its state passes through.
   */
  initialState?: readonly Tensor[];
}

/** The extra inputs of a training or evaluation batch. */
export type BatchOptions = Omit<ForwardOptions, "training">;

/**
 * Feeding a model its previous output during training, for models whose input at t is their
 * output at t−1. At inference (forward, predict, step, generate) a model always feeds itself.
 */
export interface FeedbackOptions {
  /**
   * A model whose last layer is a Jordan layer: feed the target y_{t−1} back in place of the
   * layer's own previous output (teacher forcing). The gradient stops at a fed target.
   * Default false: the layer feeds itself and BPTT runs through that path.
   */
  teacherForcing?: boolean;
  /**
   * Scheduled sampling: at each step after the first, each sample is fed the model's own
   * previous prediction instead of the truth with this probability (drawn from the model's
   * seeded generator). For a Jordan model it implies teacher forcing and mixes in the layer's
   * own outputs. For a token model (Embedding first) trained on next-token data (x_t = y_{t−1})
   * it replaces input tokens by tokens drawn from the model's predictions at t−1 (`from`:
   * "sample", default, or "argmax"), predicted in one pass over the true inputs first (the
   * parallel form of scheduled sampling).
   */
  scheduledSampling?: { probability: number; from?: "sample" | "argmax" };
}

/** The result of one streaming step. */
export interface StepResult {
  /** The output for this step, [B, outputSize]; owned by the model, valid until its next call. */
  y: Tensor;
  /** A copy of the state after this step, as `getState()` gives it. */
  state: Float32Array[];
}

/** Where the model keeps a stream between `step` calls. */
interface Stream {
  batch: number;
  /** Per layer index: the state tensors of a recurrent layer ([B, stateSizes[s]] each), else undefined. */
  states: (Tensor[] | undefined)[];
  /** The stream's context (a copy), or null. */
  context: Tensor | null;
}

/**
 * Layers applied in order to a time-major batch [T, B, F] (or int32 token ids [T, B] when the
 * first layer is an Embedding). All parameters live in one flat store (values and
 * gradients), initialised from the seed in layer order, then the context projections. The
 * model owns its layers, its loss, its store and its scratch; `dispose()` frees them all.
 */
export class Sequential {
  readonly layers: readonly Layer[];
  readonly params: ParamStore;
  readonly loss: Loss | null;
  readonly rng: Rng;
  /** What the model takes: "float32" feature vectors or "int32" token ids. */
  readonly inputDType: DType;
  /** Features per input step; for token input, the vocabulary size (an id stands for a one-hot vector). */
  readonly inputSize: number;
  readonly outputSize: number;
  /** The context's width and mode, or null for a model without context. */
  readonly context: Readonly<ContextOptions> | null;
  private readonly ws = new Workspace();
  /** Index of the layer whose input gets the context concatenated, or -1. */
  private readonly contextAt: number;
  /** Index of the recurrent layer whose initial state comes from the context, or -1. */
  private readonly stateLayer: number;
  /** One tanh projection context → initial state per state of that layer. */
  private readonly projections: Dense[] = [];
  private disposed = false;
  private output: Tensor | null = null;
  /** Of the last forward: lengths (undefined when every step was real), context, input shape. */
  private lastLengths: Int32Array | undefined;
  private lastContext: Tensor | null = null;
  /** The last forward started from a given initialState (the context's projections did not run). */
  private lastStatesGiven = false;
  private lastSteps = 0;
  private lastBatch = 0;
  private contextGradTensor: Tensor | null = null;
  private stream: Stream | null = null;

  constructor(layers: Layer[], options: SequentialOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!["inputSize", "loss", "seed", "context"].includes(key)) throw new UnfoldError(`Sequential: unknown option "${key}" (known: inputSize, loss, seed, context)`);
    }
    if (!Array.isArray(layers) || layers.length === 0) throw new UnfoldError("Sequential needs at least one layer");
    layers.forEach((layer, i) => {
      if (i > 0 && layer.inputDType !== "float32") throw new UnfoldError(`Sequential: an Embedding takes token ids, so it can only be the first layer (it is layer ${i})`);
    });
    const tokens = layers[0].inputDType === "int32";
    let inputSize = options.inputSize;
    if (tokens) {
      const vocab = (layers[0] as Embedding).vocab;
      if (inputSize !== undefined && inputSize !== vocab) {
        throw new UnfoldError(`Sequential: the first layer is an Embedding, which takes token ids in [0, ${vocab - 1}]; inputSize is not needed (if given it must be the vocab, ${vocab}), got ${String(inputSize)}`);
      }
      inputSize = vocab;
    }
    if (typeof inputSize !== "number" || !Number.isInteger(inputSize) || inputSize < 1) {
      throw new UnfoldError(`Sequential: inputSize must be a whole number >= 1 (features per step), got ${String(inputSize)}`);
    }
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new UnfoldError(`Sequential: seed must be a whole number, got ${seed}`);
    const context = options.context === undefined ? null : resolveContext(options.context);
    const feedsInput = context !== null && context.mode !== "initialState";
    const feedsState = context !== null && context.mode !== "input";
    this.contextAt = feedsInput ? (tokens ? 1 : 0) : -1;
    if (this.contextAt >= layers.length) throw new UnfoldError(`Sequential: context mode "${context!.mode}" joins the context to the Embedding's output, so a layer must follow the Embedding`);
    this.stateLayer = feedsState ? layers.findIndex((l) => l instanceof RecurrentLayer) : -1;
    if (feedsState && this.stateLayer < 0) throw new UnfoldError(`Sequential: context mode "${context!.mode}" sets the initial state of the first recurrent layer, and the model has none`);

    this.rng = new Rng(seed);
    this.inputDType = tokens ? "int32" : "float32";
    this.inputSize = inputSize;
    this.context = context;
    let size = inputSize;
    const counts = new Map<string, number>();
    layers.forEach((layer, i) => {
      const n = counts.get(layer.kind) ?? 0;
      counts.set(layer.kind, n + 1);
      if (i === this.contextAt) size += context!.size;
      size = layer.build(size, `${layer.kind}${n}`);
    });
    this.outputSize = size;
    this.layers = layers;
    if (feedsState) {
      const target = layers[this.stateLayer] as RecurrentLayer;
      const sizes = target.stateSizes;
      for (const [s, name] of target.stateNames.entries()) {
        const projection = new Dense({ units: sizes[s], activation: "tanh" });
        // Named for the state it starts: h → context.h0, c → context.c0, h_l1 → context.h0_l1.
        projection.build(context!.size, `context.${name.replace(/^([^_]+)/, "$10")}`);
        this.projections.push(projection);
      }
    }
    // The loss is resolved before any wasm memory is taken, so a bad name leaks nothing.
    this.loss = options.loss === undefined ? null : typeof options.loss === "string" ? new Loss(options.loss) : options.loss;
    const owned: Layer[] = [...layers, ...this.projections];
    const specs = owned.flatMap((l) => l.paramSpecs);
    this.params = new ParamStore(specs);
    try {
      // A model about to be loaded skips the initialisers (an orthogonal init of a large layer is not free).
      if (!(UNINITIALISED in options)) for (const spec of specs) this.params.write(spec.name, spec.init(spec.shape, this.rng));
      for (const layer of owned) layer.bind(this.params);
    } catch (e) {
      // An initialiser refused (e.g. a forget-gate bias beyond float32): free what was taken.
      this.params.dispose();
      this.loss?.dispose();
      throw e;
    }
  }

  private runContext(training: boolean): RunContext {
    return { training, rng: this.rng };
  }

  private checkAlive(): void {
    if (this.disposed) throw new UnfoldError("this model was disposed and can no longer be used");
  }

  /** Validates an input batch: int32 token ids [T, B], or float32 finite [T, B, inputSize]. */
  checkInput(x: Tensor): void {
    if (this.inputDType === "int32") {
      if (x.dtype !== "int32" || x.shape.length !== 2) {
        throw new UnfoldError(`model expected int32 token ids [T, B] (time-major; its first layer is an Embedding), got ${x.dtype} ${formatShape(x.shape)}`);
      }
      return; // the Embedding checks every id against its vocabulary
    }
    if (x.shape.length !== 3 || x.shape[2] !== this.inputSize) {
      throw new UnfoldError(`model expected input [T, B, ${this.inputSize}] (time-major), got ${formatShape(x.shape)}`);
    }
    if (x.dtype !== "float32") throw new UnfoldError(`model expected float32 input, got ${x.dtype}`);
    if (!engine().k.f32_all_finite(x.ptr, x.size)) throw new UnfoldError(`model input ${formatShape(x.shape)} contains NaN or Infinity`);
  }

  /** Validates the context against a batch of B samples; null for a model without context. */
  private checkContext(c: Tensor | undefined, batch: number): Tensor | null {
    if (!this.context) {
      if (c !== undefined) throw new UnfoldError("this model takes no context: build it with { context: { size, mode } } to condition it on one");
      return null;
    }
    const S = this.context.size;
    if (!c) throw new UnfoldError(`this model is conditioned on a context: pass { context } ([${batch}, ${S}] float32) with the input`);
    if (!(c instanceof Tensor)) throw new UnfoldError(`the context must be a Tensor [${batch}, ${S}]`);
    if (c.dtype !== "float32" || c.shape.length !== 2 || c.shape[0] !== batch || c.shape[1] !== S) {
      throw new UnfoldError(`model expected context [${batch}, ${S}] (batch ${batch}, context size ${S}), got ${c.dtype} ${formatShape(c.shape)}`);
    }
    if (!engine().k.f32_all_finite(c.ptr, c.size)) throw new UnfoldError(`model context ${formatShape(c.shape)} contains NaN or Infinity`);
    return c;
  }

  /**
   * Runs every layer. The result is owned by the model and valid until its next call. With
   * `returnState: true` (Keras' return_state) it comes with the recurrent layers' final states,
   * `{ output, state }`, `state` in the order of `getState()` (as `lastFinalState` gives them).
   */
  forward(x: Tensor, options?: ForwardOptions & { returnState?: false }): Tensor;
  forward(x: Tensor, options: ForwardOptions & { returnState: true }): { output: Tensor; state: readonly Tensor[] };
  forward(x: Tensor, options: ForwardOptions & { returnState?: boolean } = {}): Tensor | { output: Tensor; state: readonly Tensor[] } {
    this.checkAlive();
    const known = ["training", "lengths", "context", "initialState", "returnState"];
    for (const key of Object.keys(options)) {
      if (!known.includes(key)) throw new UnfoldError(`forward: unknown option "${key}" (known: ${known.join(", ")})`);
    }
    const { returnState, ...rest } = options;
    if (returnState !== undefined && typeof returnState !== "boolean") throw new UnfoldError(`forward: returnState must be true or false, got ${String(returnState)}`);
    const y = this.forwardOnly(x, rest);
    return returnState ? { output: y, state: this.lastFinalState } : y;
  }

  private forwardOnly(x: Tensor, options: ForwardOptions): Tensor {
    this.checkInput(x);
    const [T, B] = x.shape;
    const states = options.initialState === undefined ? null : this.initialStates(options.initialState, B);
    let lengths = checkLengths("forward", options.lengths, T, B, states ? 0 : 1) ?? undefined;
    // All steps real: the plain path, bit for bit the same as giving no lengths.
    if (lengths && lengths.every((L) => L === T)) lengths = undefined;
    const c = this.checkContext(options.context, B);
    const y = this.run(x, this.runContext(options.training ?? false), c, lengths, states);
    this.lastLengths = lengths;
    this.lastStatesGiven = states !== null;
    this.lastContext = c;
    this.lastSteps = T;
    this.lastBatch = B;
    this.output = y;
    return y;
  }

  /**
   * The layers over x. `states` (streaming) gives every recurrent layer's initial state;
   * otherwise they start at zero, except the context-initialised one.
   */
  private run(x: Tensor, ctx: RunContext, c: Tensor | null, lengths: Int32Array | undefined, states: (Tensor[] | undefined)[] | null): Tensor {
    let h = x;
    this.layers.forEach((layer, i) => {
      if (i === this.contextAt) h = this.joinContext(h, c!);
      if (layer instanceof RecurrentLayer) {
        let initial = states?.[i];
        if (!states && i === this.stateLayer) initial = this.projections.map((p) => p.forward(c!, ctx));
        h = layer.forward(h, ctx, initial, lengths);
      } else if (layer instanceof SequencePooling) {
        h = layer.forward(h, ctx, lengths);
      } else {
        h = layer.forward(h, ctx);
      }
    });
    return h;
  }

  /** The flat `initialState` list checked against the state slots, grouped by layer index as `run` takes it. */
  private initialStates(given: readonly Tensor[], batch: number): (Tensor[] | undefined)[] {
    const slots = this.stateSlots();
    if (!Array.isArray(given) || given.length !== slots.length) {
      const names = slots.map((s) => `${s.layer.label}.${s.name}`).join(", ");
      throw new UnfoldError(`forward: initialState takes ${slots.length} tensors (${names || "the model has no recurrent layer"}), got ${Array.isArray(given) ? given.length : typeof given}`);
    }
    for (const layer of this.layers) {
      if (!layer.causal) throw new UnfoldError(`forward: initialState continues a sequence, which ${layer.kind} layer "${layer.label}" cannot do (it reads the sequence backwards, pools it or looks back past its state)`);
    }
    slots.forEach((slot, j) => {
      const t = given[j];
      if (!(t instanceof Tensor) || t.dtype !== "float32" || t.shape.length !== 2 || t.shape[0] !== batch || t.shape[1] !== slot.size) {
        throw new UnfoldError(`forward: initialState[${j}] (${slot.layer.label}.${slot.name}) must be float32 [${batch}, ${slot.size}], got ${t instanceof Tensor ? `${t.dtype} ${formatShape(t.shape)}` : String(t)}`);
      }
      if (!engine().k.f32_all_finite(t.ptr, t.size)) throw new UnfoldError(`forward: initialState[${j}] (${slot.layer.label}.${slot.name}) contains NaN or Infinity`);
    });
    let j = 0;
    return this.layers.map((layer) => (layer instanceof RecurrentLayer ? layer.stateNames.map(() => given[j++]) : undefined));
  }

  /**
   * The final states of the last forward, in the order of `getState()` (each [B, width]):
   * where every sample's sequence got to, to continue from with `initialState`. Owned by the
   * layers and overwritten by the next forward: copy them first to carry them.
   */
  get lastFinalState(): readonly Tensor[] {
    this.checkAlive();
    return this.layers.flatMap((l) => (l instanceof RecurrentLayer ? l.finalState : []));
  }

  /** [T, B, F] and c [B, S] → [T, B, F + S], every step gets c. */
  private joinContext(h: Tensor, c: Tensor): Tensor {
    if (h.shape.length !== 3) throw new UnfoldError(`context mode "${this.context!.mode}" joins the context to every step, so it needs a sequence [T, B, F], got ${formatShape(h.shape)}`);
    const [T, B, F] = h.shape;
    const S = this.context!.size;
    const k = engine().k;
    const y = this.ws.get("joined", [T, B, F + S]);
    k.f32_copy_cols(y.ptr, F + S, h.ptr, F, T * B, F, 0);
    for (let t = 0; t < T; t++) k.f32_copy_cols(y.ptr + (t * B * (F + S) + F) * 4, F + S, c.ptr, S, B, S, 0);
    return y;
  }

  /** The output of the last forward (owned by the model), or null before the first. */
  get lastOutput(): Tensor | null {
    return this.output;
  }

  /** The gradient of the loss with respect to the context of the last forward, after backward (owned by the model). */
  get contextGrad(): Tensor | null {
    return this.contextGradTensor;
  }

  /**
   * Back through every layer from the gradient of the last forward's output; adds into the
   * parameter gradients, leaves the context's gradient in `contextGrad`, and returns the
   * input's gradient (for token input, an empty [T, B, 0] tensor: ids have none). With
   * `{ inputGrad: false }` the first layer skips computing it (training needs only the
   * parameters' gradients) and the result is an empty [..., 0] tensor.
   */
  backward(dy: Tensor, options: { inputGrad?: boolean } = {}): Tensor {
    this.checkAlive();
    // A context joined to the first layer's input needs that layer's input gradient.
    this.layers[0].needsInputGrad = (options.inputGrad ?? true) || this.contextAt === 0;
    const k = engine().k;
    const c = this.lastContext;
    const dc = c ? this.ws.zeros("dcontext", c.shape) : null;
    let d = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i];
      d = layer.backward(d);
      if (i === this.stateLayer && !this.lastStatesGiven) {
        const grads = (layer as RecurrentLayer).initialStateGrad;
        this.projections.forEach((p, s) => {
          const g = p.backward(grads[s]);
          k.f32_axpy(dc!.ptr, 1, g.ptr, dc!.size);
        });
      }
      if (i === this.contextAt) {
        const [T, B, FS] = d.shape;
        const F = FS - this.context!.size;
        const S = this.context!.size;
        const dx = this.ws.get("djoined", [T, B, F]);
        k.f32_copy_cols(dx.ptr, F, d.ptr, F + S, T * B, F, 0);
        // dc += the context columns of every step, in order of t.
        for (let t = 0; t < T; t++) k.f32_copy_cols(dc!.ptr, S, d.ptr + (t * B * (F + S) + F) * 4, F + S, B, S, 1);
        d = dx;
      }
    }
    this.contextGradTensor = dc;
    return d;
  }

  /**
   * The 0/1 mask of the last forward's output rows [T·B] (time-major) that count for a
   * per-step loss: 0 at steps past a sample's length. Null when every row counts (no lengths,
   * all lengths T, or an output that is not per step).
   */
  stepMask(): Float32Array | null {
    const y = this.output;
    const lengths = this.lastLengths;
    if (!y || !lengths || y.shape.length !== 3) return null;
    const T = this.lastSteps, B = this.lastBatch;
    const m = new Float32Array(T * B);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) m[t * B + b] = t < lengths[b] ? 1 : 0;
    return m;
  }

  /** The loss of the last forward's output against `target`, steps past the lengths left out. */
  private lossOfOutput(target: Tensor): number {
    if (!this.loss) throw new UnfoldError("this model has no loss: pass { loss } to the Sequential constructor");
    const m = this.stepMask();
    const mask = m ? this.ws.get("lossMask", [m.length]).write(m, true) : null;
    return this.loss.compute(this.output!, target, mask);
  }

  /** The output for `x`, as a new tensor the caller owns. */
  predict(x: Tensor, options: BatchOptions = {}): Tensor {
    const y = this.forward(x, options);
    return Tensor.fromArray(y.toFloat32Array(), y.shape);
  }

  /** Forward in inference mode and the loss (steps past the lengths left out); no gradients. */
  computeLoss(x: Tensor, target: Tensor, options: BatchOptions & FeedbackOptions = {}): number {
    this.forwardWithFeedback(x, target, options, false);
    return this.lossOfOutput(target);
  }

  /** Forward, loss and backward: gradients of the loss are left in `params.grads`. Returns the loss. */
  lossAndGradients(x: Tensor, target: Tensor, options: BatchOptions & FeedbackOptions = {}): number {
    if (!this.loss) throw new UnfoldError("this model has no loss: pass { loss } to the Sequential constructor");
    this.forwardWithFeedback(x, target, options, true);
    this.params.zeroGrads();
    const value = this.lossOfOutput(target);
    this.backward(this.loss.grad, { inputGrad: false });
    return value;
  }

  /** Forward with teacher forcing or scheduled sampling as `options` ask (see FeedbackOptions). */
  private forwardWithFeedback(x: Tensor, target: Tensor, options: BatchOptions & FeedbackOptions, training: boolean): void {
    const { teacherForcing, scheduledSampling, ...batch } = options;
    if (!teacherForcing && !scheduledSampling) {
      this.forward(x, { ...batch, training });
      return;
    }
    this.checkAlive();
    if (teacherForcing !== undefined && typeof teacherForcing !== "boolean") throw new UnfoldError(`teacherForcing must be true or false, got ${String(teacherForcing)}`);
    let p = 0;
    if (scheduledSampling) {
      checkKnownOptions("scheduledSampling", scheduledSampling, ["probability", "from"]);
      p = scheduledSampling.probability;
      if (typeof p !== "number" || !(p >= 0 && p <= 1)) throw new UnfoldError(`scheduledSampling.probability must be in [0, 1], got ${String(p)}`);
      const from = scheduledSampling.from ?? "sample";
      if (from !== "sample" && from !== "argmax") throw new UnfoldError(`scheduledSampling.from must be "sample" or "argmax", got ${String(from)}`);
    }
    const last = this.layers[this.layers.length - 1];
    if (last instanceof Jordan) {
      if (scheduledSampling?.from !== undefined) throw new UnfoldError("scheduledSampling.from picks a token; a Jordan layer feeds back its output values, so leave it out");
      if (x.shape.length !== 3) this.checkInput(x); // throws; forward checks the rest
      const [T, B] = x.shape;
      let own: Uint8Array | null = null;
      if (p > 0) {
        own = new Uint8Array(T * B);
        for (let i = B; i < T * B; i++) own[i] = this.rng.next() < p ? 1 : 0;
      }
      last.teacher = { targets: target, own };
      try {
        this.forward(x, { ...batch, training });
      } finally {
        last.teacher = null;
      }
      return;
    }
    if (this.inputDType === "int32") {
      if (teacherForcing) throw new UnfoldError("teacherForcing: a token model always learns from the true previous token (its input); scheduledSampling feeds it its own predictions instead");
      this.forward(this.sampledInputs(x, target, p, scheduledSampling!.from ?? "sample", batch), { ...batch, training });
      return;
    }
    throw new UnfoldError(`${teacherForcing ? "teacherForcing" : "scheduledSampling"} feeds the model's previous output back as its input: it applies to a model whose last layer is a Jordan layer, or to a token model (Embedding first) trained on next-token data; this model is neither`);
  }

  /**
   * Scheduled sampling for a token model: x with each input token after the first replaced,
   * with probability p, by a token drawn from the model's prediction at the step before (from
   * a forward over the true inputs). Checks that the data is next-token data.
   */
  private sampledInputs(x: Tensor, target: Tensor, p: number, from: "sample" | "argmax", batch: BatchOptions): Tensor {
    this.checkInput(x);
    const [T, B] = x.shape;
    const V = this.inputSize;
    if (this.outputSize !== V) throw new UnfoldError(`scheduledSampling feeds the predicted token back as input: the model's output (${this.outputSize} logits) must match its vocabulary (${V})`);
    if (target.dtype !== "int32" || target.shape.length !== 2 || target.shape[0] !== T || target.shape[1] !== B) {
      throw new UnfoldError(`scheduledSampling needs int32 next-token targets [${T}, ${B}], got ${target.dtype} ${formatShape(target.shape)}`);
    }
    const lengths = batch.lengths;
    const real = (t: number, b: number) => !lengths || t < lengths[b];
    const xs = x.toTypedArray() as Int32Array;
    const ys = target.toTypedArray() as Int32Array;
    for (let t = 1; t < T; t++) {
      for (let b = 0; b < B; b++) {
        if (real(t, b) && xs[t * B + b] !== ys[(t - 1) * B + b]) {
          throw new UnfoldError(`scheduledSampling needs next-token data (the input at t is the target at t−1), but sample ${b} has input ${xs[t * B + b]} at step ${t} and target ${ys[(t - 1) * B + b]} at step ${t - 1}`);
        }
      }
    }
    if (p === 0) return x;
    const logits = this.forward(x, batch);
    const sampler = new TokenSampler(V, { temperature: from === "argmax" ? 0 : 1 }, this.rng, "scheduledSampling");
    try {
      for (let t = 1; t < T; t++) {
        for (let b = 0; b < B; b++) {
          if (!real(t, b) || !(this.rng.next() < p)) continue;
          xs[t * B + b] = sampler.pick(logits.ptr + ((t - 1) * B + b) * V * 4);
        }
      }
    } finally {
      sampler.dispose();
    }
    return this.ws.get("sampledInputs", x.shape, "int32").write(xs, true);
  }

  /**
   * One step of plain SGD (θ ← θ − lr·∇θ). Returns the loss before the update. The full set
   * of optimizers lives in train/.
   */
  trainStep(x: Tensor, target: Tensor, options: { lr: number } & BatchOptions): number {
    const { lr, ...batch } = options;
    if (!(lr > 0) || !Number.isFinite(lr)) throw new UnfoldError(`trainStep: lr must be a finite number > 0, got ${lr}`);
    const value = this.lossAndGradients(x, target, batch);
    const k = engine().k;
    const { values, grads } = this.params;
    // Over the whole buffer, or with a sparse embedding, the ranges a step works on.
    let finite = Number.isFinite(value);
    this.params.forEachRange((start, count) => (finite &&= k.f32_all_finite(grads.ptr + start * 4, count) !== 0));
    if (!finite) {
      throw new UnfoldError(`trainStep: the loss or a gradient is not finite (loss ${value}); the weights were left unchanged — try a lower learning rate or gradient clipping`);
    }
    this.params.forEachRange((start, count) => k.f32_axpy(values.ptr + start * 4, -lr, grads.ptr + start * 4, count));
    return value;
  }

  // ---------------------------------------------------------------------------------------
  // Streaming inference: one time step at a time, memory independent of the stream's length.

  /**
   * Runs one time step: x_t is float32 [B, inputSize], or int32 token ids [B]. Continues the
   * model's stream (or, when `state` is given, starts from that state, as `setState` takes it).
   * Gives the same bits as row t of `forward` over the whole sequence. A stream of a model
   * with a context starts with `resetState({ context })`.
   */
  step(x: Tensor, state?: readonly ArrayLike<number>[]): StepResult {
    this.checkAlive();
    for (const layer of this.layers) {
      if (!layer.causal) {
        throw new UnfoldError(`step: ${layer.kind} layer "${layer.label}" needs the whole sequence (it reads it backwards or pools it), so it cannot run one step at a time; use forward() over the whole sequence`);
      }
    }
    const tokens = this.inputDType === "int32";
    if (tokens ? x.dtype !== "int32" || x.shape.length !== 1 : x.dtype !== "float32" || x.shape.length !== 2 || x.shape[1] !== this.inputSize) {
      throw new UnfoldError(`step expected ${tokens ? "int32 token ids [B]" : `float32 x_t [B, ${this.inputSize}]`} (one time step), got ${x.dtype} ${formatShape(x.shape)}`);
    }
    if (tokens) checkTokenIds(x.toTypedArray(), (this.layers[0] as Embedding).vocab, "step", (i) => `sample ${i}`);
    else if (!engine().k.f32_all_finite(x.ptr, x.size)) throw new UnfoldError(`step: x_t ${formatShape(x.shape)} contains NaN or Infinity`);
    const B = x.shape[0];
    if (B < 1) throw new UnfoldError("step needs at least one sample");
    if (state !== undefined) this.setState(state);
    if (!this.stream) {
      if (this.context) throw new UnfoldError("step: this model is conditioned on a context; start the stream with resetState({ context })");
      this.stream = this.newStream(B, null);
    }
    const stream = this.stream;
    if (stream.batch !== B) throw new UnfoldError(`step: the stream holds the state of ${stream.batch} samples, x_t has ${B}; call resetState() to start a new stream`);
    if (this.contextAt >= 0 && !stream.context) throw new UnfoldError("step: this model takes its context at every step; start the stream with resetState({ context })");
    const xs = Tensor.view(x, 0, tokens ? [1, B] : [1, B, this.inputSize]);
    const h = this.run(xs, this.runContext(false), stream.context, undefined, stream.states);
    // Carry each layer's final state to the next step (the layers copied their initial state in).
    const k = engine().k;
    this.layers.forEach((layer, i) => {
      const held = stream.states[i];
      if (held) (layer as RecurrentLayer).finalState.forEach((s, j) => k.f32_copy(held[j].ptr, s.ptr, held[j].size));
    });
    this.output = null;
    const y = h.shape.length === 3 ? Tensor.view(h, 0, h.shape.slice(1)) : h;
    return { y, state: this.getState() };
  }

  /**
   * Ends the current stream: the next `step` starts from zero state. For a model with a
   * context, give the stream's context [B, size]: it sets the initial state ("initialState")
   * and is joined to every step ("input").
   */
  resetState(options: { context?: Tensor } = {}): void {
    this.checkAlive();
    this.stream = null;
    if (options.context === undefined) return;
    const given = options.context;
    const c = this.checkContext(given, given instanceof Tensor ? given.shape[0] : 0);
    if (!c || c.shape[0] < 1) throw new UnfoldError("resetState: the context needs at least one sample");
    this.stream = this.newStream(c.shape[0], c);
  }

  /**
   * A copy of the stream's state: one Float32Array per state of every recurrent layer, in
   * layer order (an LSTM gives h then c), each [B, width] row-major (the layer's stateSizes). Empty before a stream starts.
   */
  getState(): Float32Array[] {
    this.checkAlive();
    const s = this.stream;
    if (!s) return [];
    return s.states.flatMap((t) => (t ? t.map((x) => x.toFloat32Array()) : []));
  }

  /**
   * Restores a state `getState()` gave (or any of the same layout); the batch size is read
   * from it. Everything is checked before the stream changes. A stream's context is kept if
   * the batch size matches.
   */
  setState(state: readonly ArrayLike<number>[]): void {
    this.checkAlive();
    const slots = this.stateSlots();
    if (!Array.isArray(state) || state.length !== slots.length) {
      const names = slots.map((s) => `${s.layer.label}.${s.name}`).join(", ");
      throw new UnfoldError(`setState expected ${slots.length} arrays (${names}), got ${Array.isArray(state) ? state.length : typeof state}`);
    }
    if (slots.length === 0) return;
    const first = slots[0];
    const B = state[0].length / first.size;
    if (!Number.isInteger(B) || B < 1) throw new UnfoldError(`setState: ${first.layer.label}.${first.name} has ${state[0].length} values, not a whole number of rows of ${first.size}`);
    slots.forEach((slot, j) => {
      const a = state[j];
      const want = B * slot.size;
      if (!a || a.length !== want) throw new UnfoldError(`setState: ${slot.layer.label}.${slot.name} should hold [${B}, ${slot.size}] = ${want} values, got ${a ? a.length : String(a)}`);
      for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw new UnfoldError(`setState: ${slot.layer.label}.${slot.name} value ${i} is ${a[i]}; states must be finite`);
    });
    const keep = this.stream && this.stream.batch === B ? this.stream.context : null;
    const stream = this.newStream(B, null, false);
    stream.context = keep;
    let j = 0;
    for (const t of stream.states) if (t) for (const s of t) s.write(state[j++], true);
    this.stream = stream;
  }

  /** Every (recurrent layer, state name) pair, in the order of getState. */
  private stateSlots(): { layer: RecurrentLayer; name: string; size: number }[] {
    return this.layers.flatMap((l) => (l instanceof RecurrentLayer ? l.stateNames.map((name, s) => ({ layer: l, name, size: l.stateSizes[s] })) : []));
  }

  /** A stream of B samples: zero states, or the context's projection for the context-initialised layer. */
  private newStream(batch: number, c: Tensor | null, initialise = true): Stream {
    const k = engine().k;
    let context: Tensor | null = null;
    if (c) {
      context = this.ws.get("streamContext", c.shape);
      k.f32_copy(context.ptr, c.ptr, c.size);
    }
    const states = this.layers.map((layer, i) => {
      if (!(layer instanceof RecurrentLayer)) return undefined;
      return layer.stateNames.map((name, s) => this.ws.zeros(`stream.${i}.${name}`, [batch, layer.stateSizes[s]]));
    });
    if (initialise && context && this.stateLayer >= 0) {
      const ctx = this.runContext(false);
      this.projections.forEach((p, s) => {
        const h0 = p.forward(context!, ctx);
        k.f32_copy(states[this.stateLayer]![s].ptr, h0.ptr, h0.size);
      });
    }
    return { batch, states, context };
  }

  // ---------------------------------------------------------------------------------------

  /** A copy of every parameter, by name (PyTorch-style names, e.g. `lstm0.weight_ih`). */
  getWeights(): Record<string, Float32Array> {
    this.checkAlive();
    return this.params.readAll();
  }

  /** Sets parameters by name. Every value is checked before any is written. */
  setWeights(weights: Record<string, ArrayLike<number>>): void {
    this.checkAlive();
    this.params.writeAll(weights);
  }

  // ---------------------------------------------------------------------------------------
  // Architecture, save and load: the file format is described in io/model-file.ts.

  /** The architecture (weights aside), as plain JSON: `Sequential.fromConfig(model.config)` builds the same model with fresh weights. */
  get config(): ModelConfig {
    const loss = this.loss;
    const config: ModelConfig = {
      inputSize: this.inputSize,
      loss: loss ? { name: loss.name, options: loss.name === "softmaxCrossEntropy" ? { reduction: loss.reduction, ignoreIndex: loss.ignoreIndex } : { reduction: loss.reduction } } : null,
      context: this.context ? { size: this.context.size, mode: this.context.mode } : null,
      layers: this.layers.map(layerConfig),
    };
    // A deep copy: the caller may change it without touching the layers' options.
    return JSON.parse(JSON.stringify(config)) as ModelConfig;
  }

  /**
   * A new model of the architecture `config` describes (as `model.config` gives it, or parsed
   * from JSON: every option is validated by the constructor it goes to), with fresh weights
   * drawn from `seed` (default 0).
   */
  static fromConfig(config: ModelConfig, options: { seed?: number } = {}): Sequential {
    const { layers, options: modelOptions } = modelParts(config);
    return new Sequential(layers, options.seed === undefined ? modelOptions : { ...modelOptions, seed: options.seed });
  }

  /**
   * The parameters (names and shapes, in store order) that `new Sequential(layers, options)`
   * would have, worked out in JavaScript alone: the loader checks a file against it before
   * anything is allocated in wasm memory. It builds `layers`, so they cannot be used again.
   * It follows the constructor's naming (a test holds the two together); the constructor
   * still does the full validation.
   */
  static paramLayout(layers: Layer[], options: SequentialOptions = {}): { name: string; shape: readonly number[] }[] {
    if (!Array.isArray(layers) || layers.length === 0) throw new UnfoldError("Sequential needs at least one layer");
    const tokens = layers[0].inputDType === "int32";
    const inputSize = tokens ? (layers[0] as Embedding).vocab : options.inputSize;
    if (typeof inputSize !== "number" || !Number.isInteger(inputSize) || inputSize < 1) {
      throw new UnfoldError(`Sequential: inputSize must be a whole number >= 1 (features per step), got ${String(inputSize)}`);
    }
    const context = options.context === undefined ? null : resolveContext(options.context);
    const contextAt = context && context.mode !== "initialState" ? (tokens ? 1 : 0) : -1;
    let size = inputSize;
    const counts = new Map<string, number>();
    layers.forEach((layer, i) => {
      if (i > 0 && layer.inputDType !== "float32") throw new UnfoldError(`Sequential: an Embedding takes token ids, so it can only be the first layer (it is layer ${i})`);
      const n = counts.get(layer.kind) ?? 0;
      counts.set(layer.kind, n + 1);
      if (i === contextAt) size += context!.size;
      size = layer.build(size, `${layer.kind}${n}`);
    });
    const owned: Layer[] = [...layers];
    if (context && context.mode !== "input") {
      const target = layers.find((l): l is RecurrentLayer => l instanceof RecurrentLayer);
      if (!target) throw new UnfoldError(`Sequential: context mode "${context.mode}" sets the initial state of the first recurrent layer, and the model has none`);
      target.stateNames.forEach((name, s) => {
        const projection = new Dense({ units: target.stateSizes[s], activation: "tanh" });
        projection.build(context.size, `context.${name.replace(/^([^_]+)/, "$10")}`);
        owned.push(projection);
      });
    }
    return owned.flatMap((l) => l.paramSpecs.map((p) => ({ name: p.name, shape: p.shape })));
  }

  /**
   * The model as a safetensors file: every parameter under its name, and in the metadata the
   * architecture (`config`), the generator's state, a format name and version, and
   * `metadata` — free-form JSON of the caller's (a tokenizer's vocabulary, say), given back
   * by `load`. Python's `safetensors` opens it.
   */
  save(metadata?: Record<string, unknown>): Uint8Array {
    this.checkAlive();
    const params = this.params.entries.map((e) => ({ name: e.name, shape: e.shape, data: this.params.read(e.name) }));
    return writeModelFile({ params, config: this.config, rng: this.rng.getState() }, metadata);
  }

  /**
   * Rebuilds a model `save` wrote: the architecture from its description, then its weights
   * (bit for bit) and generator state, so it predicts exactly as the saved model did. Returns
   * the model (the caller owns it: dispose it) and the metadata given to `save`. Throws an
   * UnfoldError for a corrupt or foreign file, an unknown format version or an invalid
   * option; everything is checked before any wasm memory is allocated.
   */
  static load(bytes: Uint8Array | ArrayBuffer): { model: Sequential; metadata: Record<string, unknown> } {
    const file = readModelFile(bytes);
    const dry = modelParts(file.config);
    const weights = matchWeights(Sequential.paramLayout(dry.layers, dry.options), file.tensors);
    const { layers, options } = modelParts(file.config);
    const model = new Sequential(layers, { ...options, [UNINITIALISED]: true } as SequentialOptions);
    try {
      model.setWeights(Object.fromEntries(weights));
      model.rng.setState(file.rng);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return { model, metadata: file.metadata };
  }

  dispose(): void {
    if (this.disposed) return;
    for (const layer of this.layers) layer.dispose();
    for (const p of this.projections) p.dispose();
    this.ws.dispose();
    this.loss?.dispose();
    this.params.dispose();
    this.stream = null;
    this.disposed = true;
  }
}

function resolveContext(options: ContextOptions): ContextOptions {
  if (!options || typeof options !== "object") throw new UnfoldError("Sequential: context must be { size, mode }");
  for (const key of Object.keys(options)) if (key !== "size" && key !== "mode") throw new UnfoldError(`Sequential: unknown context option "${key}" (known: size, mode)`);
  const { size, mode } = options;
  if (typeof size !== "number" || !Number.isInteger(size) || size < 1) throw new UnfoldError(`Sequential: context.size must be a whole number >= 1, got ${String(size)}`);
  if (!CONTEXT_MODES.includes(mode)) throw new UnfoldError(`Sequential: context.mode must be one of ${CONTEXT_MODES.map((m) => `"${m}"`).join(", ")}, got ${String(mode)}`);
  return Object.freeze({ size, mode });
}
