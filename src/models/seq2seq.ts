// Encoder-decoder sequence-to-sequence models (Sutskever et al. 2014; Cho et al. 2014), with
// attention over the encoder's outputs (Bahdanau et al. 2015; Luong et al. 2015), built from
// the library's layers: Embeddings, any recurrent layer as encoder (deep, bidirectional),
// a causal recurrent layer as decoder, Dense bridges, the Attention layer, Dense heads.
// Training is teacher-forced (optionally with scheduled sampling); decoding is greedy, beam
// search or sampling.
import { ParamStore, Tensor, UnfoldError, Workspace, engine, formatShape } from "../engine/index.js";
import { Rng } from "../data/rng.js";
import { readSafetensors, writeSafetensors, type SafeTensor } from "../io/safetensors.js";
import { ATTENTION_SCORES, Attention, type AttentionScore } from "../layers/attention.js";
import { Dense } from "../layers/dense.js";
import { Embedding } from "../layers/embedding.js";
import type { Layer, RunContext } from "../layers/layer.js";
import { Loss } from "../layers/losses.js";
import { RecurrentLayer, checkChoice, checkKnownOptions, type LayerConfig } from "../layers/recurrent.js";
import { layerFromConfig } from "../layers/registry.js";
import type { Optimizer } from "../train/optimizers.js";
import { TokenSampler, argmax, type SamplingOptions } from "./generate.js";

/**
 * How the context C (the encoder's final state, through the bridge) conditions the decoder:
 * `"initialState"` (default) starts the decoder's states from it; `"input"` concatenates the
 * encoder's merged top-level final state to the decoder's input at every step; `"both"`;
 * `"none"` (only with attention: the decoder starts from zeros and reads the source through
 * attention alone).
 */
export type ConditionMode = "initialState" | "input" | "both" | "none";
const CONDITION_MODES: readonly ConditionMode[] = ["initialState", "input", "both", "none"];

/**
 * How an encoder state becomes a decoder state: `"auto"` (default) copies it when the widths
 * match and learns a projection tanh(W s + b) when they differ; `"dense"` always learns one.
 */
export type BridgeMode = "auto" | "dense";
const BRIDGE_MODES: readonly BridgeMode[] = ["auto", "dense"];

export interface Seq2SeqAttentionOptions {
  /** The score: "dot" and "general" (Luong), "additive" (Bahdanau). */
  score: AttentionScore;
  /** `"additive"` only: hidden units of the score. Default: the decoder's width. */
  units?: number;
  /** Width of the attentional vector h̃_t = tanh(W_c [c_t; h_t]) the output layer reads. Default: the decoder's width. */
  outputUnits?: number;
}

export interface Seq2SeqOptions {
  /** Source token ids are whole numbers in [0, sourceVocab). */
  sourceVocab: number;
  /** Target token ids are whole numbers in [0, targetVocab); the output layer has this many logits. */
  targetVocab: number;
  /** Width of the source embedding (and of the target embedding unless `targetEmbedding` is given). */
  embedding: number;
  /** Width of the target embedding. Default `embedding`. */
  targetEmbedding?: number;
  /** Reads the source: any recurrent layer (LSTM, GRU, Elman, Jordan, deep, Bidirectional). */
  encoder: RecurrentLayer;
  /** Writes the target: a causal recurrent layer that returns sequences (deep allowed). */
  decoder: RecurrentLayer;
  /** Target id the decoder starts from (the begin symbol). */
  bos: number;
  /** Target id that ends a target (the end symbol): appended to every training target, and where decoding stops. */
  eos: number;
  /** How the encoder's final state conditions the decoder. Default "initialState". */
  context?: ConditionMode;
  /** How encoder states become decoder states. Default "auto". */
  bridge?: BridgeMode;
  /** Attention over the encoder's outputs. Default none. */
  attention?: Seq2SeqAttentionOptions;
  /** Feed each source backwards (Sutskever et al. 2014). Attention weights are still reported in the source's own order. Default false. */
  reverseSource?: boolean;
  /** Loss reduction (see Loss): "sumOverTime" (default) or "mean" over target tokens. */
  reduction?: "sumOverTime" | "mean";
  /**
   * Both embeddings update only the rows of the tokens a batch used (Embedding's `sparse`):
   * for large vocabularies. Default false.
   */
  sparseEmbeddings?: boolean;
  /** Seeds initialisation, and in training shuffling, dropout and scheduled sampling. Default 0. */
  seed?: number;
}

/** Pairs of token-id sequences: source[i] is mapped to target[i]. Targets hold no begin or end symbol (the model adds them). */
export interface Seq2SeqData {
  source: readonly ArrayLike<number>[];
  target: readonly ArrayLike<number>[];
}

/** A decoded sequence. */
export interface Hypothesis {
  /** The tokens, without the begin and end symbols. */
  tokens: number[];
  /** Σ log p of the tokens, and of the end symbol when `finished`. */
  logProb: number;
  /** What the hypotheses are ranked by: logProb / length^α in beam search; logProb otherwise. */
  score: number;
  /** True when the decoder produced the end symbol; false when it hit maxLength first. */
  finished: boolean;
  /**
   * With `attention: true`: for every decoding step (the tokens, then the end symbol), the
   * attention weights over the source's tokens, in the source's own order (a heat-map row).
   */
  attention?: Float32Array[];
}

export interface DecodeOptions {
  /** Most tokens to produce (the end symbol not counted). Default 2·(source length) + 10. */
  maxLength?: number;
  /** Return each step's attention weights (needs a model with attention). Default false. */
  attention?: boolean;
}

export interface BeamSearchOptions extends DecodeOptions {
  /** Hypotheses kept at every step. Default 4. */
  width?: number;
  /** How many of the best hypotheses to return, at most `width`. Default 1. */
  nBest?: number;
  /**
   * Length normalisation α: hypotheses are ranked by logProb / length^α (length counting the
   * end symbol). 0 ranks by plain log-probability, which favours short outputs; 1 by the mean
   * log-probability per token. Default 1.
   */
  lengthNormalization?: number;
}

export interface SampleOptions extends DecodeOptions, SamplingOptions {
  /** Seeds the draws. Default 0. */
  seed?: number;
}

/** The JSON-able description of a Seq2Seq's architecture (what `save` stores, what `fromConfig` builds). */
export interface Seq2SeqConfig {
  sourceVocab: number;
  targetVocab: number;
  embedding: number;
  targetEmbedding: number;
  encoder: LayerConfig;
  decoder: LayerConfig;
  bos: number;
  eos: number;
  context: ConditionMode;
  bridge: BridgeMode;
  attention: Seq2SeqAttentionOptions | null;
  reverseSource: boolean;
  reduction: "sumOverTime" | "mean";
  /** Present (true) only when the embeddings are sparse. */
  sparseEmbeddings?: true;
}

/** Where a decoder state (or the input context) comes from: encoder final states, concatenated (forward, then reverse direction). */
interface StateSource {
  parts: number[];
  width: number;
}

/** A batch, time-major, in the model's workspace. */
interface Prepared {
  batch: number;
  sourceSteps: number;
  /** [S, B] int32 (each sample's real tokens reversed when reverseSource). */
  source: Tensor;
  sourceLengths: Int32Array;
  targetSteps: number;
  /** [T, B] int32: bos, y_0, …, y_{n−1}, then padding. */
  decoderInput: Tensor | null;
  /** The same, in JavaScript memory (scheduled sampling rewrites it). */
  inputs: Int32Array | null;
  /** [T, B] int32: y_0, …, y_{n−1}, eos, then padding. */
  target: Tensor | null;
  targetLengths: Int32Array | null;
  /** [T·B] float32: 1 on real target steps. */
  mask: Tensor | null;
}

