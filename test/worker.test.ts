// trainInWorker in Node (worker_threads), through the built package as users import it: the
// same bits as fit() on the main thread, a main thread whose timers keep firing while a
// worker trains, streaming, cancel, errors, and a worker of the user's own (createWorker);
// then the same for Seq2Seq models (Seq2Seq.fit in the worker).
import { Worker } from "node:worker_threads";
import { beforeAll, describe, expect, it } from "vitest";
import {
  Adam, Bidirectional, CharTokenizer, Dense, Dropout, Embedding, GRU, Jordan, LSTM, Rng, RMSprop, SGD, Seq2Seq, Sequential, SequenceDataset, UnfoldError,
  addingProblem, cosineDecay, encodePairs, fit, init, linearRamp, reverseTask, trainInWorker, warmup,
  type History, type Logs, type Seq2SeqBatchLogs, type Seq2SeqLogs,
} from "../dist/index.js";
import { requireBuild } from "./runtimes/env.js";

beforeAll(async () => {
  requireBuild();
  await init();
});

/** Token sequences whose per-step target is the token read backwards. */
function reversal(n: number, steps: number, vocab: number): { x: { data: Int32Array; shape: number[] }; y: { data: Int32Array; shape: number[] } } {
  const x = new Int32Array(n * steps);
  const y = new Int32Array(n * steps);
  for (let i = 0; i < x.length; i++) x[i] = (i * 7 + (i >> 3)) % vocab;
  for (let s = 0; s < n; s++) for (let t = 0; t < steps; t++) y[s * steps + t] = x[s * steps + steps - 1 - t];
  return { x: { data: x, shape: [n, steps] }, y: { data: y, shape: [n, steps] } };
}

function expectSameWeights(a: Sequential | Seq2Seq, b: Sequential | Seq2Seq): void {
  const wa = a.getWeights();
  const wb = b.getWeights();
  expect(Object.keys(wb)).toEqual(Object.keys(wa));
  for (const name of Object.keys(wa)) expect(Buffer.from(wb[name].buffer).equals(Buffer.from(wa[name].buffer)), name).toBe(true);
}

