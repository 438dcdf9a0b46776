// A seq2seq train step with Luong attention (B 32, source and target length 20, hidden 256,
// vocabularies of 64, embeddings of 64): embedding → LSTM encoder → LSTM decoder started
// from the encoder's final (h, c) → "general" attention over the encoder outputs →
// h̃ = tanh(W_c [c; h]) → logits, softmax cross-entropy, plain SGD. Unfold against
// TensorFlow.js's wasm backend with the same network built from tf.layers (lstm with
// returnState / initialState, dot, concatenate, dense; tf.softmax), in the same process. Both
// get the same weights and must compute the same loss before anything is timed.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { LSTM } from "../src/layers/lstm.js";
import { Seq2Seq } from "../src/models/seq2seq.js";
import { SGD } from "../src/train/optimizers.js";
import { fmt, ints, printTable, timeAgainstAsync, transpose } from "./util.js";

const B = 32, S = 20, T = 20, H = 256, E = 64, V = 64;

/**
 * FLOPs of one train step, forward products ×3 (backward does two per forward product):
 * encoder and decoder LSTMs 2·L·B·(E·4H + H·4H) each, keys 2·S·B·H·H, scores and context
 * 2·T·S·B·H each, attentional layer 2·T·B·2H·H, output 2·T·B·H·V.
 */
function trainFlops(): number {
  const lstm = (L: number) => 2 * L * B * (E * 4 * H + H * 4 * H);
  const forward = lstm(S) + lstm(T) + 2 * S * B * H * H + 2 * (2 * T * S * B * H) + 2 * T * B * 2 * H * H + 2 * T * B * H * V;
  return 3 * forward;
}

/**
 * The same network from tf.layers, with Unfold's weights (Keras kernels are [in, out]; LSTM
 * gates i, f, c, o = PyTorch's i, f, g, o; one bias), run eagerly under a custom training
 * step (tf.model cannot wire an LSTM's initialState from another layer's returned states).
 */
function tfjsModel(w: Record<string, Float32Array>, src: tf.Tensor, tgt: tf.Tensor, labels: tf.Tensor): { loss: () => tf.Scalar; step: () => number } {
  // The wasm backend has no gradient kernel for tf.layers.embedding's gather (UnsortedSegmentSum):
  // the embeddings are one-hot inputs through a bias-free Dense, the same product.
  const srcEmbedding = tf.layers.dense({ units: E, useBias: false });
  const tgtEmbedding = tf.layers.dense({ units: E, useBias: false });
  const encoder = tf.layers.lstm({ units: H, returnSequences: true, returnState: true, recurrentActivation: "sigmoid" });
  const decoder = tf.layers.lstm({ units: H, returnSequences: true, recurrentActivation: "sigmoid" });
  const keysLayer = tf.layers.dense({ units: H, useBias: false });
  const attentional = tf.layers.dense({ units: H, activation: "tanh" });
  const output = tf.layers.dense({ units: V });
  const scoreDot = tf.layers.dot({ axes: [2, 2] });
  const contextDot = tf.layers.dot({ axes: [2, 1] });
  const concat = tf.layers.concatenate();
  const loss = () => {
    const [memory, h, c] = encoder.apply(srcEmbedding.apply(src)) as tf.Tensor[];
    const decoded = decoder.apply(tgtEmbedding.apply(tgt), { initialState: [h, c] }) as tf.Tensor;
    const keys = keysLayer.apply(memory) as tf.Tensor;
    const weights = tf.softmax(scoreDot.apply([decoded, keys]) as tf.Tensor); // [B, T, S], over S
    const context = contextDot.apply([weights, memory]) as tf.Tensor; // [B, T, H]
    const logits = output.apply(attentional.apply(concat.apply([context, decoded]))) as tf.Tensor;
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  };
  tf.tidy(() => loss()); // builds every layer's weights
  const lstmWeights = (p: string) => [
    tf.tensor(transpose(w[`${p}.weight_ih`], 4 * H, E), [E, 4 * H]),
    tf.tensor(transpose(w[`${p}.weight_hh`], 4 * H, H), [H, 4 * H]),
    tf.tensor(w[`${p}.bias_ih`].map((v, i) => v + w[`${p}.bias_hh`][i]), [4 * H]),
  ];
  srcEmbedding.setWeights([tf.tensor(w["source_embedding.weight"], [V, E])]);
  tgtEmbedding.setWeights([tf.tensor(w["target_embedding.weight"], [V, E])]);
  encoder.setWeights(lstmWeights("encoder"));
  decoder.setWeights(lstmWeights("decoder"));
  // keys = m·Wᵀ with W [H_query, H_memory]: the Dense kernel [in, out] is Wᵀ.
  keysLayer.setWeights([tf.tensor(transpose(w["attention.weight"], H, H), [H, H])]);
  attentional.setWeights([tf.tensor(transpose(w["attention_output.weight"], H, 2 * H), [2 * H, H]), tf.tensor(w["attention_output.bias"], [H])]);
  output.setWeights([tf.tensor(transpose(w["output.weight"], V, H), [H, V]), tf.tensor(w["output.bias"], [V])]);
  const optimizer = tf.train.sgd(0.01);
  const step = () => {
    const value = optimizer.minimize(loss, true)!;
    const v = value.dataSync()[0];
    value.dispose();
    return v;
  };
  return { loss, step };
}

