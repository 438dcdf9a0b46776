// A text classifier over a large vocabulary: Embedding(vocab, 64) → LSTM(128) → last step →
// Dense(2), softmax cross-entropy, Adam; B 32, T 50. One train step (forward, BPTT, Adam
// update) with the embedding updated densely (every row, every step, as nn.Embedding by
// default) and sparsely (`sparse: true`: only the rows of the batch's ids, as
// nn.Embedding(sparse=True) with SparseAdam), against TF.js's tf.layers model in the same
// process. TF.js's wasm backend cannot train an embedding (its gradient needs
// UnsortedSegmentSum, which that backend lacks), so the peer is the cpu backend, and the
// wasm backend's error is printed. The cpu backend's UnsortedSegmentSum runs a few tensor ops
// per row of the table (a mask, a product and a sum for each segment), so its step grows with
// the vocabulary — 170 s at 10,000 rows on this machine — and it is timed (once) at the
// smallest vocabulary only. Before timing: the dense and sparse models compute the
// same loss bit for bit, TF.js the same loss within 1e-4, and one sparse Adam step leaves
// every row the batch did not use as it was.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { Tensor } from "../src/engine/index.js";
import { Dense } from "../src/layers/dense.js";
import { Embedding } from "../src/layers/embedding.js";
import { Loss } from "../src/layers/losses.js";
import { LSTM } from "../src/layers/lstm.js";
import { Sequential } from "../src/models/sequential.js";
import { Adam } from "../src/train/optimizers.js";
import { fmt, ints, printTable, timeInterleaved, transpose } from "./util.js";

const T = 50, B = 32, D = 64, H = 128, C = 2;
const VOCABS = [1_000, 10_000, 100_000];
/** TF.js is timed at this vocabulary only (see above). */
const PEER_VOCAB = 1_000;

function model(vocab: number, sparse: boolean): Sequential {
  return new Sequential([new Embedding({ vocab, dim: D, sparse }), new LSTM({ units: H, returnSequences: false }), new Dense({ units: C })], {
    loss: new Loss("softmaxCrossEntropy", { reduction: "mean" }),
    seed: 1,
  });
}

/** The same network in TF.js with Unfold's weights (Keras LSTM gates i, f, c, o = PyTorch's i, f, g, o; one bias). */
function tfjsModel(vocab: number, w: Record<string, Float32Array>): tf.LayersModel {
  const emb = tf.layers.embedding({ inputDim: vocab, outputDim: D, inputLength: T });
  const lstm = tf.layers.lstm({ units: H, recurrentActivation: "sigmoid" });
  const head = tf.layers.dense({ units: C });
  const m = tf.sequential({ layers: [emb, lstm, head] });
  emb.setWeights([tf.tensor(w["embedding0.weight"], [vocab, D])]);
  const p = (name: string) => w[`lstm0.${name}`];
  lstm.setWeights([
    tf.tensor(transpose(p("weight_ih"), 4 * H, D), [D, 4 * H]),
    tf.tensor(transpose(p("weight_hh"), 4 * H, H), [H, 4 * H]),
    tf.tensor(p("bias_ih").map((v, i) => v + p("bias_hh")[i]), [4 * H]),
  ]);
  head.setWeights([tf.tensor(transpose(w["dense0.weight"], C, H), [H, C]), tf.tensor(w["dense0.bias"], [C])]);
  m.compile({ optimizer: tf.train.adam(1e-3), loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred) });
  return m;
}

async function timeOnce(body: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await body();
  return performance.now() - t0;
}

interface Case {
  vocab: number;
  dense: Sequential;
  sparse: Sequential;
  optDense: Adam;
  optSparse: Adam;
  x: Tensor;
  y: Tensor;
  ids: number[];
  labels: number[];
  check: string;
}

