// Layer kinds → constructors: how a saved architecture description ({ kind, options } per
// layer, as `layerConfig` gives it) becomes layers again. The registry only routes: every
// option is validated by the layer's own constructor, so a bad option in a file gets the
// same clear error as the same option written in code. Composites (Stack, Bidirectional)
// describe their parts as configs too and are rebuilt part by part.
import { UnfoldError } from "../engine/index.js";
import { Bidirectional } from "./bidirectional.js";
import { Dense } from "./dense.js";
import { Dropout } from "./dropout.js";
import { Elman } from "./elman.js";
import { Embedding } from "./embedding.js";
import { GRU } from "./gru.js";
import { Jordan } from "./jordan.js";
import type { Layer } from "./layer.js";
import { LSTM } from "./lstm.js";
import { SequencePooling } from "./pooling.js";
import { RecurrentLayer, type LayerConfig } from "./recurrent.js";
import { Stack } from "./stack.js";

/**
 * Makes a layer of one kind from its options (as the layer's `options` gives them). `build`
 * turns a part's config into a layer, for composites.
 */
export type LayerFactory = (options: Record<string, unknown>, build: (config: unknown) => Layer) => Layer;

/** Composites nested deeper than this are refused (a file cannot make the loader recurse without bound). */
export const MAX_LAYER_DEPTH = 16;

// A Map, not an object: a kind named "constructor" or "__proto__" finds nothing.
const factories = new Map<string, LayerFactory>();

/** Splits `key` off `options` (own properties only); the rest goes to the layer's constructor, which rejects what it does not know. */
function take(options: Record<string, unknown>, key: string, kind: string): { part: unknown; rest: Record<string, unknown> } {
  if (!Object.hasOwn(options, key)) throw new UnfoldError(`${kind}: its options need "${key}"`);
  const rest: Record<string, unknown> = {};
  for (const k of Object.keys(options)) if (k !== key) Object.defineProperty(rest, k, { value: options[k], enumerable: true, writable: true, configurable: true });
  return { part: options[key], rest };
}

function recurrentPart(layer: Layer, kind: string): RecurrentLayer {
  if (!(layer instanceof RecurrentLayer)) throw new UnfoldError(`${kind}: its parts must be recurrent layers (lstm, gru, elman, jordan, stack, bidirectional), got ${layer.kind}`);
  return layer;
}

/**
 * Registers how to rebuild layers of `kind` (the layer's `kind` property). Unfold's own
 * layers are registered; a custom layer registers itself so models holding it can be loaded.
 * Registering a kind twice throws, unless `replace` is true.
 */
export function registerLayer(kind: string, factory: LayerFactory, replace = false): void {
  if (typeof kind !== "string" || !/^[a-z][a-zA-Z0-9_]*$/.test(kind)) throw new UnfoldError(`registerLayer: kind must be a name like "lstm" (a letter, then letters, digits or _), got ${String(kind)}`);
  if (typeof factory !== "function") throw new UnfoldError(`registerLayer: the factory for "${kind}" must be a function`);
  if (factories.has(kind) && !replace) throw new UnfoldError(`registerLayer: kind "${kind}" is already registered (pass replace = true to replace it)`);
  factories.set(kind, factory);
}

/** Whether layers of `kind` can be rebuilt from a config. */
export function isRegisteredLayer(kind: string): boolean {
  return factories.has(kind);
}

/** The registered kinds, in registration order. */
export function registeredLayerKinds(): string[] {
  return [...factories.keys()];
}

/** A layer's kind and resolved options: enough to build it again with `layerFromConfig`. */
export function layerConfig(layer: Layer): LayerConfig {
  return { kind: layer.kind, options: layer.options };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A new, unbuilt layer from a config `{ kind, options }` — typically parsed from a file, so
 * nothing about it is trusted: the shape of the config is checked here, the options by the
 * layer's constructor. Throws an UnfoldError naming the layer (`where`) and what is wrong.
 */
export function layerFromConfig(config: unknown, where = "layer"): Layer {
  return build(config, where, 0);
}

function build(config: unknown, where: string, depth: number): Layer {
  if (depth > MAX_LAYER_DEPTH) throw new UnfoldError(`${where}: layers nested more than ${MAX_LAYER_DEPTH} deep`);
  if (!isPlainObject(config)) throw new UnfoldError(`${where}: a layer is described as { kind, options }, got ${config === null ? "null" : Array.isArray(config) ? "an array" : typeof config}`);
  for (const key of Object.keys(config)) {
    if (key !== "kind" && key !== "options") throw new UnfoldError(`${where}: unknown field "${key.slice(0, 80)}" in a layer description (known: kind, options)`);
  }
  const kind = Object.hasOwn(config, "kind") ? config.kind : undefined;
  const options = Object.hasOwn(config, "options") ? config.options : undefined;
  if (typeof kind !== "string") throw new UnfoldError(`${where}: the layer's kind must be a string, got ${typeof kind}`);
  const factory = factories.get(kind);
  if (!factory) throw new UnfoldError(`${where}: unknown layer kind "${kind.slice(0, 80)}" (known: ${registeredLayerKinds().join(", ")}; a custom layer must be registered with registerLayer)`);
  if (!isPlainObject(options)) throw new UnfoldError(`${where}: the options of a ${kind} layer must be an object, got ${options === null ? "null" : Array.isArray(options) ? "an array" : typeof options}`);
  let part = 0;
  const layer = factory(options, (child) => build(child, `${where} > ${kind} part ${part++}`, depth + 1));
  if (layer.kind !== kind) throw new UnfoldError(`${where}: the factory for "${kind}" made a ${layer.kind} layer`);
  return layer;
}

registerLayer("lstm", (o) => new LSTM(o as never));
registerLayer("gru", (o) => new GRU(o as never));
registerLayer("elman", (o) => new Elman(o as never));
registerLayer("jordan", (o) => new Jordan(o as never));
registerLayer("dense", (o) => new Dense(o as never));
registerLayer("embedding", (o) => new Embedding(o as never));
registerLayer("dropout", (o) => new Dropout(o as never));
registerLayer("pooling", (o) => new SequencePooling(o as never));
registerLayer("stack", (o, part) => {
  const { part: layers, rest } = take(o, "layers", "stack");
  if (!Array.isArray(layers)) throw new UnfoldError(`stack: "layers" must be a list of layer descriptions, got ${typeof layers}`);
  return new Stack(layers.map((c) => recurrentPart(part(c), "stack")), rest);
});
registerLayer("bidirectional", (o, part) => {
  const { part: layer, rest } = take(o, "layer", "bidirectional");
  return new Bidirectional(recurrentPart(part(layer), "bidirectional"), rest);
});
