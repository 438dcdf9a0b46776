import { Tensor, UnfoldError, engine, formatShape } from "../engine/index.js";
import { checkRate, fillDropoutMask } from "./dropout.js";
import { Layer, checkKnownOptions, type RunContext } from "./layer.js";

export { checkKnownOptions };

/** Options every recurrent layer shares. */
export interface RecurrentOptions {
  /** Hidden units H. */
  units: number;
  /** Output every step, [T, B, H] (default), or only the last, [B, H]. */
  returnSequences?: boolean;
}

/** How the layers of a stack are wired; see Stack. */
export type SkipMode = "none" | "input" | "residual" | "dense";
export const SKIP_MODES: readonly SkipMode[] = ["none", "input", "residual", "dense"];

/** Options of the cells that can be stacked in depth and regularised with dropout (LSTM, GRU, Elman). */
export interface StackableOptions extends RecurrentOptions {
  /**
   * Layers stacked in depth, as PyTorch's `num_layers`. With n > 1 the layer runs as a Stack of
   * n single-layer copies of itself; layer l's parameters get the suffix `_l{l}`
   * (`lstm0.weight_ih_l1`). Default 1.
   */
  layers?: number;
  /**
   * Dropout on each layer's output as it goes to the layer above (not on the last layer's
   * output), in training only — PyTorch's `dropout`. Needs layers > 1. Default 0.
   */
  dropout?: number;
  /** Skip connections between the stacked layers (see Stack). Needs layers > 1 unless "none". Default "none". */
  skip?: SkipMode;
  /**
   * Variational recurrent dropout (Gal & Ghahramani 2016): in training, h_{t−1} is multiplied by
   * one mask per sequence — the same at every step, drawn from the model's generator, inverted
   * scaling 1 / (1 − p) — where it enters the recurrent product W_hh·h_{t−1} (only there: the
   * GRU's z⊙h_{t−1} and the Elman leak see the plain state). Off at inference. Default 0.
   */
  recurrentDropout?: number;
}

/** StackableOptions with every default filled in. */
export interface ResolvedStackable {
  units: number;
  returnSequences: boolean;
  layers: number;
  dropout: number;
  skip: SkipMode;
  recurrentDropout: number;
}

export const STACKABLE_KEYS = ["units", "returnSequences", "layers", "dropout", "skip", "recurrentDropout"] as const;

/** A layer's kind and resolved options: enough to build it again. */
export interface LayerConfig {
  kind: string;
  options: object;
}

/** The layers of a stack and how they are wired, as Bidirectional needs them to make each level bidirectional. */
export interface StackLevels {
  layers: readonly RecurrentLayer[];
  dropout: number;
  skip: SkipMode;
}

export function checkUnits(kind: string, units: unknown): number {
  if (typeof units !== "number" || !Number.isInteger(units) || units < 1) {
    throw new UnfoldError(`${kind}: units must be a whole number >= 1, got ${String(units)}`);
  }
  return units;
}

/** Checks a string option (an activation, an init scheme) against `allowed`, naming the option. */
export function checkChoice<A extends string>(kind: string, option: string, value: unknown, allowed: readonly A[]): A {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    const names = allowed.map((a) => `"${a}"`).join(", ");
    throw new UnfoldError(`${kind}: ${option} must be one of ${names}, got ${typeof value === "string" ? `"${value}"` : String(value)}`);
  }
  return value as A;
}

/** Fills the defaults of the stacking and dropout options and validates them. */
export function resolveStackable(kind: string, options: StackableOptions): ResolvedStackable {
  const units = checkUnits(kind, options.units);
  const returnSequences = options.returnSequences ?? true;
  if (typeof returnSequences !== "boolean") throw new UnfoldError(`${kind}: returnSequences must be true or false, got ${String(returnSequences)}`);
  const layers = options.layers ?? 1;
  if (typeof layers !== "number" || !Number.isInteger(layers) || layers < 1) throw new UnfoldError(`${kind}: layers must be a whole number >= 1, got ${String(layers)}`);
  const dropout = checkRate(kind, "dropout", options.dropout ?? 0);
  const skip = checkChoice(kind, "skip", options.skip ?? "none", SKIP_MODES);
  const recurrentDropout = checkRate(kind, "recurrentDropout", options.recurrentDropout ?? 0);
  if (layers === 1 && dropout > 0) throw new UnfoldError(`${kind}: dropout acts between stacked layers and needs layers >= 2 (got layers 1); for dropout on inputs or outputs add a Dropout layer`);
  if (layers === 1 && skip !== "none") throw new UnfoldError(`${kind}: skip "${skip}" connects stacked layers and needs layers >= 2 (got layers 1)`);
  return { units, returnSequences, layers, dropout, skip, recurrentDropout };
}

