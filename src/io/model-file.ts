// Unfold's model file: safetensors holding every parameter under its own name (F32, the
// shapes of `model.params`), with `__metadata__.unfold` a JSON string:
//
//   { "format": "unfold-model", "version": 1,
//     "model": { "inputSize", "loss": { name, options } | null, "context": { size, mode } | null,
//                "layers": [ { "kind", "options" }, ... ] },        // Sequential's `config`
//     "rng": [s0, s1, s2, s3, spareNormal | null],                  // the model's generator
//     "metadata": { ... } }                                         // the caller's, free-form JSON
//
// Python's `safetensors` opens it as any other file (`safe_open(path, "np")`, `.metadata()`).
// Reading trusts nothing: the container is checked by readSafetensors, the description here
// (shape of the JSON, format, version), the options by the layer constructors, and the
// weights against the parameter layout the description implies — all before the model
// allocates any wasm memory.
import { UnfoldError } from "../engine/index.js";
import { Rng } from "../data/rng.js";
import type { Layer } from "../layers/layer.js";
import { Loss } from "../layers/losses.js";
import { isRegisteredLayer, layerFromConfig, MAX_LAYER_DEPTH } from "../layers/registry.js";
import type { ModelConfig, SequentialOptions } from "../models/sequential.js";
import { walkJson } from "./json.js";
import { brief, readSafetensors, writeSafetensors, type SafeTensor } from "./safetensors.js";

export const MODEL_FORMAT = "unfold-model";
/** The version this Unfold writes and reads. A change that old readers would misread bumps it. */
export const MODEL_FORMAT_VERSION = 1;
/** The `__metadata__` key of the description. */
const KEY = "unfold";

function fail(message: string): never {
  throw new UnfoldError(`model file: ${message}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** What `writeModelFile` needs of a model. */
export interface ModelSnapshot {
  params: readonly { name: string; shape: readonly number[]; data: Float32Array }[];
  config: ModelConfig;
  rng: readonly number[];
}

/** The bytes of a model file. `metadata` must be JSON-able (it is stored as JSON.stringify writes it). */
export function writeModelFile(model: ModelSnapshot, metadata: Record<string, unknown> = {}): Uint8Array {
  if (!isPlainObject(metadata)) throw new UnfoldError(`save: metadata must be a plain object of JSON values, got ${Array.isArray(metadata) ? "an array" : typeof metadata}`);
  // Every layer in the description must be one `load` can rebuild.
  walkJson(model.config.layers, "save: the architecture", 2 * MAX_LAYER_DEPTH + 6, (_key, v) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const kind = (v as { kind?: unknown }).kind;
      if (typeof kind === "string" && Object.hasOwn(v, "options") && !isRegisteredLayer(kind)) {
        throw new UnfoldError(`save: layers of kind "${kind}" could not be rebuilt by load; register them first with registerLayer("${kind}", options => new YourLayer(options))`);
      }
    }
  });
  const tensors: Record<string, SafeTensor> = Object.create(null);
  for (const p of model.params) tensors[p.name] = { dtype: "F32", shape: [...p.shape], data: p.data };
  const description = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    model: model.config,
    rng: model.rng.map((v) => (Number.isNaN(v) ? null : v)),
    metadata,
  };
  let json: string;
  try {
    json = JSON.stringify(description);
  } catch (e) {
    throw new UnfoldError(`save: metadata must be JSON-able (${(e as Error).message.slice(0, 200)})`);
  }
  return writeSafetensors(tensors, { [KEY]: json });
}

/** A model file's parts, the description checked for shape but the architecture not yet built. */
export interface ModelFile {
  /** The architecture description: pass it to `modelParts` (it is untrusted until then). */
  config: unknown;
  tensors: Map<string, SafeTensor>;
  rng: number[];
  metadata: Record<string, unknown>;
}

/**
 * Reads the container and the description: format, version, the generator's state, the
 * user's metadata. Also bounds the work the architecture can ask for before it is built: a
 * description may not stack more recurrent levels than the file has tensors (each level has
 * at least two), nor nest deeper than composites can.
 */
export function readModelFile(bytes: Uint8Array | ArrayBuffer): ModelFile {
  const { tensors, metadata } = readSafetensors(bytes);
  const text = metadata.get(KEY);
  if (text === undefined) {
    fail(`this safetensors file has no Unfold description (__metadata__ has ${metadata.size ? `only ${[...metadata.keys()].slice(0, 5).map((k) => brief(k)).join(", ")}` : "nothing"}); ` +
      "to load weights saved by PyTorch into a model, build the model and use importTorch");
  }
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch {
    fail("its description (__metadata__.unfold) is not valid JSON");
  }
  if (!isPlainObject(d)) fail(`its description must be a JSON object, got ${brief(d)}`);
  const own = (key: string): unknown => (Object.hasOwn(d as object, key) ? (d as Record<string, unknown>)[key] : undefined);
  const format = own("format");
  if (format !== MODEL_FORMAT) {
    if (format === "unfold-checkpoint") fail("this is a training checkpoint, not a model file: build the model and restore it with loadCheckpoint");
    fail(`not an Unfold model file (format ${brief(format)}, expected "${MODEL_FORMAT}")`);
  }
  const version = own("version");
  if (version !== MODEL_FORMAT_VERSION) {
    if (typeof version === "number" && Number.isInteger(version) && version > MODEL_FORMAT_VERSION) {
      fail(`format version ${version} was written by a newer Unfold; this one reads version ${MODEL_FORMAT_VERSION} — upgrade Unfold to load it`);
    }
    fail(`format version ${brief(version)} is not supported (this Unfold reads version ${MODEL_FORMAT_VERSION})`);
  }
  for (const key of Object.keys(d)) {
    if (!["format", "version", "model", "rng", "metadata"].includes(key)) fail(`unknown field ${brief(key)} in the description (known: format, version, model, rng, metadata)`);
  }
  const rng = own("rng");
  if (!Array.isArray(rng) || rng.length !== 5 || rng.some((v) => v !== null && typeof v !== "number")) fail(`the generator state must be 5 numbers, got ${brief(rng)}`);
  const rngState = rng.map((v) => (v === null ? NaN : v)) as number[];
  try {
    new Rng(0).setState(rngState);
  } catch (e) {
    fail((e as Error).message.slice(0, 200));
  }
  const user = own("metadata") ?? {};
  if (!isPlainObject(user)) fail(`metadata must be an object, got ${brief(user)}`);
  const config = own("model");
  checkDescription(config, tensors.size);
  return { config, tensors, rng: rngState, metadata: user };
}

/** The largest finite float32. */
const F32_MAX = 3.4028234663852886e38;

/**
 * Checks the architecture before anything is built (see walkJson: depth, keys that shadow
 * built-in properties), and refuses
 * - numbers outside float32's range (every option ends up in float32 arithmetic: 1e308 as an
 *   LSTM's forgetBias would make its initial bias infinite);
 * - more stacked levels (`layers: n` of the cells) than the file has tensors (each level has
 *   at least two), so a few bytes of JSON cannot make the loader build millions of layers.
 */
function checkDescription(config: unknown, tensorCount: number): void {
  let levels = 0;
  const number = (v: unknown) => {
    if (typeof v === "number" && !(Math.abs(v) <= F32_MAX)) fail(`the architecture holds the number ${v}, outside float32's range`);
  };
  number(config);
  walkJson(config, "model file: the architecture", 2 * MAX_LAYER_DEPTH + 6, (key, item) => {
    number(item);
    if (key === "layers" && typeof item === "number" && item > 0) levels += item;
  });
  if (levels > tensorCount) fail(`the architecture stacks ${levels} recurrent levels, but the file holds only ${tensorCount} tensors (each level has at least 2)`);
}

