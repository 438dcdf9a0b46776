// Loss kernels: SIMD against the scalar twin (same bits, same float64 loss), against a
// float64 TypeScript reference, a central finite difference of the returned loss along a
// random direction, skipped rows (ignoreIndex, mask 0) contributing nothing, and extreme
// logits giving finite values.
import { afterEach, describe, expect, it } from "vitest";
import { expectBitEqual, expectClose, freeAll, get, k, put, putInt, rand } from "./helpers.js";

afterEach(freeAll);

const fr = Math.fround;
const COLS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 65, 129, 1000];
const ROWS = [1, 3, 6];
const IGNORE = -100;

function zeros(n: number): number {
  return put(new Float32Array(n));
}

// ---------------------------------------------------------------------------------------
// float64 references

function logSumExp(x: ArrayLike<number>, off: number, cols: number): number {
  let m = -Infinity;
  for (let c = 0; c < cols; c++) m = Math.max(m, x[off + c]);
  let s = 0;
  for (let c = 0; c < cols; c++) s += Math.exp(x[off + c] - m);
  return m + Math.log(s);
}

function xentRef(x: ArrayLike<number>, targets: number[], rows: number, cols: number, ignore: number, scale: number) {
  let loss = 0;
  const grad = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t === ignore) continue;
    const off = r * cols;
    const lse = logSumExp(x, off, cols);
    loss += lse - x[off + t];
    for (let c = 0; c < cols; c++) grad[off + c] = scale * (Math.exp(x[off + c] - lse) - (c === t ? 1 : 0));
  }
  return { loss, grad };
}

function mseRef(p: ArrayLike<number>, t: ArrayLike<number>, mask: ArrayLike<number> | null, rows: number, cols: number, scale: number) {
  let loss = 0;
  const grad = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const w = mask ? mask[r] : 1;
    if (w === 0) continue;
    let s = 0;
    for (let c = 0; c < cols; c++) {
      const d = p[r * cols + c] - t[r * cols + c];
      s += d * d;
      grad[r * cols + c] = (scale * 2 * w * d) / cols;
    }
    loss += (w * s) / cols;
  }
  return { loss, grad };
}

function bceRef(x: ArrayLike<number>, t: ArrayLike<number>, mask: ArrayLike<number> | null, rows: number, cols: number, scale: number) {
  let loss = 0;
  const grad = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const w = mask ? mask[r] : 1;
    if (w === 0) continue;
    let s = 0;
    for (let c = 0; c < cols; c++) {
      const v = x[r * cols + c];
      const tv = t[r * cols + c];
      s += Math.max(v, 0) - v * tv + Math.log1p(Math.exp(-Math.abs(v)));
      // sigmoid(v) − t without cancellation when sigmoid(v) is near 1 and t = 1.
      const q = Math.exp(-Math.abs(v)) / (1 + Math.exp(-Math.abs(v)));
      grad[r * cols + c] = (scale * w * (v >= 0 ? 1 - tv - q : q - tv)) / cols;
    }
    loss += (w * s) / cols;
  }
  return { loss, grad };
}

/** Random targets in [0, cols), about one in four replaced by `ignore`. */
function targetsFor(rows: number, cols: number, seed: number, ignore: number): number[] {
  const u = rand(2 * rows, seed, 0, 1);
  return Array.from({ length: rows }, (_, r) => (u[2 * r] < 0.25 ? ignore : Math.min(cols - 1, Math.floor(u[2 * r + 1] * cols))));
}

/** Central difference of a loss along a random direction vs the kernel's gradient. */
function checkDirectional(x: Float32Array, grad: Float32Array, loss: (x: Float32Array) => number, seed: number, h: number, what: string) {
  const v = rand(x.length, seed, -1, 1);
  const xp = x.map((xi, i) => xi + h * v[i]);
  const xm = x.map((xi, i) => xi - h * v[i]);
  // The step actually taken, after rounding to float32.
  let predicted = 0;
  for (let i = 0; i < x.length; i++) predicted += grad[i] * (xp[i] - xm[i]);
  const measured = loss(xp) - loss(xm);
  expect(Math.abs(measured - predicted), `${what}: finite difference ${measured} vs gradient ${predicted}`).toBeLessThanOrEqual(
    2e-3 * Math.abs(predicted) + 1e-6,
  );
}

