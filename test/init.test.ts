// The orthogonal initializer and the float64 Householder QR kernels under it
// (assembly/linalg.ts), over awkward sizes around the f64x2 width, the four-lane
// reduction and the 16-reflector panel.
//
// Tolerances:
//   SIMD vs scalar twin: bit-equal. Both give every column the same reflections in the same
//     order, and each reflection sums in the core's fixed order (assembly/linalg.ts).
//   Kernel vs float64 reference (Gram-Schmidt, twice): the QR with R's diagonal made
//     positive is unique, so both must give the same Q and R; for these well-conditioned
//     Gaussian matrices, to 1e-12.
//   QᵀQ = I and Q·R = A in float64: 1e-12 (Householder QR is backward stable: errors of a few
//     units of roundoff times the size).
//   Orthogonal init (float32): |WWᵀ - gain²·I| <= 1e-5·√n, n the length of the rows or
//     columns summed over (each entry rounded to float32, relative 2^-24).
import { afterEach, describe, expect, it } from "vitest";
import { Rng } from "../src/data/rng.js";
import { engine } from "../src/engine/index.js";
import { orthogonal } from "../src/layers/init.js";
import { expectBitEqual, k } from "./helpers.js";

const SIDES = [1, 2, 3, 7, 16, 17, 33, 64];
const SENTINEL = -12345.5;
const GUARD = 4; // float64 values after every output, which no kernel may write

const owned: number[] = [];
afterEach(() => {
  while (owned.length) engine().allocator.free(owned.pop()!);
});

/** Copies float64 `data` into fresh wasm memory, followed by GUARD sentinels; returns the address. */
function put64(data: Float64Array): number {
  const padded = new Float64Array(data.length + GUARD).fill(SENTINEL);
  padded.set(data);
  const ptr = engine().allocator.alloc(padded.length * 8);
  owned.push(ptr);
  engine().u8().set(new Uint8Array(padded.buffer), ptr);
  return ptr;
}
/** Reads n float64 values at ptr, and checks the guard after them. */
function get64(ptr: number, n: number, what: string): Float64Array {
  const all = new Float64Array(engine().u8().slice(ptr, ptr + (n + GUARD) * 8).buffer);
  for (let i = n; i < n + GUARD; i++) if (all[i] !== SENTINEL) expect.fail(`${what}: wrote past the end (+${i - n})`);
  return all.slice(0, n);
}
const bits = (x: Float64Array) => new Float32Array(x.buffer, x.byteOffset, x.length * 2);

/** A column-major p x s matrix of standard normal values. */
function gaussian(p: number, s: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: p * s }, () => rng.normal());
}

interface Factors {
  /** The kernel's in-place result: R above the diagonal, reflectors below. */
  a: Float64Array;
  rdiag: Float64Array;
  q: Float64Array;
}

/** QR of the column-major p x s matrix `a` by the SIMD kernels or their scalar twins (Q formed in place). */
function householder(a: Float64Array, p: number, s: number, scalar: boolean): Factors {
  const pa = put64(a);
  const pr = put64(new Float64Array(s).fill(SENTINEL));
  const tag = scalar ? "_scalar" : "";
  if (scalar) k().f64_householder_qr_scalar(pa, pr, p, s);
  else k().f64_householder_qr(pa, pr, p, s);
  const factored = get64(pa, p * s, `qr${tag} a`);
  if (scalar) k().f64_householder_q_scalar(pa, p, s);
  else k().f64_householder_q(pa, p, s);
  return { a: factored, rdiag: get64(pr, s, `qr${tag} rdiag`), q: get64(pa, p * s, `q${tag}`) };
}

/** R (s x s, column-major) from the kernel's output: the part above the diagonal, and the diagonal. */
function rOf(f: Factors, p: number, s: number): Float64Array {
  const r = new Float64Array(s * s);
  for (let c = 0; c < s; c++) {
    for (let i = 0; i < c; i++) r[c * s + i] = f.a[c * p + i];
    r[c * s + c] = f.rdiag[c];
  }
  return r;
}

/**
 * Reference: QR by classical Gram-Schmidt with one reorthogonalisation, in float64. It gives
 * R a positive diagonal, the unique such factorisation of a full-rank matrix.
 */
