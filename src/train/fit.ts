// The training loop: batches (seeded shuffling), forward, loss, BPTT, optimizer step,
// metrics, validation, callbacks, early stopping, cancellation, and a guard that refuses a
// step whose loss or gradients are not finite. It yields to the event loop as it goes, so a
// page stays responsive while a model trains on its main thread.
import { Tensor, UnfoldError, Workspace, engine, formatShape } from "../engine/index.js";
import { SequenceDataset, type ArrayInput } from "../data/dataset.js";
import { Embedding, checkTokenIds } from "../layers/embedding.js";
import type { BatchOptions, FeedbackOptions, Sequential } from "../models/sequential.js";
import { scheduledProbability, type ScheduledSamplingOptions } from "../models/seq2seq.js";
import { Adam, type Optimizer } from "./optimizers.js";

export type Metric = "accuracy" | "perplexity";

/**
 * Training data: arrays (batch-major x [N, T, F], or [N, T] token ids for a model that starts
 * with an Embedding; targets; optionally per-sample `lengths` [N] and a `context` [N, size])
 * or a prepared dataset.
 */
export type TrainingData = BatchData | SequenceDataset;

/** Samples as arrays: x, y and optionally lengths and context, batch-major (see TrainingData). */
export interface BatchData {
  x: ArrayInput;
  y: ArrayInput;
  lengths?: ArrayLike<number>;
  context?: ArrayInput;
}

/**
 * Batches made by the caller, one `BatchData` each (its own size and length T), in the order
 * to train on: an array, a generator, a stream — anything iterable or async-iterable — or a
 * function that makes one. Every epoch iterates it again, so for more than one epoch give
 * something that can start over (an array, an object whose `[Symbol.asyncIterator]()` makes
 * a new iterator, or a function); a spent generator yields nothing and fit says so.
 */
export type BatchSource = Iterable<BatchData> | AsyncIterable<BatchData> | (() => Iterable<BatchData> | AsyncIterable<BatchData>);

export interface Logs {
  /** Loss over the epoch's samples (a short last batch weighs what it holds), or of the batch in onBatchEnd. */
  loss: number;
  accuracy?: number;
  perplexity?: number;
  valLoss?: number;
  valAccuracy?: number;
  valPerplexity?: number;
  /** Mean global gradient norm before clipping. */
  gradNorm?: number;
  /** Learning rate of the last step. */
  lr?: number;
  /** Seconds the epoch took. */
  seconds?: number;
}

export interface EarlyStoppingOptions {
  /** The quantity watched. Default "valLoss" when there is validation data, else "loss". */
  monitor?: keyof Logs;
  /** Epochs without improvement before stopping. Default 5. */
  patience?: number;
  /** Smallest change that counts as an improvement. Default 0. */
  minDelta?: number;
  /** Put back the weights of the best epoch when stopping. Default true. */
  restoreBestWeights?: boolean;
}

