// Variable-length batches: the sequence bookkeeping kernels against plain references, and
// every cell with per-sample lengths — outputs zero past each end, the final state the one of
// the sample's own last step, and forward and backward equal to running each sample alone
// with its true length; finite-difference checks of masked batches.
import { afterEach, describe, expect, it } from "vitest";
import { Tensor, UnfoldError } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { LSTM } from "../src/layers/lstm.js";
import { GRU } from "../src/layers/gru.js";
import { Elman } from "../src/layers/elman.js";
import { Jordan } from "../src/layers/jordan.js";
import type { RecurrentLayer } from "../src/layers/recurrent.js";
import { Sequential } from "../src/models/sequential.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, putInt, rand } from "./helpers.js";
import { gradCheckRecurrent } from "./rnn-harness.js";

afterEach(freeAll);

describe("sequence kernels", () => {
  const shapes: [number, number, number][] = [];
  for (const W of [1, 2, 3, 4, 5, 7, 8, 9, 17]) for (const [T, B] of [[1, 1], [3, 2], [5, 4]]) shapes.push([T, B, W]);
  const lengthsFor = (T: number, B: number) => Array.from({ length: B }, (_, b) => 1 + ((b * 7 + 3) % T));

  it.each(shapes)("ended-row copy and fill touch exactly the ended rows (T=%i, B=%i, W=%i)", (T, B, W) => {
    const L = lengthsFor(T, B);
    const lengths = putInt(L);
    for (let step = 0; step < T; step++) {
      const src = rand(B * W, step + 1), dst0 = rand(B * W, step + 50);
      const dst = put(dst0);
      k().f32_ended_rows_copy(dst, put(src), lengths, step, B, W);
      const want = Float32Array.from(dst0);
      for (let b = 0; b < B; b++) if (L[b] <= step) want.set(src.subarray(b * W, (b + 1) * W), b * W);
      expectBitEqual(get(dst, B * W), want, "copy");
      k().f32_ended_rows_fill(dst, lengths, step, 0, B, W);
      for (let b = 0; b < B; b++) if (L[b] <= step) want.fill(0, b * W, (b + 1) * W);
      expectBitEqual(get(dst, B * W), want, "fill");
    }
  });

  it.each(shapes)("mask, reverse, gather and scatter of steps (T=%i, B=%i, W=%i)", (T, B, W) => {
    const L = lengthsFor(T, B);
    const lengths = putInt(L);
    const x = rand(T * B * W, T * 10 + W);
    const row = (t: number, b: number) => (t * B + b) * W;
    // mask
    const y = put(x);
    k().f32_mask_steps(y, lengths, T, B, W);
    const masked = Float32Array.from(x);
    for (let b = 0; b < B; b++) for (let t = L[b]; t < T; t++) masked.fill(0, row(t, b), row(t, b) + W);
    expectBitEqual(get(y, x.length), masked, "mask");
    // reverse, with lengths and without; applied twice gives x back
    for (const withLengths of [true, false]) {
      const len = withLengths ? L : L.map(() => T);
      const r = put(new Float32Array(x.length));
      k().f32_reverse_steps(r, put(x), withLengths ? lengths : 0, T, B, W);
      const want = new Float32Array(x.length);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
        const src = t < len[b] ? len[b] - 1 - t : t;
        want.set(x.subarray(row(src, b), row(src, b) + W), row(t, b));
      }
      expectBitEqual(get(r, x.length), want, "reverse");
      const back = put(new Float32Array(x.length));
      k().f32_reverse_steps(back, r, withLengths ? lengths : 0, T, B, W);
      expectBitEqual(get(back, x.length), x, "reverse twice");
    }
    // gather the last real step, scatter its gradient back
    const g = put(new Float32Array(B * W));
    k().f32_gather_last_steps(g, put(x), lengths, T, B, W);
    const dx0 = rand(T * B * W, 77), dyv = rand(B * W, 78);
    const dx = put(dx0);
    k().f32_scatter_last_steps(dx, put(dyv), lengths, T, B, W);
    const wantG = new Float32Array(B * W), wantDx = Float32Array.from(dx0);
    for (let b = 0; b < B; b++) {
      const r0 = row(L[b] - 1, b);
      wantG.set(x.subarray(r0, r0 + W), b * W);
      for (let j = 0; j < W; j++) wantDx[r0 + j] = Math.fround(dx0[r0 + j] + dyv[b * W + j]);
    }
    expectBitEqual(get(g, B * W), wantG, "gather");
    expectBitEqual(get(dx, x.length), wantDx, "scatter");
  });

  it.each([[1, 1, 3, 0], [4, 3, 5, 1], [6, 9, 17, 4], [3, 2, 2, 0]])("column blocks copy and accumulate (rows=%i, cols=%i, ldy=%i, offset=%i)", (rows, cols, ldyExtra, offset) => {
    const ldy = cols + ldyExtra + offset, ldx = cols + 2;
    const x = rand(rows * ldx, 5), y0 = rand(rows * ldy, 6);
    for (const acc of [0, 1]) {
      const y = put(y0);
      k().f32_copy_cols(y + offset * 4, ldy, put(x), ldx, rows, cols, acc);
      const want = Float32Array.from(y0);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
        const i = r * ldy + offset + c;
        want[i] = acc ? Math.fround(y0[i] + x[r * ldx + c]) : x[r * ldx + c];
      }
      expectBitEqual(get(y, rows * ldy), want, acc ? "accumulate" : "copy");
    }
  });
});