/**
 * Validates per-sample lengths for a [T, B, ...] batch: B whole numbers, each in [min, T].
 * Returns them as an Int32Array, or null when none were given.
 */
export function checkLengths(who: string, lengths: ArrayLike<number> | undefined, steps: number, batch: number, min = 1): Int32Array | null {
  if (lengths === undefined || lengths === null) return null;
  if (typeof (lengths as ArrayLike<number>).length !== "number") throw new UnfoldError(`${who}: lengths must be an Int32Array of ${batch} sequence lengths, got ${typeof lengths}`);
  if (lengths.length !== batch) throw new UnfoldError(`${who}: lengths must hold one length per sample (${batch}), got ${lengths.length}`);
  for (let b = 0; b < batch; b++) {
    const L = lengths[b];
    if (!Number.isInteger(L) || L < min || L > steps) throw new UnfoldError(`${who}: lengths[${b}] must be a whole number in [${min}, ${steps}] (the batch has ${steps} steps), got ${L}`);
  }
  return Int32Array.from(lengths);
}

/**
 * A layer that scans time. It takes [T, B, I], an optional initial state (one [B, W_s] tensor
 * per entry of `stateNames`, W_s from `stateSizes`) and optional per-sample lengths, and gives
 * [T, B, units] (or [B, units]) plus its final state. Backward takes the gradient of the output
 * and optionally of the final state, and leaves the gradient of the initial state in
 * `initialStateGrad`.
 *
 * Variable-length batches: with `lengths`, sample b has lengths[b] real steps. Past its end
 * its state is carried unchanged (so the final state is the state after its own last step),
 * its outputs are zero, and backward passes its gradients straight through those steps
 * (they add nothing to the weights, nor to dx there).
 *
 * Composites (Stack, Bidirectional) are recurrent layers too, made of other recurrent
 * layers through Layer's `adopt`; a layer that runs as a composite in its place (a cell
 * with `layers > 1`) sets `delegate`, and forward, backward and the states go to it.
 */
export abstract class RecurrentLayer extends Layer {
  abstract readonly stateNames: readonly string[];
  /** Output features per step. For a cell also the width of its state. */
  readonly units: number;
  readonly returnSequences: boolean;
  protected steps = 0;
  protected batch = 0;
  /** Lengths of the last forward in wasm memory ([B] int32), or null when every sample ran all T steps. */
  protected lengthsTensor: Tensor | null = null;
  /** The lengths of the last forward as given (validated), or null. */
  protected lengths: Int32Array | null = null;
  /** Steps before the first sample ends: the shortest length (T when all are full). */
  protected shortest = 0;
  /** The layer that runs in this one's place, if any (a cell with layers > 1 runs a Stack). */
  protected delegate: RecurrentLayer | null = null;

  constructor(kind: string, options: RecurrentOptions) {
    super();
    this.units = checkUnits(kind, options.units);
    this.returnSequences = options.returnSequences ?? true;
  }

  /** Width of each state, in the order of `stateNames`. */
  get stateSizes(): readonly number[] {
    return this.delegate ? this.delegate.stateSizes : this.stateNames.map(() => this.units);
  }

  /** Kind and resolved options, enough to build this layer again. */
  get config(): LayerConfig {
    return { kind: this.kind, options: this.options };
  }

  /** A new, unbuilt layer with the same options and its own parameters (the reverse direction of a Bidirectional). */
  clone(): RecurrentLayer {
    return new (this.constructor as new (options: object) => RecurrentLayer)(this.options);
  }

  /** The levels of a stack (a Stack, or a cell with layers > 1), or null for a single layer. */
  stackLevels(): StackLevels | null {
    return this.delegate ? this.delegate.stackLevels() : null;
  }

