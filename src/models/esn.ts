// Echo state network (Jaeger 2001; Jaeger & Haas 2004): a fixed random recurrent reservoir
// driven by the input, and a linear readout of its states — the only part that learns, in
// closed form by ridge regression or online with an Unfold optimizer.
import { ParamStore, Tensor, UnfoldError, Workspace, engine, formatShape } from "../engine/index.js";
import { Rng, deterministicLog } from "../data/rng.js";
import { checkKnownOptions } from "../layers/layer.js";
import type { Optimizer } from "../train/optimizers.js";

export interface EchoStateOptions {
  /** Features of each input step. */
  inputSize: number;
  /** Reservoir units N. */
  units: number;
  /** Features of each output step. */
  outputSize: number;
  /**
   * The reservoir matrix is scaled so that its spectral radius (largest |eigenvalue|, estimated
   * by power iteration) is this. Below 1 the echo state property holds for most inputs; near 1
   * the reservoir remembers longest. Default 0.95.
   */
  spectralRadius?: number;
  /** Connections into each unit (the in-degree K of the sparse reservoir matrix), in [1, N]. Default min(10, N). */
  degree?: number;
  /** Input weights are uniform in ±inputScaling. Default 1. */
  inputScaling?: number;
  /** Reservoir biases are uniform in ±biasScaling. Default 0.2. */
  biasScaling?: number;
  /** Leak rate α in (0, 1]: x_t = (1 − α)·x_{t−1} + α·tanh(…). Default 1 (no leak). */
  leak?: number;
  /** Ridge (Tikhonov) regularisation λ of the readout, >= 0; the bias column is not penalised. Default 1e-8. */
  ridge?: number;
  /** Steps at the start of every sequence that the readout is not fitted on (the reservoir forgets its initial state). Default 100. */
  washout?: number;
  /** The readout also sees the input u_t (besides the constant 1 and the state x_t). Default true. */
  readoutInput?: boolean;
  /** Seeds the reservoir, input weights and biases. Default 0. */
  seed?: number;
}

/** EchoStateOptions with every default filled in. */
export type ResolvedEchoStateOptions = Required<EchoStateOptions>;

export interface OnlineFitOptions {
  /** Updates the readout from the gradients of the mean squared error. */
  optimizer: Optimizer;
  /** Passes over the (state, target) rows. Default 10. */
  epochs?: number;
  /** Rows per update. Default 32. */
  batchSize?: number;
  /** Steps at the start of every sequence left out. Default: the model's washout. */
  washout?: number;
  /** Called after every epoch with its mean loss (MSE averaged over outputs). */
  onEpochEnd?: (epoch: number, loss: number) => void;
}

const KNOWN = ["inputSize", "units", "outputSize", "spectralRadius", "degree", "inputScaling", "biasScaling", "leak", "ridge", "washout", "readoutInput", "seed"] as const;

function whole(name: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new UnfoldError(`EchoStateNetwork: ${name} must be a whole number >= ${min}, got ${String(v)}`);
  return v;
}

function nonNegative(name: string, v: unknown, positive = false): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
    throw new UnfoldError(`EchoStateNetwork: ${name} must be a finite number ${positive ? "> 0" : ">= 0"}, got ${String(v)}`);
  }
  return v;
}

