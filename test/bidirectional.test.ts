import { afterEach, describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { LSTM } from "../src/layers/lstm.js";
import { GRU } from "../src/layers/gru.js";
import { Elman } from "../src/layers/elman.js";
import { Jordan } from "../src/layers/jordan.js";
import { Stack } from "../src/layers/stack.js";
import { Bidirectional, type MergeMode } from "../src/layers/bidirectional.js";
import { fromTorchStateDict, type RecurrentLayer } from "../src/layers/recurrent.js";
import { Sequential } from "../src/models/sequential.js";
import { expectBitEqual, expectClose, freeAll, rand } from "./helpers.js";
import { gradCheckRecurrent, loadFixture, replayTorchFixture } from "./rnn-harness.js";

afterEach(freeAll);

function cellFor(kind: string, H: number, extra: object = {}): RecurrentLayer {
  if (kind === "lstm") return new LSTM({ units: H, ...extra });
  if (kind === "gru") return new GRU({ units: H, ...extra });
  return new Elman({ units: H, activation: kind === "rnn_relu" ? "relu" : "tanh", ...extra });
}

describe("bidirectional layers match PyTorch bidirectional=True", () => {
  for (const kind of ["lstm", "gru", "rnn_tanh", "rnn_relu"]) {
    it(`${kind}_bidir_layers2 through Bidirectional(layers: 2)`, () => {
      const fx = loadFixture(`${kind}_bidir_layers2`);
      replayTorchFixture(fx, new Bidirectional(cellFor(kind, fx.H, { layers: 2 })));
    });
    it(`${kind}_bidir_layers2 through a Stack of two Bidirectionals`, () => {
      const fx = loadFixture(`${kind}_bidir_layers2`);
      replayTorchFixture(fx, new Stack([new Bidirectional(cellFor(kind, fx.H)), new Bidirectional(cellFor(kind, fx.H))]));
    });
  }
  for (const kind of ["lstm", "gru", "rnn_tanh", "rnn_relu"]) {
    it(`${kind}_packed_bidir: a packed batch of lengths [6, 4, 1]`, () => {
      const fx = loadFixture(`${kind}_packed_bidir`);
      expect(fx.lengths).toEqual([6, 4, 1]);
      replayTorchFixture(fx, new Bidirectional(cellFor(kind, fx.H)));
    });
    it(`${kind}_packed_bidir_layers2: two bidirectional levels over a packed batch`, () => {
      const fx = loadFixture(`${kind}_packed_bidir_layers2`);
      expect(fx.lengths).toEqual([6, 4, 1]);
      expect([fx.num_layers, fx.bidirectional]).toEqual([2, true]);
      replayTorchFixture(fx, new Bidirectional(cellFor(kind, fx.H, { layers: 2 })));
    });
  }
});

describe("Bidirectional gradients (finite differences)", () => {
  const merges: MergeMode[] = ["concat", "sum", "mul", "average"];
  for (const merge of merges) {
    it(`merge "${merge}": LSTM`, () => gradCheckRecurrent(new Bidirectional(new LSTM({ units: 5 }), { merge }), { T: 4, B: 3, I: 3 }));
    it(`merge "${merge}": GRU with lengths`, () => gradCheckRecurrent(new Bidirectional(new GRU({ units: 4, resetAfter: false }), { merge }), { T: 5, B: 3, I: 3, lengths: [5, 1, 3] }));
    it(`merge "${merge}": Elman, last output only, with lengths`, () => gradCheckRecurrent(new Bidirectional(new Elman({ units: 4, returnSequences: false }), { merge }), { T: 4, B: 3, I: 2, lengths: [2, 4, 1] }));
    it(`merge "${merge}": two stacked levels with lengths`, () => gradCheckRecurrent(new Bidirectional(new GRU({ units: 4, layers: 2 }), { merge }), { T: 4, B: 2, I: 3, lengths: [3, 4] }));
  }
  it("Jordan in both directions", () => gradCheckRecurrent(new Bidirectional(new Jordan({ units: 3, hiddenUnits: 5 })), { T: 4, B: 2, I: 3 }));
  it("stacked, residual skips, dropout between levels and recurrent dropout (fixed seed)", () => {
    gradCheckRecurrent(new Bidirectional(new LSTM({ units: 4, layers: 2, skip: "residual", dropout: 0.25, recurrentDropout: 0.2 })), { T: 4, B: 2, I: 3, dropoutSeed: 5 });
  });
});

describe("Bidirectional behaviour", () => {
  it("the reverse direction is the wrapped layer's copy run on each sample's reversed real steps", () => {
    const T = 5, B = 3, I = 2, H = 3;
    const L = [5, 3, 1];
    const bi = new Sequential([new Bidirectional(new GRU({ units: H }))], { inputSize: I, seed: 6 });
    const one = new Sequential([new GRU({ units: H })], { inputSize: I });
    const w = bi.getWeights();
    one.setWeights(Object.fromEntries(Object.entries(w).filter(([n]) => n.endsWith("_reverse")).map(([n, v]) => [n.replace("bidirectional0.", "gru0.").replace("_reverse", ""), v])));
    const x = rand(T * B * I, 2);
    const xt = Tensor.fromArray(x, [T, B, I]);
    const ctx = { training: false, rng: new Rng(0) };
    const layer = bi.layers[0] as Bidirectional;
    const out = layer.forward(xt, ctx, undefined, Int32Array.from(L)).toFloat32Array();
    for (let b = 0; b < B; b++) {
      const xr = new Float32Array(L[b] * I);
      for (let t = 0; t < L[b]; t++) xr.set(x.subarray(((L[b] - 1 - t) * B + b) * I, ((L[b] - 1 - t) * B + b + 1) * I), t * I);
      const xb = Tensor.fromArray(xr, [L[b], 1, I]);
      const yr = one.forward(xb).toFloat32Array();
      for (let t = 0; t < T; t++) {
        const got = out.subarray((t * B + b) * 2 * H + H, (t * B + b + 1) * 2 * H);
        if (t >= L[b]) expect(Array.from(got).every((v) => v === 0)).toBe(true);
        else expectClose(got, yr.subarray((L[b] - 1 - t) * H, (L[b] - t) * H), 2e-6, 1e-5, `reverse output of sample ${b} at step ${t}`);
      }
      // final state of the reverse direction: after step 0
      expectClose(layer.finalState[1].toFloat32Array().subarray(b * H, (b + 1) * H), yr.subarray((L[b] - 1) * H, L[b] * H), 2e-6, 1e-5, "final reverse h");
      xb.dispose();
    }
    xt.dispose();
    bi.dispose();
    one.dispose();
  });

  it("merges the directions as named", () => {
    const T = 3, B = 2, I = 2, H = 4;
    const x = Tensor.fromArray(rand(T * B * I, 3), [T, B, I]);
    const outs: Record<string, Float32Array> = {};
    for (const merge of ["concat", "sum", "mul", "average"] as const) {
      const m = new Sequential([new Bidirectional(new LSTM({ units: H }), { merge })], { inputSize: I, seed: 1 });
      outs[merge] = m.forward(x).toFloat32Array();
      expect((m.layers[0] as Bidirectional).units).toBe(merge === "concat" ? 2 * H : H);
      m.dispose();
    }
    const f = (i: number) => outs.concat[Math.floor(i / H) * 2 * H + (i % H)];
    const r = (i: number) => outs.concat[Math.floor(i / H) * 2 * H + H + (i % H)];
    const n = T * B * H;
    expectBitEqual(outs.sum, Float32Array.from({ length: n }, (_, i) => f(i) + r(i)), "sum");
    expectBitEqual(outs.mul, Float32Array.from({ length: n }, (_, i) => f(i) * r(i)), "mul");
    expectBitEqual(outs.average, Float32Array.from({ length: n }, (_, i) => Math.fround(f(i) + r(i)) * 0.5), "average");
    x.dispose();
  });

  it("names parameters and states as PyTorch does, and loads a state_dict", () => {
    const m = new Sequential([new Bidirectional(new LSTM({ units: 3, layers: 2 }))], { inputSize: 2 });
    const layer = m.layers[0] as Bidirectional;
    expect(m.params.entries.map((e) => e.name)).toEqual(["_l0", "_l0_reverse", "_l1", "_l1_reverse"].flatMap((s) => ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map((p) => `bidirectional0.${p}${s}`)));
    expect(m.params.entry("bidirectional0.weight_ih_l1_reverse").shape).toEqual([12, 6]);
    expect(layer.stateNames).toEqual(["h_l0", "c_l0", "h_l0_reverse", "c_l0_reverse", "h_l1", "c_l1", "h_l1_reverse", "c_l1_reverse"]);
    const single = new Sequential([new Bidirectional(new GRU({ units: 3 }))], { inputSize: 2 });
    const dict: Record<string, Float32Array> = {};
    for (const e of single.params.entries) dict[`rnn.${e.name.replace("bidirectional0.", "").replace(/^(\w+?_\w\w)(_reverse)?$/, "$1_l0$2")}`] = rand(e.size, e.offset + 1);
    const mapped = fromTorchStateDict(single.layers[0], dict, "rnn.");
    expect(Object.keys(mapped).sort()).toEqual(single.params.entries.map((e) => e.name).sort());
    single.setWeights(mapped);
    expectBitEqual(single.params.read("bidirectional0.bias_hh_reverse"), dict["rnn.bias_hh_l0_reverse"]);
    expect(() => fromTorchStateDict(single.layers[0], { ...dict, "rnn.weight_ih_l1": new Float32Array(1) }, "rnn.")).toThrow(/keys this layer does not use: rnn.weight_ih_l1/);
    const { ["rnn.bias_ih_l0"]: _gone, ...missing } = dict;
    expect(() => fromTorchStateDict(single.layers[0], missing, "rnn.")).toThrow(/has no "rnn.bias_ih_l0"/);
    m.dispose();
    single.dispose();
  });

  it("keeps its options as JSON, rebuilds and rejects bad options", () => {
    const b = new Bidirectional(new Elman({ units: 3, activation: "relu" }), { merge: "sum" });
    expect(JSON.parse(JSON.stringify(b.options))).toEqual({ merge: "sum", layer: { kind: "elman", options: { units: 3, returnSequences: true, layers: 1, dropout: 0, skip: "none", recurrentDropout: 0, activation: "relu", leak: 1, init: "glorot" } } });
    expect((b.clone() as Bidirectional).options).toEqual(b.options);
    expect(() => new Bidirectional(new GRU({ units: 3 }), { merge: "max" as MergeMode })).toThrow(/merge must be one of "concat", "sum", "mul", "average", got "max"/);
    expect(() => new Bidirectional(new GRU({ units: 3 }), { mode: "sum" } as never)).toThrow(/unknown option "mode"/);
  });

  it("skips the input gradient of a stacked Bidirectional when asked, with the same parameter gradients", () => {
    const T = 5, B = 3, I = 4;
    const model = new Sequential([new Bidirectional(new LSTM({ units: 3, layers: 2 }))], { inputSize: I, loss: "mse", seed: 3 });
    const x = Tensor.fromArray(rand(T * B * I, 4), [T, B, I]);
    const y = Tensor.fromArray(rand(T * B * 6, 5), [T, B, 6]);
    const run = (inputGrad: boolean) => {
      model.computeLoss(x, y); // a forward (no dropout here: the same as training's), and the loss's gradient
      model.params.zeroGrads();
      const dx = model.backward(model.loss!.grad, { inputGrad });
      return { shape: dx.shape, grads: model.params.grads.toFloat32Array() };
    };
    const full = run(true);
    const skipped = run(false);
    expect(full.shape).toEqual([T, B, I]);
    expect(skipped.shape).toEqual([T, B, 0]);
    expectBitEqual(skipped.grads, full.grads, "parameter gradients");
    // One forward serves one backward (the LSTM's gradients overwrite its activations), as in
    // PyTorch without retain_graph: a second one is refused by name, and nothing changes.
    const before = model.params.grads.toFloat32Array();
    expect(() => model.backward(model.loss!.grad)).toThrow(/LSTM layer "[^"]+": backward already ran for the last forward/);
    expectBitEqual(model.params.grads.toFloat32Array(), before, "gradients after the refused backward");
    expect(model.lossAndGradients(x, y)).toBeCloseTo(model.computeLoss(x, y), 6);
    x.dispose();
    y.dispose();
    model.dispose();
  });

  it("trains in a model: loss falls", () => {
    const T = 6, B = 4, I = 3;
    const model = new Sequential([new Bidirectional(new LSTM({ units: 6, layers: 2 }))], { inputSize: I, loss: "mse", seed: 2 });
    const x = Tensor.fromArray(rand(T * B * I, 1), [T, B, I]);
    const y = Tensor.fromArray(rand(T * B * 12, 2, -0.5, 0.5), [T, B, 12]);
    const first = model.trainStep(x, y, { lr: 0.2 });
    let last = first;
    for (let i = 0; i < 100; i++) last = model.trainStep(x, y, { lr: 0.2 });
    expect(last).toBeLessThan(first * 0.8);
    x.dispose();
    y.dispose();
    model.dispose();
  });
});
