import { Tensor, UnfoldError, engine } from "../engine/index.js";
import { Dropout, checkRate } from "./dropout.js";
import type { RunContext } from "./layer.js";
import {
  RecurrentLayer, SKIP_MODES, checkChoice, checkKnownOptions, type LayerConfig, type ResolvedStackable, type SkipMode, type StackLevels,
} from "./recurrent.js";

export interface StackOptions {
  /**
   * Dropout rate on each layer's output as it is fed to the layers above (never on the last
   * layer's output, nor on the stack's input), in training only: PyTorch's `dropout`. Default 0.
   */
  dropout?: number;
  /** How the layers are wired; see Stack. Default "none". */
  skip?: SkipMode;
}

/** State `name` of level l: the level tag goes after the state's own name (`h` → `h_l1`, `h_reverse` → `h_l1_reverse`). */
function levelStateName(name: string, level: number): string {
  return name.replace(/^([^_]+)/, `$1_l${level}`);
}

/**
 * Recurrent layers stacked in depth. With x the stack's input, out_l the output of layer l
 * and d_l = dropout(out_l) (the identity at inference, or with dropout 0), layer l's input is:
 *
 * - `"none"` (default): in_0 = x, in_l = d_{l−1} — a plain deep RNN (PyTorch's num_layers).
 * - `"input"`: in_l = [x, d_{l−1}] for l ≥ 1, features concatenated (x first): every higher
 *   layer also sees the original input.
 * - `"residual"`: in_l = d_{l−1} and out_l = layer_l(in_l) + in_l for l ≥ 1 (layer 0 has no
 *   residual: its input is the raw features). Every layer above the first must keep the width
 *   of its input (checked at build). When the last layer returns only its last step, the
 *   residual added is in_l at each sample's last real step.
 * - `"dense"`: in_l = [x, d_0, d_1, …, d_{l−1}] for l ≥ 1 (x first, then the lower outputs,
 *   lowest first): each layer sees the input and all lower outputs (DenseNet-style).
 *
 * The stack's output is out of the last layer ([T, B, H_last], or [B, H_last] when the last
 * layer returns only its last step; every other layer must return sequences). Lengths, when
 * given, go to every layer. The state is every layer's state in order, named with a level
 * tag (`h_l0`, `c_l0`, `h_l1`, …); layer l's parameters get the suffix `_l{l}`
 * (`lstm0.weight_ih_l1`), so a plain stack of cells maps one to one to a PyTorch state_dict.
 */
export class Stack extends RecurrentLayer {
  readonly kind = "stack";

  override get causal(): boolean {
    return this.layers.every((l) => l.causal);
  }
  readonly layers: readonly RecurrentLayer[];
  readonly dropout: number;
  readonly skip: SkipMode;
  readonly stateNames: readonly string[];
  override readonly options: { readonly dropout: number; readonly skip: SkipMode; readonly layers: readonly LayerConfig[] };
  /** Dropout on the output of each layer but the last. */
  private readonly drops: readonly Dropout[];
  /** Input width of each layer (known after build). */
  private inWidths: number[] = [];
  /** d_l of the last forward: each lower layer's output after dropout. */
  private dropped: Tensor[] = [];

  constructor(layers: RecurrentLayer[], options: StackOptions = {}) {
    if (!Array.isArray(layers) || layers.length === 0) throw new UnfoldError("Stack needs at least one recurrent layer");
    layers.forEach((l, i) => {
      if (!(l instanceof RecurrentLayer)) throw new UnfoldError(`Stack: layer ${i} is not a recurrent layer (LSTM, GRU, Elman, Jordan, Bidirectional, Stack)`);
      if (i < layers.length - 1 && !l.returnSequences) throw new UnfoldError(`Stack: layer ${i} returns only its last step, but the layers above need its whole sequence; only the last layer may set returnSequences: false`);
    });
    if (new Set(layers).size !== layers.length) throw new UnfoldError("Stack: the same layer object appears twice; give each level its own layer");
    checkKnownOptions("Stack", options, ["dropout", "skip"]);
    const last = layers[layers.length - 1];
    super("Stack", { units: last.units, returnSequences: last.returnSequences });
    this.layers = [...layers];
    this.dropout = checkRate("Stack", "dropout", options.dropout ?? 0);
    this.skip = checkChoice("Stack", "skip", options.skip ?? "none", SKIP_MODES);
    this.stateNames = layers.flatMap((l, i) => l.stateNames.map((n) => levelStateName(n, i)));
    this.drops = layers.slice(0, -1).map(() => new Dropout({ rate: this.dropout }));
    this.options = { dropout: this.dropout, skip: this.skip, layers: layers.map((l) => l.config) };
  }