export interface FitOptions {
  /** Passes over the data. Default 1. */
  epochs?: number;
  /** Samples per batch. Default 32. */
  batchSize?: number;
  /** Default: Adam with lr 1e-3. The optimizer keeps its state across calls to fit. */
  optimizer?: Optimizer;
  /** Shuffle the samples every epoch with the model's seeded RNG. Default true. */
  shuffle?: boolean;
  /** Held-out data, evaluated after every epoch. */
  validationData?: TrainingData | BatchSource;
  /** Or: this fraction of the samples (the last ones, before shuffling) is held out. */
  validationSplit?: number;
  /** Metrics besides the loss (cross-entropy models only). */
  metrics?: Metric[];
  /** Stop when a monitored quantity stops improving. */
  earlyStopping?: EarlyStoppingOptions;
  /** Counts epochs from here (resuming from a checkpoint). Default 0. */
  initialEpoch?: number;
  /** Stops training after the current batch; fit then resolves with what was done. */
  signal?: AbortSignal;
  onBatchEnd?: (batch: number, logs: Logs) => void | Promise<void>;
  onEpochEnd?: (epoch: number, logs: Logs) => void | Promise<void>;
  /** Give the event loop a turn at least this often (ms of work). Default 25. */
  yieldEveryMs?: number;
  /**
   * Truncated backpropagation through time: each batch is trained in chunks of this many
   * steps, one optimizer step per chunk. Every chunk starts from the state the previous chunk
   * ended in (carried forward, as the full sequence would) but its gradient stops at that
   * boundary. The model must run forward in time only (no Bidirectional, pooling head or
   * time-skip layer) and have a target per step. Default: off (the whole sequence at once).
   */
  tbptt?: number;
  /**
   * Teacher forcing, for a model whose last layer is a Jordan layer: the target y_{t−1} is fed
   * back in place of its own previous output. Default false. See FeedbackOptions. With tbptt,
   * each chunk after the first starts from the state the last one ended in (the layer's own
   * output), as any carried state does.
   */
  teacherForcing?: boolean;
  /**
   * Feed the model its own previous prediction instead of the truth with a probability that
   * may follow a schedule: a number, or a function of the optimizer's step count (0-based),
   * e.g. `linearRamp`. For Jordan models and next-token models; see FeedbackOptions.
   */
  scheduledSampling?: ScheduledSamplingOptions;
}

export interface History {
  /** Logs of every completed epoch. */
  epochs: Logs[];
  /** Why training ended before `epochs`, if it did. */
  stopped?: "earlyStopping" | "aborted";
}

const KNOWN: readonly string[] = ["epochs", "batchSize", "optimizer", "shuffle", "validationData", "validationSplit", "metrics", "earlyStopping", "initialEpoch", "signal", "onBatchEnd", "onEpochEnd", "yieldEveryMs", "tbptt", "teacherForcing", "scheduledSampling"];

function targetType(model: Sequential): "int32" | "float32" {
  if (!model.loss) throw new UnfoldError("fit: the model has no loss; pass { loss } to the Sequential constructor");
  return model.loss.name === "softmaxCrossEntropy" ? "int32" : "float32";
}

function asDataset(model: Sequential, data: TrainingData, what: string): SequenceDataset {
  let ds: SequenceDataset | null = null;
  if (data instanceof SequenceDataset) ds = data;
  else if (data && typeof data === "object" && "x" in data && "y" in data) {
    for (const key of Object.keys(data)) if (!["x", "y", "lengths", "context"].includes(key)) throw new UnfoldError(`${what}: unknown field "${key}" (known: x, y, lengths, context)`);
    ds = new SequenceDataset(data.x, data.y, targetType(model), { lengths: data.lengths, context: data.context });
  }
  if (!ds) throw new UnfoldError(`${what} must be { x, y } or a SequenceDataset`);
  checkAgainstModel(model, ds, what);
  if ((ds.y instanceof Int32Array) !== (targetType(model) === "int32")) throw new UnfoldError(`${what}: ${model.loss!.name} needs ${targetType(model)} targets`);
  return ds;
}

