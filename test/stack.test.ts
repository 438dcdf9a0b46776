import { afterEach, describe, expect, it } from "vitest";
import { Tensor, engine } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { LSTM } from "../src/layers/lstm.js";
import { GRU } from "../src/layers/gru.js";
import { Elman } from "../src/layers/elman.js";
import { Jordan } from "../src/layers/jordan.js";
import { Stack } from "../src/layers/stack.js";
import { torchParamName, type RecurrentLayer, type SkipMode } from "../src/layers/recurrent.js";
import { Sequential } from "../src/models/sequential.js";
import { expectBitEqual, expectClose, freeAll, rand } from "./helpers.js";
import { gradCheckRecurrent, loadFixture, replayTorchFixture } from "./rnn-harness.js";

afterEach(freeAll);

const ctx = (training = false) => ({ training, rng: new Rng(3) });

/** A fresh cell of the fixture's kind with `extra` options. */
function cellFor(kind: string, H: number, extra: object = {}): RecurrentLayer {
  if (kind === "lstm") return new LSTM({ units: H, ...extra });
  if (kind === "gru") return new GRU({ units: H, ...extra });
  return new Elman({ units: H, activation: kind === "rnn_relu" ? "relu" : "tanh", ...extra });
}

describe("deep stacks match PyTorch num_layers = 2", () => {
  for (const kind of ["lstm", "gru", "rnn_tanh", "rnn_relu"]) {
    it(`${kind}_layers2 through layers: 2: outputs, final states, every gradient`, () => {
      const fx = loadFixture(`${kind}_layers2`);
      replayTorchFixture(fx, cellFor(kind, fx.H, { layers: 2 }));
    });
    it(`${kind}_layers2 through an explicit Stack of two cells`, () => {
      const fx = loadFixture(`${kind}_layers2`);
      replayTorchFixture(fx, new Stack([cellFor(kind, fx.H), cellFor(kind, fx.H)]));
    });
  }
});

describe("Stack gradients (finite differences), 2 layers", () => {
  const skips: SkipMode[] = ["none", "input", "residual", "dense"];
  for (const skip of skips) {
    it(`skip "${skip}": LSTM over LSTM`, () => {
      gradCheckRecurrent(new LSTM({ units: 6, layers: 2, skip }), { T: 4, B: 3, I: skip === "residual" ? 5 : 5 });
    });
    it(`skip "${skip}": GRU over Elman (mixed cells, different widths except residual)`, () => {
      const H0 = skip === "residual" ? 7 : 5;
      gradCheckRecurrent(new Stack([new Elman({ units: H0 }), new GRU({ units: 7 })], { skip }), { T: 3, B: 2, I: 4 });
    });
    it(`skip "${skip}": last layer returns only its last step, with lengths`, () => {
      gradCheckRecurrent(new GRU({ units: 5, layers: 2, skip, returnSequences: false }), { T: 5, B: 3, I: 4, lengths: [5, 2, 3] });
    });
    it(`skip "${skip}": with dropout between layers (fixed seed)`, () => {
      gradCheckRecurrent(new LSTM({ units: 5, layers: 2, skip, dropout: 0.3 }), { T: 4, B: 2, I: 3, dropoutSeed: 11 });
    });
  }
  it("three layers, dense skips, with lengths", () => {
    gradCheckRecurrent(new Elman({ units: 4, layers: 3, skip: "dense" }), { T: 5, B: 3, I: 3, lengths: [1, 5, 3] });
  });
  it("a Jordan layer over an LSTM", () => {
    gradCheckRecurrent(new Stack([new LSTM({ units: 5 }), new Jordan({ units: 3, hiddenUnits: 6 })], { skip: "input" }), { T: 4, B: 2, I: 4 });
  });
});