function gramSchmidtQR(a: Float64Array, p: number, s: number): { q: Float64Array; r: Float64Array } {
  const q = new Float64Array(p * s);
  const r = new Float64Array(s * s);
  for (let c = 0; c < s; c++) {
    const v = a.slice(c * p, (c + 1) * p);
    for (let pass = 0; pass < 2; pass++) {
      const dots = new Float64Array(c);
      for (let j = 0; j < c; j++) for (let i = 0; i < p; i++) dots[j] += q[j * p + i] * v[i];
      for (let j = 0; j < c; j++) {
        for (let i = 0; i < p; i++) v[i] -= dots[j] * q[j * p + i];
        r[c * s + j] += dots[j];
      }
    }
    let norm = 0;
    for (let i = 0; i < p; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    r[c * s + c] = norm;
    for (let i = 0; i < p; i++) q[c * p + i] = v[i] / norm;
  }
  return { q, r };
}

/** Largest |XᵀX - target·I| of the column-major p x s matrix X. */
function maxGramError(x: ArrayLike<number>, p: number, s: number, target = 1): number {
  let worst = 0;
  for (let c = 0; c < s; c++) {
    for (let d = c; d < s; d++) {
      let dot = 0;
      for (let i = 0; i < p; i++) dot += x[c * p + i] * x[d * p + i];
      worst = Math.max(worst, Math.abs(dot - (c === d ? target : 0)));
    }
  }
  return worst;
}

describe("f64_householder_qr / f64_householder_q", () => {
  for (const s of SIDES) {
    for (const p of [s, s + 1, 2 * s + 3]) {
      it(`p = ${p}, s = ${s}: SIMD = scalar twin, QᵀQ = I, Q·R = A, same as Gram-Schmidt`, () => {
        const a = gaussian(p, s, 100 * p + s);
        const f = householder(a, p, s, false);
        const t = householder(a, p, s, true);
        expectBitEqual(bits(f.a), bits(t.a), "qr vs qr_scalar (R and reflectors)");
        expectBitEqual(bits(f.rdiag), bits(t.rdiag), "qr vs qr_scalar (R's diagonal)");
        expectBitEqual(bits(f.q), bits(t.q), "q vs q_scalar");

        expect(maxGramError(f.q, p, s)).toBeLessThan(1e-12);
        const r = rOf(f, p, s);
        let worst = 0;
        for (let c = 0; c < s; c++) {
          for (let i = 0; i < p; i++) {
            let qr = 0;
            for (let j = 0; j <= c; j++) qr += f.q[j * p + i] * r[c * s + j];
            worst = Math.max(worst, Math.abs(qr - a[c * p + i]));
          }
        }
        expect(worst, "max |Q·R - A|").toBeLessThan(1e-12);

        // Made unique (R's diagonal positive), Householder and Gram-Schmidt must agree.
        const ref = gramSchmidtQR(a, p, s);
        let dq = 0;
        let dr = 0;
        for (let c = 0; c < s; c++) {
          const sign = f.rdiag[c] < 0 ? -1 : 1;
          for (let i = 0; i < p; i++) dq = Math.max(dq, Math.abs(sign * f.q[c * p + i] - ref.q[c * p + i]));
          for (let j = 0; j <= c; j++) dr = Math.max(dr, Math.abs((f.rdiag[j] < 0 ? -1 : 1) * r[c * s + j] - ref.r[c * s + j]));
        }
        expect(dq, "max |Q·D - Q_ref|").toBeLessThan(1e-12);
        expect(dr, "max |D·R - R_ref|").toBeLessThan(1e-12);
      });
    }
  }

  it("a zero column leaves its reflector zero (H = I) and Q orthonormal", () => {
    const p = 9;
    const s = 5;
    const a = gaussian(p, s, 7);
    a.fill(0, 2 * p, 3 * p); // column 2
    for (const scalar of [false, true]) {
      const f = householder(a, p, s, scalar);
      expect(f.rdiag[2]).toBe(0);
      expect(maxGramError(f.q, p, s)).toBeLessThan(1e-12);
    }
  });

  it("the identity factors as Q = ±I", () => {
    const n = 6;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) a[i * n + i] = 1;
    const f = householder(a, n, n, false);
    for (let c = 0; c < n; c++) {
      const sign = f.rdiag[c] < 0 ? -1 : 1;
      for (let i = 0; i < n; i++) expect(sign * f.q[c * n + i]).toBeCloseTo(i === c ? 1 : 0, 14);
    }
  });
});

