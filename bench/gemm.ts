// GEMM: Unfold's SIMD kernels against TensorFlow.js matMul (wasm and cpu backends), in the
// same process. Every result is first checked against a reference (Unfold's scalar twin,
// which the SIMD kernels match bit for bit; tfjs against Unfold within float tolerance),
// then timed: median ms per call and GFLOP/s with FLOP = 2*M*N*K.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { engine } from "../src/engine/index.js";
import { fmt, maxAbsDiff, printTable, timeIt } from "./util.js";

type Variant = "nn" | "nt" | "tn";

interface Case {
  variant: Variant;
  m: number;
  k: number;
  n: number;
  /** Also time TF.js on it. */
  tfjs: boolean;
  note?: string;
}

// M x K x N. The shapes first (nn and nt), then the RNN library's big ones.
const cases: Case[] = [
  { variant: "nn", m: 256, k: 256, n: 256, tfjs: true },
  { variant: "nt", m: 256, k: 256, n: 256, tfjs: true },
  { variant: "nn", m: 1024, k: 1024, n: 1024, tfjs: true },
  { variant: "nt", m: 1024, k: 1024, n: 1024, tfjs: true },
  { variant: "nn", m: 32, k: 256, n: 1024, tfjs: true, note: "recurrent step, B=32" },
  { variant: "nt", m: 32, k: 256, n: 1024, tfjs: true },
  { variant: "nn", m: 1, k: 256, n: 1024, tfjs: true, note: "recurrent step, B=1" },
  { variant: "nt", m: 1, k: 256, n: 1024, tfjs: true },
  { variant: "nn", m: 32, k: 1024, n: 256, tfjs: false, note: "backward step dgates·W_hh" },
  { variant: "nt", m: 1600, k: 64, n: 1024, tfjs: true, note: "input projection X·W_ihᵀ" },
  { variant: "tn", m: 1024, k: 1600, n: 64, tfjs: true, note: "weight gradient dGatesᵀ·X" },
];

/** The done-when of the issue: [variant, M, K, N, minimum GFLOP/s, minimum ratio to tfjs-wasm]. */
const goals: [Variant, number, number, number, number, number][] = [
  ["nn", 256, 256, 256, 40, 1.5],
  ["nn", 32, 256, 1024, 40, 1.5],
  ["nn", 1, 256, 1024, 15, 1.5],
];

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

interface Row {
  c: Case;
  check: string;
  unfold: number;
  wasm?: number;
  cpu?: number;
}

