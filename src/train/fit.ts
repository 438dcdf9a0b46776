// The training loop: batches (seeded shuffling), forward, loss, BPTT, optimizer step,
// metrics, validation, callbacks, early stopping, cancellation, and a guard that refuses a
// step whose loss or gradients are not finite. It yields to the event loop as it goes, so a
// page stays responsive while a model trains on its main thread.
import { Tensor, UnfoldError, Workspace, formatShape } from "../engine/index.js";
import { SequenceDataset, type ArrayInput } from "../data/dataset.js";
import { Embedding, checkTokenIds } from "../layers/embedding.js";
import type { BatchOptions, Sequential } from "../models/sequential.js";
import { Adam, type Optimizer } from "./optimizers.js";

export type Metric = "accuracy" | "perplexity";

/**
 * Training data: arrays (batch-major x [N, T, F], or [N, T] token ids for a model that starts
 * with an Embedding; targets; optionally per-sample `lengths` [N] and a `context` [N, size])
 * or a prepared dataset.
 */
export type TrainingData = { x: ArrayInput; y: ArrayInput; lengths?: ArrayLike<number>; context?: ArrayInput } | SequenceDataset;

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
  validationData?: TrainingData;
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
}

export interface History {
  /** Logs of every completed epoch. */
  epochs: Logs[];
  /** Why training ended before `epochs`, if it did. */
  stopped?: "earlyStopping" | "aborted";
}

const KNOWN: readonly string[] = ["epochs", "batchSize", "optimizer", "shuffle", "validationData", "validationSplit", "metrics", "earlyStopping", "initialEpoch", "signal", "onBatchEnd", "onEpochEnd", "yieldEveryMs"];

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
  if (model.inputDType === "int32") {
    if (!ds.tokens) throw new UnfoldError(`${what}: the model starts with an Embedding and takes token ids x [N, T], got x ${formatShape(ds.xShape)}`);
    const T = ds.steps;
    checkTokenIds(ds.x, (model.layers[0] as Embedding).vocab, what, (i) => `x[${Math.floor(i / T)}][${i % T}]`);
  } else {
    if (ds.tokens) throw new UnfoldError(`${what}: x ${formatShape(ds.xShape)} holds token ids, but the model takes feature vectors [N, T, ${model.inputSize}] (start it with an Embedding to take tokens)`);
    if (ds.features !== model.inputSize) throw new UnfoldError(`${what}: x has ${ds.features} features per step, the model takes ${model.inputSize}`);
  }
  if ((ds.y instanceof Int32Array) !== (targetType(model) === "int32")) throw new UnfoldError(`${what}: ${model.loss!.name} needs ${targetType(model)} targets`);
  const S = model.context?.size ?? 0;
  if (S && !ds.context) throw new UnfoldError(`${what}: the model is conditioned on a context of ${S} values per sample; give context [N, ${S}] with the data`);
  if (!S && ds.context) throw new UnfoldError(`${what}: the data has a context, but the model takes none (build it with { context: { size, mode } })`);
  if (S && ds.contextSize !== S) throw new UnfoldError(`${what}: context has ${ds.contextSize} values per sample, the model takes ${S}`);
  return ds;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** One batch, time-major, with what the model takes besides x. */
interface Batch {
  x: Tensor;
  y: Tensor;
  options: BatchOptions;
}

/** Makes the batches of `ds`, reusing the batch tensors (same shapes, same memory). */
class Batcher {
  private readonly ws = new Workspace();
  constructor(private readonly ds: SequenceDataset) {}

  batch(indices: Int32Array): Batch {
    const ds = this.ds;
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
    return { x, y, options };
  }

  dispose(): void {
    this.ws.dispose();
  }
}

/**
 * Sums a batch's metrics into `acc` (correct predictions, counted rows, summed loss), from the
 * model's last forward: steps past the samples' lengths are not counted.
 */
