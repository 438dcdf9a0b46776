// The page: trains a character language model in a worker with trainInWorker, plots every
// batch's loss as it arrives (uPlot), writes samples from the weights the worker sends after
// each epoch, and saves or loads the model as one .safetensors file (model.save() with the
// vocabulary in its metadata; Sequential.load()).
import { Adam, Rng, Sequential, init, trainInWorker } from "unfold";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { Vocabulary, makeModel, sample, textWindows } from "./char-lm";
import { SONNETS } from "./sample-text";

const BATCH = 32;
const SAMPLE_LENGTH = 280;
/** Samples are written at most this often while training (ms). */
const SAMPLE_EVERY = 1500;

const el = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  text: el<HTMLTextAreaElement>("text"),
  textInfo: el("text-info"),
  units: el<HTMLSelectElement>("units"),
  steps: el<HTMLInputElement>("steps"),
  lr: el<HTMLInputElement>("lr"),
  epochs: el<HTMLInputElement>("epochs"),
  train: el<HTMLButtonElement>("train"),
  stop: el<HTMLButtonElement>("stop"),
  reset: el<HTMLButtonElement>("reset"),
  save: el<HTMLButtonElement>("save"),
  load: el<HTMLInputElement>("load"),
  message: el("message"),
  plot: el("plot"),
  epoch: el("stat-epoch"),
  step: el("stat-step"),
  loss: el("stat-loss"),
  speed: el("stat-speed"),
  fps: el("stat-fps"),
  prime: el<HTMLInputElement>("prime"),
  temperature: el<HTMLInputElement>("temperature"),
  temperatureValue: el<HTMLOutputElement>("temperature-value"),
  resample: el<HTMLButtonElement>("resample"),
  sample: el("sample"),
  sampleInfo: el("sample-info"),
};

/** The model being trained, a copy of it to sample from, its vocabulary and optimizer. */
interface Session {
  model: Sequential;
  sampler: Sequential;
  vocab: Vocabulary;
  optimizer: Adam;
  lr: number;
  epochs: number;
}
let session: Session | null = null;
let running: AbortController | null = null;
const rng = new Rng(Date.now() >>> 0);

function say(text: string, kind: "info" | "error" = "info"): void {
  ui.message.textContent = text;
  ui.message.className = kind;
}

// ---- the loss curve -------------------------------------------------------------------

const history = { steps: [] as number[], loss: [] as number[], smooth: [] as number[] };
let dirty = false;

