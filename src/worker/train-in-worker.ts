// fit() off the main thread, for a Sequential or a Seq2Seq model. A model cannot cross to a
// worker (its memory is this thread's wasm instance), so trainInWorker sends what makes it —
// the model as `save()` writes it (architecture, weights, and the RNG state) and the
// optimizer's options and state — with the data; the worker loads the same model, runs that
// model's fit(), streams its logs back, and returns what training left, which is written into
// the model here. Training in the worker gives the bits fit() would give on this thread.
import { scheduleSpec } from "../train/schedules.js";
import { UnfoldError } from "../engine/index.js";
import { SequenceDataset } from "../data/dataset.js";
import { Sequential } from "../models/sequential.js";
import { Seq2Seq, type Seq2SeqData, type Seq2SeqFitOptions, type Seq2SeqLogs } from "../models/seq2seq.js";
import type { FitOptions, History, Logs, TrainingData } from "../train/fit.js";
import type { Optimizer } from "../train/optimizers.js";
import type { ParamStore } from "../engine/index.js";
import {
  buffersOf, packPairs, workerPort,
  type FromWorker, type OptimizerDescription, type PlainData, type PlainFitOptions, type PlainSchedule, type PlainScheduledSampling, type PlainSeq2SeqFitOptions, type Port, type Seq2SeqBatchLogs, type ToWorker, type TrainMessage, type WorkerLike,
} from "./protocol.js";
import { OPTIMIZERS, nodeBuiltin } from "./serve.js";

export type { WorkerLike, Seq2SeqBatchLogs } from "./protocol.js";

/** The options trainInWorker adds to a model's fit options, for either kind of model. */
export interface WorkerHooks<BatchLogs, EpochLogs> {
  /** Called on this thread with each batch's logs, as the worker sends them (not awaited). */
  onBatchEnd?: (batch: number, logs: BatchLogs) => void;
  /** Called on this thread with each epoch's logs (not awaited). */
  onEpochEnd?: (epoch: number, logs: EpochLogs) => void;
  /**
   * Called after every epoch with a copy of the weights the worker holds then, by name (as
   * `getWeights()` gives them): load them into a second model to sample while training goes
   * on. The weights are sent only when this is given.
   */
  onWeights?: (weights: Record<string, Float32Array>, epoch: number) => void;
  /**
   * Makes the worker. By default Unfold starts one itself — a module Worker in browsers, Deno
   * and Bun, a worker_threads Worker in Node — that loads this same module by its URL. A
   * bundled app, whose bundle is not that module, gives a worker of its own whose module calls
   * `serveTrainingWorker()`:
   * `() => new Worker(new URL("./training-worker.js", import.meta.url), { type: "module" })`.
   * In Deno the default worker reads Unfold's file, so it needs read permission (--allow-read).
   * Called once per trainInWorker call; the worker is terminated when training ends.
   */
  createWorker?: () => WorkerLike;
}

/** trainInWorker's options for a Sequential: fit()'s plain options, plus the worker's hooks. */
export interface WorkerTrainingOptions extends Omit<FitOptions, "onBatchEnd" | "onEpochEnd">, WorkerHooks<Logs, Logs> {}

/**
 * trainInWorker's options for a Seq2Seq: Seq2Seq.fit()'s options, plus the worker's hooks.
 * A scheduled-sampling probability must be a number (a function cannot cross to a worker).
 */
export interface Seq2SeqWorkerTrainingOptions extends Omit<Seq2SeqFitOptions, "onBatchEnd" | "onEpochEnd">, WorkerHooks<Seq2SeqBatchLogs, Seq2SeqLogs> {}

const HOOK_KEYS = ["signal", "onBatchEnd", "onEpochEnd", "onWeights", "createWorker"];
const PLAIN_FIT_KEYS = ["epochs", "batchSize", "shuffle", "validationSplit", "metrics", "earlyStopping", "initialEpoch", "yieldEveryMs", "tbptt", "teacherForcing"] as const;
const KNOWN = [...PLAIN_FIT_KEYS, "scheduledSampling", "optimizer", "validationData", ...HOOK_KEYS];
const PLAIN_SEQ2SEQ_FIT_KEYS = ["epochs", "batchSize", "shuffle", "exactMatch", "yieldEveryMs"] as const;
const KNOWN_SEQ2SEQ = [...PLAIN_SEQ2SEQ_FIT_KEYS, "scheduledSampling", "optimizer", "validationData", ...HOOK_KEYS];

