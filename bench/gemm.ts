// GEMM: Unfold's SIMD kernels against TensorFlow.js matMul (wasm and cpu backends), in the
// same process. Each case is first checked (Unfold against its scalar twin, which the SIMD
// kernels match bit for bit; TF.js against that reference within f32 tolerance), then timed:
// median ms per call, and GFLOP/s with FLOP = 2*M*N*K. Unfold and tfjs-wasm are timed
// interleaved, sample by sample, so that load from elsewhere on the machine hits both alike.
//
// Two arrangements of the same product. TF.js's wasm backend hands a matMul to XNNPACK as a
// fully-connected operator that it caches per B tensor (tfjs-backend-wasm's
// batch_mat_mul_impl.cc, keyed by B's tensor id): B is packed on the first call and every
// later call with the same B runs on the packed copy. The timed TF.js body reuses one B, so
// it measures that. Unfold's `np` rows are the same arrangement (f32_gemm_pack_b once, then
// f32_gemm_np per call; the packing is not timed, as it is not on TF.js's side); `nn` rows
// pack B inside every call, which is what a one-off product costs. Both are printed.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { engine } from "../src/engine/index.js";
import { fmt, maxAbsDiff, printTable, rand, timeInterleaved, timeIt } from "./util.js";

type Variant = "nn" | "np" | "nt" | "tn";

interface Case {
  variant: Variant;
  m: number;
  k: number;
  n: number;
  /** Also time TF.js on it. */
  tfjs: boolean;
  note?: string;
}

/** One multiply and one add for every (i, j, p). */
const flopOf = (c: Case) => 2 * c.m * c.n * c.k;
const gflops = (c: Case, ms: number) => flopOf(c) / (ms * 1e6);

// M x K x N. The shapes first (nn and nt), then the RNN library's big ones.
const cases: Case[] = [
  { variant: "nn", m: 256, k: 256, n: 256, tfjs: true },
  { variant: "nt", m: 256, k: 256, n: 256, tfjs: true },
  { variant: "nn", m: 1024, k: 1024, n: 1024, tfjs: true },
  { variant: "nt", m: 1024, k: 1024, n: 1024, tfjs: true },
  { variant: "np", m: 256, k: 256, n: 256, tfjs: true, note: "B packed once, as TF.js caches it" },
  { variant: "nn", m: 32, k: 256, n: 1024, tfjs: true, note: "recurrent step, B=32, H=256" },
  { variant: "np", m: 32, k: 256, n: 1024, tfjs: true, note: "B packed once (how a layer runs a step)" },
  { variant: "nt", m: 32, k: 256, n: 1024, tfjs: true },
  { variant: "nn", m: 1, k: 256, n: 1024, tfjs: true, note: "recurrent step, B=1" },
  { variant: "np", m: 1, k: 256, n: 1024, tfjs: true, note: "B packed once (how a layer runs a step)" },
  { variant: "nt", m: 1, k: 256, n: 1024, tfjs: true },
  { variant: "nn", m: 32, k: 1024, n: 256, tfjs: true, note: "backward step, dgates·W_hh" },
  { variant: "nt", m: 1600, k: 64, n: 1024, tfjs: true, note: "input projection X·W_ihᵀ" },
  { variant: "tn", m: 1024, k: 1600, n: 64, tfjs: true, note: "weight gradient dGatesᵀ·X" },
];

/**
 * The done-when: [M, K, N, minimum median GFLOP/s, minimum ratio to tfjs-wasm], judged
 * on `np`, the arrangement TF.js's timed calls run in (B packed once); `nn` is printed beside it.
 */
const goals: [number, number, number, number, number][] = [
  [256, 256, 256, 40, 1.5],
  [32, 256, 1024, 40, 1.5],
  [1, 256, 1024, 15, 1.5],
];


interface Row {
  c: Case;
  /** Unfold matched its scalar reference bit for bit. */
  exact: boolean;
  /** What did not check out, if anything. */
  problems: string[];
  /** Median ms per call. */
  unfold: number;
  wasm?: number;
  cpu?: number;
}

/**
 * Runs every kernel path and TF.js's matMul for a while before the first measurement. Both
 * wasm modules start in V8's baseline compiler and move to the optimizing one as they run;
 * without this the first case in the table was measured partly before that (256³ at 34
 * GFLOP/s first in the table, 53 later on the same code).
 */