type Make = () => RecurrentLayer;
const cells: [string, Make][] = [
  ["LSTM", () => new LSTM({ units: 5 })],
  ["LSTM peephole", () => new LSTM({ units: 6, peephole: true, init: "pytorch" })],
  ["GRU reset after", () => new GRU({ units: 5, init: "pytorch" })],
  ["GRU reset before", () => new GRU({ units: 7, resetAfter: false, init: "pytorch" })],
  ["Elman tanh", () => new Elman({ units: 5, init: "pytorch" })],
  ["Elman relu leaky", () => new Elman({ units: 9, activation: "relu", leak: 0.4 })],
  ["Jordan", () => new Jordan({ units: 3, hiddenUnits: 6, outputActivation: "tanh" })],
];

/** Slices sample b's first `steps` steps out of a [T, B, W] array as [steps, 1, W]. */
function sampleSteps(a: Float32Array, T: number, B: number, W: number, b: number, steps: number): Float32Array {
  const out = new Float32Array(steps * W);
  for (let t = 0; t < steps && t < T; t++) out.set(a.subarray((t * B + b) * W, (t * B + b + 1) * W), t * W);
  return out;
}

describe("masked batches equal each sample run alone with its own length", () => {
  it.each(cells)("%s", (_name, make) => {
    const T = 5, B = 4, I = 3;
    const L = [5, 2, 1, 4];
    const layer = make();
    const model = new Sequential([layer], { inputSize: I, seed: 9 });
    const H = layer.units, S = layer.stateNames.length;
    const ctx = { training: true, rng: new Rng(0) };
    const x = rand(T * B * I, 1);
    const init = layer.stateNames.map((_, i) => rand(B * H, 10 + i, -0.5, 0.5));
    const dy = rand(T * B * H, 20); // random past each end too: it must be ignored
    const dFin = layer.stateNames.map((_, i) => rand(B * H, 30 + i));

    const xt = Tensor.fromArray(x, [T, B, I]);
    const initT = init.map((d) => Tensor.fromArray(d, [B, H]));
    const out = layer.forward(xt, ctx, initT, Int32Array.from(L)).toFloat32Array();
    const fin = layer.finalState.map((s) => s.toFloat32Array());
    model.params.zeroGrads();
    const dyT = Tensor.fromArray(dy, [T, B, H]);
    const dFinT = dFin.map((d) => Tensor.fromArray(d, [B, H]));
    const dx = layer.backward(dyT, dFinT).toFloat32Array();
    const d0 = layer.initialStateGrad.map((s) => s.toFloat32Array());
    const grads = model.params.entries.map((e) => model.params.readGrad(e.name));

    const summed = model.params.entries.map((e) => new Float64Array(e.size));
    for (let b = 0; b < B; b++) {
      for (let t = L[b]; t < T; t++) expect(Array.from(out.subarray((t * B + b) * H, (t * B + b + 1) * H)).every((v) => v === 0), `output of sample ${b} at step ${t}`).toBe(true);
      for (let t = L[b]; t < T; t++) expect(Array.from(dx.subarray((t * B + b) * I, (t * B + b + 1) * I)).every((v) => v === 0), `dx of sample ${b} at step ${t}`).toBe(true);
      // The same sample alone, with its true length.
      const xb = Tensor.fromArray(sampleSteps(x, T, B, I, b, L[b]), [L[b], 1, I]);
      const ib = init.map((d) => Tensor.fromArray(d.subarray(b * H, (b + 1) * H), [1, H]));
      const ob = layer.forward(xb, ctx, ib).toFloat32Array();
      expectClose(sampleSteps(out, T, B, H, b, L[b]), ob, 2e-6, 1e-5, `output of sample ${b}`);
      layer.finalState.forEach((s, i) => expectClose(fin[i].subarray(b * H, (b + 1) * H), s.toFloat32Array(), 2e-6, 1e-5, `final ${layer.stateNames[i]} of sample ${b}`));
      // its final state is the state at its own last step
      if (S === 1 || layer.stateNames[0] === "h") expectClose(fin[0].subarray(b * H, (b + 1) * H), out.subarray(((L[b] - 1) * B + b) * H, ((L[b] - 1) * B + b + 1) * H), 0, 0, "final h = last real output");
      model.params.zeroGrads();
      const dyb = Tensor.fromArray(sampleSteps(dy, T, B, H, b, L[b]), [L[b], 1, H]);
      const dfb = dFin.map((d) => Tensor.fromArray(d.subarray(b * H, (b + 1) * H), [1, H]));
      const dxb = layer.backward(dyb, dfb).toFloat32Array();
      expectClose(sampleSteps(dx, T, B, I, b, L[b]), dxb, 2e-6, 1e-5, `dx of sample ${b}`);
      layer.initialStateGrad.forEach((s, i) => expectClose(d0[i].subarray(b * H, (b + 1) * H), s.toFloat32Array(), 2e-6, 1e-5, `initial-state gradient ${i} of sample ${b}`));
      model.params.entries.forEach((e, i) => model.params.readGrad(e.name).forEach((v, j) => (summed[i][j] += v)));
      for (const t of [xb, dyb, ...ib, ...dfb]) t.dispose();
    }
    // The batch's weight gradients are the sum of the samples' (masked steps add nothing).
    model.params.entries.forEach((e, i) => expectClose(grads[i], summed[i], 1e-5, 1e-4, `grad ${e.name}`));
    for (const t of [xt, dyT, ...initT, ...dFinT]) t.dispose();
    model.dispose();
  });
});