  override get stateSizes(): readonly number[] {
    return this.layers.flatMap((l) => l.stateSizes);
  }

  override clone(): RecurrentLayer {
    return new Stack(this.layers.map((l) => l.clone()), { dropout: this.dropout, skip: this.skip });
  }

  override stackLevels(): StackLevels {
    return { layers: this.layers, dropout: this.dropout, skip: this.skip };
  }

  protected declareOwn(inputSize: number): number {
    const outs: number[] = [];
    this.inWidths = [];
    this.layers.forEach((layer, l) => {
      const below = outs.length ? outs[l - 1] : 0;
      const inW = l === 0 ? inputSize
        : this.skip === "input" ? inputSize + below
        : this.skip === "dense" ? inputSize + outs.reduce((a, b) => a + b, 0)
        : below;
      const out = this.adopt(layer, inW, `_l${l}`);
      if (this.skip === "residual" && l > 0 && out !== inW) {
        throw new UnfoldError(`Stack: skip "residual" adds each layer's input to its output, but layer ${l} maps ${inW} features to ${out}; give the layers above the first the same width`);
      }
      this.inWidths.push(inW);
      outs.push(out);
    });
    this.drops.forEach((d, l) => this.adopt(d, outs[l], `_l${l}`));
    return outs[outs.length - 1];
  }

  /** Splits a list of per-state tensors of the whole stack into one list per layer. */
  private split<T>(all: readonly T[] | undefined): (T[] | undefined)[] {
    if (!all) return this.layers.map(() => undefined);
    let at = 0;
    return this.layers.map((l) => {
      const part = all.slice(at, at + l.stateNames.length);
      at += l.stateNames.length;
      return part;
    });
  }

  /** Layer l's input for the stack input x, from the outputs below it (see the class comment). */
  private inputOf(l: number, x: Tensor): Tensor {
    if (l === 0) return x;
    if (this.skip === "none" || this.skip === "residual") return this.dropped[l - 1];
    const k = engine().k;
    const T = this.steps, B = this.batch, I = this.inputSize, W = this.inWidths[l], rows = T * B;
    const input = this.ws.get(`in${l}`, [T, B, W]);
    k.f32_copy_cols(input.ptr, W, x.ptr, I, rows, I, 0);
    let col = I;
    for (let j = this.skip === "input" ? l - 1 : 0; j < l; j++) {
      const w = this.layers[j].units;
      k.f32_copy_cols(input.ptr + col * 4, W, this.dropped[j].ptr, w, rows, w, 0);
      col += w;
    }
    return input;
  }

  protected run(x: Tensor, ctx: RunContext, initialState: readonly Tensor[] | undefined): Tensor {
    const k = engine().k;
    const initial = this.split(initialState);
    const lengths = this.lengths ?? undefined;
    this.dropped = [];
    let out = x;
    this.layers.forEach((layer, l) => {
      const input = this.inputOf(l, x);
      const y = layer.forward(input, ctx, initial[l], lengths);
      out = y;
      if (this.skip === "residual" && l > 0) {
        out = this.ws.get(`res${l}`, y.shape);
        if (layer.returnSequences) k.f32_add(out.ptr, y.ptr, input.ptr, y.size);
        else {
          k.f32_gather_last_steps(out.ptr, input.ptr, this.lengthsPtr, this.steps, this.batch, layer.units);
          k.f32_add(out.ptr, out.ptr, y.ptr, y.size);
        }
      }
      if (l < this.layers.length - 1) this.dropped.push(this.drops[l].forward(out, ctx));
    });
    return out;
  }

