// Generation: picking the next token from a model's logits (greedy, temperature, top-k,
// top-p), and running a token-level Sequential language model free from a seed.
//
// Determinism: the softmax runs in the wasm core (f32_softmax: the same bits in every
// runtime), the cut-offs and the draw use only sorting, float64 additions and one uniform
// number from a seeded Rng — no Math.random, no Math.exp — so a seed gives the same tokens
// in Node, Deno, Bun and browsers.
import { Tensor, UnfoldError, Workspace, engine } from "../engine/index.js";
import { Rng } from "../data/rng.js";
import type { ShapedArray } from "../data/dataset.js";
import type { Embedding } from "../layers/embedding.js";
import type { Sequential } from "./sequential.js";

export interface SamplingOptions {
  /**
   * The logits are divided by this before the softmax: below 1 sharpens the distribution,
   * above 1 flattens it; 0 always picks the most likely token (greedy). Default 1.
   */
  temperature?: number;
  /** Keep only the k most likely tokens (a whole number >= 1). Default: all. */
  topK?: number;
  /**
   * Nucleus sampling: keep the smallest set of most likely tokens whose probabilities add up
   * to at least p, in (0, 1]. Default 1 (all). With topK too, top-k cuts first.
   */
  topP?: number;
}

/** SamplingOptions with every default filled in (topK 0: no cut). */
export interface ResolvedSampling {
  temperature: number;
  topK: number;
  topP: number;
}

/** Validates sampling options, naming the caller in errors. */
export function resolveSampling(who: string, options: SamplingOptions): ResolvedSampling {
  const temperature = options.temperature ?? 1;
  if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature < 0) throw new UnfoldError(`${who}: temperature must be a finite number >= 0, got ${String(temperature)}`);
  const topK = options.topK ?? 0;
  if (options.topK !== undefined && (typeof topK !== "number" || !Number.isInteger(topK) || topK < 1)) throw new UnfoldError(`${who}: topK must be a whole number >= 1, got ${String(options.topK)}`);
  const topP = options.topP ?? 1;
  if (typeof topP !== "number" || !(topP > 0 && topP <= 1)) throw new UnfoldError(`${who}: topP must be a number in (0, 1], got ${String(topP)}`);
  return { temperature, topK, topP };
}

/** Index of the largest value (the first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Picks tokens from rows of logits in wasm memory. Owns a small scratch workspace
 * (`dispose()` frees it); the generator is the caller's.
 */
export class TokenSampler {
  readonly options: ResolvedSampling;
  private readonly ws = new Workspace();

  constructor(readonly vocab: number, options: SamplingOptions, private readonly rng: Rng, who = "sampling") {
    this.options = resolveSampling(who, options);
  }

  /** The token for one row of `vocab` logits at byte address `logits`. */
  pick(logits: number): number {
    const k = engine().k;
    const V = this.vocab;
    const { temperature, topK, topP } = this.options;
    if (temperature === 0) {
      const start = logits / 4;
      return argmax(engine().f32().subarray(start, start + V));
    }
    const scaled = this.ws.get("scaled", [V]);
    const probs = this.ws.get("probs", [V]);
    k.f32_copy(scaled.ptr, logits, V);
    if (temperature !== 1) k.f32_scale(scaled.ptr, 1 / temperature, V);
    k.f32_softmax(probs.ptr, scaled.ptr, 1, V);
    return sampleFromProbabilities(probs.toFloat32Array(), topK, topP, this.rng);
  }

  dispose(): void {
    this.ws.dispose();
  }
}

/**
 * Draws an index from probabilities `p` (summing to about 1), after the top-k and top-p
 * cuts (topK 0 and topP 1: none). The kept tokens are ranked by probability, ties by index,
 * and their probabilities renormalised by their float64 sum.
 */
export function sampleFromProbabilities(p: Float32Array, topK: number, topP: number, rng: Rng): number {
  let order: number[];
  if (topK === 0 && topP >= 1) {
    order = Array.from({ length: p.length }, (_, i) => i);
  } else {
    order = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
    if (topK > 0 && topK < order.length) order.length = topK;
    if (topP < 1) {
      let cum = 0;
      let keep = 0;
      while (keep < order.length) {
        cum += p[order[keep++]];
        if (cum >= topP) break;
      }
      order.length = keep;
    }
  }
  let total = 0;
  for (const i of order) total += p[i];
  const u = rng.next() * total;
  let cum = 0;
  for (const i of order) {
    cum += p[i];
    if (u < cum) return i;
  }
  // Rounding left u at the very top: the last kept token with any probability.
  for (let j = order.length - 1; j >= 0; j--) if (p[order[j]] > 0) return order[j];
  return order[0];
}

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (a whole number >= 1). */
  steps: number;
  /** A token id that ends the text: generation stops when it is drawn (it is not returned). */
  stop?: number;
  /** Seeds the draws. Default 0. */
  seed?: number;
}

/**
 * Runs a language model free: feeds `seedTokens` one at a time with `model.step()`, then
 * repeatedly draws the next token from the model's output (logits over the vocabulary) and
 * feeds it back, until `steps` tokens or the `stop` token. Returns the generated tokens
 * (without the seed). The model must take token ids (start with an Embedding), output one
 * logit per token id, and be causal (no Bidirectional); its stream is reset first and left
 * at the end of the text.
 */
