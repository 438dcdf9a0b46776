// A character language model: an LSTM reads text one character at a time and learns to
// predict the next one; then it writes. Trained on a text file of your choice, or on a
// generated fable text (no download). Reports the held-out perplexity next to a unigram
// model's, and samples at a few temperatures.
//
//   npx tsx examples/char-lm.ts                      # generated text
//   npx tsx examples/char-lm.ts my.txt               # your text (the last 10% is held out)
//   npx tsx examples/char-lm.ts my.txt --save lm.unfold && unfold sample lm.unfold "The "
//
// Sizes and timings (2-core machine): see the README's section on sequence to sequence and generating text.
import { readFileSync, writeFileSync } from "node:fs";
import { init, Sequential, Embedding, LSTM, Dense, Adam, cosineDecay, fit, generate, perplexity, textWindows, CharTokenizer, fableText } from "../src/index.js";

await init();

const args = process.argv.slice(2);
const saveAt = args.indexOf("--save");
const savePath = saveAt >= 0 ? args[saveAt + 1] : undefined;
if (saveAt >= 0 && !savePath) throw new Error("--save needs a file name");
const file = args.find((a, i) => !a.startsWith("--") && i !== saveAt + 1);

const text = file ? readFileSync(file, "utf8") : fableText(6000, 1);
const cut = Math.floor(text.length * 0.9);
const trainText = text.slice(0, cut), heldOut = text.slice(cut);
const tok = CharTokenizer.fromText(trainText);
const ids = tok.encode(trainText);
console.log(`${file ?? "generated fable text"}: ${text.length.toLocaleString("en-US")} characters, ${tok.size - 4} distinct; ${heldOut.length.toLocaleString("en-US")} held out`);

const steps = 64, batchSize = 32, epochs = 6;
const { x, y } = textWindows(ids, steps, steps / 2);
const model = new Sequential([new Embedding({ vocab: tok.size, dim: 32 }), new LSTM({ units: 256 }), new Dense({ units: tok.size })], { loss: "softmaxCrossEntropy", seed: 1 });
const totalSteps = Math.ceil(x.shape[0] / batchSize) * epochs;
const optimizer = new Adam({ lr: cosineDecay({ lr: 3e-3, totalSteps, minLr: 3e-4 }), clipNorm: 1 });
const held = textWindows(tok.encode(heldOut), steps);
console.log(`model: Embedding(${tok.size}, 32) → LSTM(256) → Dense(${tok.size}), ${model.params.length.toLocaleString("en-US")} parameters; ${x.shape[0]} windows of ${steps} characters`);

const started = performance.now();
await fit(model, { x, y }, {
  epochs, batchSize, optimizer, validationData: held, metrics: ["perplexity"],
  onEpochEnd: (epoch, logs) => console.log(`epoch ${epoch + 1}/${epochs}: train perplexity ${logs.perplexity!.toFixed(3)}, held-out ${logs.valPerplexity!.toFixed(3)} (${logs.seconds!.toFixed(0)} s)`),
});
console.log(`trained in ${((performance.now() - started) / 1000).toFixed(0)} s`);

// A unigram model (each character with its training frequency) for scale.
const counts = new Map<number, number>();
for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
const heldIds = tok.encode(heldOut);
let nll = 0;
for (const id of heldIds) nll -= Math.log((counts.get(id) ?? 0.5) / ids.length);
console.log(`held-out perplexity ${perplexity(model, heldIds, { steps }).toFixed(3)} per character; a unigram model: ${Math.exp(nll / heldIds.length).toFixed(2)}`);

const prompt = file ? trainText.slice(0, 20) : "The ";
for (const [temperature, topP] of [[0.5, 1], [0.8, 0.95], [1.0, 1]] as const) {
  const out = tok.decode(generate(model, tok.encode(prompt), { steps: 400, temperature, topP, seed: 7 }));
  console.log(`\n--- temperature ${temperature}${topP < 1 ? `, top-p ${topP}` : ""} ---\n${prompt}${out}`);
}

if (savePath) {
  writeFileSync(savePath, model.save({ tokenizer: tok.toJSON(), prompt }));
  console.log(`\nmodel written to ${savePath} (try: unfold sample ${savePath} ${JSON.stringify(prompt)})`);
}
model.dispose();
optimizer.dispose();
