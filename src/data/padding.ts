// Variable-length batches: padding a list of sequences into one rectangular batch with its
// lengths (which the layers, the loss and fit take as `lengths`).
import { UnfoldError } from "../engine/index.js";

export interface PadOptions {
  /** Steps of the batch. Default: the longest sequence. Longer sequences are truncated. */
  maxLength?: number;
  /** Written into the padded steps. Default 0 (use the Embedding's paddingIndex for tokens). */
  value?: number;
  /**
   * Which end of a too-long sequence is dropped: `"end"` (default) keeps its first
   * `maxLength` steps, `"start"` its last ones. Padding always goes at the end, so a sample's
   * real steps are 0 .. length − 1, as the layers and the loss expect.
   */
  truncate?: "end" | "start";
}

export interface PaddedBatch<D extends Int32Array | Float32Array> {
  /** Batch-major and padded: [N, T] token ids, or [N, T, F] feature vectors. */
  data: D;
  shape: number[];
  /** Real steps of each sequence, [N], each in [1, T]. */
  lengths: Int32Array;
}

/**
 * Pads sequences of different lengths into one batch-major batch, with their lengths.
 * `number[][]` is a list of token-id sequences → Int32Array [N, T] (ids must be whole
 * numbers); `number[][][]` a list of sequences of feature vectors → Float32Array [N, T, F]
 * (every vector the same width). For scalar series, give each step as `[v]`. Empty
 * sequences are refused: a sample needs at least one real step.
 */
export function padSequences(seqs: number[][], options?: PadOptions): PaddedBatch<Int32Array>;
export function padSequences(seqs: number[][][], options?: PadOptions): PaddedBatch<Float32Array>;
export function padSequences(seqs: number[][] | number[][][], options: PadOptions = {}): PaddedBatch<Int32Array | Float32Array> {
  for (const key of Object.keys(options)) {
    if (!["maxLength", "value", "truncate"].includes(key)) throw new UnfoldError(`padSequences: unknown option "${key}" (known: maxLength, value, truncate)`);
  }
  if (!Array.isArray(seqs) || seqs.length === 0) throw new UnfoldError("padSequences needs a non-empty array of sequences");
  seqs.forEach((s, i) => {
    if (!Array.isArray(s)) throw new UnfoldError(`padSequences: sequence ${i} is not an array`);
    if (s.length === 0) throw new UnfoldError(`padSequences: sequence ${i} is empty; every sequence needs at least one step`);
  });
  const first = seqs.find((s) => s.length > 0)![0];
  const vectors = Array.isArray(first);
  const F = vectors ? (first as number[]).length : 1;
  if (vectors && F === 0) throw new UnfoldError("padSequences: feature vectors must hold at least one value");
  const longest = Math.max(...seqs.map((s) => s.length));
  const T = options.maxLength ?? longest;
  if (!Number.isInteger(T) || T < 1) throw new UnfoldError(`padSequences: maxLength must be a whole number >= 1, got ${String(options.maxLength)}`);
  const value = options.value ?? 0;
  const truncate = options.truncate ?? "end";
  if (truncate !== "end" && truncate !== "start") throw new UnfoldError(`padSequences: truncate must be "end" or "start", got ${String(truncate)}`);
  if (!vectors && !Number.isInteger(value)) throw new UnfoldError(`padSequences: token sequences are padded with a whole number, got value ${value}`);
  if (!Number.isFinite(value)) throw new UnfoldError(`padSequences: value must be a finite number, got ${value}`);

  const N = seqs.length;
  const data = vectors ? new Float32Array(N * T * F) : new Int32Array(N * T);
  data.fill(value);
  const lengths = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    const s = seqs[n];
    const L = Math.min(s.length, T);
    const skip = truncate === "start" ? s.length - L : 0;
    lengths[n] = L;
    for (let t = 0; t < L; t++) {
      const step = s[skip + t] as number | number[];
      const where = `sequence ${n}, step ${skip + t}`;
      if (vectors) {
        if (!Array.isArray(step) || step.length !== F) {
          throw new UnfoldError(`padSequences: ${where} should be a vector of ${F} values (like the first step), got ${Array.isArray(step) ? `${step.length} values` : typeof step}`);
        }
        for (let f = 0; f < F; f++) {
          if (typeof step[f] !== "number" || !Number.isFinite(step[f])) throw new UnfoldError(`padSequences: ${where}, value ${f} is ${String(step[f])}; values must be finite numbers`);
          data[(n * T + t) * F + f] = step[f];
        }
      } else {
        if (typeof step !== "number" || !Number.isInteger(step) || step < -2147483648 || step > 2147483647) {
          throw new UnfoldError(`padSequences: ${where} is ${Array.isArray(step) ? "an array" : String(step)}; token ids must be whole numbers (give feature vectors as number[][][])`);
        }
        data[n * T + t] = step;
      }
    }
  }
  return { data, shape: vectors ? [N, T, F] : [N, T], lengths };
}