export function generate(model: Sequential, seedTokens: ArrayLike<number>, options: GenerateOptions): number[] {
  const who = "generate";
  if (!options || typeof options !== "object") throw new UnfoldError(`${who} needs options { steps }`);
  for (const key of Object.keys(options)) {
    if (!["steps", "stop", "seed", "temperature", "topK", "topP"].includes(key)) throw new UnfoldError(`${who}: unknown option "${key}" (known: steps, stop, seed, temperature, topK, topP)`);
  }
  if (model.inputDType !== "int32") throw new UnfoldError(`${who}: the model takes feature vectors; a language model starts with an Embedding that takes token ids`);
  const V = (model.layers[0] as Embedding).vocab;
  if (model.outputSize !== V) throw new UnfoldError(`${who}: the model outputs ${model.outputSize} values per step, but its vocabulary has ${V} tokens; end it with Dense({ units: ${V} }) (logits)`);
  const steps = options.steps;
  if (typeof steps !== "number" || !Number.isInteger(steps) || steps < 1) throw new UnfoldError(`${who}: steps must be a whole number >= 1, got ${String(steps)}`);
  const stop = options.stop;
  if (stop !== undefined && (!Number.isInteger(stop) || stop < 0 || stop >= V)) throw new UnfoldError(`${who}: stop must be a token id in [0, ${V - 1}], got ${String(stop)}`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UnfoldError(`${who}: seed must be a whole number, got ${String(seed)}`);
  if (!seedTokens || seedTokens.length < 1) throw new UnfoldError(`${who}: give at least one seed token (e.g. the begin symbol)`);
  for (let i = 0; i < seedTokens.length; i++) {
    const id = seedTokens[i];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new UnfoldError(`${who}: seed token ${i} is ${id}, outside the vocabulary [0, ${V - 1}]`);
  }
  const sampler = new TokenSampler(V, options, new Rng(seed), who);
  const input = new Tensor([1], "int32");
  try {
    model.resetState();
    let logits = 0;
    const feed = (id: number) => {
      input.write([id], true);
      logits = model.step(input).y.ptr;
    };
    for (let i = 0; i < seedTokens.length; i++) feed(seedTokens[i]);
    const out: number[] = [];
    for (let s = 0; s < steps; s++) {
      const id = sampler.pick(logits);
      if (id === stop) break;
      out.push(id);
      if (s < steps - 1) feed(id);
    }
    return out;
  } finally {
    input.dispose();
    sampler.dispose();
  }
}

/**
 * Language-model windows of a token stream: x[n] = ids[o .. o+steps), y[n] = ids[o+1 .. o+steps]
 * (each step's target is the next token) for o = 0, stride, 2·stride, … — batch-major
 * [N, steps] arrays for fit() and evaluate(). `stride` defaults to `steps` (no overlap).
 */
export function textWindows(ids: ArrayLike<number>, steps: number, stride = steps): { x: ShapedArray; y: ShapedArray } {
  if (!Number.isInteger(steps) || steps < 1) throw new UnfoldError(`textWindows: steps must be a whole number >= 1, got ${steps}`);
  if (!Number.isInteger(stride) || stride < 1) throw new UnfoldError(`textWindows: stride must be a whole number >= 1, got ${stride}`);
  if (ids.length < steps + 1) throw new UnfoldError(`textWindows: ${ids.length} tokens make no window of ${steps} steps plus a target (need at least ${steps + 1})`);
  const n = Math.floor((ids.length - steps - 1) / stride) + 1;
  const x = new Int32Array(n * steps);
  const y = new Int32Array(n * steps);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < steps; t++) {
      x[i * steps + t] = ids[i * stride + t];
      y[i * steps + t] = ids[i * stride + t + 1];
    }
  }
  return { x: { data: x, shape: [n, steps] }, y: { data: y, shape: [n, steps] } };
}

/**
 * Perplexity of a language model on held-out tokens: exp of the mean cross-entropy per
 * predicted token, over non-overlapping windows of `steps` tokens (each window starts from a
 * zero state), in inference mode — what fit's "perplexity" metric reports.
 */
export function perplexity(model: Sequential, ids: ArrayLike<number>, options: { steps: number; batchSize?: number }): number {
  const loss = model.loss;
  if (!loss || loss.name !== "softmaxCrossEntropy") throw new UnfoldError("perplexity: the model needs a softmaxCrossEntropy loss");
  if (model.inputDType !== "int32") throw new UnfoldError("perplexity: the model takes feature vectors; a language model starts with an Embedding");
  const T = options.steps;
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UnfoldError(`perplexity: batchSize must be a whole number >= 1, got ${String(options.batchSize)}`);
  const { x, y } = textWindows(ids, T);
  const N = x.shape[0];
  let sum = 0, count = 0;
  for (let start = 0; start < N; start += batchSize) {
    const b = Math.min(batchSize, N - start);
    // Batch-major windows → time-major [T, b].
    const xs = new Int32Array(T * b), ys = new Int32Array(T * b);
    for (let i = 0; i < b; i++) for (let t = 0; t < T; t++) {
      xs[t * b + i] = x.data[(start + i) * T + t];
      ys[t * b + i] = y.data[(start + i) * T + t];
    }
    const xt = Tensor.fromArray(xs, [T, b], "int32"), yt = Tensor.fromArray(ys, [T, b], "int32");
    try {
      model.computeLoss(xt, yt);
    } finally {
      xt.dispose();
      yt.dispose();
    }
    sum += loss.lastSum;
    count += loss.lastCount;
  }
  return Math.exp(sum / Math.max(count, 1));
}