const plot = new uPlot(
  {
    width: ui.plot.clientWidth || 600,
    height: 280,
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
  ui.plot,
);
new ResizeObserver(() => plot.setSize({ width: ui.plot.clientWidth, height: 280 })).observe(ui.plot);

function clearHistory(): void {
  history.steps.length = history.loss.length = history.smooth.length = 0;
  average = 0;
  dirty = true;
}

/** The smoothed curve: an exponential moving average, bias-corrected so it starts on the data. */
const SMOOTHING = 0.95;
let average = 0;

function recordLoss(loss: number): void {
  const t = history.steps.length + 1;
  average = SMOOTHING * average + (1 - SMOOTHING) * loss;
  history.steps.push(t);
  history.loss.push(loss);
  history.smooth.push(average / (1 - SMOOTHING ** t));
  dirty = true;
}

// One redraw per frame at most, however fast the worker's messages come; and a frame
// counter, which shows the page's own thread is free while the model trains.
let frames = 0;
let framesSince = performance.now();
function frame(now: number): void {
  if (dirty) {
    plot.setData([history.steps, history.loss, history.smooth]);
    dirty = false;
  }
  frames++;
  if (now - framesSince >= 1000) {
    ui.fps.textContent = String(Math.round((frames * 1000) / (now - framesSince)));
    frames = 0;
    framesSince = now;
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

// ---- samples --------------------------------------------------------------------------

let pendingWeights: Record<string, Float32Array> | null = null;
let pendingEpoch = 0;
let lastSample = 0;
let sampleTimer: ReturnType<typeof setTimeout> | null = null;

function writeSample(label: string): void {
  if (!session) return;
  const temperature = Number(ui.temperature.value);
  const prime = ui.prime.value;
  const text = sample(session.sampler, session.vocab, prime, SAMPLE_LENGTH, temperature, rng);
  ui.sample.textContent = "";
  const primeSpan = document.createElement("b");
  primeSpan.textContent = Array.from(prime).filter((c) => session!.vocab.has(c)).join("");
  ui.sample.append(primeSpan, text);
  ui.sampleInfo.textContent = `${label} · temperature ${temperature.toFixed(2)}`;
  lastSample = performance.now();
}

/** Takes the newest weights from the worker and writes a sample, at most every SAMPLE_EVERY ms. */
function sampleSoon(): void {
  if (sampleTimer !== null) return;
  const wait = Math.max(0, SAMPLE_EVERY - (performance.now() - lastSample));
  sampleTimer = setTimeout(() => {
    sampleTimer = null;
    if (!session || !pendingWeights) return;
    session.sampler.setWeights(pendingWeights);
    pendingWeights = null;
    writeSample(`after epoch ${pendingEpoch + 1}`);
  }, wait);
}

// ---- the model ------------------------------------------------------------------------

function newSession(vocab: Vocabulary, model: Sequential, sampler: Sequential): Session {
  const lr = Number(ui.lr.value);
  return { model, sampler, vocab, optimizer: new Adam({ lr, clipNorm: 1 }), lr, epochs: 0 };
}

function disposeSession(): void {
  if (!session) return;
  session.model.dispose();
  session.sampler.dispose();
  session.optimizer.dispose();
  session = null;
}

function setRunning(on: boolean): void {
  ui.train.disabled = on;
  ui.stop.disabled = !on;
  ui.reset.disabled = on;
  ui.units.disabled = on;
  ui.steps.disabled = on;
  ui.lr.disabled = on;
  ui.save.disabled = !session;
  ui.resample.disabled = !session;
}

function describeText(): void {
  const chars = Array.from(ui.text.value);
  ui.textInfo.textContent = `${chars.length.toLocaleString("en-US")} characters, ${new Set(chars).size} distinct`;
}

async function train(): Promise<void> {
  const text = ui.text.value;
  if (!session) {
    const vocab = Vocabulary.of(text);
    if (vocab.size < 2) return say("Paste some text first: the model needs at least two different characters.", "error");
    const settings = { units: Number(ui.units.value), embedding: 32, seed: rng.int(1 << 30) };
    session = newSession(vocab, makeModel(vocab, settings), makeModel(vocab, settings));
    session.sampler.setWeights(session.model.getWeights());
    clearHistory();
  }
  const s = session;
  const lr = Number(ui.lr.value);
  if (lr !== s.lr) {
    s.optimizer.dispose();
    s.optimizer = new Adam({ lr, clipNorm: 1 });
    s.lr = lr;
  }
  const skipped = [...new Set(Array.from(text).filter((c) => !s.vocab.has(c)))];
  const ids = s.vocab.encode(text);
  const steps = Math.max(8, Math.round(Number(ui.steps.value)) || 48);
  const data = textWindows(ids, steps, Math.max(1, steps >> 1));
  if (data.x.shape[0] < 1) return say(`The text is too short: a window takes ${steps + 1} characters.`, "error");
  say(
    `Training on ${data.x.shape[0]} windows of ${steps} characters in a worker.` +
      (skipped.length ? ` Skipping ${skipped.length} character(s) the loaded model does not know: ${skipped.map((c) => JSON.stringify(c)).join(" ")}` : ""),
  );

  running = new AbortController();
  setRunning(true);
  let charsDone = 0;
  let since = performance.now();
  try {
    const result = await trainInWorker(s.model, data, {
      epochs: Math.max(1, Math.round(Number(ui.epochs.value)) || 1),
      batchSize: BATCH,
      optimizer: s.optimizer,
      signal: running.signal,
      createWorker: () => new Worker(new URL("./training-worker.ts", import.meta.url), { type: "module" }),
      onBatchEnd: (_batch, logs) => {
        recordLoss(logs.loss);
        ui.step.textContent = String(history.steps.length);
        ui.loss.textContent = logs.loss.toFixed(3);
        charsDone += BATCH * steps;
        const now = performance.now();
        if (now - since > 1000) {
          ui.speed.textContent = Math.round((charsDone * 1000) / (now - since)).toLocaleString("en-US");
          charsDone = 0;
          since = now;
        }
      },
      onEpochEnd: () => {
        s.epochs++;
        ui.epoch.textContent = String(s.epochs);
      },
      onWeights: (weights, epoch) => {
        pendingWeights = weights;
        pendingEpoch = epoch;
        sampleSoon();
      },
    });
    // Training ended (done or stopped): the model has the final weights; sample from them.
    s.sampler.setWeights(s.model.getWeights());
    pendingWeights = null;
    writeSample(`${result.stopped === "aborted" ? "stopped" : "done"} after ${s.epochs} epochs`);
    say(result.stopped === "aborted" ? "Stopped. Train again to continue from here." : "Done. Train again to continue.");
  } catch (e) {
    say(`Training failed: ${(e as Error).message}`, "error");
  } finally {
    running = null;
    setRunning(false);
  }
}

function save(): void {
  if (!session) return;
  // The sampler holds the newest weights: those of the last epoch while training runs.
  const bytes = session.sampler.save({ demo: "unfold-char-lm", chars: session.vocab.chars, epochs: session.epochs });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "application/octet-stream" }));
  link.download = `char-lm-${session.vocab.size}-chars.safetensors`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  say(`Saved ${(bytes.length / 1024).toFixed(0)} KB: the weights, the architecture and the vocabulary, in one .safetensors file.`);
}

