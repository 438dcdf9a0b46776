// PyTorch interop: state_dicts saved as safetensors (`safetensors.torch.save_file(
// model.state_dict(), path)`) in and out, for nn.LSTM / nn.GRU / nn.RNN (any num_layers,
// bidirectional), nn.Linear and nn.Embedding. Unfold's layers use PyTorch's layouts (gate
// order, [out, in] weights, both recurrent biases), so the values map one to one; what this
// module does is the naming and the checking.
//
// A module map says which PyTorch module holds which Unfold layer: keys are module names —
// the state_dict key prefix before the parameter name, e.g. "rnn" for "rnn.weight_ih_l0",
// "encoder.rnn" for a nested one, or "" for a bare module's own state_dict — and values
// are the Unfold layers, by label ("lstm0", as the model's parameter names start) or as the
// Layer objects themselves:
//
//   importTorch(bytes, model, { emb: "embedding0", rnn: "lstm0", fc: "dense0" });
import { UnfoldError, formatShape } from "../engine/index.js";
import type { Layer } from "../layers/layer.js";
import { RecurrentLayer, torchParamName, type LayerConfig } from "../layers/recurrent.js";
import { layerConfig } from "../layers/registry.js";
import type { Sequential } from "../models/sequential.js";
import { brief, readSafetensors, writeSafetensors, type SafeTensor } from "./safetensors.js";

/** PyTorch module name → Unfold layer (its label, or the Layer). */
export type TorchModules = Readonly<Record<string, string | Layer>>;

export interface TorchImportOptions {
  /**
   * Allow state_dict entries under no mapped module, and layers of the model with parameters
   * that the map leaves out (they keep their values). Default false: both are errors, since
   * either usually means a module was forgotten in the map.
   */
  partial?: boolean;
}

function fail(message: string): never {
  throw new UnfoldError(`PyTorch interop: ${message}`);
}

/** How a recurrent layer's levels look to PyTorch. */
interface TorchRecurrent {
  kind: string;
  units: number;
  levels: number;
  bidirectional: boolean;
  nonlinearity: string;
}

const TORCH_CLASS: Readonly<Record<string, string>> = { lstm: "nn.LSTM", gru: "nn.GRU", elman: "nn.RNN" };

/** A single recurrent cell config's PyTorch shape, or the reason there is none. */
function torchCell(config: LayerConfig, label: string): TorchRecurrent {
  const o = config.options as Record<string, unknown>;
  const why = (reason: string): never => fail(`${config.kind} layer "${label}" has no PyTorch counterpart: ${reason}`);
  if (!(config.kind in TORCH_CLASS)) why(`PyTorch has nn.LSTM, nn.GRU and nn.RNN (Unfold's lstm, gru and elman), not ${config.kind}`);
  if (o.skip !== undefined && o.skip !== "none") why(`skip "${String(o.skip)}" connects the stacked levels in a way PyTorch's num_layers does not`);
  if (config.kind === "lstm" && o.peephole) why("PyTorch's nn.LSTM has no peephole connections");
  if (config.kind === "gru" && o.resetAfter === false) why("PyTorch's nn.GRU applies the reset gate after the hidden product (resetAfter: true); this GRU has resetAfter: false");
  if (config.kind === "elman") {
    if (o.leak !== 1) why(`PyTorch's nn.RNN has no leak (this layer's leak is ${String(o.leak)})`);
    if (o.timeSkip) why(`PyTorch's nn.RNN has no time skip (this layer's timeSkip is ${String(o.timeSkip)})`);
    if (o.activation !== "tanh" && o.activation !== "relu") why(`PyTorch's nn.RNN takes nonlinearity "tanh" or "relu", not "${String(o.activation)}"`);
  }
  return { kind: config.kind, units: o.units as number, levels: (o.layers as number) ?? 1, bidirectional: false, nonlinearity: config.kind === "elman" ? String(o.activation) : "" };
}

