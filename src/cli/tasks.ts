// The tasks `unfold train` knows: how to generate each one, which head and loss it needs,
// and how to show what a trained model learned, next to the score of a model that learned
// nothing.
import { SequenceDataset, Tensor, addingProblem, evaluate, signProblem, type LossName, type Sequential } from "../index.js";

export const TASK_NAMES = ["adding", "sign"] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export interface Task {
  /** One line for the help. */
  readonly summary: string;
  readonly features: number;
  /** Units of the Dense head. */
  readonly outputs: number;
  readonly loss: LossName;
  /** The smallest sequence length the generator accepts. */
  readonly minSteps: number;
  generate(n: number, steps: number, seed: number): SequenceDataset;
  /** Lines that show the test score next to the baseline, then a few test sequences. */
  report(model: Sequential, train: SequenceDataset, test: SequenceDataset, examples: number): string[];
}

/** The model's outputs for samples `indices` of `ds`, one row of `model.outputSize` each. */
function predictRows(model: Sequential, ds: SequenceDataset, indices: number[]): Float32Array {
  const shapes = ds.batchShapes(indices.length);
  const xs = new Float32Array(shapes.x.reduce((a, b) => a * b, 1));
  const ys = ds.y instanceof Int32Array ? new Int32Array(indices.length) : new Float32Array(indices.length * ds.targetWidth);
  ds.fillBatch(indices, xs, ys);
  const x = Tensor.fromArray(xs, shapes.x);
  try {
    return model.forward(x).toFloat32Array();
  } finally {
    x.dispose();
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const fixed = (v: number, digits = 3) => v.toFixed(digits);
const signed = (v: number, digits = 2) => (v >= 0 ? "+" : "") + v.toFixed(digits);

const adding: Task = {
  summary: "random numbers in [0, 1), two of them marked; predict the sum of the marked two",
  features: 2,
  outputs: 1,
  loss: "mse",
  minSteps: 2,
  generate: (n, steps, seed) => {
    const { x, y } = addingProblem(n, steps, seed);
    return new SequenceDataset(x, y, "float32");
  },
  report(model, train, test, examples) {
    const mse = evaluate(model, test).loss;
    // A model that learned nothing predicts the mean target; its MSE is the targets' variance (≈ 1/6).
    let mean = 0;
    for (const v of train.y) mean += v;
    mean /= train.size;
    let baseline = 0;
    for (const v of test.y) baseline += (v - mean) ** 2;
    baseline /= test.size;
    const lines = [
      `test MSE   ${mse.toFixed(5)}`,
      `baseline   ${baseline.toFixed(5)}  (always predicting the mean sum, ${mean.toFixed(3)})`,
      "",
      "Test sequences: the two marked numbers, their sum, and the model's answer:",
    ];
    const shown = range(Math.min(examples, test.size));
    const pred = predictRows(model, test, shown);
    const T = test.steps;
    for (const s of shown) {
      const marked: { t: number; v: number }[] = [];
      for (let t = 0; t < T; t++) if (test.x[(s * T + t) * 2 + 1] === 1) marked.push({ t, v: test.x[(s * T + t) * 2] });
      const [a, b] = marked;
      const where = `steps ${String(a.t + 1).padStart(String(T).length)} and ${String(b.t + 1).padStart(String(T).length)}`;
      lines.push(`  ${where}:  ${fixed(a.v)} + ${fixed(b.v)} = ${fixed(test.y[s])}   predicted ${fixed(pred[s])}   (off by ${fixed(Math.abs(pred[s] - test.y[s]))})`);
    }
    return lines;
  },
};

const sign: Task = {
  summary: "random numbers in [-1, 1); predict whether their sum is positive",
  features: 1,
  outputs: 2,
  loss: "softmaxCrossEntropy",
  minSteps: 1,
  generate: (n, steps, seed) => {
    const { x, y } = signProblem(n, steps, seed);
    return new SequenceDataset(x, y, "int32");
  },
  report(model, train, test, examples) {
    const { loss, accuracy } = evaluate(model, test, { metrics: ["accuracy"] });
    // A model that learned nothing always answers the class most common in training.
    let positives = 0;
    for (const v of train.y) positives += v;
    const majority = positives * 2 >= train.size ? 1 : 0;
    let hits = 0;
    for (const v of test.y) if (v === majority) hits++;
    const name = (c: number) => (c === 1 ? "positive" : "negative");
    const lines = [
      `test accuracy   ${(accuracy! * 100).toFixed(1)}%  (cross-entropy ${loss.toFixed(4)})`,
      `baseline        ${((hits / test.size) * 100).toFixed(1)}%  (always answering "${name(majority)}", the most common class)`,
      "",
      "Test sequences: the numbers, their sum, and the model's answer:",
    ];
    const shown = range(Math.min(examples, test.size));
    const logits = predictRows(model, test, shown);
    const T = test.steps;
    const head = Math.min(T, 5);
    for (const s of shown) {
      const values = Array.from(test.x.subarray(s * T, s * T + head), (v) => signed(v)).join(" ") + (T > head ? ` … (${T})` : "");
      let sum = 0;
      for (let t = 0; t < T; t++) sum += test.x[s * T + t];
      const [l0, l1] = [logits[s * 2], logits[s * 2 + 1]];
      const pPositive = 1 / (1 + Math.exp(l0 - l1));
      const guess = pPositive > 0.5 ? 1 : 0;
      const mark = guess === test.y[s] ? "right" : "WRONG";
      lines.push(`  ${values}   sum ${signed(sum)} → ${name(test.y[s])}   predicted ${name(guess)} (p = ${(guess ? pPositive : 1 - pPositive).toFixed(2)}, ${mark})`);
    }
    return lines;
  },
};

export const TASKS: Readonly<Record<TaskName, Task>> = { adding, sign };