  protected declare(inputSize: number): number {
    if (this.delegate) return this.adopt(this.delegate, inputSize, "");
    return this.declareOwn(inputSize);
  }

  /** Declares this layer's own parameters (when it has no delegate); returns the output size. */
  protected abstract declareOwn(inputSize: number): number;

  /**
   * Runs the layer over x [T, B, I] from `initialState` (zeros when absent). `lengths`: each
   * sample's real steps, in [1, T] (all T when absent). The result is owned by the layer.
   */
  forward(x: Tensor, ctx: RunContext, initialState?: readonly Tensor[], lengths?: ArrayLike<number>): Tensor {
    if (this.delegate) return this.delegate.forward(x, ctx, initialState, lengths);
    this.begin(x, initialState, lengths);
    return this.run(x, ctx, initialState);
  }

  /** The forward pass proper, after `begin` validated the arguments and recorded T, B and the lengths. */
  protected abstract run(x: Tensor, ctx: RunContext, initialState: readonly Tensor[] | undefined): Tensor;

  /** Back through the last forward: dy is the output's gradient (or null), dFinalState the final states' (each optional). Returns dL/dx. */
  backward(dy: Tensor | null, dFinalState?: readonly (Tensor | null)[]): Tensor {
    if (this.delegate) {
      // The stack running in this layer's place skips its input gradient when this layer may.
      this.delegate.needsInputGrad = this.needsInputGrad;
      return this.delegate.backward(dy, dFinalState);
    }
    const x = this.checkBackward(dy, dFinalState);
    return this.runBackward(x, dy, dFinalState);
  }

  protected abstract runBackward(x: Tensor, dy: Tensor | null, dFinalState: readonly (Tensor | null)[] | undefined): Tensor;

  /** The final state of the last forward, one [B, W_s] tensor per state name. */
  get finalState(): Tensor[] {
    return this.delegate ? this.delegate.finalState : this.ownFinalState();
  }

  /** Gradient of the loss with respect to the initial state, after backward. */
  get initialStateGrad(): Tensor[] {
    return this.delegate ? this.delegate.initialStateGrad : this.ownInitialStateGrad();
  }

  protected abstract ownFinalState(): Tensor[];
  protected abstract ownInitialStateGrad(): Tensor[];

  /** Validates x, the initial state and the lengths, and records (T, B) and the lengths. */
  protected begin(x: Tensor, initialState: readonly Tensor[] | undefined, lengths: ArrayLike<number> | undefined): void {
    this.checkInput(x, [3]);
    const [T, B] = x.shape;
    if (T < 1 || B < 1) throw new UnfoldError(`${this.kind} layer "${this.label}" needs at least one step and one sample, got ${formatShape(x.shape)}`);
    if (initialState) {
      if (initialState.length !== this.stateNames.length) {
        throw new UnfoldError(`${this.kind} layer "${this.label}" takes ${this.stateNames.length} initial state tensor(s) (${this.stateNames.join(", ")}), got ${initialState.length}`);
      }
      const sizes = this.stateSizes;
      initialState.forEach((s, i) => {
        if (s.shape.length !== 2 || s.shape[0] !== B || s.shape[1] !== sizes[i]) {
          throw new UnfoldError(`${this.kind} layer "${this.label}" expected initial ${this.stateNames[i]} [${B}, ${sizes[i]}], got ${formatShape(s.shape)}`);
        }
      });
    }
    this.steps = T;
    this.batch = B;
    // Continuing from a given state, a causal layer takes empty samples (length 0): a sequence
    // that ended in an earlier chunk (truncated BPTT), whose state passes through unchanged.
    this.lengths = checkLengths(`${this.kind} layer "${this.label}"`, lengths, T, B, initialState && this.causal ? 0 : 1);
    this.lengthsTensor = null;
    this.shortest = T;
    if (this.lengths) {
      this.shortest = this.lengths.reduce((a, b) => Math.min(a, b), T);
      // All full: nothing to mask, the plain path runs.
      if (this.shortest < T) this.lengthsTensor = this.ws.get("lengths", [B], "int32").write(this.lengths, true);
    }
    this.remember(x);
  }

  /** Pointer to the lengths of the last forward in wasm memory, or 0 when all samples are full. */
  protected get lengthsPtr(): number {
    return this.lengthsTensor ? this.lengthsTensor.ptr : 0;
  }

