// Property-based fuzzing of the model loader with fast-check: truncated, mutated and random
// inputs. Each must either load (a mutation can be harmless: a weight's low bit, a dropout
// rate) or throw an UnfoldError — no other exception, no hang — and leave wasm memory as it
// found it (bytes in use, and the size of memory itself).
//
// UNFOLD_FUZZ_RUNS sets the number of inputs per run of this file (default 10,000, split
// over the strategies below); UNFOLD_FUZZ_SEED replays a run fast-check reported.
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { paths, type Json } from "./helpers.js";
import { UnfoldError, engine } from "../src/engine/index.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Dense } from "../src/layers/dense.js";
import { Dropout } from "../src/layers/dropout.js";
import { Elman } from "../src/layers/elman.js";
import { Embedding } from "../src/layers/embedding.js";
import { GRU } from "../src/layers/gru.js";
import { Jordan } from "../src/layers/jordan.js";
import { LSTM } from "../src/layers/lstm.js";
import { SequencePooling } from "../src/layers/pooling.js";
import { Stack } from "../src/layers/stack.js";
import { Sequential } from "../src/models/sequential.js";
import { readSafetensors, writeSafetensors, type SafeTensor } from "../src/io/safetensors.js";

const RUNS = Number(process.env.UNFOLD_FUZZ_RUNS ?? 10_000);
const SEED = process.env.UNFOLD_FUZZ_SEED === undefined ? undefined : Number(process.env.UNFOLD_FUZZ_SEED);
/** No single input may take longer than this (a generous bound: the slowest valid load takes a few ms). */
const MAX_MS_PER_INPUT = 1000;

// Small models of every layer kind, so mutations reach every constructor.
function corpus(): Uint8Array[] {
  const models = [
    new Sequential([new Embedding({ vocab: 5, dim: 2, paddingIndex: 0 }), new LSTM({ units: 3, layers: 2, dropout: 0.1 }), new Dense({ units: 5 })], { loss: "softmaxCrossEntropy", seed: 1 }),
    new Sequential([new Bidirectional(new GRU({ units: 2, resetAfter: false }), { merge: "sum" }), new SequencePooling({ mode: "max" }), new Dense({ units: 1, activation: "sigmoid" })], { inputSize: 2, loss: "sigmoidBinaryCrossEntropy", seed: 2 }),
    new Sequential([new Stack([new Elman({ units: 2, leak: 0.5 }), new Jordan({ units: 2, hiddenUnits: 3 })], { skip: "input" }), new Dropout({ rate: 0.2 }), new Dense({ units: 2, bias: false })], { inputSize: 3, loss: "mse", seed: 3 }),
    new Sequential([new LSTM({ units: 2, peephole: true, returnSequences: false }), new Dense({ units: 2, activation: "tanh" })], { inputSize: 2, context: { size: 2, mode: "both" }, seed: 4 }),
  ];
  const files = models.map((m, i) => m.save(i === 0 ? { vocab: ["<pad>", "a", "b", "c", "d"], constructor: 1 } : {}));
  for (const m of models) m.dispose();
  return files;
}

const files = corpus();
const stats = { inputs: 0, loaded: 0, refused: 0, slowest: 0 };
const memoryAtStart = (() => {
  // Warm up: one load of each file, so memory has grown to what valid loads need.
  for (const f of files) Sequential.load(f).model.dispose();
  return engine().allocator.memoryBytes;
})();
const started = performance.now();

// Counts the allocator's allocations, so a refused input can be shown to have allocated nothing at all.
let allocations = 0;
{
  const allocator = engine().allocator;
  const alloc = allocator.alloc.bind(allocator);
  allocator.alloc = (bytes: number) => {
    allocations++;
    return alloc(bytes);
  };
}

/**
 * The property: loads or throws an UnfoldError, quickly, leaving wasm memory as it was; and
 * when it refuses, it allocated nothing in wasm memory (validation came first).
 */
