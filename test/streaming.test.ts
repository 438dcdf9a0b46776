// Streaming inference: step() one time step at a time gives the same bits as forward over the
// whole sequence (LSTM, GRU, Elman, Jordan, stacks, Embedding, contexts, last-step heads);
// state snapshots restore exactly; memory stays flat; misuse is named.
import { describe, expect, it } from "vitest";
import { Tensor, engine } from "../src/engine/index.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Dense } from "../src/layers/dense.js";
import { Elman } from "../src/layers/elman.js";
import { Embedding } from "../src/layers/embedding.js";
import { GRU } from "../src/layers/gru.js";
import { Jordan } from "../src/layers/jordan.js";
import type { Layer } from "../src/layers/layer.js";
import { LSTM } from "../src/layers/lstm.js";
import { SequencePooling } from "../src/layers/pooling.js";
import { Stack } from "../src/layers/stack.js";
import { Sequential, type ContextMode } from "../src/models/sequential.js";
import { expectBitEqual, rand } from "./helpers.js";

const I = 3;

/** Row t of a time-major [T, B, F] array. */
const stepOf = (a: Float32Array | Int32Array, t: number, n: number) => a.slice(t * n, (t + 1) * n);

/** Steps through x [T, B, I] (or ids [T, B]) and returns every y_t, concatenated. */
function streamAll(model: Sequential, xv: Float32Array | Int32Array, T: number, B: number): Float32Array {
  const tokens = xv instanceof Int32Array;
  const parts: Float32Array[] = [];
  for (let t = 0; t < T; t++) {
    const xt = tokens ? Tensor.fromArray(stepOf(xv, t, B), [B], "int32") : Tensor.fromArray(stepOf(xv, t, B * I), [B, I]);
    const { y, state } = model.step(xt);
    expect(state.length).toBeGreaterThan(0);
    parts.push(y.toFloat32Array());
    xt.dispose();
  }
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("step() equals the sequence forward, bit for bit", () => {
  const T = 7;
  const stacks: [string, () => Layer[]][] = [
    ["LSTM → LSTM → Dense", () => [new LSTM({ units: 5 }), new LSTM({ units: 4, peephole: true }), new Dense({ units: 3 })]],
    ["GRU → GRU (reset before) → Dense(tanh)", () => [new GRU({ units: 5 }), new GRU({ units: 6, resetAfter: false }), new Dense({ units: 3, activation: "tanh" })]],
    ["Elman → Elman (relu, leaky) → Dense", () => [new Elman({ units: 5 }), new Elman({ units: 4, activation: "relu", leak: 0.5 }), new Dense({ units: 3 })]],
    ["LSTM with layers: 2 → Dense", () => [new LSTM({ units: 4, layers: 2 }), new Dense({ units: 3 })]],
    ["GRU with layers: 3, dense skips → Dense", () => [new GRU({ units: 4, layers: 3, skip: "dense" }), new Dense({ units: 2 })]],
    ["LSTM → GRU → Elman → Jordan → Dense", () => [new LSTM({ units: 4 }), new GRU({ units: 5 }), new Elman({ units: 3 }), new Jordan({ units: 4, hiddenUnits: 6 }), new Dense({ units: 2 })]],
    ["Dense(relu) → LSTM → Dense", () => [new Dense({ units: 6, activation: "relu" }), new LSTM({ units: 5 }), new Dense({ units: 2, activation: "sigmoid" })]],
  ];
  for (const [name, layers] of stacks) {
    for (const B of [1, 3]) {
      it(`${name}, B = ${B}`, () => {
        const model = new Sequential(layers(), { inputSize: I, seed: 11 });
        const xv = rand(T * B * I, 5, -2, 2);
        const x = Tensor.fromArray(xv, [T, B, I]);
        const full = model.forward(x).toFloat32Array();
        expectBitEqual(streamAll(model, xv, T, B), full, "stepped outputs");
        x.dispose();
        model.dispose();
      });
    }
  }

  it("token input: Embedding → GRU → Dense, ids [B] per step", () => {
    const B = 2;
    const model = new Sequential([new Embedding({ vocab: 10, dim: 4 }), new GRU({ units: 6 }), new Dense({ units: 10 })], { seed: 3 });
    const ids = Int32Array.from(rand(T * B, 6, 0, 10), Math.floor);
    const x = Tensor.fromArray(ids, [T, B], "int32");
    const full = model.forward(x).toFloat32Array();
    expectBitEqual(streamAll(model, ids, T, B), full, "stepped outputs");
    x.dispose();
    model.dispose();
  });

  for (const mode of ["input", "initialState", "both"] as ContextMode[]) {
    it(`with a context (${mode}): resetState({ context }) starts the stream`, () => {
      const [B, S] = [3, 4];
      const model = new Sequential([new LSTM({ units: 5 }), new GRU({ units: 4 }), new Dense({ units: 2 })], { inputSize: I, seed: 4, context: { size: S, mode } });
      const xv = rand(T * B * I, 7), c = Tensor.fromArray(rand(B * S, 8), [B, S]);
      const x = Tensor.fromArray(xv, [T, B, I]);
      const full = model.forward(x, { context: c }).toFloat32Array();
      model.resetState({ context: c });
      c.dispose(); // the stream keeps its own copy
      expectBitEqual(streamAll(model, xv, T, B), full, "stepped outputs");
      x.dispose();
      model.dispose();
    });
  }

  it("sequence-to-one models: y_t is the forward over the first t + 1 steps (returnSequences: false, pooling \"last\")", () => {
    const B = 2;
    for (const layers of [[new GRU({ units: 5, returnSequences: false }), new Dense({ units: 3 })], [new LSTM({ units: 5 }), new SequencePooling({ mode: "last" }), new Dense({ units: 3 })]]) {
      const model = new Sequential(layers, { inputSize: I, seed: 5 });
      const xv = rand(T * B * I, 9);
      const stepped = streamAll(model, xv, T, B);
      for (let t = 0; t < T; t++) {
        const prefix = Tensor.fromArray(xv.subarray(0, (t + 1) * B * I), [t + 1, B, I]);
        expectBitEqual(stepped.subarray(t * B * 3, (t + 1) * B * 3), model.forward(prefix).toFloat32Array(), `prefix ${t + 1}`);
        prefix.dispose();
      }
      model.dispose();
    }
  });
});

describe("stream state", () => {
  it("getState / setState restore a stream exactly; step(x, state) starts from a given state", () => {
    const [B, T] = [2, 9];
    const model = new Sequential([new LSTM({ units: 4 }), new GRU({ units: 3 }), new Dense({ units: 2 })], { inputSize: I, seed: 6 });
    const xv = rand(T * B * I, 10);
    const xt = (t: number) => Tensor.fromArray(stepOf(xv, t, B * I), [B, I]);
    expect(model.getState()).toEqual([]);
    for (let t = 0; t < 4; t++) model.step(xt(t));
    const snapshot = model.getState();
    expect(snapshot.map((s) => s.length)).toEqual([B * 4, B * 4, B * 3]); // lstm0 h, c; gru0 h
    const run = () => Array.from({ length: T - 4 }, (_, i) => model.step(xt(4 + i)).y.toFloat32Array());
    const first = run();
    model.setState(snapshot);
    run().forEach((y, i) => expectBitEqual(y, first[i], `restored step ${i}`));
    const fromGiven = model.step(xt(4), snapshot);
    expectBitEqual(fromGiven.y.toFloat32Array(), first[0], "step(x, state)");
    // After resetState the stream starts from zero again: the first output repeats.
    model.resetState();
    const a = model.step(xt(0)).y.toFloat32Array();
    model.resetState();
    expectBitEqual(model.step(xt(0)).y.toFloat32Array(), a, "after reset");
    model.dispose();
  });

  it("constant memory per step: a long stream allocates nothing after its first step", () => {
    const B = 4;
    const model = new Sequential([new LSTM({ units: 32, layers: 2 }), new Dense({ units: 8 })], { inputSize: I, seed: 1 });
    const x = Tensor.fromArray(rand(B * I, 1), [B, I]);
    model.step(x);
    const inUse = engine().allocator.bytesInUse;
    const memory = engine().allocator.memoryBytes;
    for (let t = 0; t < 300; t++) model.step(x);
    expect(engine().allocator.bytesInUse).toBe(inUse);
    expect(engine().allocator.memoryBytes).toBe(memory);
    x.dispose();
    model.dispose();
  });
});

describe("step(): errors", () => {
  it("names misuse", () => {
    const model = new Sequential([new LSTM({ units: 3 }), new Dense({ units: 2 })], { inputSize: I });
    const seq = Tensor.zeros([2, 2, I]);
    expect(() => model.step(seq)).toThrow(/step expected float32 x_t \[B, 3\] \(one time step\), got float32 \[2, 2, 3\]/);
    const x2 = Tensor.zeros([2, I]), x3 = Tensor.zeros([3, I]);
    model.step(x2);
    expect(() => model.step(x3)).toThrow(/the stream holds the state of 2 samples, x_t has 3; call resetState\(\)/);
    expect(() => model.setState([new Float32Array(6)])).toThrow(/setState expected 2 arrays \(lstm0.h, lstm0.c\), got 1/);
    expect(() => model.setState([new Float32Array(6), new Float32Array(5)])).toThrow(/lstm0.c should hold \[2, 3\] = 6 values, got 5/);
    expect(() => model.setState([new Float32Array(5), new Float32Array(5)])).toThrow(/not a whole number of rows of 3/);
    expect(() => model.setState([new Float32Array(6), new Float32Array(6).fill(NaN)])).toThrow(/lstm0.c value 0 is NaN/);
    const pooled = new Sequential([new GRU({ units: 3 }), new SequencePooling({ mode: "mean" })], { inputSize: I });
    expect(() => pooled.step(x2)).toThrow(/pooling layer "pooling0" needs the whole sequence/);
    const ctxModel = new Sequential([new GRU({ units: 3 })], { inputSize: I, context: { size: 2, mode: "input" } });
    expect(() => ctxModel.step(x2)).toThrow(/conditioned on a context; start the stream with resetState\(\{ context \}\)/);
    const bad = Tensor.zeros([2, 3]);
    expect(() => ctxModel.resetState({ context: bad })).toThrow(/expected context \[2, 2\].*got float32 \[2, 3\]/);
    const tokens = new Sequential([new Embedding({ vocab: 4, dim: 2 }), new GRU({ units: 2 })]);
    expect(() => tokens.step(x2)).toThrow(/step expected int32 token ids \[B\]/);
    const badId = Tensor.fromArray([1, 7], [2], "int32");
    expect(() => tokens.step(badId)).toThrow(/step: token id 7 at sample 1 is outside the vocabulary \[0, 3\]/);
    const bidir = new Sequential([new Bidirectional(new LSTM({ units: 2 })), new Dense({ units: 2 })], { inputSize: I });
    expect(() => bidir.step(x2)).toThrow(/bidirectional layer "bidirectional0" needs the whole sequence \(it reads it backwards or pools it\), so it cannot run one step at a time/);
    const stacked = new Sequential([new Stack([new GRU({ units: 2 }), new Bidirectional(new GRU({ units: 2 }))])], { inputSize: I });
    expect(() => stacked.step(x2)).toThrow(/cannot run one step at a time/);
    for (const t of [seq, x2, x3, bad, badId]) t.dispose();
    for (const m of [model, pooled, ctxModel, tokens, bidir, stacked]) m.dispose();
  });
});
