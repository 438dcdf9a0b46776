import { Tensor, UnfoldError, engine, formatShape } from "../engine/index.js";
import { glorotUniform, uniform, zeros } from "./init.js";
import { Layer, type RunContext } from "./layer.js";
import { checkChoice, checkKnownOptions, checkLengths } from "./recurrent.js";

/**
 * How a query is scored against each memory step:
 * - `"dot"` (Luong): q · m — needs queries and memory of the same width;
 * - `"general"` (Luong): q · (W m), W [Q, M];
 * - `"additive"` (Bahdanau): v · tanh(W_q q + W_m m + b), with A hidden units.
 */
export type AttentionScore = "dot" | "general" | "additive";
export const ATTENTION_SCORES: readonly AttentionScore[] = ["dot", "general", "additive"];

export interface AttentionOptions {
  /** The score function. */
  score: AttentionScore;
  /** Features of each memory step (an encoder's output width). */
  memorySize: number;
  /** `"additive"` only: hidden units A of the score. Default: the query width. */
  units?: number;
}

/**
 * Attention over a memory (the outputs of an encoder, [S, B, M]): each query step
 * q_t [B, Q] scores every memory step of its own sample, the scores of the steps past the
 * sample's memory length are masked out, a softmax turns them into weights a_t [B, S], and
 * the context is c_t = Σ_s a_t[s]·m_s [B, M]. The layer takes the memory once
 * (`setMemory`, which also projects it to keys) and then any number of query steps at once
 * ([T, B, Q] → [T, B, M]: all of a teacher-forced decoder's steps in one call, or one step of
 * a decoder running free). `weights` holds the attention weights of the last call.
 *
 * Parameters: `general` has `weight` [Q, M]; `additive` has `query_weight` [A, Q],
 * `memory_weight` [A, M], `bias` [A] and `v` [A]; `dot` has none. Backward goes through the
 * last `setMemory` and `forward`: it returns dL/dquery and leaves dL/dmemory (through the
 * weighted sum and through the keys) in `memoryGrad`.
 */
export class Attention extends Layer {
  readonly kind = "attention";
  readonly score: AttentionScore;
  readonly memorySize: number;
  override readonly options: Readonly<AttentionOptions>;
  private unitsOption: number | undefined;
  /** Additive: hidden units of the score (known after build). */
  private hidden = 0;
  private memory: Tensor | null = null;
  private memoryLengths: Tensor | null = null;
  private query: Tensor | null = null;
  private memorySteps = 0;
  private batch = 0;
  private steps = 0;

