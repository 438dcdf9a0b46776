import { Tensor, UnfoldError, engine, formatShape } from "../engine/index.js";
import { Layer, type RunContext } from "./layer.js";
import { checkChoice, checkKnownOptions, checkLengths } from "./recurrent.js";

export type PoolingMode = "last" | "mean" | "max";
const MODES: readonly PoolingMode[] = ["last", "mean", "max"];

export interface SequencePoolingOptions {
  /**
   * How the steps of a sample become one vector: `"last"` its own last real step, `"mean"`
   * the mean over its real steps, `"max"` the per-feature maximum over its real steps
   * (the gradient goes to the first step that reaches it, as torch.max(dim=0) routes it).
   */
  mode: PoolingMode;
}

/**
 * A sequence-to-one head: [T, B, F] → [B, F], with per-sample lengths when given (steps at or
 * past a sample's length are ignored and get a zero gradient). It has no parameters; put a
 * Dense after it for a classifier. Kernels: assembly/pooling.ts (mean, max) and the
 * last-step gather of assembly/sequence.ts.
 */
export class SequencePooling extends Layer {
  readonly kind = "pooling";

  /** "last" streams (the answer for the prefix so far); "mean" and "max" need the whole sequence. */
  override get causal(): boolean {
    return this.mode === "last";
  }
  readonly mode: PoolingMode;
  override readonly options: Readonly<SequencePoolingOptions>;
  private steps = 0;
  private batch = 0;
  private withLengths = false;

  constructor(options: SequencePoolingOptions) {
    super();
    if (!options || typeof options !== "object") throw new UnfoldError(`SequencePooling needs options { mode: "last" | "mean" | "max" }`);
    checkKnownOptions("SequencePooling", options, ["mode"]);
    this.mode = checkChoice("SequencePooling", "mode", options.mode, MODES);
    this.options = { mode: this.mode };
  }

  protected declare(inputSize: number): number {
    return inputSize;
  }

  /** Pools x [T, B, F] to [B, F]; `lengths` (B whole numbers in [1, T]) marks each sample's real steps. */
  forward(x: Tensor, _ctx: RunContext, lengths?: ArrayLike<number>): Tensor {
    this.checkInput(x, [3]);
    const [T, B, F] = x.shape;
    if (T < 1 || B < 1) throw new UnfoldError(`pooling layer "${this.label}" needs at least one step and one sample, got ${formatShape(x.shape)}`);
    const k = engine().k;
    const valid = checkLengths(`pooling layer "${this.label}"`, lengths, T, B);
    const lens = valid ? this.ws.get("lengths", [B], "int32").write(valid, true) : null;
    const lp = lens ? lens.ptr : 0;
    const y = this.ws.get("y", [B, F]);
    if (this.mode === "last") k.f32_gather_last_steps(y.ptr, x.ptr, lp, T, B, F);
    else if (this.mode === "mean") k.f32_seqpool_mean(y.ptr, x.ptr, lp, T, B, F);
    else k.f32_seqpool_max(y.ptr, this.ws.get("argmax", [B, F], "int32").ptr, x.ptr, lp, T, B, F);
    this.steps = T;
    this.batch = B;
    this.withLengths = lens !== null;
    this.remember(x);
    return y;
  }

  backward(dy: Tensor): Tensor {
    this.recalled();
    const T = this.steps, B = this.batch, F = this.inputSize;
    if (dy.shape.length !== 2 || dy.shape[0] !== B || dy.shape[1] !== F) {
      throw new UnfoldError(`pooling layer "${this.label}" expected output gradient [${B}, ${F}], got ${formatShape(dy.shape)}`);
    }
    const k = engine().k;
    const lp = this.withLengths ? this.ws.get("lengths", [B], "int32").ptr : 0;
    const dx = this.ws.get("dx", [T, B, F]);
    if (this.mode === "last") k.f32_scatter_last_steps(dx.fill(0).ptr, dy.ptr, lp, T, B, F);
    else if (this.mode === "mean") k.f32_seqpool_mean_backward(dx.ptr, dy.ptr, lp, T, B, F);
    else k.f32_seqpool_max_backward(dx.ptr, dy.ptr, this.ws.get("argmax", [B, F], "int32").ptr, T, B, F);
    return dx;
  }
}
