import { Tensor, UnfoldError, Workspace, engine, formatShape } from "../engine/index.js";

export type LossName = "softmaxCrossEntropy" | "mse" | "sigmoidBinaryCrossEntropy";
const NAMES: readonly LossName[] = ["softmaxCrossEntropy", "mse", "sigmoidBinaryCrossEntropy"];

export interface LossOptions {
  /**
   * `"sumOverTime"` (default): summed over time steps, averaged over the batch — the textbook
   * sequence loss. `"mean"`: averaged over every counted (step, sample) pair.
   */
  reduction?: "sumOverTime" | "mean";
  /** Softmax cross-entropy only: targets equal to this are skipped. Default -1 (none can match a class). */
  ignoreIndex?: number;
}

/**
 * A loss over predictions [T, B, C] (or [B, C] for sequence-to-one): softmax cross-entropy
 * takes int32 class targets [T, B]; MSE and sigmoid binary cross-entropy take float32
 * targets shaped like the predictions. `compute` returns the loss and leaves its gradient
 * with respect to the predictions in `grad` (owned by the loss, valid until the next call).
 * MSE and BCE average over the C features of a row, as PyTorch's mean reductions do.
 */
export class Loss {
  readonly name: LossName;
  readonly reduction: "sumOverTime" | "mean";
  readonly ignoreIndex: number;
  private readonly ws = new Workspace();
  private gradTensor: Tensor | null = null;
  /** Of the last `compute`: the loss summed over every counted row, and how many rows counted. */
  lastSum = 0;
  lastCount = 0;
  /** What the last sum was divided by (the batch size, or the counted rows for "mean"). */
  lastDivisor = 1;

  constructor(name: LossName, options: LossOptions = {}) {
    if (!NAMES.includes(name)) throw new UnfoldError(`unknown loss "${String(name)}" (known: ${NAMES.join(", ")})`);
    for (const key of Object.keys(options)) {
      if (key !== "reduction" && key !== "ignoreIndex") throw new UnfoldError(`loss: unknown option "${key}" (known: reduction, ignoreIndex)`);
    }
    if (options.ignoreIndex !== undefined && name !== "softmaxCrossEntropy") throw new UnfoldError(`loss: ignoreIndex applies to softmaxCrossEntropy only, not ${name}`);
    this.name = name;
    this.reduction = options.reduction ?? "sumOverTime";
    if (this.reduction !== "sumOverTime" && this.reduction !== "mean") throw new UnfoldError(`loss: reduction must be "sumOverTime" or "mean", got ${String(this.reduction)}`);
    this.ignoreIndex = options.ignoreIndex ?? -1;
    if (!Number.isInteger(this.ignoreIndex)) throw new UnfoldError(`loss: ignoreIndex must be a whole number, got ${this.ignoreIndex}`);
  }

  /** Gradient of the last `compute` with respect to the predictions. */
  get grad(): Tensor {
    if (!this.gradTensor) throw new UnfoldError("loss: compute() has not run yet");
    return this.gradTensor;
  }

  /**
   * Validates the targets (and the row mask, when given) against the predictions, naming
   * what is wrong. Targets of masked-out rows are not looked at: they may hold anything.
   */
  checkTargets(pred: Tensor, target: Tensor, mask: Tensor | null = null): void {
    const lead = pred.shape.slice(0, -1);
    const C = pred.shape[pred.shape.length - 1];
    const m = mask ? this.maskValues(pred, mask) : null;
    if (this.name === "softmaxCrossEntropy") {
      if (target.dtype !== "int32") throw new UnfoldError(`softmaxCrossEntropy expects int32 class targets, got ${target.dtype}`);
      if (target.shape.length !== lead.length || target.shape.some((d, i) => d !== lead[i])) {
        throw new UnfoldError(`softmaxCrossEntropy expected targets ${formatShape(lead)} for predictions ${formatShape(pred.shape)}, got ${formatShape(target.shape)}`);
      }
      const t = target.toTypedArray();
      for (let i = 0; i < t.length; i++) {
        if (m && m[i] === 0) continue;
        if ((t[i] < 0 || t[i] >= C) && t[i] !== this.ignoreIndex) {
          throw new UnfoldError(`softmaxCrossEntropy target ${i} is ${t[i]}, outside the ${C} classes [0, ${C - 1}]` + (this.ignoreIndex !== -1 ? ` (ignoreIndex is ${this.ignoreIndex})` : ""));
        }
      }
    } else {
      if (target.dtype !== "float32") throw new UnfoldError(`${this.name} expects float32 targets, got ${target.dtype}`);
      if (target.shape.length !== pred.shape.length || target.shape.some((d, i) => d !== pred.shape[i])) {
        throw new UnfoldError(`${this.name} expected targets ${formatShape(pred.shape)} like the predictions, got ${formatShape(target.shape)}`);
      }
      const t = target.toTypedArray();
      for (let i = 0; i < t.length; i++) {
        if (m && m[Math.floor(i / C)] === 0) continue;
        if (!Number.isFinite(t[i])) throw new UnfoldError(`${this.name} target ${i} is ${t[i]}; targets must be finite`);
      }
    }
  }