function accumulateMetrics(model: Sequential, y: Tensor, acc: { correct: number; rows: number; lossSum: number; weight: number }, accuracy = true): void {
  const loss = model.loss!;
  acc.lossSum += loss.lastSum;
  acc.rows += loss.lastCount;
  acc.weight += loss.lastDivisor;
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

function metricLogs(model: Sequential, metrics: Metric[], acc: { correct: number; rows: number; lossSum: number; weight: number }): Partial<Logs> {
  const out: Partial<Logs> = {};
  if (metrics.includes("accuracy")) out.accuracy = acc.correct / Math.max(acc.rows, 1);
  // exp of the mean cross-entropy per predicted token, whatever the loss reduction.
  if (metrics.includes("perplexity")) out.perplexity = Math.exp(acc.lossSum / Math.max(acc.rows, 1));
  return out;
}

/** Mean loss and metrics over `data`, in inference mode, without touching the weights. */
export function evaluate(model: Sequential, data: TrainingData, options: { batchSize?: number; metrics?: Metric[] } = {}): Logs {
  const ds = asDataset(model, data, "evaluate data");
  const batchSize = options.batchSize ?? 32;
  const metrics = options.metrics ?? [];
  const batcher = new Batcher(ds);
  const acc = { correct: 0, rows: 0, lossSum: 0, weight: 0 };
  try {
    for (let start = 0; start < ds.size; start += batchSize) {
      const idx = Int32Array.from({ length: Math.min(batchSize, ds.size - start) }, (_, i) => start + i);
      const { x, y, options: extras } = batcher.batch(idx);
      model.computeLoss(x, y, extras);
      accumulateMetrics(model, y, acc, metrics.includes("accuracy"));
    }
  } finally {
    batcher.dispose();
  }
  // Weighted by each batch's divisor, so a short last batch counts for what it holds.
  return { loss: acc.lossSum / Math.max(acc.weight, 1), ...metricLogs(model, metrics, acc) };
}

/**
 * Trains `model` on `data`. Resolves with the history when the epochs are done, early
 * stopping triggers, or `signal` aborts. A batch whose loss or gradient is not finite is
 * not applied: the weights keep their last good values and fit rejects with an error that
 * names the epoch and batch.
 */
export async function fit(model: Sequential, data: TrainingData, options: FitOptions = {}): Promise<History> {
  for (const key of Object.keys(options)) if (!KNOWN.includes(key)) throw new UnfoldError(`fit: unknown option "${key}" (known: ${KNOWN.join(", ")})`);
  const epochs = options.epochs ?? 1;
  const batchSize = options.batchSize ?? 32;
  const initialEpoch = options.initialEpoch ?? 0;
  if (!Number.isInteger(epochs) || epochs < 0) throw new UnfoldError(`fit: epochs must be a whole number >= 0, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UnfoldError(`fit: batchSize must be a whole number >= 1, got ${batchSize}`);
  if (!Number.isInteger(initialEpoch) || initialEpoch < 0) throw new UnfoldError(`fit: initialEpoch must be a whole number >= 0, got ${initialEpoch}`);
  const metrics = options.metrics ?? [];
  for (const m of metrics) if (m !== "accuracy" && m !== "perplexity") throw new UnfoldError(`fit: unknown metric "${String(m)}" (known: accuracy, perplexity)`);
  let ds = asDataset(model, data, "training data");
  if (metrics.length && model.loss!.name !== "softmaxCrossEntropy") throw new UnfoldError(`fit: metrics ${metrics.join(", ")} need a softmaxCrossEntropy loss, the model uses ${model.loss!.name}`);
  let validation = options.validationData ? asDataset(model, options.validationData, "validationData") : null;
  if (options.validationSplit !== undefined) {
    const split = options.validationSplit;
    if (validation) throw new UnfoldError("fit: give validationData or validationSplit, not both");
    if (!(split > 0 && split < 1)) throw new UnfoldError(`fit: validationSplit must be in (0, 1), got ${split}`);
    const nVal = Math.floor(ds.size * split);
    if (nVal < 1 || nVal >= ds.size) throw new UnfoldError(`fit: validationSplit ${split} of ${ds.size} samples leaves no training or no validation data`);
    const all = Int32Array.from({ length: ds.size }, (_, i) => i);
    validation = ds.subset(all.subarray(ds.size - nVal));
    ds = ds.subset(all.subarray(0, ds.size - nVal));
  }
  const optimizer = options.optimizer ?? new Adam({ lr: 1e-3 });
  const early = options.earlyStopping;
  const monitor = early?.monitor ?? (validation ? "valLoss" : "loss");
  const patience = early?.patience ?? 5;
  const minDelta = early?.minDelta ?? 0;
  const maximize = monitor === "accuracy" || monitor === "valAccuracy";
  let best = maximize ? -Infinity : Infinity;
  let bestWeights: Float32Array | null = null;
  let sinceBest = 0;
  const yieldEvery = options.yieldEveryMs ?? 25;
  let lastYield = performance.now();

  const history: History = { epochs: [] };
  const batcher = new Batcher(ds);
  try {
    for (let epoch = initialEpoch; epoch < initialEpoch + epochs; epoch++) {
      const started = performance.now();
      const order = Int32Array.from({ length: ds.size }, (_, i) => i);
      if (options.shuffle ?? true) model.rng.shuffle(order);
      let normTotal = 0;
      let batches = 0;
      let lr = 0;
      const acc = { correct: 0, rows: 0, lossSum: 0, weight: 0 };
      for (let start = 0; start < ds.size; start += batchSize) {
        if (options.signal?.aborted) {
          history.stopped = "aborted";
          return history;
        }
        const batchIndex = batches;
        const { x, y, options: extras } = batcher.batch(order.subarray(start, Math.min(start + batchSize, ds.size)));
        const loss = model.lossAndGradients(x, y, extras);
        if (!Number.isFinite(loss)) {
          throw new UnfoldError(`fit: the loss of epoch ${epoch}, batch ${batchIndex} is ${loss}; that batch was not applied and the weights keep their last good values — try a lower learning rate or gradient clipping (clipNorm)`);
        }
        accumulateMetrics(model, y, acc, metrics.includes("accuracy"));
        lr = optimizer.lr;
        let gradNorm: number;
        try {
          gradNorm = optimizer.step(model.params).gradNorm;
        } catch (e) {
          throw new UnfoldError(`fit: epoch ${epoch}, batch ${batchIndex}: ${(e as Error).message}`);
        }
        normTotal += gradNorm;
        batches++;
        if (options.onBatchEnd) await options.onBatchEnd(batchIndex, { loss, gradNorm, lr });
        if (performance.now() - lastYield >= yieldEvery) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
      }
      const logs: Logs = { loss: acc.lossSum / Math.max(acc.weight, 1), ...metricLogs(model, metrics, acc), gradNorm: normTotal / Math.max(batches, 1), lr };
      if (validation) {
        const v = evaluate(model, validation, { batchSize, metrics });
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
    if (!options.optimizer) optimizer.dispose();
  }
}
