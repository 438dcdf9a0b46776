// TF.js / Keras import: models built and saved with @tensorflow/tfjs inside the test import
// into Unfold and predict what TF.js predicts (Keras batch-major [B, T, F], Unfold time-major).
// Keras' reset_after GRU (which TF.js cannot build) is checked against a float64 reference of
// Keras' formulas. Unsupported settings are refused with messages that say what to change.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Tensor, UnfoldError, engine } from "../src/engine/index.js";
import type { Sequential } from "../src/models/sequential.js";
import { importTfjs, type TfjsImportOptions } from "../src/io/tfjs.js";
import { expectClose, rand } from "./helpers.js";

type Artifacts = tf.io.ModelArtifacts;

/** What model.save(tf.io.withSaveHandler(...)) hands over. */
async function save(model: tf.LayersModel): Promise<Artifacts> {
  let saved: Artifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
  }));
  return saved!;
}

/** The same model as files: model.json text and weights.bin bytes. */
function files(a: Artifacts): { json: string; bin: Uint8Array } {
  const json = JSON.stringify({ format: "layers-model", modelTopology: a.modelTopology, weightsManifest: [{ paths: ["weights.bin"], weights: a.weightSpecs }] });
  const data = a.weightData as ArrayBuffer;
  return { json, bin: new Uint8Array(data.slice(0)) };
}

/** [B, T, F] batch-major ↔ [T, B, F] time-major (F = 1 for ids). */
function swapBT(data: ArrayLike<number>, first: number, second: number, F: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < first; i++) for (let j = 0; j < second; j++) for (let f = 0; f < F; f++) out[(j * first + i) * F + f] = data[(i * second + j) * F + f];
  return out;
}

/** Predicts with both on the same random batch; returns [tfjs (time-major), unfold]. */
function bothPredict(keras: tf.LayersModel, model: Sequential, T: number, B: number, features: number | { vocab: number }): [Float32Array, Float32Array] {
  const tokens = typeof features !== "number";
  const F = tokens ? 1 : features;
  const raw = tokens ? Float32Array.from(rand(B * T, 3, 0, features.vocab), Math.floor) : rand(B * T * F, 3);
  const kx = tokens ? tf.tensor2d(raw, [B, T]) : tf.tensor3d(raw, [B, T, F]);
  const ky = keras.predict(kx) as tf.Tensor;
  const yShape = ky.shape;
  const kyData = ky.dataSync();
  kx.dispose();
  ky.dispose();
  const expected = yShape.length === 3 ? swapBT(kyData, B, T, yShape[2]!) : Float32Array.from(kyData);
  const xs = swapBT(raw, B, T, F);
  const x = tokens ? Tensor.fromArray(xs, [T, B], "int32") : Tensor.fromArray(xs, [T, B, F]);
  const y = model.predict(x);
  const actual = y.toFloat32Array();
  expect(y.shape).toEqual(yShape.length === 3 ? [T, B, yShape[2]] : yShape);
  x.dispose();
  y.dispose();
  return [expected, actual];
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const sigmoid = { recurrentActivation: "sigmoid" } as const;

interface Case {
  name: string;
  build: () => tf.Sequential;
  features: number | { vocab: number };
  options?: TfjsImportOptions;
}

const T = 6, B = 3;
const CASES: Case[] = [
  {
    name: "SimpleRNN + TimeDistributed(Dense)",
    build: () => tf.sequential({ layers: [tf.layers.simpleRNN({ units: 4, returnSequences: true, inputShape: [T, 3] }), tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 3 }) })] }),
    features: 3,
  },
  {
    name: "SimpleRNN(relu, no bias) + Dense(sigmoid)",
    build: () => tf.sequential({ layers: [tf.layers.simpleRNN({ units: 5, activation: "relu", useBias: false, inputShape: [T, 2] }), tf.layers.dense({ units: 2, activation: "sigmoid" })] }),
    features: 2,
  },
  {
    name: "LSTM (last step) + Dense",
    build: () => tf.sequential({ layers: [tf.layers.lstm({ units: 5, ...sigmoid, biasInitializer: "randomNormal", inputShape: [T, 3] }), tf.layers.dense({ units: 2 })] }),
    features: 3,
  },
  {
    name: "GRU (reset_after false) + Dense on every step",
    build: () => tf.sequential({ layers: [tf.layers.gru({ units: 4, ...sigmoid, returnSequences: true, biasInitializer: "randomNormal", inputShape: [T, 3] }), tf.layers.dense({ units: 3, activation: "tanh" })] }),
    features: 3,
  },
  {
    name: "Embedding + Bidirectional(LSTM, concat) + TimeDistributed(Dense)",
    build: () => tf.sequential({ layers: [
      tf.layers.embedding({ inputDim: 9, outputDim: 4, inputLength: T }),
      tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 3, ...sigmoid, returnSequences: true, biasInitializer: "randomNormal" }) as tf.RNN, mergeMode: "concat" }),
      tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 9 }) }),
    ] }),
    features: { vocab: 9 },
  },
  {
    name: "Bidirectional(GRU, sum, last step) + Dropout + Dense(relu)",
    build: () => tf.sequential({ layers: [
      tf.layers.bidirectional({ layer: tf.layers.gru({ units: 4, ...sigmoid, biasInitializer: "randomNormal" }) as tf.RNN, mergeMode: "sum", inputShape: [T, 3] }),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({ units: 2, activation: "relu" }),
    ] }),
    features: 3,
  },
  {
    name: "Bidirectional(SimpleRNN, ave) + Bidirectional(LSTM, mul) + stacked LSTM + Dense",
    build: () => tf.sequential({ layers: [
      tf.layers.bidirectional({ layer: tf.layers.simpleRNN({ units: 3, returnSequences: true }) as tf.RNN, mergeMode: "ave", inputShape: [T, 2] }),
      tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 3, ...sigmoid, returnSequences: true }) as tf.RNN, mergeMode: "mul" }),
      tf.layers.lstm({ units: 4, ...sigmoid, returnSequences: true }),
      tf.layers.dense({ units: 2 }),
    ] }),
    features: 2,
  },
  {
    name: "LSTM + Dense(softmax) imported as logits",
    build: () => tf.sequential({ layers: [tf.layers.lstm({ units: 4, ...sigmoid, inputShape: [T, 3] }), tf.layers.dense({ units: 3, activation: "softmax" })] }),
    features: 3,
    options: { finalSoftmaxAsLogits: true },
  },
];

