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
  /** ⟨analytic gradient, ε·d⟩ */
  analytic: number;
  /** (L(θ + εd) − L(θ − εd)) / 2, extrapolated */
  numeric: number;
  relativeError: number;
  ok: boolean;
}

/**
 * Finite-difference gradient check along random directions: for each input and direction
 * d ∈ {±1}ⁿ, compares the central difference (L(θ+εd) − L(θ−εd))/2 (Richardson-extrapolated
 * over ε and ε/2) with ⟨∇L, εd⟩. One check covers every element of
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
      // Central differences at steps ε and ε/2, combined by Richardson extrapolation
      // (4·D(ε/2) − D(ε)) / 3: the ε² term, which a ±1 direction over many elements makes
      // large, cancels. Both sides use the perturbation float32 actually stored.
      const central = (step: number) => {
        const plus = original.map((v, i) => v + step * dir[i]);
        const minus = original.map((v, i) => v - step * dir[i]);
        let analytic = 0;
        for (let i = 0; i < g.length; i++) analytic += (g[i] * (plus[i] - minus[i])) / 2;
        input.values.write(plus);
        const lp = options.loss();
        input.values.write(minus);
        const lm = options.loss();
        input.values.write(original);
        // Scale both to a unit step so the two step sizes can be combined.
        return { numeric: (lp - lm) / 2 / step, analytic: analytic / step };
      };
      const big = central(eps);
      const small = central(eps / 2);
      const numeric = ((4 * small.numeric - big.numeric) / 3) * eps;
      const analytic = ((4 * small.analytic - big.analytic) / 3) * eps;
      const err = Math.abs(numeric - analytic);
      const scale = Math.max(Math.abs(numeric), Math.abs(analytic));
      results.push({ name: input.name, direction: d, analytic, numeric, relativeError: scale > 0 ? err / scale : 0, ok: err <= tol * scale + atol });
    }
  });
  return { ok: results.every((r) => r.ok), results };
}
