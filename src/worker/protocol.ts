// The messages between trainInWorker (the main thread) and serveTrainingWorker (the worker),
// and one small port type over the two kinds of worker: the web's Worker (browsers, Deno,
// Bun) and Node's worker_threads. Everything sent is plain data and typed arrays.
import { scheduleFromSpec, type ScheduleSpec } from "../train/schedules.js";
import { UnfoldError } from "../engine/index.js";
import type { OptimizerState } from "../train/optimizers.js";
import type { EarlyStoppingOptions, History, Logs, Metric } from "../train/fit.js";
import type { Seq2SeqData, Seq2SeqFitOptions, Seq2SeqLogs } from "../models/seq2seq.js";

/** Training data as typed arrays with shapes (batch-major), as a SequenceDataset holds it. */
export interface PlainData {
  x: { data: Float32Array | Int32Array; shape: number[] };
  y: { data: Float32Array | Int32Array; shape: number[] };
  lengths?: Int32Array;
  context?: { data: Float32Array; shape: number[] };
}

/** The fit() options that are plain data. */
export interface PlainFitOptions {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  validationSplit?: number;
  metrics?: Metric[];
  earlyStopping?: EarlyStoppingOptions;
  initialEpoch?: number;
  yieldEveryMs?: number;
  tbptt?: number;
  teacherForcing?: boolean;
  scheduledSampling?: PlainScheduledSampling;
}

/** A function cannot cross to a worker; a built-in schedule crosses as its description. */
export type PlainSchedule = number | { schedule: ScheduleSpec };

/** Scheduled sampling as data: its probability a number or a built-in schedule's description. */
export interface PlainScheduledSampling {
  probability: PlainSchedule;
  from?: "sample" | "argmax";
}

/** A number, or the schedule a PlainSchedule describes. */
export function scheduleOf(value: PlainSchedule): number | ((step: number) => number) {
  return typeof value === "number" ? value : scheduleFromSpec(value.schedule);
}

/** Sequences of token ids packed into one array: sequence i is ids[ends[i−1] .. ends[i]). */
export interface PackedSequences {
  ids: Int32Array;
  ends: Int32Array;
}

/** Seq2Seq training pairs (Seq2SeqData) as packed arrays. */
export interface PlainPairs {
  source: PackedSequences;
  target: PackedSequences;
}

/** The Seq2Seq fit() options that are plain data (a scheduled-sampling probability only as a number). */
export interface PlainSeq2SeqFitOptions {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  exactMatch?: boolean;
  scheduledSampling?: PlainScheduledSampling;
  yieldEveryMs?: number;
}

/** What a Seq2Seq model's onBatchEnd receives. */
export type Seq2SeqBatchLogs = Parameters<NonNullable<Seq2SeqFitOptions["onBatchEnd"]>>[1];

/** An optimizer as data: its class, its options (numbers only), and its state. */
export interface OptimizerDescription {
  name: string;
  options: Record<string, unknown>;
  state: OptimizerState;
}

/** What training leaves, sent back with "done" (and with "error", when the model was built). */
export interface TrainedState {
  weights: Record<string, Float32Array>;
  rng: number[];
  optimizer: OptimizerState | null;
}

/** What to train, as either kind of model. */
export type TrainMessage =
  | {
      type: "train";
      kind: "sequential";
      /** The model as `Sequential.save()` writes it: architecture, weights, RNG state. */
      model: Uint8Array;
      data: PlainData;
      validationData: PlainData | null;
      fit: PlainFitOptions;
      optimizer: OptimizerDescription | null;
      /** Send a copy of the weights with every "epoch" message. */
      sendWeights: boolean;
    }
  | {
      type: "train";
      kind: "seq2seq";
      /** The model as `Seq2Seq.save()` writes it: architecture and weights. */
      model: Uint8Array;
      /** Its generator's state, which `save()` does not keep (shuffling, dropout and scheduled sampling draw from it). */
      rng: number[];
      data: PlainPairs;
      validationData: PlainPairs | null;
      fit: PlainSeq2SeqFitOptions;
      optimizer: OptimizerDescription;
      sendWeights: boolean;
    };

export type ToWorker = TrainMessage | { type: "cancel" };

export type FromWorker =
  | { type: "ready" }
  | { type: "batch"; epoch: number; batch: number; logs: Logs | Seq2SeqBatchLogs }
  | { type: "epoch"; epoch: number; logs: Logs | Seq2SeqLogs; weights?: Record<string, Float32Array> }
  | ({ type: "done"; history: History | Seq2SeqLogs[] } & TrainedState)
  | ({ type: "error"; name: string; message: string } & Partial<TrainedState>);

/** One end of the channel, whichever kind of worker carries it. */
export interface Port {
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  onMessage(handler: (message: unknown) => void): void;
  /** Called once if the worker fails outside the protocol (a script that does not load, a crash, an exit). */
  onFailure(handler: (message: string) => void): void;
  terminate(): void;
}