function check(bytes: Uint8Array): void {
  const allocator = engine().allocator;
  const before = allocator.bytesInUse;
  const allocationsBefore = allocations;
  const t0 = performance.now();
  try {
    Sequential.load(bytes).model.dispose();
    stats.loaded++;
  } catch (e) {
    if (!(e instanceof UnfoldError)) throw new Error(`not an UnfoldError: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    if (!e.message) throw new Error("an UnfoldError without a message");
    if (allocations !== allocationsBefore) throw new Error(`refused after allocating wasm memory: ${e.message}`);
    stats.refused++;
  }
  const ms = performance.now() - t0;
  stats.slowest = Math.max(stats.slowest, ms);
  stats.inputs++;
  if (ms > MAX_MS_PER_INPUT) throw new Error(`an input took ${ms.toFixed(0)} ms`);
  if (allocator.bytesInUse !== before) throw new Error(`wasm bytes in use went from ${before} to ${allocator.bytesInUse}`);
}

function frame(headerText: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function headerLength(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

// ------------------------------------------------------------------ structured mutations



const HOSTILE_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"];
const NUMBERS = [0, -1, 1, 2, 0.5, -0.5, 1e9, 2 ** 31, 2 ** 53, 1e308, -1e308, 1.5, 3];

const mutation = fc.record({
  at: fc.nat(),
  op: fc.constantFrom("set", "delete", "hostileKey", "number", "rename", "wrap", "duplicateLayer", "string"),
  value: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  pick: fc.nat(),
});

/** Applies one mutation to the JSON value `root` (a copy); returns the new root. */
function mutate(root: Json, mutation: { at: number; op: string; value: Json; pick: number }): Json {
  // fast-check's JSON objects have no prototype; the loader only ever sees what JSON.parse makes.
  const m = { ...mutation, value: JSON.parse(JSON.stringify(mutation.value)) as Json };
  const copy = JSON.parse(JSON.stringify(root)) as Json;
  const all = paths(copy);
  const path = all[m.at % all.length];
  if (path.length === 0) return m.op === "set" ? m.value : copy;
  const parent = path.slice(0, -1).reduce<Json>((v, k) => (v as Record<string | number, Json>)[k], copy) as Record<string | number, Json>;
  const key = path[path.length - 1];
  switch (m.op) {
    case "set": parent[key] = m.value; break;
    case "delete":
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case "hostileKey": {
      const target = parent[key];
      const name = HOSTILE_KEYS[m.pick % HOSTILE_KEYS.length];
      const holder = target !== null && typeof target === "object" && !Array.isArray(target) ? target : parent;
      if (!Array.isArray(holder)) Object.defineProperty(holder, name, { value: m.value, enumerable: true, writable: true, configurable: true });
      break;
    }
    case "number": parent[key] = typeof parent[key] === "number" ? (parent[key] as number) + NUMBERS[m.pick % NUMBERS.length] : NUMBERS[m.pick % NUMBERS.length]; break;
    case "rename":
      if (!Array.isArray(parent)) {
        const v = parent[key];
        delete parent[key];
        parent[m.pick % 2 ? `${key}_` : String(key).slice(0, -1) || "x"] = v;
      }
      break;
    case "wrap": parent[key] = [parent[key]]; break;
    case "duplicateLayer":
      if (Array.isArray(parent)) parent.splice(key as number, 0, JSON.parse(JSON.stringify(parent[key])));
      else parent[key] = JSON.parse(JSON.stringify(parent[key]));
      break;
    case "string": parent[key] = typeof parent[key] === "object" ? JSON.stringify(parent[key]) : String(parent[key]); break;
  }
  return copy;
}

/** A file with its description and (optionally) its tensors rewritten, the container kept valid. */
function rewrite(bytes: Uint8Array, description: (d: Json) => Json, tensors?: (t: Map<string, SafeTensor>) => void): Uint8Array {
  const file = readSafetensors(bytes);
  const d = description(JSON.parse(file.metadata.get("unfold")!));
  tensors?.(file.tensors);
  return writeSafetensors(Object.fromEntries(file.tensors), { unfold: JSON.stringify(d) });
}

const tensorMutation = fc.record({
  at: fc.nat(),
  op: fc.constantFrom("drop", "reshape", "dtype", "rename", "add", "nan"),
  dim: fc.integer({ min: 0, max: 9 }),
});

function mutateTensors(t: Map<string, SafeTensor>, m: { at: number; op: string; dim: number }): void {
  const names = [...t.keys()];
  const name = names[m.at % names.length];
  const x = t.get(name)!;
  switch (m.op) {
    case "drop": t.delete(name); break;
    case "reshape": {
      const n = x.data.length;
      t.set(name, { ...x, shape: m.dim && n % m.dim === 0 ? [m.dim, n / m.dim] : [n] });
      break;
    }
    case "dtype": t.set(name, { dtype: "F64", shape: x.shape, data: Float64Array.from(x.data) }); break;
    case "rename": t.delete(name); t.set(`${name}_x`, x); break;
    case "add": t.set(HOSTILE_KEYS[m.dim % HOSTILE_KEYS.length], { dtype: "F32", shape: [m.dim], data: new Float32Array(m.dim) }); break;
    case "nan": { const d = Float32Array.from(x.data); if (d.length) d[m.dim % d.length] = m.dim % 2 ? NaN : Infinity; t.set(name, { ...x, data: d }); break; }
  }
}

// ------------------------------------------------------------------ the strategies

/** Shares of RUNS per strategy (they sum to 1). */
const SHARES = { truncated: 0.15, bytes: 0.25, headerText: 0.15, description: 0.3, tensors: 0.05, random: 0.1 };
const runs = (share: number) => Math.max(1, Math.ceil(RUNS * share));
const options = (share: number) => ({ numRuns: runs(share), seed: SEED, endOnFailure: true });
const fileArb = fc.nat({ max: files.length - 1 }).map((i) => files[i]);

describe(`fuzzing Sequential.load (${RUNS} inputs)`, () => {
  it("truncated files", () => {
    fc.assert(fc.property(fileArb, fc.double({ min: 0, max: 1, noNaN: true }), (f, cut) => check(f.subarray(0, Math.floor(f.length * cut)))), options(SHARES.truncated));
  });

  it("random byte mutations anywhere (flips, overwrites, inserts, deletes)", () => {
    const edit = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), byte: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom("set", "flip", "insert", "delete") });
    fc.assert(fc.property(fileArb, fc.array(edit, { minLength: 1, maxLength: 8 }), (f, edits) => {
      let b = Array.from(f);
      for (const e of edits) {
        const i = Math.floor(e.at * b.length);
        if (e.kind === "set") b[i] = e.byte;
        else if (e.kind === "flip") b[i] ^= 1 << (e.byte & 7);
        else if (e.kind === "insert") b.splice(i, 0, e.byte);
        else b.splice(i, 1);
      }
      check(Uint8Array.from(b));
    }), options(SHARES.bytes));
  });

  it("mutations of the header's JSON text, re-framed with the right length", () => {
    const edit = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), len: fc.nat({ max: 12 }), text: fc.constantFrom("", "0", "-1", "1e999", "9", "\"", "{", "}", "[", "]", ",", ":", "null", "\"__proto__\":{}", "\"constructor\":1,", "\\u0000", "\uD800", "é", " ") });
    fc.assert(fc.property(fileArb, fc.array(edit, { minLength: 1, maxLength: 4 }), (f, edits) => {
      const n = headerLength(f);
      let text = new TextDecoder().decode(f.subarray(8, 8 + n));
      for (const e of edits) {
        const i = Math.floor(e.at * text.length);
        text = text.slice(0, i) + e.text + text.slice(i + e.len);
      }
      check(frame(text, f.subarray(8 + n)));
    }), options(SHARES.headerText));
  });

  it("structured mutations of the architecture description (every field, hostile keys, odd values)", () => {
    fc.assert(fc.property(fileArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (f, ms) => {
      check(rewrite(f, (d) => ms.reduce(mutate, d)));
    }), options(SHARES.description));
  });

  it("structured mutations of the tensors (missing, reshaped, retyped, renamed, extra, non-finite)", () => {
    fc.assert(fc.property(fileArb, fc.array(tensorMutation, { minLength: 1, maxLength: 3 }), (f, ms) => {
      check(rewrite(f, (d) => d, (t) => ms.forEach((m) => mutateTensors(t, m))));
    }), options(SHARES.tensors));
  });

  it("random bytes, and random JSON headers", () => {
    const randomBytes = fc.uint8Array({ maxLength: 256 });
    const randomHeader = fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.uint8Array({ maxLength: 64 })).map(([j, data]) => frame(JSON.stringify(j) ?? "null", data));
    const lengthLies = fc.tuple(fileArb, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })).map(([f, n]) => {
      const b = f.slice();
      new DataView(b.buffer).setBigUint64(0, n, true);
      return b;
    });
    fc.assert(fc.property(fc.oneof(randomBytes, randomHeader, lengthLies), check), options(SHARES.random));
  });

  afterAll(() => {
    const seconds = (performance.now() - started) / 1000;
    console.log(`fuzz: ${stats.inputs} inputs (${stats.loaded} loaded, ${stats.refused} refused with an UnfoldError) in ${seconds.toFixed(1)} s; slowest ${stats.slowest.toFixed(1)} ms`);
  });

  it("left wasm memory as it found it, and Object.prototype untouched", () => {
    expect(stats.inputs).toBeGreaterThanOrEqual(RUNS);
    expect(engine().allocator.memoryBytes).toBe(memoryAtStart);
    for (const name of ["polluted", "x", "units", "kind"]) expect(Object.prototype.hasOwnProperty.call(Object.prototype, name)).toBe(false);
  });
});
