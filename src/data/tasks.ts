// Synthetic tasks the project generates itself, from a seed: no downloads, any size.
import { Rng } from "./rng.js";

/**
 * The adding problem, in the form later papers use (after Hochreiter & Schmidhuber 1997): each step carries a random number in
 * [0, 1) and a marker; exactly two steps are marked (one in each half of the sequence), and
 * the target is the sum of their numbers. Always predicting 1 scores an MSE of about 0.167,
 * so learning shows as an MSE far below that; it needs memory across the whole sequence.
 * Returns batch-major x [n, T, 2] and y [n, 1].
 */
export function addingProblem(n: number, steps: number, seed = 0): { x: { data: Float32Array; shape: number[] }; y: { data: Float32Array; shape: number[] } } {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`addingProblem: n must be a whole number >= 1, got ${n}`);
  if (!Number.isInteger(steps) || steps < 2) throw new RangeError(`addingProblem: steps must be a whole number >= 2, got ${steps}`);
  const rng = new Rng(seed);
  const x = new Float32Array(n * steps * 2);
  const y = new Float32Array(n);
  const half = steps >> 1;
  for (let s = 0; s < n; s++) {
    const a = rng.int(half);
    const b = half + rng.int(steps - half);
    let sum = 0;
    for (let t = 0; t < steps; t++) {
      const v = Math.fround(rng.next());
      x[(s * steps + t) * 2] = v;
      if (t === a || t === b) {
        x[(s * steps + t) * 2 + 1] = 1;
        sum += v;
      }
    }
    y[s] = sum;
  }
  return { x: { data: x, shape: [n, steps, 2] }, y: { data: y, shape: [n, 1] } };
}

/**
 * Sequence classification: each step carries a number drawn uniformly from [-1, 1), and the
 * class of the sequence is the sign of their sum (1 when the sum is positive, else 0). The
 * two classes are about equally common, so guessing scores about 50%; to do better the model
 * must integrate the whole sequence. Returns batch-major x [n, T, 1] and class ids y [n].
 */
export function signProblem(n: number, steps: number, seed = 0): { x: { data: Float32Array; shape: number[] }; y: { data: Int32Array; shape: number[] } } {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`signProblem: n must be a whole number >= 1, got ${n}`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`signProblem: steps must be a whole number >= 1, got ${steps}`);
  const rng = new Rng(seed);
  const x = new Float32Array(n * steps);
  const y = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    let sum = 0;
    for (let t = 0; t < steps; t++) {
      const v = Math.fround(rng.uniform(-1, 1));
      x[s * steps + t] = v;
      sum += v;
    }
    y[s] = sum > 0 ? 1 : 0;
  }
  return { x: { data: x, shape: [n, steps, 1] }, y: { data: y, shape: [n] } };
}
