// TF.js / Keras import: a tfjs-layers Sequential model (model.json + weights.bin, as
// `model.save(...)` writes it, or the artifacts a `tf.io.withSaveHandler` handler receives;
// also model.json files tensorflowjs_converter makes from Keras) becomes an Unfold Sequential
// with the same weights and the same predictions (Keras is batch-major [B, T, F]; the Unfold
// model takes the same numbers time-major, [T, B, F]).
//
// Layers: InputLayer, Embedding, SimpleRNN, LSTM, GRU (both reset_after forms), Bidirectional,
// Dense, TimeDistributed(Dense), Dropout. The conversions happen here, at the edge:
// - Keras kernels are [in, out]; Unfold's weights [out, in] (PyTorch's): transposed.
// - LSTM gates: Keras i, f, c, o — the same order as Unfold's i, f, g, o (c is the candidate g).
// - GRU gates: Keras z, r, h → Unfold r, z, n: the first two blocks swap. reset_after false
//   (TF.js's only form) is Unfold's resetAfter: false; reset_after true (Keras 2.x's default)
//   is resetAfter: true, and its [2, 3H] bias splits into bias_ih (input) and bias_hh (recurrent).
// - Keras has one bias per RNN (reset-before GRU, LSTM, SimpleRNN): it becomes bias_ih, and
//   bias_hh is zero.
// Options that change what the model computes are checked and, where Unfold has no
// counterpart, refused with a message saying what to change (hard_sigmoid gates, masking,
// stateful or backwards layers, dropout inside an RNN, softmax outputs); options that only
// affect initialisation or training penalties (initializers, regularizers, constraints) do not
// change a trained model's predictions and are not read.
import { UnfoldError, formatShape } from "../engine/index.js";
import { Bidirectional, type MergeMode } from "../layers/bidirectional.js";
import { Dense, type Activation } from "../layers/dense.js";
import { Dropout } from "../layers/dropout.js";
import { Elman } from "../layers/elman.js";
import { Embedding } from "../layers/embedding.js";
import { GRU } from "../layers/gru.js";
import type { Layer } from "../layers/layer.js";
import type { Loss, LossName } from "../layers/losses.js";
import { LSTM } from "../layers/lstm.js";
import type { RecurrentLayer } from "../layers/recurrent.js";
import { Sequential } from "../models/sequential.js";
import { walkJson } from "./json.js";
import { brief } from "./safetensors.js";

export interface TfjsImportOptions {
  /** The Unfold model's training loss. Default none. */
  loss?: LossName | Loss;
  /** Seeds the model's generator (dropout in training). Default 0. */
  seed?: number;
  /**
   * Import a final Dense with softmax activation as a linear one: the model then outputs
   * logits (the same argmax; Unfold's softmaxCrossEntropy takes logits). Default false: a
   * softmax Dense is refused, Unfold's Dense has no softmax.
   */
  finalSoftmaxAsLogits?: boolean;
}

/** Weights the model.json lists: the files' bytes in manifest order (one buffer or the shards as a list). */
export type TfjsWeightData = Uint8Array | ArrayBuffer | readonly (Uint8Array | ArrayBuffer)[];

