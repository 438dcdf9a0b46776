// Training off the main thread: trainInWorker (this thread) and serveTrainingWorker (the worker).
export {
  trainInWorker, type WorkerTrainingOptions, type Seq2SeqWorkerTrainingOptions, type WorkerHooks, type Seq2SeqBatchLogs, type WorkerLike,
} from "./train-in-worker.js";
export { serveTrainingWorker } from "./serve.js";
