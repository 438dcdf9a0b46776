// Learning-rate schedules: pure functions of the optimizer's step count (0-based: the
// number of updates already made), so a schedule holds no state and a restored optimizer
// continues the schedule where it stopped. Options are checked once, when the schedule is
// made; the returned function checks only its step.
import { UnfoldError, checkInt } from "../engine/index.js";
import { checkKnownOptions } from "../layers/recurrent.js";

/** The learning rate for a step count (0-based). */
export type Schedule = (step: number) => number;

export interface StepDecayOptions {
  /** Learning rate of steps 0 .. stepSize − 1. */
  lr: number;
  /** Steps between decays, a whole number >= 1. */
  stepSize: number;
  /** Factor applied every `stepSize` steps, in (0, 1]. Default 0.1 (PyTorch's StepLR). */
  gamma?: number;
}

export interface ExponentialDecayOptions {
  /** Learning rate of step 0. */
  lr: number;
  /** Factor applied every step, in (0, 1]. */
  gamma: number;
}

export interface CosineDecayOptions {
  /** Learning rate of step 0. */
  lr: number;
  /** Steps of the half cosine, a whole number >= 1; from this step on the rate is `minLr`. */
  totalSteps: number;
  /** The rate reached at `totalSteps`, in [0, lr]. Default 0. */
  minLr?: number;
}

export interface WarmupOptions {
  /** Steps of the linear ramp, a whole number >= 1. */
  steps: number;
}

// The two option checks below are shared with optimizers.ts (internal, not re-exported).

/** Throws unless `value` is a finite number in [min, max] (either bound excluded where asked). */
export function checkNumber(what: string, value: unknown, min: number, max = Infinity, minExcluded = false, maxExcluded = false): number {
  const ok =
    typeof value === "number" && Number.isFinite(value) && (minExcluded ? value > min : value >= min) && (maxExcluded ? value < max : value <= max);
  if (!ok) {
    const range = `${minExcluded ? "(" : "["}${min}, ${max === Infinity ? "∞)" : `${max}${maxExcluded ? ")" : "]"}`}`;
    throw new UnfoldError(`${what} must be a finite number in ${range}, got ${String(value)}`);
  }
  return value as number;
}

/** Throws unless `options` is an object whose keys are all in `known`. */
export function checkOptions(what: string, options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== "object") {
    throw new UnfoldError(`${what} takes an options object ({ ${known.join(", ")} }), got ${options === null ? "null" : typeof options}`);
  }
  checkKnownOptions(what, options, known);
}

function checkStep(what: string, step: number): void {
  checkInt(`${what}: the step`, step);
}

/** lr · gamma^⌊step / stepSize⌋ (PyTorch's StepLR). */
export function stepDecay(options: StepDecayOptions): Schedule {
  checkOptions("stepDecay", options, ["lr", "stepSize", "gamma"]);
  const lr = checkNumber("stepDecay: lr", options.lr, 0);
  const stepSize = checkInt("stepDecay: stepSize", options.stepSize, 1);
  const gamma = checkNumber("stepDecay: gamma", options.gamma ?? 0.1, 0, 1, true);
  return described({ kind: "stepDecay", options: { lr, stepSize, gamma } }, (step) => {
    checkStep("stepDecay", step);
    return lr * gamma ** Math.floor(step / stepSize);
  });
}

/** lr · gamma^step (PyTorch's ExponentialLR). */
export function exponentialDecay(options: ExponentialDecayOptions): Schedule {
  checkOptions("exponentialDecay", options, ["lr", "gamma"]);
  const lr = checkNumber("exponentialDecay: lr", options.lr, 0);
  const gamma = checkNumber("exponentialDecay: gamma", options.gamma, 0, 1, true);
  return described({ kind: "exponentialDecay", options: { lr, gamma } }, (step) => {
    checkStep("exponentialDecay", step);
    return lr * gamma ** step;
  });
}

/**
 * minLr + (lr − minLr)·(1 + cos(π·step / totalSteps)) / 2 for step <= totalSteps, then minLr
 * (PyTorch's CosineAnnealingLR for its first half period; it does not restart).
 */
