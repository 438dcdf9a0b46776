// Synthetic tasks the project generates itself, from a seed: no downloads, any size.
import { Rng } from "./rng.js";

/**
 * The adding problem (Hochreiter & Schmidhuber 1997): each step carries a random number in
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
