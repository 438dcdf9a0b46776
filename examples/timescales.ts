// Multiple time scales on the adding problem at T = 200: every sequence is 200 random numbers
// in [0, 1), two of them marked (one in each half), and the target is the sum of the two marked
// numbers — a lag of up to 199 steps. Always predicting the mean scores an MSE of about 0.167.
// One-layer Elman networks of 32 units, trained the same way (Adam, lr 3e-3, clipNorm 1,
// 4 epochs of 20000 sequences), differ only in their recurrence:
//   - plain tanh / plain ReLU: h_t = act(W_ih x_t + W_hh h_{t−1} + b)
//   - trainable leaks: h_t = (1 − α)⊙h_{t−1} + α⊙act(…), one α = sigmoid(θ) per unit, learned,
//     starting spread from 0.001 to 0.1 (time constants 10 to 1000 steps)
//   - time skip 20: h_t also reads h_{t−20} through its own weight matrix
//
//   npx tsx examples/timescales.ts
//
// Takes about a minute on a 2-core machine. With ReLU units the trainable leaks solve the task
// within the first epoch (the units learn long time constants), and the skip connection gets
// there more slowly; with tanh units neither helps in this budget (a tanh unit must saturate to
// ignore the unmarked steps, and gets no useful gradient towards that).
import { init, addingProblem, Sequential, Elman, Dense, Adam, fit, evaluate, type ElmanOptions } from "../src/index.js";

await init();

const steps = 200;
const train = addingProblem(20_000, steps, 6);
const test = addingProblem(2_000, steps, 7);
const variants: [string, Omit<ElmanOptions, "units">][] = [
  ["plain tanh", {}],
  ["plain ReLU", { activation: "relu" }],
  ["tanh + trainable leaks", { leak: "trainable", leakRange: [0.001, 0.1] }],
  ["tanh + time skip 20", { timeSkip: 20 }],
  ["ReLU + trainable leaks", { activation: "relu", leak: "trainable", leakRange: [0.001, 0.1] }],
  ["ReLU + time skip 20", { activation: "relu", timeSkip: 20 }],
  ["ReLU + trainable leaks + time skip 20", { activation: "relu", leak: "trainable", leakRange: [0.001, 0.1], timeSkip: 20 }],
];

for (const [name, options] of variants) {
  const started = performance.now();
  const model = new Sequential([new Elman({ units: 32, returnSequences: false, ...options }), new Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 5 });
  const optimizer = new Adam({ lr: 3e-3, clipNorm: 1 });
  const curve: string[] = [];
  await fit(model, train, { epochs: 4, batchSize: 32, optimizer, validationData: test, onEpochEnd: (_, logs) => void curve.push(logs.valLoss!.toFixed(4)) });
  const { loss } = evaluate(model, test);
  console.log(`${name.padEnd(38)} test MSE ${loss.toFixed(4)}   (after each epoch: ${curve.join(", ")}; ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  const theta = model.getWeights()["elman0.leak_logit"];
  if (theta) {
    // For display only: the learned α = sigmoid(θ) of the units, as time constants 1/α.
    const tau = Array.from(theta, (t) => 1 + Math.exp(-t)).sort((a, b) => a - b);
    console.log(`${"".padEnd(38)} learned time constants 1/α: min ${tau[0].toFixed(1)}, median ${tau[tau.length >> 1].toFixed(1)}, max ${tau[tau.length - 1].toFixed(0)} steps`);
  }
  model.dispose();
  optimizer.dispose();
}