function resolve(options: EchoStateOptions): ResolvedEchoStateOptions {
  if (!options || typeof options !== "object") throw new UnfoldError("EchoStateNetwork needs options { inputSize, units, outputSize }");
  checkKnownOptions("EchoStateNetwork", options, KNOWN);
  const units = whole("units", options.units, 1);
  const degree = whole("degree", options.degree ?? Math.min(10, units), 1);
  if (degree > units) throw new UnfoldError(`EchoStateNetwork: degree (connections into each unit) must be at most units (${units}), got ${degree}`);
  const leak = options.leak ?? 1;
  if (typeof leak !== "number" || !(leak > 0 && leak <= 1)) throw new UnfoldError(`EchoStateNetwork: leak must be a number in (0, 1], got ${String(leak)}`);
  const readoutInput = options.readoutInput ?? true;
  if (typeof readoutInput !== "boolean") throw new UnfoldError(`EchoStateNetwork: readoutInput must be true or false, got ${String(readoutInput)}`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UnfoldError(`EchoStateNetwork: seed must be a whole number, got ${seed}`);
  return {
    inputSize: whole("inputSize", options.inputSize, 1),
    units,
    outputSize: whole("outputSize", options.outputSize, 1),
    spectralRadius: nonNegative("spectralRadius", options.spectralRadius ?? 0.95, true),
    degree,
    inputScaling: nonNegative("inputScaling", options.inputScaling ?? 1),
    biasScaling: nonNegative("biasScaling", options.biasScaling ?? 0.2),
    leak,
    ridge: nonNegative("ridge", options.ridge ?? 1e-8),
    washout: whole("washout", options.washout ?? 100, 0),
    readoutInput,
    seed,
  };
}

// ---------------------------------------------------------------------------------------
// The sparse reservoir matrix and its spectral radius.

/**
 * A square matrix with exactly `degree` entries in every row, in the layout of the reservoir
 * kernel (assembly/reservoir.ts): row i = 4g + r, entry k at (g·K + k)·4 + r; rows past
 * `units` in the last group of four are padding (value 0, column 0).
 */
export interface SparseReservoir {
  units: number;
  degree: number;
  values: Float32Array;
  cols: Int32Array;
}

/** Index of row i's k-th entry in the kernel layout. */
export const entryIndex = (i: number, k: number, degree: number) => ((i >> 2) * degree + k) * 4 + (i & 3);

/** An empty reservoir (all padding) of `units` rows with `degree` entries each. */
export function emptyReservoir(units: number, degree: number): SparseReservoir {
  const size = Math.ceil(units / 4) * degree * 4;
  return { units, degree, values: new Float32Array(size), cols: new Int32Array(size) };
}

/** y = W·x in float64, in order of the entries (the power iteration's product). */
function sparseMatVec(w: SparseReservoir, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < w.units; i++) {
    let s = 0;
    for (let k = 0; k < w.degree; k++) {
      const e = entryIndex(i, k, w.degree);
      s += w.values[e] * x[w.cols[e]];
    }
    y[i] = s;
  }
}

/**
 * e^y by range reduction and Taylor series, with only +, −, ×, ÷: the same bits in every engine
 * (Math.exp need not be). Relative error ~1e-16 for |y| < 700.
 */
function deterministicExp(y: number): number {
  const LN2 = 0.6931471805599453;
  const n = Math.round(y / LN2);
  const r = y - n * LN2;
  let term = 1;
  let sum = 1;
  for (let k = 1; k <= 24; k++) {
    term = (term * r) / k;
    sum += term;
  }
  let scale = 1;
  const base = n < 0 ? 0.5 : 2;
  for (let i = Math.abs(n); i > 0; i--) scale *= base;
  return sum * scale;
}

/**
 * The spectral radius of a sparse reservoir matrix by power iteration: v ← W·v/‖W·v‖ from a
 * random start, and the radius as the geometric mean of the growth factors ‖W·v‖ over the
 * second half of the iterations. The growth rate is what converges, also when the dominant
 * eigenvalues are a complex pair or several of nearly equal modulus (the case of random
 * matrices), where the direction of v never settles. Float64, deterministic. Returns 0 for a
 * nilpotent matrix.
 */
export function estimateSpectralRadius(w: SparseReservoir, iterations = 400, seed = 0): number {
  const rng = new Rng(seed);
  const N = w.units;
  let v = new Float64Array(N);
  let next = new Float64Array(N);
  let norm = 0;
  for (let i = 0; i < N; i++) {
    v[i] = rng.normal();
    norm += v[i] * v[i];
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < N; i++) v[i] /= norm;
  const burn = Math.floor(iterations / 2);
  let logSum = 0;
  for (let it = 0; it < iterations; it++) {
    sparseMatVec(w, v, next);
    let g = 0;
    for (let i = 0; i < N; i++) g += next[i] * next[i];
    g = Math.sqrt(g);
    if (g === 0) return 0;
    for (let i = 0; i < N; i++) next[i] /= g;
    [v, next] = [next, v];
    if (it >= burn) logSum += deterministicLog(g);
  }
  return deterministicExp(logSum / (iterations - burn));
}