// ---------------------------------------------------------------------------------------

describe("f32_softmax_xent", () => {
  it("SIMD === scalar twin; matches the float64 reference", () => {
    for (const rows of ROWS) {
      for (const cols of COLS) {
        const x = rand(rows * cols, rows * 1000 + cols, -6, 6);
        const targets = targetsFor(rows, cols, rows + cols, IGNORE);
        const xp = put(x);
        const tp = putInt(targets);
        const scale = 0.25;
        const d1 = zeros(rows * cols);
        const d2 = zeros(rows * cols);
        const l1 = k().f32_softmax_xent(d1, xp, tp, rows, cols, IGNORE, scale);
        const l2 = k().f32_softmax_xent_scalar(d2, xp, tp, rows, cols, IGNORE, scale);
        const what = `[${rows}, ${cols}]`;
        expect(l1, what).toBe(l2);
        expectBitEqual(get(d1, rows * cols), get(d2, rows * cols), `dlogits ${what}`);
        const ref = xentRef(x, targets, rows, cols, IGNORE, scale);
        expect(Math.abs(l1 - ref.loss), `loss ${what}`).toBeLessThanOrEqual(1e-6 * rows + 1e-6 * Math.abs(ref.loss));
        expectClose(get(d1, rows * cols), ref.grad, 1e-7, 1e-6, `dlogits ${what}`);
        // In place: dlogits written over the logits.
        const lp = k().f32_softmax_xent(xp, xp, tp, rows, cols, IGNORE, scale);
        expect(lp, `in place ${what}`).toBe(l1);
        expectBitEqual(get(xp, rows * cols), get(d1, rows * cols), `in place ${what}`);
      }
    }
  });

  it("the float64 reference agrees with its own finite difference", () => {
    const rows = 3;
    const cols = 7;
    const x = Array.from(rand(rows * cols, 4, -2, 2));
    const targets = [1, 6, 0];
    const { grad } = xentRef(x, targets, rows, cols, IGNORE, 1);
    const h = 1e-6;
    for (let i = 0; i < x.length; i++) {
      const xp = x.slice();
      const xm = x.slice();
      xp[i] += h;
      xm[i] -= h;
      const fd = (xentRef(xp, targets, rows, cols, IGNORE, 1).loss - xentRef(xm, targets, rows, cols, IGNORE, 1).loss) / (2 * h);
      expect(Math.abs(fd - grad[i])).toBeLessThan(1e-8);
    }
  });

  it("gradient matches a central finite difference of the returned loss", () => {
    for (const [rows, cols, seed] of [[1, 5, 1], [4, 13, 2], [3, 65, 3], [2, 1000, 4]]) {
      const x = rand(rows * cols, seed, -3, 3);
      const targets = targetsFor(rows, cols, seed, IGNORE);
      const tp = putInt(targets);
      const d = zeros(rows * cols);
      k().f32_softmax_xent(d, put(x), tp, rows, cols, IGNORE, 1);
      const grad = get(d, rows * cols);
      const scratch = zeros(rows * cols);
      const loss = (z: Float32Array) => k().f32_softmax_xent(scratch, put(z), tp, rows, cols, IGNORE, 1);
      checkDirectional(x, grad, loss, seed + 10, 1e-2, `[${rows}, ${cols}]`);
    }
  });

  it("ignored rows: zero gradient, no loss, NaN in them does not leak", () => {
    const rows = 5;
    const cols = 11;
    for (const ignore of [IGNORE, 0, 3]) {
      const x = rand(rows * cols, 77, -4, 4);
      // An ignoreIndex inside [0, C) (a padding class) works the same as one outside.
      const targets = [ignore, 2, ignore, 10, 5];
      for (let c = 0; c < cols; c++) x[c] = NaN; // row 0 is ignored
      const d = put(new Float32Array(rows * cols).fill(9));
      const loss = k().f32_softmax_xent(d, put(x), putInt(targets), rows, cols, ignore, 1);
      const ref = xentRef(x, targets, rows, cols, ignore, 1);
      expect(Number.isFinite(loss)).toBe(true);
      expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-5);
      const g = get(d, rows * cols);
      for (let r = 0; r < rows; r++) {
        const row = Array.from(g.slice(r * cols, (r + 1) * cols));
        if (targets[r] === ignore) expect(row, `row ${r}`).toEqual(new Array(cols).fill(0));
        else expect(Math.abs(row.reduce((a, b) => a + b, 0)), `row ${r} sums to 0`).toBeLessThan(1e-6);
      }
    }
  });

  it("all rows ignored, rows = 0 or cols = 0: loss 0", () => {
    const x = put(rand(12, 1));
    const d = zeros(12);
    expect(k().f32_softmax_xent(d, x, putInt([IGNORE, IGNORE, IGNORE]), 3, 4, IGNORE, 1)).toBe(0);
    expect(Array.from(get(d, 12))).toEqual(new Array(12).fill(0));
    expect(k().f32_softmax_xent(d, x, putInt([0]), 0, 4, IGNORE, 1)).toBe(0);
    expect(k().f32_softmax_xent(d, x, putInt([0]), 3, 0, IGNORE, 1)).toBe(0);
  });

  it("extreme logits (±1e4) give a finite loss and gradient", () => {
    const rows = 4;
    const cols = 9;
    const x = rand(rows * cols, 8, -1, 1);
    x[0] = 1e4;
    x[3] = -1e4;
    x[cols + 8] = 1e4;
    x[2 * cols + 1] = -1e4;
    x[3 * cols + 4] = 1e4;
    x[3 * cols + 5] = 1e4;
    const targets = [3, 8, 1, 0];
    for (const name of ["f32_softmax_xent", "f32_softmax_xent_scalar"] as const) {
      const d = zeros(rows * cols);
      const loss = k()[name](d, put(x), putInt(targets), rows, cols, IGNORE, 1);
      const ref = xentRef(x, targets, rows, cols, IGNORE, 1);
      expect(Number.isFinite(loss), name).toBe(true);
      expect(Math.abs(loss - ref.loss) / ref.loss, name).toBeLessThan(1e-6);
      const g = get(d, rows * cols);
      expect(g.every(Number.isFinite), name).toBe(true);
      expectClose(g, ref.grad, 1e-6, 0, name);
    }
  });
});

