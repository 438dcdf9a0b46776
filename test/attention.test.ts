// Attention: the kernels (SIMD against their scalar twins bit for bit, both against float64
// references, sizes swept around the SIMD width, masked memory steps), then the Attention
// layer: finite-difference checks through each score (every parameter, the queries and the
// memory, with variable memory lengths), masking, and its errors. Last, what attention is
// for: on long sources (reversing 20–30 letters) a Seq2Seq with attention learns what the
// same model without attention cannot, in the same training budget.
import { afterEach, describe, expect, it } from "vitest";
import { ParamStore, Tensor, UnfoldError, initSync } from "../src/engine/index.js";
import { Attention, type AttentionScore } from "../src/layers/attention.js";
import { Rng } from "../src/data/rng.js";
import { encodePairs, longSourceTask, splitPairs } from "../src/data/seq2seq-tasks.js";
import { CharTokenizer } from "../src/data/tokenizers.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { GRU } from "../src/layers/gru.js";
import { Seq2Seq } from "../src/models/seq2seq.js";
import { Adam } from "../src/train/optimizers.js";
import { cosineDecay } from "../src/train/schedules.js";
import { checkGradients, type GradientCheckInput } from "../src/train/gradcheck.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, putInt, rand } from "./helpers.js";

initSync();
afterEach(freeAll);

// ---------------------------------------------------------------------------------------
// float64 references; layouts: queries [T, B, H], memory/keys [S, B, H], scores [T, B, S].

const at3 = (x: ArrayLike<number>, i: number, j: number, c: number, J: number, C: number) => x[(i * J + j) * C + c];

function scoresDotRef(q: Float32Array, key: Float32Array, T: number, S: number, B: number, H: number): Float64Array {
  const out = new Float64Array(T * B * S);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) {
    let acc = 0;
    for (let h = 0; h < H; h++) acc += at3(q, t, b, h, B, H) * at3(key, s, b, h, B, H);
    out[(t * B + b) * S + s] = acc;
  }
  return out;
}

function additiveRef(qp: Float32Array, kp: Float32Array, v: Float32Array, lengths: number[] | null, T: number, S: number, B: number, A: number): Float64Array {
  const out = new Float64Array(T * B * S);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let s = 0; s < (lengths ? lengths[b] : S); s++) {
    let acc = 0;
    for (let a = 0; a < A; a++) acc += v[a] * Math.tanh(at3(qp, t, b, a, B, A) + at3(kp, s, b, a, B, A));
    out[(t * B + b) * S + s] = acc;
  }
  return out;
}

function softmaxRef(x: ArrayLike<number>, lengths: number[] | null, T: number, S: number, B: number): Float64Array {
  const out = new Float64Array(T * B * S);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) {
    const L = lengths ? lengths[b] : S, o = (t * B + b) * S;
    let m = -Infinity;
    for (let s = 0; s < L; s++) m = Math.max(m, x[o + s]);
    let z = 0;
    for (let s = 0; s < L; s++) z += Math.exp(x[o + s] - m);
    for (let s = 0; s < L; s++) out[o + s] = Math.exp(x[o + s] - m) / z;
  }
  return out;
}

function contextRef(w: ArrayLike<number>, m: Float32Array, T: number, S: number, B: number, M: number): Float64Array {
  const out = new Float64Array(T * B * M);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let c = 0; c < M; c++) {
    let acc = 0;
    for (let s = 0; s < S; s++) acc += w[(t * B + b) * S + s] * at3(m, s, b, c, B, M);
    out[(t * B + b) * M + c] = acc;
  }
  return out;
}

const zeros = (n: number) => put(new Float32Array(n));
const f32 = (x: Float64Array) => Float32Array.from(x);

// Sizes around the SIMD width (4) and gemm's tile (2 x 16); B = 1 included.
const CASES = [
  { T: 1, S: 1, B: 1, H: 1 },
  { T: 1, S: 3, B: 1, H: 4 },
  { T: 2, S: 5, B: 3, H: 3 },
  { T: 3, S: 4, B: 2, H: 5 },
  { T: 4, S: 7, B: 2, H: 8 },
  { T: 5, S: 2, B: 4, H: 17 },
  { T: 3, S: 6, B: 1, H: 33 },
];

function lengthsFor(S: number, B: number): number[] {
  return Array.from({ length: B }, (_, b) => (b === 0 ? S : 1 + ((b * 7) % S)));
}

