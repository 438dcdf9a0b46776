// The page's training worker. In a bundled app the worker is a module of the app's own, so
// the bundler can see it (Vite: `new Worker(new URL(...), { type: "module" })`); all it does
// is hand the worker to Unfold.
import { serveTrainingWorker } from "unfold";

serveTrainingWorker();
