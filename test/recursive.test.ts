import { afterEach, describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { PLUS, TIMES, arithmeticTrees, evaluateMod10, expressionText, treeDepth, type BinaryTree } from "../src/data/expressions.js";
import { RecursiveNet, type TreeCell } from "../src/models/recursive.js";
import { checkGradients } from "../src/train/gradcheck.js";
import { Adam } from "../src/train/optimizers.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, putInt, rand } from "./helpers.js";

const HIDDENS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17];

describe("tree kernels", () => {
  afterEach(freeAll);

  it("gather_pairs and scatter_add_pairs: SIMD = scalar, and match the definition", () => {
    for (const W of HIDDENS) {
      const rows = 6, n = 5;
      const src = rand(rows * W, W);
      const left = [0, 3, 5, 0, 2], right = [1, 3, 4, 5, 0]; // repeats: scatter order matters
      const o1 = put(new Float32Array(n * 2 * W)), o2 = put(new Float32Array(n * 2 * W));
      const sp = put(src), lp = putInt(left), rp = putInt(right);
      k().f32_gather_pairs(o1, sp, lp, rp, n, W);
      k().f32_gather_pairs_scalar(o2, sp, lp, rp, n, W);
      const ref = new Float32Array(n * 2 * W);
      for (let i = 0; i < n; i++) {
        ref.set(src.subarray(left[i] * W, (left[i] + 1) * W), i * 2 * W);
        ref.set(src.subarray(right[i] * W, (right[i] + 1) * W), i * 2 * W + W);
      }
      expectBitEqual(get(o1, n * 2 * W), ref, `gather W=${W}`);
      expectBitEqual(get(o2, n * 2 * W), ref, `gather scalar W=${W}`);
      const d = rand(n * 2 * W, W + 1);
      const base = rand(rows * W, W + 2);
      const s1 = put(base), s2 = put(base), dp = put(d);
      k().f32_scatter_add_pairs(s1, dp, lp, rp, n, W);
      k().f32_scatter_add_pairs_scalar(s2, dp, lp, rp, n, W);
      const sref = Float32Array.from(base);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < W; j++) sref[left[i] * W + j] += d[i * 2 * W + j];
        for (let j = 0; j < W; j++) sref[right[i] * W + j] += d[i * 2 * W + W + j];
      }
      expectBitEqual(get(s1, rows * W), sref, `scatter W=${W}`);
      expectBitEqual(get(s2, rows * W), sref, `scatter scalar W=${W}`);
      freeAll();
    }
  });

  it("Tree-LSTM forward and backward: SIMD = scalar to the bit, and match float64", () => {
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    for (const H of HIDDENS) {
      for (const n of [1, 3]) {
        const pre = rand(n * 5 * H, H * 10 + n, -3, 3), cp = rand(n * 2 * H, H + n);
        const what = `H=${H} n=${n}`;
        const bufs = () => ({ h: put(new Float32Array(n * H)), c: put(new Float32Array(n * H)), tc: put(new Float32Array(n * H)), g: put(pre), cp: put(cp) });
        const a = bufs(), b = bufs();
        k().f32_treelstm_forward(a.h, a.c, a.tc, a.g, a.cp, n, H);
        k().f32_treelstm_forward_scalar(b.h, b.c, b.tc, b.g, b.cp, n, H);
        for (const key of ["h", "c", "tc"] as const) expectBitEqual(get(a[key], n * H), get(b[key], n * H), `${key} ${what}`);
        expectBitEqual(get(a.g, n * 5 * H), get(b.g, n * 5 * H), `gates ${what}`);
        // Float64 reference of the forward and the backward.
        const dh = rand(n * H, H + 77), dc = rand(n * H, H + 78);
        const hRef = new Float64Array(n * H), cRef = new Float64Array(n * H);
        const dgRef = new Float64Array(n * 5 * H), dcpRef = new Float64Array(n * 2 * H);
        for (let r = 0; r < n; r++) {
          for (let j = 0; j < H; j++) {
            const at = (q: number) => pre[r * 5 * H + q * H + j];
            const i = sig(at(0)), fl = sig(at(1)), fr = sig(at(2)), o = sig(at(3)), u = Math.tanh(at(4));
            const cl = cp[r * 2 * H + j], cr = cp[r * 2 * H + H + j];
            const c = i * u + fl * cl + fr * cr, tc = Math.tanh(c);
            hRef[r * H + j] = o * tc;
            cRef[r * H + j] = c;
            const dcv = dc[r * H + j] + dh[r * H + j] * o * (1 - tc * tc);
            const g = (q: number, v: number) => (dgRef[r * 5 * H + q * H + j] = v);
            g(0, dcv * u * i * (1 - i));
            g(1, dcv * cl * fl * (1 - fl));
            g(2, dcv * cr * fr * (1 - fr));
            g(3, dh[r * H + j] * tc * o * (1 - o));
            g(4, dcv * i * (1 - u * u));
            dcpRef[r * 2 * H + j] = dcv * fl;
            dcpRef[r * 2 * H + H + j] = dcv * fr;
          }
        }
        expectClose(get(a.h, n * H), hRef, 2e-6, 0, `h vs float64 ${what}`);
        expectClose(get(a.c, n * H), cRef, 2e-6, 1e-6, `c vs float64 ${what}`);
        const back = (fn: "f32_treelstm_backward" | "f32_treelstm_backward_scalar", s: typeof a) => {
          const dg = put(new Float32Array(n * 5 * H)), dcp = put(new Float32Array(n * 2 * H));
          k()[fn](dg, dcp, put(dh), put(dc), s.g, s.cp, s.tc, n, H);
          return { dg: get(dg, n * 5 * H), dcp: get(dcp, n * 2 * H) };
        };
        const ba = back("f32_treelstm_backward", a), bb = back("f32_treelstm_backward_scalar", b);
        expectBitEqual(ba.dg, bb.dg, `dgates ${what}`);
        expectBitEqual(ba.dcp, bb.dcp, `dcPairs ${what}`);
        expectClose(ba.dg, dgRef, 3e-6, 1e-5, `dgates vs float64 ${what}`);
        expectClose(ba.dcp, dcpRef, 3e-6, 1e-5, `dcPairs vs float64 ${what}`);
        freeAll();
      }
    }
  });
});

