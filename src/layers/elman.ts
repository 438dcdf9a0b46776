import { Tensor, UnfoldError, engine } from "../engine/index.js";
import { deterministicLog } from "../data/rng.js";
import { constant, glorotUniform, identity, orthogonal, uniform } from "./init.js";
import type { Initializer } from "./layer.js";
import { CellLayer, STACKABLE_KEYS, checkChoice, checkKnownOptions, resolveStackable, type ResolvedStackable, type StackableOptions } from "./recurrent.js";
import { stackOfCopies } from "./stack.js";

export { checkChoice };

/** The activations of a simple recurrent cell. */
export type RecurrentActivation = "tanh" | "relu" | "sigmoid";

/** The `activation` argument of the Elman step kernels (assembly/elman.ts holds the same table). */
export const ACTIVATION_CODES: Readonly<Record<RecurrentActivation, number>> = { tanh: 0, relu: 1, sigmoid: 2 };

export interface ElmanOptions extends StackableOptions {
  /** The cell's nonlinearity. Default `"tanh"`. */
  activation?: RecurrentActivation;
  /**
   * Leak α in (0, 1]: h_t = (1 − α)⊙h_{t−1} + α⊙act(…), a leaky integrator with time constant
   * 1/α. Default 1 (no leak: PyTorch's nn.RNN). `"trainable"`: one α per unit, learned, as
   * α = sigmoid(θ) with θ the parameter `leak_logit` [H] — units with their own time constants
   * (see `leakRange`).
   */
  leak?: number | "trainable";
  /**
   * With `leak: "trainable"`: the initial α of the units, spread from the first value (unit 0)
   * to the second (unit H − 1) evenly in θ = logit(α) — about evenly in log α for small α, so
   * the time constants 1/α cover several orders of magnitude. Each in (0, 1). Default [0.01, 0.9].
   */
  leakRange?: readonly [number, number] | null;
  /**
   * Skip connections through time: with d >= 2, h_t also reads h_{t−d} through its own weight
   * `weight_skip` [H, H]: a = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh + W_skip h_{t−d}, so a gradient
   * crosses d steps in one product. States before the initial one are zero. Default 0 (none).
   */
  timeSkip?: number;
  /**
   * `"glorot"` (default): Glorot-uniform input weights, orthogonal recurrent weights, zero biases.
   * `"pytorch"`: every weight and bias uniform in ±1/√H, as nn.RNN does. `"identity"`: identity
   * recurrent weights, zero biases, Glorot-uniform input weights — the IRNN of Le et al. (2015),
   * meant for `activation: "relu"`.
   */
  init?: "glorot" | "pytorch" | "identity";
}

/** ElmanOptions with every default filled in. */
export interface ResolvedElmanOptions extends ResolvedStackable {
  activation: RecurrentActivation;
  leak: number | "trainable";
  /** The initial α range of a trainable leak (present only with leak "trainable"). */
  leakRange?: readonly [number, number];
  /** d of the skip connection h_{t−d} → h_t (present only with a skip). */
  timeSkip?: number;
  init: "glorot" | "pytorch" | "identity";
}

const KNOWN = [...STACKABLE_KEYS, "activation", "leak", "leakRange", "timeSkip", "init"] as const;

/** logit(α) = log(α / (1 − α)), with the project's deterministic log. */
const logit = (a: number) => deterministicLog(a) - deterministicLog(1 - a);
const INITS = ["glorot", "pytorch", "identity"] as const;

/**
 * Elman (simple) recurrent layer, PyTorch's nn.RNN layout: `weight_ih` [H, I], `weight_hh` [H, H],
 * `bias_ih` [H], `bias_hh` [H], so a state_dict maps one to one.
 * h_t = (1 − α)⊙h_{t−1} + α⊙act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh). State: h. With
 * `layers: n > 1` it runs as a Stack of n single-layer copies (parameters `_l0` … `_l{n−1}`).
 * Recurrent dropout masks h_{t−1} in W_hh h_{t−1} only, not in the leak term nor the skip.
 *
 * Multiple time scales: a trainable per-unit leak (`leak: "trainable"`, parameter `leak_logit`)
 * and skip connections through time (`timeSkip: d`, parameter `weight_skip`). Neither has a
 * PyTorch counterpart. A layer with a skip needs the d states before each step, so it does not
 * run one step at a time (`causal` is false for streaming).
 */
export class Elman extends CellLayer {
  readonly kind = "elman";
  readonly stateNames: readonly string[];
  readonly activation: RecurrentActivation;
  readonly leak: number | "trainable";
  readonly timeSkip: number;
  readonly init: "glorot" | "pytorch" | "identity";
  private readonly activationCode: number;
  override readonly options: Readonly<ResolvedElmanOptions>;

