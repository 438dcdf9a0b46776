import { Tensor, UnfoldError } from "../engine/index.js";
import { Rng } from "../data/rng.js";

export interface GradientCheckInput {
  /** A name for the report, e.g. `lstm0.weight_hh` or `x`. */
  name: string;
  /** The values that get perturbed (restored afterwards). */
  values: Tensor;
  /** The analytic gradient of the loss with respect to `values`, read after `lossAndGrad()`. */
  grad: () => ArrayLike<number>;
}

export interface GradientCheckOptions {
  /** Runs the forward pass and returns the scalar loss. */
  loss: () => number;
  /** Runs forward and backward, so each input's `grad()` holds a fresh gradient; returns the loss. */
  lossAndGrad: () => number;
  inputs: GradientCheckInput[];
  /** Step of the central difference along a ±1 direction. Default 1e-2 (fits float32). */
  epsilon?: number;
  /** Random directions tried per input. Default 2. */
  directions?: number;
  /** Allowed relative error of each directional derivative. Default 1e-2. */
  tolerance?: number;
  /** Allowed absolute error, for derivatives near zero. Default 1e-4 · max(1, |loss|). */
  atol?: number;
  seed?: number;
}

export interface GradientCheckResult {
  name: string;
  direction: number;
  /** ⟨analytic gradient, step⟩ */
  analytic: number;
  /** (L(θ + step) − L(θ − step)) / 2 */
  numeric: number;
  relativeError: number;
  ok: boolean;
}

/**
 * Finite-difference gradient check along random directions: for each input and direction
 * d ∈ {±1}ⁿ, compares the central difference (L(θ+εd) − L(θ−εd))/2 with ⟨∇L, εd⟩, using the
 * perturbation actually stored in float32 on both sides. One check covers every element of
 * an input at once, so a wrong gate or a missing term shows as an O(1) relative error,
 * while the float32 noise of a forward pass stays far below the tolerance.
 */
export function checkGradients(options: GradientCheckOptions): { ok: boolean; results: GradientCheckResult[] } {
  const eps = options.epsilon ?? 1e-2;
  const directions = options.directions ?? 2;
  const tol = options.tolerance ?? 1e-2;
  if (!(eps > 0)) throw new UnfoldError(`checkGradients: epsilon must be > 0, got ${eps}`);
  const rng = new Rng(options.seed ?? 1234);
  const base = options.lossAndGrad();
  const atol = options.atol ?? 1e-4 * Math.max(1, Math.abs(base));
  const grads = options.inputs.map((input) => Float64Array.from(input.grad()));
  const results: GradientCheckResult[] = [];
  options.inputs.forEach((input, idx) => {
    const original = input.values.toFloat32Array();
    const g = grads[idx];
    if (g.length !== original.length) throw new UnfoldError(`checkGradients: gradient of "${input.name}" has ${g.length} values, the input has ${original.length}`);
    for (let d = 0; d < directions; d++) {
      const dir = new Float32Array(original.length);
      for (let i = 0; i < dir.length; i++) dir[i] = rng.next() < 0.5 ? -1 : 1;
      const plus = original.map((v, i) => v + eps * dir[i]);
      const minus = original.map((v, i) => v - eps * dir[i]);
      let analytic = 0;
      for (let i = 0; i < g.length; i++) analytic += (g[i] * (plus[i] - minus[i])) / 2;
      input.values.write(plus);
      const lp = options.loss();
      input.values.write(minus);
      const lm = options.loss();
      input.values.write(original);
      const numeric = (lp - lm) / 2;
      const err = Math.abs(numeric - analytic);
      const scale = Math.max(Math.abs(numeric), Math.abs(analytic));
      results.push({ name: input.name, direction: d, analytic, numeric, relativeError: scale > 0 ? err / scale : 0, ok: err <= tol * scale + atol });
    }
  });
  return { ok: results.every((r) => r.ok), results };
}
