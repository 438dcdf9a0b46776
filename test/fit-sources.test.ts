// fit over batches the caller makes: arrays of batches, generators (through a function, for
// several epochs), async iterables (a stream read as it trains); the same bits as fit over
// arrays cut into the same batches; validation from a source; errors that name the batch.
import { describe, expect, it } from "vitest";
import { Tensor, UnfoldError } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { Dense } from "../src/layers/dense.js";
import { Embedding } from "../src/layers/embedding.js";
import { GRU } from "../src/layers/gru.js";
import { Sequential } from "../src/models/sequential.js";
import { evaluate, fit, predict, type BatchData } from "../src/train/fit.js";
import { Adam } from "../src/train/optimizers.js";

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Next-token data over a tiny vocabulary: y_t = (x_t + 1) mod V, n samples of T tokens. */
function tokens(n: number, T: number, seed: number, V = 6) {
  const rng = new Rng(seed);
  const x = Int32Array.from({ length: n * T }, () => Math.floor(rng.next() * V));
  const y = x.map((v) => (v + 1) % V);
  return { x: { data: x, shape: [n, T] }, y: { data: y, shape: [n, T] } };
}

/** Samples [from, to) of batch-major data as one batch. */
function slice(data: ReturnType<typeof tokens>, from: number, to: number): BatchData {
  const T = data.x.shape[1];
  return { x: { data: data.x.data.slice(from * T, to * T), shape: [to - from, T] }, y: { data: data.y.data.slice(from * T, to * T), shape: [to - from, T] } };
}

const makeModel = () => new Sequential([new Embedding({ vocab: 6, dim: 4 }), new GRU({ units: 8 }), new Dense({ units: 6 })], { loss: "softmaxCrossEntropy", seed: 3 });

async function trainedWeights(data: Parameters<typeof fit>[1], options: Parameters<typeof fit>[2]): Promise<Float32Array> {
  const model = makeModel();
  const optimizer = new Adam({ lr: 1e-2 });
  await fit(model, data, { ...options, optimizer });
  const w = model.params.values.toFloat32Array();
  optimizer.dispose();
  model.dispose();
  return w;
}

describe("fit over a source of batches", () => {
  const data = tokens(40, 7, 1);
  const batches = [slice(data, 0, 16), slice(data, 16, 32), slice(data, 32, 40)];

  it("an array of batches trains to the same bits as the arrays cut into those batches", async () => {
    const reference = await trainedWeights(data, { epochs: 2, batchSize: 16, shuffle: false });
    expect(bits(await trainedWeights(batches, { epochs: 2 }))).toEqual(bits(reference));
    // A function that makes a generator, and an async iterable made fresh each epoch.
    expect(bits(await trainedWeights(function* () { yield* batches; }, { epochs: 2 }))).toEqual(bits(reference));
    const stream = { async *[Symbol.asyncIterator]() { for (const b of batches) { await new Promise((r) => setTimeout(r, 1)); yield b; } } };
    expect(bits(await trainedWeights(stream, { epochs: 2 }))).toEqual(bits(reference));
  });

  it("batches may differ in size and length; validation may come from a source too", async () => {
    const short = tokens(10, 3, 2);
    const long = tokens(5, 11, 3);
    const model = makeModel();
    const optimizer = new Adam({ lr: 2e-2 });
    const validation = tokens(20, 9, 4);
    const history = await fit(model, () => [short, long], { epochs: 30, optimizer, validationData: [validation], metrics: ["accuracy"] });
    const last = history.epochs[history.epochs.length - 1];
    expect(history.epochs[0].loss).toBeGreaterThan(last.loss);
    expect(last.valAccuracy).toBeGreaterThan(0.9);
    // The same number evaluate gives over the arrays.
    expect(last.valLoss).toBeCloseTo(evaluate(model, validation).loss, 5);
    expect(evaluate(model, [validation]).loss).toBeCloseTo(last.valLoss!, 5);
    // Several batches of the same size, each its own data.
    const halves = [slice(validation, 0, 10), slice(validation, 10, 20)];
    expect(evaluate(model, halves).loss).toBeCloseTo(evaluate(model, validation, { batchSize: 10 }).loss, 5);
    optimizer.dispose();
    model.dispose();
  });

  it("says when a generator is spent, names a bad batch, and refuses options that apply to arrays", async () => {
    const model = makeModel();
    const gen = (function* () { yield* batches; })();
    await expect(fit(model, gen, { epochs: 2 })).rejects.toThrow(/epoch 1: the batch source gave no batches \(a generator can be iterated only once/);
    const bad = [batches[0], { x: { data: new Int32Array([1, 2, 9]), shape: [1, 3] }, y: { data: new Int32Array(3), shape: [1, 3] } }];
    await expect(fit(model, bad)).rejects.toThrow(/training data, epoch 0, batch 1.*9/);
    await expect(fit(model, batches, { batchSize: 8 })).rejects.toThrow(/batchSize applies to arrays; a batch source makes its own batches/);
    await expect(fit(model, batches, { shuffle: true })).rejects.toThrow(/shuffle applies to arrays/);
    await expect(fit(model, () => 42 as unknown as BatchData[])).rejects.toThrow(/must return an iterable or async iterable of \{ x, y \} batches, got number/);
    const failing = { async *[Symbol.asyncIterator]() { yield batches[0]; throw new Error("disk read failed"); } };
    await expect(fit(model, failing)).rejects.toThrow(/disk read failed/);
    expect(() => evaluate(model, { async *[Symbol.asyncIterator]() { yield batches[0]; } } as unknown as BatchData[])).toThrow(UnfoldError);
    model.dispose();
  });
});

describe("predict over arrays", () => {
  it("gives batch-major outputs equal to the model's forward, zero past each length, in any batch size", () => {
    const model = makeModel();
    const data = tokens(11, 5, 9);
    const lengths = Int32Array.from({ length: 11 }, (_, i) => 1 + (i % 5));
    const a = predict(model, data.x, { lengths, batchSize: 4 });
    const b = predict(model, data.x, { lengths, batchSize: 32 });
    expect(a.shape).toEqual([11, 5, 6]);
    expect(bits(a.data)).toEqual(bits(b.data));
    // Sample 7 alone, time-major, through forward.
    const x7 = Tensor.fromArray(Int32Array.from(data.x.data.slice(7 * 5, 8 * 5)), [5, 1], "int32");
    const y7 = model.forward(x7, { lengths: [lengths[7]] }).toFloat32Array();
    for (let t = 0; t < 5; t++) {
      const row = Array.from(a.data.subarray((7 * 5 + t) * 6, (7 * 5 + t + 1) * 6));
      if (t < lengths[7]) expect(bits(Float32Array.from(row))).toEqual(bits(y7.subarray(t * 6, (t + 1) * 6)));
      else expect(row).toEqual([0, 0, 0, 0, 0, 0]);
    }
    x7.dispose();
    const toOne = new Sequential([new Embedding({ vocab: 6, dim: 3 }), new GRU({ units: 4, returnSequences: false }), new Dense({ units: 2 })], { seed: 1 });
    expect(predict(toOne, data.x).shape).toEqual([11, 2]);
    expect(() => predict(model, { data: new Int32Array([1, 7]), shape: [1, 2] })).toThrow(/predict: .*7/);
    expect(() => predict(model, [])).toThrow(/at least one sample/);
    expect(() => predict(model, data.x, { batch: 3 } as never)).toThrow(/unknown option "batch"/);
    toOne.dispose();
    model.dispose();
  });
});