  constructor(options: ElmanOptions) {
    checkKnownOptions("Elman", options, KNOWN);
    const base = resolveStackable("Elman", options);
    super("Elman", base);
    this.activation = checkChoice("Elman", "activation", options.activation ?? "tanh", ["tanh", "relu", "sigmoid"]);
    this.activationCode = ACTIVATION_CODES[this.activation];
    this.init = checkChoice("Elman", "init", options.init ?? "glorot", INITS);
    const leak = options.leak ?? 1;
    if (leak !== "trainable" && (typeof leak !== "number" || !(leak > 0 && leak <= 1))) {
      throw new UnfoldError(`Elman: leak must be a number in (0, 1] (1 = no leak) or "trainable", got ${typeof leak === "string" ? `"${leak}"` : String(leak)}`);
    }
    this.leak = leak;
    let leakRange: readonly [number, number] | null = null;
    if (leak === "trainable") {
      const r = options.leakRange ?? [0.01, 0.9];
      if (!Array.isArray(r) || r.length !== 2 || !r.every((a) => typeof a === "number" && a > 0 && a < 1)) {
        throw new UnfoldError(`Elman: leakRange must be two numbers in (0, 1) (the initial α of the first and last unit), got ${JSON.stringify(r)}`);
      }
      leakRange = Object.freeze([r[0], r[1]] as const);
    } else if (options.leakRange !== undefined && options.leakRange !== null) {
      throw new UnfoldError(`Elman: leakRange sets the initial values of a trainable leak; it needs leak: "trainable" (got leak ${String(leak)})`);
    }
    const timeSkip = options.timeSkip ?? 0;
    if (typeof timeSkip !== "number" || !Number.isInteger(timeSkip) || timeSkip < 0 || timeSkip === 1) {
      throw new UnfoldError(`Elman: timeSkip must be a whole number >= 2 (h_t reads h_{t−d}; d = 1 is the ordinary recurrence; 0 = none), got ${String(timeSkip)}`);
    }
    this.timeSkip = timeSkip;
    // The time-scale options appear only when used, so the configuration of a plain Elman layer is unchanged.
    this.options = { ...base, activation: this.activation, leak: this.leak, ...(leakRange ? { leakRange } : {}), ...(timeSkip ? { timeSkip } : {}), init: this.init };
    this.recurrentDropout = base.recurrentDropout;
    this.delegate = stackOfCopies(this.options, (o) => new Elman(o));
    this.stateNames = this.delegate ? this.delegate.stateNames : ["h"];
  }

  /** A layer with a skip through time cannot run one step at a time (its state would be d past states). */
  override get causal(): boolean {
    return this.timeSkip === 0 && super.causal;
  }

  protected declareOwn(inputSize: number): number {
    const H = this.units;
    const pt = this.init === "pytorch";
    const u = uniform(1 / Math.sqrt(H));
    this.param("weight_ih", [H, inputSize], pt ? u : glorotUniform());
    this.param("weight_hh", [H, H], pt ? u : this.init === "identity" ? identity() : orthogonal());
    this.param("bias_ih", [H], pt ? u : constant(0));
    this.param("bias_hh", [H], pt ? u : constant(0));
    // Half the scale of W_hh, so the two recurrent products together start near the edge of stability.
    if (this.timeSkip) this.param("weight_skip", [H, H], pt ? uniform(0.5 / Math.sqrt(H)) : orthogonal(1, 0.5));
    if (this.leak === "trainable") this.param("leak_logit", [H], this.leakInit());
    return H;
  }

  /** θ_j = logit(α_j), evenly from logit(α_first) to logit(α_last) over the units. */
  private leakInit(): Initializer {
    const [first, last] = this.options.leakRange!;
    return (shape) => {
      const H = shape[0];
      const lo = logit(first), hi = logit(last);
      return Float32Array.from({ length: H }, (_, j) => (H === 1 ? lo : lo + ((hi - lo) * j) / (H - 1)));
    };
  }

  private get leaky(): boolean {
    return this.leak !== 1;
  }

  /**
   * The kernels' per-unit leak vector [H] (α, or sigmoid(θ) for a trainable leak), or 0 when
   * there is no leak. The layer owns it.
   */
  private leakPtr(): number {
    if (!this.leaky) return 0;
    const leak = this.ws.get("leak", [this.units]);
    if (this.leak === "trainable") engine().k.f32_vsigmoid(leak.ptr, this.p("leak_logit"), this.units);
    else leak.fill(this.leak as number);
    return leak.ptr;
  }

  /**
   * Cache of y_t = act(a_t), [T, B, H]. Without a leak h_t = y_t, so it is rows 1..T of the
   * state history itself (the step kernel allows h == act then); with one it needs its own buffer.
   */
  private activations(hs: Tensor): Tensor {
    const T = this.steps, B = this.batch, H = this.units;
    return this.leaky ? this.ws.get("acts", [T, B, H]) : Tensor.view(hs, B * H, [T, B, H]);
  }

