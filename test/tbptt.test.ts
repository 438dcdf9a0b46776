// Truncated BPTT and continued sequences: forward from a given initial state continues a
// sequence bit for bit (variable lengths included, samples that end in an earlier chunk
// pass their state through); a chunk's gradient is the gradient with the carried state held
// constant (finite differences), so nothing flows across the boundary; fit({ tbptt }) takes
// one optimizer step per chunk, reports the whole sequence's loss, equals plain fit when the
// chunk covers the sequence, learns a task whose memory crosses the boundaries, and refuses
// what it cannot do.
import { describe, expect, it } from "vitest";
import { Tensor, UnfoldError, engine } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { Dense } from "../src/layers/dense.js";
import { Elman } from "../src/layers/elman.js";
import { GRU } from "../src/layers/gru.js";
import { Jordan } from "../src/layers/jordan.js";
import { LSTM } from "../src/layers/lstm.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import type { Layer } from "../src/layers/layer.js";
import { Sequential } from "../src/models/sequential.js";
import { evaluate, fit } from "../src/train/fit.js";
import { Adam, SGD } from "../src/train/optimizers.js";
import { checkGradients } from "../src/train/gradcheck.js";

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function randomArray(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
}

/** Time-major rows [start, start+len) of a [T, ...] tensor, copied to a new tensor. */
function rows(t: Tensor, start: number, len: number): Tensor {
  const row = t.size / t.shape[0];
  return Tensor.fromArray(t.toTypedArray().slice(start * row, (start + len) * row) as Float32Array, [len, ...t.shape.slice(1)]);
}

const copies = (ts: readonly Tensor[]) => ts.map((s) => Tensor.fromArray(s.toFloat32Array(), s.shape));

const MODELS: [string, () => Layer[]][] = [
  ["LSTM", () => [new LSTM({ units: 7 }), new Dense({ units: 2 })]],
  ["GRU", () => [new GRU({ units: 6 }), new Dense({ units: 2 })]],
  ["Elman (leaky)", () => [new Elman({ units: 5, leak: 0.5 }), new Dense({ units: 2 })]],
  ["Jordan", () => [new Jordan({ units: 2, hiddenUnits: 5 })]],
  ["2-layer LSTM", () => [new LSTM({ units: 4, layers: 2 }), new Dense({ units: 2 })]],
];

