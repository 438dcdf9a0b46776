// A worker module of the user's own, as a bundled app writes one: trainInWorker's createWorker returns a worker running it.
import { serveTrainingWorker } from "../../dist/index.js";

serveTrainingWorker();
