import { ParamStore, Tensor, UnfoldError, Workspace, engine, formatShape, type DType } from "../engine/index.js";
import type { Rng } from "../data/rng.js";

/** Makes the initial values of one parameter. */
export type Initializer = (shape: readonly number[], rng: Rng) => Float32Array;

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Initializer;
  /** Row-sparse gradient: the optimizer updates only the rows the layer marks (see ParamStore.touchRows). */
  readonly sparse?: boolean;
}

/** What a forward pass needs besides its input. */
export interface RunContext {
  /** Training mode (dropout on, caches kept for backward). */
  readonly training: boolean;
  /** The model's seeded generator (dropout masks). */
  readonly rng: Rng;
}

/**
 * One layer: declares its parameters in `build`, reads them from the model's flat store
 * after `bind`, runs `forward` over a time-major batch and `backward` through it.
 * A layer owns its outputs and its input gradient: they stay valid until its next call.
 * Backward ADDS into the parameter gradients (the model zeroes them once per step).
 */
export abstract class Layer {
  /** Name prefix of this layer's parameters in the model, e.g. `lstm0`. */
  prefix = "";
  /**
   * Name suffix of this layer's parameters, given by the composite layer it is part of:
   * `_l1` for layer 1 of a Stack, `_reverse` for the backward direction of a Bidirectional,
   * `_l1_reverse` for both (PyTorch's names). Empty for a layer on its own.
   */
  suffix = "";
  protected store: ParamStore | null = null;
  protected readonly ws = new Workspace();
  private specs: ParamSpec[] = [];
  private children: Layer[] = [];
  private builtInput = -1;
  private lastInput: Tensor | null = null;

  /** The kind, used for parameter names and messages (`lstm`, `dense`, …). */
  abstract readonly kind: string;

  /**
   * Whether backward computes dL/d(input). A model turns it off for a first layer that reads
   * data, since nothing upstream needs that gradient; layers that honour it then skip their
   * input-gradient GEMM and return an empty [..., 0] tensor (see `noInputGrad`).
   */
  needsInputGrad = true;

  /** What the layer reads: float32 features, or int32 token ids (Embedding). */
  readonly inputDType: DType = "float32";

  /**
   * Whether the output at step t depends only on steps 0..t, so the layer can run one step
   * at a time (streaming). False for layers that read the sequence backwards or pool it whole.
   */
  get causal(): boolean {
    return true;
  }

  /**
   * The resolved constructor options (defaults filled in), a plain JSON-able object: with
   * `kind`, enough to build the same layer again (a saved model's architecture). Every
   * layer class sets it in its constructor.
   */
  readonly options: object = {};

  /** Declares parameters for inputs of `inputSize` features and returns the output feature size. */
  build(inputSize: number, prefix: string, suffix = ""): number {
    if (this.builtInput >= 0) throw new UnfoldError(`${this.kind} layer "${this.label}" is already part of a model; create a new layer instead`);
    this.prefix = prefix;
    this.suffix = suffix;
    this.specs = [];
    this.children = [];
    const out = this.declare(inputSize);
    this.builtInput = inputSize;
    return out;
  }

  /** Subclasses declare their parameters with `param` (and their parts with `adopt`) and return the output size. */
  protected abstract declare(inputSize: number): number;

  protected param(name: string, shape: readonly number[], init: Initializer, options: { sparse?: boolean } = {}): void {
    this.specs.push({ name: this.paramName(name), shape, init, ...(options.sparse ? { sparse: true } : {}) });
  }

  /**
   * Composition: builds `child` as a part of this layer, for inputs of `inputSize` features,
   * and returns its output size. The child's parameters are named with this layer's prefix
   * and suffix followed by `suffix` (`lstm0.weight_ih_l1`), come after this layer's own in
   * `paramSpecs` (so they are initialised in build order), and the child is bound and
   * disposed with this layer. The one mechanism behind Stack and Bidirectional.
   */
  protected adopt(child: Layer, inputSize: number, suffix: string): number {
    const out = child.build(inputSize, this.prefix, this.suffix + suffix);
    this.children.push(child);
    return out;
  }

  /** This layer's parameters, then its parts' (recursively). */
  get paramSpecs(): readonly ParamSpec[] {
    return this.children.length ? [...this.specs, ...this.children.flatMap((c) => c.paramSpecs)] : this.specs;
  }

  get inputSize(): number {
    return this.builtInput;
  }

  /** The layer's name in messages: its prefix and suffix, e.g. `lstm0` or `lstm0_l1`. */
  get label(): string {
    return `${this.prefix}${this.suffix}`;
  }

  bind(store: ParamStore): void {
    this.store = store;
    for (const c of this.children) c.bind(store);
  }

  /** The full name of this layer's parameter `name`: `${prefix}.${name}${suffix}`. */
  protected paramName(name: string): string {
    return `${this.prefix}.${name}${this.suffix}`;
  }

  /** Pointer to this layer's parameter `name` in the model's flat buffer. */
  protected p(name: string): number {
    return this.params.ptr(this.paramName(name));
  }

  /** Pointer to the gradient of parameter `name`. */
  protected g(name: string): number {
    return this.params.gradPtr(this.paramName(name));
  }

  protected get params(): ParamStore {
    if (!this.store) throw new UnfoldError(`${this.kind} layer is not part of a model yet: add it to a model before running it`);
    return this.store;
  }

  /** The empty [..., 0] gradient a layer returns when `needsInputGrad` is off. */
  protected noInputGrad(x: Tensor): Tensor {
    return this.ws.get("noInputGrad", [...x.shape.slice(0, -1), 0]);
  }