describe("Stack wiring", () => {
  it("names layer l's parameters with _l{l} and maps them to PyTorch's", () => {
    const m = new Sequential([new LSTM({ units: 4, layers: 3 })], { inputSize: 2 });
    const names = m.params.entries.map((e) => e.name);
    expect(names).toEqual([0, 1, 2].flatMap((l) => ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map((p) => `lstm0.${p}_l${l}`)));
    expect(m.params.entry("lstm0.weight_ih_l1").shape).toEqual([16, 4]);
    expect(names.map(torchParamName)).toEqual(names.map((n) => n.slice("lstm0.".length)));
    expect(torchParamName("lstm0.weight_ih")).toBe("weight_ih_l0");
    expect(() => torchParamName("lstm0.peephole")).toThrow(/no PyTorch/);
    const layer = m.layers[0] as LSTM;
    expect(layer.stateNames).toEqual(["h_l0", "c_l0", "h_l1", "c_l1", "h_l2", "c_l2"]);
    m.dispose();
  });

  it("sizes the inputs of each skip mode", () => {
    const widths = (skip: SkipMode) => {
      const m = new Sequential([new Stack([new GRU({ units: 3 }), new GRU({ units: 4 }), new GRU({ units: 4 })], { skip })], { inputSize: 2 });
      const w = [0, 1, 2].map((l) => m.params.entry(`stack0.weight_ih_l${l}`).shape[1]);
      m.dispose();
      return w;
    };
    expect(widths("none")).toEqual([2, 3, 4]);
    expect(widths("input")).toEqual([2, 2 + 3, 2 + 4]);
    expect(widths("dense")).toEqual([2, 2 + 3, 2 + 3 + 4]);
    expect(() => widths("residual")).toThrow(/layer 1 maps 3 features to 4/);
  });

  it("residual: out_1 = layer_1(out_0) + out_0, checked against the layers run by hand", () => {
    const T = 3, B = 2, I = 3, H = 4;
    const deep = new Sequential([new Elman({ units: H, layers: 2, skip: "residual" })], { inputSize: I, seed: 5 });
    const a = new Sequential([new Elman({ units: H })], { inputSize: I });
    const b = new Sequential([new Elman({ units: H })], { inputSize: H });
    const w = deep.getWeights();
    a.setWeights(Object.fromEntries(Object.entries(w).filter(([n]) => n.endsWith("_l0")).map(([n, v]) => [n.replace("_l0", ""), v])));
    b.setWeights(Object.fromEntries(Object.entries(w).filter(([n]) => n.endsWith("_l1")).map(([n, v]) => [n.replace("_l1", ""), v])));
    const x = Tensor.fromArray(rand(T * B * I, 1), [T, B, I]);
    const y = deep.forward(x).toFloat32Array();
    const y0 = a.forward(x);
    const y1 = b.forward(y0).toFloat32Array();
    const y0a = y0.toFloat32Array();
    expectBitEqual(y, y1.map((v, i) => v + y0a[i]), "residual output");
    for (const m of [deep, a, b]) m.dispose();
    x.dispose();
  });

  it("dropout between layers: off at inference, a fresh seeded mask in training", () => {
    const T = 4, B = 3, I = 3;
    const plain = new Sequential([new LSTM({ units: 5, layers: 2 })], { inputSize: I, seed: 2 });
    const dropped = new Sequential([new LSTM({ units: 5, layers: 2, dropout: 0.5 })], { inputSize: I, seed: 2 });
    const x = Tensor.fromArray(rand(T * B * I, 4), [T, B, I]);
    expectBitEqual(dropped.forward(x).toFloat32Array(), plain.forward(x).toFloat32Array(), "inference");
    const layer = dropped.layers[0] as LSTM;
    const a = layer.forward(x, ctx(true)).toFloat32Array();
    const b = layer.forward(x, ctx(true)).toFloat32Array();
    expectBitEqual(a, b, "same seed, same mask");
    const c = layer.forward(x, { training: true, rng: new Rng(99) }).toFloat32Array();
    expect(c.some((v, i) => v !== a[i])).toBe(true);
    for (const m of [plain, dropped]) m.dispose();
    x.dispose();
  });

  it("rejects what it cannot do, naming the problem", () => {
    expect(() => new LSTM({ units: 4, dropout: 0.2 })).toThrow(/dropout acts between stacked layers and needs layers >= 2/);
    expect(() => new GRU({ units: 4, skip: "dense" })).toThrow(/skip "dense" connects stacked layers and needs layers >= 2/);
    expect(() => new Elman({ units: 4, layers: 0 })).toThrow(/layers must be a whole number >= 1, got 0/);
    expect(() => new LSTM({ units: 4, layers: 2, dropout: 1 })).toThrow(/dropout must be a probability in \[0, 1\), got 1/);
    expect(() => new LSTM({ units: 4, layers: 2, skip: "highway" as SkipMode })).toThrow(/skip must be one of "none", "input", "residual", "dense", got "highway"/);
    expect(() => new Stack([])).toThrow(/at least one recurrent layer/);
    expect(() => new Stack([new GRU({ units: 3, returnSequences: false }), new GRU({ units: 3 })])).toThrow(/layer 0 returns only its last step/);
    const g = new GRU({ units: 3 });
    expect(() => new Stack([g, g])).toThrow(/same layer object appears twice/);
    expect(() => new Stack([new GRU({ units: 3 })], { residual: true } as never)).toThrow(/unknown option "residual"/);
  });

  it("keeps its options as JSON and can be built again from them", () => {
    const s = new Stack([new LSTM({ units: 4 }), new GRU({ units: 3, resetAfter: false })], { skip: "input", dropout: 0.1 });
    const json = JSON.parse(JSON.stringify(s.options));
    expect(json.skip).toBe("input");
    expect(json.dropout).toBe(0.1);
    expect(json.layers).toEqual([
      { kind: "lstm", options: { units: 4, returnSequences: true, layers: 1, dropout: 0, skip: "none", recurrentDropout: 0, peephole: false, forgetBias: 1, init: "glorot" } },
      { kind: "gru", options: { units: 3, returnSequences: true, layers: 1, dropout: 0, skip: "none", recurrentDropout: 0, resetAfter: false, init: "glorot" } },
    ]);
    const copy = s.clone() as Stack;
    expect(copy.options).toEqual(s.options);
    expect(copy.layers[0]).not.toBe(s.layers[0]);
  });

  it("trains without growing memory and frees everything on dispose", () => {
    const alloc = engine().allocator;
    const baseline = alloc.bytesInUse;
    const model = new Sequential([new GRU({ units: 8, layers: 3, skip: "dense", dropout: 0.1 })], { inputSize: 3, loss: "mse", seed: 1 });
    const x = Tensor.fromArray(rand(6 * 4 * 3, 1), [6, 4, 3]);
    const y = Tensor.fromArray(rand(6 * 4 * 8, 2, -0.5, 0.5), [6, 4, 8]);
    const first = model.trainStep(x, y, { lr: 0.1 });
    const inUse = alloc.bytesInUse;
    let last = first;
    for (let i = 0; i < 200; i++) last = model.trainStep(x, y, { lr: 0.1 });
    expect(alloc.bytesInUse).toBe(inUse);
    expect(last).toBeLessThan(first);
    x.dispose();
    y.dispose();
    model.dispose();
    expect(alloc.bytesInUse).toBe(baseline);
  });

  it("passes initial states to each level and returns each level's final state", () => {
    const T = 3, B = 2, I = 3, H = 4;
    const m = new Sequential([new LSTM({ units: H, layers: 2 })], { inputSize: I, seed: 3 });
    const layer = m.layers[0] as LSTM;
    const x = Tensor.fromArray(rand(T * B * I, 8), [T, B, I]);
    const init = [0, 1, 2, 3].map((i) => Tensor.fromArray(rand(B * H, 20 + i), [B, H]));
    const y = layer.forward(x, ctx(), init).toFloat32Array();
    const fin = layer.finalState.map((s) => s.toFloat32Array());
    expect(fin).toHaveLength(4);
    expectClose(fin[2], y.slice((T - 1) * B * H), 0, 0, "top h_n is the last output");
    expect(() => layer.forward(x, ctx(), init.slice(0, 2))).toThrow(/takes 4 initial state tensor\(s\) \(h_l0, c_l0, h_l1, c_l1\), got 2/);
    init.forEach((t) => t.dispose());
    x.dispose();
    m.dispose();
  });
});