/** A recurrent layer (cell, Stack or Bidirectional) as one PyTorch module, or a clear reason why it is none. */
function torchRecurrent(config: LayerConfig, label: string): TorchRecurrent {
  const o = config.options as Record<string, unknown>;
  if (config.kind === "bidirectional") {
    const inner = torchRecurrent(o.layer as LayerConfig, label);
    if (inner.bidirectional) fail(`bidirectional layer "${label}" wraps another bidirectional layer; PyTorch has no such module`);
    return { ...inner, bidirectional: true };
  }
  if (config.kind === "stack") {
    if (o.skip !== "none") fail(`stack "${label}" has no PyTorch counterpart: skip "${String(o.skip)}" connects its levels in a way PyTorch's num_layers does not`);
    const levels = (o.layers as LayerConfig[]).map((c) => torchCell(c, label));
    for (const l of levels) {
      if (l.levels !== 1) fail(`stack "${label}" has no PyTorch counterpart: its levels must be single layers`);
      if (l.kind !== levels[0].kind || l.units !== levels[0].units || l.nonlinearity !== levels[0].nonlinearity) {
        fail(`stack "${label}" has no PyTorch counterpart: a PyTorch module has one cell kind and one hidden size for every level (this stack has ${levels.map((x) => `${x.kind}(${x.units})`).join(", ")})`);
      }
    }
    return { ...levels[0], levels: levels.length };
  }
  return torchCell(config, label);
}

/**
 * The PyTorch module whose state_dict holds the same parameters as `layer` (a layer that is
 * part of a model), e.g. `nn.LSTM(3, 4, num_layers=2, bidirectional=True)` — or an
 * UnfoldError saying why there is none (a GRU with resetAfter false, peepholes, a Jordan
 * layer, skip connections, …).
 */
export function torchModuleFor(layer: Layer): string {
  const config = layerConfig(layer);
  const o = config.options as Record<string, unknown>;
  if (layer.inputSize < 0) fail(`${layer.kind} layer is not part of a model yet: its input size is not known`);
  if (config.kind === "dense") return `nn.Linear(${layer.inputSize}, ${String(o.units)}${o.bias ? "" : ", bias=False"})`;
  if (config.kind === "embedding") return `nn.Embedding(${String(o.vocab)}, ${String(o.dim)}${o.paddingIndex !== undefined ? `, padding_idx=${String(o.paddingIndex)}` : ""})`;
  if (!(layer instanceof RecurrentLayer)) fail(`${layer.kind} layer "${layer.label}" has no PyTorch module with parameters`);
  const r = torchRecurrent(config, layer.label);
  const extra = [
    r.levels > 1 ? `num_layers=${r.levels}` : "",
    r.bidirectional ? "bidirectional=True" : "",
    r.nonlinearity === "relu" ? `nonlinearity="relu"` : "",
  ].filter(Boolean);
  return `${TORCH_CLASS[r.kind]}(${[layer.inputSize, r.units, ...extra].join(", ")})`;
}

/** One mapped module: its name, the layer, and each Unfold parameter with its state_dict key. */
interface Mapped {
  module: string;
  layer: Layer;
  params: { name: string; key: string; shape: readonly number[] }[];
}

/** Checks the module map against the model and pairs every parameter of the mapped layers with its state_dict key. */
function plan(model: Sequential, modules: TorchModules): Mapped[] {
  if (typeof modules !== "object" || modules === null || Array.isArray(modules)) fail(`the module map must be an object { torchModuleName: unfoldLayer }, got ${brief(modules)}`);
  const names = Object.keys(modules);
  if (names.length === 0) fail("the module map is empty: say which PyTorch module holds which layer, e.g. { rnn: \"lstm0\", fc: \"dense0\" }");
  if (names.includes("") && names.length > 1) fail(`module "" (a bare module's own state_dict, keys without a prefix) can only be mapped alone`);
  for (const a of names) {
    if (a !== "" && !/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/.test(a)) fail(`${brief(a)} is not a PyTorch module name (names like "rnn" or "encoder.rnn")`);
    for (const b of names) if (a !== b && b.startsWith(`${a}.`)) fail(`module "${b}" is inside module "${a}"; map each module holding parameters directly`);
  }
  const labels = model.layers.map((l) => l.label);
  const seen = new Set<Layer>();
  return names.map((module) => {
    const ref = modules[module];
    const layer = typeof ref === "string" ? model.layers.find((l) => l.label === ref) : model.layers.find((l) => l === ref);
    if (!layer) fail(`module "${module}" maps to ${typeof ref === "string" ? `"${ref}"` : "a layer"}, which is not a layer of this model (its layers: ${labels.join(", ")})`);
    if (seen.has(layer)) fail(`layer "${layer.label}" is mapped twice`);
    seen.add(layer);
    torchModuleFor(layer); // throws, saying why, for a layer PyTorch has no module for
    const recurrent = layer instanceof RecurrentLayer;
    const params = layer.paramSpecs.map((spec) => {
      const local = recurrent ? torchParamName(spec.name) : spec.name.slice(layer.prefix.length + 1);
      return { name: spec.name, key: module ? `${module}.${local}` : local, shape: spec.shape };
    });
    return { module, layer, params };
  });
}

