// Saving and loading models: every architecture reloads to the same bits and the same
// predictions; the description round-trips; the loader refuses foreign, corrupt, newer or
// hostile files with an UnfoldError, allocating nothing in wasm memory when it does.
import { describe, expect, it } from "vitest";
import { Tensor, UnfoldError, engine } from "../src/engine/index.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Dense } from "../src/layers/dense.js";
import { Dropout } from "../src/layers/dropout.js";
import { Elman } from "../src/layers/elman.js";
import { Embedding } from "../src/layers/embedding.js";
import { GRU } from "../src/layers/gru.js";
import { Jordan } from "../src/layers/jordan.js";
import { Layer } from "../src/layers/layer.js";
import { Loss } from "../src/layers/losses.js";
import { LSTM } from "../src/layers/lstm.js";
import { SequencePooling } from "../src/layers/pooling.js";
import { layerConfig, layerFromConfig, registerLayer, registeredLayerKinds } from "../src/layers/registry.js";
import { Stack } from "../src/layers/stack.js";
import { Sequential, type ContextOptions, type SequentialOptions } from "../src/models/sequential.js";
import { readSafetensors, writeSafetensors, type SafeTensor } from "../src/io/safetensors.js";
import { saveCheckpoint } from "../src/train/checkpoint.js";
import { expectBitEqual, rand } from "./helpers.js";

interface Case {
  name: string;
  layers: () => Layer[];
  options: SequentialOptions;
  tokens?: number;
  context?: number;
}

const CASES: Case[] = [
  { name: "LSTM + Dense", layers: () => [new LSTM({ units: 6 }), new Dense({ units: 3 })], options: { inputSize: 4, loss: "mse" } },
  {
    name: "Embedding + GRU(layers 2, dropout, recurrentDropout) + Dense",
    layers: () => [new Embedding({ vocab: 11, dim: 5, paddingIndex: 0 }), new GRU({ units: 7, layers: 2, dropout: 0.25, recurrentDropout: 0.1 }), new Dense({ units: 11 })],
    options: { loss: new Loss("softmaxCrossEntropy", { reduction: "mean", ignoreIndex: 0 }) },
    tokens: 11,
  },
  {
    name: "Bidirectional(LSTM layers 2, sum) + mean pooling + Dense(sigmoid)",
    layers: () => [new Bidirectional(new LSTM({ units: 5, layers: 2, init: "pytorch", peephole: true }), { merge: "sum" }), new SequencePooling({ mode: "mean" }), new Dense({ units: 2, activation: "sigmoid" })],
    options: { inputSize: 3, loss: "sigmoidBinaryCrossEntropy" },
  },
  {
    name: "Stack(Elman leak, Jordan, GRU reset before; dense skips) + Dropout + Dense",
    layers: () => [new Stack([new Elman({ units: 4, leak: 0.5, activation: "relu", init: "identity" }), new Jordan({ units: 3, hiddenUnits: 5, outputActivation: "tanh" }), new GRU({ units: 4, resetAfter: false })], { skip: "dense", dropout: 0.1 }), new Dropout({ rate: 0.3 }), new Dense({ units: 2, bias: false })],
    options: { inputSize: 3 },
  },
  {
    name: "LSTM(last step) + Dense, context initialState",
    layers: () => [new LSTM({ units: 4, returnSequences: false, forgetBias: 2 }), new Dense({ units: 2 })],
    options: { inputSize: 3, context: { size: 2, mode: "initialState" }, loss: "mse" },
    context: 2,
  },
  {
    name: "Embedding + Bidirectional(Stack of GRUs) + Dense, context both",
    layers: () => [new Embedding({ vocab: 7, dim: 3 }), new Bidirectional(new Stack([new GRU({ units: 3 }), new GRU({ units: 3 })])), new Dense({ units: 7 })],
    options: { context: { size: 2, mode: "both" } },
    tokens: 7,
    context: 2,
  },
];

const T = 5, B = 3;

function inputFor(c: Case, model: Sequential): { x: Tensor; context?: Tensor } {
  const x = c.tokens
    ? Tensor.fromArray(Array.from(rand(T * B, 1, 0, c.tokens), Math.floor), [T, B], "int32")
    : Tensor.fromArray(rand(T * B * model.inputSize, 1), [T, B, model.inputSize]);
  const context = c.context ? Tensor.fromArray(rand(B * c.context, 2), [B, c.context]) : undefined;
  return { x, context };
}

