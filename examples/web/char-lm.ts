// The character language model task: the text's characters are the vocabulary (a
// CharTokenizer); an Embedding → LSTM → Dense model reads windows of the text and learns to
// predict, at every step, the next character (softmax cross-entropy per character). It trains
// in a worker (trainInWorker); the page writes samples with the library's generate() from a
// second model that receives the worker's weights after every epoch. Saved as one
// .safetensors file with the tokenizer in its metadata — so `unfold sample <file> "Love "`
// continues a prompt with it too.
import { CharTokenizer, Dense, Embedding, LSTM, Loss, Rng, SPECIAL_TOKENS, Sequential, generate, textWindows, tokenizerFromJSON, trainInWorker, type TokenizerJSON } from "unfold";
import { ProgressPanel } from "./progress";
import { TrainingSession } from "./session";
import { SONNETS } from "./sample-text";
import { TaskControls, byId, download } from "./ui";

const BATCH = 32;
const SAMPLE_LENGTH = 280;
/** Samples are written at most this often while training (ms). */
const SAMPLE_EVERY = 1500;
const EMBEDDING = 32;

/** A language model in training (the viewer is the model samples come from), with its tokenizer. */
class Session extends TrainingSession<Sequential> {
  constructor(readonly tok: CharTokenizer, model: Sequential, viewer: Sequential, lr: number) {
    super(model, viewer, lr);
  }
}

function makeModel(tok: CharTokenizer, units: number, seed: number): Sequential {
  return new Sequential([new Embedding({ vocab: tok.size, dim: EMBEDDING }), new LSTM({ units }), new Dense({ units: tok.size })], {
    loss: new Loss("softmaxCrossEntropy", { reduction: "mean" }),
    seed,
  });
}

