// Property-based fuzzing of the importers with fast-check: mutated TF.js models (topology,
// weight specs, weight bytes) and mutated PyTorch state_dicts. Each either imports or throws
// an UnfoldError, and a refusal allocates no wasm memory. UNFOLD_FUZZ_IMPORT_RUNS sets the
// number of inputs per importer (default 2,000); UNFOLD_FUZZ_SEED replays a run.
import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { paths, type Json } from "./helpers.js";
import { UnfoldError, engine } from "../src/engine/index.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Dense } from "../src/layers/dense.js";
import { LSTM } from "../src/layers/lstm.js";
import { Sequential } from "../src/models/sequential.js";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.js";
import { importTfjs } from "../src/io/tfjs.js";
import { exportTorch, importTorch } from "../src/io/torch.js";

const RUNS = Number(process.env.UNFOLD_FUZZ_IMPORT_RUNS ?? 2_000);
const SEED = process.env.UNFOLD_FUZZ_SEED === undefined ? undefined : Number(process.env.UNFOLD_FUZZ_SEED);


let allocations = 0;
{
  const allocator = engine().allocator;
  const alloc = allocator.alloc.bind(allocator);
  allocator.alloc = (bytes: number) => (allocations++, alloc(bytes));
}

const outcome = { imported: 0, refused: 0 };

