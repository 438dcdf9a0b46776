// The `unfold` command: train a recurrent network on a synthetic task and show what it
// learned (`train`; the reverse and addition tasks train a seq2seq model with attention;
// `--text <file>` a character language model on the file),
// decode or write text with a saved model (`sample`), the same at sizes that finish in well
// under a minute (`demo`), and a pointer to the benchmarks (`bench`). Bad option values exit with code 2 and one line
// naming the option; failures while running exit with code 1.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError, Option, type CommanderError } from "commander";
import { UnfoldError } from "../index.js";
import { TASK_NAMES, TASKS } from "./tasks.js";
import { CELL_NAMES } from "./job.js";
import { runTrain, type TrainConfig } from "./train.js";
import { SEQ2SEQ_TASKS, SEQ2SEQ_TASK_NAMES, isSeq2SeqTask, runSample, runSeq2SeqTrain, type Seq2SeqTrainConfig } from "./seq2seq.js";
import { TEXT_DEFAULTS, runTextTrain, type TextTrainConfig } from "./text.js";

/**
 * The demo's job, measured on a 2-core machine shared with other work: 8 epochs of 10,000
 * sequences of 50 steps at 3 s each, 26 s in all; the loss leaves the 0.17 plateau in the
 * second epoch and the test MSE ends at 0.0002. `npm start`, build included: 56 s.
 */
const DEMO: TrainConfig = {
  task: "adding",
  steps: 50,
  units: 64,
  cell: "lstm",
  epochs: 8,
  batchSize: 32,
  lr: 0.01,
  clipNorm: 1,
  samples: 10000,
  testSamples: 1000,
  seed: 1,
  examples: 6,
};

/** Benchmarks in bench/ (TypeScript, run with tsx from a checkout; not in the package). */
const BENCHMARKS = ["gemm", "rnn", "seq2seq"];

function wholeNumber(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`Expected a whole number >= ${min}.`);
    return n;
  };
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("Expected a number > 0.");
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("Expected a number >= 0.");
  return n;
}

function probability(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !(n > 0 && n <= 1)) throw new InvalidArgumentError("Expected a number in (0, 1].");
  return n;
}

function readableFile(value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError("Expected a file name.");
  if (!existsSync(value)) throw new InvalidArgumentError(`The file ${value} does not exist.`);
  return value;
}

function writableFile(value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError("Expected a file name.");
  // Checked before training, so a long run is not lost to a typo in the directory.
  if (!existsSync(dirname(resolve(value)))) throw new InvalidArgumentError(`The directory ${dirname(resolve(value))} does not exist.`);
  return value;
}

/** The repository root when this runs from a checkout (bench/ exists there), else null. */
function checkoutRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 3; up++, dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return existsSync(join(dir, "bench", "index.ts")) ? dir : null;
  }
  return null;
}