/** Checks a dataset's inputs (and context) against what the model takes. */
function checkAgainstModel(model: Sequential, ds: SequenceDataset, what: string): void {
  if (model.inputDType === "int32") {
    if (!ds.tokens) throw new UnfoldError(`${what}: the model starts with an Embedding and takes token ids x [N, T], got x ${formatShape(ds.xShape)}`);
    const T = ds.steps;
    checkTokenIds(ds.x, (model.layers[0] as Embedding).vocab, what, (i) => `x[${Math.floor(i / T)}][${i % T}]`);
  } else {
    if (ds.tokens) throw new UnfoldError(`${what}: x ${formatShape(ds.xShape)} holds token ids, but the model takes feature vectors [N, T, ${model.inputSize}] (start it with an Embedding to take tokens)`);
    if (ds.features !== model.inputSize) throw new UnfoldError(`${what}: x has ${ds.features} features per step, the model takes ${model.inputSize}`);
  }
  const S = model.context?.size ?? 0;
  if (S && !ds.context) throw new UnfoldError(`${what}: the model is conditioned on a context of ${S} values per sample; give context [N, ${S}] with the data`);
  if (!S && ds.context) throw new UnfoldError(`${what}: the data has a context, but the model takes none (build it with { context: { size, mode } })`);
  if (S && ds.contextSize !== S) throw new UnfoldError(`${what}: context has ${ds.contextSize} values per sample, the model takes ${S}`);
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** One batch, time-major, with what the model takes besides x. */
interface Batch {
  x: Tensor;
  y: Tensor;
  options: BatchOptions;
  /** The targets are per step ([T, b, ...]), not one per sequence. */
  perStep: boolean;
}

/** Makes batches from datasets, reusing the batch tensors (same shapes, same memory). */
class Batcher {
  private readonly ws = new Workspace();

  batch(ds: SequenceDataset, indices: Int32Array): Batch {
    const b = indices.length;
    const shapes = ds.batchShapes(b);
    const int = ds.y instanceof Int32Array;
    const x = this.ws.get(`x${b}`, shapes.x, ds.tokens ? "int32" : "float32");
    const y = this.ws.get(`y${b}`, shapes.y, int ? "int32" : "float32");
    const xs = ds.tokens ? new Int32Array(x.size) : new Float32Array(x.size);
    const ys = int ? new Int32Array(y.size) : new Float32Array(y.size);
    const lengths = ds.lengths ? new Int32Array(b) : undefined;
    const cs = shapes.context ? new Float32Array(b * ds.contextSize) : undefined;
    ds.fillBatch(indices, xs, ys, { lengths, context: cs });
    x.write(xs, true);
    y.write(ys, true);
    const options: BatchOptions = {};
    if (lengths) options.lengths = lengths;
    if (cs) options.context = this.ws.get(`c${b}`, shapes.context!).write(cs, true);
    return { x, y, options, perStep: ds.perStep };
  }

  /** All of `ds` as one batch. */
  whole(ds: SequenceDataset): Batch {
    return this.batch(ds, Int32Array.from({ length: ds.size }, (_, i) => i));
  }

  dispose(): void {
    this.ws.dispose();
  }
}

function isBatchSource(data: unknown): data is BatchSource {
  if (typeof data === "function") return true;
  if (!data || typeof data !== "object" || data instanceof SequenceDataset) return false;
  return Symbol.iterator in data || Symbol.asyncIterator in data;
}

/**
 * The batches of one pass over a source, each checked against the model as it comes (errors
 * name the batch). `what` names the data in errors ("training data, epoch 2").
 */
async function* sourceBatches(model: Sequential, batcher: Batcher, source: BatchSource, what: string): AsyncGenerator<Batch> {
  const made = typeof source === "function" ? source() : source;
  let it: Iterator<BatchData> | AsyncIterator<BatchData>;
  if (made && typeof (made as AsyncIterable<BatchData>)[Symbol.asyncIterator] === "function") it = (made as AsyncIterable<BatchData>)[Symbol.asyncIterator]();
  else if (made && typeof (made as Iterable<BatchData>)[Symbol.iterator] === "function") it = (made as Iterable<BatchData>)[Symbol.iterator]();
  else throw new UnfoldError(`${what}: the batch function must return an iterable or async iterable of { x, y } batches, got ${made === null ? "null" : typeof made}`);
  for (let i = 0; ; i++) {
    const next = await it.next();
    if (next.done) {
      if (i === 0) throw new UnfoldError(`${what}: the batch source gave no batches (a generator can be iterated only once: for several epochs pass an array, or a function that makes a new generator)`);
      return;
    }
    yield batcher.whole(asDataset(model, next.value, `${what}, batch ${i}`));
  }
}

type MetricSums = { correct: number; rows: number; lossSum: number; weight: number };

/**
 * Sums a batch's metrics into `acc` (correct predictions, counted rows, summed loss and what
 * it is divided by), from the model's last forward: steps past the samples' lengths are not
 * counted. `weigh` false adds no divisor (a later chunk of a sequence whose loss is summed
 * over time: the sequence is divided by its batch size once).
 */
function accumulateMetrics(model: Sequential, y: Tensor, acc: MetricSums, accuracy = true, weigh = true): void {
  const loss = model.loss!;
  acc.lossSum += loss.lastSum;
  acc.rows += loss.lastCount;
  if (weigh) acc.weight += loss.lastDivisor;
  if (!accuracy || loss.name !== "softmaxCrossEntropy") return;
  const pred = model.lastOutput!;
  const mask = model.stepMask();
  const p = pred.toFloat32Array();
  const t = y.toTypedArray();
  const C = pred.shape[pred.shape.length - 1];
  for (let r = 0; r < t.length; r++) {
    if (t[r] === loss.ignoreIndex || (mask && mask[r] === 0)) continue;
    let best = 0;
    for (let c = 1; c < C; c++) if (p[r * C + c] > p[r * C + best]) best = c;
    if (best === t[r]) acc.correct++;
  }
}

function metricLogs(model: Sequential, metrics: Metric[], acc: MetricSums): Partial<Logs> {
  const out: Partial<Logs> = {};
  if (metrics.includes("accuracy")) out.accuracy = acc.correct / Math.max(acc.rows, 1);
  // exp of the mean cross-entropy per predicted token, whatever the loss reduction.
  if (metrics.includes("perplexity")) out.perplexity = Math.exp(acc.lossSum / Math.max(acc.rows, 1));
  return out;
}

const emptySums = (): MetricSums => ({ correct: 0, rows: 0, lossSum: 0, weight: 0 });

/** Loss and metrics of sums over a pass; weighted by each batch's divisor, so a short last batch counts for what it holds. */
const passLogs = (model: Sequential, metrics: Metric[], acc: MetricSums): Logs => ({ loss: acc.lossSum / Math.max(acc.weight, 1), ...metricLogs(model, metrics, acc) });

/** The batches of `ds` in order, `batchSize` at a time. */
function* datasetBatches(batcher: Batcher, ds: SequenceDataset, order: Int32Array, batchSize: number): Generator<Batch> {
  for (let start = 0; start < ds.size; start += batchSize) yield batcher.batch(ds, order.subarray(start, Math.min(start + batchSize, ds.size)));
}

/**
 * Mean loss and metrics over `data`, in inference mode, without touching the weights. Takes
 * arrays, a dataset, or a synchronous iterable of batches (fit also takes async ones).
 */
export function evaluate(model: Sequential, data: TrainingData | Iterable<BatchData> | (() => Iterable<BatchData>), options: { batchSize?: number; metrics?: Metric[] } = {}): Logs {
  const metrics = options.metrics ?? [];
  const batcher = new Batcher();
  const acc = emptySums();
  try {
    let batches: Iterable<Batch>;
    if (isBatchSource(data)) {
      if (options.batchSize !== undefined) throw new UnfoldError("evaluate: batchSize applies to arrays; a batch source makes its own batches");
      const made = typeof data === "function" ? data() : data;
      if (!made || typeof (made as Iterable<BatchData>)[Symbol.iterator] !== "function") throw new UnfoldError("evaluate: takes arrays or a synchronous iterable of batches; for an async one, use fit's validationData");
      // One at a time: a batch's tensors are reused by the next batch of the same size.
      batches = (function* () {
        let i = 0;
        for (const b of made as Iterable<BatchData>) yield batcher.whole(asDataset(model, b, `evaluate data, batch ${i++}`));
      })();
    } else {
      const ds = asDataset(model, data, "evaluate data");
      batches = datasetBatches(batcher, ds, Int32Array.from({ length: ds.size }, (_, i) => i), options.batchSize ?? 32);
    }
    for (const { x, y, options: extras } of batches) {
      model.computeLoss(x, y, extras);
      accumulateMetrics(model, y, acc, metrics.includes("accuracy"));
    }
  } finally {
    batcher.dispose();
  }
  return passLogs(model, metrics, acc);
}

/**
 * The model's outputs for inputs x (batch-major, as fit takes them: [N, T, F] feature vectors
 * or [N, T] token ids; optionally `lengths` [N] and `context` [N, size]), run in inference mode
 * `batchSize` samples at a time. Returns them batch-major: [N, T, C] for a model with an output
 * per step (zero past each sample's length), [N, C] for one per sequence.
 */
export function predict(model: Sequential, x: ArrayInput, options: { lengths?: ArrayLike<number>; context?: ArrayInput; batchSize?: number } = {}): { data: Float32Array; shape: number[] } {
  for (const key of Object.keys(options)) if (!["lengths", "context", "batchSize"].includes(key)) throw new UnfoldError(`predict: unknown option "${key}" (known: lengths, context, batchSize)`);
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UnfoldError(`predict: batchSize must be a whole number >= 1, got ${batchSize}`);
  const N = Array.isArray(x) ? x.length : x && typeof x === "object" && "shape" in x ? x.shape[0] : 0;
  if (!N) throw new UnfoldError("predict: x must hold at least one sample, as nested arrays or { data, shape } batch-major");
  // The dataset validates x, the lengths and the context against each other and the model;
  // its targets are a placeholder (one class id per sample) that predict never reads.
  const placeholder = { data: new Int32Array(N), shape: [N] };
  const ds = new SequenceDataset(x, placeholder, "int32", { lengths: options.lengths, context: options.context });
  checkAgainstModel(model, ds, "predict");
  const batcher = new Batcher();
  let data: Float32Array | null = null;
  let shape: number[] = [];
  try {
    for (let start = 0; start < N; start += batchSize) {
      const b = Math.min(batchSize, N - start);
      const { x: xs, options: extras } = batcher.batch(ds, Int32Array.from({ length: b }, (_, i) => start + i));
      const y = model.forward(xs, extras);
      const perStep = y.shape.length === 3;
      const C = y.shape[y.shape.length - 1];
      const T = perStep ? y.shape[0] : 1;
      if (!data) {
        shape = perStep ? [N, T, C] : [N, C];
        data = new Float32Array(N * T * C);
      }
      const out = y.toFloat32Array();
      // Steps past a sample's length are not outputs of it (a Dense head would show its bias there).
      if (perStep && extras.lengths) for (let t = 0; t < T; t++) for (let i = 0; i < b; i++) if (t >= extras.lengths[i]) out.fill(0, (t * b + i) * C, (t * b + i + 1) * C);
      // Time-major [T, b, C] rows to batch-major [N, T, C].
      for (let t = 0; t < T; t++) for (let i = 0; i < b; i++) data.set(out.subarray((t * b + i) * C, (t * b + i + 1) * C), ((start + i) * T + t) * C);
    }
  } finally {
    batcher.dispose();
  }
  return { data: data!, shape };
}

/** evaluate, over any batch source (async ones too), for fit's validation. */
async function evaluateSource(model: Sequential, source: BatchSource, metrics: Metric[]): Promise<Logs> {
  const batcher = new Batcher();
  const acc = emptySums();
  try {
    for await (const { x, y, options: extras } of sourceBatches(model, batcher, source, "validationData")) {
      model.computeLoss(x, y, extras);
      accumulateMetrics(model, y, acc, metrics.includes("accuracy"));
    }
  } finally {
    batcher.dispose();
  }
  return passLogs(model, metrics, acc);
}

/**
 * One batch's training: forward, loss, BPTT and an optimizer step — or, with truncated BPTT
 * (`chunk` < T), one of each per chunk of `chunk` steps, every chunk starting from the state
 * the last one ended in (copied to `carry`, so its gradient stops there).
 */
class BatchTrainer {
  private readonly carry = new Workspace();
  constructor(
    private readonly model: Sequential,
    private readonly optimizer: Optimizer,
    private readonly chunk: number,
    private readonly accuracy: boolean,
    private readonly feedback: Pick<FitOptions, "teacherForcing" | "scheduledSampling">,
  ) {}

  /** The feedback options of the next optimizer step: the scheduled-sampling probability at its step count. */
  private feedbackNow(): FeedbackOptions {
    const { teacherForcing, scheduledSampling: ss } = this.feedback;
    const out: FeedbackOptions = {};
    if (teacherForcing !== undefined) out.teacherForcing = teacherForcing;
    if (ss) {
      const p = scheduledProbability("fit", ss, this.optimizer.stepCount);
      out.scheduledSampling = ss.from === undefined ? { probability: p } : { probability: p, from: ss.from };
    }
    return out;
  }

  /** Trains on `batch`; `where` names it in errors. Returns the batch's loss (over all chunks), its mean gradient norm and the optimizer steps taken. */
  train(batch: Batch, acc: MetricSums, where: string): { loss: number; gradNorm: number; steps: number } {
    const model = this.model;
    const { x, y, options } = batch;
    const T = x.shape[0], B = x.shape[1];
    const k = this.chunk > 0 && this.chunk < T ? this.chunk : T;
    if (k < T && !batch.perStep) throw new UnfoldError(`fit: ${where}: truncated BPTT needs a target per step, the data has one per sequence`);
    const own = emptySums();
    let norm = 0;
    let steps = 0;
    let initialState: Tensor[] | undefined;
    const rowX = x.size / T, rowY = y.size / T;
    for (let start = 0; start < T; start += k) {
      const len = Math.min(k, T - start);
      const chunked = k < T;
      let lengths = options.lengths;
      if (lengths && chunked) {
        const real = Int32Array.from(lengths, (L) => Math.max(0, Math.min(len, L - start)));
        if (real.every((L) => L === 0)) break; // every sequence of the batch has ended
        lengths = real;
      }
      const xs = chunked ? Tensor.view(x, start * rowX, [len, ...x.shape.slice(1)]) : x;
      const ys = chunked ? Tensor.view(y, start * rowY, [len, ...y.shape.slice(1)]) : y;
      const span = chunked ? `, steps ${start}..${start + len - 1}` : "";
      const value = model.lossAndGradients(xs, ys, { ...options, lengths, initialState, ...this.feedbackNow() });
      if (!Number.isFinite(value)) {
        throw new UnfoldError(`fit: the loss of ${where}${span} is ${value}; that ${chunked ? "chunk" : "batch"} was not applied and the weights keep their last good values — try a lower learning rate or gradient clipping (clipNorm)`);
      }
      // A loss summed over time is divided by the batch size once per sequence, not per chunk.
      const weigh = start === 0 || model.loss!.reduction === "mean";
      accumulateMetrics(model, ys, own, this.accuracy, weigh);
      try {
        norm += this.optimizer.step(model.params).gradNorm;
      } catch (e) {
        throw new UnfoldError(`fit: ${where}${span}: ${(e as Error).message}`);
      }
      steps++;
      if (start + len < T) {
        const kernels = engine().k;
        initialState = model.lastFinalState.map((s, j) => {
          const c = this.carry.get(`state${j}`, s.shape);
          kernels.f32_copy(c.ptr, s.ptr, s.size);
          return c;
        });
      }
    }
    for (const key of Object.keys(own) as (keyof MetricSums)[]) acc[key] += own[key];
    return { loss: own.lossSum / Math.max(own.weight, 1), gradNorm: norm / Math.max(steps, 1), steps };
  }

  dispose(): void {
    this.carry.dispose();
  }
}

/**
 * Trains `model` on `data`: arrays or a dataset (batched here, shuffled with the model's
 * seeded RNG), or a source of batches the caller makes (see BatchSource). Resolves with the
 * history when the epochs are done, early stopping triggers, or `signal` aborts. A batch whose
 * loss or gradient is not finite is not applied: the weights keep their last good values and
 * fit rejects with an error that names the epoch and batch.
 */
export async function fit(model: Sequential, data: TrainingData | BatchSource, options: FitOptions = {}): Promise<History> {
  for (const key of Object.keys(options)) if (!KNOWN.includes(key)) throw new UnfoldError(`fit: unknown option "${key}" (known: ${KNOWN.join(", ")})`);
  const epochs = options.epochs ?? 1;
  const batchSize = options.batchSize ?? 32;
  const initialEpoch = options.initialEpoch ?? 0;
  const tbptt = options.tbptt ?? 0;
  if (!Number.isInteger(epochs) || epochs < 0) throw new UnfoldError(`fit: epochs must be a whole number >= 0, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UnfoldError(`fit: batchSize must be a whole number >= 1, got ${batchSize}`);
  if (!Number.isInteger(initialEpoch) || initialEpoch < 0) throw new UnfoldError(`fit: initialEpoch must be a whole number >= 0, got ${initialEpoch}`);
  if (options.tbptt !== undefined && (!Number.isInteger(tbptt) || tbptt < 1)) throw new UnfoldError(`fit: tbptt must be a whole number of steps >= 1, got ${String(options.tbptt)}`);
  if (options.tbptt !== undefined) {
    const layer = model.layers.find((l) => !l.causal);
    if (layer) throw new UnfoldError(`fit: truncated BPTT carries the state forward chunk by chunk, which ${layer.kind} layer "${layer.label}" cannot do (it reads the sequence backwards, pools it or looks back past its state)`);
  }
  const metrics = options.metrics ?? [];
  for (const m of metrics) if (m !== "accuracy" && m !== "perplexity") throw new UnfoldError(`fit: unknown metric "${String(m)}" (known: accuracy, perplexity)`);
  const source = isBatchSource(data) ? data : null;
  if (source) {
    for (const key of ["batchSize", "shuffle", "validationSplit"] as const) {
      if (options[key] !== undefined) throw new UnfoldError(`fit: ${key} applies to arrays; a batch source makes its own batches, in its own order`);
    }
  }
  let ds = source ? null : asDataset(model, data as TrainingData, "training data");
  if (metrics.length && model.loss!.name !== "softmaxCrossEntropy") throw new UnfoldError(`fit: metrics ${metrics.join(", ")} need a softmaxCrossEntropy loss, the model uses ${model.loss!.name}`);
  const validationSource = options.validationData !== undefined && isBatchSource(options.validationData) ? options.validationData : null;
  let validation = options.validationData && !validationSource ? asDataset(model, options.validationData as TrainingData, "validationData") : null;
  if (options.validationSplit !== undefined && ds) {
    const split = options.validationSplit;
    if (options.validationData) throw new UnfoldError("fit: give validationData or validationSplit, not both");
    if (!(split > 0 && split < 1)) throw new UnfoldError(`fit: validationSplit must be in (0, 1), got ${split}`);
    const nVal = Math.floor(ds.size * split);
    if (nVal < 1 || nVal >= ds.size) throw new UnfoldError(`fit: validationSplit ${split} of ${ds.size} samples leaves no training or no validation data`);
    const all = Int32Array.from({ length: ds.size }, (_, i) => i);
    validation = ds.subset(all.subarray(ds.size - nVal));
    ds = ds.subset(all.subarray(0, ds.size - nVal));
  }
  if (ds && tbptt && !ds.perStep) throw new UnfoldError("fit: truncated BPTT needs a target per step, the data has one per sequence");
  const optimizer = options.optimizer ?? new Adam({ lr: 1e-3 });
  const early = options.earlyStopping;
  const hasValidation = validation !== null || validationSource !== null;
  const monitor = early?.monitor ?? (hasValidation ? "valLoss" : "loss");
  const patience = early?.patience ?? 5;
  const minDelta = early?.minDelta ?? 0;
  const maximize = monitor === "accuracy" || monitor === "valAccuracy";
  let best = maximize ? -Infinity : Infinity;
  let bestWeights: Float32Array | null = null;
  let sinceBest = 0;
  const yieldEvery = options.yieldEveryMs ?? 25;
  let lastYield = performance.now();

  const history: History = { epochs: [] };
  const batcher = new Batcher();
  const trainer = new BatchTrainer(model, optimizer, tbptt, metrics.includes("accuracy"), { teacherForcing: options.teacherForcing, scheduledSampling: options.scheduledSampling });
  try {
    for (let epoch = initialEpoch; epoch < initialEpoch + epochs; epoch++) {
      // Checked before the shuffle too: an epoch that never starts leaves the generator where
      // it was, so a run stopped between epochs resumes to the same bits (and a signal that
      // was aborted before the call changes nothing, as in trainInWorker).
      if (options.signal?.aborted) {
        history.stopped = "aborted";
        return history;
      }
      const started = performance.now();
      let batches: AsyncIterable<Batch> | Iterable<Batch>;
      if (ds) {
        const order = Int32Array.from({ length: ds.size }, (_, i) => i);
        if (options.shuffle ?? true) model.rng.shuffle(order);
        batches = datasetBatches(batcher, ds, order, batchSize);
      } else {
        batches = sourceBatches(model, batcher, source!, `training data, epoch ${epoch}`);
      }
      let normTotal = 0;
      let steps = 0;
      let batchIndex = 0;
      let lr = 0;
      const acc = emptySums();
      for await (const batch of batches) {
        if (options.signal?.aborted) {
          history.stopped = "aborted";
          return history;
        }
        lr = optimizer.lr;
        const done = trainer.train(batch, acc, `epoch ${epoch}, batch ${batchIndex}`);
        normTotal += done.gradNorm * done.steps;
        steps += done.steps;
        if (options.onBatchEnd) await options.onBatchEnd(batchIndex, { loss: done.loss, gradNorm: done.gradNorm, lr });
        batchIndex++;
        if (performance.now() - lastYield >= yieldEvery) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
      }
      const logs: Logs = { ...passLogs(model, metrics, acc), gradNorm: normTotal / Math.max(steps, 1), lr };
      if (hasValidation) {
        const v = validation ? evaluate(model, validation, { batchSize, metrics }) : await evaluateSource(model, validationSource!, metrics);
        logs.valLoss = v.loss;
        if (v.accuracy !== undefined) logs.valAccuracy = v.accuracy;
        if (v.perplexity !== undefined) logs.valPerplexity = v.perplexity;
      }
      logs.seconds = (performance.now() - started) / 1000;
      history.epochs.push(logs);
      if (options.onEpochEnd) await options.onEpochEnd(epoch, logs);
      if (early) {
        const value = logs[monitor];
        if (typeof value !== "number") throw new UnfoldError(`fit: earlyStopping monitors "${monitor}", which the logs do not have (have: ${Object.keys(logs).join(", ")})`);
        const improved = maximize ? value > best + minDelta : value < best - minDelta;
        if (improved) {
          best = value;
          sinceBest = 0;
          if (early.restoreBestWeights ?? true) bestWeights = model.params.values.toFloat32Array();
        } else if (++sinceBest >= patience) {
          if (bestWeights) model.params.values.write(bestWeights, true);
          history.stopped = "earlyStopping";
          return history;
        }
      }
    }
    return history;
  } finally {
    batcher.dispose();
    trainer.dispose();
    if (!options.optimizer) optimizer.dispose();
  }
}
