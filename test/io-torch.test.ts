// PyTorch interop, both ways, against fixtures written by scripts/torch_interop.py:
// - PyTorch → Unfold: state_dicts of three small PyTorch models load through importTorch and
//   reproduce PyTorch's outputs.
// - Unfold → PyTorch: exportTorch writes the committed unfold_<case>.safetensors byte for byte
//   (so the file PyTorch ran is what Unfold writes today), and Unfold's predictions match the
//   outputs PyTorch computed from it (committed). A live check also runs /usr/bin/python3 with
//   torch on a fresh export and on a Sequential.save file; without torch it fails, saying how
//   to install it.
// UNFOLD_UPDATE_FIXTURES=1 rewrites the unfold_* files; then run the script to answer them.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Tensor, UnfoldError, engine } from "../src/engine/index.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Dense } from "../src/layers/dense.js";
import { Elman } from "../src/layers/elman.js";
import { Embedding } from "../src/layers/embedding.js";
import { GRU } from "../src/layers/gru.js";
import { Jordan } from "../src/layers/jordan.js";
import { LSTM } from "../src/layers/lstm.js";
import { Stack } from "../src/layers/stack.js";
import { Sequential } from "../src/models/sequential.js";
import { readSafetensors, writeSafetensors, type SafeTensor } from "../src/io/safetensors.js";
import { exportTorch, importTorch, torchModuleFor, type TorchModules } from "../src/io/torch.js";
import { expectBitEqual, expectClose, rand } from "./helpers.js";

const DIR = fileURLToPath(new URL("./fixtures/torch/interop", import.meta.url));
const SCRIPT = fileURLToPath(new URL("../scripts/torch_interop.py", import.meta.url));
const PYTHON = "/usr/bin/python3";
const UPDATE = process.env.UNFOLD_UPDATE_FIXTURES === "1";

interface Case {
  name: string;
  build: (seed: number) => Sequential;
  modules: TorchModules;
  torchModule: string[];
}

const CASES: Case[] = [
  {
    name: "lstm_bidir",
    build: (seed) => new Sequential([new Bidirectional(new LSTM({ units: 4, layers: 2 })), new Dense({ units: 2 })], { inputSize: 3, seed }),
    modules: { rnn: "bidirectional0", fc: "dense0" },
    torchModule: ["nn.LSTM(3, 4, num_layers=2, bidirectional=True)", "nn.Linear(8, 2)"],
  },
  {
    name: "gru_last",
    build: (seed) => new Sequential([new GRU({ units: 5, returnSequences: false }), new Dense({ units: 3 })], { inputSize: 4, seed }),
    modules: { rnn: "gru0", fc: "dense0" },
    torchModule: ["nn.GRU(4, 5)", "nn.Linear(5, 3)"],
  },
  {
    name: "embedding_rnn",
    build: (seed) => new Sequential([new Embedding({ vocab: 7, dim: 3 }), new Elman({ units: 4 }), new Dense({ units: 7 })], { seed }),
    modules: { emb: "embedding0", rnn: "elman0", fc: "dense0" },
    torchModule: ["nn.Embedding(7, 3)", "nn.RNN(3, 4)", "nn.Linear(4, 7)"],
  },
];

const read = (file: string) => readSafetensors(new Uint8Array(readFileSync(join(DIR, file)))).tensors;

function inputTensor(t: SafeTensor): Tensor {
  return t.dtype === "I32" ? Tensor.fromArray(t.data, t.shape, "int32") : Tensor.fromArray(t.data, t.shape);
}

function predict(model: Sequential, x: SafeTensor): Float32Array {
  const input = inputTensor(x);
  const y = model.predict(input);
  const out = y.toFloat32Array();
  y.dispose();
  input.dispose();
  return out;
}

/** A model of the case with weights that do not depend on Unfold's initialisers (so the committed export stays valid if they change). */
function unfoldModel(c: Case): Sequential {
  const model = c.build(0);
  let seed = 100;
  const weights: Record<string, Float32Array> = {};
  for (const e of model.params.entries) weights[e.name] = rand(e.size, seed++, -0.6, 0.6);
  model.setWeights(weights);
  return model;
}