describe("f32_softmax, f32_log_softmax", () => {
  it("SIMD === scalar twin; float64 reference; in place", () => {
    for (const rows of ROWS) {
      for (const cols of [0, ...COLS]) {
        const n = rows * cols;
        const x = rand(n, rows * 31 + cols, -8, 8);
        if (n > 2) x[1] = 60; // a large logit: max subtraction keeps exp in range
        const xp = put(x);
        const what = `[${rows}, ${cols}]`;
        const ySoft = put(new Float32Array(n + 4).fill(7));
        const yLog = put(new Float32Array(n + 4).fill(7));
        for (const [name, y] of [["f32_softmax", ySoft], ["f32_log_softmax", yLog]] as const) {
          const y2 = zeros(n);
          k()[name](y, xp, rows, cols);
          k()[`${name}_scalar`](y2, xp, rows, cols);
          expectBitEqual(get(y, n), get(y2, n), `${name} ${what}`);
          expect(Array.from(get(y + n * 4, 4)), `${name} ${what}: past the end`).toEqual([7, 7, 7, 7]);
          const copy = put(x);
          k()[name](copy, copy, rows, cols);
          expectBitEqual(get(copy, n), get(y, n), `${name} in place ${what}`);
        }
        const refLog = new Float64Array(n);
        for (let r = 0; r < rows; r++) {
          const lse = logSumExp(x, r * cols, cols);
          for (let c = 0; c < cols; c++) refLog[r * cols + c] = x[r * cols + c] - lse;
        }
        expectClose(get(ySoft, n), refLog.map(Math.exp), 1e-7, 1e-6, `softmax ${what}`);
        expectClose(get(yLog, n), refLog, 2e-6, 1e-6, `log_softmax ${what}`);
      }
    }
  });

  it("log_softmax stays accurate for large logits", () => {
    const x = Float32Array.from([10000, 10001, 9999.5, 10000.25, 9990]);
    const y = zeros(5);
    k().f32_log_softmax(y, put(x), 1, 5);
    const lse = logSumExp(x, 0, 5);
    expectClose(get(y, 5), Array.from(x, (v) => v - lse), 1e-6, 0, "log_softmax");
  });
});

