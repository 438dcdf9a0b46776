import { Tensor, UnfoldError, engine } from "../engine/index.js";
import { glorotUniform, orthogonal, uniform, zeros } from "./init.js";
import { CellLayer, STACKABLE_KEYS, checkKnownOptions, resolveStackable, type ResolvedStackable, type StackableOptions } from "./recurrent.js";
import type { WeightGrad } from "./layer.js";
import { stackOfCopies } from "./stack.js";

export interface GRUOptions extends StackableOptions {
  /**
   * Where the reset gate acts. `true` (default, PyTorch; Keras `reset_after=True`): after the
   * hidden product, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)). `false` (Cho et al. 2014;
   * Keras `reset_after=False`): before it, n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn).
   * Both forms have the same parameters.
   */
  resetAfter?: boolean;
  /**
   * `"glorot"` (default): Glorot-uniform input weights per gate, orthogonal recurrent weights
   * per gate, zero biases (Keras' defaults). `"pytorch"`: every weight and bias uniform in
   * ±1/√H, as nn.GRU does.
   */
  init?: "glorot" | "pytorch";
}

/** GRUOptions with every default filled in. */
export interface ResolvedGRUOptions extends ResolvedStackable {
  resetAfter: boolean;
  init: "glorot" | "pytorch";
}

const KNOWN = [...STACKABLE_KEYS, "resetAfter", "init"] as const;

/**
 * Gated recurrent unit, PyTorch's layout: gates r, z, n stacked in `weight_ih` [3H, I],
 * `weight_hh` [3H, H], `bias_ih` [3H], `bias_hh` [3H] (so a state_dict maps one to one), with
 * h' = (1 − z) ⊙ n + z ⊙ h. State: h. With `layers: n > 1` it runs as a Stack of n
 * single-layer GRUs (parameters `_l0` … `_l{n−1}`, states `h_l0`, …). Recurrent dropout masks
 * h where it enters W_hh (both forms; with reset before, r multiplies the masked h), never the
 * z ⊙ h term.
 */
export class GRU extends CellLayer {
  readonly kind = "gru";
  readonly stateNames: readonly string[];
  readonly resetAfter: boolean;
  readonly init: "glorot" | "pytorch";
  override readonly options: Readonly<ResolvedGRUOptions>;

  constructor(options: GRUOptions) {
    checkKnownOptions("GRU", options, KNOWN);
    const base = resolveStackable("GRU", options);
    super("GRU", base);
    this.resetAfter = options.resetAfter ?? true;
    if (typeof this.resetAfter !== "boolean") throw new UnfoldError(`GRU: resetAfter must be true or false, got ${String(this.resetAfter)}`);
    this.init = options.init ?? "glorot";
    if (this.init !== "glorot" && this.init !== "pytorch") throw new UnfoldError(`GRU: init must be "glorot" or "pytorch", got ${String(this.init)}`);
    this.options = { ...base, resetAfter: this.resetAfter, init: this.init };
    this.recurrentDropout = base.recurrentDropout;
    this.delegate = stackOfCopies(this.options, (o) => new GRU(o));
    this.stateNames = this.delegate ? this.delegate.stateNames : ["h"];
  }

  protected declareOwn(inputSize: number): number {
    const H = this.units;
    const u = this.init === "pytorch" ? uniform(1 / Math.sqrt(H)) : null;
    this.param("weight_ih", [3 * H, inputSize], u ?? glorotUniform(3));
    this.param("weight_hh", [3 * H, H], u ?? orthogonal(3));
    this.param("bias_ih", [3 * H], u ?? zeros);
    this.param("bias_hh", [3 * H], u ?? zeros);
    return H;
  }

