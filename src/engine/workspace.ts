import { Tensor, type DType } from "./tensor.js";

/**
 * Named scratch tensors a layer keeps between calls: `get` returns the same tensor while
 * the requested shape stays the same, so a training loop over one (T, B) shape allocates
 * its caches once. Contents are whatever the last user left. The layer that owns the
 * workspace owns every tensor in it; `dispose` frees them all.
 */
export class Workspace {
  private readonly tensors = new Map<string, Tensor>();

  get(name: string, shape: readonly number[], dtype: DType = "float32"): Tensor {
    const t = this.tensors.get(name);
    if (t && t.dtype === dtype && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
    t?.dispose();
    const fresh = new Tensor(shape, dtype);
    this.tensors.set(name, fresh);
    return fresh;
  }

  /**
   * A float32 scratch of at least `floats` elements, shared by whatever is stored under
   * `name` in turn: it is replaced only by a larger request, so uses of different sizes
   * settle on the largest after one round and then allocate nothing.
   */
  atLeast(name: string, floats: number): Tensor {
    const t = this.tensors.get(name);
    if (t && t.dtype === "float32" && t.size >= floats) return t;
    return this.get(name, [floats]);
  }

  /** Like `get`, and the contents are zeroed. */
  zeros(name: string, shape: readonly number[], dtype: DType = "float32"): Tensor {
    const t = this.get(name, shape, dtype);
    t.fill(0);
    return t;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}