export function cosineDecay(options: CosineDecayOptions): Schedule {
  checkOptions("cosineDecay", options, ["lr", "totalSteps", "minLr"]);
  const lr = checkNumber("cosineDecay: lr", options.lr, 0);
  const totalSteps = checkInt("cosineDecay: totalSteps", options.totalSteps, 1);
  const minLr = checkNumber("cosineDecay: minLr", options.minLr ?? 0, 0, lr);
  return described({ kind: "cosineDecay", options: { lr, totalSteps, minLr } }, (step) => {
    checkStep("cosineDecay", step);
    if (step >= totalSteps) return minLr;
    return minLr + ((lr - minLr) * (1 + Math.cos((Math.PI * step) / totalSteps))) / 2;
  });
}

/**
 * Ramps linearly from 0 up to the wrapped schedule over the first `steps` steps:
 * schedule(step)·step / steps, then schedule(step). The wrapped schedule keeps its own clock
 * (it is not delayed by the warm-up). A number is a constant schedule.
 */
export function warmup(schedule: Schedule | number, options: WarmupOptions): Schedule {
  checkOptions("warmup", options, ["steps"]);
  const steps = checkInt("warmup: steps", options.steps, 1);
  let inner: Schedule;
  if (typeof schedule === "number") {
    const lr = checkNumber("warmup: lr", schedule, 0);
    inner = () => lr;
  } else if (typeof schedule === "function") {
    inner = schedule;
  } else {
    throw new UnfoldError(`warmup: the first argument must be a schedule (step => lr) or a number, got ${schedule === null ? "null" : typeof schedule}`);
  }
  const innerSpec = typeof schedule === "number" ? schedule : scheduleSpec(schedule);
  const ramp: Schedule = (step) => {
    checkStep("warmup", step);
    const value = inner(step);
    return step < steps ? (value * step) / steps : value;
  };
  // Over a schedule of the caller's own, the warm-up cannot be described either.
  return innerSpec === null ? ramp : described({ kind: "warmup", inner: innerSpec, options: { steps } }, ramp);
}

/**
 * from + (to − from)·step / steps for the first `steps` steps, then `to`: e.g. a
 * scheduled-sampling probability that rises from 0 to 0.5.
 */
export function linearRamp(options: { from: number; to: number; steps: number }): Schedule {
  checkOptions("linearRamp", options, ["from", "to", "steps"]);
  const from = checkNumber("linearRamp: from", options.from, -Infinity);
  const to = checkNumber("linearRamp: to", options.to, -Infinity);
  const steps = checkInt("linearRamp: steps", options.steps, 1);
  return described({ kind: "linearRamp", options: { from, to, steps } }, (step) => (step >= steps ? to : from + ((to - from) * step) / steps));
}

/**
 * A schedule made by one of the functions above, as plain data (its maker and options), so
 * it can be made again elsewhere — in a worker. A function of your own has none.
 */
export type ScheduleSpec =
  | { kind: "stepDecay" | "exponentialDecay" | "cosineDecay" | "linearRamp"; options: Record<string, number> }
  | { kind: "warmup"; inner: ScheduleSpec | number; options: { steps: number } };

const SPECS = new WeakMap<Schedule, ScheduleSpec>();

function described(spec: ScheduleSpec, schedule: Schedule): Schedule {
  SPECS.set(schedule, spec);
  return schedule;
}

/** The description of a built-in schedule, or null for any other function. */
export function scheduleSpec(schedule: Schedule): ScheduleSpec | null {
  return SPECS.get(schedule) ?? null;
}

/** Makes the schedule a ScheduleSpec describes (validated again, as by its maker). */
export function scheduleFromSpec(spec: ScheduleSpec): Schedule {
  if (!spec || typeof spec !== "object") throw new UnfoldError(`not a schedule description: ${String(spec)}`);
  switch (spec.kind) {
    case "stepDecay":
      return stepDecay(spec.options as unknown as StepDecayOptions);
    case "exponentialDecay":
      return exponentialDecay(spec.options as unknown as ExponentialDecayOptions);
    case "cosineDecay":
      return cosineDecay(spec.options as unknown as CosineDecayOptions);
    case "linearRamp":
      return linearRamp(spec.options as unknown as { from: number; to: number; steps: number });
    case "warmup":
      return warmup(typeof spec.inner === "number" ? spec.inner : scheduleFromSpec(spec.inner), spec.options);
    default:
      throw new UnfoldError(`unknown schedule kind "${String((spec as { kind: unknown }).kind)}"`);
  }
}