describe("attention kernels", () => {
  for (const { T, S, B, H } of CASES) {
    const tag = `T ${T}, S ${S}, B ${B}, H ${H}`;

    it(`dot scores and their backward: ${tag}`, () => {
      const q = rand(T * B * H, 1), key = rand(S * B * H, 2), ds = rand(T * B * S, 3);
      const qp = put(q), kp = put(key), dsp = put(ds);
      const simd = zeros(T * B * S), scalar = zeros(T * B * S);
      k().f32_attention_scores_dot(simd, qp, kp, T, S, B, H);
      k().f32_attention_scores_dot_scalar(scalar, qp, kp, T, S, B, H);
      expectBitEqual(get(simd, T * B * S), get(scalar, T * B * S), "scores");
      expectClose(get(simd, T * B * S), f32(scoresDotRef(q, key, T, S, B, H)), 1e-5, 1e-5, "scores vs f64");

      // dq = ds · k, dk = dsᵀ · q, added to what is there.
      const dq0 = rand(T * B * H, 4), dk0 = rand(S * B * H, 5);
      const dq = put(dq0), dk = put(dk0), dq2 = put(dq0), dk2 = put(dk0);
      k().f32_attention_scores_dot_backward(dq, dk, dsp, qp, kp, T, S, B, H);
      k().f32_attention_scores_dot_backward_scalar(dq2, dk2, dsp, qp, kp, T, S, B, H);
      expectBitEqual(get(dq, T * B * H), get(dq2, T * B * H), "dquery");
      expectBitEqual(get(dk, S * B * H), get(dk2, S * B * H), "dkeys");
      const dqRef = new Float64Array(T * B * H), dkRef = new Float64Array(S * B * H);
      for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) for (let h = 0; h < H; h++) {
        const g = ds[(t * B + b) * S + s];
        dqRef[(t * B + b) * H + h] += g * at3(key, s, b, h, B, H);
        dkRef[(s * B + b) * H + h] += g * at3(q, t, b, h, B, H);
      }
      expectClose(get(dq, T * B * H), f32(dqRef.map((v, i) => v + dq0[i])), 1e-5, 1e-5, "dquery vs f64");
      expectClose(get(dk, S * B * H), f32(dkRef.map((v, i) => v + dk0[i])), 1e-5, 1e-5, "dkeys vs f64");
    });

    it(`additive scores and their backward, masked: ${tag}`, () => {
      const A = H;
      const lengths = lengthsFor(S, B);
      const qp = rand(T * B * A, 11), kp = rand(S * B * A, 12, -2, 2), v = rand(A, 13), ds = rand(T * B * S, 14);
      const [qpp, kpp, vp, dsp, lp] = [put(qp), put(kp), put(v), put(ds), putInt(lengths)];
      const simd = put(new Float32Array(T * B * S).fill(7)), scalar = put(new Float32Array(T * B * S).fill(7));
      k().f32_attention_scores_additive(simd, qpp, kpp, vp, lp, T, S, B, A);
      k().f32_attention_scores_additive_scalar(scalar, qpp, kpp, vp, lp, T, S, B, A);
      expectBitEqual(get(simd, T * B * S), get(scalar, T * B * S), "scores");
      // tanh's error bound is 4.2e-7 absolute per term.
      expectClose(get(simd, T * B * S), f32(additiveRef(qp, kp, v, lengths, T, S, B, A)), 1e-6 * (A + 1), 1e-5, "scores vs f64");

      const dq0 = rand(T * B * A, 15), dk0 = rand(S * B * A, 16), dv0 = rand(A, 17);
      const out = [dq0, dk0, dv0].map((x) => [put(x), put(x)]);
      k().f32_attention_scores_additive_backward(out[0][0], out[1][0], out[2][0], dsp, qpp, kpp, vp, lp, T, S, B, A);
      k().f32_attention_scores_additive_backward_scalar(out[0][1], out[1][1], out[2][1], dsp, qpp, kpp, vp, lp, T, S, B, A);
      const n = [T * B * A, S * B * A, A];
      out.forEach(([a, b], i) => expectBitEqual(get(a, n[i]), get(b, n[i]), ["dqproj", "dkproj", "dv"][i]));
      const dq = Float64Array.from(dq0), dk = Float64Array.from(dk0), dv = Float64Array.from(dv0);
      for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let s = 0; s < lengths[b]; s++) for (let a = 0; a < A; a++) {
        const g = ds[(t * B + b) * S + s];
        const e = Math.tanh(at3(qp, t, b, a, B, A) + at3(kp, s, b, a, B, A));
        dv[a] += g * e;
        const w = g * v[a] * (1 - e * e);
        dq[(t * B + b) * A + a] += w;
        dk[(s * B + b) * A + a] += w;
      }
      const tol = 2e-6 * T * S;
      expectClose(get(out[0][0], n[0]), f32(dq), tol, 1e-5, "dqproj vs f64");
      expectClose(get(out[1][0], n[1]), f32(dk), tol, 1e-5, "dkproj vs f64");
      expectClose(get(out[2][0], n[2]), f32(dv), tol * B, 1e-5, "dv vs f64");
    });

    it(`masked softmax and its backward: ${tag}`, () => {
      for (const lengths of [null, lengthsFor(S, B)]) {
        const x = rand(T * B * S, 21, -4, 4), dw = rand(T * B * S, 22);
        const xp = put(x), dwp = put(dw), lp = lengths ? putInt(lengths) : 0;
        const simd = put(new Float32Array(T * B * S).fill(9)), scalar = put(new Float32Array(T * B * S).fill(9));
        k().f32_attention_softmax(simd, xp, lp, T, S, B);
        k().f32_attention_softmax_scalar(scalar, xp, lp, T, S, B);
        const w = get(simd, T * B * S);
        expectBitEqual(w, get(scalar, T * B * S), "weights");
        expectClose(w, f32(softmaxRef(x, lengths, T, S, B)), 1e-6, 1e-6, "weights vs f64");
        if (lengths) for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let s = lengths[b]; s < S; s++) expect(w[(t * B + b) * S + s]).toBe(0);

        const ds1 = zeros(T * B * S), ds2 = zeros(T * B * S);
        k().f32_attention_softmax_backward(ds1, dwp, simd, T * B, S);
        k().f32_attention_softmax_backward_scalar(ds2, dwp, simd, T * B, S);
        expectBitEqual(get(ds1, T * B * S), get(ds2, T * B * S), "dscores");
        const ref = new Float64Array(T * B * S);
        for (let r = 0; r < T * B; r++) {
          let dot = 0;
          for (let s = 0; s < S; s++) dot += w[r * S + s] * dw[r * S + s];
          for (let s = 0; s < S; s++) ref[r * S + s] = w[r * S + s] * (dw[r * S + s] - dot);
        }
        expectClose(get(ds1, T * B * S), f32(ref), 1e-6, 1e-5, "dscores vs f64");
      }
    });

    it(`weighted sum and its backward: ${tag}`, () => {
      const M = H;
      const w = rand(T * B * S, 31, 0, 1), m = rand(S * B * M, 32), dc = rand(T * B * M, 33), dm0 = rand(S * B * M, 34);
      const [wp, mp, dcp] = [put(w), put(m), put(dc)];
      const c1 = zeros(T * B * M), c2 = zeros(T * B * M);
      k().f32_attention_context(c1, wp, mp, T, S, B, M);
      k().f32_attention_context_scalar(c2, wp, mp, T, S, B, M);
      expectBitEqual(get(c1, T * B * M), get(c2, T * B * M), "context");
      expectClose(get(c1, T * B * M), f32(contextRef(w, m, T, S, B, M)), 1e-5, 1e-5, "context vs f64");

      const dw1 = zeros(T * B * S), dw2 = zeros(T * B * S), dm1 = put(dm0), dm2 = put(dm0);
      k().f32_attention_context_backward(dw1, dm1, dcp, wp, mp, T, S, B, M);
      k().f32_attention_context_backward_scalar(dw2, dm2, dcp, wp, mp, T, S, B, M);
      expectBitEqual(get(dw1, T * B * S), get(dw2, T * B * S), "dweights");
      expectBitEqual(get(dm1, S * B * M), get(dm2, S * B * M), "dmemory");
      const dwRef = new Float64Array(T * B * S), dmRef = Float64Array.from(dm0);
      for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) for (let c = 0; c < M; c++) {
        dwRef[(t * B + b) * S + s] += dc[(t * B + b) * M + c] * at3(m, s, b, c, B, M);
        dmRef[(s * B + b) * M + c] += w[(t * B + b) * S + s] * dc[(t * B + b) * M + c];
      }
      expectClose(get(dw1, T * B * S), f32(dwRef), 1e-5, 1e-5, "dweights vs f64");
      expectClose(get(dm1, S * B * M), f32(dmRef), 1e-5, 1e-5, "dmemory vs f64");
    });
  }
});