/**
 * A random reservoir: every row reads `degree` distinct columns with weights uniform in ±1,
 * then the whole matrix is scaled to the spectral radius `radius`.
 */
export function randomReservoir(units: number, degree: number, radius: number, rng: Rng): SparseReservoir {
  const w = emptyReservoir(units, degree);
  const chosen = new Set<number>();
  for (let i = 0; i < units; i++) {
    chosen.clear();
    for (let k = 0; k < degree; k++) {
      let c = rng.int(units);
      while (chosen.has(c)) c = rng.int(units);
      chosen.add(c);
      const e = entryIndex(i, k, degree);
      w.cols[e] = c;
      w.values[e] = rng.uniform(-1, 1);
    }
  }
  const rho = estimateSpectralRadius(w, 400, rng.nextU32());
  if (rho === 0) throw new UnfoldError(`EchoStateNetwork: the random reservoir matrix (${units} units, degree ${degree}) is nilpotent and cannot be scaled to spectral radius ${radius}; use more units or a larger degree`);
  const scale = radius / rho;
  for (let i = 0; i < w.values.length; i++) w.values[i] *= scale;
  return w;
}

// ---------------------------------------------------------------------------------------
// Float64 linear algebra for the readout.

/**
 * Solves A·X = B for a symmetric positive definite A (n × n, row-major, only the upper triangle
 * j >= i is read) and B (n × m), by Cholesky factorisation A = L·Lᵀ in float64. Returns X (n × m).
 * Throws when A is not positive definite (then a larger ridge λ helps).
 */
export function choleskySolve(a: Float64Array, b: Float64Array, n: number, m: number): Float64Array {
  if (a.length !== n * n || b.length !== n * m) throw new UnfoldError(`choleskySolve: expected A [${n}, ${n}] and B [${n}, ${m}], got ${a.length} and ${b.length} values`);
  // L in the lower triangle of a copy (row-major), from the upper triangle of A.
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0)) throw new UnfoldError(`choleskySolve: the matrix is not positive definite (pivot ${j} is ${d}); increase the ridge regularisation`);
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[j * n + i]; // A[i, j] = A[j, i]
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  const x = Float64Array.from(b);
  // L·Y = B, then Lᵀ·X = Y, column by column of B (all m at once, row by row).
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const l = L[i * n + k];
      for (let c = 0; c < m; c++) x[i * m + c] -= l * x[k * m + c];
    }
    for (let c = 0; c < m; c++) x[i * m + c] /= L[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const l = L[k * n + i];
      for (let c = 0; c < m; c++) x[i * m + c] -= l * x[k * m + c];
    }
    for (let c = 0; c < m; c++) x[i * m + c] /= L[i * n + i];
  }
  return x;
}

/** The float64 values stored in a float32 tensor of twice the length (the kernels read them as f64). */
function readF64(t: Tensor): Float64Array {
  const f = t.toFloat32Array();
  return new Float64Array(f.buffer, f.byteOffset, f.length / 2);
}

function writeF64(t: Tensor, data: Float64Array): void {
  // A same-type typed-array copy moves bytes, so the f64 bit patterns arrive intact.
  t.write(new Float32Array(data.buffer, data.byteOffset, data.length * 2), true);
}

/**
 * Normalised root-mean-square error: √(mean (p − t)² / variance of t), over all values. 0 is
 * perfect; 1 is no better than predicting the mean.
 */
export function nrmse(prediction: ArrayLike<number>, target: ArrayLike<number>): number {
  if (prediction.length !== target.length || target.length === 0) throw new UnfoldError(`nrmse: expected two arrays of one non-zero length, got ${prediction.length} and ${target.length}`);
  let mean = 0;
  for (let i = 0; i < target.length; i++) mean += target[i];
  mean /= target.length;
  let se = 0, variance = 0;
  for (let i = 0; i < target.length; i++) {
    const e = prediction[i] - target[i], d = target[i] - mean;
    se += e * e;
    variance += d * d;
  }
  return Math.sqrt(se / variance);
}

// ---------------------------------------------------------------------------------------

