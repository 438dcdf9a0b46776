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
  /**
   * Whether the gradient is row-sparse (an Embedding with `sparse: true`): only the rows its
   * layer marks with `touchRows` take part in a step's norm, clipping and update.
   */
  readonly sparse: boolean;
}

/** What a ParamStore is built from: a name, a shape, and whether its gradient is row-sparse. */
export interface ParamStoreSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly sparse?: boolean;
}

/** The rows of one sparse parameter that have a gradient since the last `zeroGrads`. */
interface Touched {
  readonly flags: Uint8Array;
  rows: number[];
}

/** Offsets start on a 64-byte line so every parameter's SIMD rows begin aligned. */
const ALIGN_ELEMENTS = 16;

/**
 * The layout table of a model's parameters, derived once: every parameter is a slice of ONE
 * flat value buffer, and its gradient the same slice of ONE flat gradient buffer. The
 * optimizer, zeroing, clipping and the global norm each run as one kernel over all of it —
 * or, when a parameter is row-sparse, over `activeRanges()`: everything except the rows of
 * that parameter no example touched since the gradients were last zeroed.
 */
export class ParamStore {
  readonly entries: readonly ParamEntry[];
  /** Total elements of the flat buffers, padding included (padding stays zero). */
  readonly length: number;
  readonly values: Tensor;
  readonly grads: Tensor;
  private readonly byName = new Map<string, ParamEntry>();
  /** Per sparse parameter, the rows marked since the last zeroGrads. */
  private readonly touched = new Map<ParamEntry, Touched>();
  private ranges: number[] | null = null;

  constructor(specs: readonly ParamStoreSpec[]) {
    let offset = 0;
    const entries: ParamEntry[] = [];
    for (const spec of specs) {
      if (this.byName.has(spec.name)) throw new UnfoldError(`two parameters are both named "${spec.name}"`);
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const sparse = spec.sparse === true;
      if (sparse && spec.shape.length < 2) throw new UnfoldError(`parameter "${spec.name}": a row-sparse parameter needs rows, got shape ${formatShape(spec.shape)}`);
      const entry = { name: spec.name, shape: Object.freeze([...spec.shape]), size, offset, sparse };
      if (sparse) this.touched.set(entry, { flags: new Uint8Array(spec.shape[0]), rows: [] });
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

  /**
   * Marks rows of the row-sparse parameter `name` as having a gradient this step (ids outside
   * [0, rows) are an error). Its layer calls this for every row its backward adds into.
   */
  touchRows(name: string, rows: ArrayLike<number>): void {
    const e = this.entry(name);
    const t = this.touched.get(e);
    if (!t) throw new UnfoldError(`parameter "${name}" is not row-sparse`);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!(r >= 0 && r < t.flags.length) || !Number.isInteger(r)) throw new UnfoldError(`parameter "${name}": row ${r} is outside [0, ${t.flags.length - 1}]`);
      if (!t.flags[r]) {
        t.flags[r] = 1;
        t.rows.push(r);
        this.ranges = null;
      }
    }
  }

  /**
   * The element ranges of the flat buffers a step works on, as [start, end) pairs in order:
   * [0, length) when no parameter is row-sparse; otherwise every dense parameter (with its
   * padding) and, of each sparse one, the rows touched since the last `zeroGrads`. Outside
   * these ranges every gradient is zero.
   */
  activeRanges(): readonly number[] {
    if (this.ranges) return this.ranges;
    const out: number[] = [];
    const add = (start: number, end: number) => {
      if (end <= start) return;
      if (out.length && out[out.length - 1] === start) out[out.length - 1] = end;
      else out.push(start, end);
    };
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      const end = i + 1 < this.entries.length ? this.entries[i + 1].offset : this.length;
      const t = this.touched.get(e);
      if (!t) {
        add(e.offset, end);
        continue;
      }
      const width = e.size / e.shape[0];
      t.rows.sort((a, b) => a - b);
      for (const r of t.rows) add(e.offset + r * width, e.offset + (r + 1) * width);
    }
    this.ranges = out;
    return out;
  }

  /** Calls `fn(start, count)` for each of `activeRanges()`, in order (start and count in elements). */
  forEachRange(fn: (start: number, count: number) => void): void {
    const ranges = this.activeRanges();
    for (let i = 0; i < ranges.length; i += 2) fn(ranges[i], ranges[i + 1] - ranges[i]);
  }

  /**
   * Sets every gradient to zero: one fill over the flat buffer, or, with row-sparse
   * parameters, one fill per active range (the rest is zero already); then no row is touched.
   */
  zeroGrads(): void {
    const k = engine().k;
    this.forEachRange((start, count) => k.f32_fill(this.grads.ptr + start * 4, 0, count));
    if (this.touched.size === 0) return;
    for (const t of this.touched.values()) {
      for (const r of t.rows) t.flags[r] = 0;
      t.rows = [];
    }
    this.ranges = null;
  }

  dispose(): void {
    this.values.dispose();
    this.grads.dispose();
  }
}
