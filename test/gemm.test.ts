// GEMM kernels: f32_gemm_{nn,nt,tn,np} against their scalar twins and a float64 reference,
// swept over awkward sizes around the 2x16 tile, the f32x4 width and the K/M blocking.
// np runs on B packed by f32_gemm_pack_b from the same [K, N] storage as nn.
//
// Tolerances:
//   SIMD vs scalar twin: bit-equal. Both add the products of every element in the same
//     order (acc = init; acc += a_p * b_p for p = 0..K-1, see assembly/gemm.ts), so no
//     tolerance is needed and none is given.
//   f32 vs float64 reference: |C - C64| <= (K + 2) * 2^-23 * S, where S is the largest
//     |init| + |bias| + sum_p |a_p * b_p| over the window: the error bound of recursive f32
//     summation of K + 2 terms (unit roundoff 2^-24), with a factor 2 to spare.
import { afterEach, describe, it } from "vitest";
import { Tensor, engine } from "../src/engine/index.js";
import { Layer, type WeightGrad } from "../src/layers/layer.js";
import type { WasmExports } from "../src/engine/wasm-bytes.js";
import { wasmBytes } from "../src/engine/engine.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, rand } from "./helpers.js";

type Variant = "nn" | "nt" | "tn" | "np";
const variants: Variant[] = ["nn", "nt", "tn", "np"];

type Kernel = (c: number, a: number, b: number, bias: number, m: number, n: number, k: number, lda: number, ldb: number, ldc: number, accumulate: number) => void;
type PackedKernel = (c: number, a: number, bp: number, bias: number, m: number, n: number, k: number, lda: number, ldc: number, accumulate: number) => void;

/** Floats f32_gemm_pack_b writes for an N-column op(B) of K rows. */
const packedSize = (n: number, kk: number) => Math.ceil(n / 16) * 16 * kk;

/** np as a Kernel on B stored [K, N]: packs B into fresh memory, then runs the packed product. */
const viaPacked = (kernel: () => PackedKernel): Kernel => (c, a, b, bias, m, n, kk, lda, ldb, ldc, accumulate) => {
  const bp = put(new Float32Array(packedSize(n, kk)).fill(NaN));
  k().f32_gemm_pack_b(bp, b, n, kk, ldb, 0);
  kernel()(c, a, bp, bias, m, n, kk, lda, ldc, accumulate);
};

const simd = (v: Variant): Kernel =>
  v === "nn" ? k().f32_gemm_nn : v === "nt" ? k().f32_gemm_nt : v === "tn" ? k().f32_gemm_tn : viaPacked(() => k().f32_gemm_np);
const scalar = (v: Variant): Kernel =>
  v === "nn" ? k().f32_gemm_nn_scalar : v === "nt" ? k().f32_gemm_nt_scalar : v === "tn" ? k().f32_gemm_tn_scalar : viaPacked(() => k().f32_gemm_np_scalar);

/** How op(A) and op(B) are stored for a variant: [rows, row length] of A and of B. */
function storage(v: Variant, m: number, n: number, kk: number) {
  return {
    a: v === "tn" ? [kk, m] : [m, kk], // A[M,K], or A[K,M] for tn
    b: v === "nt" ? [n, kk] : [kk, n], // B[K,N], or B[N,K] for nt
  };
}

/** A row-major matrix with leading dimension ld; padding holds NaN so a stray read shows. */
function padded(rows: number, cols: number, ld: number, seed: number): Float32Array {
  const vals = rand(rows * cols, seed);
  const out = new Float32Array(Math.max(1, rows * ld)).fill(NaN);
  for (let r = 0; r < rows; r++) out.set(vals.subarray(r * cols, (r + 1) * cols), r * ld);
  return out;
}

interface Problem {
  v: Variant;
  m: number;
  n: number;
  k: number;
  lda: number;
  ldb: number;
  ldc: number;
  bias: boolean;
  accumulate: boolean;
  A: Float32Array;
  B: Float32Array;
  biasData: Float32Array;
  /** C before the call, with its padding columns and a guard zone after the last row. */
  C0: Float32Array;
}

const GUARD = 16;

function makeProblem(v: Variant, m: number, n: number, kk: number, pad: number, bias: boolean, accumulate: boolean, seed: number): Problem {
  const s = storage(v, m, n, kk);
  const lda = s.a[1] + pad;
  const ldb = s.b[1] + ((pad * 3) % 7);
  const ldc = n + ((pad * 5) % 9);
  return {
    v, m, n, k: kk, lda, ldb, ldc, bias, accumulate,
    A: padded(s.a[0], s.a[1], lda, seed),
    B: padded(s.b[0], s.b[1], ldb, seed + 1),
    biasData: rand(Math.max(1, n), seed + 2),
    C0: rand(m * ldc + GUARD, seed + 3, -2, 2),
  };
}