  /**
   * Weight gradients of all steps, C += A[:, col .. col+m)ᵀ · B for each product, where the
   * products share A [rows, lda] (a layer's gate gradients over T·B rows) and each B is
   * [rows, n], C [m, n], both dense. The same sums in the same order as f32_gemm_tn, so the same
   * bits, ~13% faster: A goes through a [lda, 256] workspace panel, transposed 256 rows at a
   * time (once for all products), which f32_gemm_nn reads in place with its full blocking —
   * f32_gemm_tn must pack A into 16 KiB of static scratch, too small a block at this K.
   */
  protected weightGrads(a: number, lda: number, rows: number, products: readonly WeightGrad[]): void {
    const k = engine().k;
    const chunk = Math.min(rows, WEIGHT_GRAD_CHUNK);
    // One panel per width: a layer with two widths (Jordan) keeps both instead of swapping.
    const panel = this.ws.get(`weightGradPanel${lda}`, [lda, chunk]).ptr;
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const kc = Math.min(chunk, rows - r0);
      k.f32_transpose(panel, a + r0 * lda * 4, kc, lda); // panel [lda, kc]: row i = column i of A
      for (const { c, b, n, col = 0, m = lda - col } of products) {
        k.f32_gemm_nn(c, panel + col * kc * 4, b + r0 * n * 4, 0, m, n, kc, kc, n, n, 1);
      }
    }
  }

  /**
   * Rows row0 .. row0+rows of parameter `name` (a [*, cols] weight W) packed as the B = Wᵀ of
   * x·Wᵀ for f32_gemm_np, into workspace slot `key`; returns its pointer. A recurrent layer
   * packs its recurrent weights once per sequence, so that each step's product reads them
   * contiguously, 16 columns at a time (see assembly/gemm.ts). Packs made one after another
   * (W_ihᵀ, done with once the input projection ran, then W_hhᵀ) can share a key: the slot
   * keeps the largest size (Workspace.atLeast).
   */
  protected packedTranspose(key: string, name: string, rows: number, cols: number, row0 = 0): number {
    const packed = this.ws.atLeast(key, packedFloats(cols, rows)).ptr;
    engine().k.f32_gemm_pack_b(packed, this.p(name) + row0 * cols * 4, rows, cols, cols, 1);
    return packed;
  }

  /**
   * Rows row0 .. row0+rows of parameter `name` (a [*, cols] weight W) packed as the B = W of
   * g·W for f32_gemm_np, into workspace slot `key` (see packedTranspose); returns its
   * pointer. Backward packs a recurrent weight once per sequence for each step's
   * dL/dh_{t−1} = dgates_t · W_hh, in the slot the forward's pack no longer needs.
   */
  protected packed(key: string, name: string, rows: number, cols: number, row0 = 0): number {
    const packed = this.ws.atLeast(key, packedFloats(rows, cols)).ptr;
    engine().k.f32_gemm_pack_b(packed, this.p(name) + row0 * cols * 4, cols, rows, cols, 0);
    return packed;
  }

  /** Keeps the forward input for backward (the caller keeps it alive until then). */
  protected remember(x: Tensor): void {
    this.lastInput = x;
  }

  /** The input of the last forward, for backward; throws if there was none or it was disposed. */
  protected recalled(): Tensor {
    const x = this.lastInput;
    if (!x) throw new UnfoldError(`${this.kind} layer "${this.label}": backward called before forward`);
    if (x.disposed) throw new UnfoldError(`${this.kind} layer "${this.label}": the input of the last forward was disposed before backward`);
    return x;
  }

  abstract forward(x: Tensor, ctx: RunContext): Tensor;
  abstract backward(dy: Tensor): Tensor;

  /** Checks that `x` is [..., inputSize] with the expected rank, naming the layer. */
  protected checkInput(x: Tensor, ranks: readonly number[]): void {
    const f = x.shape[x.shape.length - 1];
    if (!ranks.includes(x.shape.length) || f !== this.builtInput) {
      const want = ranks.includes(3) ? `[T, B, ${this.builtInput}]` : `[B, ${this.builtInput}]`;
      throw new UnfoldError(`${this.kind} layer "${this.label}" expected input ${want}, got ${formatShape(x.shape)}`);
    }
    if (x.dtype !== "float32") throw new UnfoldError(`${this.kind} layer "${this.label}" expected float32 input, got ${x.dtype}`);
  }

  /** Frees this layer's buffers and its parts'. */
  dispose(): void {
    this.ws.dispose();
    for (const c of this.children) c.dispose();
  }
}

/** One product of `Layer.weightGrads`: C [m, n] += A[:, col .. col+m)ᵀ · B [rows, n]. */
export interface WeightGrad {
  c: number;
  b: number;
  n: number;
  /** First column of A (default 0). */
  col?: number;
  /** Columns of A, rows of C (default: the rest of A from `col`). */
  m?: number;
}

/** Floats f32_gemm_pack_b writes for op(B) [k, n]: ⌈n/16⌉ slivers of [k][16]. */
function packedFloats(k: number, n: number): number {
  return Math.ceil(n / 16) * 16 * k;
}

/** Rows of A per transposed panel in `weightGrads`: one K block of f32_gemm_nn. */
const WEIGHT_GRAD_CHUNK = 256;

/** Throws for option keys a layer does not know, so a typo is never silently ignored. */
export function checkKnownOptions(kind: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new UnfoldError(`${kind}: unknown option "${key}" (known: ${known.join(", ")})`);
  }
}

/** Rows of a [..., F] tensor: the product of all leading dimensions. */
export function rowsOf(x: Tensor): number {
  return x.size / x.shape[x.shape.length - 1];
}
