import { Tensor, UnfoldError, engine } from "../engine/index.js";
import { constant, glorotUniform, orthogonal, uniform } from "./init.js";
import type { Initializer } from "./layer.js";
import { CellLayer, STACKABLE_KEYS, checkKnownOptions, resolveStackable, type ResolvedStackable, type StackableOptions } from "./recurrent.js";
import { stackOfCopies } from "./stack.js";

export interface LSTMOptions extends StackableOptions {
  /** Peephole connections from the cell state to the input, forget and output gates. Default false. */
  peephole?: boolean;
  /** Added to the forget-gate part of `bias_ih` at initialisation. Default 1 (0 with `init: "pytorch"`). */
  forgetBias?: number;
  /**
   * `"glorot"` (default): Glorot-uniform input weights, orthogonal recurrent weights, zero biases
   * (Keras' defaults). `"pytorch"`: every weight and bias uniform in ±1/√H, as nn.LSTM does.
   */
  init?: "glorot" | "pytorch";
}

/** LSTMOptions with every default filled in. */
export interface ResolvedLSTMOptions extends ResolvedStackable {
  peephole: boolean;
  forgetBias: number;
  init: "glorot" | "pytorch";
}

const KNOWN = [...STACKABLE_KEYS, "peephole", "forgetBias", "init"] as const;

/**
 * Long short-term memory, PyTorch's layout: gates i, f, g, o stacked in `weight_ih` [4H, I],
 * `weight_hh` [4H, H], `bias_ih` [4H], `bias_hh` [4H] (so a state_dict maps one to one), plus
 * `peephole` [3, H] (w_ci, w_cf, w_co) when enabled. State: h and c. With `layers: n > 1` it
 * runs as a Stack of n single-layer LSTMs (parameters `_l0` … `_l{n−1}`, states `h_l0`, `c_l0`, …).
 */
export class LSTM extends CellLayer {
  readonly kind = "lstm";
  readonly stateNames: readonly string[];
  readonly peephole: boolean;
  readonly forgetBias: number;
  readonly init: "glorot" | "pytorch";
  override readonly options: Readonly<ResolvedLSTMOptions>;
  /** Whether backward has overwritten the last forward's gate activations with their gradients. */
  private gatesSpent = false;

  constructor(options: LSTMOptions) {
    checkKnownOptions("LSTM", options, KNOWN);
    const base = resolveStackable("LSTM", options);
    super("LSTM", base);
    this.peephole = options.peephole ?? false;
    if (typeof this.peephole !== "boolean") throw new UnfoldError(`LSTM: peephole must be true or false, got ${String(this.peephole)}`);
    this.init = options.init ?? "glorot";
    if (this.init !== "glorot" && this.init !== "pytorch") throw new UnfoldError(`LSTM: init must be "glorot" or "pytorch", got ${String(this.init)}`);
    this.forgetBias = options.forgetBias ?? (this.init === "glorot" ? 1 : 0);
    if (!Number.isFinite(this.forgetBias) || Math.abs(this.forgetBias) > 3.4e38) throw new UnfoldError(`LSTM: forgetBias must be a finite float32 number, got ${this.forgetBias}`);
    this.options = { ...base, peephole: this.peephole, forgetBias: this.forgetBias, init: this.init };
    this.recurrentDropout = base.recurrentDropout;
    this.delegate = stackOfCopies(this.options, (o) => new LSTM(o));
    this.stateNames = this.delegate ? this.delegate.stateNames : ["h", "c"];
  }

  protected declareOwn(inputSize: number): number {
    const H = this.units;
    const pt = this.init === "pytorch";
    const u = uniform(1 / Math.sqrt(H));
    const forget: Initializer = (shape, rng) => {
      const b = pt ? u(shape, rng) : constant(0)(shape, rng);
      for (let j = H; j < 2 * H; j++) b[j] += this.forgetBias;
      return b;
    };
    this.param("weight_ih", [4 * H, inputSize], pt ? u : glorotUniform(4));
    this.param("weight_hh", [4 * H, H], pt ? u : orthogonal(4));
    this.param("bias_ih", [4 * H], forget);
    this.param("bias_hh", [4 * H], pt ? u : constant(0));
    if (this.peephole) this.param("peephole", [3, H], pt ? u : constant(0));
    return H;
  }