  protected runBackward(x: Tensor, dy: Tensor | null, dFinalState: readonly (Tensor | null)[] | undefined): Tensor {
    const k = engine().k;
    const L = this.layers.length, T = this.steps, B = this.batch, I = this.inputSize, rows = T * B;
    const dFinal = this.split(dFinalState);
    const concat = this.skip === "input" || this.skip === "dense";
    // dL/d d_j for each lower output: layer j+1's input gradient itself, or with concatenated
    // inputs a buffer its columns are split into ("dense" adds from every layer above).
    const dDropped: Tensor[] = [];
    if (concat) for (let j = 0; j < L - 1; j++) dDropped.push(this.ws.get(`dd${j}`, [T, B, this.layers[j].units]));
    if (this.skip === "dense") dDropped.forEach((d) => d.fill(0));
    // Only level 0 reads x alone; with concatenated skips the levels above still need their
    // input gradients for the lower outputs' columns, and simply drop the x columns.
    const wantDx = this.needsInputGrad;
    this.layers[0].needsInputGrad = wantDx;
    const dx = concat && wantDx ? this.ws.zeros("dx", [T, B, I]) : null;
    let dOut: Tensor | null = dy;
    for (let l = L - 1; l >= 0; l--) {
      const layer = this.layers[l];
      if (l < L - 1) dOut = this.drops[l].backward(dDropped[l]);
      let dIn = layer.backward(dOut, dFinal[l]);
      if (this.skip === "residual" && l > 0 && dOut) {
        // out_l = layer_l(in_l) + in_l: the output's gradient also reaches in_l directly.
        const total = this.ws.get(`din${l}`, dIn.shape);
        k.f32_copy(total.ptr, dIn.ptr, dIn.size);
        if (layer.returnSequences) k.f32_add(total.ptr, total.ptr, dOut.ptr, dOut.size);
        else k.f32_scatter_last_steps(total.ptr, dOut.ptr, this.lengthsPtr, T, B, layer.units);
        dIn = total;
      }
      if (l === 0) {
        if (!wantDx) return this.noInputGrad(x);
        if (!dx) return dIn;
        k.f32_add(dx.ptr, dx.ptr, dIn.ptr, dx.size);
        return dx;
      }
      if (!concat) {
        dDropped[l - 1] = dIn;
        continue;
      }
      // Split dIn = [dx part, lower outputs' parts] by columns, as inputOf concatenated them.
      const W = this.inWidths[l];
      if (dx) k.f32_copy_cols(dx.ptr, I, dIn.ptr, W, rows, I, 1);
      let col = I;
      for (let j = this.skip === "input" ? l - 1 : 0; j < l; j++) {
        const w = this.layers[j].units;
        k.f32_copy_cols(dDropped[j].ptr, w, dIn.ptr + col * 4, W, rows, w, this.skip === "dense" ? 1 : 0);
        col += w;
      }
    }
    throw new UnfoldError("unreachable: a Stack has at least one layer");
  }

  protected ownFinalState(): Tensor[] {
    return this.layers.flatMap((l) => l.finalState);
  }

  protected ownInitialStateGrad(): Tensor[] {
    return this.layers.flatMap((l) => l.initialStateGrad);
  }
}

/**
 * The Stack a cell with `layers: n > 1` runs in its place: n single-layer copies made by
 * `make` from the cell's resolved options (every copy returns sequences but the last, which
 * keeps the cell's returnSequences), wired by the cell's `dropout` and `skip`. Null for n = 1.
 */
export function stackOfCopies<O extends ResolvedStackable>(options: O, make: (options: O) => RecurrentLayer): Stack | null {
  const n = options.layers;
  if (n === 1) return null;
  const copies = Array.from({ length: n }, (_, l) => make({ ...options, layers: 1, dropout: 0, skip: "none", returnSequences: l < n - 1 || options.returnSequences }));
  return new Stack(copies, { dropout: options.dropout, skip: options.skip });
}