/**
 * An echo state network over time-major batches x [T, B, inputSize]:
 *   x_t = (1 − α)·x_{t−1} + α·tanh(W_in·u_t + b + W·x_{t−1})      (the reservoir, fixed)
 *   y_t = W_out·[1; u_t; x_t]                                       (the readout, learned)
 * W is sparse (`degree` random entries per row) and scaled to `spectralRadius`; W_in and b are
 * uniform in ±inputScaling and ±biasScaling. All steps' input projections are one GEMM, then
 * every step is one wasm kernel (sparse product, tanh, leak). The readout is fitted by ridge
 * regression in float64 (`fit`: normal equations from a float64 Gram kernel, then Cholesky) or
 * online (`fitOnline`: minibatch gradient steps with an Unfold optimizer), and applied in
 * float64. The model owns its reservoir, readout and scratch; `dispose()` frees them.
 */
export class EchoStateNetwork {
  readonly options: Readonly<ResolvedEchoStateOptions>;
  /** Features the readout sees per step: 1 (the constant), then u_t when `readoutInput`, then x_t. */
  readonly features: number;
  /** The spectral radius the reservoir matrix was scaled to (measured again after scaling). */
  readonly spectralRadius: number;
  private readonly ws = new Workspace();
  private readonly inputWeights: Tensor; // [N, I]
  private readonly bias: Tensor; // [N]
  private readonly reservoirValues: Tensor; // [G·K·4]
  private readonly reservoirCols: Tensor; // [G·K·4] int32
  /** W_outᵀ [features, outputSize] in float64, stored as twice as many float32 slots. */
  private readonly readout: Tensor;
  private fitted = false;
  private disposed = false;
  private lastStates: Tensor | null = null;
  /** The readout as a float32 parameter, for `fitOnline` (made on its first call). */
  private onlineStore: ParamStore | null = null;

  constructor(options: EchoStateOptions) {
    const o = resolve(options);
    this.options = Object.freeze(o);
    this.features = 1 + (o.readoutInput ? o.inputSize : 0) + o.units;
    const rng = new Rng(o.seed);
    const N = o.units, I = o.inputSize;
    const win = new Float32Array(N * I);
    for (let i = 0; i < win.length; i++) win[i] = rng.uniform(-o.inputScaling, o.inputScaling);
    const b = new Float32Array(N);
    for (let i = 0; i < N; i++) b[i] = rng.uniform(-o.biasScaling, o.biasScaling);
    const w = randomReservoir(N, o.degree, o.spectralRadius, rng);
    this.spectralRadius = estimateSpectralRadius(w, 400, o.seed + 1);
    const owned: Tensor[] = [];
    try {
      this.inputWeights = own(owned, Tensor.fromArray(win, [N, I]));
      this.bias = own(owned, Tensor.fromArray(b, [N]));
      this.reservoirValues = own(owned, Tensor.fromArray(w.values, [w.values.length]));
      this.reservoirCols = own(owned, Tensor.fromArray(w.cols, [w.cols.length], "int32"));
      this.readout = own(owned, new Tensor([2 * this.features * o.outputSize]));
    } catch (e) {
      for (const t of owned) t.dispose();
      throw e;
    }
  }

  private checkAlive(): void {
    if (this.disposed) throw new UnfoldError("this echo state network was disposed and can no longer be used");
  }

  private checkSequence(x: Tensor, width: number, what: string): void {
    if (!(x instanceof Tensor)) throw new UnfoldError(`EchoStateNetwork: ${what} must be a Tensor [T, B, ${width}]`);
    if (x.dtype !== "float32" || x.shape.length !== 3 || x.shape[2] !== width || x.shape[0] < 1 || x.shape[1] < 1) {
      throw new UnfoldError(`EchoStateNetwork expected ${what} [T, B, ${width}] (time-major, float32, T and B >= 1), got ${x.dtype} ${formatShape(x.shape)}`);
    }
    if (!engine().k.f32_all_finite(x.ptr, x.size)) throw new UnfoldError(`EchoStateNetwork: ${what} ${formatShape(x.shape)} contains NaN or Infinity`);
  }

  /** The current readout W_outᵀ [features, outputSize], float64 (zeros before any fit). */
  get readoutWeights(): Float64Array {
    this.checkAlive();
    return readF64(this.readout);
  }