function warmUpAll(): void {
  const e = engine(), k = e.k, n = 256;
  const pa = e.allocator.alloc(n * n * 4), pb = e.allocator.alloc(n * n * 4), pc = e.allocator.alloc(n * n * 4), pp = e.allocator.alloc(n * n * 4);
  e.f32().set(rand(n * n, 1), pa / 4);
  e.f32().set(rand(n * n, 2), pb / 4);
  const ta = tf.tensor2d(rand(n * n, 1), [n, n]), tb = tf.tensor2d(rand(n * n, 2), [n, n]);
  const t0 = performance.now();
  while (performance.now() - t0 < 1500) {
    for (const m of [1, 32, n]) {
      k.f32_gemm_nn(pc, pa, pb, 0, m, n, n, n, n, n, 0);
      k.f32_gemm_nt(pc, pa, pb, 0, m, n, n, n, n, n, 0);
      k.f32_gemm_tn(pc, pa, pb, 0, m, n, n, m, n, n, 0);
      k.f32_gemm_pack_b(pp, pb, n, n, n, 0);
      k.f32_gemm_np(pc, pa, pp, 0, m, n, n, n, n, 0);
    }
    tf.tidy(() => tf.matMul(ta, tb).dataSync());
  }
  tf.dispose([ta, tb]);
  for (const p of [pa, pb, pc, pp]) e.allocator.free(p);
}

