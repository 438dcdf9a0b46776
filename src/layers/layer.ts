import { ParamStore, Tensor, UnfoldError, Workspace, formatShape } from "../engine/index.js";
import type { Rng } from "../data/rng.js";

/** Makes the initial values of one parameter. */
export type Initializer = (shape: readonly number[], rng: Rng) => Float32Array;

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Initializer;
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
  protected store: ParamStore | null = null;
  protected readonly ws = new Workspace();
  private specs: ParamSpec[] = [];
  private builtInput = -1;
  private lastInput: Tensor | null = null;

  /** The kind, used for parameter names and messages (`lstm`, `dense`, …). */
  abstract readonly kind: string;

  /** Declares parameters for inputs of `inputSize` features and returns the output feature size. */
  build(inputSize: number, prefix: string): number {
    if (this.builtInput >= 0) throw new UnfoldError(`${this.kind} layer "${this.prefix}" is already part of a model; create a new layer instead`);
    this.prefix = prefix;
    this.specs = [];
    const out = this.declare(inputSize);
    this.builtInput = inputSize;
    return out;
  }

  /** Subclasses declare their parameters with `param` and return the output size. */
  protected abstract declare(inputSize: number): number;

  protected param(name: string, shape: readonly number[], init: Initializer): void {
    this.specs.push({ name: `${this.prefix}.${name}`, shape, init });
  }

  get paramSpecs(): readonly ParamSpec[] {
    return this.specs;
  }

  get inputSize(): number {
    return this.builtInput;
  }

  bind(store: ParamStore): void {
    this.store = store;
  }

  /** Pointer to this layer's parameter `name` in the model's flat buffer. */
  protected p(name: string): number {
    return this.params.ptr(`${this.prefix}.${name}`);
  }

  /** Pointer to the gradient of parameter `name`. */
  protected g(name: string): number {
    return this.params.gradPtr(`${this.prefix}.${name}`);
  }

  protected get params(): ParamStore {
    if (!this.store) throw new UnfoldError(`${this.kind} layer is not part of a model yet: add it to a model before running it`);
    return this.store;
  }

  /** Keeps the forward input for backward (the caller keeps it alive until then). */
  protected remember(x: Tensor): void {
    this.lastInput = x;
  }

  /** The input of the last forward, for backward; throws if there was none or it was disposed. */
  protected recalled(): Tensor {
    const x = this.lastInput;
    if (!x) throw new UnfoldError(`${this.kind} layer "${this.prefix}": backward called before forward`);
    if (x.disposed) throw new UnfoldError(`${this.kind} layer "${this.prefix}": the input of the last forward was disposed before backward`);
    return x;
  }

  abstract forward(x: Tensor, ctx: RunContext): Tensor;
  abstract backward(dy: Tensor): Tensor;

  /** Checks that `x` is [..., inputSize] with the expected rank, naming the layer. */
  protected checkInput(x: Tensor, ranks: readonly number[]): void {
    const f = x.shape[x.shape.length - 1];
    if (!ranks.includes(x.shape.length) || f !== this.builtInput) {
      const want = ranks.includes(3) ? `[T, B, ${this.builtInput}]` : `[B, ${this.builtInput}]`;
      throw new UnfoldError(`${this.kind} layer "${this.prefix}" expected input ${want}, got ${formatShape(x.shape)}`);
    }
    if (x.dtype !== "float32") throw new UnfoldError(`${this.kind} layer "${this.prefix}" expected float32 input, got ${x.dtype}`);
  }

  dispose(): void {
    this.ws.dispose();
  }
}

/** Rows of a [..., F] tensor: the product of all leading dimensions. */
export function rowsOf(x: Tensor): number {
  return x.size / x.shape[x.shape.length - 1];
}
