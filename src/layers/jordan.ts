import { Tensor, UnfoldError, engine, formatShape } from "../engine/index.js";
import { ACTIVATION_CODES, type RecurrentActivation } from "./elman.js";
import { constant, glorotUniform, orthogonal, uniform } from "./init.js";
import { CellLayer, checkChoice, checkKnownOptions, checkUnits, type RecurrentOptions } from "./recurrent.js";

export type JordanOutputActivation = "linear" | "tanh" | "sigmoid";

export interface JordanOptions extends RecurrentOptions {
  /** Output units O: the width of y_t, which is both the layer's output and its recurrent state. */
  units: number;
  /** Hidden units H of the internal layer h_t. */
  hiddenUnits: number;
  /** Nonlinearity of the hidden layer. Default `"tanh"`. */
  activation?: RecurrentActivation;
  /** Nonlinearity of the output y_t (fed back at the next step). Default `"linear"`. */
  outputActivation?: JordanOutputActivation;
  /**
   * `"glorot"` (default): Glorot-uniform `weight_ih` and `weight_ho`, orthogonal `weight_hy`, zero
   * biases. `"pytorch"`: every weight and bias uniform in ±1/√H (nn.RNN's and nn.Linear(H, O)'s bound).
   */
  init?: "glorot" | "pytorch";
}

/** JordanOptions with every default filled in. */
export interface ResolvedJordanOptions {
  units: number;
  hiddenUnits: number;
  returnSequences: boolean;
  activation: RecurrentActivation;
  outputActivation: JordanOutputActivation;
  init: "glorot" | "pytorch";
}

const KNOWN = ["units", "hiddenUnits", "returnSequences", "activation", "outputActivation", "init"] as const;

/**
 * Jordan recurrent layer: the recurrence runs through the previous OUTPUT, not the hidden state.
 *   h_t = act(W_ih x_t + b_ih + W_hy y_{t−1})     y_t = outAct(W_ho h_t + b_ho)
 * Parameters `weight_ih` [H, I], `weight_hy` [H, O], `bias_ih` [H], `weight_ho` [O, H],
 * `bias_ho` [O]. The output is y ([T, B, O], or [B, O]); the state is y (y_{−1}, zeros by
 * default), so `units` is O and the hidden width H is internal. The hidden step is the Elman
 * step kernel without a leak (same math, one copy of it).
 */
export class Jordan extends CellLayer {
  readonly kind = "jordan";
  readonly stateNames: readonly string[] = ["y"];
  readonly hiddenUnits: number;
  readonly activation: RecurrentActivation;
  readonly outputActivation: JordanOutputActivation;
  readonly init: "glorot" | "pytorch";
  private readonly activationCode: number;
  override readonly options: Readonly<ResolvedJordanOptions>;
  /**
   * Teacher forcing for the next forward, set by the model (`Sequential` with `teacherForcing`)
   * and cleared after it: `targets` [T, B, O] are fed back as y_{t−1} in place of the layer's
   * own outputs, except in the (t, b) pairs where `own[t·B + b]` is 1 (scheduled sampling).
   */
  teacher: { targets: Tensor; own: Uint8Array | null } | null = null;
  /** What the last forward fed back: null (its own outputs), "all" (targets at every t ≥ 1), or the per-(t, b) 0/1 choice of its own output. */
  private fedOwn: Uint8Array | "targets" | null = null;

  constructor(options: JordanOptions) {
    checkKnownOptions("Jordan", options, KNOWN);
    super("Jordan", { units: checkUnits("Jordan", options.units), returnSequences: options.returnSequences });
    const hidden = options.hiddenUnits;
    if (typeof hidden !== "number" || !Number.isInteger(hidden) || hidden < 1) {
      throw new UnfoldError(`Jordan: hiddenUnits must be a whole number >= 1, got ${String(hidden)}`);
    }
    this.hiddenUnits = hidden;
    this.activation = checkChoice("Jordan", "activation", options.activation ?? "tanh", ["tanh", "relu", "sigmoid"]);
    this.activationCode = ACTIVATION_CODES[this.activation];
    this.outputActivation = checkChoice("Jordan", "outputActivation", options.outputActivation ?? "linear", ["linear", "tanh", "sigmoid"]);
    this.init = checkChoice("Jordan", "init", options.init ?? "glorot", ["glorot", "pytorch"]);
    this.options = {
      units: this.units, hiddenUnits: this.hiddenUnits, returnSequences: this.returnSequences,
      activation: this.activation, outputActivation: this.outputActivation, init: this.init,
    };
  }