const KNOWN = ["sourceVocab", "targetVocab", "embedding", "targetEmbedding", "encoder", "decoder", "bos", "eos", "context", "bridge", "attention", "reverseSource", "reduction", "sparseEmbeddings", "seed"];
const FORMAT = "unfold-seq2seq";
const VERSION = 1;

function wholeNumber(who: string, name: string, v: unknown, min = 1): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new UnfoldError(`${who}: ${name} must be a whole number >= ${min}, got ${String(v)}`);
  return v;
}

/** A state name's parts: `h_l1_reverse` → kind h, level 1, reverse. */
function parseStateName(who: string, name: string): { kind: string; level: number; reverse: boolean } {
  const m = /^([^_]+)(?:_l(\d+))?(_reverse)?$/.exec(name);
  if (!m) throw new UnfoldError(`${who}: cannot map state "${name}" between encoder and decoder`);
  return { kind: m[1], level: Number(m[2] ?? 0), reverse: m[3] !== undefined };
}

/**
 * The encoder states that feed a decoder state of `kind` at decoder level `level` (of
 * `decoderLevels`): the encoder level aligned from the top (the decoder's top level reads the
 * encoder's top level), the same kind of state if the encoder has it (else its level's first
 * kind), both directions concatenated.
 */
function encoderSource(who: string, encoder: RecurrentLayer, kind: string | null, level: number, decoderLevels: number): StateSource {
  const parsed = encoder.stateNames.map((n) => parseStateName(who, n));
  const levels = 1 + Math.max(...parsed.map((p) => p.level));
  const at = Math.min(Math.max(levels - decoderLevels + level, 0), levels - 1);
  const here = parsed.map((p, i) => ({ ...p, i })).filter((p) => p.level === at);
  const want = kind !== null && here.some((p) => p.kind === kind) ? kind : here[0].kind;
  const parts = [...here.filter((p) => p.kind === want && !p.reverse), ...here.filter((p) => p.kind === want && p.reverse)].map((p) => p.i);
  return { parts, width: parts.reduce((s, i) => s + encoder.stateSizes[i], 0) };
}

/** A recurrent layer from its config (the layer registry's `layerFromConfig`, checked to be recurrent). */
function recurrentFromConfig(config: LayerConfig, where: string): RecurrentLayer {
  const layer = layerFromConfig(config, where);
  if (!(layer instanceof RecurrentLayer)) throw new UnfoldError(`${where}: expected a recurrent layer, got ${layer.kind}`);
  return layer;
}

/**
 * An encoder-decoder model. The encoder reads the embedded source (with per-sample lengths)
 * and its final state becomes the context C: each decoder state starts from the encoder state
 * of the same kind and level (the top levels aligned; a bidirectional encoder's two
 * directions concatenated), copied when the widths match and through a learned tanh
 * projection (`bridge_<state>.weight`, `.bias`) when they differ — and/or C is joined to the decoder's input
 * at every step. The decoder reads the embedded target shifted right (bos first); with
 * attention, every decoder output h_t attends over the encoder's outputs (masked by the
 * source lengths) and the output layer reads h̃_t = tanh(W_c [c_t; h_t]) (Luong et al. 2015),
 * else h_t itself. Logits over the target vocabulary; softmax cross-entropy masked past each
 * target's end symbol.
 *
 * All parameters live in one ParamStore (values and gradients), initialised from the seed
 * in the order source_embedding, encoder, bridge, target_embedding, decoder, attention,
 * attention_output, output. The model owns its layers, loss and scratch; `dispose()` frees them.
 */
export class Seq2Seq {
  readonly params: ParamStore;
  readonly rng: Rng;
  readonly encoder: RecurrentLayer;
  readonly decoder: RecurrentLayer;
  readonly attention: Attention | null;
  readonly loss: Loss;
  readonly config: Readonly<Seq2SeqConfig>;
  readonly sourceVocab: number;
  readonly targetVocab: number;
  readonly bos: number;
  readonly eos: number;
  private readonly sourceEmbedding: Embedding;
  private readonly targetEmbedding: Embedding;
  private readonly attentionOutput: Dense | null;
  private readonly output: Dense;
  /** Per decoder state: its encoder source, and its projection (null: copied). Empty unless the context sets the initial state. */
  private readonly stateSources: StateSource[] = [];
  private readonly bridges: (Dense | null)[] = [];
  /** The encoder states joined to the decoder input (null unless the context goes to the input). */
  private readonly inputSource: StateSource | null;
  private readonly targetDim: number;
  private readonly ws = new Workspace();
  private disposed = false;
  private encoderOutput: Tensor | null = null;
  /** The context joined to the decoder's input in the current forward (or decode), [B, W_c]. */
  private inputContext: Tensor | null = null;