describe("masked batches: finite differences", () => {
  it.each(cells)("%s, lengths [4, 1, 3]", (name, make) => {
    gradCheckRecurrent(make(), { T: 4, B: 3, I: 3, lengths: [4, 1, 3], epsilon: name.includes("relu") ? 1e-3 : undefined });
  });
  it.each(cells)("%s, last output only, lengths [2, 4]", (name, make) => {
    const layer = make();
    const opts = { ...(layer.options as object), returnSequences: false };
    const last = new (layer.constructor as new (o: object) => RecurrentLayer)(opts);
    gradCheckRecurrent(last, { T: 4, B: 2, I: 3, lengths: [2, 4], epsilon: name.includes("relu") ? 1e-3 : undefined });
  });
});

describe("masked batches: details", () => {
  it("the last-output-only result is each sample's state at its own last step", () => {
    const T = 6, B = 3, I = 2;
    const seqs = new Sequential([new GRU({ units: 4 })], { inputSize: I, seed: 4 });
    const lasts = new Sequential([new GRU({ units: 4, returnSequences: false })], { inputSize: I, seed: 4 });
    const x = Tensor.fromArray(rand(T * B * I, 3), [T, B, I]);
    const L = Int32Array.from([2, 6, 5]);
    const ctx = { training: false, rng: new Rng(0) };
    const all = (seqs.layers[0] as GRU).forward(x, ctx, undefined, L).toFloat32Array();
    const last = (lasts.layers[0] as GRU).forward(x, ctx, undefined, L).toFloat32Array();
    for (let b = 0; b < B; b++) expectBitEqual(last.subarray(b * 4, b * 4 + 4), all.subarray(((L[b] - 1) * B + b) * 4, ((L[b] - 1) * B + b) * 4 + 4), `sample ${b}`);
    x.dispose();
    seqs.dispose();
    lasts.dispose();
  });

  it("full lengths run the plain path: bit-identical to no lengths", () => {
    const T = 4, B = 3, I = 3;
    const m = new Sequential([new LSTM({ units: 6 })], { inputSize: I, seed: 1 });
    const layer = m.layers[0] as LSTM;
    const x = Tensor.fromArray(rand(T * B * I, 2), [T, B, I]);
    const ctx = { training: true, rng: new Rng(0) };
    const a = layer.forward(x, ctx).toFloat32Array();
    const dy = Tensor.fromArray(rand(T * B * 6, 3), [T, B, 6]);
    m.params.zeroGrads();
    const da = layer.backward(dy).toFloat32Array();
    const ga = Float32Array.from(m.params.grads.toFloat32Array());
    const b = layer.forward(x, ctx, undefined, Int32Array.from([T, T, T])).toFloat32Array();
    m.params.zeroGrads();
    const db = layer.backward(dy).toFloat32Array();
    expectBitEqual(b, a, "output");
    expectBitEqual(db, da, "dx");
    expectBitEqual(m.params.grads.toFloat32Array(), ga, "weight gradients");
    for (const t of [x, dy]) t.dispose();
    m.dispose();
  });

  it("rejects bad lengths with messages that name them", () => {
    const m = new Sequential([new Elman({ units: 3 })], { inputSize: 2 });
    const layer = m.layers[0] as Elman;
    const x = Tensor.zeros([4, 3, 2]);
    const ctx = { training: false, rng: new Rng(0) };
    expect(() => layer.forward(x, ctx, undefined, Int32Array.from([1, 2]))).toThrow(/lengths must hold one length per sample \(3\), got 2/);
    expect(() => layer.forward(x, ctx, undefined, Int32Array.from([1, 0, 2]))).toThrow(/lengths\[1\] must be a whole number in \[1, 4\] \(the batch has 4 steps\), got 0/);
    expect(() => layer.forward(x, ctx, undefined, Int32Array.from([1, 5, 2]))).toThrow(/lengths\[1\] must be a whole number in \[1, 4\]/);
    expect(() => layer.forward(x, ctx, undefined, [1, 2.5, 2])).toThrow(UnfoldError);
    expect(() => layer.forward(x, ctx, undefined, [1, 2.5, 2])).toThrow(/elman layer "elman0": lengths\[1\]/);
    x.dispose();
    m.dispose();
  });
});
