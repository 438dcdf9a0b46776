import { describe, expect, it } from "vitest";
import { engine } from "../src/engine/index.js";
import { addingProblem } from "../src/data/tasks.js";
import { SequenceDataset } from "../src/data/dataset.js";
import { Dense } from "../src/layers/dense.js";
import { LSTM } from "../src/layers/lstm.js";
import { GRU } from "../src/layers/gru.js";
import { Sequential } from "../src/models/sequential.js";
import { fit, evaluate } from "../src/train/fit.js";
import { Adam, SGD } from "../src/train/optimizers.js";
import { loadCheckpoint, saveCheckpoint } from "../src/train/checkpoint.js";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.js";
import { Rng } from "../src/data/rng.js";

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function classificationData(n: number, T: number, seed: number) {
  // Class = which of 3 input channels has the largest sum over time.
  const rng = new Rng(seed);
  const x = new Float32Array(n * T * 3);
  const y = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    const sums = [0, 0, 0];
    for (let t = 0; t < T; t++) for (let c = 0; c < 3; c++) {
      const v = Math.fround(rng.uniform(-1, 1));
      x[(s * T + t) * 3 + c] = v;
      sums[c] += v;
    }
    y[s] = sums.indexOf(Math.max(...sums));
  }
  return { x: { data: x, shape: [n, T, 3] }, y: { data: y, shape: [n] } };
}

const makeClassifier = (seed = 1) => new Sequential([new LSTM({ units: 16, returnSequences: false }), new Dense({ units: 3 })], { inputSize: 3, loss: "softmaxCrossEntropy", seed });