  protected declareOwn(inputSize: number): number {
    const H = this.hiddenUnits, O = this.units;
    const pt = this.init === "pytorch";
    const u = uniform(1 / Math.sqrt(H));
    this.param("weight_ih", [H, inputSize], pt ? u : glorotUniform());
    this.param("weight_hy", [H, O], pt ? u : orthogonal());
    this.param("bias_ih", [H], pt ? u : constant(0));
    this.param("weight_ho", [O, H], pt ? u : glorotUniform());
    this.param("bias_ho", [O], pt ? u : constant(0));
    return O;
  }

  protected scan(x: Tensor, initialState: readonly Tensor[] | undefined): void {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.hiddenUnits, O = this.units, I = this.inputSize;
    const hs = this.ws.get("hs", [T, B, H]); // preactivations, then h_t = act(a_t)
    const ys = this.history("y"); // ys[0] = y_{−1}

    // All steps' input projections in one GEMM, b_ih folded in.
    k.f32_gemm_nt(hs.ptr, x.ptr, this.p("weight_ih"), this.p("bias_ih"), T * B, H, I, I, I, H, 0);
    // W_hyᵀ and W_hoᵀ packed once per sequence, for each step's two products.
    const why = this.packedTranspose("whyPacked", "weight_hy", H, O);
    const who = this.packedTranspose("whoPacked", "weight_ho", O, H);
    this.seedState(ys, initialState?.[0]);
    const nh = B * H, ny = B * O;
    const fed = this.teach(ys);
    for (let t = 0; t < T; t++) {
      const h = hs.ptr + t * nh * 4;
      const y = ys.ptr + (t + 1) * ny * 4;
      // y_{t−1}: the layer's own previous output — or, with teacher forcing, the target y_{t−1}
      // (or per sample either one), gathered into row t of `fed`.
      if (fed && t > 0 && this.fedOwn instanceof Uint8Array) {
        const own = this.fedOwn;
        for (let b = 0; b < B; b++) if (own[t * B + b]) k.f32_copy(fed.ptr + (t * B + b) * O * 4, ys.ptr + (t * B + b) * O * 4, O);
      }
      const yPrev = (fed ?? ys).ptr + t * ny * 4;
      k.f32_gemm_np(h, yPrev, why, 0, B, H, O, O, H, 1);
      // No leak, so h == act and hPrev is never read.
      k.f32_elman_forward_step(h, h, 0, 0, B, H, this.activationCode);
      k.f32_gemm_np(y, h, who, this.p("bias_ho"), B, O, H, H, O, 0);
      if (this.outputActivation === "tanh") k.f32_vtanh(y, y, ny);
      else if (this.outputActivation === "sigmoid") k.f32_vsigmoid(y, y, ny);
      this.endStep(t);
    }
  }



  /**
   * Takes the teacher set for this forward: lays out `fed` [T, B, O] — row 0 the initial
   * state, row t the target y_{t−1} (the rows fed the layer's own output are filled in as the
   * scan makes them) — and records what was fed for backward. Null without a teacher.
   */
  private teach(ys: Tensor): Tensor | null {
    const teacher = this.teacher;
    this.teacher = null;
    this.fedOwn = null;
    if (!teacher) return null;
    const T = this.steps, B = this.batch, O = this.units, ny = B * O;
    const { targets } = teacher;
    if (targets.dtype !== "float32" || targets.shape.length !== 3 || targets.shape[0] !== T || targets.shape[1] !== B || targets.shape[2] !== O) {
      throw new UnfoldError(`Jordan layer "${this.label}": teacher forcing feeds the targets back as y_{t−1}, so they must be float32 [${T}, ${B}, ${O}] like its output, got ${targets.dtype} ${formatShape(targets.shape)}`);
    }
    const k = engine().k;
    const fed = this.ws.get("fed", [T, B, O]);
    k.f32_copy(fed.ptr, ys.ptr, ny);
    if (T > 1) k.f32_copy(fed.ptr + ny * 4, targets.ptr, (T - 1) * ny);
    // A sample past its length is fed its own (carried) output: its targets there may be padding.
    let own = teacher.own;
    if (this.lengths) {
      own = own ? Uint8Array.from(own) : new Uint8Array(T * B);
      for (let t = 1; t < T; t++) for (let b = 0; b < B; b++) if (t - 1 >= this.lengths[b]) own[t * B + b] = 1;
    }
    this.fedOwn = own && own.some((v, i) => v !== 0 && i >= B) ? own : "targets";
    return fed;
  }