async function load(file: File): Promise<void> {
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const { model, metadata } = Sequential.load(bytes);
    const chars = metadata.chars;
    if (!Array.isArray(chars) || chars.length !== model.inputSize || !chars.every((c) => typeof c === "string")) {
      model.dispose();
      throw new Error("this file holds an Unfold model, but not one saved by this page (its metadata has no vocabulary)");
    }
    disposeSession();
    session = newSession(new Vocabulary(chars as string[]), model, Sequential.load(bytes).model);
    session.epochs = typeof metadata.epochs === "number" ? metadata.epochs : 0;
    const lstm = model.layers.find((l) => l.kind === "lstm");
    if (lstm) ui.units.value = String((lstm.options as { units: number }).units);
    clearHistory();
    ui.epoch.textContent = String(session.epochs);
    writeSample(`loaded ${file.name}`);
    say(`Loaded a model of ${session.vocab.size} characters. Train to continue training it on the text.`);
  } catch (e) {
    say(`Could not load ${file.name}: ${(e as Error).message}`, "error");
  } finally {
    ui.load.value = "";
    setRunning(false);
  }
}

// ---- wiring ---------------------------------------------------------------------------

ui.text.value = SONNETS;
describeText();
ui.text.addEventListener("input", describeText);
ui.train.addEventListener("click", () => void train());
ui.stop.addEventListener("click", () => running?.abort());
ui.reset.addEventListener("click", () => {
  disposeSession();
  clearHistory();
  ui.sample.textContent = "";
  ui.sampleInfo.textContent = "";
  for (const stat of [ui.epoch, ui.step, ui.loss, ui.speed]) stat.textContent = "–";
  say("A new model will be made from the text when you train.");
  setRunning(false);
});
ui.units.addEventListener("change", () => {
  if (session && !running) {
    disposeSession();
    clearHistory();
    say(`The next training starts a new model with ${ui.units.value} units.`);
    setRunning(false);
  }
});
ui.save.addEventListener("click", save);
ui.load.addEventListener("change", () => {
  const file = ui.load.files?.[0];
  if (file) void load(file);
});
ui.temperature.addEventListener("input", () => (ui.temperatureValue.textContent = Number(ui.temperature.value).toFixed(2)));
ui.resample.addEventListener("click", () => writeSample("again"));

await init();
setRunning(false);
say("Press Train: the model learns in a worker, and the curve and the samples update as it goes.");

// For the end-to-end test (test/demo-web.test.ts): the plotted series and the page's state.
Object.assign(globalThis, { unfoldDemo: { plot, history, get training() { return running !== null; } } });