describe("TF.js models import and predict what TF.js predicts", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const keras = c.build();
    const artifacts = await save(keras);
    const before = engine().allocator.bytesInUse;
    // From the artifacts a save handler receives, and from model.json + weights.bin.
    const a = importTfjs(artifacts, undefined, c.options);
    const { json, bin } = files(artifacts);
    const b = importTfjs(json, bin, c.options);
    expect(b.getWeights()).toEqual(a.getWeights());
    let [expected, actual] = bothPredict(keras, a, T, B, c.features);
    if (c.options?.finalSoftmaxAsLogits) {
      // Unfold gives logits: softmax them per row to compare.
      const C = 3;
      actual = Float32Array.from(actual);
      for (let r = 0; r < actual.length / C; r++) {
        const row = actual.subarray(r * C, (r + 1) * C);
        const m = Math.max(...row);
        const e = Array.from(row, (v) => Math.exp(v - m));
        const s = e.reduce((p, q) => p + q, 0);
        row.set(e.map((v) => v / s));
      }
    }
    expectClose(actual, expected, 2e-6, 2e-5, c.name);
    a.dispose();
    b.dispose();
    expect(engine().allocator.bytesInUse).toBe(before);
    keras.dispose();
  });

  it("weights split over several shards import the same", async () => {
    const keras = CASES[2].build();
    const artifacts = await save(keras);
    const { json, bin } = files(artifacts);
    const a = importTfjs(json, bin);
    const b = importTfjs(json, [bin.slice(0, 37), bin.slice(37, 100).buffer, bin.slice(100)]);
    expect(b.getWeights()).toEqual(a.getWeights());
    a.dispose();
    b.dispose();
    keras.dispose();
  });

  it("takes a loss and a seed for training on in Unfold", async () => {
    const keras = CASES[0].build();
    const model = importTfjs(await save(keras), undefined, { loss: "mse", seed: 3 });
    expect(model.loss?.name).toBe("mse");
    expect(model.config.layers.map((l) => l.kind)).toEqual(["elman", "dense"]);
    model.dispose();
    keras.dispose();
  });
});

