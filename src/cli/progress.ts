// Training progress for fit(): on a terminal, one cli-progress bar per epoch that stays on
// screen when the epoch ends; elsewhere (CI, a pipe, a file) one plain line per epoch, so
// logs hold no control codes.
import cliProgress from "cli-progress";
import type { FitOptions, Logs } from "../index.js";

export interface ProgressOptions {
  epochs: number;
  samples: number;
  batchSize: number;
  /** Where progress goes. Default process.stderr, keeping stdout for results. */
  stream?: NodeJS.WriteStream;
}

const grouped = (v: number) => Math.round(v).toLocaleString("en-US");
const seconds = (s: number) => (s < 10 ? `${s.toFixed(1)}s` : `${Math.round(s)}s`);

export interface Progress {
  onBatchEnd: NonNullable<FitOptions["onBatchEnd"]>;
  onEpochEnd: NonNullable<FitOptions["onEpochEnd"]>;
  /** Closes a bar left open by an epoch that did not finish (training was stopped). */
  stop(): void;
}

/** The callbacks that draw the progress of a fit() call. */
export function trainingProgress(options: ProgressOptions): Progress {
  const { epochs, samples, batchSize } = options;
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const label = (epoch: number) => `epoch ${String(epoch + 1).padStart(String(epochs).length)}/${epochs}`;
  let bar: cliProgress.SingleBar | null = null;
  let epochStart = performance.now();
  let lossSum = 0;
  let normSum = 0;
  let batches = 0;
  let epoch = 0;

  const onBatchEnd = (batch: number, logs: Logs) => {
    const done = Math.min((batch + 1) * batchSize, samples);
    lossSum += logs.loss * (done - batch * batchSize);
    normSum += logs.gradNorm ?? 0;
    batches++;
    if (!tty) return;
    const elapsed = (performance.now() - epochStart) / 1000;
    const payload = {
      epoch: label(epoch),
      loss: (lossSum / done).toFixed(4),
      gradNorm: (normSum / batches).toFixed(3),
      speed: grouped(done / Math.max(elapsed, 1e-9)),
      timing: `eta ${seconds(elapsed * (samples / done - 1))}`,
    };
    if (!bar) {
      bar = new cliProgress.SingleBar(
        {
          // Fits 80 columns up to 99 epochs and 99,999 samples/s; a narrower terminal cuts the end.
          format: "{epoch} {bar} loss {loss}  grad norm {gradNorm}  {speed} samples/s  {timing}",
          barsize: 10,
          hideCursor: true,
          clearOnComplete: false,
          stream,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(samples, done, payload);
    } else {
      bar.update(done, payload);
    }
  };

  const onEpochEnd = (finished: number, logs: Logs) => {
    const took = logs.seconds ?? (performance.now() - epochStart) / 1000;
    const summary = {
      epoch: label(finished),
      loss: logs.loss.toFixed(4),
      gradNorm: (logs.gradNorm ?? 0).toFixed(3),
      speed: grouped(samples / Math.max(took, 1e-9)),
      timing: seconds(took),
    };
    if (bar) {
      bar.update(samples, summary);
      bar.stop();
      bar = null;
    } else {
      stream.write(`${summary.epoch}  loss ${summary.loss}  grad norm ${summary.gradNorm}  ${summary.speed} samples/s  ${summary.timing}\n`);
    }
    epoch = finished + 1;
    epochStart = performance.now();
    lossSum = normSum = batches = 0;
  };

  const stop = () => {
    bar?.stop();
    bar = null;
  };

  return { onBatchEnd, onEpochEnd, stop };
}