  protected scan(x: Tensor, initialState: readonly Tensor[] | undefined): void {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.units, I = this.inputSize;
    const n = B * H, G = 3 * H;
    const stepG = B * G * 4, stepH = n * 4; // bytes per step of a [T, B, 3H] and a [T, B, H] tensor
    const gates = this.ws.get("gates", [T, B, G]); // projections, then activations r, z, n
    const hs = this.history("h"); // hs[0] = h0

    this.seedState(hs, initialState?.[0]);
    if (this.resetAfter) {
      const hn = this.ws.get("hn", [T, B, H]); // W_hn h_prev + b_hn, the factor r multiplies
      const hproj = this.ws.get("hproj", [B, G]);
      const bhh = this.p("bias_hh");
      // All steps' input projections in one GEMM; b_hh stays with the hidden projection (b_hn is inside r ⊙ (·)).
      k.f32_gemm_np(gates.ptr, x.ptr, this.packedTranspose("packed", "weight_ih", G, I), this.p("bias_ih"), T * B, G, I, I, G, 0);
      const whh = this.packedTranspose("packed", "weight_hh", G, H); // W_hhᵀ, once per sequence, over W_ihᵀ
      for (let t = 0; t < T; t++) {
        const hPrev = hs.ptr + t * stepH;
        k.f32_gemm_np(hproj.ptr, this.recurrentInput(hs, t), whh, bhh, B, G, H, H, G, 0);
        k.f32_gru_forward_step(hPrev + stepH, gates.ptr + t * stepG, hn.ptr + t * stepH, hproj.ptr, hPrev, B, H);
        this.endStep(t);
      }
    } else {
      const rh = this.ws.get("rh", [T, B, H]); // r ⊙ h_prev, the input of W_hn
      const bias = this.ws.get("bias", [G]);
      const nPart = 2 * H * 4; // bytes from a [.., 3H] row to its n part
      // Every projection enters a preactivation as a plain sum here: both biases fold into the one GEMM.
      k.f32_add(bias.ptr, this.p("bias_ih"), this.p("bias_hh"), G);
      k.f32_gemm_np(gates.ptr, x.ptr, this.packedTranspose("packed", "weight_ih", G, I), bias.ptr, T * B, G, I, I, G, 0);
      // W_h{r,z}ᵀ (over W_ihᵀ) and W_hnᵀ, packed once per sequence (two products per step)
      const whrz = this.packedTranspose("packed", "weight_hh", 2 * H, H);
      const whn = this.packedTranspose("packedN", "weight_hh", H, H, 2 * H);
      for (let t = 0; t < T; t++) {
        const hPrev = hs.ptr + t * stepH;
        const g = gates.ptr + t * stepG;
        const rht = rh.ptr + t * stepH;
        // a_r, a_z += h_prev · W_h{r,z}ᵀ; then r, z and r ⊙ h_prev; then a_n += (r ⊙ h_prev) · W_hnᵀ
        // (h_prev here: as it enters the recurrent product, masked with recurrent dropout).
        const hIn = this.recurrentInput(hs, t);
        k.f32_gemm_np(g, hIn, whrz, 0, B, 2 * H, H, H, G, 1);
        k.f32_gru_reset_gate_step(g, rht, hIn, B, H);
        k.f32_gemm_np(g + nPart, rht, whn, 0, B, H, H, H, G, 1);
        k.f32_gru_candidate_step(hPrev + stepH, g, hPrev, B, H);
        this.endStep(t);
      }
    }
  }