  /** Sets the readout W_outᵀ [features, outputSize] (float64 values, all finite). */
  setReadoutWeights(weights: ArrayLike<number>): void {
    this.checkAlive();
    const n = this.features * this.options.outputSize;
    if (weights.length !== n) throw new UnfoldError(`EchoStateNetwork: the readout has [${this.features}, ${this.options.outputSize}] = ${n} weights, got ${weights.length}`);
    for (let i = 0; i < n; i++) if (!Number.isFinite(weights[i])) throw new UnfoldError(`EchoStateNetwork: readout weight ${i} is ${weights[i]}; weights must be finite`);
    writeF64(this.readout, Float64Array.from(weights));
    this.fitted = true;
  }

  /** The reservoir matrix as the kernels hold it (a copy). */
  get reservoir(): SparseReservoir {
    this.checkAlive();
    return {
      units: this.options.units,
      degree: this.options.degree,
      values: this.reservoirValues.toFloat32Array(),
      cols: this.reservoirCols.toTypedArray() as Int32Array,
    };
  }

  /** The reservoir's final state [B, N] after the last run (owned by the model, valid until its next call). */
  get finalState(): Tensor {
    this.checkAlive();
    if (!this.lastStates) throw new UnfoldError("EchoStateNetwork: no run yet, so no final state");
    const [T, B, N] = this.lastStates.shape;
    return Tensor.view(this.lastStates, (T - 1) * B * N, [B, N]);
  }

  /**
   * Drives the reservoir with x [T, B, inputSize] from `initialState` [B, N] (zeros when absent)
   * and returns the states [T, B, N] (owned by the model, valid until its next call).
   */
  run(x: Tensor, initialState?: Tensor): Tensor {
    this.checkAlive();
    this.checkSequence(x, this.options.inputSize, "input");
    const [T, B] = x.shape;
    const { units: N, inputSize: I, degree, leak } = this.options;
    if (initialState !== undefined && (!(initialState instanceof Tensor) || initialState.shape.length !== 2 || initialState.shape[0] !== B || initialState.shape[1] !== N)) {
      throw new UnfoldError(`EchoStateNetwork expected initialState [${B}, ${N}], got ${initialState instanceof Tensor ? formatShape(initialState.shape) : typeof initialState}`);
    }
    const k = engine().k;
    const states = this.ws.get("states", [T, B, N]);
    const zero = this.ws.zeros("zeroState", [B, N]);
    const start = initialState ?? zero;
    // All steps' input projections W_in·u_t + b in one GEMM, written where the states go: the
    // step kernel reads each unit's projection before it overwrites it.
    k.f32_gemm_nt(states.ptr, x.ptr, this.inputWeights.ptr, this.bias.ptr, T * B, N, I, I, I, N, 0);
    const n = B * N;
    for (let t = 0; t < T; t++) {
      const s = states.ptr + t * n * 4;
      k.f32_reservoir_step(s, s, t === 0 ? start.ptr : s - n * 4, this.reservoirValues.ptr, this.reservoirCols.ptr, leak, B, N, degree);
    }
    this.lastStates = states;
    return states;
  }

  /** The readout's features [1, u_t, x_t] of steps `from` .. T−1 of x and its states, as rows [(T − from)·B, features]. */
  private featureRows(x: Tensor, states: Tensor, from: number): Tensor {
    const [T, B, I] = x.shape;
    const N = this.options.units, D = this.features;
    const rows = (T - from) * B;
    const k = engine().k;
    const z = this.ws.get("features", [rows, D]);
    const ones = this.ws.get("ones", [rows]).fill(1);
    k.f32_copy_cols(z.ptr, D, ones.ptr, 1, rows, 1, 0);
    let col = 1;
    if (this.options.readoutInput) {
      k.f32_copy_cols(z.ptr + col * 4, D, x.ptr + from * B * I * 4, I, rows, I, 0);
      col += I;
    }
    k.f32_copy_cols(z.ptr + col * 4, D, states.ptr + from * B * N * 4, N, rows, N, 0);
    return z;
  }

  private checkWashout(washout: number, T: number): number {
    if (!Number.isInteger(washout) || washout < 0 || washout >= T) {
      throw new UnfoldError(`EchoStateNetwork: washout must be a whole number in [0, T − 1] = [0, ${T - 1}] (steps left out of the fit), got ${washout}`);
    }
    return washout;
  }