/** Keras' GRU with reset_after=True in float64: kernel [I, 3H], recurrent [H, 3H] (z, r, h columns), bias [2, 3H]. Input [B, T, I]. */
function kerasGruResetAfter(x: Float32Array, Bn: number, Tn: number, I: number, H: number, kernel: Float32Array, rec: Float32Array, bias: Float32Array, returnSequences: boolean): Float64Array {
  const out = new Float64Array(returnSequences ? Bn * Tn * H : Bn * H);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  for (let b = 0; b < Bn; b++) {
    let h = new Float64Array(H);
    for (let t = 0; t < Tn; t++) {
      const xs = new Float64Array(3 * H), hs = new Float64Array(3 * H);
      for (let c = 0; c < 3 * H; c++) {
        xs[c] = bias[c];
        hs[c] = bias[3 * H + c];
        for (let i = 0; i < I; i++) xs[c] += x[(b * Tn + t) * I + i] * kernel[i * 3 * H + c];
        for (let j = 0; j < H; j++) hs[c] += h[j] * rec[j * 3 * H + c];
      }
      const next = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        const z = sig(xs[j] + hs[j]);
        const r = sig(xs[H + j] + hs[H + j]);
        const hh = Math.tanh(xs[2 * H + j] + r * hs[2 * H + j]);
        next[j] = z * h[j] + (1 - z) * hh;
      }
      h = next;
      if (returnSequences) out.set(h, (b * Tn + t) * H);
    }
    if (!returnSequences) out.set(h, b * H);
  }
  return out;
}

describe("Keras GRU with reset_after=True (Keras 2.x's default, as tensorflowjs_converter writes it)", () => {
  it("imports with resetAfter: true and matches Keras' formulas", () => {
    const I = 3, H = 4;
    const kernel = rand(I * 3 * H, 21, -0.7, 0.7), rec = rand(H * 3 * H, 22, -0.7, 0.7), bias = rand(2 * 3 * H, 23, -0.5, 0.5);
    const weightData = new Uint8Array([...new Uint8Array(kernel.buffer), ...new Uint8Array(rec.buffer), ...new Uint8Array(bias.buffer)]);
    // A model.json as tensorflowjs_converter writes it from a Keras .h5 (modelTopology.model_config, weight names with the cell).
    const modelJson = {
      format: "layers-model",
      modelTopology: {
        keras_version: "2.15.0",
        backend: "tensorflow",
        model_config: {
          class_name: "Sequential",
          config: {
            name: "sequential",
            layers: [
              { class_name: "InputLayer", config: { batch_input_shape: [null, T, I], dtype: "float32", name: "input_1" } },
              { class_name: "GRU", config: { name: "gru", units: H, activation: "tanh", recurrent_activation: "sigmoid", use_bias: true, return_sequences: true, reset_after: true, dropout: 0, recurrent_dropout: 0, go_backwards: false, stateful: false, unroll: false, time_major: false } },
            ],
          },
        },
      },
      weightsManifest: [{ paths: ["group1-shard1of1.bin"], weights: [
        { name: "gru/gru_cell/kernel", shape: [I, 3 * H], dtype: "float32" },
        { name: "gru/gru_cell/recurrent_kernel", shape: [H, 3 * H], dtype: "float32" },
        { name: "gru/gru_cell/bias", shape: [2, 3 * H], dtype: "float32" },
      ] }],
    };
    const model = importTfjs(JSON.stringify(modelJson), weightData);
    expect(model.config.layers[0]).toMatchObject({ kind: "gru", options: { units: H, resetAfter: true } });
    const xb = rand(B * T * I, 24);
    const expected = kerasGruResetAfter(xb, B, T, I, H, kernel, rec, bias, true);
    const x = Tensor.fromArray(swapBT(xb, B, T, I), [T, B, I]);
    const y = model.predict(x);
    expectClose(y.toFloat32Array(), swapBT(expected, B, T, H), 2e-6, 2e-5, "reset_after GRU");
    x.dispose();
    y.dispose();
    model.dispose();
  });
});