describe("fit", () => {
  it("solves the adding problem (T = 30) to MSE < 0.01, far below the 0.167 baseline", async () => {
    const train = addingProblem(3000, 30, 1);
    const test = addingProblem(500, 30, 2);
    const model = new Sequential([new LSTM({ units: 32, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 3 });
    const optimizer = new Adam({ lr: 1e-2, clipNorm: 1 });
    await fit(model, train, { epochs: 12, batchSize: 32, optimizer });
    const { loss } = evaluate(model, test);
    expect(loss).toBeLessThan(0.01);
    model.dispose();
    optimizer.dispose();
  });

  it("reports accuracy and perplexity, and uses a validation split", async () => {
    const data = classificationData(400, 8, 5);
    const model = makeClassifier();
    const history = await fit(model, data, { epochs: 8, batchSize: 16, validationSplit: 0.25, metrics: ["accuracy", "perplexity"], optimizer: new Adam({ lr: 1e-2 }) });
    const last = history.epochs[history.epochs.length - 1];
    expect(history.epochs).toHaveLength(8);
    expect(last.valAccuracy).toBeGreaterThan(0.8);
    expect(last.accuracy).toBeGreaterThan(0.8);
    // Perplexity is exp of the mean cross-entropy per prediction (one per sequence here).
    expect(last.valPerplexity).toBeCloseTo(Math.exp(last.valLoss!), 5);
    expect(history.epochs[0].loss).toBeGreaterThan(last.loss);
    model.dispose();
  });

  it("is deterministic: same seed, same data, same bits", async () => {
    const data = classificationData(100, 6, 1);
    const run = async () => {
      const m = makeClassifier(9);
      await fit(m, data, { epochs: 3, batchSize: 8, optimizer: new Adam({ lr: 1e-2 }) });
      const w = m.params.values.toFloat32Array();
      m.dispose();
      return bits(w);
    };
    expect(await run()).toEqual(await run());
  });

  it("resumes from a checkpoint to the same bits as an uninterrupted run", async () => {
    const data = classificationData(120, 6, 2);
    const straight = makeClassifier(4);
    const opt1 = new Adam({ lr: 5e-3, clipNorm: 1 });
    await fit(straight, data, { epochs: 4, batchSize: 16, optimizer: opt1 });

    const first = makeClassifier(4);
    const opt2 = new Adam({ lr: 5e-3, clipNorm: 1 });
    await fit(first, data, { epochs: 2, batchSize: 16, optimizer: opt2 });
    const bytes = saveCheckpoint(first, opt2, { epoch: 2, step: opt2.stepCount });
    first.dispose();
    opt2.dispose();

    const resumed = makeClassifier(77); // different init: everything comes from the checkpoint
    const opt3 = new Adam({ lr: 5e-3, clipNorm: 1 });
    const progress = loadCheckpoint(bytes, resumed, opt3);
    expect(progress).toEqual({ epoch: 2, step: 2 * 8 });
    await fit(resumed, data, { epochs: 2, batchSize: 16, optimizer: opt3, initialEpoch: progress.epoch });
    expect(bits(resumed.params.values.toFloat32Array())).toEqual(bits(straight.params.values.toFloat32Array()));
    for (const x of [straight, resumed]) x.dispose();
    opt1.dispose();
    opt3.dispose();
  });

  it("refuses a non-finite batch: weights keep their last good values, the error names the batch", async () => {
    const data = addingProblem(64, 5, 3);
    // The first update blows the head up to ~1e30; the next prediction squared overflows.
    const model = new Sequential([new LSTM({ units: 8, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse" });
    let lastGood = model.params.values.toFloat32Array();
    let applied = 0;
    const error = await fit(model, data, {
      epochs: 3,
      batchSize: 8,
      optimizer: new SGD({ lr: 1e30 }),
      onBatchEnd: () => {
        applied++;
        lastGood = model.params.values.toFloat32Array();
      },
    }).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(new RegExp(`epoch 0, batch ${applied}\\b.*(Infinity|NaN|infinite).*(clipNorm|clipping)`, "s"));
    expect(applied).toBeGreaterThan(0);
    expect(bits(model.params.values.toFloat32Array())).toEqual(bits(lastGood));
    model.dispose();
  });

  it("stops on an AbortSignal and on early stopping", async () => {
    const data = classificationData(64, 5, 3);
    const model = makeClassifier();
    const controller = new AbortController();
    let batches = 0;
    const h = await fit(model, data, { epochs: 5, batchSize: 8, onBatchEnd: () => { if (++batches === 3) controller.abort(); }, signal: controller.signal });
    expect(h.stopped).toBe("aborted");
    expect(batches).toBe(3);
    // lr 0: the loss never improves, so patience 2 stops after 3 epochs.
    const h2 = await fit(model, data, { epochs: 10, batchSize: 8, optimizer: new SGD({ lr: 0 }), earlyStopping: { monitor: "loss", patience: 2 } });
    expect(h2.stopped).toBe("earlyStopping");
    expect(h2.epochs).toHaveLength(3);
    model.dispose();
  });

  it("an epoch that never starts draws no shuffle: a stop between epochs resumes to the same bits", async () => {
    const data = classificationData(48, 5, 4);
    const a = makeClassifier(3), b = makeClassifier(3);
    const optA = new SGD({ lr: 0.05 }), optB = new SGD({ lr: 0.05 });
    // a: one epoch, then a call whose signal was aborted before it began, then one more epoch.
    const controller = new AbortController();
    await fit(a, data, { epochs: 1, batchSize: 8, optimizer: optA });
    controller.abort();
    const stopped = await fit(a, data, { epochs: 3, batchSize: 8, optimizer: optA, signal: controller.signal });
    expect(stopped).toMatchObject({ epochs: [], stopped: "aborted" });
    await fit(a, data, { epochs: 1, batchSize: 8, optimizer: optA });
    // b: the same two epochs in one call.
    await fit(b, data, { epochs: 2, batchSize: 8, optimizer: optB });
    expect(bits(a.params.values.toFloat32Array())).toEqual(bits(b.params.values.toFloat32Array()));
    a.dispose();
    b.dispose();
  });

  it("lets timers run while it trains", async () => {
    const data = classificationData(512, 20, 3);
    const model = new Sequential([new GRU({ units: 64, returnSequences: false }), new Dense({ units: 3 })], { inputSize: 3, loss: "softmaxCrossEntropy" });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    await fit(model, data, { epochs: 3, batchSize: 8, yieldEveryMs: 10 });
    const ms = performance.now() - started;
    clearInterval(timer);
    expect(ms).toBeGreaterThan(60);
    expect(ticks).toBeGreaterThan(ms / 5 / 10); // the timer fired throughout, not once at the end
    model.dispose();
  });

  it("does not grow wasm memory over many epochs", async () => {
    const data = classificationData(100, 6, 1); // 100 = 6 batches of 16 + a partial one
    const model = makeClassifier();
    const optimizer = new Adam();
    await fit(model, data, { epochs: 2, batchSize: 16, optimizer });
    const memory = engine().allocator.memoryBytes;
    const inUse = engine().allocator.bytesInUse;
    await fit(model, data, { epochs: 20, batchSize: 16, optimizer });
    expect(engine().allocator.memoryBytes).toBe(memory);
    expect(engine().allocator.bytesInUse).toBe(inUse);
    model.dispose();
    optimizer.dispose();
  });

  it("names bad data and options", async () => {
    const model = makeClassifier();
    await expect(fit(model, { x: [[[1, 2]]], y: [0] })).rejects.toThrow(/x has 2 features per step, the model takes 3/);
    await expect(fit(model, { x: [[[1, 2, 3], [4, 5, 6]]], y: [[0]] })).rejects.toThrow(/y must be \[1, 2\] \(a class per step\) or \[1\]/);
    await expect(fit(model, { x: [[[1, 2, 3]]], y: [0.5] })).rejects.toThrow(/y value 0 is 0.5; class targets must be whole numbers/);
    await expect(fit(model, { x: [[[1, 2, NaN]]], y: [0] })).rejects.toThrow(/x value 2 is NaN/);
    await expect(fit(model, classificationData(4, 2, 1), { epochz: 3 } as never)).rejects.toThrow(/unknown option "epochz"/);
    await expect(fit(model, classificationData(4, 2, 1), { batchSize: 0 })).rejects.toThrow(/batchSize must be a whole number >= 1/);
    expect(() => new SequenceDataset([[[1]]], [[1, 2]], "int32")).toThrow(/y must be/);
    model.dispose();
  });
});

describe("checkpoints and safetensors", () => {
  it("round-trips tensors and metadata", () => {
    const bytes = writeSafetensors({ a: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, -2.5, 3, NaN]) }, b: { dtype: "I32", shape: [3], data: new Int32Array([7, -8, 9]) } }, { note: "hi" });
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata.get("note")).toBe("hi");
    expect([...tensors.get("a")!.data]).toEqual([1, -2.5, 3, NaN]);
    expect(tensors.get("b")!.shape).toEqual([3]);
    expect([...tensors.get("b")!.data]).toEqual([7, -8, 9]);
  });

  it("rejects malformed files with a clear message", () => {
    const good = writeSafetensors({ a: { dtype: "F32", shape: [4], data: new Float32Array(4) } });
    expect(() => readSafetensors(good.subarray(0, 5))).toThrow(/even the header length needs 8/);
    expect(() => readSafetensors(good.subarray(0, good.length - 4))).toThrow(/truncated/);
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => readSafetensors(huge)).toThrow(/header claims/);
    const bad = good.slice();
    bad[10] = 0xff;
    expect(() => readSafetensors(bad)).toThrow(/not valid UTF-8 JSON/);
  });

  it("a checkpoint that does not fit the model changes nothing", () => {
    const a = makeClassifier(1);
    const bytes = saveCheckpoint(a, null);
    const other = new Sequential([new LSTM({ units: 8, returnSequences: false }), new Dense({ units: 3 })], { inputSize: 3, loss: "softmaxCrossEntropy" });
    const before = other.params.values.toFloat32Array();
    expect(() => loadCheckpoint(bytes, other)).toThrow(/parameter "lstm0.weight_ih" is F32 \[64, 3\], the model has F32 \[32, 3\]/);
    expect(bits(other.params.values.toFloat32Array())).toEqual(bits(before));
    const optimizer = new Adam();
    expect(() => loadCheckpoint(bytes, a, optimizer)).toThrow(/no optimizer state/);
    a.dispose();
    other.dispose();
  });
});
