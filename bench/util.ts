// Timing helpers every benchmark shares: warm up, take the median of several samples,
// print a table. A sample repeats the body until it lasts long enough to time reliably.
//
// The machine benchmarks run on is shared and noisy, so contenders are timed
// interleaved (`timeInterleaved`): sample 1 of each, then sample 2 of each, ... A burst of
// outside load then slows every contender's samples alike instead of one contender's run,
// and the ratio of medians stays meaningful.

export interface Timing {
  /** Median milliseconds per call. */
  ms: number;
  /** Fastest sample, milliseconds per call. */
  minMs: number;
  /** Samples taken, and calls per sample. */
  samples: number;
  reps: number;
}

export interface TimeOptions {
  /** Samples to take the median of (default 15). */
  samples?: number;
  /** A sample repeats the body until it lasts at least this long (default 20 ms). */
  sampleMs?: number;
  /** Warm-up time per body before measuring, so the JIT has compiled the hot path (default 300 ms). */
  warmupMs?: number;
  /** Stop taking samples after this much time, keeping at least 3 (default 6000 ms). */
  budgetMs?: number;
}

const now = () => performance.now();

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Warms `body` up and returns how many calls make a sample last about sampleMs. */
function warmUp(body: () => void, warmupMs: number, sampleMs: number): number {
  const t0 = now();
  let calls = 0;
  do {
    body();
    calls++;
  } while (now() - t0 < warmupMs || calls < 2);
  const perCall = (now() - t0) / calls;
  return Math.max(1, Math.ceil(sampleMs / Math.max(perCall, 1e-6)));
}

/**
 * Times several synchronous bodies interleaved: each round takes one sample of each.
 * Returns, per name, the median (and fastest) time per call.
 */
export function timeInterleaved<K extends string>(bodies: Record<K, () => void>, options: TimeOptions = {}): Record<K, Timing> {
  const samples = options.samples ?? 15;
  const sampleMs = options.sampleMs ?? 20;
  const warmupMs = options.warmupMs ?? 300;
  const budgetMs = options.budgetMs ?? 6000;
  const names = Object.keys(bodies) as K[];
  const reps = {} as Record<K, number>;
  for (const name of names) reps[name] = warmUp(bodies[name], warmupMs, sampleMs);
  const times = {} as Record<K, number[]>;
  for (const name of names) times[name] = [];
  const start = now();
  for (let s = 0; s < samples && (s < 3 || now() - start < budgetMs); s++) {
    for (const name of names) {
      const body = bodies[name];
      const t0 = now();
      for (let r = 0; r < reps[name]; r++) body();
      times[name].push((now() - t0) / reps[name]);
    }
  }
  const out = {} as Record<K, Timing>;
  for (const name of names) {
    out[name] = { ms: median(times[name]), minMs: Math.min(...times[name]), samples: times[name].length, reps: reps[name] };
  }
  return out;
}

/** Times one synchronous body: median over samples of the mean time per call. */
export function timeIt(body: () => void, options: TimeOptions = {}): Timing {
  return timeInterleaved({ body }, options).body;
}

/** Largest |a - b| over the arrays (NaN if any differs by NaN), and the largest |b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) diff = d;
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}

/** Prints rows as a table whose columns are as wide as their widest cell; numeric columns right-aligned. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^(-|[-+]?[\d.]+x?)$/.test(String(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells.slice(1)) console.log(line(r));
}

/** A number with a fixed count of decimals, for tables. */
export function fmt(x: number, decimals = 2): string {
  return Number.isFinite(x) ? x.toFixed(decimals) : String(x);
}

/**
 * Times a synchronous Unfold body against an asynchronous peer (TF.js training calls),
 * alternating them so machine load hits both alike. A round is three of our calls, then one
 * of theirs, a few seconds in all. Returns the median ms per call of each, and `ratio`, the
 * median over rounds of theirs / ours within the round: on a shared machine whose speed
 * drifts from one second to the next, the ratio of two calls made side by side holds better
 * than the ratio of two medians taken from different moments.
 */
export async function timeAgainstAsync(ours: () => void, theirs: () => Promise<unknown>, rounds: number): Promise<{ ours: number; theirs: number; ratio: number }> {
  for (let i = 0; i < 3; i++) ours(); // warm-up: JIT, workspace
  for (let i = 0; i < 2; i++) await theirs();
  const a: number[] = [], b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    for (let i = 0; i < 3; i++) ours();
    a.push((performance.now() - t0) / 3);
    t0 = performance.now();
    await theirs();
    b.push(performance.now() - t0);
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  return { ours: median(a), theirs: median(b), ratio: median(b.map((t, r) => t / a[r])) };
}

/** Deterministic values in [-scale, scale) (a linear congruential generator), for benchmark inputs. */
export function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** [rows, cols] row-major → its transpose: Unfold's weights are [out, in], TF.js kernels [in, out]. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** Deterministic whole numbers in [0, max) (the same generator as `rand`), for token ids and labels. */
export function ints(n: number, seed: number, max: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % max;
  });
}
