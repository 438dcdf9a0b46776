// The worker's side of trainInWorker: receives a saved model (a Sequential or a Seq2Seq),
// data and fit options, runs that model's fit() on a model built from them, streams every batch's and epoch's logs back, stops
// after the current batch when asked, and sends back the weights, the RNG state and the
// optimizer state it ends with.
import { UnfoldError, init } from "../engine/index.js";
import { SGD, Adam, AdamW, RMSprop, Adagrad, type Optimizer } from "../train/optimizers.js";
import { fit, type FitOptions } from "../train/fit.js";
import type { Rng } from "../data/rng.js";
import { Sequential } from "../models/sequential.js";
import { Seq2Seq, type ScheduledSamplingOptions, type Seq2SeqFitOptions } from "../models/seq2seq.js";
import { buffersOf, scheduleOf, unpackPairs, type FromWorker, type PlainSchedule, type PlainScheduledSampling, type OptimizerDescription, type Port, type ToWorker, type TrainMessage, type TrainedState } from "./protocol.js";

type OptimizerClass = new (options: never) => Optimizer;
/** The optimizers a worker can rebuild, by their `name`. */
export const OPTIMIZERS: Record<string, OptimizerClass> = { SGD, Adam, AdamW, RMSprop, Adagrad };

function buildOptimizer(d: OptimizerDescription): Optimizer {
  const Class = OPTIMIZERS[d.name];
  if (!Class) throw new UnfoldError(`cannot rebuild an optimizer named "${d.name}" in a worker (known: ${Object.keys(OPTIMIZERS).join(", ")})`);
  const optimizer = new Class({ ...d.options, lr: scheduleOf(d.options.lr as PlainSchedule) } as never);
  optimizer.setState(d.state);
  return optimizer;
}

/** Scheduled sampling with its probability made a number or a schedule again. */
function withSchedule(ss: PlainScheduledSampling | undefined): ScheduledSamplingOptions | undefined {
  return ss ? { ...ss, probability: scheduleOf(ss.probability) } : undefined;
}

/** What the worker needs of either kind of model. */
interface Trainable {
  readonly rng: Rng;
  getWeights(): Record<string, Float32Array>;
  dispose(): void;
}

function trainedState(model: Trainable, optimizer: Optimizer | null): TrainedState {
  return { weights: model.getWeights(), rng: model.rng.getState(), optimizer: optimizer ? optimizer.getState() : null };
}

function transfers(state: Partial<TrainedState>): ArrayBuffer[] {
  return buffersOf([...Object.values(state.weights ?? {}), ...Object.values(state.optimizer?.buffers ?? {})]);
}