export async function run(): Promise<void> {
  const e = engine();
  const k = e.k;
  const rows: Row[] = [];

  // tfjs backends: the wasm one is what Unfold competes with; cpu is the JS baseline.
  await tf.setBackend("wasm");
  await tf.ready();
  const wasmThreads = (tf.backend() as unknown as { wasm?: { _pthread_self?: unknown } }).wasm?._pthread_self ? "threaded" : "single-threaded";

  for (const c of cases) {
    const { m, n } = c;
    const kk = c.k;
    const flop = 2 * m * n * kk; // one multiply and one add per (i, j, p)
    const aData = rand(m * kk, 1 + m + kk);
    const bData = rand(kk * n, 7 + n);
    // Leading dimensions of the stored matrices.
    const lda = c.variant === "tn" ? m : kk; // A[M,K] or A[K,M]
    const ldb = c.variant === "nt" ? kk : n; // B[K,N] or B[N,K]
    const kernel = c.variant === "nn" ? k.f32_gemm_nn : c.variant === "nt" ? k.f32_gemm_nt : k.f32_gemm_tn;
    const scalar = c.variant === "nn" ? k.f32_gemm_nn_scalar : c.variant === "nt" ? k.f32_gemm_nt_scalar : k.f32_gemm_tn_scalar;

    const pa = e.allocator.alloc(aData.length * 4);
    const pb = e.allocator.alloc(bData.length * 4);
    const pc = e.allocator.alloc(m * n * 4);
    const pref = e.allocator.alloc(m * n * 4);
    e.f32().set(aData, pa / 4);
    e.f32().set(bData, pb / 4);

    // 1. Check against the reference, then time.
    kernel(pc, pa, pb, 0, m, n, kk, lda, ldb, n, 0);
    scalar(pref, pa, pb, 0, m, n, kk, lda, ldb, n, 0);
    const got = e.f32().slice(pc / 4, pc / 4 + m * n);
    const ref = e.f32().slice(pref / 4, pref / 4 + m * n);
    const { diff } = maxAbsDiff(got, ref);
    let check = diff === 0 ? "bit-equal" : `DIFF ${diff.toExponential(1)}`;
    const unfold = timeIt(() => kernel(pc, pa, pb, 0, m, n, kk, lda, ldb, n, 0)).ms;

    const row: Row = { c, check, unfold };
    if (c.tfjs) {
      const aShape: [number, number] = c.variant === "tn" ? [kk, m] : [m, kk];
      const bShape: [number, number] = c.variant === "nt" ? [n, kk] : [kk, n];
      for (const backend of ["wasm", "cpu"] as const) {
        await tf.setBackend(backend);
        const ta = tf.tensor2d(aData, aShape);
        const tb = tf.tensor2d(bData, bShape);
        const product = () => tf.matMul(ta, tb, c.variant === "tn", c.variant === "nt");
        const first = product();
        const { diff: tdiff, scale } = maxAbsDiff(first.dataSync(), ref);
        first.dispose();
        // f32 sums of K products in different orders: agree to ~K * eps * |terms|.
        if (!(tdiff <= 1e-5 * kk * Math.max(1, scale))) check += `, tfjs-${backend} off by ${tdiff.toExponential(1)}`;
        const slow = backend === "cpu" && flop > 1e9;
        const t = timeIt(
          () => {
            const out = product();
            out.dataSync();
            out.dispose();
          },
          slow ? { samples: 3, warmupMs: 0, sampleMs: 0 } : {},
        ).ms;
        row[backend] = t;
        ta.dispose();
        tb.dispose();
      }
    }
    rows.push(row);
    for (const p of [pa, pb, pc, pref]) e.allocator.free(p);
  }

  const gflops = (c: Case, ms: number) => (2 * c.m * c.n * c.k) / (ms * 1e6);
  console.log(`\nGEMM, C[M,N] = op(A)·op(B), FLOP = 2*M*N*K, median ms per call (tfjs-wasm: ${wasmThreads}, includes dataSync)\n`);
  printTable(
    ["M x K x N", "op", "check", "Unfold ms", "GFLOP/s", "tfjs-wasm ms", "GFLOP/s", "tfjs-cpu ms", "GFLOP/s", "Unfold/wasm", "note"],
    rows.map(({ c, check, unfold, wasm, cpu }) => [
      `${c.m}x${c.k}x${c.n}`,
      c.variant,
      check,
      fmt(unfold, 3),
      fmt(gflops(c, unfold), 1),
      wasm === undefined ? "-" : fmt(wasm, 3),
      wasm === undefined ? "-" : fmt(gflops(c, wasm), 1),
      cpu === undefined ? "-" : fmt(cpu, 3),
      cpu === undefined ? "-" : fmt(gflops(c, cpu), 1),
      wasm === undefined ? "-" : `${fmt(wasm / unfold, 2)}x`,
      c.note ?? "",
    ]),
  );

  console.log("\nGoals (median GFLOP/s, ratio to tfjs-wasm in this run):");
  let allMet = true;
  for (const [variant, m, kk, n, minGflops, minRatio] of goals) {
    const r = rows.find((x) => x.c.variant === variant && x.c.m === m && x.c.k === kk && x.c.n === n)!;
    const g = gflops(r.c, r.unfold);
    const ratio = r.wasm === undefined ? NaN : r.wasm / r.unfold;
    const met = g >= minGflops && ratio >= minRatio && r.check === "bit-equal";
    allMet &&= met;
    console.log(`  ${variant} ${m}x${kk}x${n}: ${fmt(g, 1)} GFLOP/s (>= ${minGflops}), ${fmt(ratio, 2)}x tfjs-wasm (>= ${minRatio}) ${met ? "met" : "NOT MET"}`);
  }
  if (rows.some((r) => r.check !== "bit-equal")) console.log("  some results did not match their reference: see the check column");
  if (!allMet) process.exitCode = 1;
}