// ---------------------------------------------------------------------------------------
// The layer

function makeAttention(score: AttentionScore, Q: number, M: number, units?: number, seed = 3): { layer: Attention; store: ParamStore } {
  const layer = new Attention({ score, memorySize: M, ...(units ? { units } : {}) });
  layer.build(Q, "attention");
  const store = new ParamStore(layer.paramSpecs);
  const rng = new Rng(seed);
  for (const spec of layer.paramSpecs) store.write(spec.name, spec.init(spec.shape, rng));
  layer.bind(store);
  return { layer, store };
}

function gradCheckAttention(score: AttentionScore, sizes: { T: number; S: number; B: number; Q: number; M: number; units?: number }, lengths: number[] | null): void {
  const { T, S, B, Q, M } = sizes;
  const { layer, store } = makeAttention(score, Q, M, sizes.units);
  const query = Tensor.fromArray(rand(T * B * Q, 41), [T, B, Q]);
  const memory = Tensor.fromArray(rand(S * B * M, 42), [S, B, M]);
  const wOut = Tensor.fromArray(rand(T * B * M, 43), [T, B, M]);
  const w = wOut.toFloat32Array();
  const loss = () => {
    layer.setMemory(memory, lengths);
    const c = layer.forward(query).toFloat32Array();
    let s = 0;
    for (let i = 0; i < c.length; i++) s += c[i] * w[i];
    return s;
  };
  let dq: Float32Array | null = null;
  const lossAndGrad = () => {
    const l = loss();
    store.zeroGrads();
    dq = layer.backward(wOut).toFloat32Array();
    return l;
  };
  const inputs: GradientCheckInput[] = store.entries.map((e) => ({ name: e.name, values: Tensor.view(store.values, e.offset, e.shape), grad: () => store.readGrad(e.name) }));
  inputs.push({ name: "query", values: query, grad: () => dq! });
  inputs.push({ name: "memory", values: memory, grad: () => layer.memoryGrad.toFloat32Array() });
  const report = checkGradients({ loss, lossAndGrad, inputs, seed: 9 });
  const bad = report.results.filter((r) => !r.ok).map((r) => `${r.name}: analytic ${r.analytic}, numeric ${r.numeric}`);
  expect(bad, "finite-difference mismatches").toEqual([]);
  for (const e of store.entries) expect(store.readGrad(e.name).some((v) => v !== 0), `gradient of ${e.name}`).toBe(true);
  for (const t of [query, memory, wOut]) t.dispose();
  layer.dispose();
  store.dispose();
}

