// `unfold train` (and the demo): generate a task, train a recurrent model on it with fit()
// and Adam, then show what it learned on held-out sequences.
import { writeFileSync } from "node:fs";
import { Adam, Dense, Elman, GRU, LSTM, Rng, Sequential, fit, init, saveCheckpoint, type RecurrentLayer } from "../index.js";
import { trainingProgress } from "./progress.js";
import { TASKS, type TaskName } from "./tasks.js";

export const CELL_NAMES = ["lstm", "gru", "elman"] as const;
export type CellName = (typeof CELL_NAMES)[number];

const CELLS: Readonly<Record<CellName, { label: string; make: (units: number) => RecurrentLayer }>> = {
  lstm: { label: "LSTM", make: (units) => new LSTM({ units, returnSequences: false }) },
  gru: { label: "GRU", make: (units) => new GRU({ units, returnSequences: false }) },
  elman: { label: "Elman", make: (units) => new Elman({ units, returnSequences: false }) },
};

export interface TrainConfig {
  task: TaskName;
  /** Sequence length T. */
  steps: number;
  units: number;
  cell: CellName;
  epochs: number;
  batchSize: number;
  lr: number;
  clipNorm: number;
  /** Training sequences; the held-out test set is generated alongside them. */
  samples: number;
  testSamples: number;
  seed: number;
  /** Checkpoint path, written after training. */
  save?: string;
  /** Test sequences printed at the end. */
  examples: number;
}

const grouped = (v: number) => v.toLocaleString("en-US");

export async function runTrain(config: TrainConfig, out: (line: string) => void = (line) => console.log(line)): Promise<void> {
  const started = performance.now();
  await init();
  const task = TASKS[config.task];
  // One seed drives everything: the data, then the weights and the shuffling.
  const seeds = new Rng(config.seed);
  const all = task.generate(config.samples + config.testSamples, config.steps, seeds.nextU32());
  const indices = Int32Array.from({ length: all.size }, (_, i) => i);
  const train = all.subset(indices.subarray(0, config.samples));
  const test = all.subset(indices.subarray(config.samples));

  const cell = CELLS[config.cell];
  const model = new Sequential([cell.make(config.units), new Dense({ units: task.outputs })], { inputSize: task.features, loss: task.loss, seed: seeds.nextU32() });
  const optimizer = new Adam({ lr: config.lr, clipNorm: config.clipNorm });
  const progress = trainingProgress({ epochs: config.epochs, samples: train.size, batchSize: config.batchSize });
  // The first Ctrl-C ends training after the current batch and still shows the results; a second one exits.
  const abort = new AbortController();
  const onInterrupt = () => abort.abort();
  process.once("SIGINT", onInterrupt);
  try {
    out(`model: ${cell.label}(${config.units}) → Dense(${task.outputs}), ${grouped(model.params.length)} parameters, ${task.loss} loss`);
    out(`data: ${grouped(train.size)} training and ${grouped(test.size)} test sequences of ${config.steps} steps`);
    out(`training: Adam, lr ${config.lr}, clip norm ${config.clipNorm}, batch size ${config.batchSize}, ${config.epochs} epoch${config.epochs === 1 ? "" : "s"}, seed ${config.seed}`);
    out("");
    const history = await fit(model, train, {
      epochs: config.epochs,
      batchSize: config.batchSize,
      optimizer,
      signal: abort.signal,
      onBatchEnd: progress.onBatchEnd,
      onEpochEnd: progress.onEpochEnd,
    }).finally(() => progress.stop());
    if (history.stopped === "aborted") out(`(stopped by Ctrl-C after ${history.epochs.length} full epochs)`);
    out("");
    for (const line of task.report(model, train, test, config.examples)) out(line);
    if (config.save) {
      writeFileSync(config.save, saveCheckpoint(model, optimizer, { epoch: history.epochs.length, step: optimizer.stepCount }));
      out("");
      out(`checkpoint written to ${config.save}`);
    }
    out("");
    out(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    process.removeListener("SIGINT", onInterrupt);
    model.dispose();
    optimizer.dispose();
  }
}