async function train(message: TrainMessage, signal: AbortSignal, port: Port): Promise<void> {
  const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.post(m, transfer);
  let model: Trainable | null = null;
  let optimizer: Optimizer | null = null;
  try {
    await init();
    let epoch = (message.kind === "sequential" ? message.fit.initialEpoch : undefined) ?? 0;
    const callbacks = {
      signal,
      onBatchEnd: (batch: number, logs: Extract<FromWorker, { type: "batch" }>["logs"]) => send({ type: "batch", epoch, batch, logs }),
      onEpochEnd: (finished: number, logs: Extract<FromWorker, { type: "epoch" }>["logs"]) => {
        epoch = finished + 1;
        if (!message.sendWeights) return send({ type: "epoch", epoch: finished, logs });
        const weights = model!.getWeights();
        send({ type: "epoch", epoch: finished, logs, weights }, buffersOf(Object.values(weights)));
      },
    };
    let history: Extract<FromWorker, { type: "done" }>["history"];
    if (message.kind === "seq2seq") {
      const seq2seq = Seq2Seq.load(message.model).model;
      model = seq2seq;
      seq2seq.rng.setState(message.rng);
      optimizer = buildOptimizer(message.optimizer);
      const options: Seq2SeqFitOptions = { ...message.fit, scheduledSampling: withSchedule(message.fit.scheduledSampling), ...callbacks, optimizer };
      if (message.validationData) options.validationData = unpackPairs(message.validationData);
      history = await seq2seq.fit(unpackPairs(message.data), options);
    } else {
      const sequential = Sequential.load(message.model).model;
      model = sequential;
      optimizer = message.optimizer ? buildOptimizer(message.optimizer) : null;
      const options: FitOptions = { ...message.fit, scheduledSampling: withSchedule(message.fit.scheduledSampling), ...callbacks };
      if (optimizer) options.optimizer = optimizer;
      if (message.validationData) options.validationData = message.validationData;
      history = await fit(sequential, message.data, options);
    }
    const state = trainedState(model, optimizer);
    send({ type: "done", history, ...state }, transfers(state));
  } catch (e) {
    // Like fit on the main thread, a failed run keeps what it trained: the weights go back too.
    const state: Partial<TrainedState> = model ? trainedState(model, optimizer) : {};
    const error = e as Error;
    send({ type: "error", name: error instanceof UnfoldError ? "UnfoldError" : (error?.name ?? "Error"), message: error?.message ?? String(e), ...state }, transfers(state));
  } finally {
    model?.dispose();
    optimizer?.dispose();
  }
}

interface NodeWorkerThreads {
  parentPort: { postMessage(m: unknown, transfer?: readonly ArrayBuffer[]): void; on(event: "message", h: (m: unknown) => void): void } | null;
}

/** A Node built-in module, loaded without a static import (so bundlers for the web leave it alone). */
export async function nodeBuiltin<T>(name: string): Promise<T> {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof get === "function") return get(name) as T;
  return (await import(/* @vite-ignore */ name)) as T;
}

/** The worker's end of the channel: the web worker scope, else Node's parentPort. */
async function parentPort(): Promise<Port> {
  const scope = globalThis as unknown as { WorkerGlobalScope?: unknown; postMessage?: unknown; addEventListener?: unknown; process?: { versions?: { node?: string } } };
  const web = typeof scope.WorkerGlobalScope === "function" || (typeof scope.postMessage === "function" && typeof scope.addEventListener === "function" && !scope.process?.versions?.node);
  if (web) {
    const self = globalThis as unknown as { postMessage(m: unknown, transfer: ArrayBuffer[]): void; addEventListener(t: "message", h: (e: { data: unknown }) => void): void; close(): void };
    return {
      post: (m, transfer) => self.postMessage(m, transfer ?? []),
      onMessage: (h) => self.addEventListener("message", (e) => h(e.data)),
      onFailure: () => {},
      terminate: () => self.close(),
    };
  }
  const threads = await nodeBuiltin<NodeWorkerThreads>("node:worker_threads");
  const port = threads.parentPort;
  if (!port) throw new UnfoldError("serveTrainingWorker() must run in a worker (a web Worker or a Node worker_threads Worker), not on the main thread");
  return {
    post: (m, transfer) => port.postMessage(m, transfer),
    onMessage: (h) => port.on("message", h),
    onFailure: () => {},
    terminate: () => {},
  };
}

/**
 * Makes the current worker serve trainInWorker. The default worker trainInWorker starts
 * calls this itself; in a bundled app, give trainInWorker `createWorker` returning a worker
 * whose module is:
 *
 * ```ts
 * import { serveTrainingWorker } from "unfold";
 * serveTrainingWorker();
 * ```
 */
export async function serveTrainingWorker(): Promise<void> {
  const port = await parentPort();
  let controller: AbortController | null = null;
  port.onMessage((raw) => {
    const message = raw as ToWorker;
    if (message?.type === "cancel") controller?.abort();
    else if (message?.type === "train") {
      controller = new AbortController();
      void train(message, controller.signal, port);
    }
  });
  port.post({ type: "ready" } satisfies FromWorker);
}
