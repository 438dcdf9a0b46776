import { Tensor, UnfoldError, engine, formatShape } from "../engine/index.js";
import { Layer, type RunContext } from "./layer.js";

/** Options every recurrent layer shares. */
export interface RecurrentOptions {
  /** Hidden units H. */
  units: number;
  /** Output every step, [T, B, H] (default), or only the last, [B, H]. */
  returnSequences?: boolean;
}

export function checkUnits(kind: string, units: unknown): number {
  if (typeof units !== "number" || !Number.isInteger(units) || units < 1) {
    throw new UnfoldError(`${kind}: units must be a whole number >= 1, got ${String(units)}`);
  }
  return units;
}

/** Throws for option keys a layer does not know, so a typo is never silently ignored. */
export function checkKnownOptions(kind: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new UnfoldError(`${kind}: unknown option "${key}" (known: ${known.join(", ")})`);
  }
}

/**
 * A layer that scans time. It takes [T, B, I], an optional initial state (one [B, H] tensor
 * per entry of `stateNames`), and gives [T, B, H] (or [B, H]) plus its final state. Backward
 * takes the gradient of the output and optionally of the final state, and leaves the
 * gradient of the initial state in `initialStateGrad`.
 */
export abstract class RecurrentLayer extends Layer {
  abstract readonly stateNames: readonly string[];
  readonly units: number;
  readonly returnSequences: boolean;
  protected steps = 0;
  protected batch = 0;

  constructor(kind: string, options: RecurrentOptions) {
    super();
    this.units = checkUnits(kind, options.units);
    this.returnSequences = options.returnSequences ?? true;
  }

  abstract override forward(x: Tensor, ctx: RunContext, initialState?: readonly Tensor[]): Tensor;
  abstract override backward(dy: Tensor | null, dFinalState?: readonly (Tensor | null)[]): Tensor;

  /** The final state of the last forward, one [B, H] tensor per state name. */
  abstract get finalState(): Tensor[];
  /** Gradient of the loss with respect to the initial state, after backward. */
  abstract get initialStateGrad(): Tensor[];

  /** Validates x and the initial state and records (T, B). */
  protected begin(x: Tensor, initialState: readonly Tensor[] | undefined): void {
    this.checkInput(x, [3]);
    const [T, B] = x.shape;
    if (T < 1 || B < 1) throw new UnfoldError(`${this.kind} layer "${this.prefix}" needs at least one step and one sample, got ${formatShape(x.shape)}`);
    if (initialState) {
      if (initialState.length !== this.stateNames.length) {
        throw new UnfoldError(`${this.kind} layer "${this.prefix}" takes ${this.stateNames.length} initial state tensor(s) (${this.stateNames.join(", ")}), got ${initialState.length}`);
      }
      initialState.forEach((s, i) => {
        if (s.shape.length !== 2 || s.shape[0] !== B || s.shape[1] !== this.units) {
          throw new UnfoldError(`${this.kind} layer "${this.prefix}" expected initial ${this.stateNames[i]} [${B}, ${this.units}], got ${formatShape(s.shape)}`);
        }
      });
    }
    this.steps = T;
    this.batch = B;
  }

  /** Checks the gradients handed to backward against the last forward. */
  protected checkBackward(dy: Tensor | null, dFinal: readonly (Tensor | null)[] | undefined): void {
    if (this.steps === 0) throw new UnfoldError(`${this.kind} layer "${this.prefix}": backward called before forward`);
    const T = this.steps, B = this.batch, H = this.units;
    if (dy) {
      const want = this.returnSequences ? [T, B, H] : [B, H];
      if (dy.shape.length !== want.length || dy.shape.some((d, i) => d !== want[i])) {
        throw new UnfoldError(`${this.kind} layer "${this.prefix}" expected output gradient ${formatShape(want)}, got ${formatShape(dy.shape)}`);
      }
    }
    dFinal?.forEach((s, i) => {
      if (s && (s.shape.length !== 2 || s.shape[0] !== B || s.shape[1] !== H)) {
        throw new UnfoldError(`${this.kind} layer "${this.prefix}" expected final-state gradient ${this.stateNames[i]} [${B}, ${H}], got ${formatShape(s.shape)}`);
      }
    });
  }

  /** Copies the initial state (or zeros) into row 0 of a [T+1, B, H] state history. */
  protected seedState(history: Tensor, initial: Tensor | undefined): void {
    const n = this.batch * this.units;
    if (initial) engine().k.f32_copy(history.ptr, initial.ptr, n);
    else engine().k.f32_fill(history.ptr, 0, n);
  }

  /** Row t of a [T(+1), B, H] tensor, as a [B, H] view. */
  protected stepView(t: Tensor, step: number, width = this.units): Tensor {
    return Tensor.view(t, step * this.batch * width, [this.batch, width]);
  }

  /** The output of a forward: hs[1..T] as [T, B, H], or hs[T] as [B, H]. */
  protected outputOf(hs: Tensor): Tensor {
    const T = this.steps, n = this.batch * this.units;
    return this.returnSequences ? Tensor.view(hs, n, [T, this.batch, this.units]) : Tensor.view(hs, T * n, [this.batch, this.units]);
  }

  /** dh for step t: dy[t] (or dy at the last step when only the last output was returned). */
  protected addOutputGrad(dh: Tensor, dy: Tensor | null, t: number): void {
    if (!dy) return;
    const n = this.batch * this.units;
    if (this.returnSequences) engine().k.f32_axpy(dh.ptr, 1, dy.ptr + t * n * 4, n);
    else if (t === this.steps - 1) engine().k.f32_axpy(dh.ptr, 1, dy.ptr, n);
  }
}
