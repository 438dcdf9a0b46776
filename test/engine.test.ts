import { describe, expect, it } from "vitest";
import { Allocator, engine, initSync, init, Tensor, UnfoldError } from "../src/engine/index.js";

describe("engine", () => {
  it("loads synchronously and asynchronously to the same instance", async () => {
    const a = initSync();
    const b = await init();
    expect(a).toBe(b);
    expect(engine()).toBe(a);
    expect(a.k.memory).toBeInstanceOf(WebAssembly.Memory);
  });
});

describe("allocator", () => {
  const fresh = () => new Allocator(new WebAssembly.Memory({ initial: 1, maximum: 65536 }), 1024);

  it("returns 64-byte aligned, non-overlapping blocks", () => {
    const a = fresh();
    const blocks: [number, number][] = [];
    for (let i = 1; i < 200; i++) {
      const size = (i * 37) % 1000;
      const p = a.alloc(size);
      expect(p % 64).toBe(0);
      expect(p).toBeGreaterThanOrEqual(1024);
      blocks.push([p, Math.max(size, 1)]);
    }
    blocks.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < blocks.length; i++) expect(blocks[i][0]).toBeGreaterThanOrEqual(blocks[i - 1][0] + blocks[i - 1][1]);
  });

  it("does not grow memory across 10,000 alloc/free cycles", () => {
    const a = fresh();
    const keep = [a.alloc(5000), a.alloc(70000)];
    for (let i = 0; i < 100; i++) a.free(a.alloc(100 + i * 1000));
    const settled = a.memoryBytes;
    const sizes = [64, 1000, 4096, 123457, 65536 * 3, 7];
    for (let i = 0; i < 10_000; i++) {
      const ps = sizes.map((s, j) => a.alloc(s + ((i * 13 + j) % 50)));
      for (const p of ps.reverse()) a.free(p);
    }
    expect(a.memoryBytes).toBe(settled);
    for (const p of keep) a.free(p);
    expect(a.bytesInUse).toBe(0);
    expect(a.liveBlocks).toBe(0);
    // Everything coalesced back: one block the size of the whole heap fits again.
    const all = a.alloc(a.memoryBytes - 1024);
    expect(all).toBe(1024);
  });

  it("grows memory when needed and keeps data in older blocks", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    const a = new Allocator(memory, 1024);
    const p = a.alloc(16);
    new Float32Array(memory.buffer, p, 4).set([1, 2, 3, 4]);
    const before = memory.buffer;
    const q = a.alloc(8 * 65536);
    expect(memory.buffer).not.toBe(before);
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(q + 8 * 65536);
    expect([...new Float32Array(memory.buffer, p, 4)]).toEqual([1, 2, 3, 4]);
  });

  it("rejects double free, unknown pointers and bad sizes with clear errors", () => {
    const a = fresh();
    const p = a.alloc(100);
    a.free(p);
    expect(() => a.free(p)).toThrow(/not a live allocation/);
    expect(() => a.free(12345)).toThrow(UnfoldError);
    expect(() => a.alloc(-1)).toThrow(/whole number of bytes/);
    expect(() => a.alloc(1.5)).toThrow(/whole number of bytes/);
    expect(() => a.alloc(NaN)).toThrow(/whole number of bytes/);
  });

  it("reports a clear error past the 4 GiB limit and stays usable", () => {
    const a = fresh();
    expect(() => a.alloc(5 * 2 ** 30)).toThrow(/out of WebAssembly memory/);
    const p = a.alloc(64);
    a.free(p);
  });
});

describe("Tensor", () => {
  it("round-trips nested arrays and typed arrays", () => {
    const t = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const u = Tensor.fromArray(new Float32Array([1.5, -2, 3, 4]), [2, 1, 2]);
    expect(u.toArray()).toEqual([[[1.5, -2]], [[3, 4]]]);
    const i = Tensor.fromArray([3, -7], undefined, "int32");
    expect(i.toTypedArray()).toEqual(new Int32Array([3, -7]));
    const s = Tensor.fromArray(2.5);
    expect(s.shape).toEqual([]);
    expect(s.toArray()).toBe(2.5);
    for (const x of [t, u, i, s]) x.dispose();
  });

  it("starts zeroed, even where memory was used before", () => {
    const a = Tensor.fromArray(new Float32Array(1000).fill(7));
    a.dispose();
    const b = Tensor.zeros([1000]);
    expect(b.toFloat32Array().every((v) => v === 0)).toBe(true);
    b.dispose();
  });

  it("names what is wrong with bad data", () => {
    expect(() => Tensor.fromArray([[1, 2], [3]])).toThrow(/not rectangular: \[1\] has length 1, expected length 2/);
    expect(() => Tensor.fromArray([[1, 2], 3] as never)).toThrow(/not rectangular/);
    expect(() => Tensor.fromArray([1, "a"] as never)).toThrow(/\[1\] should be a number, got string/);
    expect(() => Tensor.fromArray(new Float32Array(5), [2, 2])).toThrow(/\[2, 2\] holds 4 values, the data has 5/);
    expect(() => Tensor.fromArray([1.5], undefined, "int32")).toThrow(/whole number/);
    expect(() => new Tensor([2, -1])).toThrow(/whole numbers >= 0/);
    expect(() => Tensor.fromArray(null as never)).toThrow(/got null/);
  });

  it("throws on use after dispose, and dispose frees the memory", () => {
    const alloc = engine().allocator;
    const before = alloc.bytesInUse;
    const t = Tensor.zeros([64, 64]);
    expect(alloc.bytesInUse).toBe(before + 64 * 64 * 4);
    t.dispose();
    expect(alloc.bytesInUse).toBe(before);
    expect(t.disposed).toBe(true);
    expect(() => t.ptr).toThrow(/disposed/);
    expect(() => t.toArray()).toThrow(/disposed/);
    t.dispose();
  });

  it("keeps pointers positive and kernels working past 2 GiB", () => {
    const e = engine();
    const big = e.allocator.alloc(2 ** 31 + 2 ** 20); // not zero-filled: fast
    const t = Tensor.zeros([10]);
    expect(t.ptr).toBeGreaterThan(2 ** 31);
    e.k.f32_fill(t.ptr, 3.5, 10);
    expect(t.toFloat32Array().every((v) => v === 3.5)).toBe(true);
    t.dispose();
    e.allocator.free(big);
  });
});