function unfoldInput(c: Case, model: Sequential): SafeTensor {
  const T = 5, B = 2;
  if (model.inputDType === "int32") return { dtype: "I32", shape: [T, B], data: Int32Array.from(rand(T * B, 7, 0, model.inputSize), Math.floor) };
  return { dtype: "F32", shape: [T, B, model.inputSize], data: rand(T * B * model.inputSize, 7) };
}

function torchAvailable(): { ok: boolean; why: string } {
  if (!existsSync(PYTHON)) return { ok: false, why: `${PYTHON} does not exist` };
  const r = spawnSync(PYTHON, ["-c", "import torch, numpy"], { encoding: "utf8" });
  return { ok: r.status === 0, why: (r.stderr || "").trim().split("\n").pop() ?? "" };
}

function requireTorch(): void {
  const t = torchAvailable();
  if (!t.ok) {
    expect.fail(`the live PyTorch interop check needs PyTorch for ${PYTHON} (${t.why}). Install it with: apt-get install -y python3-torch python3-numpy ` +
      "(Debian/Ubuntu; CI's .ci/run does this). The committed-fixture checks in this file cover the same ground without it.");
  }
}

function python(args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${PYTHON} ${SCRIPT} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

describe("PyTorch → Unfold: state_dicts from scripts/torch_interop.py reproduce PyTorch's outputs", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const model = c.build(1);
    expect(model.layers.filter((l) => l.paramSpecs.length).map(torchModuleFor)).toEqual(c.torchModule);
    importTorch(new Uint8Array(readFileSync(join(DIR, `torch_${c.name}.safetensors`))), model, c.modules);
    const io = read(`torch_${c.name}.io.safetensors`);
    const y = io.get("y")!;
    const out = predict(model, io.get("x")!);
    expectClose(out, y.data, 2e-6, 2e-5, `${c.name} y`);
    model.dispose();
  });
});