function fail(message: string): never {
  throw new UnfoldError(`TF.js import: ${message}`);
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An own field of a JSON object (never one inherited from Object.prototype). */
function field(o: Json, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

// ------------------------------------------------------------------------------ weights

interface WeightSpec {
  name: string;
  shape: number[];
}

/** The weight specs in manifest order, checked. */
function weightSpecs(artifacts: Json): WeightSpec[] {
  let specs = field(artifacts, "weightSpecs");
  const manifest = field(artifacts, "weightsManifest");
  if (specs === undefined) {
    if (!Array.isArray(manifest)) fail("the model has neither weightSpecs (TF.js artifacts) nor a weightsManifest (model.json)");
    specs = manifest.flatMap((group, i) => {
      const weights = isObject(group) ? field(group, "weights") : undefined;
      if (!Array.isArray(weights)) fail(`weightsManifest group ${i} has no list of weights`);
      return weights;
    });
  }
  if (!Array.isArray(specs)) fail(`weightSpecs must be a list, got ${brief(specs)}`);
  const seen = new Set<string>();
  return specs.map((s, i) => {
    if (!isObject(s)) fail(`weight ${i} must be described by an object`);
    const name = field(s, "name"), shape = field(s, "shape"), dtype = field(s, "dtype") ?? "float32";
    if (typeof name !== "string") fail(`weight ${i} has no name`);
    if (seen.has(name)) fail(`two weights are named ${brief(name)}`);
    seen.add(name);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`weight ${brief(name)} has shape ${brief(shape)}`);
    if (dtype !== "float32") fail(`weight ${brief(name)} is ${brief(dtype)}; Unfold imports float32 weights`);
    if (field(s, "quantization") !== undefined) fail(`weight ${brief(name)} is quantized; convert the model without quantization`);
    return { name, shape: shape as number[] };
  });
}

/** One contiguous byte array from the weight data, however it was given. */
function weightBytes(data: unknown): Uint8Array {
  const parts = Array.isArray(data) ? data : [data];
  const views = parts.map((p, i) => {
    if (p instanceof Uint8Array) return p;
    if (p instanceof ArrayBuffer) return new Uint8Array(p);
    fail(`weight data ${parts.length > 1 ? `part ${i} ` : ""}must be a Uint8Array or an ArrayBuffer (the bytes of weights.bin), got ${p === null ? "null" : typeof p}`);
  });
  if (views.length === 1) return views[0];
  const out = new Uint8Array(views.reduce((n, v) => n + v.length, 0));
  let at = 0;
  for (const v of views) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

/** name → float32 values, decoded little-endian, after checking the byte count. */
function decodeWeights(specs: WeightSpec[], bytes: Uint8Array): Map<string, { shape: number[]; data: Float32Array }> {
  const sizes = specs.map((s) => s.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0) * 4;
  if (bytes.length !== total) fail(`the weights listed take ${total} bytes, the weight data has ${bytes.length}${bytes.length < total ? " (truncated, or a shard missing?)" : ""}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  let at = 0;
  specs.forEach((s, i) => {
    const data = new Float32Array(sizes[i]);
    for (let j = 0; j < data.length; j++) data[j] = view.getFloat32(at + j * 4, true);
    for (let j = 0; j < data.length; j++) if (!Number.isFinite(data[j])) fail(`weight ${brief(s.name)} value ${j} is ${data[j]}`);
    at += data.length * 4;
    out.set(s.name, { shape: s.shape, data });
  });
  return out;
}

/**
 * The weights of one Keras layer, by their last name component (`kernel`, `recurrent_kernel`,
 * `bias`, `embeddings`): names are `<layer>/[...]/<variable>[:0]`, and a Bidirectional's
 * directions are `<layer>/forward_.../…` and `<layer>/backward_.../…`.
 */
class LayerWeights {
  constructor(private readonly all: Map<string, { shape: number[]; data: Float32Array }>, private readonly used: Set<string>) {}

  get(layer: string, variable: string, direction: "" | "forward" | "backward" = ""): { shape: number[]; data: Float32Array } | undefined {
    let found: string | undefined;
    for (const name of this.all.keys()) {
      const parts = name.replace(/:\d+$/, "").split("/");
      if (parts[0] !== layer || parts[parts.length - 1] !== variable || parts.length < 2) continue;
      if (direction && !(parts.length >= 3 && parts[1].startsWith(`${direction}_`))) continue;
      if (found) fail(`layer "${layer}" has two ${direction ? `${direction} ` : ""}weights named ${variable}: ${brief(found)} and ${brief(name)}`);
      found = name;
    }
    if (found === undefined) return undefined;
    this.used.add(found);
    return this.all.get(found);
  }

  need(layer: string, variable: string, shape: number[], direction: "" | "forward" | "backward" = ""): Float32Array {
    const w = this.get(layer, variable, direction);
    const what = `${direction ? `${direction} ` : ""}${variable} of layer "${layer}"`;
    if (!w) fail(`the weights have no ${what}`);
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) fail(`the ${what} has shape ${formatShape(w.shape)}, expected ${formatShape(shape)}`);
    return w.data;
  }
}

/**
 * A Keras kernel [rows, blocks·H] as Unfold's [blocks·H, rows]: transposed, and block g of the
 * result taken from Keras' block order[g] (gate reordering).
 */
function transposeBlocks(kernel: Float32Array, rows: number, cols: number, order: readonly number[]): Float32Array {
  const blocks = order.length, H = cols / blocks;
  const out = new Float32Array(rows * cols);
  for (let g = 0; g < blocks; g++) {
    for (let j = 0; j < H; j++) {
      const src = order[g] * H + j, dst = g * H + j;
      for (let r = 0; r < rows; r++) out[dst * rows + r] = kernel[r * cols + src];
    }
  }
  return out;
}

function permuteBlocks(v: Float32Array, order: readonly number[]): Float32Array {
  const H = v.length / order.length;
  const out = new Float32Array(v.length);
  order.forEach((from, g) => out.set(v.subarray(from * H, (from + 1) * H), g * H));
  return out;
}

// ------------------------------------------------------------------------------ layers

/** An Unfold layer made from a Keras layer, and how to fill its parameters once its prefix is known. */
interface Converted {
  make: () => Layer;
  /** Parameter values by Unfold name, for the layer built with `prefix`, whose input has `inputSize` features. */
  weights: (prefix: string, inputSize: number) => Record<string, Float32Array>;
}

const KERAS_GATES: Readonly<Record<string, { gates: number; order: readonly number[] }>> = {
  SimpleRNN: { gates: 1, order: [0] },
  LSTM: { gates: 4, order: [0, 1, 2, 3] }, // i, f, c, o → i, f, g, o
  GRU: { gates: 3, order: [1, 0, 2] }, // z, r, h → r, z, n
};

function checkActivation(where: string, key: string, value: unknown, allowed: readonly string[], hint = ""): string {
  const v = value === undefined || value === null ? "linear" : value;
  if (typeof v !== "string" || !allowed.includes(v)) {
    fail(`${where}: ${key} ${brief(v)} is not supported (supported: ${allowed.join(", ")})${hint}`);
  }
  return v;
}

const falsy = (v: unknown) => v === undefined || v === null || v === false;
const zero = (v: unknown) => v === undefined || v === null || v === 0;

/** A recurrent Keras layer (SimpleRNN, LSTM, GRU) as an Unfold cell. */
function recurrent(cls: string, cfg: Json, name: string): { make: () => RecurrentLayer; units: number; resetAfter: boolean } {
  const where = `${cls} layer "${name}"`;
  const units = field(cfg, "units");
  if (typeof units !== "number" || !Number.isInteger(units) || units < 1) fail(`${where}: units ${brief(units)} is not a whole number >= 1`);
  if (!falsy(field(cfg, "return_state"))) fail(`${where}: return_state is not supported (a Sequential passes on one output)`);
  if (!falsy(field(cfg, "stateful"))) fail(`${where}: stateful is not supported; Unfold streams with model.step() instead`);
  if (!falsy(field(cfg, "go_backwards"))) fail(`${where}: go_backwards is only supported as the backward half of a Bidirectional`);
  if (!zero(field(cfg, "dropout"))) fail(`${where}: dropout ${brief(field(cfg, "dropout"))} on the RNN's inputs has no Unfold counterpart; set it to 0 (it acts only in training) or put a Dropout layer before the RNN`);
  const recurrentDropout = field(cfg, "recurrent_dropout") ?? 0;
  const activations = cls === "SimpleRNN" ? ["tanh", "relu", "sigmoid"] : ["tanh"];
  const activation = checkActivation(where, "activation", field(cfg, "activation") ?? "tanh", activations);
  if (cls !== "SimpleRNN") {
    checkActivation(where, "recurrent_activation", field(cfg, "recurrent_activation") ?? "sigmoid", ["sigmoid"],
      ` — Unfold's gates use the logistic sigmoid; TF.js defaults to hardSigmoid, so build the model with recurrentActivation: "sigmoid" (Keras: recurrent_activation="sigmoid") and train it that way`);
  }
  const returnSequences = !falsy(field(cfg, "return_sequences"));
  const resetAfter = cls === "GRU" && !falsy(field(cfg, "reset_after"));
  const common = { units, returnSequences, recurrentDropout: recurrentDropout as number };
  const make = (): RecurrentLayer => {
    if (cls === "LSTM") return new LSTM(common);
    if (cls === "GRU") return new GRU({ ...common, resetAfter });
    return new Elman({ ...common, activation: activation as "tanh" | "relu" | "sigmoid" });
  };
  return { make, units, resetAfter };
}

/** Fills a recurrent cell's parameters from one direction's Keras weights. */
function recurrentWeights(cls: string, w: LayerWeights, layer: string, direction: "" | "forward" | "backward", units: number, resetAfter: boolean, useBias: boolean, inputSize: number, name: (local: string) => string): Record<string, Float32Array> {
  const { gates, order } = KERAS_GATES[cls];
  const G = gates * units;
  const out: Record<string, Float32Array> = {};
  out[name("weight_ih")] = transposeBlocks(w.need(layer, "kernel", [inputSize, G], direction), inputSize, G, order);
  out[name("weight_hh")] = transposeBlocks(w.need(layer, "recurrent_kernel", [units, G], direction), units, G, order);
  if (!useBias) {
    out[name("bias_ih")] = new Float32Array(G);
    out[name("bias_hh")] = new Float32Array(G);
  } else if (resetAfter) {
    const b = w.need(layer, "bias", [2, G], direction);
    out[name("bias_ih")] = permuteBlocks(b.subarray(0, G), order);
    out[name("bias_hh")] = permuteBlocks(b.subarray(G), order);
  } else {
    out[name("bias_ih")] = permuteBlocks(w.need(layer, "bias", [G], direction), order);
    out[name("bias_hh")] = new Float32Array(G);
  }
  return out;
}

function dense(cfg: Json, where: string, layerName: string, w: LayerWeights, softmaxAsLinear: boolean): Converted {
  const units = field(cfg, "units");
  if (typeof units !== "number" || !Number.isInteger(units) || units < 1) fail(`${where}: units ${brief(units)} is not a whole number >= 1`);
  const act = field(cfg, "activation") ?? "linear";
  const activation = (softmaxAsLinear && act === "softmax" ? "linear"
    : checkActivation(where, "activation", act, ["linear", "tanh", "sigmoid", "relu"],
      act === "softmax" ? " — Unfold's Dense has no softmax: import with { finalSoftmaxAsLogits: true } to get logits (its losses take logits)" : "")) as Activation;
  const bias = field(cfg, "use_bias") !== false;
  return {
    make: () => new Dense({ units, activation, bias }),
    weights: (prefix, inputSize) => {
      const out: Record<string, Float32Array> = { [`${prefix}.weight`]: transposeBlocks(w.need(layerName, "kernel", [inputSize, units]), inputSize, units, [0]) };
      if (bias) out[`${prefix}.bias`] = w.need(layerName, "bias", [units]);
      return out;
    },
  };
}

/** One Keras layer (class and config) as an Unfold layer, or null for a layer with no computation (InputLayer). */
function convert(entry: unknown, index: number, count: number, w: LayerWeights, options: TfjsImportOptions): Converted | null {
  if (!isObject(entry)) fail(`layer ${index} must be { class_name, config }`);
  const cls = field(entry, "class_name");
  const cfg = field(entry, "config");
  if (typeof cls !== "string" || !isObject(cfg)) fail(`layer ${index} must be { class_name, config }, got ${brief(cls)}`);
  const name = typeof field(cfg, "name") === "string" ? (field(cfg, "name") as string) : `#${index}`;
  const where = `${cls} layer "${name}"`;
  switch (cls) {
    case "InputLayer":
      return null;
    case "Embedding": {
      const vocab = field(cfg, "input_dim"), dim = field(cfg, "output_dim");
      if (!falsy(field(cfg, "mask_zero"))) fail(`${where}: mask_zero is not supported; give the model per-sample lengths instead (model.forward(x, { lengths }))`);
      return {
        make: () => new Embedding({ vocab: vocab as number, dim: dim as number }),
        weights: (prefix) => ({ [`${prefix}.weight`]: w.need(name, "embeddings", [vocab as number, dim as number]) }),
      };
    }
    case "Dense":
      return dense(cfg, where, name, w, options.finalSoftmaxAsLogits === true && index === count - 1);
    case "TimeDistributed": {
      const inner = field(cfg, "layer");
      if (!isObject(inner) || field(inner, "class_name") !== "Dense" || !isObject(field(inner, "config"))) {
        fail(`${where}: only TimeDistributed(Dense) is supported, got TimeDistributed(${brief(isObject(inner) ? field(inner, "class_name") : inner)})`);
      }
      // The weights are stored under the wrapper's name.
      return dense(field(inner, "config") as Json, where, name, w, options.finalSoftmaxAsLogits === true && index === count - 1);
    }
    case "Dropout": {
      if (field(cfg, "noise_shape") !== undefined && field(cfg, "noise_shape") !== null) fail(`${where}: noise_shape is not supported`);
      const rate = field(cfg, "rate");
      return { make: () => new Dropout({ rate: rate as number }), weights: () => ({}) };
    }
    case "SimpleRNN":
    case "LSTM":
    case "GRU": {
      const r = recurrent(cls, cfg, name);
      const useBias = field(cfg, "use_bias") !== false;
      return {
        make: r.make,
        weights: (prefix, inputSize) => recurrentWeights(cls, w, name, "", r.units, r.resetAfter, useBias, inputSize, (l) => `${prefix}.${l}`),
      };
    }
    case "Bidirectional": {
      const inner = field(cfg, "layer");
      const innerCls = isObject(inner) ? field(inner, "class_name") : undefined;
      const innerCfg = isObject(inner) ? field(inner, "config") : undefined;
      if (typeof innerCls !== "string" || !(innerCls in KERAS_GATES) || !isObject(innerCfg)) {
        fail(`${where}: it must wrap a SimpleRNN, LSTM or GRU, got ${brief(innerCls)}`);
      }
      const modes: Record<string, MergeMode> = { concat: "concat", sum: "sum", mul: "mul", ave: "average" };
      const mode = field(cfg, "merge_mode") ?? "concat";
      if (typeof mode !== "string" || !Object.hasOwn(modes, mode)) fail(`${where}: merge_mode ${brief(mode)} is not supported (supported: concat, sum, mul, ave)`);
      const back = field(cfg, "backward_layer");
      if (back !== undefined && back !== null) {
        const backCfg = isObject(back) ? field(back, "config") : undefined;
        if (!isObject(back) || field(back, "class_name") !== innerCls || !isObject(backCfg) || field(backCfg, "units") !== field(innerCfg, "units")) {
          fail(`${where}: a backward_layer different from the forward layer is not supported`);
        }
      }
      const r = recurrent(innerCls, innerCfg, name);
      const useBias = field(innerCfg, "use_bias") !== false;
      return {
        make: () => new Bidirectional(r.make(), { merge: modes[mode] }),
        weights: (prefix, inputSize) => ({
          ...recurrentWeights(innerCls, w, name, "forward", r.units, r.resetAfter, useBias, inputSize, (l) => `${prefix}.${l}`),
          ...recurrentWeights(innerCls, w, name, "backward", r.units, r.resetAfter, useBias, inputSize, (l) => `${prefix}.${l}_reverse`),
        }),
      };
    }
    default:
      fail(`${where}: Keras layer class ${brief(cls)} is not supported (supported: InputLayer, Embedding, SimpleRNN, LSTM, GRU, Bidirectional, Dense, TimeDistributed(Dense), Dropout)`);
  }
}

/** The input width a Keras Sequential declares (batch_input_shape [null, T, F] of its first layer or InputLayer). */
function declaredInputSize(layers: unknown[]): number | undefined {
  const first = layers[0];
  if (!isObject(first)) return undefined;
  const cfg = field(first, "config");
  if (!isObject(cfg)) return undefined;
  const inner = isObject(field(cfg, "layer")) ? field(field(cfg, "layer") as Json, "config") : undefined;
  for (const c of [cfg, inner]) {
    if (!isObject(c)) continue;
    const shape = field(c, "batch_input_shape") ?? field(c, "batch_shape");
    if (Array.isArray(shape) && shape.length === 3 && Number.isInteger(shape[2])) return shape[2] as number;
  }
  return undefined;
}

// ------------------------------------------------------------------------------ the import

/**
 * An Unfold Sequential from a tfjs-layers / Keras Sequential model. `model` is the model.json
 * (its text or parsed object, with `weightsManifest`) together with `weights`, the bytes of
 * its weight files in manifest order; or the ModelArtifacts a TF.js save handler receives
 * (`modelTopology`, `weightSpecs`, `weightData`), with no `weights`. Everything is checked —
 * layers, options, every weight's shape and finiteness, the byte count — before the model is
 * built. The caller owns the returned model.
 */
export function importTfjs(model: string | object, weights?: TfjsWeightData, options: TfjsImportOptions = {}): Sequential {
  for (const key of Object.keys(options)) {
    if (!["loss", "seed", "finalSoftmaxAsLogits"].includes(key)) fail(`unknown option "${key}" (known: loss, seed, finalSoftmaxAsLogits)`);
  }
  let artifacts: unknown = model;
  if (typeof model === "string") {
    try {
      artifacts = JSON.parse(model);
    } catch (e) {
      fail(`model.json is not valid JSON (${(e as Error).message.slice(0, 200)})`);
    }
  }
  if (!isObject(artifacts)) fail(`expected model.json (an object with modelTopology), got ${brief(artifacts)}`);
  for (const key of ["modelTopology", "weightSpecs", "weightsManifest"]) walkJson(field(artifacts, key), `TF.js import: ${key}`, 64);
  let topology = field(artifacts, "modelTopology");
  if (isObject(topology) && isObject(field(topology, "model_config"))) topology = field(topology, "model_config"); // tensorflowjs_converter's Keras form
  if (!isObject(topology)) fail("the model has no modelTopology (a graph model from tf.saved_model cannot be imported; export the Keras model instead)");
  const cls = field(topology, "class_name");
  if (cls !== "Sequential") fail(`only Sequential models can be imported, this is a ${brief(cls)} model`);
  const config = field(topology, "config");
  const layers = Array.isArray(config) ? config : isObject(config) ? field(config, "layers") : undefined;
  if (!Array.isArray(layers) || layers.length === 0) fail("the Sequential has no layers");

  const data = weights ?? field(artifacts, "weightData");
  if (data === undefined) fail("no weight data: pass the bytes of weights.bin as the second argument");
  const all = decodeWeights(weightSpecs(artifacts), weightBytes(data));
  const used = new Set<string>();
  const w = new LayerWeights(all, used);
  const converted = layers.map((entry, i) => convert(entry, i, layers.length, w, options)).filter((c): c is Converted => c !== null);
  if (converted.length === 0) fail("the Sequential has no layers besides its input");

  const modelOptions = { inputSize: declaredInputSize(layers), loss: options.loss, seed: options.seed };
  const clean = Object.fromEntries(Object.entries(modelOptions).filter(([, v]) => v !== undefined));
  // Lay the model out without allocating, fill and check every weight, then build it.
  const dry = converted.map((c) => c.make());
  const layout = Sequential.paramLayout(dry, clean);
  const values: Record<string, Float32Array> = {};
  dry.forEach((layer, i) => Object.assign(values, converted[i].weights(layer.prefix, layer.inputSize)));
  for (const p of layout) {
    const v = values[p.name];
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (!v || v.length !== size) fail(`internal: no weights of size ${size} for ${p.name}`);
  }
  const unused = [...all.keys()].filter((k) => !used.has(k));
  if (unused.length) fail(`weights no layer uses: ${unused.slice(0, 8).map((k) => brief(k)).join(", ")}`);
  const result = new Sequential(converted.map((c) => c.make()), clean);
  try {
    result.setWeights(values);
  } catch (e) {
    result.dispose();
    throw e;
  }
  return result;
}