// ---------------------------------------------------------------------------------------

type Masked = "f32_mse" | "f32_sigmoid_bce";
const MASKED: { name: Masked; ref: typeof mseRef; target: (n: number, seed: number) => Float32Array; lo: number; hi: number }[] = [
  { name: "f32_mse", ref: mseRef, target: (n, s) => rand(n, s, -2, 2), lo: -2, hi: 2 },
  { name: "f32_sigmoid_bce", ref: bceRef, target: (n, s) => rand(n, s, 0, 1).map((v, i) => (i % 3 === 0 ? Math.round(v) : v)), lo: -8, hi: 8 },
];

for (const m of MASKED) {
  describe(m.name, () => {
    it("SIMD === scalar twin; matches the float64 reference; mask as row weights", () => {
      for (const rows of ROWS) {
        for (const cols of COLS) {
          const n = rows * cols;
          const x = rand(n, rows * 500 + cols, m.lo, m.hi);
          const t = m.target(n, rows + 7 * cols);
          const xp = put(x);
          const tp = put(t);
          const scale = 0.5;
          const masks: (Float32Array | null)[] = [null, Float32Array.from({ length: rows }, (_, r) => [1, 0, 0.5][r % 3])];
          for (const mask of masks) {
            const mp = mask ? put(mask) : 0;
            const what = `[${rows}, ${cols}] ${mask ? "masked" : "no mask"}`;
            const d1 = zeros(n);
            const d2 = zeros(n);
            const l1 = k()[m.name](d1, xp, tp, mp, rows, cols, scale);
            const l2 = k()[`${m.name}_scalar`](d2, xp, tp, mp, rows, cols, scale);
            expect(l1, what).toBe(l2);
            expectBitEqual(get(d1, n), get(d2, n), `gradient ${what}`);
            const ref = m.ref(x, t, mask, rows, cols, scale);
            const lossTol = m.name === "f32_mse" ? 1e-12 * (1 + Math.abs(ref.loss)) : 3e-7 * rows + 1e-7 * Math.abs(ref.loss);
            expect(Math.abs(l1 - ref.loss), `loss ${what}: ${l1} vs ${ref.loss}`).toBeLessThanOrEqual(lossTol);
            expectClose(get(d1, n), ref.grad, (3e-7 * scale) / cols, 2e-7, `gradient ${what}`);
            // In place: the gradient over the inputs.
            const copy = put(x);
            expect(k()[m.name](copy, copy, tp, mp, rows, cols, scale), `in place ${what}`).toBe(l1);
            expectBitEqual(get(copy, n), get(d1, n), `in place ${what}`);
          }
        }
      }
    });

    it("gradient matches a central finite difference of the returned loss", () => {
      for (const [rows, cols, seed] of [[1, 1, 1], [3, 5, 2], [2, 33, 3], [5, 8, 4]]) {
        const n = rows * cols;
        const x = rand(n, seed, m.lo / 2, m.hi / 2);
        const tp = put(m.target(n, seed + 1));
        const mp = put(Float32Array.from({ length: rows }, (_, r) => [1, 0.5, 0, 2][r % 4]));
        const d = zeros(n);
        k()[m.name](d, put(x), tp, mp, rows, cols, 1);
        const grad = get(d, n);
        const scratch = zeros(n);
        const loss = (z: Float32Array) => k()[m.name](scratch, put(z), tp, mp, rows, cols, 1);
        checkDirectional(x, grad, loss, seed + 20, 1e-2, `${m.name} [${rows}, ${cols}]`);
      }
    });

    it("rows with mask 0 give zero gradient and no loss, even holding NaN", () => {
      const rows = 4;
      const cols = 6;
      const x = rand(rows * cols, 3, -1, 1);
      const t = m.target(rows * cols, 4);
      x[2 * cols + 1] = NaN;
      t[2 * cols + 4] = NaN;
      const mask = Float32Array.from([1, 1, 0, 1]);
      const d = put(new Float32Array(rows * cols).fill(5));
      const loss = k()[m.name](d, put(x), put(t), put(mask), rows, cols, 1);
      expect(Number.isFinite(loss)).toBe(true);
      expect(Math.abs(loss - m.ref(x, t, mask, rows, cols, 1).loss)).toBeLessThan(1e-6);
      const g = get(d, rows * cols);
      expect(Array.from(g.slice(2 * cols, 3 * cols))).toEqual(new Array(cols).fill(0));
      expect(g.every(Number.isFinite)).toBe(true);
      // rows = 0 or cols = 0: nothing to do.
      expect(k()[m.name](d, put(x), put(t), 0, 0, cols, 1)).toBe(0);
      expect(k()[m.name](d, put(x), put(t), 0, rows, 0, 1)).toBe(0);
    });
  });
}

