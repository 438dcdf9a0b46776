// Sequence to sequence with attention, on tasks the project generates: reversing strings of
// 3–12 letters, adding numbers of up to three digits written out ("372+58" → "430"), and
// reversing long strings (20–30 letters) with and without attention. An encoder
// (bidirectional GRU) reads the source, a GRU decoder writes the target, additive
// (Bahdanau) attention looks back at the source; every score is on held-out pairs.
//
//   npx tsx examples/seq2seq.ts              # all three tasks
//   npx tsx examples/seq2seq.ts reverse      # or one: reverse | addition | long
//
// Sizes and timings (2-core machine): see the README's section on sequence to sequence and generating text.
import {
  init, Seq2Seq, GRU, Bidirectional, Adam, cosineDecay, CharTokenizer, reverseTask, additionTask, longSourceTask, splitPairs, encodePairs,
  type TextPairs, type Seq2SeqAttentionOptions,
} from "../src/index.js";

await init();

interface Run {
  train: number;
  test: number;
  units: number;
  epochs: number;
  attention: Seq2SeqAttentionOptions | null;
}

/** Shades for a heat map of attention weights, from 0 to 1. */
const SHADES = " .:-=+*#%@";

function heatMap(source: string, output: string, rows: Float32Array[]): string[] {
  const lines = [`      ${[...source].join(" ")}`];
  rows.forEach((row, t) => {
    const label = t < output.length ? output[t] : "⏎";
    lines.push(`   ${label}  ${Array.from(row, (w) => SHADES[Math.min(SHADES.length - 1, Math.floor(w * SHADES.length))]).join(" ")}`);
  });
  return lines;
}

async function train(name: string, pairs: TextPairs, tok: CharTokenizer, run: Run): Promise<{ model: Seq2Seq; test: TextPairs }> {
  const [trainPairs, test] = splitPairs(pairs, run.train);
  const H = run.units;
  const model = new Seq2Seq({
    sourceVocab: tok.size, targetVocab: tok.size, embedding: 32, bos: tok.bos, eos: tok.eos, seed: 3,
    encoder: new Bidirectional(new GRU({ units: H / 2 })), decoder: new GRU({ units: H }),
    ...(run.attention ? { attention: run.attention } : {}),
  });
  const batchSize = 64;
  const totalSteps = Math.ceil(run.train / batchSize) * run.epochs;
  const optimizer = new Adam({ lr: cosineDecay({ lr: 5e-3, totalSteps, minLr: 2.5e-4 }), clipNorm: 1 });
  const testData = encodePairs({ source: test.source.slice(0, 1000), target: test.target.slice(0, 1000) }, tok);
  const started = performance.now();
  console.log(`${name}: ${run.train.toLocaleString("en-US")} training pairs, ${model.params.length.toLocaleString("en-US")} parameters, ${run.attention ? `${run.attention.score} attention` : "no attention"}`);
  await model.fit(encodePairs(trainPairs, tok), {
    optimizer, epochs: run.epochs, batchSize, validationData: testData, exactMatch: true,
    onEpochEnd: (epoch, logs) => console.log(`  epoch ${epoch + 1}/${run.epochs}: loss ${logs.loss.toFixed(3)}, held-out token accuracy ${(logs.valTokenAccuracy! * 100).toFixed(2)}%, exact match ${(logs.valExactMatch! * 100).toFixed(1)}% (${logs.seconds.toFixed(0)} s)`),
  });
  console.log(`  trained in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  optimizer.dispose();
  return { model, test };
}

function score(model: Seq2Seq, test: TextPairs, tok: CharTokenizer, beamWidth: number): void {
  const data = encodePairs(test, tok);
  const { exactMatch, tokenAccuracy } = model.evaluate(data, { exactMatch: true });
  console.log(`  held out (${test.source.length.toLocaleString("en-US")} pairs): exact match ${(exactMatch! * 100).toFixed(2)}% (greedy), token accuracy ${(tokenAccuracy * 100).toFixed(2)}%`);
  if (beamWidth > 1) {
    const n = Math.min(1000, test.source.length);
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const [best] = model.beamSearch(data.source[i], { width: beamWidth });
      if (best.finished && tok.decode(best.tokens) === test.target[i]) hits++;
    }
    console.log(`  beam search (width ${beamWidth}) on the first ${n}: exact match ${((hits / n) * 100).toFixed(2)}%`);
  }
}

function show(model: Seq2Seq, test: TextPairs, tok: CharTokenizer, count: number, heat: boolean): void {
  const sources = test.source.slice(0, count);
  const decoded = model.greedy(sources.map((s) => tok.encode(s)), { attention: heat && model.attention !== null });
  decoded.forEach((h, i) => {
    const out = tok.decode(h.tokens);
    console.log(`  ${sources[i].padEnd(14)} → ${out.padEnd(14)} ${out === test.target[i] ? "✓" : `✗ (want ${test.target[i]})`}`);
  });
  if (heat && decoded[0].attention) {
    console.log("  attention of the first (rows: output characters, columns: source characters):");
    for (const line of heatMap(sources[0], tok.decode(decoded[0].tokens), decoded[0].attention)) console.log(line);
  }
}

const asked = process.argv[2] ?? "all";
if (!["all", "reverse", "addition", "long"].includes(asked)) {
  console.error(`unknown task "${asked}": reverse | addition | long | all`);
  process.exit(2);
}
const letters = CharTokenizer.fromText("abcdefghijklmnopqrstuvwxyz");

if (asked === "all" || asked === "reverse") {
  const run: Run = { train: 60_000, test: 5_000, units: 128, epochs: 3, attention: { score: "additive" } };
  const { model, test } = await train("reverse 3–12 letters", reverseTask(run.train + run.test, { seed: 1 }), letters, run);
  score(model, test, letters, 4);
  show(model, test, letters, 5, true);
  model.dispose();
  console.log("");
}

if (asked === "all" || asked === "addition") {
  const digits = CharTokenizer.fromText("0123456789+");
  const run: Run = { train: 100_000, test: 5_000, units: 128, epochs: 4, attention: { score: "additive" } };
  const { model, test } = await train("addition up to 3 digits", additionTask(run.train + run.test, { seed: 1 }), digits, run);
  score(model, test, digits, 4);
  show(model, test, digits, 5, true);
  model.dispose();
  console.log("");
}

if (asked === "all" || asked === "long") {
  const pairs = longSourceTask(45_000, { seed: 1 });
  for (const attention of [{ score: "additive" as const }, null]) {
    const run: Run = { train: 40_000, test: 5_000, units: 128, epochs: 3, attention };
    const { model, test } = await train(`reverse 20–30 letters, ${attention ? "with" : "without"} attention`, pairs, letters, run);
    score(model, test, letters, 1);
    show(model, test, letters, 2, false);
    model.dispose();
  }
}