/** Runs `kernel` on fresh copies of the problem's buffers and returns the whole C buffer. */
function runKernel(kernel: Kernel, p: Problem): Float32Array {
  const pa = put(p.A);
  const pb = put(p.B);
  const pbias = put(p.biasData);
  const pc = put(p.C0);
  kernel(pc, pa, pb, p.bias ? pbias : 0, p.m, p.n, p.k, p.lda, p.ldb, p.ldc, p.accumulate ? 1 : 0);
  // The inputs are read-only.
  expectBitEqual(get(pa, p.A.length), p.A, "A after the call");
  expectBitEqual(get(pb, p.B.length), p.B, "B after the call");
  return get(pc, p.C0.length);
}

/** Float64 reference of the MxN window, and the magnitude S of each element's terms. */
function reference(p: Problem): { c: Float64Array; mag: Float64Array } {
  const { v, m, n, lda, ldb, ldc, A, B } = p;
  const c = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = p.accumulate ? p.C0[i * ldc + j] : 0;
      if (p.bias) acc += p.biasData[j];
      let s = Math.abs(acc);
      for (let q = 0; q < p.k; q++) {
        const a = v === "tn" ? A[q * lda + i] : A[i * lda + q];
        const b = v === "nt" ? B[j * ldb + q] : B[q * ldb + j];
        acc += a * b;
        s += Math.abs(a * b);
      }
      c[i * n + j] = acc;
      mag[i * n + j] = s;
    }
  }
  return { c, mag };
}

function windowOf(buf: Float32Array, m: number, n: number, ldc: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) out.set(buf.subarray(i * ldc, i * ldc + n), i * n);
  return out;
}

/** Everything of C outside the MxN window: padding columns and the guard zone. */
function outsideOf(buf: Float32Array, m: number, n: number, ldc: number): Float32Array {
  const out: number[] = [];
  for (let i = 0; i < m; i++) for (let j = n; j < ldc; j++) out.push(buf[i * ldc + j]);
  for (let t = m * ldc; t < buf.length; t++) out.push(buf[t]);
  return Float32Array.from(out);
}

/** The full check of one problem: SIMD == scalar (bits), both close to f64, outside untouched. */
function check(p: Problem): void {
  const what = `${p.v} m=${p.m} n=${p.n} k=${p.k} lda=${p.lda} ldb=${p.ldb} ldc=${p.ldc} bias=${p.bias} acc=${p.accumulate}`;
  const fast = runKernel(simd(p.v), p);
  const slow = runKernel(scalar(p.v), p);
  expectBitEqual(fast, slow, `${what}: SIMD vs scalar`);
  const { c, mag } = reference(p);
  const S = mag.reduce((x, y) => Math.max(x, y), 0);
  const atol = (p.k + 2) * 2 ** -23 * S;
  expectClose(windowOf(fast, p.m, p.n, p.ldc), c, atol, 0, `${what}: SIMD vs f64`);
  expectBitEqual(outsideOf(fast, p.m, p.n, p.ldc), outsideOf(p.C0, p.m, p.n, p.ldc), `${what}: C outside the window`);
  expectBitEqual(outsideOf(slow, p.m, p.n, p.ldc), outsideOf(p.C0, p.m, p.n, p.ldc), `${what}: scalar, C outside the window`);
}

// Sizes around the SIMD width (4), the 2x16 tile and its multiples, and the tn blocks (64).
const SIZES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 32, 33, 63, 65, 127, 129];
const pick = (i: number) => SIZES[((i % SIZES.length) + SIZES.length) % SIZES.length];

/** Each size on each axis once, the other two axes walking the list at other strides. */
function sweep(): [number, number, number][] {
  const out: [number, number, number][] = [];
  SIZES.forEach((s, i) => {
    out.push([s, pick(i * 5 + 3), pick(i * 7 + 11)]);
    out.push([pick(i * 7 + 2), s, pick(i * 5 + 9)]);
    out.push([pick(i * 3 + 4), pick(i * 11 + 6), s]);
  });
  // The smallest M, N, K against the rest; M = 1 and N < 8 take their own paths.
  for (const s of [1, 2, 3, 5, 8, 9, 17, 33, 65]) out.push([1, s, 37], [1, 37, s], [s, 1, 9], [2, s, 17], [s, 3, 4]);
  return out;
}

