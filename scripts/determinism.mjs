// Cross-runtime determinism: trains three small models from fixed seeds on generated data
// and prints each one's loss trajectory (every optimizer step) and a hash of its final
// weights. Plain JavaScript importing the BUILT package by path, so the very same file runs
// in Node, Bun, Deno and a browser page (test/runtimes/determinism.html):
//
//   node scripts/determinism.mjs
//   npx bun scripts/determinism.mjs
//   npx deno run scripts/determinism.mjs
//
// test/runtime-determinism.test.ts runs it in all four and requires identical output. The
// output holds nothing that may differ between runtimes (no timings, no runtime name).
import { init, Rng, Sequential, LSTM, GRU, Bidirectional, Embedding, Dense, Dropout, Adam, RMSprop, addingProblem, signProblem, fit } from "../dist/index.js";

/** FNV-1a, 32 bits, over the bytes of every array in order. */
function fnv1a(arrays) {
  let h = 0x811c9dc5;
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** Token sequences whose per-step target is the token read backwards (x[T-1-t]): a task for both directions. */
function reversalTask(n, steps, vocab, seed) {
  const rng = new Rng(seed);
  const x = new Int32Array(n * steps);
  const y = new Int32Array(n * steps);
  for (let s = 0; s < n; s++) {
    for (let t = 0; t < steps; t++) x[s * steps + t] = rng.int(vocab);
    for (let t = 0; t < steps; t++) y[s * steps + t] = x[s * steps + steps - 1 - t];
  }
  return { x: { data: x, shape: [n, steps] }, y: { data: y, shape: [n, steps] } };
}

/**
 * The three runs: 200 optimizer steps each (20 batches of 16 for 10 epochs), with seeded
 * shuffling, dropout masks from the model's RNG, gradient clipping and two optimizers.
 */
const RUNS = [
  {
    name: "lstm-adding",
    data: () => addingProblem(320, 20, 11),
    model: () => new Sequential([new LSTM({ units: 24, returnSequences: false }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 1 }),
    optimizer: () => new Adam({ lr: 1e-2, clipNorm: 1 }),
  },
  {
    name: "gru-sign",
    data: () => signProblem(320, 16, 12),
    model: () => new Sequential([new GRU({ units: 20, layers: 2, dropout: 0.1 }), new Dropout({ rate: 0.2 }), new GRU({ units: 16, returnSequences: false }), new Dense({ units: 2 })], { inputSize: 1, loss: "softmaxCrossEntropy", seed: 2 }),
    optimizer: () => new RMSprop({ lr: 3e-3, clipValue: 0.5 }),
  },
  {
    name: "bidirectional-lstm-stack-reversal",
    data: () => reversalTask(320, 12, 8, 13),
    model: () => new Sequential([new Embedding({ vocab: 8, dim: 8 }), new Bidirectional(new LSTM({ units: 16, layers: 2 })), new Dense({ units: 8 })], { loss: "softmaxCrossEntropy", seed: 3 }),
    optimizer: () => new Adam({ lr: 1e-2, clipNorm: 5 }),
  },
];

const STEPS_SHOWN = [0, 49, 99, 149, 199];

await init();
const results = [];
for (const run of RUNS) {
  const model = run.model();
  const optimizer = run.optimizer();
  const losses = [];
  await fit(model, run.data(), {
    epochs: 10,
    batchSize: 16,
    optimizer,
    onBatchEnd: (_batch, logs) => {
      losses.push(logs.loss);
    },
  });
  const weights = Object.values(model.getWeights());
  const hash = fnv1a(weights);
  const count = weights.reduce((n, w) => n + w.length, 0);
  results.push({ name: run.name, parameters: count, steps: losses.length, weightsFnv1a: hash, losses });
  console.log(`${run.name}: ${count} parameters, ${losses.length} steps, weights fnv1a ${hash}`);
  console.log(`  loss ${STEPS_SHOWN.filter((s) => s < losses.length).map((s) => `[${s + 1}] ${losses[s].toPrecision(6)}`).join("  ")}`);
  model.dispose();
  optimizer.dispose();
}
// Every loss in full (a number prints as the shortest string that reads back to it, by the
// language's own rule, so equal values print equally everywhere), on one line.
console.log(`RESULT ${JSON.stringify(results)}`);
globalThis.unfoldDeterminism = results;