function runBench(names: string[]): number {
  const root = checkoutRoot();
  if (!root) {
    console.error(`unfold bench: the benchmarks (${BENCHMARKS.join(", ")}) compare against TF.js and run from a checkout of the repository, not from the installed package: git clone the repository, npm install, then npm run bench -- <name>`);
    return 1;
  }
  // In a checkout, hand over to the project's own script, which validates the names.
  const result = spawnSync("npm", ["run", "--silent", "bench", "--", ...names], { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  if (result.error) {
    console.error(`unfold bench: could not run npm (${result.error.message}); from ${root}, run npm run bench -- ${names.join(" ") || "<name>"}`);
    return 1;
  }
  return result.status ?? 1;
}

const program = new Command("unfold")
  .description("Recurrent neural networks on a WebAssembly SIMD core: train one on a synthetic task and see what it learned.")
  // Usage errors (bad or missing option values, unknown options) exit with 2; --help with 0.
  .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command("train")
  .description("Train a recurrent model on a synthetic task, or a character language model on a text file (--text), then compare its held-out score with a baseline that learned nothing.")
  .addHelpText("after", `\nTasks:\n${[...TASK_NAMES.map((name) => `  ${name.padEnd(8)} ${TASKS[name].summary}`), ...SEQ2SEQ_TASK_NAMES.map((name) => `  ${name.padEnd(8)} ${SEQ2SEQ_TASKS[name].summary} (seq2seq with attention)`)].join("\n")}\n\nThe seq2seq tasks have their own defaults for --units, --cell, --epochs, --batch-size, --lr, --samples and --test-samples (the sizes that reach the bars in the test suite), take no --steps, and --save writes the model with its tokenizer for \`unfold sample\`.\n\nWith --text <file>, a character language model learns the file (its last tenth held out), with its own defaults: --steps ${TEXT_DEFAULTS.steps} (characters per window), --units ${TEXT_DEFAULTS.units}, --cell ${TEXT_DEFAULTS.cell}, --epochs ${TEXT_DEFAULTS.epochs}, --batch-size ${TEXT_DEFAULTS.batchSize}, --lr ${TEXT_DEFAULTS.lr}; --tbptt <k> trains each window in chunks of k steps, carrying the state; --examples is the number of samples written; --save writes the model with its tokenizer for \`unfold sample\`.\n\nExamples:\n  unfold train --task adding --steps 50 --units 64 --epochs 10 --save adding.ckpt\n  unfold train --task reverse --save reverse.unfold && unfold sample reverse.unfold hello\n  unfold train --text book.txt --steps 200 --tbptt 50 --save book.unfold && unfold sample book.unfold "The "`)
  .addOption(new Option("--task <name>", "the task to learn").choices([...TASK_NAMES, ...SEQ2SEQ_TASK_NAMES]).default("adding"))
  .addOption(new Option("--text <file>", "learn this text file instead: a character language model").argParser(readableFile).conflicts("task"))
  .addOption(new Option("--tbptt <k>", "--text: truncated BPTT, each window trained in chunks of k steps").argParser(wholeNumber(1)))
  .addOption(new Option("--steps <T>", "sequence length").argParser(wholeNumber(2)).default(DEMO.steps))
  .addOption(new Option("--units <H>", "hidden units of the recurrent layer").argParser(wholeNumber(1)).default(DEMO.units))
  .addOption(new Option("--cell <kind>", "recurrent cell").choices(CELL_NAMES).default(DEMO.cell))
  .addOption(new Option("--epochs <N>", "passes over the training data").argParser(wholeNumber(1)).default(DEMO.epochs))
  .addOption(new Option("--batch-size <B>", "sequences per batch").argParser(wholeNumber(1)).default(DEMO.batchSize))
  .addOption(new Option("--lr <X>", "Adam learning rate").argParser(positiveNumber).default(DEMO.lr))
  .addOption(new Option("--clip-norm <X>", "clip the global gradient norm to this").argParser(positiveNumber).default(DEMO.clipNorm))
  .addOption(new Option("--samples <N>", "training sequences").argParser(wholeNumber(1)).default(DEMO.samples))
  .addOption(new Option("--test-samples <N>", "held-out test sequences").argParser(wholeNumber(1)).default(DEMO.testSamples))
  .addOption(new Option("--seed <S>", "seed of the data, the weights and the shuffling").argParser(wholeNumber(0)).default(DEMO.seed))
  .addOption(new Option("--examples <N>", "test sequences to print at the end").argParser(wholeNumber(0)).default(DEMO.examples))
  .addOption(new Option("--save <file>", "write a checkpoint (weights, optimizer state, RNG) after training; seq2seq tasks: the model and its tokenizer").argParser(writableFile))
  .action(async (options: TrainConfig & { text?: string; tbptt?: number }, command: Command) => {
    const task: string = options.task;
    const given = (key: string) => command.getOptionValueSource(key) === "cli";
    if (options.text !== undefined) {
      for (const key of ["samples", "testSamples"]) if (given(key)) command.error(`error: option '--${key === "samples" ? "samples" : "test-samples"}' does not apply to --text (the text is the data)`, { exitCode: 2 });
      const config: TextTrainConfig = { text: options.text, clipNorm: options.clipNorm, seed: options.seed, examples: given("examples") ? options.examples : 3, save: options.save, ...TEXT_DEFAULTS };
      for (const key of Object.keys(TEXT_DEFAULTS)) if (given(key)) (config as unknown as Record<string, unknown>)[key] = (options as unknown as Record<string, unknown>)[key];
      if (options.tbptt !== undefined) config.tbptt = options.tbptt;
      return runTextTrain(config);
    }
    if (options.tbptt !== undefined) command.error("error: option '--tbptt <k>' applies to --text (a target at every step); the tasks are trained on whole sequences", { exitCode: 2 });
    if (!isSeq2SeqTask(task)) return runTrain(options);
    // Options left at the adding problem's defaults take the seq2seq task's own.
    if (given("steps")) command.error("error: option '--steps <T>' does not apply to seq2seq tasks (their lengths are part of the task)", { exitCode: 2 });
    const defaults = SEQ2SEQ_TASKS[task].defaults;
    const config: Seq2SeqTrainConfig = { task, clipNorm: options.clipNorm, seed: options.seed, examples: options.examples, save: options.save, ...defaults };
    for (const key of Object.keys(defaults)) if (given(key)) (config as unknown as Record<string, unknown>)[key] = (options as unknown as Record<string, unknown>)[key];
    await runSeq2SeqTrain(config);
  });

program
  .command("sample")
  .description("Decode sources with a seq2seq model saved by `unfold train --task reverse|addition --save`, or continue a prompt with a language model saved by `unfold train --text <file> --save` (or any saved with its tokenizer).")
  .argument("<model>", "the saved model file")
  .argument("[inputs...]", "seq2seq: the sources to decode; language model: the prompt")
  .addOption(new Option("--beam <W>", "seq2seq: beam search of this width (1: greedy)").argParser(wholeNumber(1)).default(1))
  .addOption(new Option("--temperature <X>", "draw tokens at this temperature instead (0: the most likely); language models default to 0.8").argParser(nonNegativeNumber))
  .addOption(new Option("--top-k <K>", "draw only among the K most likely tokens").argParser(wholeNumber(1)))
  .addOption(new Option("--top-p <P>", "draw only among the most likely tokens whose probabilities reach P (0 < P <= 1)").argParser(probability))
  .addOption(new Option("--seed <S>", "seed of the draws").argParser(wholeNumber(0)).default(0))
  .addOption(new Option("--length <N>", "most tokens to write (language model default 300)").argParser(wholeNumber(1)))
  .addOption(new Option("--attention", "seq2seq: print each output step's attention over the source").default(false))
  .action(async (file: string, inputs: string[], options: { beam: number; temperature?: number; topK?: number; topP?: number; seed: number; length?: number; attention: boolean }) => {
    if (!existsSync(file)) program.error(`error: model file ${file} does not exist`, { exitCode: 2 });
    await runSample(file, inputs, options);
  });

program
  .command("demo")
  .description(`Learn the adding problem (${DEMO.steps} steps, ${DEMO.cell.toUpperCase()} with ${DEMO.units} units) in well under a minute; what \`npm start\` runs.`)
  .action(async () => {
    console.log(`Unfold demo — the adding problem (Hochreiter & Schmidhuber, 1997).`);
    console.log(`Each sequence is ${DEMO.steps} random numbers in [0, 1), two of them marked; the target is the sum of the marked two.`);
    console.log("Predicting the mean sum every time scores an MSE of about 0.167; to beat it, the network must carry the marked numbers across the sequence.");
    console.log("");
    await runTrain(DEMO);
    console.log(`(unfold train --help shows how to change the task, the sizes and the cell.)`);
  });

program
  .command("bench")
  .description(`Run the benchmarks (${BENCHMARKS.join(", ")}); they need a checkout of the repository.`)
  .argument("[names...]", `benchmarks to run: ${BENCHMARKS.join(", ")} (default: all)`)
  .action((names: string[]) => {
    process.exitCode = runBench(names);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // The library's errors and the system's (a checkpoint that cannot be written) say what was
  // wrong in one line; anything else is a bug, and its stack goes into the report.
  const known = e instanceof UnfoldError || typeof (e as NodeJS.ErrnoException).code === "string";
  console.error(known ? `unfold: ${(e as Error).message}` : `unfold: internal error: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
}