  protected scan(x: Tensor, initialState: readonly Tensor[] | undefined): void {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.units, I = this.inputSize;
    const gates = this.ws.get("gates", [T, B, 4 * H]); // preactivations, then activations i, f, g, o
    this.gatesSpent = false;
    const hs = this.history("h"); // hs[0] = h0
    const cs = this.history("c");
    const tanhc = this.ws.get("tanhc", [T, B, H]);
    const bias = this.ws.get("bias", [4 * H]);

    k.f32_add(bias.ptr, this.p("bias_ih"), this.p("bias_hh"), 4 * H);
    // All steps' input projections in one GEMM over W_ihᵀ packed once (the nt path would
    // repack it for every 128 rows of x), both biases folded in once.
    const wih = this.packedTranspose("packed", "weight_ih", 4 * H, I);
    k.f32_gemm_np(gates.ptr, x.ptr, wih, bias.ptr, T * B, 4 * H, I, I, 4 * H, 0);
    // W_hhᵀ packed once per sequence (over W_ihᵀ, done with), for each step's (B x H)·(H x 4H) product.
    const whh = this.packedTranspose("packed", "weight_hh", 4 * H, H);
    this.seedState(hs, initialState?.[0]);
    this.seedState(cs, initialState?.[1]);
    const peep = this.peephole ? this.p("peephole") : 0;
    const n = B * H;
    for (let t = 0; t < T; t++) {
      const g = gates.ptr + t * 4 * n * 4;
      k.f32_gemm_np(g, this.recurrentInput(hs, t), whh, 0, B, 4 * H, H, H, 4 * H, 1);
      k.f32_lstm_forward_step(hs.ptr + (t + 1) * n * 4, cs.ptr + (t + 1) * n * 4, tanhc.ptr + t * n * 4, g, cs.ptr + t * n * 4, peep, B, H);
      this.endStep(t);
    }
  }




  protected scanBackward(x: Tensor, dy: Tensor | null): Tensor {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.units, I = this.inputSize;
    const n = B * H;
    const gates = this.ws.get("gates", [T, B, 4 * H]);
    const hs = this.history("h");
    const cs = this.history("c");
    const tanhc = this.ws.get("tanhc", [T, B, H]);
    // In place: step t reads its activations, then writes their gradients over them (a
    // [T, B, 4H] buffer fewer to stream through memory). So one forward serves one backward,
    // as PyTorch frees its graph after backward unless told to retain it.
    if (this.gatesSpent) throw new UnfoldError(`LSTM layer "${this.label}": backward already ran for the last forward, whose gate activations it overwrote; run forward again`);
    this.gatesSpent = true;
    const dgates = gates;
    const dx = this.ws.get("dx", [T, B, I]);
    const dh = this.stateGrad("h"); // running dL/dh_t; ends as dL/dh_0
    const dc = this.stateGrad("c"); // running dL/dc_t; ends as dL/dc_0
    const peep = this.peephole ? this.p("peephole") : 0;
    const dpeep = this.peephole ? this.g("peephole") : 0;
    const whh = this.packed("packed", "weight_hh", 4 * H, H); // W_hh, once per sequence, over the forward's W_hhᵀ

    for (let t = T - 1; t >= 0; t--) {
      this.beginStepBackward(t, dy);
      const dg = dgates.ptr + t * 4 * n * 4;
      k.f32_lstm_backward_step(dg, dc.ptr, dpeep, dh.ptr, gates.ptr + t * 4 * n * 4, cs.ptr + t * n * 4, cs.ptr + (t + 1) * n * 4, tanhc.ptr + t * n * 4, peep, B, H);
      // dL/dh_{t-1} = dgates_t · W_hh   ((B x 4H)·(4H x H))
      this.recurrentGrad(dh.ptr, false, (target, acc) => k.f32_gemm_np(target, dg, whh, 0, B, H, 4 * H, 4 * H, H, acc));
      this.endStepBackward(t);
    }
    // Weight gradients of all steps at once: dW_ih += dgatesᵀ·X, dW_hh += dgatesᵀ·H_prev.
    this.weightGrads(dgates.ptr, 4 * H, T * B, [
      { c: this.g("weight_ih"), b: x.ptr, n: I },
      { c: this.g("weight_hh"), b: this.recurrentInputs(hs), n: H },
    ]);
    k.f32_sum_rows(this.g("bias_ih"), dgates.ptr, T * B, 4 * H, 1);
    k.f32_sum_rows(this.g("bias_hh"), dgates.ptr, T * B, 4 * H, 1);
    if (!this.needsInputGrad) return this.noInputGrad(x);
    // dX = dgates · W_ih   ((TB x 4H)·(4H x I))
    k.f32_gemm_nn(dx.ptr, dgates.ptr, this.p("weight_ih"), 0, T * B, I, 4 * H, 4 * H, I, I, 0);
    return dx;
  }
}
