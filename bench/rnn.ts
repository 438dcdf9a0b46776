// Recurrent workloads W1–W5 of the recurrent-layers issue, Unfold against TensorFlow.js
// (wasm and cpu backends) built the same way, in the same process. Each workload first
// copies Unfold's weights into the TF.js model and checks that both compute the same loss
// (or outputs), then times a train step (forward + BPTT + SGD) or an inference pass.
// Each library is timed on its own, as a user runs it: alternating rounds with TF.js (as
// bench/bidir.ts does) was tried, and TF.js's calls in between evict Unfold's weights from the
// caches, which made the small inference workload W3 1.2-1.8x slower than it runs alone.
// The FLOP count of a train step is written out in `trainFlops`.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { Tensor } from "../src/engine/index.js";
import { Dense } from "../src/layers/dense.js";
import { Loss } from "../src/layers/losses.js";
import { LSTM } from "../src/layers/lstm.js";
import { GRU } from "../src/layers/gru.js";
import { Elman } from "../src/layers/elman.js";
import type { RecurrentLayer } from "../src/layers/recurrent.js";
import { Sequential } from "../src/models/sequential.js";
import { fmt, printTable, rand, timeIt, transpose } from "./util.js";

type Cell = "lstm" | "gru" | "elman";
const GATES: Record<Cell, number> = { lstm: 4, gru: 3, elman: 1 };

interface Workload {
  id: string;
  cell: Cell;
  train: boolean;
  T: number;
  B: number;
  I: number;
  H: number;
  /** Output classes of the Dense head (train workloads). */
  V: number;
  /** Issue targets: max median ms, min ratio to tfjs-wasm. */
  targetMs: number;
  minRatio: number;
  /** Reference numbers measured on this machine kind, for the table. */
  pytorchMs?: number;
}

const workloads: Workload[] = [
  { id: "W1 LSTM train", cell: "lstm", train: true, T: 50, B: 32, I: 64, H: 256, V: 64, targetMs: 80, minRatio: 20, pytorchMs: 39.8 },
  { id: "W2 GRU train", cell: "gru", train: true, T: 50, B: 32, I: 64, H: 256, V: 64, targetMs: 70, minRatio: 20 },
  { id: "W5 Elman train", cell: "elman", train: true, T: 50, B: 32, I: 64, H: 256, V: 64, targetMs: 30, minRatio: 20 },
  { id: "W3 LSTM infer B1", cell: "lstm", train: false, T: 100, B: 1, I: 64, H: 256, V: 0, targetMs: 5, minRatio: 6, pytorchMs: 3.4 },
  { id: "W4 LSTM infer B64", cell: "lstm", train: false, T: 100, B: 64, I: 64, H: 256, V: 0, targetMs: 110, minRatio: 20, pytorchMs: 44 },
];

/** FLOPs of one train step: forward GEMMs (input projection, recurrent, head), ×3 for backward. */
function trainFlops(w: Workload): number {
  const G = GATES[w.cell] * w.H;
  const forward = 2 * w.T * w.B * (w.I * G + w.H * G) + (w.train ? 2 * w.T * w.B * w.H * w.V : 0);
  return w.train ? 3 * forward : forward;
}


function makeCell(w: Workload): RecurrentLayer {
  if (w.cell === "lstm") return new LSTM({ units: w.H });
  // TF.js's GRU implements only reset_after = false (Keras' Cho et al. form), so compare that.
  if (w.cell === "gru") return new GRU({ units: w.H, resetAfter: false });
  return new Elman({ units: w.H, activation: "tanh" });
}

/** Reorders PyTorch GRU gate blocks r, z, n (rows of [3H, X]) to Keras' z, r, h. */
function gruToKeras(a: Float32Array, H: number, X: number): Float32Array {
  const out = new Float32Array(a.length);
  out.set(a.subarray(H * X, 2 * H * X), 0);
  out.set(a.subarray(0, H * X), H * X);
  out.set(a.subarray(2 * H * X), 2 * H * X);
  return out;
}

function tfjsModel(w: Workload, weights: Record<string, Float32Array>): tf.LayersModel {
  const { T, I, H, V } = w;
  const common = { units: H, returnSequences: true, inputShape: [T, I] };
  const rnn =
    w.cell === "lstm" ? tf.layers.lstm({ ...common, recurrentActivation: "sigmoid" })
    : w.cell === "gru" ? tf.layers.gru({ ...common, recurrentActivation: "sigmoid" })
    : tf.layers.simpleRNN({ ...common, activation: "tanh" });
  const model = tf.sequential({ layers: [rnn, ...(w.train ? [tf.layers.dense({ units: V })] : [])] });
  const G = GATES[w.cell];
  let wih: Float32Array = weights["cell.weight_ih"], whh: Float32Array = weights["cell.weight_hh"];
  let bias: Float32Array = weights["cell.bias_ih"].map((v, i) => v + weights["cell.bias_hh"][i]);
  if (w.cell === "gru") {
    wih = gruToKeras(wih, H, I);
    whh = gruToKeras(whh, H, H);
    bias = gruToKeras(bias, H, 1);
  }
  rnn.setWeights([tf.tensor(transpose(wih, G * H, I), [I, G * H]), tf.tensor(transpose(whh, G * H, H), [H, G * H]), tf.tensor(bias, [G * H])]);
  if (w.train) model.layers[1].setWeights([tf.tensor(transpose(weights["dense.weight"], V, H), [H, V]), tf.tensor(weights["dense.bias"], [V])]);
  model.compile({ optimizer: tf.train.sgd(0.01), loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred) });
  return model;
}

