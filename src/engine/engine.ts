import { instantiate, instantiateSync } from "@assemblyscript/loader";
import { Allocator } from "./allocator.js";
import { UnfoldError } from "./errors.js";
import { wasmText, type WasmExports } from "./wasm-bytes.js";

/**
 * The engine: the wasm instance, its one allocator, and views of its memory. It is the
 * only owner of linear memory; everything above it goes through Tensors and kernels.
 */
export class Engine {
  readonly allocator: Allocator;
  private buffer: ArrayBuffer | null = null;
  private f32View = new Float32Array(0);
  private i32View = new Int32Array(0);
  private u8View = new Uint8Array(0);

  constructor(readonly k: WasmExports) {
    this.allocator = new Allocator(k.memory, k.heap_base() >>> 0);
  }

  /** Float32 view of all of memory. Re-made after growth; never keep it across an alloc. */
  f32(): Float32Array {
    this.refresh();
    return this.f32View;
  }
  i32(): Int32Array {
    this.refresh();
    return this.i32View;
  }
  u8(): Uint8Array {
    this.refresh();
    return this.u8View;
  }

  private refresh(): void {
    const buffer = this.k.memory.buffer;
    if (buffer !== this.buffer) {
      // Growing memory detaches the old ArrayBuffer; views over it read as empty.
      this.buffer = buffer;
      this.f32View = new Float32Array(buffer);
      this.i32View = new Int32Array(buffer);
      this.u8View = new Uint8Array(buffer);
    }
  }
}

let current: Engine | null = null;
let pending: Promise<Engine> | null = null;

/** The inlined wasm binary: one character per byte, as scripts/inline-wasm.mjs wrote it. */
export function wasmBytes(): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(wasmText.length);
  for (let i = 0; i < wasmText.length; i++) bytes[i] = wasmText.charCodeAt(i);
  return bytes;
}

/** Loads the numeric core synchronously. Safe to call more than once. */
export function initSync(): Engine {
  if (!current) {
    const { exports } = instantiateSync<Record<string, unknown>>(wasmBytes(), {});
    current = new Engine(exports as unknown as WasmExports);
  }
  return current;
}

/** Loads the numeric core asynchronously (preferred on a browser's main thread). */
export function init(): Promise<Engine> {
  if (current) return Promise.resolve(current);
  pending ??= instantiate<Record<string, unknown>>(wasmBytes(), {}).then(({ exports }) => {
    current ??= new Engine(exports as unknown as WasmExports);
    return current;
  });
  return pending;
}

/** The engine, loaded synchronously on first use if `init()` was not awaited. */
export function engine(): Engine {
  return current ?? initSync();
}

/** Throws a clear error if `value` is not a whole number in [min, max]. */
export function checkInt(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new UnfoldError(`${name} must be a whole number in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}