/**
 * The layers and Sequential options a config describes, freshly made (unbuilt) — JavaScript
 * objects only, nothing in wasm memory. Every option is checked by the constructor it goes
 * to; the shape of the description is checked here.
 */
export function modelParts(config: unknown): { layers: Layer[]; options: SequentialOptions } {
  if (!isPlainObject(config)) throw new UnfoldError(`model config: expected { inputSize, loss, context, layers }, got ${brief(config)}`);
  for (const key of Object.keys(config)) {
    if (!["inputSize", "loss", "context", "layers"].includes(key)) throw new UnfoldError(`model config: unknown field ${brief(key)} (known: inputSize, loss, context, layers)`);
  }
  const own = (key: string): unknown => (Object.hasOwn(config, key) ? config[key] : undefined);
  const described = own("layers");
  if (!Array.isArray(described) || described.length === 0) throw new UnfoldError(`model config: layers must be a non-empty list of { kind, options }, got ${brief(described)}`);
  const layers = described.map((c, i) => layerFromConfig(c, `model config: layer ${i}`));
  const options: SequentialOptions = {};
  const inputSize = own("inputSize");
  if (inputSize !== undefined) options.inputSize = inputSize as number;
  const context = own("context");
  if (context !== undefined && context !== null) options.context = context as SequentialOptions["context"];
  const loss = own("loss");
  if (loss !== undefined && loss !== null) {
    if (!isPlainObject(loss) || Object.keys(loss).some((k) => k !== "name" && k !== "options")) throw new UnfoldError(`model config: loss must be { name, options } or null, got ${brief(loss)}`);
    const lossOptions = Object.hasOwn(loss, "options") ? loss.options : {};
    if (!isPlainObject(lossOptions)) throw new UnfoldError(`model config: the loss options must be an object, got ${brief(lossOptions)}`);
    options.loss = new Loss(loss.name as never, lossOptions);
  }
  return { layers, options };
}

/**
 * The file's parameters, checked against the layout the architecture implies: the same
 * names (none missing, none extra), F32, the same shapes, finite values.
 */
export function matchWeights(layout: readonly { name: string; shape: readonly number[] }[], tensors: ReadonlyMap<string, SafeTensor>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of layout) {
    const t = tensors.get(name);
    if (!t) fail(`no values for parameter "${name}" of the described architecture (the file has ${[...tensors.keys()].slice(0, 8).map((k) => brief(k)).join(", ")}${tensors.size > 8 ? ", …" : ""})`);
    if (t.dtype !== "F32" || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      fail(`parameter "${name}" is ${t.dtype} [${t.shape.join(", ")}], the described architecture has F32 [${shape.join(", ")}]`);
    }
    const data = t.data as Float32Array;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) fail(`parameter "${name}" value ${i} is ${data[i]}; weights must be finite`);
    out.set(name, data);
  }
  if (tensors.size !== out.size) {
    const extra = [...tensors.keys()].filter((k) => !out.has(k));
    fail(`the file has tensors the described architecture does not: ${extra.slice(0, 8).map((k) => brief(k)).join(", ")}${extra.length > 8 ? ", …" : ""}`);
  }
  return out;
}
