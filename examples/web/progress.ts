// A task's progress panel: the loss of every batch as it arrives, with a smoothed curve
// (uPlot), and the numbers under it (epoch, step, loss, work per second, and the page's own
// frame rate, which shows its thread stays free while a worker trains). Redrawn at most once
// per frame, however fast the worker's messages come.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { byId } from "./ui";

/** The smoothed curve: an exponential moving average, bias-corrected so it starts on the data. */
const SMOOTHING = 0.95;
const HEIGHT = 280;
const panels: ProgressPanel[] = [];

/** Ids: `${prefix}plot`, and `${prefix}stat-epoch`, `-step`, `-loss`, `-speed`, `-fps`. */
export class ProgressPanel {
  readonly plot: uPlot;
  readonly history = { steps: [] as number[], loss: [] as number[], smooth: [] as number[] };
  private readonly stats: Record<"epoch" | "step" | "loss" | "speed" | "fps", HTMLElement>;
  private average = 0;
  private dirty = false;
  private work = 0;
  private workSince = performance.now();

  constructor(prefix: string) {
    const container = byId(`${prefix}plot`);
    this.stats = {
      epoch: byId(`${prefix}stat-epoch`),
      step: byId(`${prefix}stat-step`),
      loss: byId(`${prefix}stat-loss`),
      speed: byId(`${prefix}stat-speed`),
      fps: byId(`${prefix}stat-fps`),
    };
    this.plot = new uPlot(
      {
        width: container.clientWidth || 600,
        height: HEIGHT,
        scales: { x: { time: false } },
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        series: [
          { label: "step" },
          { label: "batch loss", stroke: "#9fb3c8", width: 1, points: { show: false } },
          { label: "smoothed", stroke: "#d9480f", width: 2.5, points: { show: false } },
        ],
        axes: [{ label: "optimizer step", stroke: "#555" }, { label: "loss", stroke: "#555" }],
      },
      [[], [], []],
      container,
    );
    // A hidden panel has no width; it gets one when its tab is shown.
    new ResizeObserver(() => container.clientWidth && this.plot.setSize({ width: container.clientWidth, height: HEIGHT })).observe(container);
    panels.push(this);
  }

  /** One batch: its loss, and how much it did (characters, pairs) for the speed. */
  record(loss: number, work: number): void {
    const t = this.history.steps.length + 1;
    this.average = SMOOTHING * this.average + (1 - SMOOTHING) * loss;
    this.history.steps.push(t);
    this.history.loss.push(loss);
    this.history.smooth.push(this.average / (1 - SMOOTHING ** t));
    this.dirty = true;
    this.stats.step.textContent = String(t);
    this.stats.loss.textContent = loss.toFixed(3);
    this.work += work;
    const now = performance.now();
    if (now - this.workSince > 1000) {
      this.stats.speed.textContent = Math.round((this.work * 1000) / (now - this.workSince)).toLocaleString("en-US");
      this.work = 0;
      this.workSince = now;
    }
  }

  set epoch(epochs: number) {
    this.stats.epoch.textContent = String(epochs);
  }

  /** An empty curve and blank numbers (a new model). */
  clear(): void {
    this.history.steps.length = this.history.loss.length = this.history.smooth.length = 0;
    this.average = 0;
    this.dirty = true;
    for (const stat of [this.stats.epoch, this.stats.step, this.stats.loss, this.stats.speed]) stat.textContent = "–";
  }

  /** Called once per animation frame, with the frame rate when it was just measured. */
  draw(fps: string | null): void {
    if (this.dirty) {
      this.plot.setData([this.history.steps, this.history.loss, this.history.smooth]);
      this.dirty = false;
    }
    if (fps !== null) this.stats.fps.textContent = fps;
  }
}

let frames = 0;
let framesSince = performance.now();
function frame(now: number): void {
  frames++;
  let fps: string | null = null;
  if (now - framesSince >= 1000) {
    fps = String(Math.round((frames * 1000) / (now - framesSince)));
    frames = 0;
    framesSince = now;
  }
  for (const panel of panels) panel.draw(fps);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
