// `unfold train` (and the demo): generate a task, train a recurrent model on it with fit()
// and Adam, then show what it learned on held-out sequences.
import { writeFileSync } from "node:fs";
import { Adam, Dense, Rng, Sequential, fit, init, saveCheckpoint } from "../index.js";
import { makeCell, runJob, sayWritten, type CellName, type JobConfig, type Out } from "./job.js";
import { trainingProgress } from "./progress.js";
import { TASKS, type TaskName } from "./tasks.js";

const CELL_LABELS: Readonly<Record<CellName, string>> = { lstm: "LSTM", gru: "GRU", elman: "Elman" };

export interface TrainConfig extends JobConfig {
  task: TaskName;
  /** Sequence length T. */
  steps: number;
  /** Training sequences; the held-out test set is generated alongside them. */
  samples: number;
  testSamples: number;
}

const grouped = (v: number) => v.toLocaleString("en-US");

export async function runTrain(config: TrainConfig, out: Out = (line) => console.log(line)): Promise<void> {
  await runJob(out, async (signal, own) => {
    await init();
    const task = TASKS[config.task];
    // One seed drives everything: the data, then the weights and the shuffling.
    const seeds = new Rng(config.seed);
    const all = task.generate(config.samples + config.testSamples, config.steps, seeds.nextU32());
    const indices = Int32Array.from({ length: all.size }, (_, i) => i);
    const train = all.subset(indices.subarray(0, config.samples));
    const test = all.subset(indices.subarray(config.samples));

    const model = own(new Sequential([makeCell(config.cell, config.units, false), new Dense({ units: task.outputs })], { inputSize: task.features, loss: task.loss, seed: seeds.nextU32() }));
    const optimizer = own(new Adam({ lr: config.lr, clipNorm: config.clipNorm }));
    const progress = trainingProgress({ epochs: config.epochs, samples: train.size, batchSize: config.batchSize });
    out(`model: ${CELL_LABELS[config.cell]}(${config.units}) → Dense(${task.outputs}), ${grouped(model.params.length)} parameters, ${task.loss} loss`);
    out(`data: ${grouped(train.size)} training and ${grouped(test.size)} test sequences of ${config.steps} steps`);
    out(`training: Adam, lr ${config.lr}, clip norm ${config.clipNorm}, batch size ${config.batchSize}, ${config.epochs} epoch${config.epochs === 1 ? "" : "s"}, seed ${config.seed}`);
    out("");
    const history = await fit(model, train, {
      epochs: config.epochs,
      batchSize: config.batchSize,
      optimizer,
      signal,
      onBatchEnd: progress.onBatchEnd,
      onEpochEnd: progress.onEpochEnd,
    }).finally(() => progress.stop());
    if (history.stopped === "aborted") out(`(stopped by Ctrl-C after ${history.epochs.length} full epochs)`);
    out("");
    for (const line of task.report(model, train, test, config.examples)) out(line);
    if (config.save) {
      writeFileSync(config.save, saveCheckpoint(model, optimizer, { epoch: history.epochs.length, step: optimizer.stepCount }));
      sayWritten(out, "checkpoint", config.save);
    }
  });
}