/** Interleaved timing (a few of our steps, then one of theirs, per round): the median of the rounds' ratios holds under outside load. */
export async function run(): Promise<void> {
  // Ids 0 and 1 are the begin and end symbols; sources of S tokens, targets of T − 1 (+ end).
  const BOS = 0, EOS = 1;
  const model = new Seq2Seq({
    sourceVocab: V, targetVocab: V, embedding: E, bos: BOS, eos: EOS, seed: 1, reduction: "mean",
    encoder: new LSTM({ units: H }), decoder: new LSTM({ units: H }), attention: { score: "general" },
  });
  const sIds = ints(B * S, 7, V), tIds = ints(B * (T - 1), 9, V - 2).map((v) => v + 2);
  const data = {
    source: Array.from({ length: B }, (_, b) => sIds.slice(b * S, (b + 1) * S)),
    target: Array.from({ length: B }, (_, b) => tIds.slice(b * (T - 1), (b + 1) * (T - 1))),
  };
  // TF.js: batch-major ids, decoder input = bos + target, one-hot labels = target + eos.
  const decIn = new Float32Array(B * T), labels = new Float32Array(B * T * V);
  data.target.forEach((t, b) => {
    decIn[b * T] = BOS;
    t.forEach((v, i) => (decIn[b * T + i + 1] = v));
    [...t, EOS].forEach((v, i) => (labels[(b * T + i) * V + v] = 1));
  });
  await tf.setBackend("wasm");
  const oneHot = (ids: ArrayLike<number>, steps: number) => tf.tidy(() => tf.oneHot(tf.tensor(Array.from(ids), [B, steps], "int32"), V).toFloat());
  const tSrc = oneHot(sIds, S), tTgt = oneHot(decIn, T), tY = tf.tensor(labels, [B, T, V]);
  const peer = tfjsModel(model.getWeights(), tSrc, tTgt, tY);

  // Check: same weights, same loss, before timing.
  const ours = model.computeLoss(data);
  const theirs = tf.tidy(() => peer.loss().dataSync()[0]);
  const rel = Math.abs(ours - theirs) / Math.abs(theirs);
  if (!(rel < 1e-4)) throw new Error(`seq2seq: loss ${ours} differs from TF.js ${theirs} (rel ${rel})`);

  const sgd = new SGD({ lr: 0.01 });
  const step = () => {
    model.lossAndGradients(data);
    sgd.step(model.params);
  };
  const times = await timeAgainstAsync(step, async () => peer.step(), 7);
  const ratio = times.ratio;
  printTable(
    ["workload", "B/S/T/H", "check", "unfold ms", "GFLOP/s", "tfjs-wasm ms", "vs wasm"],
    [["seq2seq + Luong attention train", `${B}/${S}/${T}/${H}`, `loss ≈ tfjs (${rel.toExponential(0)})`, fmt(times.ours, 1), fmt(trainFlops() / times.ours / 1e6, 1), fmt(times.theirs, 0), `${fmt(ratio, 1)}x`]],
  );
  tf.dispose([tSrc, tTgt, tY]);
  sgd.dispose();
  model.dispose();
}
