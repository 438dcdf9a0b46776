import { UnfoldError, formatShape, type NestedArray } from "../engine/index.js";
import { checkLengths } from "../layers/recurrent.js";

/** Flat data with its shape, batch-major: the first dimension counts samples. */
export interface ShapedArray {
  data: ArrayLike<number>;
  shape: readonly number[];
}
export type ArrayInput = NestedArray | ShapedArray;

function toShaped(input: ArrayInput, what: string): { data: ArrayLike<number>; shape: number[] } {
  if (input && typeof input === "object" && !Array.isArray(input) && "shape" in input) {
    const size = input.shape.reduce((a, b) => a * b, 1);
    if (!input.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new UnfoldError(`${what}: shape ${formatShape(input.shape)} must hold whole numbers >= 0`);
    if (input.data.length !== size) throw new UnfoldError(`${what}: shape ${formatShape(input.shape)} holds ${size} values, the data has ${input.data.length}`);
    return { data: input.data, shape: [...input.shape] };
  }
  if (!Array.isArray(input)) throw new UnfoldError(`${what} must be nested arrays or { data, shape }, got ${input === null ? "null" : typeof input}`);
  const shape: number[] = [];
  for (let v: NestedArray = input; Array.isArray(v); v = v[0]) {
    shape.push(v.length);
    if (v.length === 0) break;
  }
  const flat: number[] = [];
  const walk = (v: NestedArray, depth: number, path: string) => {
    if (depth === shape.length) {
      if (typeof v !== "number") throw new UnfoldError(`${what}${path} should be a number, got ${Array.isArray(v) ? "an array" : typeof v}`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw new UnfoldError(`${what} is not rectangular: ${what}${path} should have length ${shape[depth]}`);
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
  };
  walk(input, 0, "");
  return { data: flat, shape };
}

export interface SequenceDatasetOptions {
  /**
   * Real steps of each sample, [N] whole numbers in [1, T] (padSequences gives them). Steps
   * past a sample's length are ignored by the recurrent layers, the pooling heads and the
   * loss of per-step targets, whatever they hold.
   */
  lengths?: ArrayLike<number>;
  /** A fixed context vector per sample, [N, size], for a model built with `context`. */
  context?: ArrayInput;
}

/** A batch as the layers take it (time-major), filled by `SequenceDataset.fillBatch`. */
export interface BatchExtras {
  /** Out: the lengths of the batch's samples, [b] (when the dataset has lengths). */
  lengths?: Int32Array;
  /** Out: the batch's context, [b, size] (when the dataset has a context). */
  context?: Float32Array;
}

/**
 * Samples for training, batch-major as users hold them: inputs x [N, T, F] (feature vectors)
 * or [N, T] (int32 token ids, for a model whose first layer is an Embedding); targets y of
 * [N, T] (class ids, one per step), [N] (one per sequence), [N, T, C] or [N, C] (values);
 * optionally per-sample lengths [N] and a context [N, size]. Held in JavaScript memory;
 * `fillBatch` writes a batch time-major, as the layers take it.
 */
export class SequenceDataset {
  readonly x: Float32Array | Int32Array;
  readonly xShape: readonly number[];
  readonly y: Float32Array | Int32Array;
  readonly yShape: readonly number[];
  /** Real steps per sample, or null when every sample has all T steps. */
  readonly lengths: Int32Array | null;
  /** Context vectors [N, contextSize], or null. */
  readonly context: Float32Array | null;
  readonly contextSize: number;

  constructor(x: ArrayInput, y: ArrayInput, targets: "int32" | "float32", options: SequenceDatasetOptions = {}) {
    for (const key of Object.keys(options)) if (key !== "lengths" && key !== "context") throw new UnfoldError(`SequenceDataset: unknown option "${key}" (known: lengths, context)`);
    const xs = toShaped(x, "x");
    const ys = toShaped(y, "y");
    if (xs.shape.length !== 3 && xs.shape.length !== 2) throw new UnfoldError(`x must be [N, T, features] (batch-major), or [N, T] token ids, got ${formatShape(xs.shape)}`);
    const tokens = xs.shape.length === 2;
    const [N, T] = xs.shape;
    if (ys.shape[0] !== N) throw new UnfoldError(`x has ${N} samples but y has ${ys.shape[0]}`);
    const ok = targets === "int32" ? ys.shape.length === 1 || (ys.shape.length === 2 && ys.shape[1] === T) : ys.shape.length === 2 || (ys.shape.length === 3 && ys.shape[1] === T);
    if (!ok) {
      const want = targets === "int32" ? `[${N}, ${T}] (a class per step) or [${N}] (one per sequence)` : `[${N}, ${T}, C] (per step) or [${N}, C] (one per sequence)`;
      throw new UnfoldError(`y must be ${want}, got ${formatShape(ys.shape)}`);
    }
    if (tokens) {
      for (let i = 0; i < xs.data.length; i++) {
        const v = xs.data[i];
        if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw new UnfoldError(`x value ${i} (sample ${Math.floor(i / T)}, step ${i % T}) is ${v}; token ids must be whole numbers`);
      }
      this.x = Int32Array.from(xs.data);
    } else {
      this.x = Float32Array.from(xs.data);
      for (let i = 0; i < this.x.length; i++) if (!Number.isFinite(this.x[i])) throw new UnfoldError(`x value ${i} is ${xs.data[i]}; inputs must be finite numbers`);
    }
    if (targets === "int32") {
      for (let i = 0; i < ys.data.length; i++) if (!Number.isInteger(ys.data[i])) throw new UnfoldError(`y value ${i} is ${ys.data[i]}; class targets must be whole numbers`);
      this.y = Int32Array.from(ys.data);
    } else {
      this.y = Float32Array.from(ys.data);
      for (let i = 0; i < this.y.length; i++) if (!Number.isFinite(this.y[i])) throw new UnfoldError(`y value ${i} is ${ys.data[i]}; targets must be finite numbers`);
    }
    this.lengths = checkLengths("dataset", options.lengths, T, N);
    if (options.context !== undefined) {
      const cs = toShaped(options.context, "context");
      if (cs.shape.length !== 2 || cs.shape[0] !== N || cs.shape[1] < 1) throw new UnfoldError(`context must be [${N}, size] (one vector per sample), got ${formatShape(cs.shape)}`);
      this.context = Float32Array.from(cs.data);
      for (let i = 0; i < this.context.length; i++) if (!Number.isFinite(this.context[i])) throw new UnfoldError(`context value ${i} is ${cs.data[i]}; contexts must be finite numbers`);
      this.contextSize = cs.shape[1];
    } else {
      this.context = null;
      this.contextSize = 0;
    }
    this.xShape = xs.shape;
    this.yShape = ys.shape;
  }

  get size(): number {
    return this.xShape[0];
  }
  get steps(): number {
    return this.xShape[1];
  }
  /** True when x holds token ids [N, T] (else feature vectors [N, T, F]). */
  get tokens(): boolean {
    return this.xShape.length === 2;
  }
  /** Features per step (1 for token ids: one id per step). */
  get features(): number {
    return this.tokens ? 1 : this.xShape[2];
  }
  /** True when there is one target per step (else one per sequence). */
  get perStep(): boolean {
    return this.y instanceof Int32Array ? this.yShape.length === 2 : this.yShape.length === 3;
  }
  /** Values per target (C for float targets, 1 for class ids). */
  get targetWidth(): number {
    return this.y instanceof Int32Array ? 1 : this.yShape[this.yShape.length - 1];
  }

  /** The samples at `indices`, as a new dataset. */
  subset(indices: ArrayLike<number>): SequenceDataset {
    const xRow = this.steps * this.features;
    const yRow = this.y.length / this.size;
    const S = this.contextSize;
    const x = this.tokens ? new Int32Array(indices.length * xRow) : new Float32Array(indices.length * xRow);
    const y = this.y instanceof Int32Array ? new Int32Array(indices.length * yRow) : new Float32Array(indices.length * yRow);
    const lengths = this.lengths ? new Int32Array(indices.length) : undefined;
    const context = this.context ? new Float32Array(indices.length * S) : null;
    for (let i = 0; i < indices.length; i++) {
      const s = indices[i];
      x.set(this.x.subarray(s * xRow, (s + 1) * xRow), i * xRow);
      y.set(this.y.subarray(s * yRow, (s + 1) * yRow), i * yRow);
      if (lengths) lengths[i] = this.lengths![s];
      if (context) context.set(this.context!.subarray(s * S, (s + 1) * S), i * S);
    }
    return new SequenceDataset(
      { data: x, shape: [indices.length, ...this.xShape.slice(1)] },
      { data: y, shape: [indices.length, ...this.yShape.slice(1)] },
      this.y instanceof Int32Array ? "int32" : "float32",
      { lengths, context: context ? { data: context, shape: [indices.length, S] } : undefined },
    );
  }

  /**
   * Shapes of a batch of `b` samples, time-major: x [T, b, F] (or [T, b] token ids);
   * y [T, b(, C)] or [b(, C)]; context [b, size] when the dataset has one.
   */
  batchShapes(b: number): { x: number[]; y: number[]; context?: number[] } {
    const T = this.steps;
    const c = this.y instanceof Int32Array ? [] : [this.targetWidth];
    return {
      x: this.tokens ? [T, b] : [T, b, this.features],
      y: this.perStep ? [T, b, ...c] : [b, ...c],
      ...(this.context ? { context: [b, this.contextSize] } : {}),
    };
  }

  /**
   * Writes samples `indices` into time-major x [T, b, F] (Int32Array [T, b] for tokens) and
   * y arrays, and, when given, their lengths [b] and context [b, size] into `extras`.
   */
  fillBatch(indices: ArrayLike<number>, x: Float32Array | Int32Array, y: Float32Array | Int32Array, extras: BatchExtras = {}): void {
    const T = this.steps, F = this.features, b = indices.length, C = this.targetWidth, S = this.contextSize;
    for (let i = 0; i < b; i++) {
      const s = indices[i];
      for (let t = 0; t < T; t++) x.set(this.x.subarray((s * T + t) * F, (s * T + t + 1) * F), (t * b + i) * F);
      if (this.perStep) for (let t = 0; t < T; t++) y.set(this.y.subarray((s * T + t) * C, (s * T + t + 1) * C), (t * b + i) * C);
      else y.set(this.y.subarray(s * C, (s + 1) * C), i * C);
      if (extras.lengths && this.lengths) extras.lengths[i] = this.lengths[s];
      if (extras.context && this.context) extras.context.set(this.context.subarray(s * S, (s + 1) * S), i * S);
    }
  }
}