describe("arithmetic expression trees", () => {
  it("are reproducible, of the asked depths, and valued mod 10", () => {
    const a = arithmeticTrees(300, { maxDepth: 4, seed: 9 });
    const b = arithmeticTrees(300, { maxDepth: 4, seed: 9 });
    expect(a.trees.map(expressionText)).toEqual(b.trees.map(expressionText));
    a.trees.forEach((t, i) => {
      expect(treeDepth(t)).toBe(a.depths[i]);
      expect(a.depths[i]).toBeGreaterThanOrEqual(1);
      expect(a.depths[i]).toBeLessThanOrEqual(4);
      expect(a.values[i]).toBe(evaluateMod10(t));
    });
    for (let d = 1; d <= 4; d++) expect(a.depths.filter((x) => x === d).length).toBeGreaterThan(40);
    const t: BinaryTree = { op: TIMES, left: { op: PLUS, left: { leaf: 7 }, right: { leaf: 8 } }, right: { leaf: 3 } };
    expect(expressionText(t)).toBe("((7+8)*3)");
    expect(evaluateMod10(t)).toBe(5); // 45 mod 10
  });
});

/** A float64 reference of the recursive net's logits, straight from the tree and the weights. */
function referenceLogits(net: RecursiveNet, tree: BinaryTree): number[] {
  const w: Record<string, Float32Array> = {};
  for (const e of net.params.entries) w[e.name] = net.params.read(e.name);
  const { units: H, classes: C, cell } = net.options;
  const G = cell === "tanh" ? 1 : 5;
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const node = (t: BinaryTree): { h: number[]; c: number[] } => {
    if ("leaf" in t) return { h: Array.from(w["leaf.weight"].subarray(t.leaf * H, (t.leaf + 1) * H)), c: new Array(H).fill(0) };
    const l = node(t.left), r = node(t.right);
    const x = [...l.h, ...r.h];
    const a = new Array(G * H).fill(0).map((_, row) => {
      let s = w["compose.bias"][t.op * G * H + row];
      for (let q = 0; q < 2 * H; q++) s += w["compose.weight"][(t.op * G * H + row) * 2 * H + q] * x[q];
      return s;
    });
    if (G === 1) return { h: a.map(Math.tanh), c: [] };
    const h: number[] = [], c: number[] = [];
    for (let j = 0; j < H; j++) {
      const cj = sig(a[j]) * Math.tanh(a[4 * H + j]) + sig(a[H + j]) * l.c[j] + sig(a[2 * H + j]) * r.c[j];
      c.push(cj);
      h.push(sig(a[3 * H + j]) * Math.tanh(cj));
    }
    return { h, c };
  };
  const root = node(tree).h;
  return Array.from({ length: C }, (_, o) => {
    let s = w["output.bias"][o];
    for (let j = 0; j < H; j++) s += w["output.weight"][o * H + j] * root[j];
    return s;
  });
}

const sample: BinaryTree[] = [
  { op: PLUS, left: { leaf: 3 }, right: { leaf: 4 } },
  { leaf: 9 }, // a tree that is one leaf: its root is a leaf
  { op: TIMES, left: { op: PLUS, left: { leaf: 1 }, right: { leaf: 2 } }, right: { op: TIMES, left: { leaf: 3 }, right: { op: PLUS, left: { leaf: 3 }, right: { leaf: 0 } } } },
  { op: PLUS, left: { op: PLUS, left: { leaf: 5 }, right: { leaf: 5 } }, right: { leaf: 5 } },
];