function predict(model: Sequential, input: { x: Tensor; context?: Tensor }): Float32Array {
  const y = model.predict(input.x, input.context ? { context: input.context } : {});
  const out = y.toFloat32Array();
  y.dispose();
  return out;
}

/** Rewrites a model file's description with `edit` (tensors untouched) — a well-formed container around a chosen description. */
function withDescription(bytes: Uint8Array, edit: (d: Record<string, any>) => unknown): Uint8Array {
  const { tensors, metadata } = readSafetensors(bytes);
  const d = JSON.parse(metadata.get("unfold")!);
  const result = edit(d);
  const text = typeof result === "string" ? result : JSON.stringify(result ?? d);
  return writeSafetensors(Object.fromEntries(tensors), { unfold: text });
}

/** Rewrites a file's tensors with `edit`. */
function withTensors(bytes: Uint8Array, edit: (t: Record<string, SafeTensor>) => void): Uint8Array {
  const { tensors, metadata } = readSafetensors(bytes);
  const t = Object.fromEntries(tensors);
  edit(t);
  return writeSafetensors(t, Object.fromEntries(metadata));
}

/** Loading `bytes` throws an UnfoldError matching `pattern`, without having allocated any wasm memory. */
function expectLoadError(bytes: Uint8Array, pattern: RegExp): void {
  const allocator = engine().allocator;
  const before = allocator.bytesInUse;
  const memory = allocator.memoryBytes;
  const alloc = allocator.alloc;
  let allocations = 0;
  allocator.alloc = (n: number) => (allocations++, alloc.call(allocator, n));
  let error: unknown = null;
  try {
    Sequential.load(bytes).model.dispose();
  } catch (e) {
    error = e;
  } finally {
    delete (allocator as { alloc?: unknown }).alloc; // back to the prototype's
  }
  expect(allocations, "wasm allocations before the file was refused").toBe(0);
  expect(error, "load should have thrown").toBeInstanceOf(UnfoldError);
  expect((error as Error).message).toMatch(pattern);
  expect(engine().allocator.bytesInUse).toBe(before);
  expect(engine().allocator.memoryBytes).toBe(memory);
}

