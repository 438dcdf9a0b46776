import { Tensor, UnfoldError, engine } from "../engine/index.js";
import type { RunContext } from "./layer.js";
import { RecurrentLayer, checkChoice, checkKnownOptions, type LayerConfig } from "./recurrent.js";
import { Stack } from "./stack.js";

/** How the two directions' outputs are combined. */
export type MergeMode = "concat" | "sum" | "mul" | "average";
const MERGE_MODES: readonly MergeMode[] = ["concat", "sum", "mul", "average"];

export interface BidirectionalOptions {
  /**
   * `"concat"` (default, PyTorch's bidirectional output): [forward, backward] along features,
   * 2H wide; `"sum"`, `"mul"`, `"average"`: elementwise, H wide.
   */
  merge?: MergeMode;
}

/**
 * Runs a recurrent layer over the sequence in both directions: the given layer forwards, a
 * copy of it with its own parameters (suffix `_reverse`, as PyTorch's) over the reversed
 * sequence, and merges the two outputs step by step (the backward direction's output at step
 * t is the one from reading x_{T−1} … x_t). With lengths, the reverse pass of each sample
 * starts at its own last real step (as PyTorch's packed sequences do) and both directions'
 * outputs past a sample's end are zero. When the layer returns only its last step, the result
 * merges the forward direction's last step with the backward direction's final output (the
 * one that has read the whole sequence back to step 0), as Keras' Bidirectional does.
 *
 * Over a stack (a Stack, or a cell with layers > 1) every level is made bidirectional and
 * the next level reads the merged output of both directions of the one below — PyTorch's
 * `bidirectional=True` with `num_layers > 1` — keeping the stack's dropout and skip wiring;
 * parameters are then named `_l{l}` and `_l{l}_reverse`.
 *
 * The state is the forward direction's states, then the backward direction's (`h`, `c`,
 * `h_reverse`, `c_reverse`); over a stack, level by level (`h_l0`, `c_l0`, `h_l0_reverse`, …,
 * PyTorch's h_n order). The final state of the backward direction is its state after step 0.
 */
export class Bidirectional extends RecurrentLayer {
  readonly kind = "bidirectional";

  override get causal(): boolean {
    return false;
  }
  readonly merge: MergeMode;
  readonly stateNames: readonly string[];
  /** The layer given, running forwards (or, over a stack, the stack it described). */
  readonly layer: RecurrentLayer;
  override readonly options: { readonly merge: MergeMode; readonly layer: LayerConfig };
  /** The two directions (null over a stack, where a Stack of Bidirectionals runs instead). */
  private readonly fwd: RecurrentLayer | null;
  private readonly rev: RecurrentLayer | null;
  /** The backward direction's output of the last forward, back in forward time order. */
  private revOut: Tensor | null = null;
  private fwdOut: Tensor | null = null;

  constructor(layer: RecurrentLayer, options: BidirectionalOptions = {}) {
    if (!(layer instanceof RecurrentLayer)) throw new UnfoldError("Bidirectional wraps a recurrent layer (LSTM, GRU, Elman, Jordan, Stack)");
    checkKnownOptions("Bidirectional", options, ["merge"]);
    const merge = checkChoice("Bidirectional", "merge", options.merge ?? "concat", MERGE_MODES);
    const levels = layer.stackLevels();
    const stacked = levels ? new Stack(levels.layers.map((l) => new Bidirectional(l, { merge })), { dropout: levels.dropout, skip: levels.skip }) : null;
    const units = stacked ? stacked.units : merge === "concat" ? 2 * layer.units : layer.units;
    super("Bidirectional", { units, returnSequences: stacked ? stacked.returnSequences : layer.returnSequences });
    this.merge = merge;
    this.layer = layer;
    this.delegate = stacked;
    this.fwd = stacked ? null : layer;
    this.rev = stacked ? null : layer.clone();
    this.stateNames = stacked ? stacked.stateNames : [...layer.stateNames, ...layer.stateNames.map((n) => `${n}_reverse`)];
    this.options = { merge, layer: layer.config };
  }

  override get stateSizes(): readonly number[] {
    if (this.delegate) return this.delegate.stateSizes;
    return [...this.fwd!.stateSizes, ...this.rev!.stateSizes];
  }

  override clone(): RecurrentLayer {
    return new Bidirectional(this.layer.clone(), { merge: this.merge });
  }

  protected declareOwn(inputSize: number): number {
    const outF = this.adopt(this.fwd!, inputSize, "");
    const outR = this.adopt(this.rev!, inputSize, "_reverse");
    return this.merge === "concat" ? outF + outR : outF;
  }