describe("Attention layer", () => {
  it("dot: finite differences through queries and memory, all steps real", () => gradCheckAttention("dot", { T: 3, S: 4, B: 2, Q: 5, M: 5 }, null));
  it("dot: with memory lengths", () => gradCheckAttention("dot", { T: 3, S: 5, B: 3, Q: 4, M: 4 }, [5, 2, 1]));
  it("general: finite differences, memory lengths, Q ≠ M", () => gradCheckAttention("general", { T: 4, S: 5, B: 3, Q: 3, M: 6 }, [2, 5, 4]));
  it("additive: finite differences, memory lengths", () => gradCheckAttention("additive", { T: 3, S: 4, B: 3, Q: 5, M: 3, units: 6 }, [4, 1, 3]));
  it("additive: default units (the query width), one query step", () => gradCheckAttention("additive", { T: 1, S: 3, B: 2, Q: 4, M: 7 }, null));

  it("gives zero weight to memory steps past each sample's length, and ignores what they hold", () => {
    for (const score of ["dot", "general", "additive"] as const) {
      const { layer, store } = makeAttention(score, 4, 4);
      const lengths = [3, 1];
      const q = Tensor.fromArray(rand(2 * 2 * 4, 1), [2, 2, 4]);
      const m1 = rand(5 * 2 * 4, 2);
      const m2 = Float32Array.from(m1);
      for (let s = 0; s < 5; s++) for (let b = 0; b < 2; b++) if (s >= lengths[b]) for (let c = 0; c < 4; c++) m2[(s * 2 + b) * 4 + c] = 100 + s;
      const outs = [m1, m2].map((data) => {
        const mem = Tensor.fromArray(data, [5, 2, 4]);
        layer.setMemory(mem, lengths);
        const c = layer.forward(q).toFloat32Array();
        const w = layer.weights.toFloat32Array();
        mem.dispose();
        return { c, w };
      });
      expectBitEqual(outs[0].c, outs[1].c, `${score}: context`);
      const w = outs[0].w;
      for (let t = 0; t < 2; t++) for (let b = 0; b < 2; b++) {
        let sum = 0;
        for (let s = 0; s < 5; s++) {
          const v = w[(t * 2 + b) * 5 + s];
          if (s >= lengths[b]) expect(v).toBe(0);
          sum += v;
        }
        expect(sum).toBeCloseTo(1, 6);
      }
      q.dispose();
      layer.dispose();
      store.dispose();
    }
  });

  it("one step at a time gives the same bits as all steps at once", () => {
    const { layer, store } = makeAttention("general", 3, 5);
    const T = 4, B = 2;
    const memory = Tensor.fromArray(rand(6 * B * 5, 7), [6, B, 5]);
    const qData = rand(T * B * 3, 8);
    layer.setMemory(memory, [6, 4]);
    const all = Tensor.fromArray(qData, [T, B, 3]);
    const together = layer.forward(all).toFloat32Array();
    for (let t = 0; t < T; t++) {
      const one = Tensor.fromArray(qData.slice(t * B * 3, (t + 1) * B * 3), [1, B, 3]);
      expectBitEqual(layer.forward(one).toFloat32Array(), together.slice(t * B * 5, (t + 1) * B * 5), `step ${t}`);
      one.dispose();
    }
    for (const t of [memory, all]) t.dispose();
    layer.dispose();
    store.dispose();
  });

  it("names what is wrong", () => {
    expect(() => new Attention({ score: "dot", memorySize: 4 }).build(5, "attention")).toThrow(/"dot" score needs queries as wide as the memory.*5.*4/);
    expect(() => new Attention({ score: "luong" as AttentionScore, memorySize: 4 })).toThrow(UnfoldError);
    expect(() => new Attention({ score: "general", memorySize: 4, units: 3 })).toThrow(/units sets the hidden width of the additive score/);
    const { layer, store } = makeAttention("general", 3, 4);
    const q = Tensor.fromArray(rand(6, 1), [1, 2, 3]);
    expect(() => layer.forward(q)).toThrow(/call setMemory/);
    const bad = Tensor.fromArray(rand(15, 1), [5, 1, 3]);
    expect(() => layer.setMemory(bad)).toThrow(/expected memory \[S, B, 4\], got float32 \[5, 1, 3\]/);
    const mem = Tensor.fromArray(rand(5 * 2 * 4, 1), [5, 2, 4]);
    expect(() => layer.setMemory(mem, [6, 2])).toThrow(/lengths\[0\] must be a whole number in \[1, 5\]/);
    layer.setMemory(mem, [5, 2]);
    const q3 = Tensor.fromArray(rand(9, 1), [1, 3, 3]);
    expect(() => layer.forward(q3)).toThrow(/expected queries \[T, 2, 3\]/);
    for (const t of [q, bad, mem, q3]) t.dispose();
    layer.dispose();
    store.dispose();
  });
});

