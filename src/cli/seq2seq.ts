// `unfold train --task reverse|addition` (sequence to sequence with attention) and
// `unfold sample` (decode with a saved seq2seq model, or write text with a saved language
// model). A seq2seq model is saved with Seq2Seq.save — architecture, weights, and its
// tokenizer and task in the metadata — so `unfold sample <file>` needs nothing else.
import { readFileSync, writeFileSync } from "node:fs";
import {
  Adam, Bidirectional, CharTokenizer, Rng, Seq2Seq, Sequential, UnfoldError, additionTask, cosineDecay, encodePairs, generate, init,
  readSafetensors, reverseTask, splitPairs, tokenizerFromJSON, type TextPairs, type Tokenizer, type TokenizerJSON,
} from "../index.js";
import { makeCell, runJob, sayWritten, type JobConfig, type Out } from "./job.js";
import { trainingProgress } from "./progress.js";

export const SEQ2SEQ_TASK_NAMES = ["reverse", "addition"] as const;
export type Seq2SeqTaskName = (typeof SEQ2SEQ_TASK_NAMES)[number];

export function isSeq2SeqTask(name: string): name is Seq2SeqTaskName {
  return (SEQ2SEQ_TASK_NAMES as readonly string[]).includes(name);
}

export interface Seq2SeqTrainConfig extends JobConfig {
  task: Seq2SeqTaskName;
  /** Decoder units; the bidirectional encoder has half as many each way. Adam's lr decays along a cosine to a twentieth. */
  units: number;
  samples: number;
  testSamples: number;
}

interface Seq2SeqTask {
  readonly summary: string;
  readonly alphabet: string;
  generate(n: number, seed: number): TextPairs;
  /** The sizes `unfold train --task <name>` uses unless told otherwise (what the tests train to the issue's bars). */
  readonly defaults: Pick<Seq2SeqTrainConfig, "units" | "cell" | "epochs" | "batchSize" | "lr" | "samples" | "testSamples">;
}

export const SEQ2SEQ_TASKS: Readonly<Record<Seq2SeqTaskName, Seq2SeqTask>> = {
  reverse: {
    summary: "reverse a string of 3–12 letters: kqzea → aezqk",
    alphabet: "abcdefghijklmnopqrstuvwxyz",
    generate: (n, seed) => reverseTask(n, { seed }),
    defaults: { units: 64, cell: "gru", epochs: 2, batchSize: 64, lr: 5e-3, samples: 24000, testSamples: 2000 },
  },
  addition: {
    summary: "add two numbers of up to 3 digits: 372+58 → 430",
    alphabet: "0123456789+",
    generate: (n, seed) => additionTask(n, { seed }),
    defaults: { units: 128, cell: "gru", epochs: 2, batchSize: 64, lr: 5e-3, samples: 50000, testSamples: 2000 },
  },
};

const percent = (v: number) => `${(v * 100).toFixed(2)}%`;

export async function runSeq2SeqTrain(config: Seq2SeqTrainConfig, out: Out = (line) => console.log(line)): Promise<void> {
  if (config.units < 2 || config.units % 2) throw new UnfoldError(`--units must be even for a seq2seq task (the bidirectional encoder has half of them each way), got ${config.units}`);
  await runJob(out, async (signal, own) => {
    await init();
    const task = SEQ2SEQ_TASKS[config.task];
    const seeds = new Rng(config.seed);
    const [train, test] = splitPairs(task.generate(config.samples + config.testSamples, seeds.nextU32()), config.samples);
    const tok = CharTokenizer.fromText(task.alphabet);
    const model = own(new Seq2Seq({
      sourceVocab: tok.size, targetVocab: tok.size, embedding: 32, bos: tok.bos, eos: tok.eos, seed: seeds.nextU32(),
      encoder: new Bidirectional(makeCell(config.cell, config.units / 2)), decoder: makeCell(config.cell, config.units), attention: { score: "additive" },
    }));
    const totalSteps = Math.ceil(config.samples / config.batchSize) * config.epochs;
    const optimizer = own(new Adam({ lr: cosineDecay({ lr: config.lr, totalSteps, minLr: config.lr / 20 }), clipNorm: config.clipNorm }));
    const progress = trainingProgress({ epochs: config.epochs, samples: config.samples, batchSize: config.batchSize });
    const cell = config.cell.toUpperCase();
    out(`model: Bidirectional ${cell}(${config.units / 2}) encoder → ${cell}(${config.units}) decoder with additive attention, ${model.params.length.toLocaleString("en-US")} parameters`);
    out(`data: ${config.samples.toLocaleString("en-US")} training and ${config.testSamples.toLocaleString("en-US")} held-out pairs (${task.summary})`);
    out(`training: Adam, lr ${config.lr} (cosine decay), clip norm ${config.clipNorm}, batch size ${config.batchSize}, ${config.epochs} epoch${config.epochs === 1 ? "" : "s"}, seed ${config.seed}`);
    out("");
    const history = await model.fit(encodePairs(train, tok), {
      optimizer, epochs: config.epochs, batchSize: config.batchSize, signal,
      onBatchEnd: progress.onBatchEnd, onEpochEnd: progress.onEpochEnd,
    }).finally(() => progress.stop());
    if (history.length < config.epochs) out(`(stopped by Ctrl-C after ${history.length} full epochs)`);
    out("");
    const testData = encodePairs(test, tok);
    const result = model.evaluate(testData, { exactMatch: true });
    out(`test exact match   ${percent(result.exactMatch!)}  (greedy decoding of held-out sources)`);
    out(`test token accuracy ${percent(result.tokenAccuracy)}  (each target character, given the true ones before it)`);
    out("");
    out("Held-out sources and the model's answers:");
    const shown = test.source.slice(0, config.examples);
    const decoded = model.greedy(shown.map((s) => tok.encode(s)));
    decoded.forEach((h, i) => {
      const answer = tok.decode(h.tokens);
      out(`  ${shown[i].padEnd(14)} → ${answer.padEnd(14)} ${answer === test.target[i] ? "right" : `wrong (${test.target[i]})`}`);
    });
    if (config.save) {
      writeFileSync(config.save, model.save({ task: config.task, tokenizer: tok.toJSON() }));
      sayWritten(out, "model", config.save, test.source[0]);
    }
  });
}

