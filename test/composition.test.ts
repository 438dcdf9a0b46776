// Composition: the one mechanism (Layer.adopt) that Stack and Bidirectional are built with —
// naming, build order, binding, disposal — a composite written here from it, every layer's
// options as JSON, and whole models of composed layers training deterministically.
import { afterEach, describe, expect, it } from "vitest";
import { Tensor, engine } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { Layer, type RunContext } from "../src/layers/layer.js";
import { Dense } from "../src/layers/dense.js";
import { Dropout } from "../src/layers/dropout.js";
import { LSTM } from "../src/layers/lstm.js";
import { GRU } from "../src/layers/gru.js";
import { Elman } from "../src/layers/elman.js";
import { Jordan } from "../src/layers/jordan.js";
import { Stack } from "../src/layers/stack.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Sequential } from "../src/models/sequential.js";
import { expectBitEqual, freeAll, rand } from "./helpers.js";

afterEach(freeAll);

/** A composite written only from Layer's composition mechanism: y = B(A(x)) + A(x). */
class ResidualPair extends Layer {
  readonly kind = "pair";
  private readonly a = new Dense({ units: 4, activation: "tanh" });
  private readonly b = new Dense({ units: 4 });
  private ya: Tensor | null = null;
  protected declare(inputSize: number): number {
    this.param("scale", [1], () => Float32Array.of(1));
    const w = this.adopt(this.a, inputSize, "_a");
    return this.adopt(this.b, w, "_b");
  }
  forward(x: Tensor, ctx: RunContext): Tensor {
    this.ya = this.a.forward(x, ctx);
    const yb = this.b.forward(this.ya, ctx);
    const y = this.ws.get("y", yb.shape);
    engine().k.f32_add(y.ptr, yb.ptr, this.ya.ptr, y.size);
    return y;
  }
  backward(dy: Tensor): Tensor {
    const db = this.b.backward(dy);
    const d = this.ws.get("d", db.shape);
    engine().k.f32_add(d.ptr, db.ptr, dy.ptr, d.size);
    return this.a.backward(d);
  }
}

describe("Layer composition", () => {
  it("names parts with the parent's prefix and the part's suffix, own parameters first, bound with the parent", () => {
    const m = new Sequential([new ResidualPair(), new ResidualPair()], { inputSize: 3, loss: "mse" });
    expect(m.params.entries.map((e) => e.name)).toEqual(["pair0.scale", "pair0.weight_a", "pair0.bias_a", "pair0.weight_b", "pair0.bias_b", "pair1.scale", "pair1.weight_a", "pair1.bias_a", "pair1.weight_b", "pair1.bias_b"]);
    const x = Tensor.fromArray(rand(2 * 3 * 3, 1), [2, 3, 3]);
    const y = Tensor.fromArray(rand(2 * 3 * 4, 2), [2, 3, 4]);
    const first = m.trainStep(x, y, { lr: 0.1 });
    let last = first;
    for (let i = 0; i < 50; i++) last = m.trainStep(x, y, { lr: 0.1 });
    expect(last).toBeLessThan(first);
    expect(m.params.readGrad("pair0.weight_a").some((v) => v !== 0)).toBe(true);
    x.dispose();
    y.dispose();
    m.dispose();
  });

  it("a part belongs to one parent: using it twice fails when built", () => {
    const lstm = new LSTM({ units: 3 });
    const a = new Sequential([new Bidirectional(lstm)], { inputSize: 2 });
    expect(() => new Sequential([new Bidirectional(lstm)], { inputSize: 2 })).toThrow(/already part of a model/);
    a.dispose();
  });

  it("disposing a model frees every part of every composite", () => {
    const alloc = engine().allocator;
    const baseline = alloc.bytesInUse;
    const model = new Sequential([
      new Bidirectional(new LSTM({ units: 5, layers: 2, skip: "dense", dropout: 0.2 })),
      new Dropout({ rate: 0.1 }),
      new Stack([new GRU({ units: 4 }), new Elman({ units: 4 })], { skip: "residual" }),
      new Dense({ units: 3 }),
    ], { inputSize: 3, loss: "mse", seed: 1 });
    const x = Tensor.fromArray(rand(5 * 2 * 3, 1), [5, 2, 3]);
    const y = Tensor.fromArray(rand(5 * 2 * 3, 2), [5, 2, 3]);
    model.trainStep(x, y, { lr: 0.05 });
    const inUse = alloc.bytesInUse;
    for (let i = 0; i < 20; i++) model.trainStep(x, y, { lr: 0.05 });
    expect(alloc.bytesInUse).toBe(inUse);
    x.dispose();
    y.dispose();
    model.dispose();
    expect(alloc.bytesInUse).toBe(baseline);
  });
});