function checkKnown(options: object, known: readonly string[], model: string): void {
  if (!options || typeof options !== "object") throw new UnfoldError(`trainInWorker: options must be an object, got ${options === null ? "null" : typeof options}`);
  for (const key of Object.keys(options)) if (!known.includes(key)) throw new UnfoldError(`trainInWorker: unknown option "${key}" for a ${model} (known: ${known.join(", ")})`);
}

/** The options among `keys` that are given, as a plain object. */
function pick<K extends string>(options: Partial<Record<K, unknown>>, keys: readonly K[]): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = {};
  for (const key of keys) if (options[key] !== undefined) out[key] = options[key];
  return out;
}

function toPlainData(model: Sequential, data: TrainingData, what: string): PlainData {
  if (!model.loss) throw new UnfoldError("trainInWorker: the model has no loss; pass { loss } to the Sequential constructor");
  let ds: SequenceDataset;
  if (data instanceof SequenceDataset) ds = data;
  else if (data && typeof data === "object" && "x" in data && "y" in data) {
    for (const key of Object.keys(data)) if (!["x", "y", "lengths", "context"].includes(key)) throw new UnfoldError(`${what}: unknown field "${key}" (known: x, y, lengths, context)`);
    // Validated and flattened here (errors come from this thread), checked against the model in the worker by fit.
    ds = new SequenceDataset(data.x, data.y, model.loss.name === "softmaxCrossEntropy" ? "int32" : "float32", { lengths: data.lengths, context: data.context });
  } else {
    throw new UnfoldError(`${what} must be { x, y } or a SequenceDataset`);
  }
  const plain: PlainData = { x: { data: ds.x, shape: [...ds.xShape] }, y: { data: ds.y, shape: [...ds.yShape] } };
  if (ds.lengths) plain.lengths = ds.lengths;
  if (ds.context) plain.context = { data: ds.context, shape: [ds.size, ds.contextSize] };
  return plain;
}

/** The optimizer as data; it is bound to the model first (which throws if it belongs to another). */
function describeOptimizer(model: { params: ParamStore }, optimizer: Optimizer): OptimizerDescription {
  if (!(optimizer.name in OPTIMIZERS) || OPTIMIZERS[optimizer.name] !== optimizer.constructor) {
    throw new UnfoldError(`trainInWorker: the optimizer ${optimizer.name} cannot be rebuilt in a worker (known: ${Object.keys(OPTIMIZERS).join(", ")})`);
  }
  const lr = plainSchedule(optimizer.options.lr, "the optimizer's learning rate", "fit()");
  optimizer.bind(model.params);
  const options: Record<string, unknown> = {};
  // Resolved options, without the nulls that mean "off" (the constructors take those as absent).
  for (const [key, value] of Object.entries(optimizer.options)) if (value !== null) options[key] = Array.isArray(value) ? [...value] : value;
  options.lr = lr;
  return { name: optimizer.name, options, state: optimizer.getState() };
}

/** The worker Unfold starts by default (it loads this module by URL and serves), and what to free when it is done. */
async function defaultWorker(): Promise<{ worker: WorkerLike; release: () => void }> {
  const url = import.meta.url;
  const WebWorker = (globalThis as { Worker?: new (url: string, options: object) => WorkerLike }).Worker;
  if (typeof WebWorker === "function") {
    // Browsers, Deno, Bun: a module worker from a two-line module that imports this one.
    const source = `import { serveTrainingWorker } from ${JSON.stringify(url)};\nserveTrainingWorker();\n`;
    const blobUrl = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    return { worker: new WebWorker(blobUrl, { type: "module", name: "unfold-training" }), release: () => URL.revokeObjectURL(blobUrl) };
  }
  // Node: worker_threads, evaluating a script that imports this module (ESM or CJS build) by URL.
  const threads = await nodeBuiltin<{ Worker: new (code: string, options: object) => WorkerLike }>("node:worker_threads");
  const source = `import(${JSON.stringify(url)}).then((m) => m.serveTrainingWorker()).catch((e) => { require("node:worker_threads").parentPort.postMessage({ type: "error", name: "Error", message: "could not load Unfold in the worker from ${url}: " + (e && e.message) }); });`;
  return { worker: new threads.Worker(source, { eval: true, name: "unfold-training" }), release: () => {} };
}

function failure(name: string, message: string): Error {
  return name === "UnfoldError" ? new UnfoldError(message) : Object.assign(new Error(message), { name });
}

/**
 * A number, or a schedule as data: a built-in schedule (cosineDecay, linearRamp, …) crosses to
 * the worker as its description; a function of the caller's own cannot, and is refused.
 */