describe("attention on long sources", () => {
  it("reversing 20–30 letters: with attention far better than without, same model and budget", async () => {
    const [train, test] = splitPairs(longSourceTask(16500, { seed: 1 }), 16000);
    const tok = CharTokenizer.fromText("abcdefghijklmnopqrstuvwxyz");
    const run = async (attention: boolean) => {
      const m = new Seq2Seq({
        sourceVocab: tok.size, targetVocab: tok.size, embedding: 32, bos: tok.bos, eos: tok.eos, seed: 3,
        encoder: new Bidirectional(new GRU({ units: 32 })), decoder: new GRU({ units: 64 }),
        ...(attention ? { attention: { score: "general" as const } } : {}),
      });
      const optimizer = new Adam({ lr: cosineDecay({ lr: 5e-3, totalSteps: 500, minLr: 2.5e-4 }), clipNorm: 1 });
      await m.fit(encodePairs(train, tok), { optimizer, epochs: 2, batchSize: 64 });
      const result = m.evaluate(encodePairs(test, tok), { exactMatch: true });
      m.dispose();
      optimizer.dispose();
      return result;
    };
    const withAttention = await run(true);
    const without = await run(false);
    const report = `long sources, held-out exact match / token accuracy: with attention ${withAttention.exactMatch} / ${withAttention.tokenAccuracy.toFixed(4)}, without ${without.exactMatch} / ${without.tokenAccuracy.toFixed(4)}`;
    console.log(report);
    expect(withAttention.tokenAccuracy, report).toBeGreaterThan(0.97);
    expect(withAttention.exactMatch, report).toBeGreaterThan(0.5);
    expect(without.tokenAccuracy, report).toBeLessThan(0.6);
    expect(without.exactMatch, report).toBeLessThan(0.05);
  });
});