describe("every layer keeps its resolved options as JSON", () => {
  const cases: [string, () => Layer, (o: never) => Layer][] = [
    ["LSTM", () => new LSTM({ units: 4, peephole: true, layers: 2, dropout: 0.1 }), (o) => new LSTM(o)],
    ["GRU", () => new GRU({ units: 4, resetAfter: false, recurrentDropout: 0.2 }), (o) => new GRU(o)],
    ["Elman", () => new Elman({ units: 4, activation: "relu", leak: 0.5, init: "identity" }), (o) => new Elman(o)],
    ["Jordan", () => new Jordan({ units: 2, hiddenUnits: 5, outputActivation: "sigmoid" }), (o) => new Jordan(o)],
    ["Dense", () => new Dense({ units: 3, activation: "relu", bias: false }), (o) => new Dense(o)],
    ["Dropout", () => new Dropout({ rate: 0.3 }), (o) => new Dropout(o)],
  ];
  it.each(cases)("%s: defaults filled in, JSON round trip rebuilds the same layer", (_name, make, rebuild) => {
    const layer = make();
    const json = JSON.parse(JSON.stringify(layer.options));
    expect(json).toEqual(layer.options);
    expect(rebuild(json as never).options).toEqual(layer.options);
  });
  it("LSTM with defaults", () => {
    expect(new LSTM({ units: 8 }).options).toEqual({ units: 8, returnSequences: true, layers: 1, dropout: 0, skip: "none", recurrentDropout: 0, peephole: false, forgetBias: 1, init: "glorot" });
  });
  it("composites describe their parts by kind and options", () => {
    const b = new Bidirectional(new GRU({ units: 3, layers: 2, skip: "input" }), { merge: "average" });
    expect(b.options).toEqual({ merge: "average", layer: { kind: "gru", options: { units: 3, returnSequences: true, layers: 2, dropout: 0, skip: "input", recurrentDropout: 0, resetAfter: true, init: "glorot" } } });
  });
});

describe("composed models", () => {
  it("a bidirectional tagger with dropout trains bit-identically from the same seed", () => {
    const run = () => {
      const model = new Sequential([
        new Dropout({ rate: 0.1 }),
        new Bidirectional(new LSTM({ units: 6, layers: 2, dropout: 0.2, recurrentDropout: 0.1 })),
        new Dense({ units: 4 }),
      ], { inputSize: 3, loss: "softmaxCrossEntropy", seed: 42 });
      const x = Tensor.fromArray(rand(7 * 4 * 3, 5), [7, 4, 3]);
      const y = Tensor.fromArray(Array.from({ length: 28 }, (_, i) => (i * 5) % 4), [7, 4], "int32");
      const losses: number[] = [];
      for (let i = 0; i < 30; i++) losses.push(model.trainStep(x, y, { lr: 0.1 }));
      const w = Float32Array.from(model.params.values.toFloat32Array());
      x.dispose();
      y.dispose();
      model.dispose();
      return { losses, w };
    };
    const a = run(), b = run();
    expectBitEqual(a.w, b.w, "weights after training");
    expect(a.losses).toEqual(b.losses);
    expect(a.losses[29]).toBeLessThan(a.losses[0]);
  });

  it("a Stack's final state and lengths reach every level", () => {
    const T = 5, B = 3, I = 2;
    const m = new Sequential([new Stack([new Bidirectional(new GRU({ units: 3 })), new LSTM({ units: 4 })], { skip: "input" })], { inputSize: I, seed: 1 });
    const s = m.layers[0] as Stack;
    expect(s.stateNames).toEqual(["h_l0", "h_l0_reverse", "h_l1", "c_l1"]);
    expect(s.stateSizes).toEqual([3, 3, 4, 4]);
    const x = Tensor.fromArray(rand(T * B * I, 3), [T, B, I]);
    const y = s.forward(x, { training: false, rng: new Rng(0) }, undefined, Int32Array.from([5, 1, 3])).toFloat32Array();
    for (let t = 1; t < T; t++) expect(Array.from(y.subarray((t * B + 1) * 4, (t * B + 2) * 4)).every((v) => v === 0)).toBe(true);
    expect(Array.from(s.finalState[2].toFloat32Array().subarray(4, 8))).toEqual(Array.from(y.subarray(4, 8)));
    x.dispose();
    m.dispose();
  });
});