  constructor(options: Seq2SeqOptions) {
    const who = "Seq2Seq";
    if (!options || typeof options !== "object") throw new UnfoldError(`${who} needs options { sourceVocab, targetVocab, embedding, encoder, decoder, bos, eos }`);
    checkKnownOptions(who, options, KNOWN);
    const sourceVocab = wholeNumber(who, "sourceVocab", options.sourceVocab);
    const targetVocab = wholeNumber(who, "targetVocab", options.targetVocab);
    const embedding = wholeNumber(who, "embedding", options.embedding);
    const targetDim = wholeNumber(who, "targetEmbedding", options.targetEmbedding ?? embedding);
    const bos = wholeNumber(who, "bos", options.bos, 0);
    const eos = wholeNumber(who, "eos", options.eos, 0);
    if (bos >= targetVocab || eos >= targetVocab) throw new UnfoldError(`${who}: bos (${bos}) and eos (${eos}) must be target ids in [0, ${targetVocab - 1}]`);
    const { encoder, decoder } = options;
    if (!(encoder instanceof RecurrentLayer)) throw new UnfoldError(`${who}: encoder must be a recurrent layer (LSTM, GRU, Elman, Jordan, Stack, Bidirectional)`);
    if (!(decoder instanceof RecurrentLayer)) throw new UnfoldError(`${who}: decoder must be a recurrent layer (LSTM, GRU, Elman, Jordan, Stack)`);
    if (encoder === decoder) throw new UnfoldError(`${who}: the encoder and the decoder must be two different layers`);
    if (!decoder.causal) throw new UnfoldError(`${who}: the decoder must be causal (it writes the target one step at a time); a ${decoder.kind} layer reads the sequence backwards`);
    if (!decoder.returnSequences) throw new UnfoldError(`${who}: the decoder must return sequences (returnSequences: true), one output per target step`);
    const context = checkChoice(who, "context", options.context ?? "initialState", CONDITION_MODES);
    const bridge = checkChoice(who, "bridge", options.bridge ?? "auto", BRIDGE_MODES);
    const reverseSource = options.reverseSource ?? false;
    if (typeof reverseSource !== "boolean") throw new UnfoldError(`${who}: reverseSource must be true or false, got ${String(reverseSource)}`);
    const sparse = options.sparseEmbeddings ?? false;
    if (typeof sparse !== "boolean") throw new UnfoldError(`${who}: sparseEmbeddings must be true or false, got ${String(sparse)}`);
    const reduction = options.reduction ?? "sumOverTime";
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new UnfoldError(`${who}: seed must be a whole number, got ${String(seed)}`);
    let attention: Seq2SeqAttentionOptions | null = null;
    if (options.attention !== undefined) {
      const a = options.attention;
      if (!a || typeof a !== "object") throw new UnfoldError(`${who}: attention must be { score: ${ATTENTION_SCORES.map((s) => `"${s}"`).join(" | ")}, units?, outputUnits? }`);
      checkKnownOptions(`${who} attention`, a, ["score", "units", "outputUnits"]);
      attention = { score: checkChoice(`${who} attention`, "score", a.score, ATTENTION_SCORES) };
      if (a.units !== undefined) attention.units = wholeNumber(`${who} attention`, "units", a.units);
      if (a.outputUnits !== undefined) attention.outputUnits = wholeNumber(`${who} attention`, "outputUnits", a.outputUnits);
      if (!encoder.returnSequences) throw new UnfoldError(`${who}: attention reads every encoder output, so the encoder must return sequences (returnSequences: true)`);
    }
    if (context === "none" && !attention) throw new UnfoldError(`${who}: with context "none" and no attention the decoder would never see the source`);

    this.sourceVocab = sourceVocab;
    this.targetVocab = targetVocab;
    this.bos = bos;
    this.eos = eos;
    this.targetDim = targetDim;
    this.encoder = encoder;
    this.decoder = decoder;
    this.rng = new Rng(seed);
    this.loss = new Loss("softmaxCrossEntropy", { reduction });
    this.config = Object.freeze({
      sourceVocab, targetVocab, embedding, targetEmbedding: targetDim, encoder: encoder.config, decoder: decoder.config,
      bos, eos, context, bridge, attention, reverseSource, reduction, ...(sparse ? { sparseEmbeddings: true as const } : {}),
    });

    // Build every part, in the order of initialisation.
    this.sourceEmbedding = new Embedding({ vocab: sourceVocab, dim: embedding, sparse });
    this.sourceEmbedding.build(sourceVocab, "source_embedding");
    const encoderWidth = encoder.build(embedding, "encoder");
    const feedsState = context === "initialState" || context === "both";
    const feedsInput = context === "input" || context === "both";
    this.inputSource = feedsInput ? encoderSource(who, encoder, null, 0, 1) : null;
    // The decoder's states are known from its options before it is built.
    const decoderStates = decoder.stateNames.map((n) => parseStateName(who, n));
    if (decoderStates.some((s) => s.reverse)) throw new UnfoldError(`${who}: the decoder must run forwards only`);
    const decoderLevels = 1 + Math.max(...decoderStates.map((s) => s.level));
    const bridgeLayers: Dense[] = [];
    if (feedsState) {
      decoderStates.forEach((s, j) => {
        const src = encoderSource(who, encoder, s.kind, s.level, decoderLevels);
        const width = decoder.stateSizes[j];
        this.stateSources.push(src);
        if (bridge === "auto" && src.width === width) {
          this.bridges.push(null);
        } else {
          const d = new Dense({ units: width, activation: "tanh" });
          d.build(src.width, `bridge_${decoder.stateNames[j]}`);
          this.bridges.push(d);
          bridgeLayers.push(d);
        }
      });
    }
    this.targetEmbedding = new Embedding({ vocab: targetVocab, dim: targetDim, sparse });
    this.targetEmbedding.build(targetVocab, "target_embedding");
    const decoderWidth = decoder.build(targetDim + (this.inputSource?.width ?? 0), "decoder");
    let headWidth = decoderWidth;
    if (attention) {
      this.attention = new Attention({ score: attention.score, memorySize: encoderWidth, ...(attention.units !== undefined ? { units: attention.units } : {}) });
      this.attention.build(decoderWidth, "attention");
      this.attentionOutput = new Dense({ units: attention.outputUnits ?? decoderWidth, activation: "tanh" });
      headWidth = this.attentionOutput.build(encoderWidth + decoderWidth, "attention_output");
    } else {
      this.attention = null;
      this.attentionOutput = null;
    }
    this.output = new Dense({ units: targetVocab });
    this.output.build(headWidth, "output");

    const owned: Layer[] = [this.sourceEmbedding, encoder, ...bridgeLayers, this.targetEmbedding, decoder, ...(this.attention ? [this.attention, this.attentionOutput!] : []), this.output];
    const specs = owned.flatMap((l) => l.paramSpecs);
    this.params = new ParamStore(specs);
    for (const spec of specs) this.params.write(spec.name, spec.init(spec.shape, this.rng));
    for (const layer of owned) layer.bind(this.params);
  }

  /** A model from a config (`model.config`, or what `save` stored), with fresh weights from `seed`. */
  static fromConfig(config: Seq2SeqConfig, seed = 0): Seq2Seq {
    const { encoder, decoder, attention, ...rest } = config;
    return new Seq2Seq({
      ...rest, seed, encoder: recurrentFromConfig(encoder, "Seq2Seq encoder"), decoder: recurrentFromConfig(decoder, "Seq2Seq decoder"),
      ...(attention ? { attention } : {}),
    });
  }

  private runContext(training: boolean): RunContext {
    return { training, rng: this.rng };
  }

  private checkAlive(): void {
    if (this.disposed) throw new UnfoldError("this model was disposed and can no longer be used");
  }

  // ---------------------------------------------------------------------------------------
  // Batches

  /** Checks sources (and targets) and writes them time-major into the workspace. */
  private prepare(who: string, sources: readonly ArrayLike<number>[], targets: readonly ArrayLike<number>[] | null): Prepared {
    if (!Array.isArray(sources) || sources.length === 0) throw new UnfoldError(`${who}: give at least one source sequence (an array of token-id arrays)`);
    if (targets && (!Array.isArray(targets) || targets.length !== sources.length)) {
      throw new UnfoldError(`${who}: ${sources.length} sources need ${sources.length} targets, got ${Array.isArray(targets) ? targets.length : typeof targets}`);
    }
    const B = sources.length;
    const sourceLengths = new Int32Array(B);
    sources.forEach((s, b) => {
      if (!s || typeof s.length !== "number") throw new UnfoldError(`${who}: source ${b} is not an array of token ids`);
      if (s.length === 0) throw new UnfoldError(`${who}: source ${b} is empty; every source needs at least one token`);
      for (let i = 0; i < s.length; i++) {
        if (!Number.isInteger(s[i]) || s[i] < 0 || s[i] >= this.sourceVocab) throw new UnfoldError(`${who}: source ${b}, token ${i} is ${s[i]}, outside the source vocabulary [0, ${this.sourceVocab - 1}]`);
      }
      sourceLengths[b] = s.length;
    });
    const S = Math.max(...sourceLengths);
    const src = new Int32Array(S * B);
    sources.forEach((s, b) => {
      const L = s.length;
      for (let i = 0; i < L; i++) src[i * B + b] = this.config.reverseSource ? s[L - 1 - i] : s[i];
    });
    const prepared: Prepared = {
      batch: B, sourceSteps: S, sourceLengths, source: this.ws.get("source", [S, B], "int32").write(src, true),
      targetSteps: 0, decoderInput: null, inputs: null, target: null, targetLengths: null, mask: null,
    };
    if (!targets) return prepared;
    const targetLengths = new Int32Array(B);
    targets.forEach((t, b) => {
      if (!t || typeof t.length !== "number") throw new UnfoldError(`${who}: target ${b} is not an array of token ids`);
      for (let i = 0; i < t.length; i++) {
        if (!Number.isInteger(t[i]) || t[i] < 0 || t[i] >= this.targetVocab) throw new UnfoldError(`${who}: target ${b}, token ${i} is ${t[i]}, outside the target vocabulary [0, ${this.targetVocab - 1}]`);
      }
      targetLengths[b] = t.length + 1;
    });
    const T = Math.max(...targetLengths);
    const inputs = new Int32Array(T * B).fill(this.eos);
    const gold = new Int32Array(T * B).fill(this.eos);
    const mask = new Float32Array(T * B);
    targets.forEach((t, b) => {
      inputs[b] = this.bos;
      for (let i = 0; i < t.length; i++) {
        inputs[(i + 1) * B + b] = t[i];
        gold[i * B + b] = t[i];
      }
      for (let i = 0; i < targetLengths[b]; i++) mask[i * B + b] = 1;
    });
    prepared.targetSteps = T;
    prepared.targetLengths = targetLengths;
    prepared.inputs = inputs;
    prepared.decoderInput = this.ws.get("decoderInput", [T, B], "int32").write(inputs, true);
    prepared.target = this.ws.get("target", [T, B], "int32").write(gold, true);
    prepared.mask = this.ws.get("mask", [T * B]).write(mask, true);
    return prepared;
  }

