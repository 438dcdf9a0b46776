import { Tensor, UnfoldError, engine, formatShape } from "../engine/index.js";
import type { Rng } from "../data/rng.js";
import { Layer, checkKnownOptions, type RunContext } from "./layer.js";

/** Checks a dropout probability: a number in [0, 1). */
export function checkRate(kind: string, option: string, value: unknown): number {
  if (typeof value !== "number" || !(value >= 0 && value < 1)) {
    throw new UnfoldError(`${kind}: ${option} must be a probability in [0, 1), got ${String(value)}`);
  }
  return value;
}

/**
 * Fills `mask` with an inverted-dropout mask: each element 0 with probability `rate`, else
 * 1 / (1 − rate), so the masked values keep their expected sum. The kernel's generator is
 * seeded with four words drawn from `rng`, so the model's seed fixes every mask.
 */
export function fillDropoutMask(mask: Tensor, rate: number, rng: Rng): void {
  const s: number[] = [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()];
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // xoshiro's all-zero state never leaves zero
  engine().k.f32_dropout_mask(mask.ptr, mask.size, rate, s[0], s[1], s[2], s[3]);
}

export interface DropoutOptions {
  /** Probability of zeroing each element during training, in [0, 1). */
  rate: number;
}

/**
 * Inverted dropout on any [..., F] input: in training each element is zeroed with
 * probability `rate` and the others scaled by 1 / (1 − rate), a fresh mask from the model's
 * seeded generator at every forward; at inference (or rate 0) the identity, returning its
 * input as it is. No parameters.
 */
export class Dropout extends Layer {
  readonly kind = "dropout";
  readonly rate: number;
  override readonly options: Readonly<Required<DropoutOptions>>;
  /** The mask of the last forward, or null when it was the identity (inference, or rate 0). */
  private mask: Tensor | null = null;
  private ran = false;

  constructor(options: DropoutOptions) {
    super();
    checkKnownOptions("Dropout", options, ["rate"]);
    this.rate = checkRate("Dropout", "rate", options.rate);
    this.options = { rate: this.rate };
  }

  protected declare(inputSize: number): number {
    return inputSize;
  }

  forward(x: Tensor, ctx: RunContext): Tensor {
    if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== this.inputSize) {
      throw new UnfoldError(`${this.kind} layer "${this.label}" expected input [..., ${this.inputSize}], got ${formatShape(x.shape)}`);
    }
    if (x.dtype !== "float32") throw new UnfoldError(`${this.kind} layer "${this.label}" expected float32 input, got ${x.dtype}`);
    this.ran = true;
    this.mask = null;
    if (!ctx.training || this.rate === 0) return x;
    const mask = this.ws.get("mask", x.shape);
    fillDropoutMask(mask, this.rate, ctx.rng);
    this.mask = mask;
    const y = this.ws.get("y", x.shape);
    engine().k.f32_mul(y.ptr, x.ptr, mask.ptr, x.size);
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.ran) throw new UnfoldError(`${this.kind} layer "${this.label}": backward called before forward`);
    const mask = this.mask;
    if (!mask) return dy;
    if (dy.size !== mask.size) throw new UnfoldError(`${this.kind} layer "${this.label}" expected output gradient ${formatShape(mask.shape)}, got ${formatShape(dy.shape)}`);
    const dx = this.ws.get("dx", dy.shape);
    engine().k.f32_mul(dx.ptr, dy.ptr, mask.ptr, dy.size);
    return dx;
  }
}