  private checkTargets(x: Tensor, y: Tensor): void {
    this.checkSequence(y, this.options.outputSize, "targets");
    if (y.shape[0] !== x.shape[0] || y.shape[1] !== x.shape[1]) {
      throw new UnfoldError(`EchoStateNetwork: targets ${formatShape(y.shape)} must have the input's T and B (${formatShape(x.shape)})`);
    }
  }

  /**
   * Fits the readout by ridge regression: runs the reservoir over x [T, B, inputSize] from zero
   * state, leaves out the first `washout` steps, and solves (ZᵀZ + λ·I')·W = Zᵀ·Y in float64 by
   * Cholesky, with Z the feature rows, Y the targets y [T, B, outputSize] and I' the identity
   * without the bias entry. Returns the training NRMSE of the fitted readout.
   */
  fit(x: Tensor, y: Tensor, options: { washout?: number } = {}): { nrmse: number } {
    this.checkAlive();
    checkKnownOptions("EchoStateNetwork.fit", options, ["washout"]);
    this.checkSequence(x, this.options.inputSize, "input");
    this.checkTargets(x, y);
    const [T, B] = x.shape;
    const washout = this.checkWashout(options.washout ?? Math.min(this.options.washout, T - 1), T);
    const O = this.options.outputSize, D = this.features;
    const k = engine().k;
    const states = this.run(x);
    const z = this.featureRows(x, states, washout);
    const rows = (T - washout) * B;
    const targets = Tensor.view(y, washout * B * O, [rows, O]);
    // Gram matrix and right-hand sides in float64 (each a float32 tensor of twice the length).
    const gram = this.ws.zeros("gram", [2 * D * D]);
    const rhs = this.ws.zeros("rhs", [2 * D * O]);
    k.f64_gemm_tn_f32(gram.ptr, z.ptr, z.ptr, D, D, rows, 1);
    k.f64_gemm_tn_f32(rhs.ptr, z.ptr, targets.ptr, D, O, rows, 0);
    const a = readF64(gram);
    for (let i = 1; i < D; i++) a[i * D + i] += this.options.ridge;
    // With ridge 0 and a bias column, a constant feature makes A singular only if a state
    // column is constant too; the solver says so.
    const w = choleskySolve(a, readF64(rhs), D, O);
    writeF64(this.readout, w);
    this.fitted = true;
    return { nrmse: this.trainError(z, targets, rows) };
  }

  /** NRMSE of the readout over feature rows z against targets [rows, O]. */
  private trainError(z: Tensor, targets: Tensor, rows: number): number {
    const O = this.options.outputSize;
    const pred = this.ws.get("trainPred", [rows, O]);
    engine().k.f32_gemm_nn_f64b(pred.ptr, z.ptr, this.readout.ptr, rows, O, this.features);
    return nrmse(pred.toFloat32Array(), targets.toFloat32Array());
  }