/** Largest |W Wᵀ - gain²·I| over the rows of a [rows, cols] block (rows <= cols), or of Wᵀ W. */
function blockGramError(w: Float32Array, offset: number, rows: number, cols: number, gain: number): number {
  // Column-major view of the orthonormal side: rows of a wide block, columns of a tall one.
  const tall = rows > cols;
  const p = tall ? rows : cols;
  const s = tall ? cols : rows;
  const m = new Float64Array(p * s);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) m[tall ? c * p + r : r * p + c] = w[offset + r * cols + c];
  }
  return maxGramError(m, p, s, gain * gain);
}

describe("orthogonal initializer", () => {
  const cases: { shape: [number, number]; blocks: number; gain: number; what: string }[] = [
    { shape: [64, 64], blocks: 1, gain: 1, what: "square" },
    { shape: [50, 20], blocks: 1, gain: 1, what: "tall" },
    { shape: [20, 50], blocks: 1, gain: 0.5, what: "wide, gain 0.5" },
    { shape: [1, 7], blocks: 1, gain: 1, what: "one row" },
    { shape: [3 * 33, 33], blocks: 3, gain: 1, what: "3 square blocks (GRU)" },
    { shape: [4 * 17, 17], blocks: 4, gain: 1, what: "4 square blocks (LSTM)" },
    { shape: [4 * 10, 23], blocks: 4, gain: 2, what: "4 wide blocks" },
    { shape: [3 * 40, 9], blocks: 3, gain: 1, what: "3 tall blocks" },
  ];
  for (const { shape, blocks, gain, what } of cases) {
    it(`${what}: every block orthonormal, signs fixed, the same draws as the seed always meant`, () => {
      const rng = new Rng(11);
      const w = orthogonal(blocks, gain)(shape, rng);
      const rows = shape[0] / blocks;
      const cols = shape[1];
      expect(w.length).toBe(shape[0] * cols);
      const tall = rows >= cols;
      const p = Math.max(rows, cols);
      const s = Math.min(rows, cols);
      const again = new Rng(11);
      for (let b = 0; b < blocks; b++) {
        expect(blockGramError(w, b * rows * cols, rows, cols, gain), `block ${b}`).toBeLessThan(1e-5 * Math.sqrt(p));
        // The block (or its transpose) is Q of the QR of the Gaussian drawn row by row, with
        // R's diagonal positive: R = Qᵀ A is upper triangular with a positive diagonal.
        const a = new Float64Array(p * s);
        for (let i = 0; i < p; i++) for (let j = 0; j < s; j++) a[j * p + i] = again.normal();
        const q = (i: number, c: number) => w[b * rows * cols + (tall ? i * cols + c : c * cols + i)] / gain;
        for (let c = 0; c < s; c++) {
          for (let r = c; r < s; r++) {
            let dot = 0;
            for (let i = 0; i < p; i++) dot += q(i, r) * a[c * p + i];
            if (r === c) expect(dot, `block ${b}: R[${c}, ${c}]`).toBeGreaterThan(0);
            else expect(Math.abs(dot), `block ${b}: R[${r}, ${c}] below the diagonal`).toBeLessThan(1e-4 * Math.sqrt(p));
          }
        }
      }
      // Exactly p·s normal draws per block were taken from the generator.
      expect(rng.normal()).toBe(again.normal());
    });
  }

  it("same seed, same bits; another seed, other values", () => {
    const init = orthogonal(4);
    const a = init([4 * 24, 24], new Rng(5));
    const b = init([4 * 24, 24], new Rng(5));
    const c = init([4 * 24, 24], new Rng(6));
    expectBitEqual(a, b, "same seed");
    expect(a.some((v, i) => v !== c[i])).toBe(true);
  });

  it("frees its scratch memory", () => {
    const before = engine().allocator.liveBlocks;
    orthogonal(3)([3 * 20, 20], new Rng(1));
    expect(engine().allocator.liveBlocks).toBe(before);
  });

  it("initialises a realistic 512 x 512 block (the speed is measured in bench/init.ts)", () => {
    const n = 512;
    const w = orthogonal()([n, n], new Rng(3));
    // Orthonormality of a sample of rows against all rows.
    let worst = 0;
    for (let r = 0; r < n; r += 31) {
      for (let t = 0; t < n; t++) {
        let dot = 0;
        for (let c = 0; c < n; c++) dot += w[r * n + c] * w[t * n + c];
        worst = Math.max(worst, Math.abs(dot - (r === t ? 1 : 0)));
      }
    }
    expect(worst).toBeLessThan(1e-5 * Math.sqrt(n));
  });
});