// Past the blocking: K > 256 (nn, nt) and K > 64 (tn) make K blocks, M > 128 (nn, nt) and
// M > 64 (tn) make M blocks; N long. N >= 128 packs A into row pairs (nn, nt, np): odd M
// there leaves a ragged pair, in the last M block too.
const BLOCKING: [number, number, number][] = [
  [5, 9, 257], [33, 65, 513], [6, 20, 300], [129, 8, 256], [130, 17, 70], [260, 11, 9],
  [1, 1030, 300], [1, 9, 700], [4, 8, 1], [200, 150, 300], [131, 130, 520], [3, 144, 41], [257, 128, 5],
];

afterEach(() => freeAll());

describe("f32_gemm: SIMD vs scalar twin vs float64", () => {
  for (const v of variants) {
    it(`${v}: sizes 0..17, 31..33, 63, 65, 127, 129 on each axis, bias x accumulate, padded ld`, () => {
      sweep().forEach(([m, n, kk], idx) => {
        for (let opt = 0; opt < 4; opt++) {
          check(makeProblem(v, m, n, kk, idx % 4 === 0 ? 0 : (idx % 5) + 1, (opt & 1) === 1, (opt & 2) === 2, 1000 * idx + opt));
        }
        freeAll();
      });
    });

    it(`${v}: blocking over K and M, long N, bias x accumulate`, () => {
      BLOCKING.forEach(([m, n, kk], idx) => {
        for (let opt = 0; opt < 4; opt++) check(makeProblem(v, m, n, kk, (idx + opt) % 3, (opt & 1) === 1, (opt & 2) === 2, 77 + idx));
        freeAll();
      });
    });
  }
});

describe("f32_gemm: determinism and layout", () => {
  for (const v of variants) {
    it(`${v}: same inputs twice give the same bits`, () => {
      for (const [m, n, kk] of [[37, 29, 300], [1, 70, 45], [64, 64, 64]]) {
        const p = makeProblem(v, m, n, kk, 2, true, true, 5);
        expectBitEqual(runKernel(simd(v), p), runKernel(simd(v), p), `${v} ${m}x${kk}x${n} run twice`);
      }
    });

    it(`${v}: a row of C does not depend on M (M = 1 path, ragged tiles, full tiles agree)`, () => {
      const m = 13, n = 37, kk = 70;
      const p = makeProblem(v, m, n, kk, 3, true, true, 9);
      const full = runKernel(simd(v), p);
      const pa = put(p.A);
      const pb = put(p.B);
      const pbias = put(p.biasData);
      const pc = put(p.C0);
      // Rows [r0, r0 + rows) alone: A's rows start at row r0 (nn, nt) or column r0 (tn).
      for (const [r0, rows] of [[0, 1], [5, 1], [12, 1], [3, 5], [8, 5], [1, 4], [2, 11]]) {
        const aAt = v === "tn" ? pa + 4 * r0 : pa + 4 * r0 * p.lda;
        simd(v)(pc + 4 * r0 * p.ldc, aAt, pb, pbias, rows, n, kk, p.lda, p.ldb, p.ldc, 1);
        const part = get(pc + 4 * r0 * p.ldc, rows * p.ldc);
        expectBitEqual(
          windowOf(part, rows, n, p.ldc),
          windowOf(full.subarray(r0 * p.ldc), rows, n, p.ldc),
          `${v}: rows ${r0}..${r0 + rows - 1} computed alone`,
        );
        // restore C for the next slice
        engine().f32().set(p.C0, pc / 4);
      }
    });

    it(`${v}: K = 0 writes bias or zeros, or adds the bias when accumulating`, () => {
      const m = 3, n = 11;
      for (const [bias, acc] of [[false, false], [true, false], [false, true], [true, true]]) {
        const p = makeProblem(v, m, n, 0, 1, bias, acc, 21);
        const out = windowOf(runKernel(simd(v), p), m, n, p.ldc);
        const start = windowOf(p.C0, m, n, p.ldc);
        const want = new Float32Array(m * n);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let x = acc ? start[i * n + j] : 0;
            if (bias) x = Math.fround(x + p.biasData[j]);
            want[i * n + j] = x;
          }
        }
        expectBitEqual(out, want, `${v} K=0 bias=${bias} acc=${acc}`);
        check(p);
      }
    });

    it(`${v}: M = 0 or N = 0 leaves C untouched`, () => {
      for (const [m, n] of [[0, 5], [5, 0], [0, 0]]) {
        const p = makeProblem(v, m, n, 7, 1, true, false, 3);
        const pc = put(p.C0);
        simd(v)(pc, put(p.A), put(p.B), put(p.biasData), m, n, 7, p.lda, p.ldb, Math.max(1, p.ldc), 0);
        expectBitEqual(get(pc, p.C0.length), p.C0, `${v} m=${m} n=${n}`);
      }
    });
  }
});