  // ---------------------------------------------------------------------------------------
  // Forward

  /** The encoder over the batch's sources; hands its outputs to attention as memory. */
  private encode(p: Prepared, training: boolean): void {
    const ctx = this.runContext(training);
    const x = this.sourceEmbedding.forward(p.source, ctx);
    this.encoderOutput = this.encoder.forward(x, ctx, undefined, p.sourceLengths);
    if (this.attention) this.attention.setMemory(this.encoderOutput, p.sourceLengths);
    this.inputContext = this.inputSource ? this.merged(this.inputSource, "inputContext") : null;
  }

  /** The encoder final states of `src`, side by side ([B, width]); the state itself when there is one part. */
  private merged(src: StateSource, name: string): Tensor {
    const final = this.encoder.finalState;
    if (src.parts.length === 1) return final[src.parts[0]];
    const B = final[0].shape[0];
    const out = this.ws.get(name, [B, src.width]);
    let col = 0;
    for (const i of src.parts) {
      const w = this.encoder.stateSizes[i];
      engine().k.f32_copy_cols(out.ptr + col * 4, src.width, final[i].ptr, w, B, w, 0);
      col += w;
    }
    return out;
  }

  /** The decoder's initial states from the encoder's final states (through the bridges), or undefined (zeros). */
  private initialStates(training: boolean): Tensor[] | undefined {
    if (!this.stateSources.length) return undefined;
    const ctx = this.runContext(training);
    return this.stateSources.map((src, j) => {
      const m = this.merged(src, `bridgeInput${j}`);
      const bridge = this.bridges[j];
      return bridge ? bridge.forward(m, ctx) : m;
    });
  }

  /** x [T, B, E] with the input context joined to every step: [T, B, E + W_c] (x itself without one). */
  private joinContext(x: Tensor, name: string): Tensor {
    const c = this.inputContext;
    if (!c) return x;
    const [T, B, E] = x.shape;
    const C = c.shape[1];
    const k = engine().k;
    const y = this.ws.get(name, [T, B, E + C]);
    k.f32_copy_cols(y.ptr, E + C, x.ptr, E, T * B, E, 0);
    for (let t = 0; t < T; t++) k.f32_copy_cols(y.ptr + (t * B * (E + C) + E) * 4, E + C, c.ptr, C, B, C, 0);
    return y;
  }

  /** Decoder outputs h [T, B, H] → logits [T, B, V], through attention when the model has it. */
  private head(h: Tensor, ctx: RunContext, name: string): Tensor {
    if (!this.attention) return this.output.forward(h, ctx);
    const c = this.attention.forward(h, ctx);
    const [T, B, H] = h.shape;
    const M = c.shape[2];
    const k = engine().k;
    const joined = this.ws.get(name, [T, B, M + H]);
    k.f32_copy_cols(joined.ptr, M + H, c.ptr, M, T * B, M, 0);
    k.f32_copy_cols(joined.ptr + M * 4, M + H, h.ptr, H, T * B, H, 0);
    return this.output.forward(this.attentionOutput!.forward(joined, ctx), ctx);
  }

  /** Teacher-forced forward over a prepared batch: logits [T, B, V] (owned by the output layer). */
  private forwardBatch(p: Prepared, training: boolean): Tensor {
    const ctx = this.runContext(training);
    this.encode(p, training);
    const initial = this.initialStates(training);
    const x = this.joinContext(this.targetEmbedding.forward(p.decoderInput!, ctx), "decoderInputJoined");
    const h = this.decoder.forward(x, ctx, initial, p.targetLengths!);
    return this.head(h, ctx, "attentionJoined");
  }

  // ---------------------------------------------------------------------------------------
  // Backward

  /** Back through the last forwardBatch from dL/dlogits; adds into the parameter gradients. */
  private backwardBatch(dLogits: Tensor): void {
    const k = engine().k;
    let dh = this.output.backward(dLogits);
    let dMemory: Tensor | null = null;
    if (this.attention) {
      const dj = this.attentionOutput!.backward(dh); // [T, B, M + H]
      const [T, B] = dj.shape;
      const M = this.attention.memorySize, H = this.decoder.units;
      const dc = this.ws.get("dAttentionContext", [T, B, M]);
      const dd = this.ws.get("dDecoderOutput", [T, B, H]);
      k.f32_copy_cols(dc.ptr, M, dj.ptr, M + H, T * B, M, 0);
      k.f32_copy_cols(dd.ptr, H, dj.ptr + M * 4, M + H, T * B, H, 0);
      const dq = this.attention.backward(dc);
      k.f32_add(dd.ptr, dd.ptr, dq.ptr, dd.size);
      dh = dd;
      dMemory = this.attention.memoryGrad;
    }
    const dx = this.decoder.backward(dh);
    const B = dx.shape[1];
    // Gradients of the encoder's final states: from the bridges and from the input context.
    const sizes = this.encoder.stateSizes;
    const dFinal = this.encoder.stateNames.map((_, i) => this.ws.zeros(`dFinal${i}`, [B, sizes[i]]));
    const scatter = (g: Tensor, src: StateSource) => {
      let col = 0;
      for (const i of src.parts) {
        k.f32_copy_cols(dFinal[i].ptr, sizes[i], g.ptr + col * 4, src.width, B, sizes[i], 1);
        col += sizes[i];
      }
    };
    if (this.stateSources.length) {
      const dInit = this.decoder.initialStateGrad;
      this.stateSources.forEach((src, j) => {
        const bridge = this.bridges[j];
        scatter(bridge ? bridge.backward(dInit[j]) : dInit[j], src);
      });
    }
    let dEmbedded = dx;
    if (this.inputSource) {
      const [T, , EC] = dx.shape;
      const E = this.targetDim, C = EC - E;
      dEmbedded = this.ws.get("dTargetEmbedded", [T, B, E]);
      k.f32_copy_cols(dEmbedded.ptr, E, dx.ptr, EC, T * B, E, 0);
      const dc = this.ws.zeros("dInputContext", [B, C]);
      // dC += the context columns of every step, in order of t.
      for (let t = 0; t < T; t++) k.f32_copy_cols(dc.ptr, C, dx.ptr + (t * B * EC + E) * 4, EC, B, C, 1);
      scatter(dc, this.inputSource);
    }
    this.targetEmbedding.backward(dEmbedded);
    const dSource = this.encoder.backward(dMemory, dFinal);
    this.sourceEmbedding.backward(dSource);
  }

