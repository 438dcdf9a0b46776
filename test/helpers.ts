// Small helpers the kernel tests share: put arrays into wasm memory, read them back,
// deterministic random data, and a float64 comparison that names the worst element.
import { engine } from "../src/engine/index.js";
import { expect } from "vitest";

const owned: number[] = [];

/** Copies `data` into fresh wasm memory (freed by `freeAll`) and returns its address. */
export function put(data: ArrayLike<number>): number {
  const e = engine();
  const ptr = e.allocator.alloc(Math.max(1, data.length) * 4);
  e.f32().set(data, ptr / 4);
  owned.push(ptr);
  return ptr;
}

/** Like `put` but int32 data. */
export function putInt(data: ArrayLike<number>): number {
  const e = engine();
  const ptr = e.allocator.alloc(Math.max(1, data.length) * 4);
  e.i32().set(data, ptr / 4);
  owned.push(ptr);
  return ptr;
}

/** Reads `n` float32 values at `ptr`. */
export function get(ptr: number, n: number): Float32Array {
  return engine().f32().slice(ptr / 4, ptr / 4 + n);
}

/** Frees everything `put` allocated. */
export function freeAll(): void {
  const a = engine().allocator;
  while (owned.length) a.free(owned.pop()!);
}

/** The wasm kernels. */
export const k = () => engine().k;

/** Deterministic pseudo-random float32 values in [lo, hi) (mulberry32). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise, naming the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0, what = "value"): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const excess = err - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}[${worst}] = ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Asserts two float32 arrays are identical to the bit. */
export function expectBitEqual(actual: Float32Array, expected: Float32Array, what = "value"): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) expect.fail(`${what}[${i}] = ${actual[i]}, expected bit-identical ${expected[i]}`);
  }
}

/** JSON as parsed. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value in `root` (objects and arrays included), depth-first, in a fixed order. */
export function paths(root: Json): (string | number)[][] {
  const out: (string | number)[][] = [];
  const walk = (v: Json, path: (string | number)[]) => {
    out.push(path);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v !== null && typeof v === "object") for (const k of Object.keys(v)) walk(v[k], [...path, k]);
  };
  walk(root, []);
  return out;
}