  /** The per-direction halves of a list of per-state tensors. */
  private split<T>(all: readonly T[] | undefined): [T[] | undefined, T[] | undefined] {
    if (!all) return [undefined, undefined];
    const n = this.fwd!.stateNames.length;
    return [all.slice(0, n), all.slice(n)];
  }

  /** y = x with each sample's real steps reversed in time (see f32_reverse_steps), into workspace tensor `name`. */
  private reversed(name: string, x: Tensor): Tensor {
    const y = this.ws.get(name, x.shape);
    engine().k.f32_reverse_steps(y.ptr, x.ptr, this.lengthsPtr, this.steps, this.batch, x.shape[2]);
    return y;
  }

  protected run(x: Tensor, ctx: RunContext, initialState: readonly Tensor[] | undefined): Tensor {
    const k = engine().k;
    const fwd = this.fwd!, rev = this.rev!;
    const [initF, initR] = this.split(initialState);
    const lengths = this.lengths ?? undefined;
    const yF = fwd.forward(x, ctx, initF, lengths);
    const yR0 = rev.forward(this.reversed("xReversed", x), ctx, initR, lengths);
    const yR = this.returnSequences ? this.reversed("yReversed", yR0) : yR0;
    this.fwdOut = yF;
    this.revOut = yR;
    const H = fwd.units, rows = yF.size / H;
    const out = this.ws.get("out", [...yF.shape.slice(0, -1), this.units]);
    switch (this.merge) {
      case "concat":
        k.f32_copy_cols(out.ptr, 2 * H, yF.ptr, H, rows, H, 0);
        k.f32_copy_cols(out.ptr + H * 4, 2 * H, yR.ptr, H, rows, H, 0);
        break;
      case "sum": k.f32_add(out.ptr, yF.ptr, yR.ptr, out.size); break;
      case "mul": k.f32_mul(out.ptr, yF.ptr, yR.ptr, out.size); break;
      case "average":
        k.f32_add(out.ptr, yF.ptr, yR.ptr, out.size);
        k.f32_scale(out.ptr, 0.5, out.size);
        break;
    }
    return out;
  }

  protected runBackward(x: Tensor, dy: Tensor | null, dFinalState: readonly (Tensor | null)[] | undefined): Tensor {
    const k = engine().k;
    const fwd = this.fwd!, rev = this.rev!;
    const [dFinalF, dFinalR] = this.split(dFinalState);
    // The merge's gradient, to each direction (dyR in forward time order).
    let dyF: Tensor | null = null, dyR: Tensor | null = null;
    if (dy) {
      const H = fwd.units, rows = dy.size / this.units;
      const shape = [...dy.shape.slice(0, -1), H];
      switch (this.merge) {
        case "concat":
          dyF = this.ws.get("dyF", shape);
          dyR = this.ws.get("dyR", shape);
          k.f32_copy_cols(dyF.ptr, H, dy.ptr, 2 * H, rows, H, 0);
          k.f32_copy_cols(dyR.ptr, H, dy.ptr + H * 4, 2 * H, rows, H, 0);
          break;
        case "sum":
          dyF = dyR = dy;
          break;
        case "average":
          dyF = dyR = this.ws.get("dyF", shape);
          k.f32_copy(dyF.ptr, dy.ptr, dy.size);
          k.f32_scale(dyF.ptr, 0.5, dy.size);
          break;
        case "mul":
          dyF = this.ws.get("dyF", shape);
          dyR = this.ws.get("dyR", shape);
          k.f32_mul(dyF.ptr, dy.ptr, this.revOut!.ptr, dy.size);
          k.f32_mul(dyR.ptr, dy.ptr, this.fwdOut!.ptr, dy.size);
          break;
      }
    }
    fwd.needsInputGrad = rev.needsInputGrad = this.needsInputGrad;
    const dxF = fwd.backward(dyF, dFinalF);
    const dxR = rev.backward(dyR && this.returnSequences ? this.reversed("dyReversed", dyR) : dyR, dFinalR);
    if (!this.needsInputGrad) return this.noInputGrad(x);
    const dx = this.reversed("dx", dxR);
    k.f32_add(dx.ptr, dx.ptr, dxF.ptr, dx.size);
    return dx;
  }

  protected ownFinalState(): Tensor[] {
    return [...this.fwd!.finalState, ...this.rev!.finalState];
  }

  protected ownInitialStateGrad(): Tensor[] {
    return [...this.fwd!.initialStateGrad, ...this.rev!.initialStateGrad];
  }
}