  // ---------------------------------------------------------------------------------------
  // Training

  /**
   * Teacher-forced forward, masked loss and backward over a batch of pairs: the gradients are
   * left in `params.grads` (zeroed first). Returns the loss. With `samplingProbability` p > 0
   * (scheduled sampling, Bengio et al. 2015), each decoder input after the first is, with
   * probability p, the model's own prediction at the previous step instead of the true token:
   * the decoder first runs free over the batch (inference mode, step by step, the
   * coins and draws from the model's generator) to choose the inputs, then the training pass
   * runs over them; the chosen tokens are constants (no gradient flows through the choice).
   */
  lossAndGradients(data: Seq2SeqData, options: { samplingProbability?: number; samplingFrom?: "sample" | "argmax" } = {}): number {
    this.checkAlive();
    const p = this.prepare("lossAndGradients", data.source, data.target);
    const prob = options.samplingProbability ?? 0;
    if (!(prob >= 0 && prob <= 1)) throw new UnfoldError(`lossAndGradients: samplingProbability must be in [0, 1], got ${String(prob)}`);
    if (prob > 0) this.mixDecoderInputs(p, prob, options.samplingFrom ?? "sample");
    const logits = this.forwardBatch(p, true);
    this.params.zeroGrads();
    const value = this.loss.compute(logits, p.target!, p.mask!);
    this.backwardBatch(this.loss.grad);
    return value;
  }

  /** Scheduled sampling: rewrites p's decoder inputs, each (after the first) replaced by the model's own token with probability `prob`. */
  private mixDecoderInputs(p: Prepared, prob: number, from: "sample" | "argmax"): void {
    const B = p.batch, T = p.targetSteps, V = this.targetVocab;
    const inputs = p.inputs!;
    const lengths = p.targetLengths!;
    const states = this.startDecoding(p, 1);
    const sampler = from === "sample" ? new TokenSampler(V, {}, this.rng, "scheduled sampling") : null;
    try {
      const ids = new Int32Array(B);
      for (let t = 0; t + 1 < T; t++) {
        ids.set(inputs.subarray(t * B, (t + 1) * B));
        const logits = this.decodeStep(ids, states);
        let row: Float32Array | null = null;
        for (let b = 0; b < B; b++) {
          if (t + 1 >= lengths[b] || !(this.rng.next() < prob)) continue;
          let id: number;
          if (sampler) id = sampler.pick(logits.ptr + b * V * 4);
          else {
            row ??= logits.toFloat32Array();
            id = argmax(row.subarray(b * V, (b + 1) * V));
          }
          inputs[(t + 1) * B + b] = id;
        }
      }
    } finally {
      sampler?.dispose();
    }
    p.decoderInput!.write(inputs, true);
  }

  /**
   * Trains on `data` with `optimizer`; see Seq2SeqFitOptions. Resolves with the logs of
   * every epoch. A batch whose loss or gradient is not finite is not applied, and training
   * stops with an error naming it.
   */
  async fit(data: Seq2SeqData, options: Seq2SeqFitOptions): Promise<Seq2SeqLogs[]> {
    return fitSeq2Seq(this, data, options);
  }

  // ---------------------------------------------------------------------------------------
  // Scoring

  /**
   * Teacher-forced loss and metrics over pairs, in inference mode: the loss, perplexity (exp
   * of the mean cross-entropy per target token, end symbol included) and the fraction of
   * target tokens predicted right given the true prefix; with `exactMatch`, also the fraction
   * of sources whose greedy decode equals the target exactly.
   */
  evaluate(data: Seq2SeqData, options: { batchSize?: number; exactMatch?: boolean; maxLength?: number } = {}): Seq2SeqEvaluation {
    this.checkAlive();
    checkData("evaluate", data);
    const batchSize = wholeNumber("evaluate", "batchSize", options.batchSize ?? 64);
    let lossSum = 0, weight = 0, tokens = 0, correct = 0, exact = 0;
    const N = data.source.length;
    const V = this.targetVocab;
    for (let start = 0; start < N; start += batchSize) {
      const end = Math.min(N, start + batchSize);
      const p = this.prepare("evaluate", data.source.slice(start, end), data.target.slice(start, end));
      const logits = this.forwardBatch(p, false);
      this.loss.compute(logits, p.target!, p.mask!);
      lossSum += this.loss.lastSum;
      weight += this.loss.lastDivisor;
      tokens += this.loss.lastCount;
      const l = logits.toFloat32Array();
      const gold = p.target!.toTypedArray();
      const mask = p.mask!.toTypedArray();
      for (let r = 0; r < gold.length; r++) if (mask[r] && argmax(l.subarray(r * V, (r + 1) * V)) === gold[r]) correct++;
      if (options.exactMatch) {
        const decoded = this.greedy(data.source.slice(start, end), { maxLength: options.maxLength });
        decoded.forEach((h, i) => {
          const t = data.target[start + i];
          if (h.finished && h.tokens.length === t.length && h.tokens.every((v, j) => v === t[j])) exact++;
        });
      }
    }
    const out: Seq2SeqEvaluation = {
      loss: lossSum / Math.max(weight, 1),
      perplexity: Math.exp(lossSum / Math.max(tokens, 1)),
      tokenAccuracy: correct / Math.max(tokens, 1),
    };
    if (options.exactMatch) out.exactMatch = exact / N;
    return out;
  }

  /** The loss over a batch of pairs, in inference mode (no gradients). */
  computeLoss(data: Seq2SeqData): number {
    this.checkAlive();
    checkData("computeLoss", data);
    const p = this.prepare("computeLoss", data.source, data.target);
    return this.loss.compute(this.forwardBatch(p, false), p.target!, p.mask!);
  }

  /** log p(target | source) of each pair under the model (teacher-forced; the end symbol included). */
  logProbability(data: Seq2SeqData): number[] {
    this.checkAlive();
    checkData("logProbability", data);
    const p = this.prepare("logProbability", data.source, data.target);
    const logits = this.forwardBatch(p, false);
    const B = p.batch, T = p.targetSteps, V = this.targetVocab;
    const logp = this.ws.get("scoreLogp", [T * B, V]);
    engine().k.f32_log_softmax(logp.ptr, logits.ptr, T * B, V);
    const lp = logp.toFloat32Array();
    const gold = p.target!.toTypedArray();
    const out = new Array<number>(B).fill(0);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) if (t < p.targetLengths![b]) out[b] += lp[(t * B + b) * V + gold[t * B + b]];
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Decoding

