// node / bun / deno run --allow-read: trainInWorker through the ESM build.
import * as unfold from "../../dist/index.js";
import { workerCheck } from "./worker-check.mjs";

await workerCheck(unfold);