describe("trainInWorker (Node worker_threads)", () => {
  it("gives the bits fit() gives on the main thread: an LSTM with Adam and clipping", async () => {
    const data = addingProblem(200, 20, 1);
    const make = () => new Sequential([new LSTM({ units: 24, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 3 });
    const here = make(), there = make();
    const optHere = new Adam({ lr: 1e-2, clipNorm: 1 }), optThere = new Adam({ lr: 1e-2, clipNorm: 1 });
    const expected = await fit(here, data, { epochs: 3, batchSize: 16, optimizer: optHere, validationSplit: 0.1 });
    const history = await trainInWorker(there, data, { epochs: 3, batchSize: 16, optimizer: optThere, validationSplit: 0.1 });
    expect(history.epochs.map((e) => [e.loss, e.valLoss, e.gradNorm])).toEqual(expected.epochs.map((e) => [e.loss, e.valLoss, e.gradNorm]));
    expectSameWeights(here, there);
    expect(there.rng.getState()).toEqual(here.rng.getState());
    // The optimizer continues from where the worker left it: one more epoch here matches.
    expect(optThere.stepCount).toBe(optHere.stepCount);
    await fit(here, data, { epochs: 1, batchSize: 16, optimizer: optHere });
    await fit(there, data, { epochs: 1, batchSize: 16, optimizer: optThere });
    expectSameWeights(here, there);
    for (const m of [here, there]) m.dispose();
  });

  it("rebuilds composite layers in the worker: a sparse Embedding, bidirectional GRU stack, Dropout, RMSprop, metrics, a SequenceDataset", async () => {
    const { x, y } = reversal(96, 10, 6);
    const data = new SequenceDataset(x, y, "int32");
    const make = () =>
      new Sequential([new Embedding({ vocab: 6, dim: 8, sparse: true }), new Bidirectional(new GRU({ units: 12, layers: 2, dropout: 0.1 }), { merge: "sum" }), new Dropout({ rate: 0.2 }), new Dense({ units: 6 })], {
        loss: "softmaxCrossEntropy",
        seed: 4,
      });
    const here = make(), there = make();
    const options = () => ({ epochs: 2, batchSize: 8, optimizer: new RMSprop({ lr: 3e-3, clipValue: 1 }), metrics: ["accuracy" as const, "perplexity" as const] });
    const expected = await fit(here, data, options());
    const history = await trainInWorker(there, data, options());
    const withoutTime = (h: History) => h.epochs.map(({ seconds: _, ...logs }) => logs);
    expect(withoutTime(history)).toEqual(withoutTime(expected));
    expect(history.epochs[0].accuracy).toBeGreaterThan(0);
    expectSameWeights(here, there);
    for (const m of [here, there]) m.dispose();
  });

  it("sends lengths, a context and validation data: the same bits as fit()", async () => {
    const n = 48, T = 8;
    const x = Float32Array.from({ length: n * T * 3 }, (_, i) => ((i * 37) % 11) / 11 - 0.5);
    const y = Float32Array.from({ length: n * 2 }, (_, i) => ((i * 13) % 7) / 7);
    const context = Float32Array.from({ length: n * 4 }, (_, i) => ((i * 5) % 9) / 9);
    const lengths = Int32Array.from({ length: n }, (_, i) => 3 + (i % 6));
    const data = { x: { data: x, shape: [n, T, 3] }, y: { data: y, shape: [n, 2] }, lengths, context: { data: context, shape: [n, 4] } };
    const validationData = { ...data, lengths: Int32Array.from(lengths).reverse() };
    const make = () => new Sequential([new LSTM({ units: 10, returnSequences: false }), new Dense({ units: 2 })], { inputSize: 3, loss: "mse", seed: 8, context: { size: 4, mode: "both" } });
    const here = make(), there = make();
    const expected = await fit(here, data, { epochs: 2, batchSize: 12, validationData });
    const history = await trainInWorker(there, data, { epochs: 2, batchSize: 12, validationData });
    expect(history.epochs.map((e) => [e.loss, e.valLoss])).toEqual(expected.epochs.map((e) => [e.loss, e.valLoss]));
    expectSameWeights(here, there);
    for (const m of [here, there]) m.dispose();
  });

  it("trains with truncated BPTT (tbptt) in the worker: the same bits as fit()", async () => {
    const { x, y } = reversal(48, 12, 5);
    const make = () => new Sequential([new Embedding({ vocab: 5, dim: 4 }), new LSTM({ units: 10 }), new Dense({ units: 5 })], { loss: "softmaxCrossEntropy", seed: 11 });
    const here = make(), there = make();
    const options = () => ({ epochs: 2, batchSize: 16, tbptt: 5, optimizer: new Adam({ lr: 1e-2 }) });
    const expected = await fit(here, { x, y }, options());
    const history = await trainInWorker(there, { x, y }, options());
    expect(history.epochs.map((e) => e.loss)).toEqual(expected.epochs.map((e) => e.loss));
    expectSameWeights(here, there);
    for (const m of [here, there]) m.dispose();
  });

  it("trains a Jordan net with teacher forcing and scheduled sampling in the worker: the same bits as fit(); built-in schedules cross, a function of your own is refused", async () => {
    const rng = new Rng(8);
    const x = { data: Float32Array.from({ length: 24 * 6 * 2 }, () => rng.uniform(-1, 1)), shape: [24, 6, 2] };
    const y = { data: Float32Array.from({ length: 24 * 6 * 3 }, () => rng.uniform(-1, 1)), shape: [24, 6, 3] };
    const make = () => new Sequential([new Jordan({ units: 3, hiddenUnits: 8, outputActivation: "tanh" })], { inputSize: 2, loss: "mse", seed: 4 });
    const here = make(), there = make();
    const options = () => ({ epochs: 2, batchSize: 8, teacherForcing: true, scheduledSampling: { probability: 0.3 }, optimizer: new Adam({ lr: 1e-2 }) });
    const expected = await fit(here, { x, y }, options());
    const history = await trainInWorker(there, { x, y }, options());
    expect(history.epochs.map((e) => e.loss)).toEqual(expected.epochs.map((e) => e.loss));
    expectSameWeights(here, there);
    // Schedules made by the library's own functions cross as their description.
    const scheduled = () => ({
      epochs: 2, batchSize: 8, scheduledSampling: { probability: linearRamp({ from: 0, to: 0.6, steps: 5 }) },
      optimizer: new Adam({ lr: warmup(cosineDecay({ lr: 2e-2, totalSteps: 6, minLr: 1e-3 }), { steps: 2 }) }),
    });
    const expected2 = await fit(here, { x, y }, scheduled());
    const history2 = await trainInWorker(there, { x, y }, scheduled());
    expect(history2.epochs.map((e) => e.lr)).toEqual(expected2.epochs.map((e) => e.lr));
    expect(history2.epochs.map((e) => e.loss)).toEqual(expected2.epochs.map((e) => e.loss));
    expectSameWeights(here, there);
    await expect(trainInWorker(there, { x, y }, { scheduledSampling: { probability: (step: number) => step / 10 } })).rejects.toThrow(/scheduledSampling\.probability is a function of your own, which cannot be sent to a worker; use a number or a built-in schedule .*or train with fit\(\)/);
    await expect(trainInWorker(there, { x, y }, { optimizer: new Adam({ lr: warmup((step: number) => 1e-3 / (1 + step), { steps: 3 }) }) })).rejects.toThrow(/the optimizer's learning rate is a function of your own/);
    for (const m of [here, there]) m.dispose();
  });

  it("keeps the main thread responsive: a 10 ms timer keeps firing while batches take far longer", async () => {
    // Each batch is heavy (T 50, B 64, 256 LSTM units: ~5 GFLOP with backward), so a batch on
    // this thread would hold the timer back for its whole duration.
    const data = addingProblem(64 * 6, 50, 2);
    const model = new Sequential([new LSTM({ units: 256, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 1 });
    const batchTimes: number[] = [];
    let lastBatch = 0;
    let last = 0;
    let maxGap = 0;
    let ticks = 0;
    let training = false;
    const timer = setInterval(() => {
      const now = performance.now();
      if (training) {
        maxGap = Math.max(maxGap, now - last);
        ticks++;
      }
      last = now;
    }, 10);
    const started = performance.now();
    await trainInWorker(model, data, {
      epochs: 1,
      batchSize: 64,
      onBatchEnd: () => {
        const now = performance.now();
        // Timing starts at the first batch's end: the worker is up and training from then on.
        if (training) batchTimes.push(now - lastBatch);
        else last = now;
        training = true;
        lastBatch = now;
      },
    });
    training = false;
    clearInterval(timer);
    const ms = performance.now() - lastBatch + batchTimes.reduce((a, b) => a + b, 0);
    const batch = [...batchTimes].sort((a, b) => a - b)[batchTimes.length >> 1];
    const report = `${batchTimes.length + 1} batches, median ${batch.toFixed(0)} ms each; ${ticks} timer ticks in ${ms.toFixed(0)} ms; longest gap ${maxGap.toFixed(1)} ms (total ${(performance.now() - started).toFixed(0)} ms)`;
    console.log(`main thread during trainInWorker: ${report}`);
    expect(batch, report).toBeGreaterThan(40);
    expect(maxGap, report).toBeLessThan(Math.min(100, batch / 2));
    expect(ticks, report).toBeGreaterThan(batchTimes.length * (batch / 10) * 0.5);
    model.dispose();
  });

  it("streams every batch and epoch, and the weights after every epoch when asked", async () => {
    const data = addingProblem(64, 10, 3);
    const model = new Sequential([new GRU({ units: 8, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 2 });
    const batches: [number, Logs][] = [];
    const epochs: number[] = [];
    const snapshots: { epoch: number; weights: Record<string, Float32Array> }[] = [];
    const history = await trainInWorker(model, data, {
      epochs: 3,
      batchSize: 16,
      optimizer: new SGD({ lr: 0.05, momentum: 0.9 }),
      onBatchEnd: (b, logs) => batches.push([b, logs]),
      onEpochEnd: (e) => epochs.push(e),
      onWeights: (weights, epoch) => snapshots.push({ epoch, weights }),
    });
    expect(batches.map(([b]) => b)).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
    expect(batches.every(([, l]) => Number.isFinite(l.loss) && Number.isFinite(l.gradNorm!) && l.lr === 0.05)).toBe(true);
    expect(epochs).toEqual([0, 1, 2]);
    expect(history.epochs).toHaveLength(3);
    expect(snapshots.map((s) => s.epoch)).toEqual([0, 1, 2]);
    // The last snapshot is the weights the model ends with.
    const final = model.getWeights();
    for (const name of Object.keys(final)) expect(snapshots[2].weights[name]).toEqual(final[name]);
    model.dispose();
  });

  it("cancels through an AbortSignal: stops after the current batch and keeps what was trained", async () => {
    const data = addingProblem(512, 30, 4);
    const model = new Sequential([new LSTM({ units: 32, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 5 });
    const before = model.getWeights();
    const controller = new AbortController();
    let seen = 0;
    const history: History = await trainInWorker(model, data, {
      epochs: 50,
      batchSize: 16,
      signal: controller.signal,
      onBatchEnd: () => {
        if (++seen === 3) controller.abort();
      },
    });
    expect(history.stopped).toBe("aborted");
    expect(history.epochs.length).toBeLessThan(50);
    const after = model.getWeights();
    expect(after["lstm0.weight_hh"]).not.toEqual(before["lstm0.weight_hh"]);
    expect(Object.values(after).every((w) => w.every(Number.isFinite))).toBe(true);
    // A callback that throws stops training, like fit, and its error comes out.
    const thrown = await trainInWorker(model, data, {
      epochs: 50,
      batchSize: 16,
      onBatchEnd: (b) => {
        if (b === 1) throw new Error("stop from the callback");
      },
    }).catch((e: unknown) => e);
    expect((thrown as Error).message).toBe("stop from the callback");
    // An already aborted signal trains nothing.
    const again = await trainInWorker(model, data, { epochs: 1, signal: AbortSignal.abort() });
    expect(again).toEqual({ epochs: [], stopped: "aborted" });
    model.dispose();
  });

  it("rejects with fit's errors: bad data on this thread, a diverging loss from the worker (keeping the last good weights)", async () => {
    const model = new Sequential([new LSTM({ units: 8, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 6 });
    const bad = { x: { data: new Float32Array(30), shape: [5, 3, 2] }, y: { data: new Float32Array(4), shape: [4, 1] } };
    await expect(trainInWorker(model, bad)).rejects.toThrow(/x has 5 samples but y has 4/);
    const wrongWidth = { x: { data: new Float32Array(45), shape: [5, 3, 3] }, y: { data: new Float32Array(5), shape: [5, 1] } };
    await expect(trainInWorker(model, wrongWidth)).rejects.toThrow(/x has 3 features per step, the model takes 2/);
    await expect(trainInWorker(model, addingProblem(8, 4), { epochs: 1, callbacks: [] } as never)).rejects.toThrow(/unknown option "callbacks"/);
    await expect(trainInWorker(model, addingProblem(8, 4), { optimizer: new Adam({ lr: (step: number) => 0.1 / (1 + step) }) })).rejects.toThrow(/learning rate is a function of your own/);

    // Targets so large the loss overflows float32: fit refuses the batch, in the worker as here.
    const huge = addingProblem(16, 4, 1);
    huge.y.data.fill(3e38);
    const error = await trainInWorker(model, huge, { epochs: 1, batchSize: 16, optimizer: new SGD({ lr: 0.1 }) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnfoldError);
    expect((error as Error).message).toMatch(/epoch 0, batch 0/);
    expect(Object.values(model.getWeights()).every((w) => w.every(Number.isFinite))).toBe(true);
    model.dispose();
  });

  it("uses a worker of the caller's own (createWorker), whose module calls serveTrainingWorker()", async () => {
    const data = addingProblem(64, 10, 5);
    const make = () => new Sequential([new LSTM({ units: 8, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 7 });
    const here = make(), there = make();
    await fit(here, data, { epochs: 2, batchSize: 16 });
    let made = 0;
    await trainInWorker(there, data, {
      epochs: 2,
      batchSize: 16,
      createWorker: () => {
        made++;
        return new Worker(new URL("./runtimes/training-worker.mjs", import.meta.url));
      },
    });
    expect(made).toBe(1);
    expectSameWeights(here, there);
    // A worker that does not serve fails with a message, not a hang.
    const broken = trainInWorker(there, data, { createWorker: () => new Worker("throw new Error('no such worker')", { eval: true }) });
    await expect(broken).rejects.toThrow(/the training worker failed: .*no such worker/);
    for (const m of [here, there]) m.dispose();
  });
});

describe("trainInWorker with a Seq2Seq model (Node worker_threads)", () => {
  const tok = CharTokenizer.fromText("abcdef");
  const data = encodePairs(reverseTask(160, { alphabet: "abcdef", minLength: 2, maxLength: 6, seed: 1 }), tok);
  const validationData = encodePairs(reverseTask(24, { alphabet: "abcdef", minLength: 2, maxLength: 6, seed: 2 }), tok);
  /** A small model with attention, a bidirectional encoder stack with dropout (the model's generator decides the masks). */
  const make = (seed = 3) =>
    new Seq2Seq({
      sourceVocab: tok.size, targetVocab: tok.size, embedding: 8, bos: tok.bos, eos: tok.eos, seed,
      encoder: new Bidirectional(new LSTM({ units: 8, layers: 2, dropout: 0.2 })), decoder: new GRU({ units: 16 }), attention: { score: "additive" },
    });
  const withoutTime = (logs: Seq2SeqLogs[]) => logs.map(({ seconds: _, ...rest }) => rest);

  it("gives the bits Seq2Seq.fit gives on the main thread: attention, dropout, scheduled sampling, validation with exact match", async () => {
    const here = make(), there = make();
    const optHere = new Adam({ lr: 1e-2, clipNorm: 1 }), optThere = new Adam({ lr: 1e-2, clipNorm: 1 });
    const options = { epochs: 3, batchSize: 16, validationData, exactMatch: true, scheduledSampling: { probability: 0.25 } };
    const expected = await here.fit(data, { ...options, optimizer: optHere });
    const batches: Seq2SeqBatchLogs[] = [];
    const history = await trainInWorker(there, data, { ...options, optimizer: optThere, onBatchEnd: (_, logs) => batches.push(logs) });
    expect(withoutTime(history)).toEqual(withoutTime(expected));
    expect(history[2].valExactMatch).toBeTypeOf("number");
    expect(history[2].samplingProbability).toBe(0.25);
    expect(batches).toHaveLength(30);
    expectSameWeights(here, there);
    expect(there.rng.getState()).toEqual(here.rng.getState());
    // The optimizer continues from where the worker left it: one more epoch here matches.
    expect(optThere.stepCount).toBe(optHere.stepCount);
    await here.fit(data, { epochs: 1, batchSize: 16, optimizer: optHere });
    await there.fit(data, { epochs: 1, batchSize: 16, optimizer: optThere });
    expectSameWeights(here, there);
    // A second run in a worker continues too (the model's generator and the optimizer carried over).
    await here.fit(data, { epochs: 1, batchSize: 32, optimizer: optHere, scheduledSampling: { probability: 0.5, from: "argmax" } });
    await trainInWorker(there, data, { epochs: 1, batchSize: 32, optimizer: optThere, scheduledSampling: { probability: 0.5, from: "argmax" } });
    expectSameWeights(here, there);
    for (const m of [here, there]) m.dispose();
    for (const o of [optHere, optThere]) o.dispose();
  });

  it("streams every batch and epoch, and the weights after every epoch when asked", async () => {
    const model = make(4);
    const batches: number[] = [];
    const epochs: [number, Seq2SeqLogs][] = [];
    const snapshots: { epoch: number; weights: Record<string, Float32Array> }[] = [];
    const history = await trainInWorker(model, data, {
      epochs: 2, batchSize: 40, optimizer: new SGD({ lr: 0.05 }),
      onBatchEnd: (b, logs) => {
        expect(Number.isFinite(logs.loss) && Number.isFinite(logs.gradNorm) && logs.lr === 0.05).toBe(true);
        batches.push(b);
      },
      onEpochEnd: (e, logs) => epochs.push([e, logs]),
      onWeights: (weights, epoch) => snapshots.push({ epoch, weights }),
    });
    expect(batches).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(epochs.map(([e]) => e)).toEqual([0, 1]);
    expect(epochs.map(([, logs]) => logs)).toEqual(history);
    expect(snapshots.map((s) => s.epoch)).toEqual([0, 1]);
    expect(snapshots[0].weights["output.weight"]).not.toEqual(snapshots[1].weights["output.weight"]);
    const final = model.getWeights();
    expect(Object.keys(snapshots[1].weights)).toEqual(Object.keys(final));
    for (const name of Object.keys(final)) expect(snapshots[1].weights[name]).toEqual(final[name]);
    model.dispose();
  });

  it("cancels through an AbortSignal: stops after the current batch and keeps what was trained", async () => {
    const model = make(5);
    const before = model.getWeights();
    const controller = new AbortController();
    let seen = 0;
    const history = await trainInWorker(model, data, {
      epochs: 200, batchSize: 8, optimizer: new Adam({ lr: 1e-2 }), signal: controller.signal,
      onBatchEnd: () => {
        if (++seen === 3) controller.abort();
      },
    });
    expect(history.length).toBeLessThan(200);
    const after = model.getWeights();
    expect(after["output.weight"]).not.toEqual(before["output.weight"]);
    expect(Object.values(after).every((w) => w.every(Number.isFinite))).toBe(true);
    // An already aborted signal trains nothing and changes nothing.
    const again = await trainInWorker(model, data, { epochs: 1, optimizer: new Adam(), signal: AbortSignal.abort() });
    expect(again).toEqual([]);
    expect(model.getWeights()).toEqual(after);
    model.dispose();
  });

  it("refuses, on this thread, what cannot cross to a worker or is not valid data, naming it", async () => {
    const model = make(6);
    const before = model.getWeights();
    const optimizer = new Adam({ lr: 1e-2 });
    const refused = async (d: unknown, options: unknown, message: RegExp) => {
      const error = await trainInWorker(model, d as never, options as never).catch((e: unknown) => e);
      expect(error, String(message)).toBeInstanceOf(UnfoldError);
      expect((error as Error).message).toMatch(message);
    };
    await refused(data, { epochs: 1 }, /a Seq2Seq needs \{ optimizer \}/);
    await refused(data, { optimizer, scheduledSampling: { probability: (step: number) => Math.min(0.5, step / 20) } }, /scheduledSampling\.probability is a function of your own, which cannot be sent to a worker.*or train with Seq2Seq\.fit\(\)/);
    await refused(data, { optimizer: new Adam({ lr: (step: number) => 0.1 / (1 + step) }) }, /learning rate is a function of your own/);
    await refused(data, { optimizer, metrics: ["accuracy"] }, /unknown option "metrics" for a Seq2Seq/);
    await refused(data, { optimizer, scheduledSampling: 0.5 }, /scheduledSampling must be \{ probability, from\? \}/);
    await refused({ source: data.source.slice(0, 3), target: data.target.slice(0, 2) }, { optimizer }, /training data: 3 sources but 2 targets/);
    await refused({ source: [[4, 5], [4, 99]], target: [[5], [4]] }, { optimizer }, /training data: source 1, token 1 is 99, outside the vocabulary \[0, 9\]/);
    await refused({ source: [[4, 5], [4]], target: [[5], [4.5]] }, { optimizer }, /training data: target 1, token 0 is 4\.5/);
    await refused({ source: [[4], []], target: [[5], [4]] }, { optimizer }, /training data: source 1 is empty/);
    await refused({ x: [[1]], y: [[1]] }, { optimizer }, /training data must be \{ source: number\[\]\[\], target: number\[\]\[\] \}/);
    await refused(data, { optimizer, validationData: { source: [[4]], target: [[-1]] } }, /validationData: target 0, token 0 is -1/);
    await refused({ source: [], target: [] }, { optimizer }, /training data holds no pairs/);
    const error = await trainInWorker({ fit() {} } as never, data as never).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/the model must be a Sequential or a Seq2Seq, got Object/);
    // What fit itself refuses comes back from the worker with fit's message; nothing was applied.
    await refused(data, { optimizer, scheduledSampling: { probability: 2 } }, /the scheduled-sampling probability at step 0 is 2; it must be in \[0, 1\]/);
    expect(model.getWeights()).toEqual(before);
    model.dispose();
  });
});