describe("Unfold → PyTorch", () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s: the committed export is what exportTorch writes, and PyTorch's outputs on it match Unfold's", (_name, c) => {
    const model = unfoldModel(c);
    const bytes = exportTorch(model, c.modules);
    const x = unfoldInput(c, model);
    const weightsFile = join(DIR, `unfold_${c.name}.safetensors`);
    const inputFile = join(DIR, `unfold_${c.name}.input.safetensors`);
    if (UPDATE) {
      writeFileSync(weightsFile, bytes);
      writeFileSync(inputFile, writeSafetensors({ x }));
    }
    expect(existsSync(weightsFile), `${weightsFile} is missing: run UNFOLD_UPDATE_FIXTURES=1 npx vitest run test/io-torch.test.ts, then /usr/bin/python3 scripts/torch_interop.py`).toBe(true);
    expect(Buffer.from(bytes).equals(readFileSync(weightsFile)), "exportTorch no longer writes the committed file: if the change is intended, regenerate the fixtures (see the top of this file)").toBe(true);
    const committedX = read(`unfold_${c.name}.input.safetensors`).get("x")!;
    expect(Array.from(committedX.data)).toEqual(Array.from(x.data));
    const outputFile = `unfold_${c.name}.torch_output.safetensors`;
    expect(existsSync(join(DIR, outputFile)), `${outputFile} is missing: run /usr/bin/python3 scripts/torch_interop.py`).toBe(true);
    expectClose(predict(model, x), read(outputFile).get("y")!.data, 2e-6, 2e-5, `${c.name} y`);
    model.dispose();
  });

  it("live: PyTorch loads a fresh export with load_state_dict(strict=True) and computes Unfold's outputs", () => {
    requireTorch();
    const dir = mkdtempSync(join(tmpdir(), "unfold-torch-"));
    try {
      // One Python process for every case: importing torch takes seconds.
      const models = CASES.map((c) => c.build(11)); // Unfold's own initialisation this time
      const inputs = CASES.map((c, i) => unfoldInput(c, models[i]));
      const jobs = CASES.flatMap((c, i) => {
        const files = ["w", "x", "y"].map((f) => join(dir, `${c.name}.${f}.safetensors`));
        writeFileSync(files[0], exportTorch(models[i], c.modules));
        writeFileSync(files[1], writeSafetensors({ x: inputs[i] }));
        return [c.name, ...files];
      });
      python(["run", ...jobs]);
      CASES.forEach((c, i) => {
        const y = readSafetensors(new Uint8Array(readFileSync(join(dir, `${c.name}.y.safetensors`)))).tensors.get("y")!;
        expectClose(predict(models[i], inputs[i]), y.data, 2e-6, 2e-5, `${c.name} y`);
        models[i].dispose();
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("live: Python reads a file Sequential.save wrote (description, metadata, every tensor)", () => {
    requireTorch();
    const model = new Sequential([new Embedding({ vocab: 5, dim: 3 }), new Bidirectional(new GRU({ units: 2, layers: 2 })), new Dense({ units: 5 })], { loss: "softmaxCrossEntropy", seed: 3 });
    const bytes = model.save({ vocab: ["a", "b", "c", "d", "e"], tokenizer: "char" });
    const file = join(DIR, "unfold_model.safetensors");
    if (UPDATE) writeFileSync(file, bytes);
    const dir = mkdtempSync(join(tmpdir(), "unfold-torch-"));
    try {
      writeFileSync(join(dir, "model.safetensors"), bytes);
      const seen = JSON.parse(python(["inspect", join(dir, "model.safetensors")]));
      expect(seen.format).toBe("unfold-model");
      expect(seen.version).toBe(1);
      expect(seen.inputSize).toBe(5);
      expect(seen.layers).toEqual(["embedding", "bidirectional", "dense"]);
      expect(seen.metadata).toEqual(["tokenizer", "vocab"]);
      expect(Object.keys(seen.tensors).sort()).toEqual(model.params.entries.map((e) => e.name).sort());
      for (const e of model.params.entries) {
        expect(seen.tensors[e.name].shape).toEqual([...e.shape]);
        expect(seen.tensors[e.name].dtype).toBe("F32");
        const sum = model.params.read(e.name).reduce((a, b) => a + b, 0);
        expect(seen.tensors[e.name].sum).toBeCloseTo(sum, 4);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    model.dispose();
  });
});

describe("importTorch and exportTorch", () => {
  it("export then import into a fresh model gives the same bits; a bare module's state_dict maps with \"\"", () => {
    for (const c of CASES) {
      const a = c.build(5), b = c.build(6);
      importTorch(exportTorch(a, c.modules), b, c.modules);
      for (const e of a.params.entries) expectBitEqual(b.params.read(e.name), a.params.read(e.name), e.name);
      a.dispose();
      b.dispose();
    }
    const lstm = new LSTM({ units: 3 });
    const a = new Sequential([lstm], { inputSize: 2, seed: 1 });
    const { tensors } = readSafetensors(exportTorch(a, { "": lstm }));
    expect([...tensors.keys()]).toEqual(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]);
    const b = new Sequential([new LSTM({ units: 3 })], { inputSize: 2, seed: 2 });
    importTorch(exportTorch(a, { "": "lstm0" }), b, { "": "lstm0" });
    expectBitEqual(b.params.read("lstm0.weight_hh"), a.params.read("lstm0.weight_hh"));
    a.dispose();
    b.dispose();
  });

  it("describes the PyTorch module of each layer, or says why there is none", () => {
    const m = new Sequential([
      new Stack([new Elman({ units: 3, activation: "relu" }), new Elman({ units: 3, activation: "relu" })]),
      new Bidirectional(new GRU({ units: 2 })),
      new Dense({ units: 2, bias: false }),
    ], { inputSize: 4 });
    expect(m.layers.map(torchModuleFor)).toEqual(['nn.RNN(4, 3, num_layers=2, nonlinearity="relu")', "nn.GRU(3, 2, bidirectional=True)", "nn.Linear(4, 2, bias=False)"]);
    m.dispose();
    const none: [() => Sequential, RegExp][] = [
      [() => new Sequential([new GRU({ units: 2, resetAfter: false })], { inputSize: 2 }), /PyTorch's nn.GRU applies the reset gate after the hidden product/],
      [() => new Sequential([new LSTM({ units: 2, peephole: true })], { inputSize: 2 }), /no peephole connections/],
      [() => new Sequential([new Jordan({ units: 2, hiddenUnits: 3 })], { inputSize: 2 }), /not jordan/],
      [() => new Sequential([new Elman({ units: 2, leak: 0.5 })], { inputSize: 2 }), /no leak/],
      [() => new Sequential([new Elman({ units: 2, activation: "sigmoid" })], { inputSize: 2 }), /nonlinearity "tanh" or "relu", not "sigmoid"/],
      [() => new Sequential([new LSTM({ units: 2, layers: 2, skip: "residual" })], { inputSize: 2 }), /skip "residual"/],
      [() => new Sequential([new Stack([new LSTM({ units: 2 }), new LSTM({ units: 3 })])], { inputSize: 2 }), /one cell kind and one hidden size for every level \(this stack has lstm\(2\), lstm\(3\)\)/],
    ];
    for (const [make, pattern] of none) {
      const model = make();
      expect(() => torchModuleFor(model.layers[0])).toThrow(pattern);
      expect(() => exportTorch(model, { rnn: model.layers[0] })).toThrow(pattern);
      model.dispose();
    }
  });

  it("refuses state_dicts that do not fit, changing nothing", () => {
    const c = CASES[0];
    const bytes = new Uint8Array(readFileSync(join(DIR, "torch_lstm_bidir.safetensors")));
    const model = c.build(1);
    const before = model.getWeights();
    const rewrite = (edit: (t: Map<string, SafeTensor>) => void) => {
      const { tensors } = readSafetensors(bytes);
      edit(tensors);
      return writeSafetensors(Object.fromEntries(tensors), { format: "pt" });
    };
    const refusals: [Uint8Array, TorchModules, RegExp][] = [
      [bytes, { rnn: "lstm0", fc: "dense0" }, /maps to "lstm0", which is not a layer of this model \(its layers: bidirectional0, dense0\)/],
      [bytes, { rnn: "bidirectional0" }, /entries under no mapped module: "fc.weight", "fc.bias" \(map their module, or pass \{ partial: true \}\)/],
      [bytes, { lstm: "bidirectional0", fc: "dense0" }, /lacks lstm.weight_ih_l0, .* which matches nn.LSTM\(3, 4, num_layers=2, bidirectional=True\); under module "lstm" it has nothing/],
      [rewrite((t) => t.delete("rnn.bias_hh_l1_reverse")), c.modules, /lacks rnn.bias_hh_l1_reverse/],
      [rewrite((t) => t.set("rnn.weight_ih_l2", { dtype: "F32", shape: [16, 8], data: new Float32Array(128) })), c.modules, /module "rnn" has entries bidirectional layer "bidirectional0" .* does not: "rnn.weight_ih_l2"/],
      [rewrite((t) => t.set("fc.weight", { dtype: "F32", shape: [2, 4], data: new Float32Array(8) })), c.modules, /"fc.weight" has shape \[2, 4\], but dense layer "dense0" \(nn.Linear\(8, 2\)\) needs \[2, 8\]/],
      [rewrite((t) => t.set("fc.bias", { dtype: "F64", shape: [2], data: new Float64Array(2) })), c.modules, /"fc.bias" is F64; Unfold reads float32 weights \(call .float\(\)/],
      [rewrite((t) => t.set("fc.bias", { dtype: "F32", shape: [2], data: new Float32Array([1, Infinity]) })), c.modules, /"fc.bias" value 1 is Infinity/],
      [bytes, { rnn: "bidirectional0", "rnn.fc": "dense0" }, /module "rnn.fc" is inside module "rnn"/],
      [bytes, { "rnn-1": "bidirectional0" }, /"rnn-1" is not a PyTorch module name/],
      [bytes, { "": "bidirectional0", fc: "dense0" }, /can only be mapped alone/],
      [bytes, {}, /the module map is empty/],
      [bytes.subarray(0, 100), c.modules, /safetensors: /],
    ];
    for (const [b, modules, pattern] of refusals) {
      let error: unknown;
      try {
        importTorch(b, model, modules);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UnfoldError);
      expect((error as Error).message).toMatch(pattern);
    }
    expect(model.getWeights()).toEqual(before);
    expect(() => importTorch(bytes, model, c.modules, { strict: true } as never)).toThrow(/unknown option "strict"/);
    // partial: load what is mapped, keep the rest.
    importTorch(bytes, model, { rnn: "bidirectional0" }, { partial: true });
    expect(model.params.read("dense0.weight")).toEqual(before["dense0.weight"]);
    expect(model.params.read("bidirectional0.weight_ih_l0")).not.toEqual(before["bidirectional0.weight_ih_l0"]);
    model.dispose();
    expect(engine().allocator.bytesInUse).toBeGreaterThanOrEqual(0);
  });
});
