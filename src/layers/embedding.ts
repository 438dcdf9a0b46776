import { Tensor, UnfoldError, engine, formatShape } from "../engine/index.js";
import { Layer, type Initializer, type RunContext } from "./layer.js";
import { checkKnownOptions } from "./recurrent.js";

export interface EmbeddingOptions {
  /** Number of token ids: ids are whole numbers in [0, vocab). */
  vocab: number;
  /** Width of each vector. */
  dim: number;
  /**
   * A token id whose row starts at zero and never receives a gradient, so it stays zero
   * (nn.Embedding's padding_idx); negative values count from the end (−1 is vocab − 1).
   * Default: none.
   */
  paddingIndex?: number;
  /**
   * Row-sparse updates (nn.Embedding's `sparse=True` with torch.optim.SparseAdam or a sparse
   * Adagrad): a training step zeroes, clips and updates only the rows of the ids the batch
   * used, so its cost does not grow with the vocabulary. Rows no id touched keep their values
   * and their optimizer state: for SGD without momentum or weight decay that is exactly the
   * dense update; for Adam, RMSprop, momentum and weight decay it is the "lazy" form (the
   * other rows' moments do not decay meanwhile). Default false: every row takes part in every
   * update, as nn.Embedding does by default.
   */
  sparse?: boolean;
}

/**
 * Throws unless every id is a whole number in [0, vocab); `where(i)` names position i in the
 * caller's terms (`[t, b]` of a batch, `[n, t]` of a dataset).
 */
export function checkTokenIds(ids: ArrayLike<number>, vocab: number, what: string, where: (i: number) => string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new UnfoldError(`${what}: token id ${id} at ${where(i)} is outside the vocabulary [0, ${vocab - 1}]`);
    }
  }
}

/**
 * Token ids → vectors: int32 ids of any shape (a time-major batch [T, B], or [B] for one
 * step) give float32 [...ids.shape, dim]. PyTorch's nn.Embedding: parameter `weight`
 * [vocab, dim], initialised N(0, 1), with an optional padding row held at zero. Forward is a
 * row gather; backward a sparse scatter-add that touches only the rows of the ids seen (with
 * `sparse: true`, the optimizer then updates only those rows too).
 * Token ids have no gradient: backward returns an empty [...ids.shape, 0] tensor.
 */
export class Embedding extends Layer {
  readonly kind = "embedding";
  /** What the layer takes: token ids, not feature vectors. */
  override readonly inputDType = "int32" as const;
  readonly vocab: number;
  readonly dim: number;
  /** The padding row, in [0, vocab), or −1 for none. */
  readonly paddingIndex: number;
  /** Whether updates touch only the rows of the ids seen (see EmbeddingOptions.sparse). */
  readonly sparse: boolean;
  /** Sparse: the ids of the last forward, as checked there; backward marks their rows. */
  private seen: Int32Array | null = null;
  override readonly options: Readonly<EmbeddingOptions>;

  constructor(options: EmbeddingOptions) {
    super();
    if (!options || typeof options !== "object") throw new UnfoldError("Embedding needs options { vocab, dim }");
    checkKnownOptions("Embedding", options, ["vocab", "dim", "paddingIndex", "sparse"]);
    const whole = (name: string, v: unknown) => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new UnfoldError(`Embedding: ${name} must be a whole number >= 1, got ${String(v)}`);
      return v;
    };
    this.vocab = whole("vocab", options.vocab);
    this.dim = whole("dim", options.dim);
    const p = options.paddingIndex;
    if (p === undefined) this.paddingIndex = -1;
    else if (typeof p !== "number" || !Number.isInteger(p) || p < -this.vocab || p >= this.vocab) {
      throw new UnfoldError(`Embedding: paddingIndex must be a whole number in [${-this.vocab}, ${this.vocab - 1}], got ${String(p)}`);
    } else this.paddingIndex = p < 0 ? this.vocab + p : p;
    const sparse = options.sparse ?? false;
    if (typeof sparse !== "boolean") throw new UnfoldError(`Embedding: sparse must be true or false, got ${String(sparse)}`);
    this.sparse = sparse;
    this.options = {
      vocab: this.vocab,
      dim: this.dim,
      ...(this.paddingIndex >= 0 ? { paddingIndex: this.paddingIndex } : {}),
      ...(sparse ? { sparse } : {}),
    };
  }

  protected declare(_inputSize: number): number {
    const pad = this.paddingIndex;
    const dim = this.dim;
    const normal: Initializer = (shape, rng) => {
      const w = new Float32Array(shape[0] * shape[1]);
      for (let i = 0; i < w.length; i++) w[i] = rng.normal();
      if (pad >= 0) w.fill(0, pad * dim, (pad + 1) * dim);
      return w;
    };
    this.param("weight", [this.vocab, this.dim], normal, { sparse: this.sparse });
    return this.dim;
  }

  forward(ids: Tensor, _ctx: RunContext): Tensor {
    const who = `embedding layer "${this.label}"`;
    if (ids.dtype !== "int32") throw new UnfoldError(`${who} takes int32 token ids, got ${ids.dtype} ${formatShape(ids.shape)}`);
    if (ids.shape.length < 1) throw new UnfoldError(`${who} expected token ids [T, B], got a scalar`);
    const cols = ids.shape[ids.shape.length - 1];
    const pos = (i: number) => (ids.shape.length === 2 ? `[${Math.floor(i / cols)}, ${i % cols}]` : `index ${i}`);
    const seen = ids.toTypedArray() as Int32Array;
    checkTokenIds(seen, this.vocab, who, pos);
    this.seen = this.sparse ? seen : null;
    const y = this.ws.get("y", [...ids.shape, this.dim]);
    engine().k.f32_embedding_forward(y.ptr, ids.ptr, this.p("weight"), ids.size, this.dim, this.vocab);
    this.remember(ids);
    return y;
  }

  backward(dy: Tensor): Tensor {
    const ids = this.recalled();
    if (dy.size !== ids.size * this.dim || dy.shape[dy.shape.length - 1] !== this.dim) {
      throw new UnfoldError(`embedding layer "${this.label}" expected output gradient ${formatShape([...ids.shape, this.dim])}, got ${formatShape(dy.shape)}`);
    }
    engine().k.f32_embedding_backward(this.g("weight"), dy.ptr, ids.ptr, ids.size, this.dim, this.vocab, this.paddingIndex);
    if (this.seen) {
      // The rows the scatter-add reached: every id but the padding row (which gets no gradient).
      const pad = this.paddingIndex;
      this.params.touchRows(this.paramName("weight"), pad < 0 ? this.seen : this.seen.filter((id) => id !== pad));
    }
    return this.ws.get("dx", [...ids.shape, 0]);
  }
}