describe("save and load", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s: same bits, same predictions, same description", (_name, c) => {
    const model = new Sequential(c.layers(), { ...c.options, seed: 17 });
    // Move the generator on, so the restored state is not the seed's.
    model.rng.nextU32();
    model.rng.normal();
    const input = inputFor(c, model);
    const expected = predict(model, input);
    // A word vocabulary may well hold "constructor" or "__proto__": they must come back as plain keys.
    const metadata = JSON.parse('{"tokenizer":{"kind":"word","vocab":{"<pad>":0,"the":1,"constructor":2,"__proto__":3,"toString":4}},"note":"ünïcödé ✓","list":[1,2.5,null,true]}');
    const bytes = model.save(metadata);

    const before = engine().allocator.bytesInUse;
    const { model: loaded, metadata: back } = Sequential.load(bytes);
    expect(back).toEqual(metadata);
    expect(Object.keys((back.tokenizer as { vocab: object }).vocab)).toEqual(["<pad>", "the", "constructor", "__proto__", "toString"]);
    expect(({} as Record<string, unknown>).the).toBeUndefined();
    expect(loaded.config).toEqual(model.config);
    expect(loaded.params.entries.map((e) => [e.name, e.shape])).toEqual(model.params.entries.map((e) => [e.name, e.shape]));
    for (const e of model.params.entries) expectBitEqual(loaded.params.read(e.name), model.params.read(e.name), e.name);
    expect(loaded.rng.getState()).toEqual(model.rng.getState());
    expectBitEqual(predict(loaded, input), expected, "prediction");
    // Saving the loaded model gives the same bytes.
    expect(loaded.save(metadata)).toEqual(bytes);
    loaded.dispose();
    expect(engine().allocator.bytesInUse).toBe(before);
    model.dispose();
    input.x.dispose();
    input.context?.dispose();
  });

  it("a loaded model trains on exactly as the saved one (generator state included)", () => {
    const make = () => new Sequential([new GRU({ units: 5, recurrentDropout: 0.2 }), new Dropout({ rate: 0.3 }), new Dense({ units: 2 })], { inputSize: 3, loss: "mse", seed: 4 });
    const a = make();
    const x = Tensor.fromArray(rand(4 * 2 * 3, 5), [4, 2, 3]);
    const y = Tensor.fromArray(rand(4 * 2 * 2, 6), [4, 2, 2]);
    a.trainStep(x, y, { lr: 0.1 });
    const { model: b } = Sequential.load(a.save());
    for (let i = 0; i < 3; i++) expect(b.trainStep(x, y, { lr: 0.1 })).toBe(a.trainStep(x, y, { lr: 0.1 }));
    for (const e of a.params.entries) expectBitEqual(b.params.read(e.name), a.params.read(e.name), e.name);
    a.dispose();
    b.dispose();
    x.dispose();
    y.dispose();
  });

  it("accepts an ArrayBuffer and a Uint8Array that is a window into a larger buffer", () => {
    const model = new Sequential([new Elman({ units: 3 })], { inputSize: 2 });
    const bytes = model.save();
    const padded = new Uint8Array(bytes.length + 13);
    padded.set(bytes, 5);
    Sequential.load(padded.subarray(5, 5 + bytes.length)).model.dispose();
    Sequential.load(bytes.slice().buffer).model.dispose();
    // A Node Buffer, as fs.readFileSync gives: small ones are views into a shared pool.
    const pooled = Buffer.from(bytes);
    const { model: fromBuffer } = Sequential.load(pooled);
    expect(fromBuffer.getWeights()).toEqual(model.getWeights());
    fromBuffer.dispose();
    model.dispose();
  });

  it("writes a description Python can read: plain JSON in __metadata__.unfold, tensors under their parameter names", () => {
    const model = new Sequential([new LSTM({ units: 2 }), new Dense({ units: 1 })], { inputSize: 3, loss: "mse" });
    const { tensors, metadata } = readSafetensors(model.save({ vocab: ["a", "b"] }));
    expect([...metadata.keys()]).toEqual(["unfold"]);
    const d = JSON.parse(metadata.get("unfold")!);
    expect(d.format).toBe("unfold-model");
    expect(d.version).toBe(1);
    expect(d.metadata).toEqual({ vocab: ["a", "b"] });
    expect(d.model).toEqual({
      inputSize: 3,
      loss: { name: "mse", options: { reduction: "sumOverTime" } },
      context: null,
      layers: [
        { kind: "lstm", options: { units: 2, returnSequences: true, layers: 1, dropout: 0, skip: "none", recurrentDropout: 0, peephole: false, forgetBias: 1, init: "glorot" } },
        { kind: "dense", options: { units: 1, activation: "linear", bias: true, init: "glorot" } },
      ],
    });
    expect([...tensors.keys()]).toEqual(["lstm0.weight_ih", "lstm0.weight_hh", "lstm0.bias_ih", "lstm0.bias_hh", "dense0.weight", "dense0.bias"]);
    expect(tensors.get("lstm0.weight_ih")!.shape).toEqual([8, 3]);
    model.dispose();
  });

  it("refuses metadata that is not a JSON-able object", () => {
    const model = new Sequential([new Dense({ units: 1 })], { inputSize: 1 });
    expect(() => model.save([1, 2] as never)).toThrow(/metadata must be a plain object/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => model.save(cyclic)).toThrow(UnfoldError);
    expect(() => model.save({ big: 1n } as never)).toThrow(/JSON-able/);
    model.dispose();
  });

  it("fromConfig builds the same architecture with fresh weights", () => {
    const model = new Sequential(CASES[1].layers(), CASES[1].options);
    const copy = Sequential.fromConfig(model.config, { seed: 9 });
    expect(copy.config).toEqual(model.config);
    expect(copy.params.read("gru0.weight_ih_l0")).not.toEqual(model.params.read("gru0.weight_ih_l0"));
    model.dispose();
    copy.dispose();
  });
});