describe("f32_sigmoid_bce extremes", () => {
  it("logits ±1e4, ±100, ±20: finite loss and gradient, matching the reference", () => {
    const x = Float32Array.from([1e4, -1e4, 1e4, -1e4, 100, -100, 20, -20, 0, 1e-8, -1e-8, 1e4, -1e4]);
    const t = Float32Array.from([1, 0, 0, 1, 1, 0, 0.3, 0.7, 0.5, 1, 0, 0.5, 0.5]);
    const n = x.length;
    for (const name of ["f32_sigmoid_bce", "f32_sigmoid_bce_scalar"] as const) {
      const d = zeros(n);
      const loss = k()[name](d, put(x), put(t), 0, 1, n, 1);
      const ref = bceRef(x, t, null, 1, n, 1);
      expect(Number.isFinite(loss), name).toBe(true);
      expect(Math.abs(loss - ref.loss) / ref.loss, name).toBeLessThan(1e-7);
      const g = get(d, n);
      expect(g.every(Number.isFinite), name).toBe(true);
      expectClose(g, ref.grad, 1e-8, 1e-6, name);
    }
  });

  it("small-loss regime keeps relative accuracy (log1p, no cancellation)", () => {
    // Confident and right: each term is about exp(-|x|), far below float32's 1 + ε.
    const x = Float32Array.from([18, -18, 25, -25, 30, -30, 40]);
    const t = Float32Array.from([1, 0, 1, 0, 1, 0, 1]);
    const d = zeros(x.length);
    const loss = k().f32_sigmoid_bce(d, put(x), put(t), 0, 1, x.length, 1);
    const ref = bceRef(x, t, null, 1, x.length, 1);
    expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-6);
    expectClose(get(d, x.length), ref.grad, 0, 1e-6, "gradient");
  });
});

describe("f32_mse", () => {
  it("gradient is exactly fround(fround(p - t) · fround(2·scale·w/C))", () => {
    const rows = 3;
    const cols = 10;
    const p = rand(rows * cols, 1, -3, 3);
    const t = rand(rows * cols, 2, -3, 3);
    const mask = Float32Array.from([0.25, 1, 3]);
    const d = zeros(rows * cols);
    k().f32_mse(d, put(p), put(t), put(mask), rows, cols, 1 / 3);
    const want = p.map((v, i) => fr(fr(v - t[i]) * fr((2 * (fr(1 / 3) as number) * mask[Math.floor(i / cols)]) / cols)));
    expectBitEqual(get(d, rows * cols), want, "dpred");
  });
});