function plainSchedule(value: number | ((step: number) => number), what: string, fitName: string): PlainSchedule {
  if (typeof value !== "function") return value;
  const spec = scheduleSpec(value);
  if (!spec) {
    throw new UnfoldError(`trainInWorker: ${what} is a function of your own, which cannot be sent to a worker; use a number or a built-in schedule (stepDecay, exponentialDecay, cosineDecay, warmup, linearRamp), or train with ${fitName}`);
  }
  return { schedule: spec };
}

/** Scheduled sampling as data, or nothing. */
function plainScheduledSampling(ss: { probability: number | ((step: number) => number); from?: "sample" | "argmax" } | undefined, fitName: string): { scheduledSampling?: PlainScheduledSampling } {
  if (ss === undefined) return {};
  if (!ss || typeof ss !== "object") throw new UnfoldError("trainInWorker: scheduledSampling must be { probability, from? }");
  // The rest (unknown keys, the probability's range, `from`) fit checks in the worker, as on this thread.
  return { scheduledSampling: { ...ss, probability: plainSchedule(ss.probability, "scheduledSampling.probability", fitName) } as PlainScheduledSampling };
}

/** The message that trains a Sequential, checked here. */
function sequentialMessage(model: Sequential, data: TrainingData, options: WorkerTrainingOptions): TrainMessage {
  checkKnown(options, KNOWN, "Sequential");
  return {
    type: "train",
    kind: "sequential",
    model: model.save(),
    data: toPlainData(model, data, "training data"),
    validationData: options.validationData ? toPlainData(model, options.validationData as TrainingData, "validationData") : null,
    fit: { ...pick(options, PLAIN_FIT_KEYS), ...plainScheduledSampling(options.scheduledSampling, "fit()") } as PlainFitOptions,
    optimizer: options.optimizer ? describeOptimizer(model, options.optimizer) : null,
    sendWeights: typeof options.onWeights === "function",
  };
}

/** The message that trains a Seq2Seq, checked here: functions (a sampling schedule) cannot cross to the worker, so they are refused. */
function seq2seqMessage(model: Seq2Seq, data: Seq2SeqData, options: Seq2SeqWorkerTrainingOptions): TrainMessage {
  checkKnown(options, KNOWN_SEQ2SEQ, "Seq2Seq");
  if (!options.optimizer) throw new UnfoldError("trainInWorker: a Seq2Seq needs { optimizer } (e.g. new Adam({ lr: 1e-3, clipNorm: 1 })), as Seq2Seq.fit does");
  const fit = { ...pick(options, PLAIN_SEQ2SEQ_FIT_KEYS), ...plainScheduledSampling(options.scheduledSampling, "Seq2Seq.fit()") } as PlainSeq2SeqFitOptions;
  const vocab = { source: model.sourceVocab, target: model.targetVocab };
  return {
    type: "train",
    kind: "seq2seq",
    model: model.save(),
    rng: model.rng.getState(),
    data: packPairs(data, vocab, "trainInWorker: training data"),
    validationData: options.validationData ? packPairs(options.validationData, vocab, "trainInWorker: validationData") : null,
    fit,
    optimizer: describeOptimizer(model, options.optimizer),
    sendWeights: typeof options.onWeights === "function",
  };
}

/** The typed arrays of a message, to transfer rather than copy (they were made for it). */
function messageBuffers(message: TrainMessage): ArrayBuffer[] {
  if (message.kind === "sequential") return buffersOf([message.model]);
  const pairs = [message.data, ...(message.validationData ? [message.validationData] : [])];
  return buffersOf([message.model, ...pairs.flatMap((p) => [p.source.ids, p.source.ends, p.target.ids, p.target.ends])]);
}

/**
 * Trains `model` — a Sequential, or a Seq2Seq — with its fit() in a worker, so this thread
 * stays free (a page keeps drawing and answering input). Takes the data and options that
 * model's fit takes (`fit(model, data, options)`, or `seq2seq.fit(data, options)`), plus
 * `onWeights` and `createWorker`; the callbacks run here as the worker's messages arrive.
 * Options that are functions — a learning-rate schedule, a scheduled-sampling schedule —
 * cannot cross to a worker and are refused. `signal` cancels: the worker stops after its
 * current batch and the promise resolves with what was done (a Sequential's history says
 * `stopped: "aborted"`). When training ends — done, stopped, or rejected by fit (e.g. a
 * non-finite loss) — the weights and RNG state it reached are written into `model`, and the
 * optimizer's state into `optimizer`, as fit() leaves them on this thread. Do not use the
 * model for anything else until the promise settles.
 */