  /**
   * Encodes a prepared batch in inference mode, each sample repeated `copies` times (beam
   * search), and returns the decoder's starting states, one [B·copies, W_s] tensor per state.
   */
  private startDecoding(p: Prepared, copies: number): Tensor[] {
    this.encode(p, false);
    const B = p.batch, R = B * copies;
    const init = this.initialStates(false);
    const sizes = this.decoder.stateSizes;
    const states = this.decoder.stateNames.map((_, j) => this.ws.zeros(`decodeState${j}`, [R, sizes[j]]));
    if (init) init.forEach((s, j) => tileRows(states[j], s, 1, B, copies, sizes[j]));
    if (this.inputContext) {
      const C = this.inputContext.shape[1];
      const c = this.ws.get("decodeContext", [R, C]);
      tileRows(c, this.inputContext, 1, B, copies, C);
      this.inputContext = c;
    }
    if (this.attention && copies > 1) {
      const S = p.sourceSteps, M = this.attention.memorySize;
      const memory = this.ws.get("decodeMemory", [S, R, M]);
      tileRows(memory, this.encoderOutput!, S, B, copies, M);
      const lengths = Int32Array.from({ length: R }, (_, r) => p.sourceLengths[Math.floor(r / copies)]);
      this.attention.setMemory(memory, lengths);
    }
    return states;
  }

  /** One decoder step for R rows: feeds `ids`, advances `states` in place, returns logits [1, R, V]. */
  private decodeStep(ids: Int32Array, states: Tensor[]): Tensor {
    const ctx = this.runContext(false);
    const R = ids.length;
    const input = this.ws.get("stepIds", [1, R], "int32").write(ids, true);
    const x = this.joinContext(this.targetEmbedding.forward(input, ctx), "stepInputJoined");
    const h = this.decoder.forward(x, ctx, states);
    const k = engine().k;
    this.decoder.finalState.forEach((s, j) => k.f32_copy(states[j].ptr, s.ptr, s.size));
    return this.head(h, ctx, "stepAttentionJoined");
  }

  /** The attention weights of the last decoding step, [R·S] (rows of the tiled memory). */
  private stepWeights(): Float32Array {
    return this.attention!.weights.toFloat32Array();
  }

  /** Row r of `weights` ([R, S]) over its source's `length` real tokens, in the source's own order. */
  private attentionRow(weights: Float32Array, r: number, length: number): Float32Array {
    const S = this.attention!.weights.shape[2];
    const row = weights.slice(r * S, r * S + length);
    if (this.config.reverseSource) row.reverse();
    return row;
  }

  private decodeOptions(who: string, options: DecodeOptions, known: readonly string[]): { maxLength: number | null; attention: boolean } {
    checkKnownOptions(who, options, ["maxLength", "attention", ...known]);
    const maxLength = options.maxLength === undefined ? null : wholeNumber(who, "maxLength", options.maxLength);
    const attention = options.attention ?? false;
    if (attention && !this.attention) throw new UnfoldError(`${who}: attention weights were asked for, but this model has no attention`);
    return { maxLength, attention };
  }

  /** Most likely token at every step (ties: the lower id), for every source at once. */
  greedy(sources: readonly ArrayLike<number>[], options: DecodeOptions = {}): Hypothesis[] {
    this.checkAlive();
    return this.runFree("greedy", sources, this.decodeOptions("greedy", options, []), null);
  }

  /** Tokens drawn from the model's distribution at every step (temperature, top-k, top-p), seeded. */
  sample(sources: readonly ArrayLike<number>[], options: SampleOptions = {}): Hypothesis[] {
    this.checkAlive();
    const resolved = this.decodeOptions("sample", options, ["seed", "temperature", "topK", "topP"]);
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new UnfoldError(`sample: seed must be a whole number, got ${String(seed)}`);
    const sampling = { temperature: options.temperature, topK: options.topK, topP: options.topP };
    const sampler = new TokenSampler(this.targetVocab, sampling, new Rng(seed), "sample");
    try {
      return this.runFree("sample", sources, resolved, sampler);
    } finally {
      sampler.dispose();
    }
  }