  /** Checks the gradients handed to backward against the last forward; returns that forward's input. */
  protected checkBackward(dy: Tensor | null, dFinal: readonly (Tensor | null)[] | undefined): Tensor {
    const x = this.recalled();
    const T = this.steps, B = this.batch, W = this.units;
    if (dy) {
      const want = this.returnSequences ? [T, B, W] : [B, W];
      if (dy.shape.length !== want.length || dy.shape.some((d, i) => d !== want[i])) {
        throw new UnfoldError(`${this.kind} layer "${this.label}" expected output gradient ${formatShape(want)}, got ${formatShape(dy.shape)}`);
      }
    }
    if (dFinal && dFinal.length > this.stateNames.length) {
      throw new UnfoldError(`${this.kind} layer "${this.label}" has ${this.stateNames.length} final state(s) (${this.stateNames.join(", ")}), got ${dFinal.length} gradients`);
    }
    const sizes = this.stateSizes;
    dFinal?.forEach((s, i) => {
      if (s && (s.shape.length !== 2 || s.shape[0] !== B || s.shape[1] !== sizes[i])) {
        throw new UnfoldError(`${this.kind} layer "${this.label}" expected final-state gradient ${this.stateNames[i]} [${B}, ${sizes[i]}], got ${formatShape(s.shape)}`);
      }
    });
    return x;
  }
}

/**
 * A recurrent layer that scans one cell over time (LSTM, GRU, Elman, Jordan). It keeps a
 * [T+1, B, W] history per state (row 0: the initial state) and does, once for every cell, the
 * bookkeeping of variable-length batches and of variational recurrent dropout; a cell writes
 * `scan` and `scanBackward` and calls `endStep`, `beginStepBackward`, `endStepBackward`,
 * `recurrentInput` and `recurrentGrad` at the marked places.
 */
export abstract class CellLayer extends RecurrentLayer {
  /** Variational recurrent dropout rate; 0 (off) unless the cell supports it. */
  protected recurrentDropout = 0;
  /** The [B, H] recurrent-dropout mask of the last forward (training), or null. */
  private dropMask: Tensor | null = null;
  /** Whether the current backward step has samples that ended (set by beginStepBackward). */
  private endedStep = false;

  protected run(x: Tensor, ctx: RunContext, initialState: readonly Tensor[] | undefined): Tensor {
    this.dropMask = null;
    if (ctx.training && this.recurrentDropout > 0) {
      this.dropMask = this.ws.get("recurrentMask", [this.batch, this.units]);
      fillDropoutMask(this.dropMask, this.recurrentDropout, ctx.rng);
    }
    this.scan(x, initialState);
    return this.output();
  }

  /** The cell's forward over all steps; fills the state histories. */
  protected abstract scan(x: Tensor, initialState: readonly Tensor[] | undefined): void;

  protected runBackward(x: Tensor, dy: Tensor | null, dFinalState: readonly (Tensor | null)[] | undefined): Tensor {
    this.startStateGrads(dy, dFinalState);
    return this.scanBackward(x, dy);
  }

  /** The cell's backward over all steps, from the running state gradients; returns dL/dx. */
  protected abstract scanBackward(x: Tensor, dy: Tensor | null): Tensor;

  protected ownFinalState(): Tensor[] {
    return this.stateNames.map((name) => this.stepView(this.history(name), this.steps));
  }

  protected ownInitialStateGrad(): Tensor[] {
    return this.stateNames.map((name) => this.stateGrad(name));
  }

  /** The [T+1, B, H] history of state `name` (row 0: the initial state), kept in the workspace. */
  protected history(name: string): Tensor {
    return this.ws.get(`${name}s`, [this.steps + 1, this.batch, this.units]);
  }

  /** The running [B, H] gradient of state `name` during backward; ends as dL/d(initial state). */
  protected stateGrad(name: string): Tensor {
    return this.ws.get(`d${name}`, [this.batch, this.units]);
  }

