// Orthogonal init: the Householder QR of the wasm core (assembly/linalg.ts) behind
// `orthogonal()`, and what a user waits for because of it — constructing a big LSTM, whose
// weight_hh is four orthogonal H x H blocks per layer. First checked (every block's rows
// orthonormal), then timed: one H x H block alone (ms and GFLOP/s, with the FLOP of LAPACK's
// dgeqrf + dorgqr for a p x s matrix: 2s²(p - s/3) each, so 8n³/3 for a square one), and the
// construction of LSTM(512) and LSTM(1024, layers 2), whose first call in the process (cold:
// the engine still tiering the kernels up) is printed beside the median.
import { Rng } from "../src/data/rng.js";
import { orthogonal } from "../src/layers/init.js";
import { LSTM, Sequential } from "../src/index.js";
import { fmt, printTable, timeIt } from "./util.js";

const qrFlop = (p: number, s: number) => 2 * 2 * s * s * (p - s / 3);

/** Largest |W Wᵀ - I| over the rows of each of the `blocks` [n, n] blocks of w. */
function orthogonalityError(w: Float32Array, blocks: number, n: number): number {
  let worst = 0;
  for (let b = 0; b < blocks; b++) {
    for (let r = 0; r < n; r++) {
      for (let t = r; t < n; t++) {
        let dot = 0;
        for (let c = 0; c < n; c++) dot += w[(b * n + r) * n + c] * w[(b * n + t) * n + c];
        worst = Math.max(worst, Math.abs(dot - (r === t ? 1 : 0)));
      }
    }
  }
  return worst;
}

function construct(units: number, layers: number): number {
  const t0 = performance.now();
  const model = new Sequential([new LSTM({ units, layers })], { inputSize: 64, seed: 1 });
  const ms = performance.now() - t0;
  model.dispose();
  return ms;
}

export async function run(): Promise<void> {
  // Check: orthonormal blocks, to float32 accuracy.
  for (const n of [17, 64, 256]) {
    const err = orthogonalityError(orthogonal(4)([4 * n, n], new Rng(n)), 4, n);
    if (!(err < 1e-5 * Math.sqrt(n))) throw new Error(`orthogonal(4) of [${4 * n}, ${n}]: |W Wᵀ - I| = ${err}`);
    console.log(`check: orthogonal(4) of [${4 * n}, ${n}]: max |W Wᵀ - I| = ${err.toExponential(1)}`);
  }

  const rows: (string | number)[][] = [];
  const cold512 = construct(512, 1);
  const cold1024 = construct(1024, 2);
  for (const n of [256, 512, 1024]) {
    const ms = timeIt(() => orthogonal()([n, n], new Rng(1)), n >= 1024 ? { samples: 5, warmupMs: 0, sampleMs: 0 } : {}).ms;
    rows.push([`orthogonal() [${n}, ${n}] (Gaussian draws + QR + Q)`, "-", fmt(ms, 1), fmt(qrFlop(n, n) / (ms * 1e6), 2)]);
  }
  const few = { samples: 3, warmupMs: 0, sampleMs: 0 };
  rows.push(["new Sequential([LSTM(512)]), inputSize 64", fmt(cold512, 0), fmt(timeIt(() => construct(512, 1), few).ms, 0), "-"]);
  rows.push(["new Sequential([LSTM(1024, layers 2)]), inputSize 64", fmt(cold1024, 0), fmt(timeIt(() => construct(1024, 2), few).ms, 0), "-"]);
  printTable(["what", "first ms", "median ms", "GFLOP/s"], rows);
}