/** What `createWorker` may return: a web Worker, or a Node worker_threads Worker. */
export interface WebWorkerLike {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: "message" | "error" | "messageerror", listener: (event: { data?: unknown; message?: string; preventDefault?: () => void }) => void): void;
  terminate(): void;
}
export interface NodeWorkerLike {
  postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void;
  on(event: "message" | "error" | "exit" | "messageerror", listener: (value: unknown) => void): unknown;
  terminate(): unknown;
}
export type WorkerLike = WebWorkerLike | NodeWorkerLike;

function isNodeWorker(w: WorkerLike): w is NodeWorkerLike {
  return typeof (w as NodeWorkerLike).on === "function" && typeof (w as WebWorkerLike).addEventListener !== "function";
}

/** The main thread's end of a worker. */
export function workerPort(worker: WorkerLike): Port {
  let failed = false;
  let failure: (message: string) => void = () => {};
  const fail = (message: string) => {
    if (failed) return;
    failed = true;
    failure(message);
  };
  if (isNodeWorker(worker)) {
    worker.on("error", (e) => fail((e as Error)?.message ?? String(e)));
    worker.on("messageerror", (e) => fail(`a message from the worker could not be read: ${String(e)}`));
    worker.on("exit", (code) => fail(`the worker exited (code ${String(code)})`));
    return {
      post: (m, transfer) => worker.postMessage(m, transfer),
      onMessage: (h) => void worker.on("message", h),
      onFailure: (h) => (failure = h),
      terminate: () => {
        failed = true;
        void worker.terminate();
      },
    };
  }
  worker.addEventListener("error", (e) => {
    // Handled here: without this, Deno ends the whole program on a worker's uncaught error.
    e.preventDefault?.();
    fail(e.message ?? "the worker failed (its script did not load, or it threw)");
  });
  worker.addEventListener("messageerror", () => fail("a message from the worker could not be read"));
  return {
    post: (m, transfer) => worker.postMessage(m, transfer ?? []),
    onMessage: (h) => worker.addEventListener("message", (e) => h(e.data)),
    onFailure: (h) => (failure = h),
    terminate: () => {
      failed = true;
      worker.terminate();
    },
  };
}

/** The ArrayBuffers of typed arrays, to transfer instead of copy (each only once). */
export function buffersOf(arrays: Iterable<ArrayBufferView>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of arrays) if (a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  return [...out];
}

/**
 * Seq2Seq pairs as packed arrays, every token checked first (a whole number inside its
 * vocabulary; a source not empty), so what crosses to the worker is exactly what fit() would read.
 */
export function packPairs(data: Seq2SeqData, vocab: { source: number; target: number }, what: string): PlainPairs {
  if (!data || typeof data !== "object" || !Array.isArray(data.source) || !Array.isArray(data.target)) throw new UnfoldError(`${what} must be { source: number[][], target: number[][] }`);
  for (const key of Object.keys(data)) if (key !== "source" && key !== "target") throw new UnfoldError(`${what}: unknown field "${key}" (known: source, target)`);
  if (data.source.length !== data.target.length) throw new UnfoldError(`${what}: ${data.source.length} sources but ${data.target.length} targets`);
  if (data.source.length === 0) throw new UnfoldError(`${what} holds no pairs`);
  return { source: pack(data.source, vocab.source, `${what}: source`, 1), target: pack(data.target, vocab.target, `${what}: target`, 0) };
}

function pack(sequences: readonly ArrayLike<number>[], vocab: number, what: string, minLength: number): PackedSequences {
  const ends = new Int32Array(sequences.length);
  let total = 0;
  sequences.forEach((s, i) => {
    if (!s || typeof s !== "object" || typeof s.length !== "number") throw new UnfoldError(`${what} ${i} is not an array of token ids`);
    if (s.length < minLength) throw new UnfoldError(`${what} ${i} is empty; every source needs at least one token`);
    for (let j = 0; j < s.length; j++) {
      const id = s[j];
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new UnfoldError(`${what} ${i}, token ${j} is ${id}, outside the vocabulary [0, ${vocab - 1}]`);
    }
    total += s.length;
    ends[i] = total;
  });
  const ids = new Int32Array(total);
  sequences.forEach((s, i) => ids.set(s, i ? ends[i - 1] : 0));
  return { ids, ends };
}

/** The pairs again, each sequence a view into the packed arrays. */
export function unpackPairs(pairs: PlainPairs): Seq2SeqData {
  const unpack = ({ ids, ends }: PackedSequences) => Array.from(ends, (end, i) => ids.subarray(i ? ends[i - 1] : 0, end));
  return { source: unpack(pairs.source), target: unpack(pairs.target) };
}