/**
 * Loads a PyTorch state_dict saved as safetensors into `model`, module by module as
 * `modules` maps them. Every value is checked (present, float32, PyTorch's shape, finite)
 * and every entry accounted for before any weight changes; on error the model is as it was.
 * Save float32 weights from PyTorch (`model.float()`); Unfold does not read F16/BF16.
 */
export function importTorch(bytes: Uint8Array | ArrayBuffer, model: Sequential, modules: TorchModules, options: TorchImportOptions = {}): void {
  for (const key of Object.keys(options)) if (key !== "partial") fail(`unknown option "${key}" (known: partial)`);
  const partial = options.partial ?? false;
  if (typeof partial !== "boolean") fail(`partial must be true or false, got ${brief(partial)}`);
  const { tensors } = readSafetensors(bytes);
  const mapped = plan(model, modules);
  const values: Record<string, Float32Array> = Object.create(null);
  const used = new Set<string>();
  for (const m of mapped) {
    const missing: string[] = [];
    for (const p of m.params) {
      const t = tensors.get(p.key);
      if (!t) {
        missing.push(p.key);
        continue;
      }
      if (t.dtype !== "F32") fail(`"${p.key}" is ${t.dtype}; Unfold reads float32 weights (call .float() on the PyTorch model before saving)`);
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        fail(`"${p.key}" has shape ${formatShape(t.shape)}, but ${m.layer.kind} layer "${m.layer.label}" (${torchModuleFor(m.layer)}) needs ${formatShape(p.shape)} for ${p.name}`);
      }
      const data = t.data as Float32Array;
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) fail(`"${p.key}" value ${i} is ${data[i]}; weights must be finite`);
      values[p.name] = data;
      used.add(p.key);
    }
    if (missing.length) {
      const present = [...tensors.keys()].filter((k) => (m.module ? k.startsWith(`${m.module}.`) : true));
      fail(`the state_dict lacks ${missing.join(", ")} for ${m.layer.kind} layer "${m.layer.label}", which matches ${torchModuleFor(m.layer)}; ` +
        `under module "${m.module}" it has ${present.length ? present.slice(0, 12).map((k) => brief(k)).join(", ") : "nothing"}`);
    }
  }
  // Entries of a mapped module the layer does not use: a different module (more levels, a projection, …).
  for (const m of mapped) {
    const extra = [...tensors.keys()].filter((k) => !used.has(k) && (m.module === "" || k.startsWith(`${m.module}.`)));
    if (extra.length) fail(`module "${m.module}" has entries ${m.layer.kind} layer "${m.layer.label}" (${torchModuleFor(m.layer)}) does not: ${extra.slice(0, 8).map((k) => brief(k)).join(", ")}`);
  }
  if (!partial) {
    const stray = [...tensors.keys()].filter((k) => !used.has(k));
    if (stray.length) fail(`the state_dict has entries under no mapped module: ${stray.slice(0, 8).map((k) => brief(k)).join(", ")} (map their module, or pass { partial: true })`);
    const left = model.layers.filter((l) => l.paramSpecs.length > 0 && !mapped.some((m) => m.layer === l));
    if (left.length) fail(`the map leaves out layers with parameters: ${left.map((l) => l.label).join(", ")} (map them, or pass { partial: true } to keep their values)`);
  }
  model.setWeights(values);
}

/**
 * The mapped layers' parameters as a PyTorch state_dict in safetensors, keyed as `modules`
 * names them (`rnn.weight_ih_l0`, `fc.weight`, …): `model.load_state_dict(
 * safetensors.torch.load_file(path))` on the PyTorch modules `torchModuleFor` describes.
 */
export function exportTorch(model: Sequential, modules: TorchModules): Uint8Array {
  const tensors: Record<string, SafeTensor> = Object.create(null);
  for (const m of plan(model, modules)) {
    for (const p of m.params) tensors[p.key] = { dtype: "F32", shape: [...p.shape], data: model.params.read(p.name) };
  }
  return writeSafetensors(tensors, { format: "pt" });
}
