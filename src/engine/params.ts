import { engine } from "./engine.js";
import { UnfoldError, formatShape } from "./errors.js";
import { Tensor } from "./tensor.js";

/** One parameter in a model's layout table. */
export interface ParamEntry {
  /** Unique name, e.g. `lstm0.weight_hh`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  /** Offset in elements into the flat value and gradient buffers. */
  readonly offset: number;
}

/** Offsets start on a 64-byte line so every parameter's SIMD rows begin aligned. */
const ALIGN_ELEMENTS = 16;

/**
 * The layout table of a model's parameters, derived once: every parameter is a slice of ONE
 * flat value buffer, and its gradient the same slice of ONE flat gradient buffer. The
 * optimizer, zeroing, clipping and the global norm each run as one kernel over all of it.
 */
export class ParamStore {
  readonly entries: readonly ParamEntry[];
  /** Total elements of the flat buffers, padding included (padding stays zero). */
  readonly length: number;
  readonly values: Tensor;
  readonly grads: Tensor;
  private readonly byName = new Map<string, ParamEntry>();

  constructor(specs: readonly { name: string; shape: readonly number[] }[]) {
    let offset = 0;
    const entries: ParamEntry[] = [];
    for (const spec of specs) {
      if (this.byName.has(spec.name)) throw new UnfoldError(`two parameters are both named "${spec.name}"`);
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const entry = { name: spec.name, shape: Object.freeze([...spec.shape]), size, offset };
      entries.push(entry);
      this.byName.set(spec.name, entry);
      offset += Math.ceil(size / ALIGN_ELEMENTS) * ALIGN_ELEMENTS;
    }
    this.entries = entries;
    this.length = offset;
    this.values = new Tensor([offset]);
    try {
      this.grads = new Tensor([offset]);
    } catch (e) {
      this.values.dispose();
      throw e;
    }
  }

  entry(name: string): ParamEntry {
    const e = this.byName.get(name);
    if (!e) throw new UnfoldError(`no parameter named "${name}" (have: ${[...this.byName.keys()].join(", ")})`);
    return e;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Byte address of a parameter's values. */
  ptr(name: string): number {
    return this.values.ptr + this.entry(name).offset * 4;
  }

  /** Byte address of a parameter's gradient. */
  gradPtr(name: string): number {
    return this.grads.ptr + this.entry(name).offset * 4;
  }

  /** A copy of one parameter's values. */
  read(name: string): Float32Array {
    const e = this.entry(name);
    const start = this.values.ptr / 4 + e.offset;
    return engine().f32().slice(start, start + e.size);
  }

  /** A copy of one parameter's gradient. */
  readGrad(name: string): Float32Array {
    const e = this.entry(name);
    const start = this.grads.ptr / 4 + e.offset;
    return engine().f32().slice(start, start + e.size);
  }

  /** Overwrites one parameter's values; the data must match its size and be finite. */
  write(name: string, data: ArrayLike<number>): void {
    const e = this.check(name, data);
    engine().f32().set(data, this.values.ptr / 4 + e.offset);
  }

  /** A copy of every parameter, by name. */
  readAll(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const e of this.entries) out[e.name] = this.read(e.name);
    return out;
  }

  /** Overwrites parameters by name; every one is checked before any is written. */
  writeAll(weights: Record<string, ArrayLike<number>>): void {
    for (const [name, data] of Object.entries(weights)) this.check(name, data);
    for (const [name, data] of Object.entries(weights)) this.write(name, data);
  }

  /** The entry of `name`, once `data` is checked to fit it: its size, and finite values. */
  private check(name: string, data: ArrayLike<number>): ParamEntry {
    const e = this.entry(name);
    if (data.length !== e.size) {
      throw new UnfoldError(`parameter "${name}" has shape ${formatShape(e.shape)} (${e.size} values), got ${data.length} values`);
    }
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new UnfoldError(`parameter "${name}" value ${i} is ${data[i]}: weights must be finite`);
    }
    return e;
  }

  /** Sets every gradient to zero: one fill over the flat buffer. */
  zeroGrads(): void {
    engine().k.f32_fill(this.grads.ptr, 0, this.length);
  }

  dispose(): void {
    this.values.dispose();
    this.grads.dispose();
  }
}