  protected scanBackward(x: Tensor, dy: Tensor | null): Tensor {
    const k = engine().k;
    const T = this.steps, B = this.batch, H = this.hiddenUnits, O = this.units, I = this.inputSize;
    const nh = B * H, ny = B * O;
    const hs = this.ws.get("hs", [T, B, H]);
    const ys = this.history("y");
    const da = this.ws.get("da", [T, B, H]); // dL/d hidden preactivations
    const dz = this.ws.get("dz", [T, B, O]); // dL/d output preactivations
    const dh = this.ws.get("dhidden", [B, H]);
    const dx = this.ws.get("dx", [T, B, I]);
    const dyRun = this.stateGrad("y"); // running dL/dy_t; ends as dL/dy_{−1}
    const why = this.p("weight_hy");
    const who = this.p("weight_ho");

    for (let t = T - 1; t >= 0; t--) {
      this.beginStepBackward(t, dy);
      const y = ys.ptr + (t + 1) * ny * 4;
      const z = dz.ptr + t * ny * 4;
      const d = da.ptr + t * nh * 4;
      // y_t = outAct(z_t): dz = dy⊙outAct'(z), from y.
      if (this.outputActivation === "tanh") k.f32_vtanh_grad(z, dyRun.ptr, y, ny);
      else if (this.outputActivation === "sigmoid") k.f32_vsigmoid_grad(z, dyRun.ptr, y, ny);
      else k.f32_copy(z, dyRun.ptr, ny);
      // dL/dh_t = dz_t · W_ho   ((B x O)·(O x H)): h_t reaches the loss only through y_t.
      k.f32_gemm_nn(dh.ptr, z, who, 0, B, H, O, O, H, H, 0);
      k.f32_elman_backward_step(d, dh.ptr, 0, hs.ptr + t * nh * 4, 0, 0, B, H, this.activationCode);
      // dL/dy_{t−1} = da_t · W_hy   ((B x H)·(H x O)). A fed target is a constant: where
      // y_{t−1} was the target, the gradient stops.
      if (t > 0 && this.fedOwn === "targets") dyRun.fill(0);
      else k.f32_gemm_nn(dyRun.ptr, d, why, 0, B, O, H, H, O, O, 0);
      if (t > 0 && this.fedOwn instanceof Uint8Array) {
        for (let b = 0; b < B; b++) if (!this.fedOwn[t * B + b]) k.f32_fill(dyRun.ptr + b * O * 4, 0, O);
      }
      this.endStepBackward(t);
    }
    // Weight gradients of all steps at once.
    const fed = this.fedOwn ? this.ws.get("fed", [T, B, O]) : ys; // rows 0..T−1: what was fed as y_{t−1}
    this.weightGrads(da.ptr, H, T * B, [
      { c: this.g("weight_ih"), b: x.ptr, n: I }, // daᵀ·X
      { c: this.g("weight_hy"), b: fed.ptr, n: O }, // daᵀ·Y_prev
    ]);
    k.f32_sum_rows(this.g("bias_ih"), da.ptr, T * B, H, 1);
    this.weightGrads(dz.ptr, O, T * B, [{ c: this.g("weight_ho"), b: hs.ptr, n: H }]); // dzᵀ·H
    k.f32_sum_rows(this.g("bias_ho"), dz.ptr, T * B, O, 1);
    // dX = da · W_ih   ((TB x H)·(H x I))
    k.f32_gemm_nn(dx.ptr, da.ptr, this.p("weight_ih"), 0, T * B, I, H, H, I, I, 0);
    return dx;
  }
}
