// The Mackey–Glass delay differential equation, integrated by the project itself (no
// downloads): the classic benchmark of echo state networks (Jaeger & Haas 2004).
import { UnfoldError } from "../engine/index.js";

export interface MackeyGlassOptions {
  /** The delay τ. Default 17 (mildly chaotic). */
  tau?: number;
  /** β in dx/dt = β·x(t−τ)/(1 + x(t−τ)^n) − γ·x(t). Default 0.2. */
  beta?: number;
  /** γ. Default 0.1. */
  gamma?: number;
  /** The exponent n, a whole number. Default 10. */
  exponent?: number;
  /** Integration step; τ and `sampleEvery` must be whole multiples of it. Default 0.1. */
  dt?: number;
  /** Time between two returned samples. Default 1. */
  sampleEvery?: number;
  /** Time integrated and thrown away before the first sample, so the start value is forgotten. Default 1000. */
  transient?: number;
  /** x(t) for t <= 0. Default 1.2. */
  x0?: number;
}

/** x^n for a whole n >= 0 by repeated squaring: IEEE products, the same bits in every engine (Math.pow need not be). */
function powInt(x: number, n: number): number {
  let result = 1;
  let base = x;
  for (let e = n; e > 0; e >>= 1) {
    if (e & 1) result *= base;
    base *= base;
  }
  return result;
}

function stepsOf(what: string, value: number, dt: number): number {
  const steps = Math.round(value / dt);
  if (steps < 1 || Math.abs(steps * dt - value) > 1e-9 * Math.max(1, value)) {
    throw new UnfoldError(`mackeyGlass: ${what} (${value}) must be a whole multiple (>= 1) of dt (${dt})`);
  }
  return steps;
}

/**
 * `n` samples of the Mackey–Glass series dx/dt = β·x(t−τ)/(1 + x(t−τ)^n) − γ·x(t), integrated
 * by fourth-order Runge–Kutta with step dt in float64 and sampled every `sampleEvery` time
 * units after a transient. The delayed value at a half step is the mean of the two stored
 * values around it. Only +, −, ×, ÷ are used, so every engine gives the same bits. With the
 * defaults (τ = 17) the series is chaotic and stays in about [0.4, 1.4].
 */
export function mackeyGlass(n: number, options: MackeyGlassOptions = {}): Float64Array {
  for (const key of Object.keys(options)) {
    if (!["tau", "beta", "gamma", "exponent", "dt", "sampleEvery", "transient", "x0"].includes(key)) {
      throw new UnfoldError(`mackeyGlass: unknown option "${key}" (known: tau, beta, gamma, exponent, dt, sampleEvery, transient, x0)`);
    }
  }
  if (!Number.isInteger(n) || n < 1) throw new UnfoldError(`mackeyGlass: n must be a whole number >= 1, got ${n}`);
  const tau = options.tau ?? 17, beta = options.beta ?? 0.2, gamma = options.gamma ?? 0.1;
  const exponent = options.exponent ?? 10, dt = options.dt ?? 0.1;
  const sampleEvery = options.sampleEvery ?? 1, transient = options.transient ?? 1000, x0 = options.x0 ?? 1.2;
  for (const [name, v] of Object.entries({ tau, beta, gamma, dt, sampleEvery })) {
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new UnfoldError(`mackeyGlass: ${name} must be a finite number > 0, got ${String(v)}`);
  }
  if (!Number.isInteger(exponent) || exponent < 1) throw new UnfoldError(`mackeyGlass: exponent must be a whole number >= 1, got ${exponent}`);
  if (!(transient >= 0) || !Number.isFinite(transient)) throw new UnfoldError(`mackeyGlass: transient must be a finite number >= 0, got ${transient}`);
  if (!(x0 > 0) || !Number.isFinite(x0)) throw new UnfoldError(`mackeyGlass: x0 must be a finite number > 0, got ${x0}`);
  const delay = stepsOf("tau", tau, dt);
  const every = stepsOf("sampleEvery", sampleEvery, dt);
  const skip = transient === 0 ? 0 : stepsOf("transient", transient, dt);
  const total = skip + (n - 1) * every;

  // A ring of the last delay + 1 values: ring[i % (delay + 1)] = x(i·dt), x(t <= 0) = x0.
  const size = delay + 1;
  const ring = new Float64Array(size).fill(x0);
  const delayed = (i: number) => (i <= 0 ? x0 : ring[i % size]);
  const f = (x: number, xd: number) => (beta * xd) / (1 + powInt(xd, exponent)) - gamma * x;
  const out = new Float64Array(n);
  let x = x0;
  if (skip === 0) out[0] = x;
  for (let i = 0; i < total; i++) {
    // x(t − τ), x(t + dt/2 − τ), x(t + dt − τ) with t = i·dt.
    const d0 = delayed(i - delay);
    const d1 = delayed(i + 1 - delay);
    const dh = (d0 + d1) / 2;
    const k1 = f(x, d0);
    const k2 = f(x + (dt / 2) * k1, dh);
    const k3 = f(x + (dt / 2) * k2, dh);
    const k4 = f(x + dt * k3, d1);
    x = x + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
    ring[(i + 1) % size] = x;
    const j = i + 1 - skip;
    if (j >= 0 && j % every === 0) out[j / every] = x;
  }
  return out;
}