export function trainInWorker(model: Sequential, data: TrainingData, options?: WorkerTrainingOptions): Promise<History>;
export function trainInWorker(model: Seq2Seq, data: Seq2SeqData, options: Seq2SeqWorkerTrainingOptions): Promise<Seq2SeqLogs[]>;
export async function trainInWorker(
  model: Sequential | Seq2Seq,
  data: TrainingData | Seq2SeqData,
  options: WorkerTrainingOptions | Seq2SeqWorkerTrainingOptions = {} as WorkerTrainingOptions,
): Promise<History | Seq2SeqLogs[]> {
  let message: TrainMessage;
  let aborted: History | Seq2SeqLogs[];
  if (model instanceof Seq2Seq) {
    message = seq2seqMessage(model, data as Seq2SeqData, options as Seq2SeqWorkerTrainingOptions);
    aborted = [];
  } else if (model instanceof Sequential) {
    message = sequentialMessage(model, data as TrainingData, options as WorkerTrainingOptions);
    aborted = { epochs: [], stopped: "aborted" };
  } else {
    throw new UnfoldError(`trainInWorker: the model must be a Sequential or a Seq2Seq, got ${model === null ? "null" : (model as object)?.constructor?.name ?? typeof model}`);
  }
  const hooks = options as WorkerHooks<Logs | Seq2SeqBatchLogs, Logs | Seq2SeqLogs> & { signal?: AbortSignal; optimizer?: Optimizer };
  const signal = hooks.signal;
  if (signal?.aborted) return aborted;
  return runInWorker(model, message, hooks);
}

/** Runs a checked message in a new worker and settles with the history it sends back. */
async function runInWorker(
  model: Sequential | Seq2Seq,
  message: TrainMessage,
  options: WorkerHooks<Logs | Seq2SeqBatchLogs, Logs | Seq2SeqLogs> & { signal?: AbortSignal; optimizer?: Optimizer },
): Promise<History | Seq2SeqLogs[]> {
  const signal = options.signal;
  const { worker, release } = options.createWorker ? { worker: options.createWorker(), release: () => {} } : await defaultWorker();
  const port: Port = workerPort(worker);
  return new Promise<History | Seq2SeqLogs[]>((resolve, reject) => {
    let settled = false;
    const onAbort = () => port.post({ type: "cancel" } satisfies ToWorker);
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      port.terminate();
      release();
      try {
        outcome();
      } catch (e) {
        reject(e);
      }
    };
    /** Writes what training left into the model (and the optimizer). */
    const apply = (state: { weights?: Record<string, Float32Array>; rng?: number[]; optimizer?: unknown }) => {
      if (!state.weights) return;
      try {
        model.setWeights(state.weights);
      } catch (e) {
        throw new UnfoldError(`trainInWorker: the trained weights could not be written into the model (was it disposed while it trained?): ${(e as Error).message}`);
      }
      if (state.rng) model.rng.setState(state.rng);
      if (state.optimizer && options.optimizer) options.optimizer.setState(state.optimizer as never);
    };
    port.onFailure((why) =>
      finish(() =>
        reject(
          new UnfoldError(
            `trainInWorker: the training worker failed: ${why}` +
              (options.createWorker || typeof document === "undefined" ? "" : ". In a bundled app, pass createWorker returning a worker whose module calls serveTrainingWorker() (see trainInWorker's documentation)"),
          ),
        ),
      ),
    );
    /** A callback's error: training stops (as fit stops when a callback throws) and trainInWorker rejects with it. */
    let callbackError: { error: unknown } | null = null;
    const call = (callback: () => void) => {
      if (callbackError) return;
      try {
        callback();
      } catch (error) {
        callbackError = { error };
        onAbort();
      }
    };
    port.onMessage((raw) => {
      const m = raw as FromWorker;
      switch (m.type) {
        case "ready":
          port.post(message, messageBuffers(message));
          signal?.addEventListener("abort", onAbort, { once: true });
          if (signal?.aborted) onAbort();
          break;
        case "batch":
          call(() => options.onBatchEnd?.(m.batch, m.logs));
          break;
        case "epoch":
          call(() => options.onEpochEnd?.(m.epoch, m.logs));
          call(() => m.weights && options.onWeights?.(m.weights, m.epoch));
          break;
        case "done":
          finish(() => {
            apply(m);
            if (callbackError) reject(callbackError.error);
            else resolve(m.history);
          });
          break;
        case "error":
          finish(() => {
            apply(m);
            reject(failure(m.name, m.message));
          });
          break;
      }
    });
  });
}