describe("paramLayout follows the constructor", () => {
  const extra: Case[] = [
    { name: "context input, tokens", layers: () => [new Embedding({ vocab: 5, dim: 2 }), new LSTM({ units: 3, layers: 3 })], options: { context: { size: 4, mode: "input" } } },
    { name: "context initialState on a bidirectional stack", layers: () => [new Dense({ units: 3 }), new Bidirectional(new LSTM({ units: 2, layers: 2 }))], options: { inputSize: 2, context: { size: 3, mode: "initialState" } as ContextOptions } },
    { name: "Jordan state", layers: () => [new Jordan({ units: 2, hiddenUnits: 4 })], options: { inputSize: 2, context: { size: 1, mode: "both" } } },
  ];
  it.each([...CASES, ...extra].map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const layout = Sequential.paramLayout(c.layers(), c.options);
    const model = new Sequential(c.layers(), c.options);
    expect(layout.map((p) => [p.name, [...p.shape]])).toEqual(model.params.entries.map((e) => [e.name, [...e.shape]]));
    model.dispose();
  });
});

describe("the layer registry", () => {
  it("knows every layer kind of Unfold and rebuilds each from its config", () => {
    expect(registeredLayerKinds()).toEqual(expect.arrayContaining(["lstm", "gru", "elman", "jordan", "dense", "embedding", "dropout", "pooling", "stack", "bidirectional"]));
    const layers = [...CASES.flatMap((c) => c.layers()), new Bidirectional(new Jordan({ units: 2, hiddenUnits: 3, returnSequences: false }), { merge: "average" })];
    for (const layer of layers) {
      const config = JSON.parse(JSON.stringify(layerConfig(layer)));
      const again = layerFromConfig(config);
      expect(again.constructor).toBe(layer.constructor);
      expect(layerConfig(again)).toEqual(layerConfig(layer));
    }
  });

  it("lets the layer's constructor judge its options", () => {
    expect(() => layerFromConfig({ kind: "lstm", options: { units: -1 } })).toThrow(/LSTM: units must be a whole number >= 1, got -1/);
    expect(() => layerFromConfig({ kind: "gru", options: { units: 2, resetAfter: "yes" } })).toThrow(/GRU: resetAfter must be true or false/);
    expect(() => layerFromConfig({ kind: "stack", options: { layers: [{ kind: "dense", options: { units: 2 } }] } })).toThrow(/stack: its parts must be recurrent layers/);
    expect(() => layerFromConfig({ kind: "stack", options: { layers: [], skip: "none" } })).toThrow(/Stack needs at least one recurrent layer/);
    expect(() => layerFromConfig({ kind: "bidirectional", options: { merge: "concat" } })).toThrow(/bidirectional: its options need "layer"/);
    expect(() => layerFromConfig({ kind: "dense", options: { units: 2 }, extra: 1 })).toThrow(/unknown field "extra"/);
    expect(() => layerFromConfig({ kind: "constructor", options: {} })).toThrow(/unknown layer kind "constructor"/);
    expect(() => layerFromConfig({ kind: "__proto__", options: {} })).toThrow(/unknown layer kind "__proto__"/);
    expect(() => layerFromConfig(JSON.parse('{"kind":"dense","options":{"units":2,"__proto__":{"activation":"tanh"}}}'))).toThrow(/Dense: unknown option "__proto__"/);
    expect(() => layerFromConfig(JSON.parse('{"kind":"stack","options":{"layers":[{"kind":"gru","options":{"units":2}}],"__proto__":{"skip":"dense"}}}'))).toThrow(/Stack: unknown option "__proto__"/);
    expect(() => registerLayer("lstm", () => new LSTM({ units: 1 }))).toThrow(/already registered/);
  });

  it("a custom layer saves once registered, and loads back", () => {
    class Identity extends Layer {
      readonly kind = "identityForTest";
      override readonly options: { note: string };
      constructor(options: { note: string }) {
        super();
        this.options = { note: options.note };
      }
      protected declare(inputSize: number): number {
        return inputSize;
      }
      forward(x: Tensor): Tensor {
        return x;
      }
      backward(dy: Tensor): Tensor {
        return dy;
      }
    }
    const model = new Sequential([new Identity({ note: "hi" }), new Dense({ units: 2 })], { inputSize: 3 });
    expect(() => model.save()).toThrow(/layers of kind "identityForTest" could not be rebuilt by load; register them first with registerLayer/);
    registerLayer("identityForTest", (o) => new Identity(o as { note: string }));
    const { model: loaded } = Sequential.load(model.save());
    expect(loaded.layers[0]).toBeInstanceOf(Identity);
    expect(loaded.config).toEqual(model.config);
    loaded.dispose();
    model.dispose();
  });

  it("refuses nesting deeper than composites can go", () => {
    let config: unknown = { kind: "gru", options: { units: 2 } };
    for (let i = 0; i < 40; i++) config = { kind: "bidirectional", options: { layer: config } };
    expect(() => layerFromConfig(config)).toThrow(/nested more than 16 deep/);
  });
});

