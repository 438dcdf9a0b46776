// The sequence-to-sequence task: an encoder-decoder with attention (a bidirectional GRU reads
// the source, a GRU writes the answer, additive attention between them) learns to reverse
// strings or to add numbers, from pairs the library generates. It trains in a worker
// (trainInWorker); after every epoch the worker's weights go into a second model here, which
// answers a few held-out sources and draws where its attention looked for a source you choose
// (greedy decoding with `attention: true`). The exact-match rate is the worker's: fit decodes
// the held-out sources after every epoch. Saved as one .safetensors file with the task and the
// tokenizer in its metadata, as `unfold train --task` saves — either loads the other's.
import {
  Bidirectional, CharTokenizer, GRU, Rng, Seq2Seq, additionTask, encodePairs, reverseTask, splitPairs, tokenizerFromJSON, trainInWorker,
  type TextPairs, type TokenizerJSON,
} from "unfold";
import { drawAttention } from "./heatmap";
import { ProgressPanel } from "./progress";
import { TrainingSession } from "./session";
import { TaskControls, byId, download } from "./ui";

interface Task {
  /** What the pairs look like, for the page. */
  summary: string;
  alphabet: string;
  generate(n: number, seed: number): TextPairs;
  /** The right answer for a source typed in, or null when the source is not one of the task's. */
  answer(source: string): string | null;
  /** Training pairs (one epoch) and decoder units: sized to learn within a minute on one core. */
  pairs: number;
  units: number;
}

const TASKS = {
  reverse: {
    summary: "Reverse a string of 3–12 letters: kqzea → aezqk.",
    alphabet: "abcdefghijklmnopqrstuvwxyz",
    generate: (n, seed) => reverseTask(n, { seed }),
    answer: (s) => (/^[a-z]+$/.test(s) ? Array.from(s).reverse().join("") : null),
    pairs: 8000,
    units: 64,
  },
  addition: {
    summary: "Add two numbers of up to 3 digits: 372+58 → 430.",
    alphabet: "0123456789+",
    generate: (n, seed) => additionTask(n, { seed }),
    answer: (s) => (/^\d+\+\d+$/.test(s) ? String(s.split("+").reduce((sum, v) => sum + Number(v), 0)) : null),
    pairs: 16000,
    units: 128,
  },
} satisfies Record<string, Task>;
type TaskName = keyof typeof TASKS;
const isTaskName = (name: unknown): name is TaskName => typeof name === "string" && Object.hasOwn(TASKS, name);

const BATCH = 64;
const EMBEDDING = 32;
/** Held-out pairs, scored after every epoch. */
const HELD_OUT = 200;
/** Held-out pairs shown with the model's answers. */
const SHOWN = 7;
/** The end symbol's row in the heat map. */
const END = "⏎";

/** A model in training for a task (the viewer is the model answers come from), with its tokenizer and its pairs. */
class Session extends TrainingSession<Seq2Seq> {
  readonly train: TextPairs;
  readonly heldOut: TextPairs;

  constructor(readonly task: TaskName, readonly tok: CharTokenizer, model: Seq2Seq, viewer: Seq2Seq, lr: number, seed: number) {
    super(model, viewer, lr);
    // Every source is distinct, so the held-out pairs are none of the training pairs.
    const { generate, pairs } = TASKS[task];
    [this.train, this.heldOut] = splitPairs(generate(pairs + HELD_OUT, seed), pairs);
  }
}

function makeModel(tok: CharTokenizer, units: number, seed: number): Seq2Seq {
  return new Seq2Seq({
    sourceVocab: tok.size, targetVocab: tok.size, embedding: EMBEDDING, bos: tok.bos, eos: tok.eos, seed,
    encoder: new Bidirectional(new GRU({ units: units / 2 })), decoder: new GRU({ units }), attention: { score: "additive" },
    reduction: "mean", // the loss per output character, as the language model's
  });
}

const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

