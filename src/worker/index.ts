// Training off the main thread: trainInWorker (this thread) and serveTrainingWorker (the worker).
export { trainInWorker, type WorkerTrainingOptions, type WorkerLike } from "./train-in-worker.js";
export { serveTrainingWorker } from "./serve.js";