  protected scan(x: Tensor, initialState: readonly Tensor[] | undefined): void {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.units, I = this.inputSize;
    const hs = this.history("h"); // hs[0] = h0
    const acts = this.activations(hs); // preactivations, then y = act(a)
    const bias = this.ws.get("bias", [H]);

    // All steps' input projections in one GEMM, both biases folded in once.
    k.f32_add(bias.ptr, this.p("bias_ih"), this.p("bias_hh"), H);
    k.f32_gemm_np(acts.ptr, x.ptr, this.packedTranspose("packed", "weight_ih", H, I), bias.ptr, T * B, H, I, I, H, 0);
    // W_hhᵀ (over W_ihᵀ, done with; and W_skipᵀ) packed once per sequence, for each step's (B x H)·(H x H) product.
    const whh = this.packedTranspose("packed", "weight_hh", H, H);
    const d = this.timeSkip;
    const wskip = d ? this.packedTranspose("packedSkip", "weight_skip", H, H) : 0;
    this.seedState(hs, initialState?.[0]);
    const leak = this.leakPtr();
    const n = B * H;
    for (let t = 0; t < T; t++) {
      const a = acts.ptr + t * n * 4;
      const hPrev = hs.ptr + t * n * 4;
      k.f32_gemm_np(a, this.recurrentInput(hs, t), whh, 0, B, H, H, H, H, 1);
      // h_{t−d} is row t + 1 − d of the history (row 0: the initial state; before it, zeros).
      if (wskip && t + 1 - d >= 0) k.f32_gemm_np(a, hs.ptr + (t + 1 - d) * n * 4, wskip, 0, B, H, H, H, H, 1);
      k.f32_elman_forward_step(hPrev + n * 4, a, hPrev, leak, B, H, this.activationCode);
      this.endStep(t);
    }
  }



  protected scanBackward(x: Tensor, dy: Tensor | null): Tensor {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.units, I = this.inputSize;
    const n = B * H;
    const hs = this.history("h");
    const acts = this.activations(hs);
    const da = this.ws.get("da", [T, B, H]);
    const dx = this.ws.get("dx", [T, B, I]);
    const dh = this.stateGrad("h"); // running dL/dh_t; ends as dL/dh_0
    const leak = this.leakPtr();
    // W_hh and W_skip packed once per sequence, in the forward's slots.
    const whh = this.packed("packed", "weight_hh", H, H);
    const skip = this.timeSkip;
    const wskip = skip ? this.packed("packedSkip", "weight_skip", H, H) : 0;
    // The skip path's gradients, waiting for their step: row r is the part of dL/dh_r (history
    // row r) that reaches it through W_skip from step r − 1 + d.
    const pending = skip ? this.ws.zeros("skipGrads", [T + 1, B, H]).ptr : 0;
    const dleak = this.leak === "trainable" ? this.ws.zeros("dleak", [H]).ptr : 0;

    for (let t = T - 1; t >= 0; t--) {
      if (skip) k.f32_axpy(dh.ptr, 1, pending + (t + 1) * n * 4, n);
      this.beginStepBackward(t, dy);
      const d = da.ptr + t * n * 4;
      k.f32_elman_backward_step(d, dh.ptr, dleak, acts.ptr + t * n * 4, hs.ptr + t * n * 4, leak, B, H, this.activationCode);
      // dL/dh_{t-1} = (1 − α)⊙dL/dh_t (left in dh by the kernel) + da_t · W_hh   ((B x H)·(H x H))
      this.recurrentGrad(dh.ptr, true, (target, acc) => k.f32_gemm_np(target, d, whh, 0, B, H, H, H, H, acc));
      // dL/dh_{t−d} += da_t · W_skip, collected until backward reaches that state.
      if (skip && t + 1 - skip >= 0) k.f32_gemm_np(pending + (t + 1 - skip) * n * 4, d, wskip, 0, B, H, H, H, H, 1);
      this.endStepBackward(t);
    }
    if (skip) k.f32_axpy(dh.ptr, 1, pending, n); // the initial state's share
    // Weight gradients of all steps at once: dW_ih += daᵀ·X, dW_hh += daᵀ·H_prev, dW_skip += da[d−1..]ᵀ·H[0..T−d].
    this.weightGrads(da.ptr, H, T * B, [
      { c: this.g("weight_ih"), b: x.ptr, n: I },
      { c: this.g("weight_hh"), b: this.recurrentInputs(hs), n: H },
    ]);
    if (skip && T >= skip) this.weightGrads(da.ptr + (skip - 1) * n * 4, H, (T - skip + 1) * B, [{ c: this.g("weight_skip"), b: hs.ptr, n: H }]);
    if (dleak) {
      // α = sigmoid(θ): dθ += dα ⊙ α(1 − α).
      const dtheta = this.ws.get("dleakLogit", [H]).ptr;
      k.f32_vsigmoid_grad(dtheta, dleak, leak, H);
      k.f32_axpy(this.g("leak_logit"), 1, dtheta, H);
    }
    k.f32_sum_rows(this.g("bias_ih"), da.ptr, T * B, H, 1);
    k.f32_sum_rows(this.g("bias_hh"), da.ptr, T * B, H, 1);
    // dX = da · W_ih   ((TB x H)·(H x I))
    k.f32_gemm_nn(dx.ptr, da.ptr, this.p("weight_ih"), 0, T * B, I, H, H, I, I, 0);
    return dx;
  }
}
