// A 2-layer bidirectional LSTM (B 32, T 50, input 64, hidden 128 each way, layer 2 reading
// both directions of layer 1, as PyTorch's bidirectional=True, num_layers=2) with a Dense
// head and softmax cross-entropy: one train step (forward + BPTT + SGD), Unfold against
// TensorFlow.js's wasm backend running tf.layers.bidirectional over two stacked LSTMs
// (recurrentActivation 'sigmoid'), in the same process. Both get the same weights and must
// compute the same loss before anything is timed. Issue target: ≥ 20× tfjs-wasm.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { Tensor } from "../src/engine/index.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Dense } from "../src/layers/dense.js";
import { Loss } from "../src/layers/losses.js";
import { LSTM } from "../src/layers/lstm.js";
import { Sequential } from "../src/models/sequential.js";
import { fmt, printTable, rand, timeAgainstAsync, transpose } from "./util.js";

const T = 50, B = 32, I = 64, H = 128, V = 64, LAYERS = 2;
const MIN_RATIO = 20;

/**
 * FLOPs of one train step: per layer and direction the input projection (2·T·B·I_l·4H) and
 * the recurrent products (2·T·B·H·4H), with I_0 = I and I_1 = 2H; the head 2·T·B·2H·V; the
 * whole ×3 for backward (two products per forward product).
 */
function trainFlops(): number {
  let forward = 2 * T * B * 2 * H * V;
  for (let l = 0; l < LAYERS; l++) forward += 2 * 2 * T * B * ((l === 0 ? I : 2 * H) * 4 * H + H * 4 * H);
  return 3 * forward;
}


/**
 * The same network in TF.js, with Unfold's weights: Keras' LSTM gates i, f, c, o are
 * PyTorch's i, f, g, o, kernels are transposed, the two biases are one. A Bidirectional
 * layer's weights are its forward layer's, then its backward layer's.
 */
function tfjsModel(w: Record<string, Float32Array>): tf.LayersModel {
  const lstm = () => tf.layers.lstm({ units: H, returnSequences: true, recurrentActivation: "sigmoid" });
  const levels = [0, 1].map((l) => tf.layers.bidirectional({ layer: lstm() as tf.RNN, mergeMode: "concat", ...(l === 0 ? { inputShape: [T, I] } : {}) }));
  const head = tf.layers.dense({ units: V });
  const model = tf.sequential({ layers: [...levels, head] });
  levels.forEach((level, l) => {
    const In = l === 0 ? I : 2 * H;
    const direction = (suffix: string) => {
      const p = (name: string) => w[`bidirectional0.${name}_l${l}${suffix}`];
      return [
        tf.tensor(transpose(p("weight_ih"), 4 * H, In), [In, 4 * H]),
        tf.tensor(transpose(p("weight_hh"), 4 * H, H), [H, 4 * H]),
        tf.tensor(p("bias_ih").map((v, i) => v + p("bias_hh")[i]), [4 * H]),
      ];
    };
    level.setWeights([...direction(""), ...direction("_reverse")]);
  });
  head.setWeights([tf.tensor(transpose(w["dense0.weight"], V, 2 * H), [2 * H, V]), tf.tensor(w["dense0.bias"], [V])]);
  model.compile({ optimizer: tf.train.sgd(0.01), loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred) });
  return model;
}

/**
 * Times both contenders interleaved — a round is a few of our steps, then one TF.js step —
 * so a burst of outside load on this shared machine slows both alike; the ratio printed is
 * the median of the rounds' ratios (see timeAgainstAsync), beside each side's median time.
 */
export async function run(): Promise<void> {
  const model = new Sequential([new Bidirectional(new LSTM({ units: H, layers: LAYERS })), new Dense({ units: V })], {
    inputSize: I,
    loss: new Loss("softmaxCrossEntropy", { reduction: "mean" }),
    seed: 1,
  });
  const weights = model.getWeights();
  const xData = rand(T * B * I, 7);
  const x = Tensor.fromArray(xData, [T, B, I]);
  const labels = Int32Array.from(rand(T * B, 9), (v) => Math.floor((v + 1) * 0.5 * V) % V);
  const y = Tensor.fromArray(labels, [T, B], "int32");
  // TF.js is batch-major: [B, T, I], one-hot targets [B, T, V].
  const xBT = new Float32Array(B * T * I);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) xBT.set(xData.subarray((t * B + b) * I, (t * B + b + 1) * I), (b * T + t) * I);
  const yBT = new Float32Array(B * T * V);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) yBT[(b * T + t) * V + labels[t * B + b]] = 1;

  // Check: same weights, same loss (wasm backend), before timing anything.
  await tf.setBackend("wasm");
  const peer = tfjsModel(weights);
  const tx = tf.tensor(xBT, [B, T, I]);
  const ty = tf.tensor(yBT, [B, T, V]);
  const ours = model.lossAndGradients(x, y);
  const theirs = (peer.evaluate(tx, ty) as tf.Scalar).dataSync()[0];
  const rel = Math.abs(ours - theirs) / Math.abs(theirs);
  if (!(rel < 1e-4)) throw new Error(`bidirectional LSTM: loss ${ours} differs from TF.js ${theirs} (rel ${rel})`);

  const times = await timeAgainstAsync(() => model.trainStep(x, y, { lr: 0.01 }), () => peer.trainOnBatch(tx, ty), 15);
  const unfold = times.ours, wasm = times.theirs;
  const ratio = times.ratio;
  printTable(
    ["workload", "TxBxI→H", "check", "unfold ms", "GFLOP/s", "tfjs-wasm ms", "vs wasm"],
    [["BiLSTM x2 train", `${T}x${B}x${I}→2x${H}`, `loss ≈ tfjs (${rel.toExponential(0)})`, fmt(unfold, 1), fmt(trainFlops() / unfold / 1e6, 1), fmt(wasm, 0), `${fmt(ratio, 1)}x`]],
  );
  if (ratio < MIN_RATIO) console.log(`target missed: ${fmt(ratio, 1)}x tfjs-wasm (target ≥ ${MIN_RATIO}x)`);
  tf.dispose([tx, ty]);
  peer.dispose();
  x.dispose();
  y.dispose();
  model.dispose();
}