/** Builds the dense and sparse models for one vocabulary and checks them (and TF.js's loss) before anything is timed. */
async function prepare(vocab: number): Promise<Case> {
  const dense = model(vocab, false), sparse = model(vocab, true);
  const ids = ints(T * B, 3 + vocab, vocab); // time-major [T, B]
  const labels = ints(B, 5, C);
  const x = Tensor.fromArray(Int32Array.from(ids), [T, B], "int32");
  const y = Tensor.fromArray(Int32Array.from(labels), [B], "int32");
  const ld = dense.lossAndGradients(x, y), ls = sparse.lossAndGradients(x, y);
  if (!Object.is(ld, ls)) throw new Error(`vocab ${vocab}: sparse loss ${ls} differs from dense ${ld}`);
  // One sparse Adam step moves exactly the rows of the ids seen.
  const before = sparse.getWeights()["embedding0.weight"];
  const probe = new Adam({ lr: 1e-3 });
  probe.step(sparse.params);
  probe.dispose();
  const after = sparse.getWeights()["embedding0.weight"];
  const seen = new Uint8Array(vocab);
  for (const id of ids) seen[id] = 1;
  for (let r = 0; r < vocab; r++) {
    const moved = after.subarray(r * D, (r + 1) * D).some((v, j) => !Object.is(v, before[r * D + j]));
    if (moved !== (seen[r] === 1)) throw new Error(`vocab ${vocab}: row ${r} ${moved ? "moved" : "did not move"} after a sparse step (used: ${seen[r] === 1})`);
  }
  sparse.setWeights({ "embedding0.weight": before });
  // TF.js (cpu) computes the same loss from the same weights.
  await tf.setBackend("cpu");
  const { tx, ty } = tfjsBatch(ids, labels);
  const peer = tfjsModel(vocab, dense.getWeights());
  const theirs = (peer.evaluate(tx, ty) as tf.Scalar).dataSync()[0];
  tf.dispose([tx, ty]);
  peer.dispose();
  const rel = Math.abs(ld - theirs) / Math.abs(theirs);
  if (!(rel < 1e-4)) throw new Error(`vocab ${vocab}: loss ${ld} differs from TF.js ${theirs} (rel ${rel})`);
  return { vocab, dense, sparse, optDense: new Adam({ lr: 1e-3 }), optSparse: new Adam({ lr: 1e-3 }), x, y, ids, labels, check: `loss ≈ tfjs (${rel.toExponential(0)})` };
}

/** TF.js's batch-major ids [B, T] and one-hot labels [B, C]. */
function tfjsBatch(ids: number[], labels: number[]): { tx: tf.Tensor; ty: tf.Tensor } {
  const xBT = new Float32Array(B * T);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) xBT[b * T + t] = ids[t * B + b];
  const yOneHot = new Float32Array(B * C);
  labels.forEach((l, b) => (yOneHot[b * C + l] = 1));
  return { tx: tf.tensor(xBT, [B, T]), ty: tf.tensor(yOneHot, [B, C]) };
}

export async function run(): Promise<void> {
  const cases: Case[] = [];
  for (const vocab of VOCABS) cases.push(await prepare(vocab));
  // Every model of every vocabulary interleaved, so load from elsewhere hits all alike.
  const bodies: Record<string, () => void> = {};
  for (const c of cases) {
    bodies[`dense${c.vocab}`] = () => (c.dense.lossAndGradients(c.x, c.y), c.optDense.step(c.dense.params));
    bodies[`sparse${c.vocab}`] = () => (c.sparse.lossAndGradients(c.x, c.y), c.optSparse.step(c.sparse.params));
  }
  const t = timeInterleaved(bodies, { samples: 15, budgetMs: 20000 });

  const rows: (string | number)[][] = [];
  let wasmError = "";
  for (const c of cases) {
    let cpu = NaN;
    if (c.vocab === PEER_VOCAB) {
      await tf.setBackend("cpu");
      const { tx, ty } = tfjsBatch(c.ids, c.labels);
      const peer = tfjsModel(c.vocab, c.dense.getWeights());
      cpu = await timeOnce(() => peer.trainOnBatch(tx, ty));
      await tf.setBackend("wasm");
      const onWasm = tfjsModel(c.vocab, c.dense.getWeights());
      const w = tfjsBatch(c.ids, c.labels);
      try {
        await onWasm.trainOnBatch(w.tx, w.ty);
        wasmError = "(trained)";
      } catch (e) {
        wasmError = (e as Error).message.split("\n")[0];
      }
      tf.dispose([tx, ty, w.tx, w.ty]);
      peer.dispose();
      onWasm.dispose();
    }
    const dense = t[`dense${c.vocab}`].ms, sparse = t[`sparse${c.vocab}`].ms;
    rows.push([
      `${c.vocab}x${D}`, `${new Set(c.ids).size} of ${c.vocab}`, c.check,
      fmt(dense, 1), fmt(sparse, 1), `${fmt(dense / sparse, 2)}x`, Number.isNaN(cpu) ? "-" : fmt(cpu, 0), Number.isNaN(cpu) ? "-" : `${fmt(cpu / sparse, 0)}x`,
    ]);
    for (const o of [c.optDense, c.optSparse]) o.dispose();
    for (const z of [c.x, c.y]) z.dispose();
    c.dense.dispose();
    c.sparse.dispose();
  }
  console.log(`Embedding → LSTM(${H}) → Dense(${C}), B ${B}, T ${T}, Adam: ms per train step (median; all six timed interleaved).`);
  printTable(["vocab x dim", "rows used", "check", "dense ms", "sparse ms", "sparse vs dense", "tfjs-cpu ms", "vs cpu"], rows);
  console.log(`tfjs-cpu: one step, at vocab ${PEER_VOCAB} only. tfjs-wasm: ${wasmError || "not run"}`);
}
