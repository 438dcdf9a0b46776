import { engine } from "./engine.js";
import { UnfoldError, formatShape } from "./errors.js";

export type DType = "float32" | "int32";
/** A number or arbitrarily nested arrays of numbers, rectangular. */
export type NestedArray = number | NestedArray[];
export type TensorData = NestedArray | Float32Array | Int32Array | ArrayLike<number>;

const ELEMENT_BYTES = 4;

function checkShape(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new UnfoldError(`a tensor shape holds whole numbers >= 0, got ${formatShape(shape)}`);
    }
    size *= d;
  }
  return size;
}

/** Infers the shape of a rectangular nested array and flattens it, naming the first ragged spot. */
function flattenNested(data: NestedArray, shape: number[] | null): { shape: number[]; flat: number[] } {
  const inferred: number[] = [];
  for (let v: NestedArray = data; Array.isArray(v); v = v[0]) {
    inferred.push(v.length);
    if (v.length === 0) break;
  }
  const flat: number[] = [];
  const walk = (v: NestedArray, depth: number, path: string): void => {
    if (depth === inferred.length) {
      if (typeof v !== "number") {
        throw new UnfoldError(`tensor data at ${path || "top"} should be a number, got ${Array.isArray(v) ? "an array" : typeof v}`);
      }
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== inferred[depth]) {
      throw new UnfoldError(
        `tensor data is not rectangular: ${path || "top"} has ${Array.isArray(v) ? `length ${v.length}` : "a number"}, ` +
          `expected length ${inferred[depth]} (shape ${formatShape(inferred)})`,
      );
    }
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
  };
  walk(data, 0, "");
  return { shape: shape ?? inferred, flat };
}

/**
 * A handle to a float32 or int32 array in wasm memory: a pointer, a shape, an owner.
 * The creator owns it and frees it with `dispose()`; using it after that throws.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  private address: number;
  /** Set for a view: the tensor whose memory this one reads, and the byte offset into it. */
  private readonly parent: Tensor | null = null;

  /** A zero-filled tensor of the given shape. */
  constructor(shape: readonly number[], dtype: DType = "float32") {
    this.size = checkShape(shape);
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    const e = engine();
    this.address = e.allocator.alloc(this.size * ELEMENT_BYTES);
    e.u8().fill(0, this.address, this.address + this.size * ELEMENT_BYTES);
  }

  static zeros(shape: readonly number[], dtype: DType = "float32"): Tensor {
    return new Tensor(shape, dtype);
  }

  /**
   * Copies data into a new tensor. Nested arrays give their own shape; flat data needs
   * `shape`, whose size must match. Int32 tensors accept only whole numbers in range.
   */
  static fromArray(data: TensorData, shape?: readonly number[], dtype: DType = "float32"): Tensor {
    let flat: ArrayLike<number>;
    let finalShape: readonly number[];
    if (typeof data === "number" || Array.isArray(data)) {
      const nested = flattenNested(data as NestedArray, null);
      flat = nested.flat;
      finalShape = shape ?? nested.shape;
      if (shape && checkShape(shape) !== flat.length) {
        throw new UnfoldError(`shape ${formatShape(shape)} holds ${checkShape(shape)} values, the data has ${flat.length} (shape ${formatShape(nested.shape)})`);
      }
    } else if (data && typeof (data as ArrayLike<number>).length === "number") {
      flat = data as ArrayLike<number>;
      finalShape = shape ?? [flat.length];
      if (checkShape(finalShape) !== flat.length) {
        throw new UnfoldError(`shape ${formatShape(finalShape)} holds ${checkShape(finalShape)} values, the data has ${flat.length}`);
      }
    } else {
      throw new UnfoldError(`tensor data must be a number, a nested array or a typed array, got ${data === null ? "null" : typeof data}`);
    }
    validateValues(flat, dtype);
    const t = new Tensor(finalShape, dtype);
    t.write(flat, true);
    return t;
  }

  /**
   * A tensor that reads and writes `shape` values of `parent` starting at element `offset`;
   * it owns no memory, and it is unusable once its parent is disposed.
   */
  static view(parent: Tensor, offset: number, shape: readonly number[]): Tensor {
    const size = checkShape(shape);
    if (!Number.isInteger(offset) || offset < 0 || offset + size > parent.size) {
      throw new UnfoldError(`a view of ${size} values at offset ${offset} does not fit in a tensor of ${parent.size} values`);
    }
    const base = parent.parent ?? parent;
    const byteOffset = (parent.parent ? parent.address : 0) + offset * ELEMENT_BYTES;
    const v = Object.create(Tensor.prototype) as Tensor;
    Object.assign(v, { shape: Object.freeze([...shape]), size, dtype: parent.dtype, address: byteOffset, parent: base });
    return v;
  }

  /** The address in wasm memory. Throws once disposed. */
  get ptr(): number {
    if (this.disposed) throw new UnfoldError(`this tensor ${formatShape(this.shape)} was disposed and can no longer be used`);
    return this.parent ? this.parent.address + this.address : this.address;
  }

  get disposed(): boolean {
    return this.address < 0 || (this.parent !== null && this.parent.address < 0);
  }

  /** Overwrites the contents with `data` (same number of values). */
  write(data: ArrayLike<number>, validated = false): this {
    if (data.length !== this.size) {
      throw new UnfoldError(`cannot write ${data.length} values into a tensor of shape ${formatShape(this.shape)} (${this.size} values)`);
    }
    if (!validated) validateValues(data, this.dtype);
    const ptr = this.ptr;
    const view = this.dtype === "float32" ? engine().f32() : engine().i32();
    view.set(data, ptr / ELEMENT_BYTES);
    return this;
  }

  /** Sets every element to `value`. */
  fill(value: number): this {
    const ptr = this.ptr;
    if (this.dtype === "float32") engine().k.f32_fill(ptr, value, this.size);
    else engine().i32().fill(value, ptr / ELEMENT_BYTES, ptr / ELEMENT_BYTES + this.size);
    return this;
  }

  /** A copy of the contents as a flat typed array. */
  toTypedArray(): Float32Array | Int32Array {
    const start = this.ptr / ELEMENT_BYTES;
    const view = this.dtype === "float32" ? engine().f32() : engine().i32();
    return view.slice(start, start + this.size);
  }

  /** A copy of the contents as a Float32Array (int32 tensors are converted). */
  toFloat32Array(): Float32Array {
    const data = this.toTypedArray();
    return data instanceof Float32Array ? data : Float32Array.from(data);
  }

  /** A copy of the contents as nested arrays of this tensor's shape (a number for rank 0). */
  toArray(): NestedArray {
    const flat = this.toTypedArray();
    if (this.shape.length === 0) return flat[0];
    let offset = 0;
    const build = (depth: number): NestedArray[] => {
      const n = this.shape[depth];
      const out: NestedArray[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = depth === this.shape.length - 1 ? flat[offset++] : build(depth + 1);
      return out;
    };
    return build(0);
  }

  /** Frees the memory (a view only stops working). Disposing twice is harmless. */
  dispose(): void {
    if (this.address < 0) return;
    if (!this.parent) engine().allocator.free(this.address);
    this.address = -1;
  }
}

function validateValues(data: ArrayLike<number>, dtype: DType): void {
  if (data instanceof Float32Array && dtype === "float32") return;
  if (data instanceof Int32Array && dtype === "int32") return;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== "number") throw new UnfoldError(`tensor value ${i} should be a number, got ${typeof v}`);
    if (dtype === "int32" && !(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)) {
      throw new UnfoldError(`int32 tensor value ${i} must be a whole number in int32 range, got ${v}`);
    }
  }
}