export function charLanguageModel(createWorker: () => Worker) {
  const ui = {
    text: byId<HTMLTextAreaElement>("text"),
    textInfo: byId("text-info"),
    units: byId<HTMLSelectElement>("units"),
    steps: byId<HTMLInputElement>("steps"),
    lr: byId<HTMLInputElement>("lr"),
    epochs: byId<HTMLInputElement>("epochs"),
    prime: byId<HTMLInputElement>("prime"),
    temperature: byId<HTMLInputElement>("temperature"),
    temperatureValue: byId<HTMLOutputElement>("temperature-value"),
    resample: byId<HTMLButtonElement>("resample"),
    sample: byId("sample"),
    sampleInfo: byId("sample-info"),
  };
  const rng = new Rng(Date.now() >>> 0);
  const progress = new ProgressPanel("");
  let session: Session | null = null;

  /** Drops the model; the next training makes a new one. */
  function forget(message: string): void {
    session?.dispose();
    session = null;
    progress.clear();
    ui.sample.textContent = "";
    ui.sampleInfo.textContent = "";
    controls.say(message);
    controls.update();
  }

  // ---- samples ------------------------------------------------------------------------

  let pendingWeights: Record<string, Float32Array> | null = null;
  let pendingEpoch = 0;
  let lastSample = 0;
  let sampleTimer: ReturnType<typeof setTimeout> | null = null;

  function writeSample(label: string): void {
    if (!session) return;
    const { tok, viewer } = session;
    const temperature = Number(ui.temperature.value);
    const primeIds = tok.encode(ui.prime.value);
    // Without a prompt, the model starts from a character of the text drawn at random.
    const start = primeIds.length ? primeIds : [SPECIAL_TOKENS.length + rng.int(tok.size - SPECIAL_TOKENS.length)];
    const ids = generate(viewer, start, { steps: SAMPLE_LENGTH, temperature, seed: rng.int(2 ** 30) });
    const primeSpan = document.createElement("b");
    primeSpan.textContent = tok.decode(primeIds);
    ui.sample.replaceChildren(primeSpan, tok.decode(ids));
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
      session.viewer.setWeights(pendingWeights);
      pendingWeights = null;
      writeSample(`after epoch ${pendingEpoch + 1}`);
    }, wait);
  }

  // ---- training, saving, loading --------------------------------------------------------

  async function train(signal: AbortSignal): Promise<void> {
    const text = ui.text.value;
    if (!session) {
      const tok = CharTokenizer.fromText(text);
      if (tok.size - SPECIAL_TOKENS.length < 2) return controls.say("Paste some text first: the model needs at least two different characters.", "error");
      const units = Number(ui.units.value);
      const seed = rng.int(1 << 30);
      session = new Session(tok, makeModel(tok, units, seed), makeModel(tok, units, seed), Number(ui.lr.value));
      progress.clear();
      controls.update();
    }
    const s = session;
    const unknown = [...new Set(Array.from(text).filter((c) => s.tok.idOf(c) === s.tok.unk))];
    const ids = s.tok.encode(text);
    const steps = Math.max(8, Math.round(Number(ui.steps.value)) || 48);
    if (ids.length < steps + 1) return controls.say(`The text is too short: a window takes ${steps + 1} characters.`, "error");
    const data = textWindows(ids, steps, Math.max(1, steps >> 1));
    controls.say(
      `Training on ${data.x.shape[0]} windows of ${steps} characters in a worker.` +
        (unknown.length ? ` ${unknown.length} character(s) the loaded model does not know are read as <unk>: ${unknown.map((c) => JSON.stringify(c)).join(" ")}` : ""),
    );
    const result = await trainInWorker(s.model, data, {
      epochs: Math.max(1, Math.round(Number(ui.epochs.value)) || 1),
      batchSize: BATCH,
      optimizer: s.optimizerFor(Number(ui.lr.value)),
      signal,
      createWorker,
      onBatchEnd: (_batch, logs) => progress.record(logs.loss, BATCH * steps),
      onEpochEnd: () => (progress.epoch = ++s.epochs),
      onWeights: (weights, epoch) => {
        pendingWeights = weights;
        pendingEpoch = epoch;
        sampleSoon();
      },
    });
    // Training ended (done or stopped): the model has the final weights; sample from them.
    s.viewer.setWeights(s.model.getWeights());
    pendingWeights = null;
    writeSample(`${result.stopped === "aborted" ? "stopped" : "done"} after ${s.epochs} epochs`);
    controls.say(result.stopped === "aborted" ? "Stopped. Train again to continue from here." : "Done. Train again to continue.");
  }

  function save(): void {
    if (!session) return;
    // The viewer holds the newest weights: those of the last epoch while training runs.
    const { tok, viewer, epochs } = session;
    const bytes = viewer.save({ demo: "unfold-char-lm", tokenizer: tok.toJSON(), prompt: ui.prime.value, epochs });
    download(bytes, `char-lm-${tok.size - SPECIAL_TOKENS.length}-chars.safetensors`);
    controls.say(`Saved ${(bytes.length / 1024).toFixed(0)} KB: the weights, the architecture and the vocabulary, in one .safetensors file.`);
  }

  /** Loads a language model saved with its character tokenizer (by this page, or with `{ tokenizer }` metadata). */
  function open(bytes: Uint8Array, name: string): void {
    const { model, metadata } = Sequential.load(bytes);
    const json = metadata.tokenizer as TokenizerJSON | undefined;
    let tok: CharTokenizer | null = null;
    try {
      const t = json?.type === "char" ? tokenizerFromJSON(json) : null;
      if (t instanceof CharTokenizer && model.inputDType === "int32" && model.outputSize === t.size) tok = t;
    } finally {
      if (!tok) model.dispose();
    }
    if (!tok) throw new Error("this file holds an Unfold model, but not a character language model (its metadata has no character tokenizer of the model's vocabulary)");
    session?.dispose();
    session = new Session(tok, model, Sequential.load(bytes).model, Number(ui.lr.value));
    session.epochs = typeof metadata.epochs === "number" ? metadata.epochs : 0;
    const lstm = model.layers.find((l) => l.kind === "lstm");
    if (lstm) ui.units.value = String((lstm.options as { units: number }).units);
    progress.clear();
    progress.epoch = session.epochs;
    writeSample(`loaded ${name}`);
    controls.say(`Loaded a model of ${tok.size - SPECIAL_TOKENS.length} characters. Train to continue training it on the text.`);
  }

  const controls = new TaskControls(
    "",
    {
      train,
      save,
      hasModel: () => session !== null,
      update: () => (ui.resample.disabled = !session),
      reset: () => forget("A new model will be made from the text when you train."),
    },
    [ui.units, ui.steps, ui.lr],
  );

  const describeText = () => {
    const chars = Array.from(ui.text.value);
    ui.textInfo.textContent = `${chars.length.toLocaleString("en-US")} characters, ${new Set(chars).size} distinct`;
  };
  ui.text.value = SONNETS;
  describeText();
  ui.text.addEventListener("input", describeText);
  ui.units.addEventListener("change", () => {
    if (session && !controls.training) forget(`The next training starts a new model with ${ui.units.value} units.`);
  });
  ui.temperature.addEventListener("input", () => (ui.temperatureValue.textContent = Number(ui.temperature.value).toFixed(2)));
  ui.resample.addEventListener("click", () => writeSample("again"));

  return { controls, progress, open, ready: () => controls.say("Press Train: the model learns in a worker, and the curve and the samples update as it goes.") };
}