  /**
   * Starts the running state gradients at dFinalState (or zero). When only the last output
   * is returned, that output is the final value of the first state, so dy joins its gradient here.
   */
  private startStateGrads(dy: Tensor | null, dFinal: readonly (Tensor | null)[] | undefined): void {
    const k = engine().k;
    this.stateNames.forEach((name, i) => {
      const d = this.stateGrad(name);
      const given = dFinal?.[i];
      if (given) k.f32_copy(d.ptr, given.ptr, d.size);
      else d.fill(0);
      if (i === 0 && dy && !this.returnSequences) k.f32_axpy(d.ptr, 1, dy.ptr, d.size);
    });
  }

  /** Copies the initial state (or zeros) into row 0 of a [T+1, B, H] state history. */
  protected seedState(history: Tensor, initial: Tensor | undefined): void {
    const n = this.batch * this.units;
    if (initial) engine().k.f32_copy(history.ptr, initial.ptr, n);
    else engine().k.f32_fill(history.ptr, 0, n);
  }

  /** Row t of a [T(+1), B, H] tensor, as a [B, H] view. */
  protected stepView(t: Tensor, step: number, width = this.units): Tensor {
    return Tensor.view(t, step * this.batch * width, [this.batch, width]);
  }

  /** After forward step t: samples that have ended carry their states (row t+1 = row t of every history). */
  protected endStep(t: number): void {
    if (!this.lengthsTensor || t < this.shortest) return;
    const k = engine().k;
    const n = this.batch * this.units, lengths = this.lengthsTensor.ptr;
    for (const name of this.stateNames) {
      const h = this.history(name).ptr;
      k.f32_ended_rows_copy(h + (t + 1) * n * 4, h + t * n * 4, lengths, t, this.batch, this.units);
    }
  }

  /**
   * The layer's output: rows 1..T of the first state's history as [T, B, H] (a view; with
   * lengths a copy whose steps past each sample's end are zero), or its row T as [B, H] —
   * which, since ended samples carry their state, is each sample's own last real step.
   */
  private output(): Tensor {
    const T = this.steps, B = this.batch, H = this.units, n = B * H;
    const hs = this.history(this.stateNames[0]);
    if (!this.returnSequences) return this.stepView(hs, T);
    const seq = Tensor.view(hs, n, [T, B, H]);
    if (!this.lengthsTensor) return seq;
    const out = this.ws.get("out", [T, B, H]);
    engine().k.f32_copy(out.ptr, seq.ptr, T * n);
    engine().k.f32_mask_steps(out.ptr, this.lengthsTensor.ptr, T, B, H);
    return out;
  }

  /**
   * Before backward step t: dy[t] joins the running gradient of the output state. Samples that
   * have ended by step t take no part in it: their running gradients are set aside (and dy[t],
   * the gradient of a constant zero output, ignored), zeroed so the cell's linear backward
   * gives them zero gate gradients, and put back by `endStepBackward` — passed straight through.
   */
  protected beginStepBackward(t: number, dy: Tensor | null): void {
    const k = engine().k;
    const B = this.batch, H = this.units, n = B * H;
    this.endedStep = this.lengthsTensor !== null && t >= this.shortest;
    const lengths = this.lengthsPtr;
    if (this.endedStep) for (const name of this.stateNames) k.f32_ended_rows_copy(this.ws.get(`stash_${name}`, [B, H]).ptr, this.stateGrad(name).ptr, lengths, t, B, H);
    if (dy && this.returnSequences) k.f32_axpy(this.stateGrad(this.stateNames[0]).ptr, 1, dy.ptr + t * n * 4, n);
    if (this.endedStep) for (const name of this.stateNames) k.f32_ended_rows_fill(this.stateGrad(name).ptr, lengths, t, 0, B, H);
  }

  /** After backward step t: samples that have ended get back the running gradients they had before it. */
  protected endStepBackward(t: number): void {
    if (!this.endedStep) return;
    const k = engine().k;
    const B = this.batch, H = this.units, lengths = this.lengthsPtr;
    for (const name of this.stateNames) k.f32_ended_rows_copy(this.stateGrad(name).ptr, this.ws.get(`stash_${name}`, [B, H]).ptr, lengths, t, B, H);
  }