describe("unsupported settings are refused, saying what to change", () => {
  async function refusal(build: () => tf.Sequential, pattern: RegExp, edit?: (a: Artifacts) => void, options?: TfjsImportOptions): Promise<void> {
    const keras = build();
    const artifacts = await save(keras);
    edit?.(artifacts);
    const before = engine().allocator.bytesInUse;
    let error: unknown;
    try {
      importTfjs(artifacts, undefined, options).dispose();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnfoldError);
    expect((error as Error).message).toMatch(pattern);
    expect(engine().allocator.bytesInUse).toBe(before);
    keras.dispose();
  }
  const layers = (a: Artifacts) => ((a.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }).config.layers);

  it("TF.js' default hardSigmoid gates", async () => {
    await refusal(() => tf.sequential({ layers: [tf.layers.lstm({ units: 2, inputShape: [T, 3] })] }),
      /LSTM layer "[^"]+": recurrent_activation "hard_sigmoid" is not supported \(supported: sigmoid\) — Unfold's gates use the logistic sigmoid; TF.js defaults to hardSigmoid, so build the model with recurrentActivation: "sigmoid"/);
    await refusal(() => tf.sequential({ layers: [tf.layers.gru({ units: 2, inputShape: [T, 3] })] }), /GRU layer .* "hard_sigmoid" is not supported/);
  });

  it("masking, stateful and backwards layers, dropout inside an RNN, softmax, other layer classes", async () => {
    await refusal(() => tf.sequential({ layers: [tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true, inputLength: T }), tf.layers.simpleRNN({ units: 2 })] }), /mask_zero is not supported; give the model per-sample lengths/);
    await refusal(() => tf.sequential({ layers: [tf.layers.simpleRNN({ units: 2, goBackwards: true, inputShape: [T, 3] })] }), /go_backwards is only supported as the backward half of a Bidirectional/);
    await refusal(() => tf.sequential({ layers: [tf.layers.simpleRNN({ units: 2, dropout: 0.2, inputShape: [T, 3] })] }), /dropout 0.2 on the RNN's inputs has no Unfold counterpart/);
    await refusal(() => tf.sequential({ layers: [tf.layers.simpleRNN({ units: 2, inputShape: [T, 3] }), tf.layers.dense({ units: 2, activation: "softmax" })] }), /activation "softmax" is not supported .* finalSoftmaxAsLogits/);
    await refusal(() => tf.sequential({ layers: [tf.layers.simpleRNN({ units: 2, inputShape: [T, 3] })] }), /stateful is not supported/, (a) => { layers(a)[0].config.stateful = true; });
    await refusal(() => tf.sequential({ layers: [tf.layers.conv1d({ filters: 2, kernelSize: 2, inputShape: [T, 3] })] }), /Keras layer class "Conv1D" is not supported/);
    await refusal(() => tf.sequential({ layers: [tf.layers.simpleRNN({ units: 2, inputShape: [T, 3] })] }), /only Sequential models/, (a) => { (a.modelTopology as { class_name: string }).class_name = "Functional"; });
  });

  it("weights that do not fit", async () => {
    const build = () => tf.sequential({ layers: [tf.layers.simpleRNN({ units: 2, inputShape: [T, 3] }), tf.layers.dense({ units: 1 })] });
    await refusal(build, /the weights listed take 60 bytes, the weight data has 56 \(truncated/, (a) => { a.weightData = (a.weightData as ArrayBuffer).slice(0, 56); });
    await refusal(build, /the kernel of layer "[^"]+" has shape \[3, 3\], expected \[2, 1\]/, (a) => {
      const specs = a.weightSpecs!;
      specs[3] = { ...specs[3], shape: [3, 3] };
      a.weightData = new Uint8Array(4 * (6 + 4 + 2 + 9 + 1)).buffer;
    });
    await refusal(build, /the weights have no bias of layer/, (a) => { a.weightSpecs![2] = { ...a.weightSpecs![2], name: "elsewhere/bias" }; });
    await refusal(build, /weight "[^"]+" is quantized/, (a) => { (a.weightSpecs![0] as { quantization?: unknown }).quantization = { dtype: "uint8", scale: 1, min: 0 }; });
    await refusal(build, /value 0 is NaN/, (a) => { new Float32Array(a.weightData as ArrayBuffer)[0] = NaN; });
    await refusal(build, /unknown option "strict"/, undefined, { strict: true } as never);
    expect(() => importTfjs("{not json", new Uint8Array(0))).toThrow(/model.json is not valid JSON/);
    expect(() => importTfjs({ modelTopology: { class_name: "Sequential", config: { layers: [] } }, weightSpecs: [], weightData: new ArrayBuffer(0) })).toThrow(/no layers/);
    expect(() => importTfjs({ format: "graph-model", modelTopology: { node: [] } }, new Uint8Array(0))).toThrow(/only Sequential models/);
  });
});
