// `unfold train --text <file>`: a character language model on the user's own text (its loss is
// the mean cross-entropy per character, in nats). The last tenth is held out; the model is scored by its held-out perplexity next to a unigram model's
// (each character at its training frequency), then writes from a prompt. `--save` writes the
// model with its tokenizer, so `unfold sample <file>` continues any prompt.
import { readFileSync, writeFileSync } from "node:fs";
import { Adam, CharTokenizer, Dense, Embedding, Loss, Sequential, UnfoldError, cosineDecay, fit, generate, init, perplexity, textWindows } from "../index.js";
import { makeCell, runJob, sayWritten, type JobConfig, type Out } from "./job.js";
import { trainingProgress } from "./progress.js";

export interface TextTrainConfig extends JobConfig {
  /** The text file, UTF-8. */
  text: string;
  /** Characters per training window (BPTT length, unless tbptt is set). */
  steps: number;
  /** Train each window in chunks of this many steps, carrying the state (truncated BPTT). */
  tbptt?: number;
}

/** What `--text` uses for the options the command line leaves at their defaults. */
export const TEXT_DEFAULTS: Pick<TextTrainConfig, "steps" | "units" | "cell" | "epochs" | "batchSize" | "lr"> = {
  steps: 100, units: 128, cell: "lstm", epochs: 4, batchSize: 32, lr: 3e-3,
};

const EMBEDDING = 32;
const SAMPLE_LENGTH = 240;
const TEMPERATURES = [0.6, 0.8, 1.0];

const grouped = (v: number) => v.toLocaleString("en-US");

/** The last tenth of `text` held out (cut at a line break near there when there is one), the rest for training. */
function split(text: string): { train: string; heldOut: string } {
  let cut = Math.floor(text.length * 0.9);
  const newline = text.indexOf("\n", cut);
  if (newline > 0 && newline < text.length - 1 && newline - cut < 200) cut = newline + 1;
  return { train: text.slice(0, cut), heldOut: text.slice(cut) };
}

/** A prompt from `text`: the first word of its first whole sentence (or line), with the space after it. */
function promptFrom(text: string): string {
  const boundary = /[.!?\n]\s+(?=\S)/.exec(text.slice(0, 400));
  const rest = text.slice(boundary ? boundary.index + boundary[0].length : 0);
  const word = /^\S+\s/.exec(rest);
  return word && word[0].length <= 24 ? word[0] : rest.slice(0, 12);
}

export async function runTextTrain(config: TextTrainConfig, out: Out = (line) => console.log(line)): Promise<void> {
  const text = readFileSync(config.text, "utf8");
  const { train, heldOut } = split(text);
  if (train.length < config.steps + 1) {
    throw new UnfoldError(`${config.text} has ${grouped(text.length)} characters; training on windows of --steps ${config.steps} needs at least ${grouped(Math.ceil((config.steps + 1) / 0.9))} (or a smaller --steps)`);
  }
  if (config.tbptt !== undefined && config.tbptt >= config.steps) throw new UnfoldError(`--tbptt ${config.tbptt} must be smaller than --steps ${config.steps} (it cuts each window into chunks)`);
  await runJob(out, async (signal, own) => {
    await init();
    const tok = CharTokenizer.fromText(train);
    const ids = tok.encode(train);
    const { x, y } = textWindows(ids, config.steps, Math.max(1, Math.floor(config.steps / 2)));
    const heldIds = tok.encode(heldOut);
    const model = own(new Sequential([new Embedding({ vocab: tok.size, dim: EMBEDDING }), makeCell(config.cell, config.units), new Dense({ units: tok.size })], { loss: new Loss("softmaxCrossEntropy", { reduction: "mean" }), seed: config.seed }));
    const windows = x.shape[0];
    const totalSteps = Math.ceil(windows / config.batchSize) * config.epochs * (config.tbptt ? Math.ceil(config.steps / config.tbptt) : 1);
    const optimizer = own(new Adam({ lr: cosineDecay({ lr: config.lr, totalSteps, minLr: config.lr / 10 }), clipNorm: config.clipNorm }));
    const progress = trainingProgress({ epochs: config.epochs, samples: windows, batchSize: config.batchSize });
    out(`text: ${config.text}, ${grouped(text.length)} characters, ${tok.size - 4} distinct; the last ${grouped(heldOut.length)} held out`);
    out(`model: Embedding(${tok.size}, ${EMBEDDING}) → ${config.cell.toUpperCase()}(${config.units}) → Dense(${tok.size}), ${grouped(model.params.length)} parameters`);
    out(`training: ${grouped(windows)} windows of ${config.steps} characters${config.tbptt ? ` in chunks of ${config.tbptt} (truncated BPTT)` : ""}, Adam lr ${config.lr} (cosine decay), clip norm ${config.clipNorm}, batch size ${config.batchSize}, ${config.epochs} epoch${config.epochs === 1 ? "" : "s"}, seed ${config.seed}`);
    out("");
    const history = await fit(model, { x, y }, {
      epochs: config.epochs, batchSize: config.batchSize, optimizer, signal,
      ...(config.tbptt ? { tbptt: config.tbptt } : {}),
      onBatchEnd: progress.onBatchEnd, onEpochEnd: progress.onEpochEnd,
    }).finally(() => progress.stop());
    if (history.stopped === "aborted") out(`(stopped by Ctrl-C after ${history.epochs.length} full epochs)`);
    out("");
    if (heldIds.length >= config.steps + 1) {
      const counts = new Map<number, number>();
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      let nll = 0;
      for (const id of heldIds) nll -= Math.log((counts.get(id) ?? 0.5) / ids.length);
      out(`held-out perplexity ${perplexity(model, heldIds, { steps: config.steps }).toFixed(3)} per character; a unigram model (no context) scores ${Math.exp(nll / heldIds.length).toFixed(3)}`);
    } else {
      out(`(the held-out part is shorter than one window of ${config.steps}; no held-out perplexity)`);
    }
    const prompt = promptFrom(heldOut.length >= 8 ? heldOut : train);
    for (let i = 0; i < config.examples; i++) {
      const temperature = TEMPERATURES[i % TEMPERATURES.length];
      const written = tok.decode(generate(model, tok.encode(prompt), { steps: SAMPLE_LENGTH, temperature, seed: config.seed + i }));
      out("");
      out(`--- temperature ${temperature} ---`);
      out(prompt + written);
    }
    if (config.save) {
      writeFileSync(config.save, model.save({ tokenizer: tok.toJSON(), prompt }));
      sayWritten(out, "model", config.save, JSON.stringify(prompt));
    }
  });
}
