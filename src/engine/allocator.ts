import { UnfoldError } from "./errors.js";

const PAGE_BYTES = 65536;
const MAX_PAGES = 65536; // wasm32: 4 GiB
/** Every block starts on a cache line, so SIMD rows never straddle one needlessly. */
export const ALIGN = 64;
/** Grow by at least this many pages, so a run of small allocations does not grow each time. */
const MIN_GROW_PAGES = 16;

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * Best-fit allocator over a wasm linear memory, owned by the engine. Free blocks are kept
 * sorted by address and merged with their neighbours on free, so a training loop that
 * frees and re-allocates the same shapes reuses the same bytes and memory stops growing.
 * Pointers are plain non-negative JS numbers (never i32), so addresses past 2 GiB stay positive.
 */
export class Allocator {
  private readonly freeStart: number[] = [];
  private readonly freeSize: number[] = [];
  private readonly live = new Map<number, number>();
  private inUse = 0;

  constructor(private readonly memory: WebAssembly.Memory, base: number) {
    const start = alignUp(base, ALIGN);
    const end = memory.buffer.byteLength;
    if (end > start) this.insertFree(start, end - start);
  }

  /** Allocates `bytes` (> 0) bytes, 64-byte aligned; contents are unspecified. */
  alloc(bytes: number): number {
    if (!Number.isFinite(bytes) || bytes < 0 || !Number.isInteger(bytes)) {
      throw new UnfoldError(`alloc expects a whole number of bytes >= 0, got ${bytes}`);
    }
    const size = alignUp(Math.max(bytes, 1), ALIGN);
    let best = this.bestFit(size);
    if (best < 0) {
      this.grow(size);
      best = this.bestFit(size);
    }
    const ptr = this.freeStart[best];
    const rest = this.freeSize[best] - size;
    if (rest > 0) {
      this.freeStart[best] = ptr + size;
      this.freeSize[best] = rest;
    } else {
      this.freeStart.splice(best, 1);
      this.freeSize.splice(best, 1);
    }
    this.live.set(ptr, size);
    this.inUse += size;
    return ptr;
  }

  /** Returns a block to the free list. Freeing twice, or a pointer never allocated, throws. */
  free(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) {
      throw new UnfoldError(`free: ${ptr} is not a live allocation (freed twice, or never allocated)`);
    }
    this.live.delete(ptr);
    this.inUse -= size;
    this.insertFree(ptr, size);
  }

  /** Bytes handed out and not yet freed (rounded up to the alignment). */
  get bytesInUse(): number {
    return this.inUse;
  }
  /** Number of live allocations. */
  get liveBlocks(): number {
    return this.live.size;
  }
  /** Size of the whole linear memory. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  private bestFit(size: number): number {
    let best = -1;
    for (let i = 0; i < this.freeSize.length; i++) {
      const s = this.freeSize[i];
      if (s >= size && (best < 0 || s < this.freeSize[best])) {
        best = i;
        if (s === size) break;
      }
    }
    return best;
  }

  private grow(size: number): void {
    const end = this.memory.buffer.byteLength;
    // A free block that touches the end of memory is extended rather than left behind.
    const last = this.freeStart.length - 1;
    const topFree = last >= 0 && this.freeStart[last] + this.freeSize[last] === end ? this.freeSize[last] : 0;
    const currentPages = end / PAGE_BYTES;
    const needed = Math.ceil((size - topFree) / PAGE_BYTES);
    const pages = Math.min(Math.max(needed, MIN_GROW_PAGES, currentPages >> 3), MAX_PAGES - currentPages);
    if (pages < needed) {
      throw new UnfoldError(
        `out of WebAssembly memory: cannot allocate ${size} bytes (${this.inUse} bytes in use, ` +
          `memory is ${end} bytes, the wasm32 limit is 4 GiB)`,
      );
    }
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new UnfoldError(
        `out of memory: the runtime refused to grow WebAssembly memory by ${pages * PAGE_BYTES} bytes ` +
          `to allocate ${size} bytes (${(e as Error).message})`,
      );
    }
    this.insertFree(end, pages * PAGE_BYTES);
  }

  private insertFree(start: number, size: number): void {
    // Binary search for the first free block after `start`.
    let lo = 0;
    let hi = this.freeStart.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.freeStart[mid] < start) lo = mid + 1;
      else hi = mid;
    }
    const prev = lo - 1;
    const mergePrev = prev >= 0 && this.freeStart[prev] + this.freeSize[prev] === start;
    const mergeNext = lo < this.freeStart.length && start + size === this.freeStart[lo];
    if (mergePrev && mergeNext) {
      this.freeSize[prev] += size + this.freeSize[lo];
      this.freeStart.splice(lo, 1);
      this.freeSize.splice(lo, 1);
    } else if (mergePrev) {
      this.freeSize[prev] += size;
    } else if (mergeNext) {
      this.freeStart[lo] = start;
      this.freeSize[lo] += size;
    } else {
      this.freeStart.splice(lo, 0, start);
      this.freeSize.splice(lo, 0, size);
    }
  }
}
