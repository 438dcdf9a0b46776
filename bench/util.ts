// Timing helpers every benchmark shares: warm up, take the median of several samples,
// print a table. A sample repeats the body until it lasts long enough to time reliably.

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
  /** Warm-up time before measuring, so the JIT has compiled the hot path (default 200 ms). */
  warmupMs?: number;
  /** Stop taking samples after this much time, keeping at least 3 (default 4000 ms). */
  budgetMs?: number;
}

const now = () => performance.now();

/** Times `body` (synchronous): median over samples of the mean time per call. */
export function timeIt(body: () => void, options: TimeOptions = {}): Timing {
  const samples = options.samples ?? 15;
  const sampleMs = options.sampleMs ?? 20;
  const warmupMs = options.warmupMs ?? 200;
  const budgetMs = options.budgetMs ?? 4000;

  // Warm up, and learn how many calls make one sample last sampleMs.
  let reps = 1;
  let t0 = now();
  let calls = 0;
  do {
    body();
    calls++;
  } while (now() - t0 < warmupMs || calls < 2);
  const perCall = (now() - t0) / calls;
  reps = Math.max(1, Math.ceil(sampleMs / Math.max(perCall, 1e-6)));

  const times: number[] = [];
  const start = now();
  while (times.length < samples && (times.length < 3 || now() - start < budgetMs)) {
    t0 = now();
    for (let r = 0; r < reps; r++) body();
    times.push((now() - t0) / reps);
  }
  times.sort((x, y) => x - y);
  const mid = times.length >> 1;
  const ms = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { ms, minMs: times[0], samples: times.length, reps };
}

/** Largest |a - b| over the arrays, and the largest |b| (to judge it against). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) diff = d; // NaN wins
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}

/** Prints rows as a table whose columns are as wide as their widest cell. Numbers right-aligned. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const right = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number" || /^[-+]?[\d.]+(x|×)?$/.test(String(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells.slice(1)) console.log(line(r));
}

/** Formats a number with a fixed count of significant-looking decimals for tables. */
export function fmt(x: number, decimals = 2): string {
  return Number.isFinite(x) ? x.toFixed(decimals) : String(x);
}