describe("the loader refuses bad files with an UnfoldError, allocating nothing", () => {
  const model = new Sequential([new Embedding({ vocab: 6, dim: 3 }), new LSTM({ units: 4, layers: 2 }), new Dense({ units: 6 })], { loss: "softmaxCrossEntropy", seed: 1 });
  const good = model.save({ vocab: ["a", "b"] });

  it("foreign files, checkpoints and other versions", () => {
    expectLoadError(writeSafetensors({ w: { dtype: "F32", shape: [1], data: new Float32Array(1) } }, { format: "pt" }), /no Unfold description .*importTorch/);
    expectLoadError(saveCheckpoint(model, null), /training checkpoint, not a model file.*loadCheckpoint/);
    expectLoadError(withDescription(good, (d) => ({ ...d, version: 2 })), /format version 2 was written by a newer Unfold; this one reads version 1/);
    expectLoadError(withDescription(good, (d) => ({ ...d, version: "1" })), /format version "1" is not supported/);
    expectLoadError(withDescription(good, (d) => ({ ...d, format: "keras" })), /not an Unfold model file \(format "keras"/);
    expectLoadError(withDescription(good, () => "{not json"), /not valid JSON/);
    expectLoadError(withDescription(good, () => "[1]"), /must be a JSON object/);
    expectLoadError(withDescription(good, (d) => ({ ...d, extra: 1 })), /unknown field "extra"/);
    expectLoadError(withDescription(good, (d) => ({ ...d, rng: [1, 2, 3] })), /generator state must be 5 numbers/);
    expectLoadError(withDescription(good, (d) => ({ ...d, rng: [-1, 2, 3, 4, null] })), /Rng state/);
    expectLoadError(withDescription(good, (d) => ({ ...d, metadata: [] })), /metadata must be an object/);
  });

  it("invalid architectures, judged by the layer constructors", () => {
    expectLoadError(withDescription(good, (d) => (d.model.layers[1].options.units = 0, d)), /LSTM: units must be a whole number >= 1, got 0/);
    expectLoadError(withDescription(good, (d) => (d.model.layers[1].options.skip = "sideways", d)), /LSTM: skip must be one of/);
    expectLoadError(withDescription(good, (d) => (d.model.layers[2].kind = "conv2d", d)), /layer 2: unknown layer kind "conv2d"/);
    expectLoadError(withDescription(good, (d) => (d.model.layers = [], d)), /layers must be a non-empty list/);
    expectLoadError(withDescription(good, (d) => (d.model.loss = { name: "hinge", options: {} }, d)), /unknown loss "hinge"/);
    expectLoadError(withDescription(good, (d) => (d.model.context = { size: 2, mode: "sideways" }, d)), /context.mode must be one of/);
    expectLoadError(withDescription(good, (d) => (d.model.inputSize = 5, d)), /inputSize is not needed \(if given it must be the vocab, 6\), got 5/);
    expectLoadError(withDescription(good, (d) => (d.model.extra = true, d)), /model config: unknown field "extra"/);
    // Finite, but infinite once it is a float32 initial bias.
    expectLoadError(withDescription(good, (d) => (d.model.layers[1].options.forgetBias = 1e308, d)), /the number 1e\+308, outside float32's range/);
  });

  it("architectures that disagree with the tensors", () => {
    expectLoadError(withDescription(good, (d) => (d.model.layers[1].options.units = 5, d)), /parameter "lstm0.weight_ih_l0" is F32 \[16, 3\], the described architecture has F32 \[20, 3\]/);
    expectLoadError(withDescription(good, (d) => (d.model.layers[1].options.layers = 1, d)), /no values for parameter "lstm0.weight_ih"/);
    expectLoadError(withTensors(good, (t) => { t.extra = { dtype: "F32", shape: [1], data: new Float32Array(1) }; }), /tensors the described architecture does not: "extra"/);
    expectLoadError(withTensors(good, (t) => { t["dense0.bias"] = { dtype: "F64", shape: [6], data: new Float64Array(6) }; }), /"dense0.bias" is F64 \[6\]/);
    expectLoadError(withTensors(good, (t) => { (t["dense0.bias"].data as Float32Array)[2] = NaN; }), /"dense0.bias" value 2 is NaN/);
    // Ten million stacked levels described in a few bytes: refused before any is built.
    const start = performance.now();
    expectLoadError(withDescription(good, (d) => (d.model.layers[1].options.layers = 1e7, d)), /stacks 10000000 recurrent levels, but the file holds only 11 tensors/);
    // Huge sizes: the layout is compared before anything is allocated.
    expectLoadError(withDescription(good, (d) => (d.model.layers[1].options.units = 1e6, d)), /described architecture has F32 \[4000000, 3\]/);
    expectLoadError(withDescription(good, (d) => (d.model.layers[0].options.vocab = 2 ** 40, d)), /has F32 \[1099511627776, 3\]/);
    expect(performance.now() - start).toBeLessThan(2000);
  });

  it("prototype-polluting keys: never pollute, never crash", () => {
    const hostile = [
      withDescription(good, (d) => `{"__proto__":{"polluted":1},${JSON.stringify(d).slice(1)}`),
      withDescription(good, (d) => JSON.stringify(d).replace('"options":{"units":4', '"options":{"__proto__":{"polluted":1},"units":4')),
      withDescription(good, (d) => JSON.stringify(d).replace('"model":{', '"model":{"constructor":{"prototype":{"polluted":1}},')),
      withDescription(good, (d) => JSON.stringify(d).replace('"kind":"dense"', '"kind":"__proto__"')),
      withDescription(good, (d) => JSON.stringify(d).replace('"kind":"dense"', '"kind":"constructor"')),
      withDescription(good, (d) => JSON.stringify(d).replace('"context":null', '"context":{"__proto__":{"size":2,"mode":"input"}}')),
      // An option whose toString is a number: String(value) would throw a TypeError in a message.
      withDescription(good, (d) => JSON.stringify(d).replace('"units":4', '"units":{"toString":1,"valueOf":2}')),
      withDescription(good, (d) => JSON.stringify(d).replace('"units":4', '"units":[{"toString":1}]')),
    ];
    for (const bytes of hostile) expectLoadError(bytes, /unknown (field|option|layer kind)|built-in property of every object/);
    // A tensor named __proto__ is just a tensor the architecture does not have.
    expectLoadError(withTensors(good, (t) => Object.defineProperty(t, "__proto__", { value: { dtype: "F32", shape: [1], data: new Float32Array(1) }, enumerable: true })), /tensors the described architecture does not: "__proto__"/);
    // And user metadata with such keys comes back as plain own keys.
    const { model: m, metadata } = Sequential.load(withDescription(good, (d) => JSON.stringify(d).replace('"metadata":{', '"metadata":{"__proto__":{"polluted":1},"constructor":7,')));
    expect(Object.keys(metadata)).toEqual(["__proto__", "constructor", "vocab"]);
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    m.dispose();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false);
  });

  it("values nested 100,000 deep in the description", () => {
    // Deep enough that JSON.stringify or String() of it overflows the stack.
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    expectLoadError(withDescription(good, (d) => JSON.stringify(d).replace('"units":4', `"units":${deep}`)), /nested more than/);
    expectLoadError(withDescription(good, (d) => JSON.stringify(d).replace('"inputSize":6', `"inputSize":${deep}`)), /nested more than/);
    // The user's metadata is handed back as it is, however deep.
    const { model: m } = Sequential.load(withDescription(good, (d) => JSON.stringify(d).replace('"metadata":{', `"metadata":{"deep":${deep},`)));
    m.dispose();
    // Deep values in the container's own fields.
    const header = new TextEncoder().encode(`{"w":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`);
    const file = new Uint8Array(8 + header.length);
    new DataView(file.buffer).setBigUint64(0, BigInt(header.length), true);
    file.set(header, 8);
    expectLoadError(file, /tensor "w" has shape \[\[…\]\]/);
  });
});