describe("continuing a sequence from its final state", () => {
  for (const [name, layers] of MODELS) {
    it(`${name}: chunk by chunk gives the whole sequence's outputs and final state, bit for bit (lengths that end early included)`, () => {
      const T = 9, B = 4, I = 3;
      const rng = new Rng(5);
      const model = new Sequential(layers(), { inputSize: I, seed: 2 });
      const x = Tensor.fromArray(randomArray(T * B * I, rng), [T, B, I]);
      // Sample 1 ends in the first chunk, sample 3 in the second, the others run to T.
      const lengths = Int32Array.from([9, 2, 9, 5]);
      const whole = model.forward(x, { lengths }).toFloat32Array();
      const wholeState = model.lastFinalState.map((s) => s.toFloat32Array());
      const pieces: Float32Array[] = [];
      let state: Tensor[] | undefined;
      for (const [start, len] of [[0, 4], [4, 4], [8, 1]]) {
        const xs = rows(x, start, len);
        const real = Int32Array.from(lengths, (L) => Math.max(0, Math.min(len, L - start)));
        pieces.push(model.forward(xs, { lengths: real, initialState: state }).toFloat32Array());
        state?.forEach((s) => s.dispose());
        state = copies(model.lastFinalState);
        xs.dispose();
      }
      const joined = new Float32Array(whole.length);
      let at = 0;
      for (const p of pieces) {
        joined.set(p, at);
        at += p.length;
      }
      expect(bits(joined)).toEqual(bits(whole));
      state!.forEach((s, j) => expect(bits(s.toFloat32Array())).toEqual(bits(wholeState[j])));
      state!.forEach((s) => s.dispose());
      x.dispose();
      model.dispose();
    });
  }

  it("a chunk's gradient holds the carried state constant: finite differences agree, and disagree with the full path", () => {
    const T = 6, B = 3, I = 2, k = 3;
    const rng = new Rng(11);
    const model = new Sequential([new LSTM({ units: 5 }), new Dense({ units: 2 })], { inputSize: I, loss: "mse", seed: 4 });
    const x = Tensor.fromArray(randomArray(T * B * I, rng), [T, B, I]);
    const y = Tensor.fromArray(randomArray(T * B * 2, rng), [T, B, 2]);
    const [x1, x2, y2] = [rows(x, 0, k), rows(x, k, k), rows(y, k, k)];
    model.forward(x1);
    const carried = copies(model.lastFinalState);
    const detached = () => model.computeLoss(x2, y2, { initialState: carried });
    const lossAndGrad = () => model.lossAndGradients(x2, y2, { initialState: carried });
    const inputs = [{ name: "params", values: model.params.values, grad: () => model.params.grads.toFloat32Array() }];
    const cut = checkGradients({ loss: detached, lossAndGrad, inputs, directions: 3, seed: 3 });
    expect(cut.ok, JSON.stringify(cut.results)).toBe(true);
    // The same chunk's loss with the state recomputed from the perturbed weights (the full
    // path): its derivative has the terms truncation drops, so it no longer matches.
    const fullPath = () => {
      model.forward(x1);
      const state = copies(model.lastFinalState);
      const value = model.computeLoss(x2, y2, { initialState: state });
      state.forEach((s) => s.dispose());
      return value;
    };
    const through = checkGradients({ loss: fullPath, lossAndGrad, inputs, directions: 3, seed: 3 });
    expect(through.ok).toBe(false);
    expect(Math.max(...through.results.map((r) => r.relativeError))).toBeGreaterThan(0.05);
    // No gradient reaches the carried state's source: the initial-state gradient is only reported.
    for (const t of [x, y, x1, x2, y2, ...carried]) t.dispose();
    model.dispose();
  });

  it("returnState (Keras' return_state): the output with the final states, which continue the sequence", () => {
    const rng = new Rng(21);
    const model = new Sequential([new LSTM({ units: 4, layers: 2 }), new Dense({ units: 2 })], { inputSize: 3, seed: 5 });
    const T = 6, B = 2;
    const x = Tensor.fromArray(randomArray(T * B * 3, rng), [T, B, 3]);
    const whole = model.forward(x).toFloat32Array();
    const head = rows(x, 0, 4), tail = rows(x, 4, 2);
    const { output: first, state } = model.forward(head, { returnState: true });
    expect(first.shape).toEqual([4, B, 2]);
    expect(state.map((s) => s.shape)).toEqual([[B, 4], [B, 4], [B, 4], [B, 4]]); // h, c of each level
    expect(state.map((s) => bits(s.toFloat32Array()))).toEqual(model.lastFinalState.map((s) => bits(s.toFloat32Array())));
    const carried = state.map((s) => Tensor.fromArray(s.toFloat32Array(), s.shape));
    const rest = model.forward(tail, { initialState: carried }).toFloat32Array();
    expect(bits(rest)).toEqual(bits(whole.subarray(4 * B * 2)));
    expect(() => model.forward(x, { returnState: "yes" } as never)).toThrow(/forward: returnState must be true or false, got yes/);
    for (const t of [x, head, tail, ...carried]) t.dispose();
    model.dispose();
  });

  it("checks initialState and the lengths that come with it", () => {
    const model = new Sequential([new LSTM({ units: 3 }), new Dense({ units: 1 })], { inputSize: 2 });
    const x = Tensor.zeros([4, 2, 2]);
    const h = Tensor.zeros([2, 3]);
    expect(() => model.forward(x, { initialState: [h] })).toThrow(/initialState takes 2 tensors \(lstm0\.h, lstm0\.c\), got 1/);
    const wrong = Tensor.zeros([3, 3]);
    expect(() => model.forward(x, { initialState: [h, wrong] })).toThrow(/initialState\[1\] \(lstm0\.c\) must be float32 \[2, 3\], got float32 \[3, 3\]/);
    const bad = Tensor.fromArray([NaN, 0, 0, 0, 0, 0], [2, 3]);
    expect(() => model.forward(x, { initialState: [h, bad] })).toThrow(/initialState\[1\] \(lstm0\.c\) contains NaN/);
    // Length 0 means "ended in an earlier chunk": only when continuing from a state.
    expect(() => model.forward(x, { lengths: [0, 4] })).toThrow(/lengths\[0\] must be a whole number in \[1, 4\]/);
    expect(() => model.forward(x, { lengths: [0, 4], initialState: [h, h] })).not.toThrow();
    const bi = new Sequential([new Bidirectional(new LSTM({ units: 3 }))], { inputSize: 2 });
    const h2 = Tensor.zeros([2, 3]);
    expect(() => bi.forward(x, { initialState: [h, h2, h, h2] })).toThrow(/bidirectional layer "bidirectional0" cannot do \(it reads the sequence backwards/);
    for (const t of [x, h, h2, wrong, bad]) t.dispose();
    model.dispose();
    bi.dispose();
  });
});

/** Per-step regression data: y_t = x_{t−lag} (zero before), batch-major. */
function echoData(n: number, T: number, lag: number, seed: number) {
  const rng = new Rng(seed);
  const x = randomArray(n * T, rng);
  const y = new Float32Array(n * T);
  for (let s = 0; s < n; s++) for (let t = lag; t < T; t++) y[s * T + t] = x[s * T + t - lag];
  return { x: { data: x, shape: [n, T, 1] }, y: { data: y, shape: [n, T, 1] } };
}

describe("fit({ tbptt })", () => {
  const makeModel = (seed = 1) => new Sequential([new GRU({ units: 12 }), new Dense({ units: 1 })], { inputSize: 1, loss: "mse", seed });

  it("takes one optimizer step per chunk and reports the whole sequence's loss", async () => {
    const data = echoData(16, 10, 1, 3);
    const model = makeModel();
    const before = evaluate(model, data, { batchSize: 8 }).loss;
    // A learning rate too small to move the weights in float32: the chunks' summed losses
    // must then equal the whole sequence's loss.
    const optimizer = new SGD({ lr: 1e-30 });
    const batchLosses: number[] = [];
    const history = await fit(model, data, { epochs: 1, batchSize: 8, tbptt: 4, optimizer, shuffle: false, onBatchEnd: (_, logs) => void batchLosses.push(logs.loss) });
    expect(optimizer.stepCount).toBe(2 * 3); // 2 batches × ⌈10 / 4⌉ chunks
    expect(batchLosses).toHaveLength(2);
    expect(history.epochs[0].loss).toBeCloseTo(before, 5);
    optimizer.dispose();
    model.dispose();
  });

  it("is plain fit, bit for bit, when a chunk covers the sequence", async () => {
    const data = echoData(24, 8, 2, 4);
    const run = async (tbptt?: number) => {
      const model = makeModel(7);
      const optimizer = new Adam({ lr: 1e-2 });
      await fit(model, data, { epochs: 2, batchSize: 8, optimizer, ...(tbptt ? { tbptt } : {}) });
      const w = model.params.values.toFloat32Array();
      model.dispose();
      optimizer.dispose();
      return w;
    };
    const plain = await run();
    expect(bits(await run(8))).toEqual(bits(plain));
    expect(bits(await run(50))).toEqual(bits(plain));
    expect(bits(await run(3))).not.toEqual(bits(plain));
  });

  it("learns a task whose memory crosses the chunk boundaries (the state is carried)", async () => {
    // y_t = x_{t−2}, T = 48 in chunks of 8: at the first two steps of every chunk the answer
    // lives only in the carried state. Zero prediction scores ≈ 1/3 (the variance of x).
    const train = echoData(256, 48, 2, 5);
    const test = echoData(64, 48, 2, 6);
    const model = makeModel(3);
    const optimizer = new Adam({ lr: 1e-2, clipNorm: 1 });
    await fit(model, train, { epochs: 6, batchSize: 32, tbptt: 8, optimizer, shuffle: true });
    const loss = evaluate(model, test).loss / 48; // per step (the loss sums over time)
    expect(loss).toBeLessThan(0.02);
    optimizer.dispose();
    model.dispose();
  });

  it("with variable lengths: samples that end in an early chunk stop counting, a batch whose samples all ended stops", async () => {
    const data = echoData(8, 12, 1, 8);
    const lengths = Int32Array.from([12, 3, 5, 12, 2, 4, 3, 5]);
    const model = makeModel(5);
    const optimizer = new SGD({ lr: 1e-30 });
    const before = evaluate(model, { ...data, lengths }, { batchSize: 4 }).loss;
    await fit(model, { ...data, lengths }, { epochs: 1, batchSize: 4, tbptt: 3, optimizer, shuffle: false });
    // Batch [12, 3, 5, 12]: 4 chunks. Batch [2, 4, 3, 5]: lengths end by step 5, so 2 chunks.
    expect(optimizer.stepCount).toBe(4 + 2);
    const history = await fit(model, { ...data, lengths }, { epochs: 1, batchSize: 4, tbptt: 3, optimizer, shuffle: false });
    expect(history.epochs[0].loss).toBeCloseTo(before, 5);
    optimizer.dispose();
    model.dispose();
  });

  it("refuses what truncated BPTT cannot do, with a message that says why", async () => {
    const data = echoData(8, 6, 1, 9);
    const bi = new Sequential([new Bidirectional(new GRU({ units: 3 })), new Dense({ units: 1 })], { inputSize: 1, loss: "mse" });
    await expect(fit(bi, data, { tbptt: 2 })).rejects.toThrow(/bidirectional layer "bidirectional0" cannot do/);
    const model = makeModel();
    await expect(fit(model, data, { tbptt: 0 })).rejects.toThrow(/tbptt must be a whole number of steps >= 1, got 0/);
    await expect(fit(model, data, { tbptt: 2.5 })).rejects.toThrow(UnfoldError);
    const toOne = new Sequential([new GRU({ units: 3, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 1, loss: "mse" });
    const oneTarget = { x: data.x, y: { data: new Float32Array(8), shape: [8, 1] } };
    await expect(fit(toOne, oneTarget, { tbptt: 2 })).rejects.toThrow(/truncated BPTT needs a target per step/);
    for (const m of [bi, model, toOne]) m.dispose();
  });

  it("does not grow wasm memory over many chunked epochs", async () => {
    const data = echoData(40, 14, 1, 10);
    const model = makeModel();
    const optimizer = new Adam({ lr: 1e-3 });
    await fit(model, data, { epochs: 1, batchSize: 16, tbptt: 4, optimizer });
    const pages = engine().allocator.memoryBytes;
    await fit(model, data, { epochs: 20, batchSize: 16, tbptt: 4, optimizer });
    expect(engine().allocator.memoryBytes).toBe(pages);
    optimizer.dispose();
    model.dispose();
  });
});