  constructor(options: AttentionOptions) {
    super();
    if (!options || typeof options !== "object") throw new UnfoldError("Attention needs options { score, memorySize }");
    checkKnownOptions("Attention", options, ["score", "memorySize", "units"]);
    this.score = checkChoice("Attention", "score", options.score, ATTENTION_SCORES);
    const whole = (name: string, v: unknown) => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new UnfoldError(`Attention: ${name} must be a whole number >= 1, got ${String(v)}`);
      return v;
    };
    this.memorySize = whole("memorySize", options.memorySize);
    if (options.units !== undefined && this.score !== "additive") throw new UnfoldError(`Attention: units sets the hidden width of the additive score; the "${this.score}" score has none`);
    this.unitsOption = options.units === undefined ? undefined : whole("units", options.units);
    this.options = this.unitsOption === undefined ? { score: this.score, memorySize: this.memorySize } : { score: this.score, memorySize: this.memorySize, units: this.unitsOption };
  }

  /** Hidden units of the additive score (0 for the others). */
  get units(): number {
    return this.hidden;
  }

  protected declare(querySize: number): number {
    const Q = querySize, M = this.memorySize;
    if (this.score === "dot" && Q !== M) {
      throw new UnfoldError(`Attention: the "dot" score needs queries as wide as the memory, got queries of ${Q} and memory of ${M} features; use score "general" or "additive"`);
    }
    if (this.score === "general") this.param("weight", [Q, M], glorotUniform());
    if (this.score === "additive") {
      const A = (this.hidden = this.unitsOption ?? Q);
      this.param("query_weight", [A, Q], glorotUniform());
      this.param("memory_weight", [A, M], glorotUniform());
      this.param("bias", [A], zeros);
      this.param("v", [A], uniform(1 / Math.sqrt(A)));
    }
    return M;
  }

  /** The attention weights of the last forward, [T, B, S] (owned by the layer). */
  get weights(): Tensor {
    if (!this.query) throw new UnfoldError(`attention layer "${this.label}": no forward has run yet`);
    return this.ws.get("weights", [this.steps, this.batch, this.memorySteps]);
  }

  /** dL/dmemory after backward, [S, B, M] (owned by the layer). */
  get memoryGrad(): Tensor {
    return this.ws.get("dmemory", [this.memorySteps, this.batch, this.memorySize]);
  }

  /**
   * Takes the memory [S, B, M] the next forward calls attend over (kept by reference: the
   * caller keeps it alive and unchanged until backward), with each sample's real steps
   * (`lengths`, B whole numbers in [1, S]; all S when absent), and projects it to keys.
   */
  setMemory(memory: Tensor, lengths?: ArrayLike<number> | null): void {
    const who = `attention layer "${this.label}"`;
    if (memory.dtype !== "float32" || memory.shape.length !== 3 || memory.shape[2] !== this.memorySize) {
      throw new UnfoldError(`${who} expected memory [S, B, ${this.memorySize}], got ${memory.dtype} ${formatShape(memory.shape)}`);
    }
    const [S, B] = memory.shape;
    if (S < 1 || B < 1) throw new UnfoldError(`${who} needs at least one memory step and one sample, got ${formatShape(memory.shape)}`);
    const L = checkLengths(who, lengths ?? undefined, S, B);
    const k = engine().k;
    this.memory = memory;
    this.memorySteps = S;
    this.batch = B;
    this.query = null;
    this.memoryLengths = L && L.some((l) => l < S) ? this.ws.get("lengths", [B], "int32").write(L, true) : null;
    const M = this.memorySize, Q = this.inputSize;
    if (this.score === "general") {
      // keys = m · Wᵀ, [S·B, M] · [Q, M]ᵀ
      const keys = this.ws.get("keys", [S, B, Q]);
      k.f32_gemm_nt(keys.ptr, memory.ptr, this.p("weight"), 0, S * B, Q, M, M, M, Q, 0);
    } else if (this.score === "additive") {
      const A = this.hidden;
      const kproj = this.ws.get("kproj", [S, B, A]);
      k.f32_gemm_nt(kproj.ptr, memory.ptr, this.p("memory_weight"), this.p("bias"), S * B, A, M, M, M, A, 0);
    }
  }

  /** Attends with every query step at once: query [T, B, Q] → context [T, B, M] (owned by the layer). */
  forward(query: Tensor, _ctx?: RunContext): Tensor {
    const who = `attention layer "${this.label}"`;
    const memory = this.memory;
    if (!memory || memory.disposed) throw new UnfoldError(`${who}: call setMemory(memory) before attending (and keep the memory alive)`);
    const S = this.memorySteps, B = this.batch, M = this.memorySize, Q = this.inputSize;
    if (query.dtype !== "float32" || query.shape.length !== 3 || query.shape[1] !== B || query.shape[2] !== Q) {
      throw new UnfoldError(`${who} expected queries [T, ${B}, ${Q}] (the memory has ${B} samples), got ${query.dtype} ${formatShape(query.shape)}`);
    }
    const T = query.shape[0];
    const k = engine().k;
    this.steps = T;
    this.query = query;
    const scores = this.ws.get("scores", [T, B, S]);
    const lengths = this.memoryLengths ? this.memoryLengths.ptr : 0;
    if (this.score === "additive") {
      const A = this.hidden;
      const qproj = this.ws.get("qproj", [T, B, A]);
      k.f32_gemm_nt(qproj.ptr, query.ptr, this.p("query_weight"), 0, T * B, A, Q, Q, Q, A, 0);
      k.f32_attention_scores_additive(scores.ptr, qproj.ptr, this.ws.get("kproj", [S, B, A]).ptr, this.p("v"), lengths, T, S, B, A);
    } else {
      const keys = this.score === "dot" ? memory : this.ws.get("keys", [S, B, Q]);
      k.f32_attention_scores_dot(scores.ptr, query.ptr, keys.ptr, T, S, B, Q);
    }
    const weights = this.ws.get("weights", [T, B, S]);
    k.f32_attention_softmax(weights.ptr, scores.ptr, lengths, T, S, B);
    const context = this.ws.get("context", [T, B, M]);
    k.f32_attention_context(context.ptr, weights.ptr, memory.ptr, T, S, B, M);
    return context;
  }

  /**
   * Back through the last forward from dL/dcontext [T, B, M]: adds the parameter gradients,
   * leaves dL/dmemory in `memoryGrad` and returns dL/dquery [T, B, Q] (owned by the layer).
   */
  backward(dContext: Tensor): Tensor {
    const who = `attention layer "${this.label}"`;
    const query = this.query, memory = this.memory;
    if (!query || !memory) throw new UnfoldError(`${who}: backward called before forward`);
    if (query.disposed || memory.disposed) throw new UnfoldError(`${who}: the query or the memory of the last forward was disposed before backward`);
    const T = this.steps, S = this.memorySteps, B = this.batch, M = this.memorySize, Q = this.inputSize;
    if (dContext.shape.length !== 3 || dContext.shape[0] !== T || dContext.shape[1] !== B || dContext.shape[2] !== M) {
      throw new UnfoldError(`${who} expected context gradient ${formatShape([T, B, M])}, got ${formatShape(dContext.shape)}`);
    }
    const k = engine().k;
    const lengths = this.memoryLengths ? this.memoryLengths.ptr : 0;
    const weights = this.ws.get("weights", [T, B, S]);
    const dweights = this.ws.get("dweights", [T, B, S]);
    const dscores = this.ws.get("dscores", [T, B, S]);
    const dmemory = this.ws.zeros("dmemory", [S, B, M]);
    const dquery = this.ws.get("dquery", [T, B, Q]);
    // (1) context = weights · memory: dweights, and dmemory through the weighted sum.
    k.f32_attention_context_backward(dweights.ptr, dmemory.ptr, dContext.ptr, weights.ptr, memory.ptr, T, S, B, M);
    // (2) the softmax over the real steps (masked weights are 0, so their scores get 0).
    k.f32_attention_softmax_backward(dscores.ptr, dweights.ptr, weights.ptr, T * B, S);
    // (3) the scores.
    if (this.score === "additive") {
      const A = this.hidden;
      const qproj = this.ws.get("qproj", [T, B, A]);
      const kproj = this.ws.get("kproj", [S, B, A]);
      const dqproj = this.ws.zeros("dqproj", [T, B, A]);
      const dkproj = this.ws.zeros("dkproj", [S, B, A]);
      k.f32_attention_scores_additive_backward(dqproj.ptr, dkproj.ptr, this.g("v"), dscores.ptr, qproj.ptr, kproj.ptr, this.p("v"), lengths, T, S, B, A);
      // qproj = q·W_qᵀ: dq = dqproj·W_q, dW_q += dqprojᵀ·q; kproj = m·W_mᵀ + b likewise.
      k.f32_gemm_nn(dquery.ptr, dqproj.ptr, this.p("query_weight"), 0, T * B, Q, A, A, Q, Q, 0);
      k.f32_gemm_tn(this.g("query_weight"), dqproj.ptr, query.ptr, 0, A, Q, T * B, A, Q, Q, 1);
      k.f32_gemm_nn(dmemory.ptr, dkproj.ptr, this.p("memory_weight"), 0, S * B, M, A, A, M, M, 1);
      k.f32_gemm_tn(this.g("memory_weight"), dkproj.ptr, memory.ptr, 0, A, M, S * B, A, M, M, 1);
      k.f32_sum_rows(this.g("bias"), dkproj.ptr, S * B, A, 1);
    } else if (this.score === "dot") {
      dquery.fill(0);
      k.f32_attention_scores_dot_backward(dquery.ptr, dmemory.ptr, dscores.ptr, query.ptr, memory.ptr, T, S, B, Q);
    } else {
      // keys = m·Wᵀ: dmemory += dkeys·W, dW += dkeysᵀ·m.
      const keys = this.ws.get("keys", [S, B, Q]);
      const dkeys = this.ws.zeros("dkeys", [S, B, Q]);
      dquery.fill(0);
      k.f32_attention_scores_dot_backward(dquery.ptr, dkeys.ptr, dscores.ptr, query.ptr, keys.ptr, T, S, B, Q);
      k.f32_gemm_nn(dmemory.ptr, dkeys.ptr, this.p("weight"), 0, S * B, M, Q, Q, M, M, 1);
      k.f32_gemm_tn(this.g("weight"), dkeys.ptr, memory.ptr, 0, Q, M, S * B, Q, M, M, 1);
    }
    return dquery;
  }
}