  /** Greedy or sampled decoding of a batch of sources, each until its end symbol or its length limit. */
  private runFree(who: string, sources: readonly ArrayLike<number>[], options: { maxLength: number | null; attention: boolean }, sampler: TokenSampler | null): Hypothesis[] {
    const { maxLength, attention } = options;
    const p = this.prepare(who, sources, null);
    const B = p.batch, V = this.targetVocab;
    const limit = Array.from(p.sourceLengths, (L) => maxLength ?? 2 * L + 10);
    const states = this.startDecoding(p, 1);
    const out: Hypothesis[] = Array.from({ length: B }, () => ({ tokens: [], logProb: 0, score: 0, finished: false, ...(attention ? { attention: [] } : {}) }));
    const done = new Uint8Array(B);
    const ids = new Int32Array(B).fill(this.bos);
    const logp = this.ws.get("decodeLogp", [B, V]);
    const k = engine().k;
    for (let step = 0; step < Math.max(...limit); step++) {
      const logits = this.decodeStep(ids, states);
      k.f32_log_softmax(logp.ptr, logits.ptr, B, V);
      const lp = logp.toFloat32Array();
      const weights = attention ? this.stepWeights() : null;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const id = sampler ? sampler.pick(logits.ptr + b * V * 4) : argmax(lp.subarray(b * V, (b + 1) * V));
        const h = out[b];
        h.logProb += lp[b * V + id];
        if (weights) h.attention!.push(this.attentionRow(weights, b, p.sourceLengths[b]));
        ids[b] = id;
        if (id === this.eos) {
          h.finished = true;
          done[b] = 1;
        } else {
          h.tokens.push(id);
          if (h.tokens.length >= limit[b]) done[b] = 1;
        }
      }
      if (done.every((d) => d)) break;
    }
    for (const h of out) h.score = h.logProb;
    return out;
  }

  /**
   * Beam search for one source. At every step the `width` best extensions of the live
   * hypotheses (by log-probability, ties to the lower beam, then the lower token) are kept;
   * those that end with the end symbol are set aside as finished, the others stay live (so
   * the beam narrows as hypotheses finish). The search stops when none is live, at maxLength
   * (the live ones are then kept as unfinished), or when no live hypothesis can still beat
   * the `nBest`-th best finished one (log-probabilities only fall; the best a live one can
   * reach is logProb / (maxLength + 1)^α). Returns the `nBest` best by logProb / length^α
   * (finished ones first; unfinished ones only when too few finished). Width 1 is greedy decoding.
   */
  beamSearch(source: ArrayLike<number>, options: BeamSearchOptions = {}): Hypothesis[] {
    this.checkAlive();
    const who = "beamSearch";
    const { maxLength, attention } = this.decodeOptions(who, options, ["width", "nBest", "lengthNormalization"]);
    const W = wholeNumber(who, "width", options.width ?? 4);
    const nBest = wholeNumber(who, "nBest", options.nBest ?? 1);
    if (nBest > W) throw new UnfoldError(`${who}: nBest (${nBest}) cannot exceed the beam width (${W})`);
    const alpha = options.lengthNormalization ?? 1;
    if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha < 0) throw new UnfoldError(`${who}: lengthNormalization must be a finite number >= 0, got ${String(alpha)}`);
    const p = this.prepare(who, [source], null);
    const L = p.sourceLengths[0];
    const limit = maxLength ?? 2 * L + 10;
    const V = this.targetVocab;
    const states = this.startDecoding(p, W);
    const k = engine().k;
    const logp = this.ws.get("decodeLogp", [W, V]);
    type Beam = { tokens: number[]; logProb: number; attention: Float32Array[] };
    let live: Beam[] = [{ tokens: [], logProb: 0, attention: [] }];
    const finished: Hypothesis[] = [];
    const normalized = (logProb: number, length: number) => (alpha === 0 ? logProb : logProb / Math.pow(Math.max(length, 1), alpha));
    const ids = new Int32Array(W).fill(this.eos);
    ids[0] = this.bos;
    const reachable = (logProb: number) => (alpha === 0 ? logProb : logProb / Math.pow(limit + 1, alpha));
    // The nBest-th best finished score so far (−∞ until nBest have finished).
    const nthBest = () => (finished.length < nBest ? -Infinity : finished.map((h) => h.score).sort((a, b) => b - a)[nBest - 1]);
    for (let step = 0; step < limit && live.length > 0; step++) {
      if (nthBest() >= Math.max(...live.map((b) => reachable(b.logProb)))) break;
      const logits = this.decodeStep(ids, states);
      k.f32_log_softmax(logp.ptr, logits.ptr, W, V);
      const lp = logp.toFloat32Array();
      const weights = attention ? this.stepWeights() : null;
      // Every extension of every live beam, best first (ties: lower beam, then lower token).
      const candidates: { beam: number; token: number; logProb: number }[] = [];
      live.forEach((beam, i) => {
        for (let v = 0; v < V; v++) candidates.push({ beam: i, token: v, logProb: beam.logProb + lp[i * V + v] });
      });
      candidates.sort((a, b) => b.logProb - a.logProb || a.beam - b.beam || a.token - b.token);
      const next: Beam[] = [];
      const parents: number[] = [];
      for (const c of candidates.slice(0, W)) {
        const parent = live[c.beam];
        const rows = weights ? [...parent.attention, this.attentionRow(weights, c.beam, L)] : [];
        if (c.token === this.eos) {
          const score = normalized(c.logProb, parent.tokens.length + 1);
          finished.push({ tokens: [...parent.tokens], logProb: c.logProb, score, finished: true, ...(attention ? { attention: rows } : {}) });
        } else {
          next.push({ tokens: [...parent.tokens, c.token], logProb: c.logProb, attention: rows });
          parents.push(c.beam);
        }
      }
      // Row i of the states becomes the state of next[i]'s parent.
      this.decoder.stateNames.forEach((_, j) => gatherRows(states[j], parents, this.ws.get(`beamScratch${j}`, states[j].shape)));
      ids.fill(this.eos);
      next.forEach((b, i) => (ids[i] = b.tokens[b.tokens.length - 1]));
      live = next;
    }
    finished.sort((a, b) => b.score - a.score);
    // Too few finished: the live ones fill up, after every finished one.
    const unfinished: Hypothesis[] = live.map((b) => ({ tokens: b.tokens, logProb: b.logProb, score: normalized(b.logProb, b.tokens.length), finished: false, ...(attention ? { attention: b.attention } : {}) }));
    unfinished.sort((a, b) => b.score - a.score);
    return [...finished, ...unfinished].slice(0, nBest);
  }

  // ---------------------------------------------------------------------------------------
  // Weights

  /** A copy of every parameter, by name. */
  getWeights(): Record<string, Float32Array> {
    this.checkAlive();
    return this.params.readAll();
  }

  /** Sets parameters by name; every value is checked before any is written. */
  setWeights(weights: Record<string, ArrayLike<number>>): void {
    this.checkAlive();
    this.params.writeAll(weights);
  }

  /**
   * The model as bytes: safetensors holding every parameter, with the architecture (`config`)
   * and `metadata` (any JSON-able value — e.g. the tokenizers' toJSON()) in its header.
   */
  save(metadata: unknown = null): Uint8Array {
    this.checkAlive();
    const tensors: Record<string, SafeTensor> = {};
    for (const e of this.params.entries) tensors[e.name] = { dtype: "F32", shape: [...e.shape], data: this.params.read(e.name) };
    return writeSafetensors(tensors, { unfold: JSON.stringify({ format: FORMAT, version: VERSION, config: this.config, metadata }) });
  }

  /** What `save` wrote: the architecture and the metadata, without building a model. */
  static inspect(bytes: Uint8Array): { config: Seq2SeqConfig; metadata: unknown } {
    const { metadata } = readSafetensors(bytes);
    let meta: { format?: unknown; version?: unknown; config?: Seq2SeqConfig; metadata?: unknown };
    try {
      meta = JSON.parse(metadata.get("unfold") ?? "null") ?? {};
    } catch {
      throw new UnfoldError("Seq2Seq.load: the file's metadata is not valid JSON");
    }
    if (meta.format !== FORMAT) throw new UnfoldError(`Seq2Seq.load: not a saved Seq2Seq model (format ${JSON.stringify(meta.format)})`);
    if (meta.version !== VERSION) throw new UnfoldError(`Seq2Seq.load: version ${JSON.stringify(meta.version)} is not supported (this Unfold reads version ${VERSION})`);
    return { config: meta.config!, metadata: meta.metadata ?? null };
  }

  /** A model rebuilt from `save`'s bytes: its architecture, its weights, and the metadata stored with it. */
  static load(bytes: Uint8Array): { model: Seq2Seq; metadata: unknown } {
    const { config, metadata } = Seq2Seq.inspect(bytes);
    const model = Seq2Seq.fromConfig(config);
    try {
      model.loadWeights(bytes);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return { model, metadata };
  }

  /** Loads the weights `save` wrote into this model (same architecture); returns the stored metadata. */
  loadWeights(bytes: Uint8Array): unknown {
    this.checkAlive();
    const { metadata } = Seq2Seq.inspect(bytes);
    const { tensors } = readSafetensors(bytes);
    const weights: Record<string, Float32Array> = {};
    for (const e of this.params.entries) {
      const t = tensors.get(e.name);
      if (!t) throw new UnfoldError(`Seq2Seq.load: no values for parameter "${e.name}" — saved from a model of another architecture?`);
      if (t.dtype !== "F32" || t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
        throw new UnfoldError(`Seq2Seq.load: parameter "${e.name}" is ${t.dtype} [${t.shape.join(", ")}], the model has F32 [${e.shape.join(", ")}]`);
      }
      weights[e.name] = t.data as Float32Array;
    }
    const extra = [...tensors.keys()].filter((name) => !this.params.has(name));
    if (extra.length) throw new UnfoldError(`Seq2Seq.load: the file has parameters the model lacks: ${extra.join(", ")}`);
    this.setWeights(weights);
    return metadata;
  }

  dispose(): void {
    if (this.disposed) return;
    const layers: (Layer | null)[] = [this.sourceEmbedding, this.encoder, ...this.bridges, this.targetEmbedding, this.decoder, this.attention, this.attentionOutput, this.output];
    for (const l of layers) l?.dispose();
    this.ws.dispose();
    this.loss.dispose();
    this.params.dispose();
    this.disposed = true;
  }
}

/** dst rows (o·B + b)·copies + r ← src row o·B + b, for o < outer, b < B, r < copies ([outer, B, W] → [outer, B·copies, W]). */
function tileRows(dst: Tensor, src: Tensor, outer: number, batch: number, copies: number, width: number): void {
  const k = engine().k;
  for (let o = 0; o < outer; o++) {
    for (let b = 0; b < batch; b++) {
      const from = src.ptr + (o * batch + b) * width * 4;
      for (let r = 0; r < copies; r++) k.f32_copy(dst.ptr + ((o * batch + b) * copies + r) * width * 4, from, width);
    }
  }
}