export function sequenceToSequence(createWorker: () => Worker) {
  const ui = {
    task: byId<HTMLSelectElement>("s2s-task"),
    taskInfo: byId("s2s-task-info"),
    units: byId<HTMLSelectElement>("s2s-units"),
    lr: byId<HTMLInputElement>("s2s-lr"),
    epochs: byId<HTMLInputElement>("s2s-epochs"),
    source: byId<HTMLInputElement>("s2s-source"),
    random: byId<HTMLButtonElement>("s2s-random"),
    answer: byId("s2s-answer"),
    heatmap: byId<HTMLCanvasElement>("s2s-heatmap"),
    heatmapInfo: byId("s2s-heatmap-info"),
    accuracy: byId("s2s-accuracy"),
    accuracyInfo: byId("s2s-accuracy-info"),
    predictions: byId<HTMLOListElement>("s2s-predictions"),
  };
  const rng = new Rng((Date.now() >>> 0) ^ 0x5eed);
  const progress = new ProgressPanel("s2s-");
  let session: Session | null = null;
  const task = () => TASKS[ui.task.value as TaskName];

  /** Drops the model; the next training makes a new one. */
  function forget(message: string): void {
    session?.dispose();
    session = null;
    progress.clear();
    showAccuracy(undefined, undefined, "");
    showModel();
    controls.say(message);
    controls.update();
  }

  // ---- what the model answers, and where it looks ------------------------------------------

  function showAccuracy(exactMatch: number | undefined, tokenAccuracy: number | undefined, label: string): void {
    ui.accuracy.textContent = exactMatch === undefined ? "–" : percent(exactMatch);
    ui.accuracyInfo.textContent = exactMatch === undefined ? `exact match on ${HELD_OUT} held-out pairs, after the first epoch` : `exact match on ${HELD_OUT} held-out pairs ${label}` + (tokenAccuracy === undefined ? "" : ` · ${percent(tokenAccuracy)} of characters right`);
  }

  /** The viewer's greedy answers to the first held-out sources (the same ones every time, to watch them improve). */
  function showPredictions(): void {
    if (!session) return ui.predictions.replaceChildren();
    const { tok, viewer, heldOut } = session;
    const sources = heldOut.source.slice(0, SHOWN);
    const answers = viewer.greedy(sources.map((s) => tok.encode(s)));
    ui.predictions.replaceChildren(
      ...answers.map((h, i) => {
        const predicted = tok.decode(h.tokens);
        const right = h.finished && predicted === heldOut.target[i];
        const li = document.createElement("li");
        li.title = "Show its attention";
        li.dataset.source = sources[i];
        const cell = (text: string, className: string) => Object.assign(document.createElement("span"), { textContent: text, className });
        li.append(cell(sources[i], "source"), cell("→", "arrow"), cell(predicted || "∅", right ? "right" : "wrong"), cell(right ? "✓" : `✗ ${heldOut.target[i]}`, right ? "mark right" : "mark wrong"));
        li.addEventListener("click", () => {
          ui.source.value = sources[i];
          showAttention();
        });
        return li;
      }),
    );
  }

  /** Decodes the chosen source with attention and draws the heat map. */
  function showAttention(): void {
    const source = ui.source.value.trim();
    const clear = (why: string) => {
      drawAttention(ui.heatmap, [], [], [], 0);
      ui.answer.textContent = "";
      ui.heatmapInfo.textContent = why;
    };
    if (!session) return clear("Train (or load) a model to see where it looks.");
    const { tok, viewer, task: name } = session;
    const unknown = [...new Set(Array.from(source).filter((c) => tok.idOf(c) === tok.unk))];
    if (!source) return clear("Type a source, or click one of the answers.");
    if (unknown.length) return clear(`The model knows only ${TASKS[name].alphabet}; not ${unknown.map((c) => JSON.stringify(c)).join(" ")}.`);
    const [h] = viewer.greedy([tok.encode(source)], { attention: true });
    const output = Array.from(tok.decode(h.tokens));
    drawAttention(ui.heatmap, h.attention!, Array.from(source), h.finished ? [...output, END] : output, ui.heatmap.parentElement!.clientWidth);
    const expected = TASKS[name].answer(source);
    ui.answer.textContent = `→ ${output.join("") || "∅"}` + (expected === null ? "" : h.finished && output.join("") === expected ? "  ✓" : `  ✗ (${expected})`);
    ui.heatmapInfo.textContent = `Row t: where the decoder looked in the source while writing its t-th character (${END}: the end). Each row sums to 1.`;
  }

  function showModel(): void {
    showPredictions();
    showAttention();
  }

  // ---- training, saving, loading ----------------------------------------------------------

  async function train(signal: AbortSignal): Promise<void> {
    if (!session) {
      const name = ui.task.value as TaskName;
      const tok = CharTokenizer.fromText(TASKS[name].alphabet);
      const units = Number(ui.units.value);
      const seed = rng.int(1 << 30);
      session = new Session(name, tok, makeModel(tok, units, seed), makeModel(tok, units, seed), Number(ui.lr.value), rng.int(1 << 30));
      progress.clear();
      showAccuracy(undefined, undefined, "");
      controls.update();
    }
    const s = session;
    const epochs = Math.max(1, Math.round(Number(ui.epochs.value)) || 1);
    controls.say(`Training on ${s.train.source.length.toLocaleString("en-US")} pairs in a worker; the answers and the heat map update after every epoch.`);
    const history = await trainInWorker(s.model, encodePairs(s.train, s.tok), {
      epochs,
      batchSize: BATCH,
      optimizer: s.optimizerFor(Number(ui.lr.value)),
      validationData: encodePairs(s.heldOut, s.tok),
      exactMatch: true,
      signal,
      createWorker,
      onBatchEnd: (_batch, logs) => progress.record(logs.loss, BATCH),
      onEpochEnd: (_epoch, logs) => {
        progress.epoch = ++s.epochs;
        showAccuracy(logs.valExactMatch, logs.valTokenAccuracy, `after epoch ${s.epochs}`);
      },
      onWeights: (weights) => {
        s.viewer.setWeights(weights);
        showModel();
      },
    });
    s.viewer.setWeights(s.model.getWeights());
    showModel();
    const stopped = history.length < epochs;
    controls.say(stopped ? "Stopped. Train again to continue from here." : "Done. Train again to continue.");
  }

  function save(): void {
    if (!session) return;
    // The viewer holds the newest weights: those of the last epoch while training runs.
    const { task: name, tok, viewer, epochs } = session;
    const bytes = viewer.save({ demo: "unfold-seq2seq", task: name, tokenizer: tok.toJSON(), epochs });
    download(bytes, `seq2seq-${name}.safetensors`);
    controls.say(`Saved ${(bytes.length / 1024).toFixed(0)} KB: the weights, the architecture, the task and the tokenizer, in one .safetensors file.`);
  }

  /** Loads a Seq2Seq saved with its task and character tokenizer (by this page, or by `unfold train --task ... --save`). */
  function open(bytes: Uint8Array, name: string): void {
    const { model, metadata } = Seq2Seq.load(bytes);
    const meta = (metadata ?? {}) as { task?: unknown; tokenizer?: TokenizerJSON; epochs?: unknown };
    let tok: CharTokenizer | null = null;
    try {
      const t = meta.tokenizer?.type === "char" ? tokenizerFromJSON(meta.tokenizer) : null;
      if (isTaskName(meta.task) && t instanceof CharTokenizer && model.sourceVocab === t.size && model.targetVocab === t.size) tok = t;
    } finally {
      if (!tok) model.dispose();
    }
    if (!tok || !isTaskName(meta.task)) throw new Error(`this file holds a seq2seq model, but not one for this page's tasks (its metadata needs task: ${Object.keys(TASKS).map((t) => JSON.stringify(t)).join(" or ")} and a character tokenizer)`);
    if (!model.attention) {
      model.dispose();
      throw new Error("this seq2seq model has no attention, so there is no heat map to draw");
    }
    session?.dispose();
    ui.task.value = meta.task;
    ui.taskInfo.textContent = TASKS[meta.task].summary;
    if (Array.from(ui.units.options).some((o) => o.value === String(model.decoder.units))) ui.units.value = String(model.decoder.units);
    session = new Session(meta.task, tok, model, Seq2Seq.load(bytes).model, Number(ui.lr.value), rng.int(1 << 30));
    session.epochs = typeof meta.epochs === "number" ? meta.epochs : 0;
    progress.clear();
    progress.epoch = session.epochs;
    const scored = session.viewer.evaluate(encodePairs(session.heldOut, tok), { exactMatch: true });
    showAccuracy(scored.exactMatch, scored.tokenAccuracy, `(loaded ${name})`);
    pickRandomSource();
    showModel();
    controls.say(`Loaded ${name}: ${meta.task === "reverse" ? "reversal" : "addition"}, ${model.params.length.toLocaleString("en-US")} parameters. Train to continue training it.`);
  }

  function pickRandomSource(): void {
    const pool = session?.heldOut.source;
    ui.source.value = pool ? pool[rng.int(pool.length)] : task().generate(1, rng.int(1 << 30)).source[0];
  }

  const controls = new TaskControls(
    "s2s-",
    {
      train,
      save,
      hasModel: () => session !== null,
      update: () => (ui.task.disabled = controls.training),
      reset: () => forget("A new model for this task will be made when you train."),
    },
    [ui.units, ui.lr],
  );

  ui.task.addEventListener("change", () => {
    ui.taskInfo.textContent = task().summary;
    ui.units.value = String(task().units);
    pickRandomSource();
    if (session && session.task !== ui.task.value) forget("The next training starts a new model for this task.");
    else showModel();
  });
  ui.units.addEventListener("change", () => {
    if (session && !controls.training) forget(`The next training starts a new model with ${ui.units.value} decoder units.`);
  });
  ui.source.addEventListener("input", showAttention);
  ui.random.addEventListener("click", () => {
    pickRandomSource();
    showAttention();
  });
  window.addEventListener("resize", () => session && showAttention());

  ui.taskInfo.textContent = task().summary;
  ui.units.value = String(task().units);
  pickRandomSource();
  showAccuracy(undefined, undefined, "");
  showModel();
  return { controls, progress, open, ready: () => controls.say("Press Train: the model learns in a worker; its answers and its attention update after every epoch.") };
}