export async function run(): Promise<void> {
  const e = engine();
  const k = e.k;
  const rows: Row[] = [];

  // The wasm backend (XNNPACK) is what Unfold competes with; cpu is the plain-JS baseline.
  await tf.setBackend("wasm");
  await tf.ready();
  const wasmThreads = (await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")) ? "multi-threaded" : "single-threaded";
  const wasmSimd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) ? "SIMD" : "no SIMD";

  warmUpAll();
  for (const c of cases) {
    const { m, n } = c;
    const kk = c.k;
    const aData = rand(m * kk, 1 + m + kk);
    const bData = rand(kk * n, 7 + n);
    const lda = c.variant === "tn" ? m : kk; // A[M,K], or A[K,M] for tn
    const ldb = c.variant === "nt" ? kk : n; // B[K,N], or B[N,K] for nt
    const scalar = c.variant === "nt" ? k.f32_gemm_nt_scalar : c.variant === "tn" ? k.f32_gemm_tn_scalar : k.f32_gemm_nn_scalar;

    const pa = e.allocator.alloc(aData.length * 4);
    const pb = e.allocator.alloc(bData.length * 4);
    const pc = e.allocator.alloc(m * n * 4);
    const pref = e.allocator.alloc(m * n * 4);
    e.f32().set(aData, pa / 4);
    e.f32().set(bData, pb / 4);
    // np: B packed once, before anything is checked or timed.
    const packed = c.variant === "np" ? e.allocator.alloc(Math.ceil(n / 16) * 16 * kk * 4) : 0;
    if (packed) k.f32_gemm_pack_b(packed, pb, n, kk, ldb, 0);

    // 1. Check Unfold against its scalar twin.
    const unfoldCall =
      c.variant === "np" ? () => k.f32_gemm_np(pc, pa, packed, 0, m, n, kk, lda, n, 0)
      : c.variant === "nn" ? () => k.f32_gemm_nn(pc, pa, pb, 0, m, n, kk, lda, ldb, n, 0)
      : c.variant === "nt" ? () => k.f32_gemm_nt(pc, pa, pb, 0, m, n, kk, lda, ldb, n, 0)
      : () => k.f32_gemm_tn(pc, pa, pb, 0, m, n, kk, lda, ldb, n, 0);
    unfoldCall();
    scalar(pref, pa, pb, 0, m, n, kk, lda, ldb, n, 0);
    const ref = e.f32().slice(pref / 4, pref / 4 + m * n);
    const { diff } = maxAbsDiff(e.f32().slice(pc / 4, pc / 4 + m * n), ref);
    const row: Row = { c, exact: diff === 0, problems: diff === 0 ? [] : [`Unfold off by ${diff.toExponential(1)}`], unfold: NaN };

    if (!c.tfjs) {
      row.unfold = timeIt(unfoldCall).ms;
    } else {
      // TF.js on the current backend: check its result, return the body to time.
      const tfjsBody = (backend: string) => {
        const ta = tf.tensor2d(aData, c.variant === "tn" ? [kk, m] : [m, kk]);
        const tb = tf.tensor2d(bData, c.variant === "nt" ? [n, kk] : [kk, n]);
        const product = () => tf.matMul(ta, tb, c.variant === "tn", c.variant === "nt");
        const first = product();
        const { diff: tdiff, scale } = maxAbsDiff(first.dataSync(), ref);
        first.dispose();
        // f32 sums of K products in another order agree to about K * eps * |terms|.
        if (!(tdiff <= 1e-5 * kk * Math.max(1, scale))) row.problems.push(`tfjs-${backend} off by ${tdiff.toExponential(1)}`);
        const body = () => {
          const out = product();
          out.dataSync(); // until then the result is not where the caller can read it
          out.dispose();
        };
        return { body, dispose: () => (ta.dispose(), tb.dispose()) };
      };
      // 2. Unfold and tfjs-wasm, interleaved.
      await tf.setBackend("wasm");
      const w = tfjsBody("wasm");
      const t = timeInterleaved({ unfold: unfoldCall, wasm: w.body });
      w.dispose();
      row.unfold = t.unfold.ms;
      row.wasm = t.wasm.ms;
      // 3. tfjs-cpu: slow, so few samples for the big shapes.
      await tf.setBackend("cpu");
      const cpu = tfjsBody("cpu");
      row.cpu = timeIt(cpu.body, flopOf(c) > 1e9 ? { samples: 3, warmupMs: 0, sampleMs: 0 } : { samples: 7 }).ms;
      cpu.dispose();
    }
    rows.push(row);
    for (const p of [pa, pb, pc, pref, ...(packed ? [packed] : [])]) e.allocator.free(p);
  }

  console.log(
    `\nGEMM C[M,N] = op(A)·op(B), FLOP = 2*M*N*K, median ms per call. tfjs-wasm (${wasmSimd}, ${wasmThreads}) ` +
      `is timed interleaved with Unfold; TF.js times include dataSync.\n`,
  );
  const cell = (ms: number | undefined, c: Case, what: "ms" | "gflops") =>
    ms === undefined ? "-" : what === "ms" ? fmt(ms, 3) : fmt(gflops(c, ms), 1);
  printTable(
    ["M x K x N", "op", "check", "Unfold ms", "GFLOP/s", "tfjs-wasm ms", "GFLOP/s", "tfjs-cpu ms", "GFLOP/s", "Unfold/wasm", "note"],
    rows.map(({ c, exact, problems, unfold, wasm, cpu }) => [
      `${c.m}x${c.k}x${c.n}`,
      c.variant,
      problems.length ? problems.join("; ") : exact ? "bit-equal" : "?",
      cell(unfold, c, "ms"),
      cell(unfold, c, "gflops"),
      cell(wasm, c, "ms"),
      cell(wasm, c, "gflops"),
      cell(cpu, c, "ms"),
      cell(cpu, c, "gflops"),
      wasm === undefined ? "-" : `${fmt(wasm / unfold, 2)}x`,
      c.note ?? "",
    ]),
  );

  console.log("\nGoals (median GFLOP/s; ratio of medians to tfjs-wasm in this run), judged on np, B packed once as in TF.js's timed calls:");
  for (const [m, kk, n, minGflops, minRatio] of goals) {
    const result = (variant: Variant) => {
      const r = rows.find((x) => x.c.variant === variant && x.c.m === m && x.c.k === kk && x.c.n === n)!;
      const g = gflops(r.c, r.unfold);
      const ratio = r.wasm === undefined ? NaN : r.wasm / r.unfold;
      return { g, ratio, met: r.exact && g >= minGflops && ratio >= minRatio };
    };
    const np = result("np"), nn = result("nn");
    console.log(
      `  ${m}x${kk}x${n}: np ${fmt(np.g, 1)} GFLOP/s (goal >= ${minGflops}), ${fmt(np.ratio, 2)}x tfjs-wasm (goal >= ${minRatio}): ${np.met ? "met" : "NOT met"}` +
        `  [nn, packing B in every call: ${fmt(nn.g, 1)} GFLOP/s, ${fmt(nn.ratio, 2)}x]`,
    );
  }
}