/** Rows of `t` [R, W] become rows `parents` of its old contents (rows past parents.length are left as they were). */
function gatherRows(t: Tensor, parents: readonly number[], scratch: Tensor): void {
  const k = engine().k;
  const W = t.shape[1];
  k.f32_copy(scratch.ptr, t.ptr, t.size);
  parents.forEach((from, i) => k.f32_copy(t.ptr + i * W * 4, scratch.ptr + from * W * 4, W));
}

function checkData(who: string, data: Seq2SeqData): void {
  if (!data || typeof data !== "object" || !Array.isArray(data.source) || !Array.isArray(data.target)) throw new UnfoldError(`${who}: data must be { source: number[][], target: number[][] }`);
  if (data.source.length !== data.target.length) throw new UnfoldError(`${who}: ${data.source.length} sources but ${data.target.length} targets`);
  if (data.source.length === 0) throw new UnfoldError(`${who}: the data holds no pairs`);
}

// -----------------------------------------------------------------------------------------
// The training loop

export interface ScheduledSamplingOptions {
  /**
   * Probability of feeding the model's own token instead of the true one, in [0, 1]: a
   * number, or a function of the optimizer's step count (0-based), e.g. `linearRamp`.
   */
  probability: number | ((step: number) => number);
  /** The model's token: drawn from its distribution ("sample", Bengio et al. 2015; default) or its most likely ("argmax"). */
  from?: "sample" | "argmax";
}

/** The scheduled-sampling probability at optimizer step `step` (a number, or the schedule's value there), checked to lie in [0, 1]. */
export function scheduledProbability(who: string, ss: ScheduledSamplingOptions, step: number): number {
  const p = typeof ss.probability === "function" ? ss.probability(step) : ss.probability;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) throw new UnfoldError(`${who}: the scheduled-sampling probability at step ${step} is ${String(p)}; it must be in [0, 1]`);
  return p;
}

export interface Seq2SeqFitOptions {
  /** Updates the weights (Adam with clipNorm is a good start). */
  optimizer: Optimizer;
  /** Passes over the data. Default 1. */
  epochs?: number;
  /** Pairs per batch. Default 32. */
  batchSize?: number;
  /** Shuffle the pairs every epoch with the model's generator. Default true. */
  shuffle?: boolean;
  /** Held-out pairs, evaluated after every epoch. */
  validationData?: Seq2SeqData;
  /** Also decode the validation sources greedily and report the exact-match rate. Default false. */
  exactMatch?: boolean;
  scheduledSampling?: ScheduledSamplingOptions;
  /** Stops training after the current batch. */
  signal?: AbortSignal;
  onBatchEnd?: (batch: number, logs: { loss: number; gradNorm: number; lr: number }) => void | Promise<void>;
  onEpochEnd?: (epoch: number, logs: Seq2SeqLogs) => void | Promise<void>;
  /** Give the event loop a turn at least this often (ms of work). Default 25. */
  yieldEveryMs?: number;
}

export interface Seq2SeqEvaluation {
  loss: number;
  perplexity: number;
  tokenAccuracy: number;
  exactMatch?: number;
}

export interface Seq2SeqLogs {
  /** Mean loss over the epoch's batches (weighted by their sizes). */
  loss: number;
  gradNorm: number;
  lr: number;
  /** The scheduled-sampling probability of the epoch's last batch (0 without). */
  samplingProbability: number;
  seconds: number;
  valLoss?: number;
  valPerplexity?: number;
  valTokenAccuracy?: number;
  valExactMatch?: number;
}

const FIT_KEYS = ["optimizer", "epochs", "batchSize", "shuffle", "validationData", "exactMatch", "scheduledSampling", "signal", "onBatchEnd", "onEpochEnd", "yieldEveryMs"];

/** Trains a Seq2Seq model; `model.fit` calls this. */
export async function fitSeq2Seq(model: Seq2Seq, data: Seq2SeqData, options: Seq2SeqFitOptions): Promise<Seq2SeqLogs[]> {
  const who = "fit";
  if (!options || typeof options !== "object" || !options.optimizer) throw new UnfoldError(`${who}: give { optimizer } (e.g. new Adam({ lr: 1e-3, clipNorm: 1 }))`);
  checkKnownOptions(who, options, FIT_KEYS);
  checkData(`${who} data`, data);
  if (options.validationData) checkData(`${who} validationData`, options.validationData);
  const epochs = wholeNumber(who, "epochs", options.epochs ?? 1, 0);
  const batchSize = wholeNumber(who, "batchSize", options.batchSize ?? 32);
  const ss = options.scheduledSampling;
  if (ss) checkKnownOptions(`${who} scheduledSampling`, ss, ["probability", "from"]);
  const from = ss?.from ?? "sample";
  if (from !== "sample" && from !== "argmax") throw new UnfoldError(`${who}: scheduledSampling.from must be "sample" or "argmax", got ${String(from)}`);
  const probabilityAt = (step: number): number => (ss ? scheduledProbability(who, ss, step) : 0);
  const optimizer = options.optimizer;
  const yieldEvery = options.yieldEveryMs ?? 25;
  let lastYield = performance.now();
  const N = data.source.length;
  const history: Seq2SeqLogs[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    if (options.signal?.aborted) return history; // before the shuffle: an epoch that never starts draws nothing
    const started = performance.now();
    const order = Int32Array.from({ length: N }, (_, i) => i);
    if (options.shuffle ?? true) model.rng.shuffle(order);
    let lossSum = 0, seen = 0, normSum = 0, batches = 0, lr = 0, prob = 0;
    for (let start = 0; start < N; start += batchSize) {
      if (options.signal?.aborted) return history;
      const idx = order.subarray(start, Math.min(N, start + batchSize));
      const batch = { source: Array.from(idx, (i) => data.source[i]), target: Array.from(idx, (i) => data.target[i]) };
      prob = probabilityAt(optimizer.stepCount);
      const loss = model.lossAndGradients(batch, { samplingProbability: prob, samplingFrom: from });
      if (!Number.isFinite(loss)) throw new UnfoldError(`${who}: the loss of epoch ${epoch}, batch ${batches} is ${loss}; that batch was not applied — try a lower learning rate or gradient clipping (clipNorm)`);
      lr = optimizer.lr;
      let gradNorm: number;
      try {
        gradNorm = optimizer.step(model.params).gradNorm;
      } catch (e) {
        throw new UnfoldError(`${who}: epoch ${epoch}, batch ${batches}: ${(e as Error).message}`);
      }
      lossSum += loss * idx.length;
      seen += idx.length;
      normSum += gradNorm;
      if (options.onBatchEnd) await options.onBatchEnd(batches, { loss, gradNorm, lr });
      batches++;
      if (performance.now() - lastYield >= yieldEvery) {
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    }
    const logs: Seq2SeqLogs = { loss: lossSum / Math.max(seen, 1), gradNorm: normSum / Math.max(batches, 1), lr, samplingProbability: prob, seconds: 0 };
    if (options.validationData) {
      const v = model.evaluate(options.validationData, { batchSize, exactMatch: options.exactMatch ?? false });
      logs.valLoss = v.loss;
      logs.valPerplexity = v.perplexity;
      logs.valTokenAccuracy = v.tokenAccuracy;
      if (v.exactMatch !== undefined) logs.valExactMatch = v.exactMatch;
    }
    logs.seconds = (performance.now() - started) / 1000;
    history.push(logs);
    if (options.onEpochEnd) await options.onEpochEnd(epoch, logs);
  }
  return history;
}