describe("f32_gemm: reads nothing past its inputs", () => {
  // A private instance whose memory ends exactly where A (or B, or the bias) ends: a read
  // one float too far traps there. C, the rest and the reference go below.
  const bytes = wasmBytes();
  const kx = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as WasmExports;
  kx.memory.grow(4);
  const f32 = () => new Float32Array(kx.memory.buffer);
  const gemm = (v: Variant, ref: boolean) =>
    ref ? (v === "nn" ? kx.f32_gemm_nn_scalar : v === "nt" ? kx.f32_gemm_nt_scalar : kx.f32_gemm_tn_scalar)
      : v === "nn" ? kx.f32_gemm_nn : v === "nt" ? kx.f32_gemm_nt : kx.f32_gemm_tn;

  type Buffer = "a" | "b" | "bias";
  /** Addresses of A, B and the bias: `last` ends exactly where memory ends, the others go up from `low`. */
  const placeLast = (sizes: Record<Buffer, number>, last: Buffer, low: number): Record<Buffer, number> => {
    const at = { a: 0, b: 0, bias: 0 };
    let next = low;
    for (const name of ["a", "b", "bias"] as const) {
      if (name === last) at[name] = kx.memory.buffer.byteLength - sizes[name];
      else (at[name] = next), (next += sizes[name]);
    }
    return at;
  };

  for (const v of ["nn", "nt", "tn"] as const) {
    it(`${v}: A, B or bias at the very end of memory`, () => {
      const shapes = [[3, 5, 7], [1, 9, 5], [1, 40, 7], [5, 1, 3], [2, 17, 9], [17, 33, 65], [7, 16, 260], [9, 20, 1], [5, 130, 9], [3, 128, 258]];
      for (const [m, n, kk] of shapes) {
        const s = storage(v, m, n, kk);
        const A = rand(s.a[0] * s.a[1], m);
        const B = rand(s.b[0] * s.b[1], n);
        const bias = rand(n, 3);
        const cFast = (kx.heap_base() + 63) & ~63;
        const cRef = cFast + m * n * 4;
        const low = cRef + m * n * 4; // A, B and bias when not at the end
        for (const last of ["a", "b", "bias"] as const) {
          const at = placeLast({ a: A.length * 4, b: B.length * 4, bias: n * 4 }, last, low);
          f32().set(A, at.a / 4);
          f32().set(B, at.b / 4);
          f32().set(bias, at.bias / 4);
          const lda = s.a[1], ldb = s.b[1];
          gemm(v, false)(cFast, at.a, at.b, at.bias, m, n, kk, lda, ldb, n, 0);
          gemm(v, true)(cRef, at.a, at.b, at.bias, m, n, kk, lda, ldb, n, 0);
          expectBitEqual(f32().slice(cFast / 4, cFast / 4 + m * n), f32().slice(cRef / 4, cRef / 4 + m * n), `${v} ${m}x${kk}x${n}, ${last} last`);
        }
      }
    });
  }

  it("np: A, packed B or bias at the very end of memory", () => {
    for (const [m, n, kk] of [[1, 5, 7], [1, 40, 7], [1, 32, 3], [3, 5, 7], [2, 17, 9], [17, 33, 65], [9, 20, 1]]) {
      const A = rand(m * kk, m);
      const B = rand(kk * n, n);
      const bias = rand(n, 3);
      const bDense = (kx.heap_base() + 63) & ~63, cFast = bDense + B.length * 4, cRef = cFast + m * n * 4;
      f32().set(B, bDense / 4);
      for (const last of ["a", "b", "bias"] as const) {
        const at = placeLast({ a: A.length * 4, b: packedSize(n, kk) * 4, bias: n * 4 }, last, cRef + m * n * 4);
        f32().set(A, at.a / 4);
        f32().set(bias, at.bias / 4);
        kx.f32_gemm_pack_b(at.b, bDense, n, kk, n, 0);
        kx.f32_gemm_np(cFast, at.a, at.b, at.bias, m, n, kk, kk, n, 0);
        kx.f32_gemm_np_scalar(cRef, at.a, at.b, at.bias, m, n, kk, kk, n, 0);
        expectBitEqual(f32().slice(cFast / 4, cFast / 4 + m * n), f32().slice(cRef / 4, cRef / 4 + m * n), `np ${m}x${kk}x${n}, ${last} last`);
      }
    }
  });

  it("f32_transpose: input at the very end of memory", () => {
    for (const [rows, cols] of [[1, 1], [3, 5], [4, 4], [33, 7], [5, 65]]) {
      const a = rand(rows * cols, rows);
      const at = kx.memory.buffer.byteLength - a.length * 4;
      const out = (kx.heap_base() + 63) & ~63;
      f32().set(a, at / 4);
      kx.f32_transpose(out, at, rows, cols);
      const got = f32().slice(out / 4, out / 4 + a.length);
      const want = new Float32Array(a.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[c * rows + r] = a[r * cols + c];
      expectBitEqual(got, want, `transpose ${rows}x${cols} at the end`);
    }
  });
});

describe("f32_gemm_pack_b", () => {
  it("lays op(B) out in 16-column slivers, zero past N, from B or from Bᵀ alike", () => {
    for (const [n, kk] of [[1, 1], [3, 5], [15, 4], [16, 3], [17, 7], [33, 260], [40, 2]]) {
      const B = rand(kk * n, n + kk); // [K, N]
      const want = new Float32Array(packedSize(n, kk));
      for (let j = 0; j < n; j++) for (let p = 0; p < kk; p++) want[(j >> 4) * 16 * kk + p * 16 + (j & 15)] = B[p * n + j];
      const fromB = put(new Float32Array(want.length).fill(NaN));
      k().f32_gemm_pack_b(fromB, put(B), n, kk, n, 0);
      expectBitEqual(get(fromB, want.length), want, `pack ${n}x${kk} from B`);
      // Bᵀ [N, K] with a padded row (ldb = K + 3), as a weight W [N, K] of x·Wᵀ is stored.
      const BT = new Float32Array(n * (kk + 3)).fill(NaN);
      for (let j = 0; j < n; j++) for (let p = 0; p < kk; p++) BT[j * (kk + 3) + p] = B[p * n + j];
      const fromBT = put(new Float32Array(want.length).fill(NaN));
      k().f32_gemm_pack_b(fromBT, put(BT), n, kk, kk + 3, 1);
      expectBitEqual(get(fromBT, want.length), want, `pack ${n}x${kk} from Bᵀ`);
      freeAll();
    }
  });
});

describe("f32_transpose", () => {
  it("out[cols, rows] = a[rows, cols]ᵀ exactly, and writes nothing past out", () => {
    const dims = [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100];
    dims.forEach((rows, i) => {
      for (const cols of [dims[(i * 3 + 1) % dims.length], dims[(i * 5 + 7) % dims.length], rows]) {
        const a = rand(rows * cols, 11 * rows + cols);
        const pa = put(a);
        const guard = rand(rows * cols + GUARD, 3);
        const pout = put(guard);
        k().f32_transpose(pout, pa, rows, cols);
        const out = get(pout, rows * cols + GUARD);
        const want = Float32Array.from(guard);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[c * rows + r] = a[r * cols + c];
        expectBitEqual(out, want, `transpose ${rows}x${cols}`);
        expectBitEqual(get(pa, a.length), a, `transpose ${rows}x${cols}: input`);
        freeAll();
      }
    });
  });
});

describe("Layer.weightGrads", () => {
  // A layer that exposes its weight-gradient helper.
  class Probe extends Layer {
    readonly kind = "probe";
    protected declare(inputSize: number): number {
      return inputSize;
    }
    forward(x: Tensor): Tensor {
      return x;
    }
    backward(dy: Tensor): Tensor {
      return dy;
    }
    grads(a: number, lda: number, rows: number, products: WeightGrad[]): void {
      this.weightGrads(a, lda, rows, products);
    }
  }

  it("gives f32_gemm_tn's bits, over ragged panels of rows and column windows of A", () => {
    const probe = new Probe();
    const lda = 37;
    const windows = [{ col: 0, m: 20, n: 5 }, { col: 20, m: 17, n: 9 }, { col: 0, m: lda, n: 16 }];
    for (const rows of [1, 3, 255, 256, 257, 600]) {
      const pa = put(rand(rows * lda, rows));
      const products = windows.map((w, i) => ({ ...w, b: put(rand(rows * w.n, 100 * rows + i)), c: put(rand(w.m * w.n, i)), ref: put(rand(w.m * w.n, i)) }));
      probe.grads(pa, lda, rows, products);
      for (const p of products) {
        k().f32_gemm_tn(p.ref, pa + p.col * 4, p.b, 0, p.m, p.n, rows, lda, p.n, p.n, 1);
        expectBitEqual(get(p.c, p.m * p.n), get(p.ref, p.m * p.n), `rows ${rows}, columns ${p.col}..${p.col + p.m}`);
      }
      freeAll();
    }
    probe.dispose();
  });
});