  /**
   * Fits the readout online: the reservoir runs once over x, then minibatches of (features,
   * target) rows — shuffled every epoch with a generator seeded from the model's seed — take
   * gradient steps of the mean squared error with `optimizer`, starting from the current
   * readout. The optimizer stays bound to the model's readout (use it for this model only).
   * Returns the mean loss of each epoch.
   */
  fitOnline(x: Tensor, y: Tensor, options: OnlineFitOptions): { losses: number[] } {
    this.checkAlive();
    checkKnownOptions("EchoStateNetwork.fitOnline", options, ["optimizer", "epochs", "batchSize", "washout", "onEpochEnd"]);
    if (!options.optimizer || typeof options.optimizer.step !== "function") throw new UnfoldError("EchoStateNetwork.fitOnline needs { optimizer }, e.g. new Adam({ lr: 1e-3 })");
    this.checkSequence(x, this.options.inputSize, "input");
    this.checkTargets(x, y);
    const epochs = options.epochs ?? 10;
    const batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(epochs) || epochs < 0) throw new UnfoldError(`EchoStateNetwork.fitOnline: epochs must be a whole number >= 0, got ${epochs}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UnfoldError(`EchoStateNetwork.fitOnline: batchSize must be a whole number >= 1, got ${batchSize}`);
    const [T, B] = x.shape;
    const washout = this.checkWashout(options.washout ?? Math.min(this.options.washout, T - 1), T);
    const O = this.options.outputSize, D = this.features;
    const k = engine().k;
    const z = this.featureRows(x, this.run(x), washout);
    const rows = (T - washout) * B;
    const targetRows = Tensor.view(y, washout * B * O, [rows, O]).toFloat32Array();
    const zRows = z.toFloat32Array();
    // The readout as a float32 parameter W [O, D] of a store the model keeps, so the optimizer
    // runs its kernel over it and stays bound to it across calls.
    this.onlineStore ??= new ParamStore([{ name: "readout.weight", shape: [O, D] }]);
    const store = this.onlineStore;
    const losses: number[] = [];
    const batch = new Workspace();
    try {
      const current = readF64(this.readout);
      const w = new Float32Array(O * D);
      for (let d = 0; d < D; d++) for (let o = 0; o < O; o++) w[o * D + d] = current[d * O + o];
      store.write("readout.weight", w);
      const rng = new Rng(this.options.seed + 7);
      const order = Int32Array.from({ length: rows }, (_, i) => i);
      for (let epoch = 0; epoch < epochs; epoch++) {
        rng.shuffle(order);
        let sum = 0;
        for (let start = 0; start < rows; start += batchSize) {
          const m = Math.min(batchSize, rows - start);
          const zb = new Float32Array(m * D), yb = new Float32Array(m * O);
          for (let r = 0; r < m; r++) {
            const src = order[start + r];
            zb.set(zRows.subarray(src * D, (src + 1) * D), r * D);
            yb.set(targetRows.subarray(src * O, (src + 1) * O), r * O);
          }
          const zt = batch.get(`z${m}`, [m, D]).write(zb, true);
          const yt = batch.get(`y${m}`, [m, O]).write(yb, true);
          const pred = batch.get(`p${m}`, [m, O]);
          const dpred = batch.get(`dp${m}`, [m, O]);
          k.f32_gemm_nt(pred.ptr, zt.ptr, store.ptr("readout.weight"), 0, m, O, D, D, D, O, 0);
          // Mean over the batch's rows of the per-row MSE (averaged over outputs).
          sum += k.f32_mse(dpred.ptr, pred.ptr, yt.ptr, 0, m, O, 1 / m);
          store.zeroGrads();
          k.f32_gemm_tn(store.gradPtr("readout.weight"), dpred.ptr, zt.ptr, 0, O, D, m, O, D, D, 1);
          options.optimizer.step(store);
        }
        losses.push(sum / rows);
        options.onEpochEnd?.(epoch, sum / rows);
      }
      const trained = store.read("readout.weight");
      const wt = new Float64Array(D * O);
      for (let d = 0; d < D; d++) for (let o = 0; o < O; o++) wt[d * O + o] = trained[o * D + d];
      writeF64(this.readout, wt);
      this.fitted = true;
    } finally {
      batch.dispose();
    }
    return { losses };
  }

  /**
   * The readout over x [T, B, inputSize], the reservoir started from `initialState` (zeros when
   * absent): y [T, B, outputSize], a new tensor the caller owns.
   */
  predict(x: Tensor, options: { initialState?: Tensor } = {}): Tensor {
    this.checkAlive();
    checkKnownOptions("EchoStateNetwork.predict", options, ["initialState"]);
    if (!this.fitted) throw new UnfoldError("EchoStateNetwork: fit the readout (fit or fitOnline) before predicting");
    const states = this.run(x, options.initialState);
    const [T, B] = x.shape;
    const z = this.featureRows(x, states, 0);
    const out = new Tensor([T, B, this.options.outputSize]);
    engine().k.f32_gemm_nn_f64b(out.ptr, z.ptr, this.readout.ptr, T * B, this.options.outputSize, this.features);
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.ws.dispose();
    this.onlineStore?.dispose();
    for (const t of [this.inputWeights, this.bias, this.reservoirValues, this.reservoirCols, this.readout]) t.dispose();
    this.lastStates = null;
    this.disposed = true;
  }
}

function own(list: Tensor[], t: Tensor): Tensor {
  list.push(t);
  return t;
}
