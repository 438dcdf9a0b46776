import { Tensor, UnfoldError, engine } from "../engine/index.js";
import { constant, glorotUniform, identity, orthogonal, uniform } from "./init.js";
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
   * 1/α. Default 1 (no leak: PyTorch's nn.RNN).
   */
  leak?: number;
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
  leak: number;
  init: "glorot" | "pytorch" | "identity";
}

const KNOWN = [...STACKABLE_KEYS, "activation", "leak", "init"] as const;
const INITS = ["glorot", "pytorch", "identity"] as const;

/**
 * Elman (simple) recurrent layer, PyTorch's nn.RNN layout: `weight_ih` [H, I], `weight_hh` [H, H],
 * `bias_ih` [H], `bias_hh` [H], so a state_dict maps one to one.
 * h_t = (1 − α)⊙h_{t−1} + α⊙act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh). State: h. With
 * `layers: n > 1` it runs as a Stack of n single-layer copies (parameters `_l0` … `_l{n−1}`).
 * Recurrent dropout masks h_{t−1} in W_hh h_{t−1} only, not in the leak term.
 */
export class Elman extends CellLayer {
  readonly kind = "elman";
  readonly stateNames: readonly string[];
  readonly activation: RecurrentActivation;
  readonly leak: number;
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
    if (typeof leak !== "number" || !(leak > 0 && leak <= 1)) {
      throw new UnfoldError(`Elman: leak must be a number in (0, 1] (1 = no leak), got ${String(leak)}`);
    }
    this.leak = leak;
    this.options = { ...base, activation: this.activation, leak: this.leak, init: this.init };
    this.recurrentDropout = base.recurrentDropout;
    this.delegate = stackOfCopies(this.options, (o) => new Elman(o));
    this.stateNames = this.delegate ? this.delegate.stateNames : ["h"];
  }

  protected declareOwn(inputSize: number): number {
    const H = this.units;
    const pt = this.init === "pytorch";
    const u = uniform(1 / Math.sqrt(H));
    this.param("weight_ih", [H, inputSize], pt ? u : glorotUniform());
    this.param("weight_hh", [H, H], pt ? u : this.init === "identity" ? identity() : orthogonal());
    this.param("bias_ih", [H], pt ? u : constant(0));
    this.param("bias_hh", [H], pt ? u : constant(0));
    return H;
  }

  /**
   * The kernels' per-unit leak vector [H] filled with α, or 0 when there is no leak. The layer
   * owns it; α is fixed for now, so it is not a parameter and gets no gradient.
   */
  private leakPtr(): number {
    if (this.leak === 1) return 0;
    return this.ws.get("leak", [this.units]).fill(this.leak).ptr;
  }

  /**
   * Cache of y_t = act(a_t), [T, B, H]. Without a leak h_t = y_t, so it is rows 1..T of the
   * state history itself (the step kernel allows h == act then); with one it needs its own buffer.
   */
  private activations(hs: Tensor): Tensor {
    const T = this.steps, B = this.batch, H = this.units;
    return this.leak === 1 ? Tensor.view(hs, B * H, [T, B, H]) : this.ws.get("acts", [T, B, H]);
  }

  protected scan(x: Tensor, initialState: readonly Tensor[] | undefined): void {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.units, I = this.inputSize;
    const hs = this.history("h"); // hs[0] = h0
    const acts = this.activations(hs); // preactivations, then y = act(a)
    const whhT = this.ws.get("whhT", [H, H]);
    const bias = this.ws.get("bias", [H]);

    // All steps' input projections in one GEMM, both biases folded in once.
    k.f32_add(bias.ptr, this.p("bias_ih"), this.p("bias_hh"), H);
    k.f32_gemm_nt(acts.ptr, x.ptr, this.p("weight_ih"), bias.ptr, T * B, H, I, I, I, H, 0);
    // W_hhᵀ laid out once per sequence, so each step is a plain (B x H)·(H x H) product.
    k.f32_transpose(whhT.ptr, this.p("weight_hh"), H, H);
    this.seedState(hs, initialState?.[0]);
    const leak = this.leakPtr();
    const n = B * H;
    for (let t = 0; t < T; t++) {
      const a = acts.ptr + t * n * 4;
      const hPrev = hs.ptr + t * n * 4;
      k.f32_gemm_nn(a, this.recurrentInput(hs, t), whhT.ptr, 0, B, H, H, H, H, H, 1);
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
    const whh = this.p("weight_hh");

    for (let t = T - 1; t >= 0; t--) {
      this.beginStepBackward(t, dy);
      const d = da.ptr + t * n * 4;
      k.f32_elman_backward_step(d, dh.ptr, 0, acts.ptr + t * n * 4, hs.ptr + t * n * 4, leak, B, H, this.activationCode);
      // dL/dh_{t-1} = (1 − α)⊙dL/dh_t (left in dh by the kernel) + da_t · W_hh   ((B x H)·(H x H))
      this.recurrentGrad(dh.ptr, true, (target, acc) => k.f32_gemm_nn(target, d, whh, 0, B, H, H, H, H, H, acc));
      this.endStepBackward(t);
    }
    // Weight gradients of all steps at once: dW_ih += daᵀ·X, dW_hh += daᵀ·H_prev.
    k.f32_gemm_tn(this.g("weight_ih"), da.ptr, x.ptr, 0, H, I, T * B, H, I, I, 1);
    k.f32_gemm_tn(this.g("weight_hh"), da.ptr, this.recurrentInputs(hs), 0, H, H, T * B, H, H, H, 1);
    k.f32_sum_rows(this.g("bias_ih"), da.ptr, T * B, H, 1);
    k.f32_sum_rows(this.g("bias_hh"), da.ptr, T * B, H, 1);
    // dX = da · W_ih   ((TB x H)·(H x I))
    k.f32_gemm_nn(dx.ptr, da.ptr, this.p("weight_ih"), 0, T * B, I, H, H, I, I, 0);
    return dx;
  }
}