  /**
   * The loss value; its gradient is left in `grad`. `mask` (float32, one value per row of the
   * predictions, e.g. [T, B] for [T, B, C]) leaves out the rows where it is 0 — the steps past
   * each sample's length: they add nothing to the loss, get a zero gradient, and do not count
   * for the "mean" reduction. Only 0/1 masks are accepted.
   */
  compute(pred: Tensor, target: Tensor, mask: Tensor | null = null): number {
    this.checkTargets(pred, target, mask);
    const k = engine().k;
    const C = pred.shape[pred.shape.length - 1];
    const rows = pred.size / C;
    const batch = pred.shape.length >= 2 ? pred.shape[pred.shape.length - 2] : 1;
    const m = mask ? this.maskValues(pred, mask) : null;
    let targets = target;
    if (m && this.name === "softmaxCrossEntropy") {
      // The kernel skips rows whose target is ignoreIndex: masked rows become such rows.
      const t = target.toTypedArray();
      for (let r = 0; r < rows; r++) if (m[r] === 0) t[r] = this.ignoreIndex;
      targets = this.ws.get("maskedTargets", target.shape, "int32").write(t, true);
    }
    const counted = this.countedRows(targets, rows, m);
    this.lastCount = counted;
    const divisor = this.reduction === "mean" ? Math.max(counted, 1) : batch;
    const scale = 1 / divisor;
    const grad = this.ws.get("grad", pred.shape);
    const mp = m && mask ? mask.ptr : 0;
    let sum: number;
    if (this.name === "softmaxCrossEntropy") sum = k.f32_softmax_xent(grad.ptr, pred.ptr, targets.ptr, rows, C, this.ignoreIndex, scale);
    else if (this.name === "mse") sum = k.f32_mse(grad.ptr, pred.ptr, target.ptr, mp, rows, C, scale);
    else sum = k.f32_sigmoid_bce(grad.ptr, pred.ptr, target.ptr, mp, rows, C, scale);
    this.gradTensor = grad;
    this.lastSum = sum;
    this.lastDivisor = divisor;
    return sum / divisor;
  }

  private countedRows(target: Tensor, rows: number, mask: Float32Array | null): number {
    if (this.name !== "softmaxCrossEntropy") {
      if (!mask) return rows;
      let n = 0;
      for (let r = 0; r < rows; r++) if (mask[r] !== 0) n++;
      return n;
    }
    const t = target.toTypedArray();
    let n = 0;
    for (let i = 0; i < t.length; i++) if (t[i] !== this.ignoreIndex) n++;
    return n;
  }

  /** The mask's values, after checking it has one 0 or 1 per row of `pred`. */
  private maskValues(pred: Tensor, mask: Tensor): Float32Array {
    const rows = pred.size / pred.shape[pred.shape.length - 1];
    if (mask.dtype !== "float32" || mask.size !== rows) {
      throw new UnfoldError(`${this.name}: the row mask must be float32 with one value per row of the predictions ${formatShape(pred.shape)} (${rows}), got ${mask.dtype} ${formatShape(mask.shape)}`);
    }
    const m = mask.toTypedArray() as Float32Array;
    for (let r = 0; r < rows; r++) if (m[r] !== 0 && m[r] !== 1) throw new UnfoldError(`${this.name}: mask value ${r} is ${m[r]}; a row mask holds 0 (left out) or 1`);
    return m;
  }

  dispose(): void {
    this.ws.dispose();
    this.gradTensor = null;
  }
}
