import { Tensor, UnfoldError, engine } from "../engine/index.js";
import { constant, glorotUniform, uniform } from "./init.js";
import { Layer, rowsOf, type RunContext } from "./layer.js";
import { checkKnownOptions, checkUnits } from "./recurrent.js";

export type Activation = "linear" | "tanh" | "sigmoid" | "relu";
const ACTIVATIONS: readonly Activation[] = ["linear", "tanh", "sigmoid", "relu"];

export interface DenseOptions {
  /** Output features. */
  units: number;
  /** Applied to the output. Default "linear" (losses take logits). */
  activation?: Activation;
  /** Include a bias. Default true. */
  bias?: boolean;
  /** `"glorot"` (default) or `"pytorch"` (uniform ±1/√in, as nn.Linear). */
  init?: "glorot" | "pytorch";
}

/**
 * A fully connected layer applied to every row: [..., I] → [..., O], so on a [T, B, I]
 * sequence it is applied at every step. nn.Linear's layout: `weight` [O, I], `bias` [O].
 */
export class Dense extends Layer {
  readonly kind = "dense";
  readonly units: number;
  readonly activation: Activation;
  readonly useBias: boolean;
  readonly init: "glorot" | "pytorch";
  override readonly options: Readonly<Required<DenseOptions>>;
  private xRef: Tensor | null = null;

  constructor(options: DenseOptions) {
    super();
    checkKnownOptions("Dense", options, ["units", "activation", "bias", "init"]);
    this.units = checkUnits("Dense", options.units);
    this.activation = options.activation ?? "linear";
    if (!ACTIVATIONS.includes(this.activation)) throw new UnfoldError(`Dense: activation must be one of ${ACTIVATIONS.join(", ")}, got ${String(this.activation)}`);
    this.useBias = options.bias ?? true;
    this.init = options.init ?? "glorot";
    if (this.init !== "glorot" && this.init !== "pytorch") throw new UnfoldError(`Dense: init must be "glorot" or "pytorch", got ${String(this.init)}`);
    this.options = { units: this.units, activation: this.activation, bias: this.useBias, init: this.init };
  }

  protected declare(inputSize: number): number {
    const pt = this.init === "pytorch";
    const u = uniform(1 / Math.sqrt(inputSize));
    this.param("weight", [this.units, inputSize], pt ? u : glorotUniform());
    if (this.useBias) this.param("bias", [this.units], pt ? u : constant(0));
    return this.units;
  }

  forward(x: Tensor, _ctx: RunContext): Tensor {
    this.checkInput(x, [2, 3]);
    const k = engine().k;
    const rows = rowsOf(x), I = this.inputSize, O = this.units;
    const y = this.ws.get("y", [...x.shape.slice(0, -1), O]);
    k.f32_gemm_nt(y.ptr, x.ptr, this.p("weight"), this.useBias ? this.p("bias") : 0, rows, O, I, I, I, O, 0);
    switch (this.activation) {
      case "tanh": k.f32_vtanh(y.ptr, y.ptr, y.size); break;
      case "sigmoid": k.f32_vsigmoid(y.ptr, y.ptr, y.size); break;
      case "relu": k.f32_vrelu(y.ptr, y.ptr, y.size); break;
      case "linear": break;
    }
    this.xRef = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const x = this.xRef;
    if (!x || x.disposed) throw new UnfoldError(`dense layer "${this.prefix}": backward needs a forward first (and its input alive)`);
    const k = engine().k;
    const rows = rowsOf(x), I = this.inputSize, O = this.units;
    if (dy.size !== rows * O) throw new UnfoldError(`dense layer "${this.prefix}" expected output gradient [..., ${O}] with ${rows} rows, got ${dy.shape.join("x")}`);
    const y = this.ws.get("y", [...x.shape.slice(0, -1), O]);
    let dpre = dy;
    if (this.activation !== "linear") {
      dpre = this.ws.get("dpre", y.shape);
      if (this.activation === "tanh") k.f32_vtanh_grad(dpre.ptr, dy.ptr, y.ptr, y.size);
      else if (this.activation === "sigmoid") k.f32_vsigmoid_grad(dpre.ptr, dy.ptr, y.ptr, y.size);
      else k.f32_vrelu_grad(dpre.ptr, dy.ptr, y.ptr, y.size);
    }
    // dW += dYᵀ·X, db += Σ_rows dY, dX = dY·W
    this.weightGrads(dpre.ptr, O, rows, [{ c: this.g("weight"), b: x.ptr, n: I }]);
    if (this.useBias) k.f32_sum_rows(this.g("bias"), dpre.ptr, rows, O, 1);
    const dx = this.ws.get("dx", x.shape);
    k.f32_gemm_nn(dx.ptr, dpre.ptr, this.p("weight"), 0, rows, I, O, O, I, I, 0);
    return dx;
  }
}