  /**
   * Pointer to h_t as it enters the recurrent product: row t of `hs`, or with recurrent
   * dropout m ⊙ h_t, written to row t of a [T, B, H] buffer that backward's dW_hh reads.
   */
  protected recurrentInput(hs: Tensor, t: number): number {
    const n = this.batch * this.units;
    const h = hs.ptr + t * n * 4;
    if (!this.dropMask) return h;
    const hd = this.ws.get("droppedStates", [this.steps, this.batch, this.units]).ptr + t * n * 4;
    engine().k.f32_mul(hd, this.dropMask.ptr, h, n);
    return hd;
  }

  /** The recurrent inputs of all steps, [T, B, H]: rows 0..T−1 of `hs`, or their masked copies. */
  protected recurrentInputs(hs: Tensor): number {
    return this.dropMask ? this.ws.get("droppedStates", [this.steps, this.batch, this.units]).ptr : hs.ptr;
  }

  /**
   * Brings the gradient that reaches h_{t−1} through the recurrent product into `dh` (added
   * when `accumulate`, else written). `product(target, accumulate)` writes or adds dL/d(input
   * of the product) into `target`; with recurrent dropout that input was m ⊙ h_{t−1}, so the
   * product goes to a scratch row first and reaches dh multiplied by m.
   */
  protected recurrentGrad(dh: number, accumulate: boolean, product: (target: number, accumulate: number) => void): void {
    const m = this.dropMask;
    if (!m) {
      product(dh, accumulate ? 1 : 0);
      return;
    }
    const k = engine().k;
    const n = this.batch * this.units;
    const tmp = this.ws.get("recurrentGrad", [this.batch, this.units]).ptr;
    product(tmp, 0);
    if (accumulate) k.f32_mul_acc(dh, m.ptr, tmp, n);
    else k.f32_mul(dh, m.ptr, tmp, n);
  }
}

/**
 * The PyTorch state_dict key (nn.LSTM / nn.GRU / nn.RNN) of one of our recurrent parameter
 * names: the prefix goes, and the level tag `_l0` is added where a name has none —
 * `lstm0.weight_ih` → `weight_ih_l0`, `lstm0.weight_hh_l1` → `weight_hh_l1`,
 * `bidirectional0.bias_ih_reverse` → `bias_ih_l0_reverse`, `bidirectional0.weight_ih_l1_reverse`
 * → `weight_ih_l1_reverse`. Throws for names with no PyTorch counterpart (peepholes, a stack
 * inside a stack).
 */
export function torchParamName(name: string): string {
  const local = name.slice(name.indexOf(".") + 1);
  const m = /^(weight_ih|weight_hh|bias_ih|bias_hh)((?:_l\d+)?)((?:_reverse)?)$/.exec(local);
  if (!m) throw new UnfoldError(`parameter "${name}" has no PyTorch nn.LSTM/GRU/RNN counterpart`);
  return `${m[1]}${m[2] || "_l0"}${m[3]}`;
}

/**
 * Our parameter values from a PyTorch nn.LSTM / nn.GRU / nn.RNN state_dict (keys like
 * `weight_ih_l0`, `bias_hh_l1_reverse`, optionally under `modulePrefix`, e.g. "rnn."), for a
 * built layer laid out the same way (a cell, `layers: n` or a plain Stack, Bidirectional):
 * returns { ourName: values }, ready for `setWeights`. Throws naming missing or extra keys.
 */
export function fromTorchStateDict(layer: Layer, stateDict: Readonly<Record<string, ArrayLike<number>>>, modulePrefix = ""): Record<string, ArrayLike<number>> {
  const out: Record<string, ArrayLike<number>> = {};
  const used = new Set<string>();
  for (const spec of layer.paramSpecs) {
    const key = modulePrefix + torchParamName(spec.name);
    const value = stateDict[key];
    if (!value) throw new UnfoldError(`the PyTorch state_dict has no "${key}" (for ${spec.name}); it has ${Object.keys(stateDict).join(", ")}`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (value.length !== size) throw new UnfoldError(`PyTorch "${key}" has ${value.length} values, ${spec.name} ${formatShape(spec.shape)} needs ${size}`);
    out[spec.name] = value;
    used.add(key);
  }
  const extra = Object.keys(stateDict).filter((k) => k.startsWith(modulePrefix) && !used.has(k));
  if (extra.length) throw new UnfoldError(`the PyTorch state_dict has keys this layer does not use: ${extra.join(", ")}`);
  return out;
}