async function timeAsync(body: () => Promise<unknown>, runs: number): Promise<number> {
  await body(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await body();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

export async function run(): Promise<void> {
  const only = process.env.UNFOLD_BENCH_ONLY?.split(",");
  const rows: (string | number)[][] = [];
  const misses: string[] = [];
  for (const w of workloads) {
    if (only && !only.some((o) => w.id.startsWith(o))) continue;
    const { T, B, I, H, V } = w;
    const cell = makeCell(w);
    const model = new Sequential(w.train ? [cell, new Dense({ units: V })] : [cell], {
      inputSize: I,
      loss: w.train ? new Loss("softmaxCrossEntropy", { reduction: "mean" }) : undefined,
      seed: 1,
    });
    const names = Object.fromEntries(model.params.entries.map((e) => [e.name.replace(/^(lstm|gru|elman)0\./, "cell.").replace(/^dense0\./, "dense."), model.params.read(e.name)]));
    const xData = rand(T * B * I, 7);
    const x = Tensor.fromArray(xData, [T, B, I]);
    const labels = Int32Array.from(rand(T * B, 9), (v) => Math.floor((v + 1) * 0.5 * V) % Math.max(V, 1));
    const y = Tensor.fromArray(labels, [T, B], "int32");
    // TF.js is batch-major: [B, T, I].
    const xBT = new Float32Array(B * T * I);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) xBT.set(xData.subarray((t * B + b) * I, (t * B + b + 1) * I), (b * T + t) * I);
    const yBT = new Float32Array(B * T * V);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) if (V) yBT[(b * T + t) * V + labels[t * B + b]] = 1;

    // Check: same weights, same numbers, in both libraries (wasm backend).
    await tf.setBackend("wasm");
    const peer = tfjsModel(w, names);
    const tx = tf.tensor(xBT, [B, T, I]);
    const ty = w.train ? tf.tensor(yBT, [B, T, V]) : null;
    let check: string;
    if (w.train) {
      const ours = model.lossAndGradients(x, y);
      const theirs = (peer.evaluate(tx, ty!) as tf.Scalar).dataSync()[0];
      const rel = Math.abs(ours - theirs) / Math.abs(theirs);
      if (!(rel < 1e-4)) throw new Error(`${w.id}: loss ${ours} differs from TF.js ${theirs} (rel ${rel})`);
      check = `loss ≈ tfjs (${rel.toExponential(0)})`;
    } else {
      const ours = model.forward(x).toFloat32Array();
      const theirs = (peer.predict(tx) as tf.Tensor).dataSync() as Float32Array;
      let diff = 0;
      for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) diff = Math.max(diff, Math.abs(ours[(t * B + b) * H + j] - theirs[(b * T + t) * H + j]));
      if (!(diff < 1e-4)) throw new Error(`${w.id}: outputs differ from TF.js by ${diff}`);
      check = `out ≈ tfjs (${diff.toExponential(0)})`;
    }

    const unfold = timeIt(() => (w.train ? model.trainStep(x, y, { lr: 0.01 }) : model.forward(x)), { samples: 11, budgetMs: 6000 }).ms;
    const peerTime = async (backend: string, runs: number) => {
      await tf.setBackend(backend);
      const m = tfjsModel(w, names);
      const xx = tf.tensor(xBT, [B, T, I]);
      const yy = w.train ? tf.tensor(yBT, [B, T, V]) : null;
      const ms = await timeAsync(async () => {
        if (w.train) await m.trainOnBatch(xx, yy!);
        else {
          const out = m.predict(xx) as tf.Tensor;
          await out.data();
          out.dispose();
        }
      }, runs);
      tf.dispose([xx, ...(yy ? [yy] : [])]);
      m.dispose();
      return ms;
    };
    const wasm = await peerTime("wasm", w.train ? 3 : 10);
    const cpu = await peerTime("cpu", w.train ? 1 : 3);
    const ratio = wasm / unfold;
    if (unfold > w.targetMs || ratio < w.minRatio) misses.push(`${w.id}: ${fmt(unfold, 1)} ms (target ≤ ${w.targetMs}), ${fmt(ratio, 1)}x tfjs-wasm (target ≥ ${w.minRatio}x)`);
    rows.push([w.id, `${T}x${B}x${I}→${H}`, check, fmt(unfold, 1), fmt(trainFlops(w) / unfold / 1e6, 1), fmt(wasm, 0), fmt(cpu, 0), `${fmt(ratio, 1)}x`, `${fmt(cpu / unfold, 0)}x`, w.pytorchMs ? fmt(w.pytorchMs, 1) : "-"]);
    tf.dispose([tx, ...(ty ? [ty] : [])]);
    peer.dispose();
    x.dispose();
    y.dispose();
    model.dispose();
  }
  printTable(["workload", "TxBxI→H", "check", "unfold ms", "GFLOP/s", "tfjs-wasm ms", "tfjs-cpu ms", "vs wasm", "vs cpu", "PyTorch ms*"], rows);
  console.log("* native PyTorch, one thread, measured once on this machine kind (not in this run).");
  if (misses.length) console.log(`targets missed:\n  ${misses.join("\n  ")}`);
}