  protected scanBackward(x: Tensor, dy: Tensor | null): Tensor {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.units, I = this.inputSize;
    const n = B * H, G = 3 * H;
    const stepG = B * G * 4, stepH = n * 4; // bytes per step of a [T, B, 3H] and a [T, B, H] tensor
    const gates = this.ws.get("gates", [T, B, G]);
    const hs = this.history("h");
    const dgates = this.ws.get("dgates", [T, B, G]); // dL/d input projection (and, reset before, hidden projection)
    const dx = this.ws.get("dx", [T, B, I]);
    const dh = this.stateGrad("h"); // running dL/dh_t; ends as dL/dh_0
    const hIns = this.recurrentInputs(hs); // h_prev as it entered the recurrent product
    const gWhh = this.g("weight_hh");
    const dgatesProducts: WeightGrad[] = [{ c: this.g("weight_ih"), b: x.ptr, n: I }]; // weight gradients from dgatesᵀ

    if (this.resetAfter) {
      const hn = this.ws.get("hn", [T, B, H]);
      const dhproj = this.ws.get("dhproj", [T, B, G]); // dL/d hidden projection: differs from dgates in the n part
      const whh = this.packed("packed", "weight_hh", G, H); // W_hh, once per sequence
      for (let t = T - 1; t >= 0; t--) {
        this.beginStepBackward(t, dy);
        const dq = dhproj.ptr + t * stepG;
        k.f32_gru_backward_step(dgates.ptr + t * stepG, dq, dh.ptr, gates.ptr + t * stepG, hn.ptr + t * stepH, hs.ptr + t * stepH, B, H);
        // dL/dh_{t-1} = dh ⊙ z (left by the kernel) + dhproj_t · W_hh   ((B x 3H)·(3H x H))
        this.recurrentGrad(dh.ptr, true, (target, acc) => k.f32_gemm_np(target, dq, whh, 0, B, H, G, G, H, acc));
        this.endStepBackward(t);
      }
      // dW_hh += dhprojᵀ · H_prev over all steps; b_hh's gradient is the hidden projection's.
      this.weightGrads(dhproj.ptr, G, T * B, [{ c: gWhh, b: hIns, n: H }]);
      k.f32_sum_rows(this.g("bias_hh"), dhproj.ptr, T * B, G, 1);
    } else {
      const rh = this.ws.get("rh", [T, B, H]);
      const drh = this.ws.get("drh", [B, H]);
      const nPart = 2 * H * 4; // bytes from a [.., 3H] row to its n part
      // The r, z rows of W_hh and its n rows, each packed once per sequence; the n rows of the gradient.
      const whrz = this.packed("packed", "weight_hh", 2 * H, H);
      const whn = this.packed("packedN", "weight_hh", H, H, 2 * H);
      const gWhn = gWhh + 2 * H * H * 4;
      for (let t = T - 1; t >= 0; t--) {
        this.beginStepBackward(t, dy);
        const dg = dgates.ptr + t * stepG;
        const g = gates.ptr + t * stepG;
        const hIn = hIns + t * stepH;
        k.f32_gru_candidate_backward_step(dg, dh.ptr, g, hs.ptr + t * stepH, B, H);
        // dL/d(r ⊙ h_prev) = da_n · W_hn   ((B x H)·(H x H))
        k.f32_gemm_np(drh.ptr, dg + nPart, whn, 0, B, H, H, G, H, 0);
        // dL/dh_{t-1} = dh ⊙ z (left by the candidate kernel) + drh ⊙ r + [da_r, da_z] · W_h{r,z}   ((B x 2H)·(2H x H)),
        // the last two through the recurrent product's input.
        this.recurrentGrad(dh.ptr, true, (target, acc) => {
          if (!acc) k.f32_fill(target, 0, B * H);
          k.f32_gru_reset_gate_backward_step(dg, target, drh.ptr, g, hIn, B, H);
          k.f32_gemm_np(target, dg, whrz, 0, B, H, 2 * H, G, H, 1);
        });
        this.endStepBackward(t);
      }
      // The r, z rows of W_hh multiply h_prev, the n rows r ⊙ h_prev: their gradients read
      // dgates, so they join dW_ih's pass over it below.
      dgatesProducts.push({ c: gWhh, b: hIns, n: H, m: 2 * H }, { c: gWhn, b: rh.ptr, n: H, col: 2 * H });
      k.f32_sum_rows(this.g("bias_hh"), dgates.ptr, T * B, G, 1);
    }
    // Input side, the same in both forms: dW_ih += dgatesᵀ · X, db_ih = Σ dgates, dX = dgates · W_ih.
    this.weightGrads(dgates.ptr, G, T * B, dgatesProducts);
    k.f32_sum_rows(this.g("bias_ih"), dgates.ptr, T * B, G, 1);
    if (!this.needsInputGrad) return this.noInputGrad(x);
    k.f32_gemm_nn(dx.ptr, dgates.ptr, this.p("weight_ih"), 0, T * B, I, G, G, I, I, 0);
    return dx;
  }
}
