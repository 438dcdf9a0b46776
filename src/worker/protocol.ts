// The messages between trainInWorker (the main thread) and serveTrainingWorker (the worker),
// and one small port type over the two kinds of worker: the web's Worker (browsers, Deno,
// Bun) and Node's worker_threads. Everything sent is plain data and typed arrays.
import type { OptimizerState } from "../train/optimizers.js";
import type { EarlyStoppingOptions, History, Logs, Metric } from "../train/fit.js";

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
}

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

export type ToWorker =
  | {
      type: "train";
      /** The model as `Sequential.save()` writes it: architecture, weights, RNG state. */
      model: Uint8Array;
      data: PlainData;
      validationData: PlainData | null;
      fit: PlainFitOptions;
      optimizer: OptimizerDescription | null;
      /** Send a copy of the weights with every "epoch" message. */
      sendWeights: boolean;
    }
  | { type: "cancel" };

export type FromWorker =
  | { type: "ready" }
  | { type: "batch"; epoch: number; batch: number; logs: Logs }
  | { type: "epoch"; epoch: number; logs: Logs; weights?: Record<string, Float32Array> }
  | ({ type: "done"; history: History } & TrainedState)
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