export interface SampleConfig {
  /** Seq2seq: beam width (1: greedy). */
  beam: number;
  /** Draw tokens at this temperature (0: the most likely). Default: greedy/beam for seq2seq, 0.8 for a language model. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed: number;
  /** Most tokens to write. */
  length?: number;
  /** Seq2seq: print each step's attention weights as a heat map. */
  attention: boolean;
}

const SHADES = " .:-=+*#%@";

/** Decodes `inputs` with a saved seq2seq model, or continues `inputs` (a prompt) with a saved language model. */
export async function runSample(file: string, inputs: string[], config: SampleConfig, out: (line: string) => void = (line) => console.log(line)): Promise<void> {
  await init();
  const bytes = new Uint8Array(readFileSync(file));
  const format = (() => {
    try {
      return (JSON.parse(readSafetensors(bytes).metadata.get("unfold") ?? "{}") as { format?: unknown }).format;
    } catch {
      return undefined;
    }
  })();
  if (format === "unfold-seq2seq") return sampleSeq2Seq(bytes, inputs, config, out);
  if (format === "unfold-model") return sampleLanguageModel(bytes, inputs, config, out);
  throw new UnfoldError(`${file} is not a model saved by unfold train --task reverse|addition, nor a language model saved with its tokenizer (format ${JSON.stringify(format)})`);
}

function tokenizerOf(metadata: unknown, file: string): Tokenizer {
  const json = (metadata as { tokenizer?: TokenizerJSON } | null)?.tokenizer;
  if (!json) throw new UnfoldError(`the model file holds no tokenizer (metadata.tokenizer); save it with { tokenizer: tokenizer.toJSON() } (${file})`);
  return tokenizerFromJSON(json);
}

function sampleSeq2Seq(bytes: Uint8Array, inputs: string[], config: SampleConfig, out: (line: string) => void): void {
  const { model, metadata } = Seq2Seq.load(bytes);
  try {
    const tok = tokenizerOf(metadata, "seq2seq");
    if (!inputs.length) throw new UnfoldError("give one or more source strings to decode, e.g. unfold sample model.unfold hello");
    if (config.attention && !model.attention) throw new UnfoldError("--attention: this model has no attention");
    for (const input of inputs) {
      const source = tok.encode(input);
      if (!source.length) throw new UnfoldError("an empty source cannot be decoded");
      const options = { attention: config.attention, ...(config.length ? { maxLength: config.length } : {}) };
      const h = config.temperature !== undefined
        ? model.sample([source], { ...options, temperature: config.temperature, topK: config.topK, topP: config.topP, seed: config.seed })[0]
        : config.beam > 1 ? model.beamSearch(source, { ...options, width: config.beam })[0] : model.greedy([source], options)[0];
      out(`${input} → ${tok.decode(h.tokens)}  (log p ${h.logProb.toFixed(3)}${h.finished ? "" : ", stopped at the length limit"})`);
      if (h.attention) {
        const chars = Array.from(input);
        out(`    ${chars.join(" ")}`);
        const answer = Array.from(tok.decode(h.tokens));
        h.attention.forEach((row, t) => out(`  ${t < answer.length ? answer[t] : "⏎"} ${Array.from(row, (w) => SHADES[Math.min(SHADES.length - 1, Math.floor(w * SHADES.length))]).join(" ")}`));
      }
    }
  } finally {
    model.dispose();
  }
}

function sampleLanguageModel(bytes: Uint8Array, inputs: string[], config: SampleConfig, out: (line: string) => void): void {
  const { model, metadata } = Sequential.load(bytes);
  try {
    const tok = tokenizerOf(metadata, "language model");
    if (config.beam > 1) throw new UnfoldError("--beam applies to seq2seq models; a language model samples (--temperature, --top-k, --top-p)");
    if (config.attention) throw new UnfoldError("--attention applies to seq2seq models with attention");
    const prompt = inputs.length ? inputs.join(" ") : typeof metadata.prompt === "string" ? metadata.prompt : "";
    if (!prompt) throw new UnfoldError("give a prompt to continue, e.g. unfold sample lm.unfold \"The \"");
    const ids = generate(model, tok.encode(prompt), {
      steps: config.length ?? 300, seed: config.seed, temperature: config.temperature ?? 0.8,
      ...(config.topK ? { topK: config.topK } : {}), ...(config.topP ? { topP: config.topP } : {}),
    });
    out(prompt + tok.decode(ids));
  } finally {
    model.dispose();
  }
}