describe("RecursiveNet", () => {
  for (const cell of ["tanh", "treeLSTM"] as TreeCell[]) {
    it(`${cell}: the batched forward matches a float64 recursion, and each tree alone gives the same bits`, () => {
      const net = new RecursiveNet({ vocab: 10, operators: 2, units: 6, classes: 10, cell, seed: 1 });
      const logits = net.forward(sample).toFloat32Array();
      sample.forEach((t, i) => {
        expectClose(logits.subarray(i * 10, (i + 1) * 10), referenceLogits(net, t), 1e-5, 1e-5, `tree ${i}`);
        // One GEMM row does not depend on the other rows: batching by level changes no bit.
        expectBitEqual(net.forward([t]).toFloat32Array(), logits.slice(i * 10, (i + 1) * 10), `tree ${i} alone`);
      });
      net.dispose();
    });

    it(`${cell}: finite differences of every parameter (backpropagation through structure)`, () => {
      const net = new RecursiveNet({ vocab: 10, operators: 2, units: 5, classes: 10, cell, seed: 2 });
      const labels = [7, 9, 9, 5];
      const inputs = net.params.entries.map((e) => ({
        name: e.name,
        values: Tensor.view(net.params.values, e.offset, e.shape),
        grad: () => net.params.readGrad(e.name),
      }));
      const report = checkGradients({ loss: () => net.computeLoss(sample, labels), lossAndGrad: () => net.lossAndGradients(sample, labels), inputs, seed: 3, directions: 3 });
      expect(report.results.filter((r) => !r.ok).map((r) => `${r.name}: analytic ${r.analytic}, numeric ${r.numeric}`)).toEqual([]);
      for (const e of net.params.entries) expect(net.params.readGrad(e.name).some((v) => v !== 0), `gradient of ${e.name}`).toBe(true);
      net.dispose();
    });
  }

  it("learns arithmetic mod 10 over trees of depth <= 4: >= 95% held-out accuracy (tanh and Tree-LSTM)", async () => {
    const train = arithmeticTrees(50_000, { maxDepth: 4, seed: 1 });
    const test = arithmeticTrees(1_000, { maxDepth: 4, seed: 2 });
    for (const [cell, epochs] of [["tanh", 3], ["treeLSTM", 1]] as const) {
      const net = new RecursiveNet({ vocab: 10, operators: 2, units: 64, classes: 10, cell, seed: 3 });
      const optimizer = new Adam({ lr: 3e-3, clipNorm: 5 });
      await net.fit({ trees: train.trees, labels: train.values }, { optimizer, epochs, batchSize: 32 });
      const { accuracy } = net.evaluate(test.trees, test.values);
      expect(accuracy, `${cell} held-out accuracy`).toBeGreaterThanOrEqual(0.95);
      optimizer.dispose();
      net.dispose();
    }
  }, 60_000);

  it("is deterministic: same seed, same data, the same weights after training", async () => {
    const data = arithmeticTrees(200, { maxDepth: 3, seed: 4 });
    const weights = async () => {
      const net = new RecursiveNet({ vocab: 10, operators: 2, units: 8, classes: 10, cell: "treeLSTM", seed: 5 });
      const optimizer = new Adam({ lr: 1e-2 });
      await net.fit({ trees: data.trees, labels: data.values }, { optimizer, epochs: 2, batchSize: 16 });
      const w = net.params.values.toFloat32Array();
      net.dispose();
      optimizer.dispose();
      return w;
    };
    expectBitEqual(await weights(), await weights(), "weights");
  });

  it("names what is wrong with trees, labels and options", () => {
    const net = new RecursiveNet({ vocab: 10, operators: 2, units: 4, classes: 10 });
    expect(() => net.forward([{ leaf: 10 }])).toThrow(/leaf token 10 at tree 0 is outside \[0, 9\]/);
    expect(() => net.forward([{ op: 2, left: { leaf: 1 }, right: { leaf: 1 } }])).toThrow(/operator 2 at tree 0 is outside \[0, 1\]/);
    expect(() => net.forward([{ op: 0, left: { leaf: 1 }, right: null as unknown as BinaryTree }])).toThrow(/tree 0.right is not a tree node/);
    expect(() => net.forward([])).toThrow(/non-empty array of trees/);
    expect(() => net.lossAndGradients(sample, [1, 2])).toThrow(/expected 4 labels/);
    expect(() => net.lossAndGradients(sample, [1, 2, 3, 10])).toThrow(/label 3 is 10, outside the 10 classes/);
    expect(() => new RecursiveNet({ vocab: 10, operators: 2, units: 4, classes: 10, cell: "gru" as TreeCell })).toThrow(/cell must be "tanh" or "treeLSTM"/);
    net.dispose();
    expect(() => net.forward(sample)).toThrow(/disposed/);
  });
});
