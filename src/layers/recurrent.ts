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

  /** The final state of the last forward, one [B, H] view per state name. */
  get finalState(): Tensor[] {
    return this.stateNames.map((name) => this.stepView(this.history(name), this.steps));
  }

  /** Gradient of the loss with respect to the initial state, after backward. */
  get initialStateGrad(): Tensor[] {
    return this.stateNames.map((name) => this.stateGrad(name));
  }

  /** The [T+1, B, H] history of state `name` (row 0: the initial state), kept in the workspace. */
  protected history(name: string): Tensor {
    return this.ws.get(`${name}s`, [this.steps + 1, this.batch, this.units]);
  }

  /** The running [B, H] gradient of state `name` during backward; ends as dL/d(initial state). */
  protected stateGrad(name: string): Tensor {
    return this.ws.get(`d${name}`, [this.batch, this.units]);
  }

  /** Starts the running gradient of state `i` at dFinalState[i], or zero. */
  protected startStateGrad(i: number, dFinal: readonly (Tensor | null)[] | undefined): Tensor {
    const d = this.stateGrad(this.stateNames[i]);
    const given = dFinal?.[i];
    if (given) engine().k.f32_copy(d.ptr, given.ptr, d.size);
    else d.fill(0);
    return d;
  }

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
    this.remember(x);
  }

  /** Checks the gradients handed to backward against the last forward; returns that forward's input. */
  protected checkBackward(dy: Tensor | null, dFinal: readonly (Tensor | null)[] | undefined): Tensor {
    const x = this.recalled();
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
    return x;
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
