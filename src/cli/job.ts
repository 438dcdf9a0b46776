// What every `unfold train` job shares: the recurrent cells by name, the options all jobs
// take, Ctrl-C handling, and the closing lines.
import { Elman, GRU, LSTM, type RecurrentLayer } from "../index.js";

export const CELL_NAMES = ["lstm", "gru", "elman"] as const;
export type CellName = (typeof CELL_NAMES)[number];

/** A recurrent layer of kind `cell`; `returnSequences` false gives only its last output. */
export function makeCell(cell: CellName, units: number, returnSequences = true): RecurrentLayer {
  if (cell === "lstm") return new LSTM({ units, returnSequences });
  if (cell === "gru") return new GRU({ units, returnSequences });
  return new Elman({ units, returnSequences });
}

/** The options of every training job. */
export interface JobConfig {
  units: number;
  cell: CellName;
  epochs: number;
  batchSize: number;
  /** Adam's learning rate (where the job decays it, its starting value). */
  lr: number;
  clipNorm: number;
  /** Seeds the data, the weights and the shuffling. */
  seed: number;
  /** How many results to print at the end. */
  examples: number;
  /** Where to write the result after training. */
  save?: string;
}

export type Out = (line: string) => void;

/**
 * Runs a training job: `body` gets a signal that the first Ctrl-C aborts (training ends after
 * the current batch and the results still show; a second Ctrl-C exits), and `own`, which
 * registers what the job must free however it ends. Prints the time the whole job took.
 */
export async function runJob(out: Out, body: (signal: AbortSignal, own: <T extends { dispose(): void }>(x: T) => T) => Promise<void>): Promise<void> {
  const started = performance.now();
  const owned: { dispose(): void }[] = [];
  const abort = new AbortController();
  const onInterrupt = () => abort.abort();
  process.once("SIGINT", onInterrupt);
  try {
    await body(abort.signal, (x) => (owned.push(x), x));
    out("");
    out(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    process.removeListener("SIGINT", onInterrupt);
    for (const o of owned.reverse()) o.dispose();
  }
}

/** The lines after a job wrote its result to `path`; `tryArgs` is what to pass `unfold sample`, if anything. */
export function sayWritten(out: Out, what: string, path: string, tryArgs?: string): void {
  out("");
  out(`${what} written to ${path}${tryArgs === undefined ? "" : ` (try: unfold sample ${path} ${tryArgs})`}`);
}