/** Runs an import: it succeeds (and the model is disposed) or throws an UnfoldError having allocated nothing. */
function check(run: () => Sequential | void): void {
  const before = engine().allocator.bytesInUse;
  const allocationsBefore = allocations;
  try {
    const model = run();
    model?.dispose();
    outcome.imported++;
  } catch (e) {
    if (!(e instanceof UnfoldError)) throw new Error(`not an UnfoldError: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    if (allocations !== allocationsBefore) throw new Error(`refused after allocating wasm memory: ${e.message}`);
    outcome.refused++;
  }
  if (engine().allocator.bytesInUse !== before) throw new Error(`wasm bytes in use went from ${before} to ${engine().allocator.bytesInUse}`);
}


const HOSTILE = ["__proto__", "constructor", "toString", "valueOf"];
const VALUES: Json[] = [0, -1, 1, 2, 1e9, 2 ** 53, 1e308, 0.5, "", "hard_sigmoid", "softmax", "linear", "LSTM", "GRU", true, false, null, [], {}, [null, 3, 2], { class_name: "Dense", config: { units: 2 } }];

const jsonMutation = fc.record({ at: fc.nat(), op: fc.constantFrom("set", "delete", "hostile", "value"), value: fc.jsonValue({ maxDepth: 2 }), pick: fc.nat() });

function mutate(root: Json, m: { at: number; op: string; value: unknown; pick: number }): Json {
  const copy = JSON.parse(JSON.stringify(root)) as Json;
  const all = paths(copy);
  const path = all[m.at % all.length];
  if (path.length === 0) return copy;
  const parent = path.slice(0, -1).reduce<Json>((v, k) => (v as Record<string | number, Json>)[k], copy) as Record<string | number, Json>;
  const key = path[path.length - 1];
  if (m.op === "set") parent[key] = JSON.parse(JSON.stringify(m.value ?? null)) as Json;
  else if (m.op === "value") parent[key] = VALUES[m.pick % VALUES.length];
  else if (m.op === "delete") {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (!Array.isArray(parent)) {
    Object.defineProperty(parent, HOSTILE[m.pick % HOSTILE.length], { value: VALUES[m.pick % VALUES.length], enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

describe(`fuzzing the importers (${RUNS} inputs each)`, () => {
  const tfjsModels: { json: Json; bin: Uint8Array }[] = [];

  beforeAll(async () => {
    await tf.setBackend("cpu");
    const models = [
      tf.sequential({ layers: [tf.layers.embedding({ inputDim: 5, outputDim: 2, inputLength: 4 }), tf.layers.bidirectional({ layer: tf.layers.gru({ units: 2, recurrentActivation: "sigmoid", returnSequences: true }) as tf.RNN }), tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 5 }) })] }),
      tf.sequential({ layers: [tf.layers.lstm({ units: 2, recurrentActivation: "sigmoid", returnSequences: true, inputShape: [4, 3] }), tf.layers.simpleRNN({ units: 2 }), tf.layers.dropout({ rate: 0.1 }), tf.layers.dense({ units: 1, activation: "sigmoid" })] }),
    ];
    for (const m of models) {
      await m.save(tf.io.withSaveHandler(async (a) => {
        tfjsModels.push({ json: JSON.parse(JSON.stringify({ modelTopology: a.modelTopology, weightsManifest: [{ paths: ["w.bin"], weights: a.weightSpecs }] })), bin: new Uint8Array((a.weightData as ArrayBuffer).slice(0)) });
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }));
      m.dispose();
    }
    for (const { json, bin } of tfjsModels) importTfjs(json as object, bin).dispose(); // both import as they are
  });

  it("TF.js models: mutated topology and weight specs, truncated or altered weight bytes", () => {
    const bytesEdit = fc.record({ cut: fc.double({ min: 0, max: 1.2, noNaN: true }), flip: fc.nat() });
    fc.assert(fc.property(fc.nat(), fc.array(jsonMutation, { minLength: 0, maxLength: 3 }), fc.option(bytesEdit), (which, ms, edit) => {
      const model = tfjsModels[which % tfjsModels.length];
      const json = ms.reduce(mutate, model.json);
      let bin = model.bin;
      if (edit) {
        bin = edit.cut <= 1 ? bin.slice(0, Math.floor(bin.length * edit.cut)) : Uint8Array.from([...bin, 1, 2, 3, 4]);
        if (bin.length) bin[edit.flip % bin.length] ^= 0x80;
      }
      check(() => importTfjs(typeof json === "object" && json !== null ? (json as object) : JSON.stringify(json), bin));
    }), { numRuns: RUNS, seed: SEED, endOnFailure: true });
  });

  it("PyTorch state_dicts: missing, extra, renamed, reshaped, retyped entries and byte damage", () => {
    const model = new Sequential([new Bidirectional(new LSTM({ units: 2, layers: 2 })), new Dense({ units: 2 })], { inputSize: 3 });
    const modules = { rnn: "bidirectional0", fc: "dense0" };
    const good = exportTorch(model, modules);
    const edit = fc.record({ at: fc.nat(), op: fc.constantFrom("drop", "rename", "reshape", "f64", "extra", "nan", "bytes"), n: fc.nat({ max: 300 }) });
    fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), fc.boolean(), (edits, partial) => {
      const { tensors } = readSafetensors(good);
      let bytes: Uint8Array | null = null;
      for (const e of edits) {
        const names = [...tensors.keys()];
        const name = names[e.at % names.length];
        const t = tensors.get(name);
        if (!t) continue;
        if (e.op === "drop") tensors.delete(name);
        else if (e.op === "rename") { tensors.delete(name); tensors.set(`${name.replace("_l1", "_l2")}x`, t); }
        else if (e.op === "reshape") tensors.set(name, { ...t, shape: [t.data.length] });
        else if (e.op === "f64") tensors.set(name, { dtype: "F64", shape: t.shape, data: Float64Array.from(t.data) });
        else if (e.op === "extra") tensors.set(HOSTILE[e.n % HOSTILE.length], { dtype: "F32", shape: [1], data: new Float32Array(1) });
        else if (e.op === "nan") { const d = Float32Array.from(t.data); d[e.n % d.length] = NaN; tensors.set(name, { ...t, data: d }); }
      }
      bytes = writeSafetensors(Object.fromEntries(tensors));
      const damage = edits.find((e) => e.op === "bytes");
      if (damage) bytes[damage.n % bytes.length] ^= 0xff;
      check(() => importTorch(bytes!, model, modules, { partial }));
    }), { numRuns: RUNS, seed: SEED, endOnFailure: true });
    model.dispose();
  });

  it("imported some and refused most", () => {
    expect(outcome.imported + outcome.refused).toBeGreaterThanOrEqual(2 * RUNS);
    console.log(`fuzz-import: ${outcome.imported} imported, ${outcome.refused} refused with an UnfoldError`);
  });
});
