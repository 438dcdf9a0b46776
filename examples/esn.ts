// Echo state network: one-step-ahead prediction of the Mackey–Glass series (τ = 17), the
// benchmark of Jaeger & Haas (2004). The series is integrated by the project (RK4, dt = 0.1,
// sampled every time unit). A fixed sparse reservoir of 500 tanh units (10 connections per
// unit, spectral radius 0.95) is driven by s_t − 1; only the linear readout is learned, by
// ridge regression in float64 (normal equations, Cholesky), to predict s_{t+1} − 1. Then the
// same readout is learned online with Adam, for comparison.
//
//   npx tsx examples/esn.ts
//
// Takes about 3 s. Prints the NRMSE on the 1000 held-out steps that follow the 3000 training
// steps (√(MSE / variance): 1 is no better than predicting the mean).
import { init, Tensor, Adam, cosineDecay, EchoStateNetwork, mackeyGlass, nrmse } from "../src/index.js";

await init();

const trainSteps = 3000, testSteps = 1000, total = trainSteps + testSteps;
const series = mackeyGlass(total + 1);
const inputs = new Float32Array(total), targets = new Float32Array(total);
for (let t = 0; t < total; t++) {
  inputs[t] = series[t] - 1;
  targets[t] = series[t + 1] - 1;
}
const x = Tensor.fromArray(inputs.subarray(0, trainSteps), [trainSteps, 1, 1]); // [T, B, 1]
const y = Tensor.fromArray(targets.subarray(0, trainSteps), [trainSteps, 1, 1]);
const all = Tensor.fromArray(inputs, [total, 1, 1]);
const options = { inputSize: 1, outputSize: 1, units: 500, degree: 10, spectralRadius: 0.95, inputScaling: 1, biasScaling: 0.2, ridge: 1e-8, washout: 100, seed: 1 };

let started = performance.now();
const esn = new EchoStateNetwork(options);
const { nrmse: trainError } = esn.fit(x, y);
// The reservoir runs over the whole series from the start; the held-out steps follow the training ones.
const prediction = esn.predict(all).toFloat32Array();
const testError = nrmse(prediction.subarray(trainSteps), targets.subarray(trainSteps));
console.log(`ridge readout: spectral radius ${esn.spectralRadius.toFixed(4)}, train NRMSE ${trainError.toExponential(2)}, held-out NRMSE ${testError.toExponential(2)} (${((performance.now() - started) / 1000).toFixed(1)} s)`);

started = performance.now();
const online = new EchoStateNetwork(options);
const epochs = 30, batchSize = 16;
const steps = epochs * Math.ceil((trainSteps - options.washout) / batchSize);
const optimizer = new Adam({ lr: cosineDecay({ lr: 3e-3, totalSteps: steps, minLr: 1e-5 }) });
online.fitOnline(x, y, { optimizer, epochs, batchSize });
const onlinePrediction = online.predict(all).toFloat32Array();
const onlineError = nrmse(onlinePrediction.subarray(trainSteps), targets.subarray(trainSteps));
console.log(`online readout (Adam, ${epochs} epochs): held-out NRMSE ${onlineError.toExponential(2)} (${((performance.now() - started) / 1000).toFixed(1)} s)`);

for (const t of [x, y, all]) t.dispose();
optimizer.dispose();
esn.dispose();
online.dispose();
