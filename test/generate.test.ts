// Generation: the token sampler (temperature, top-k, top-p; frequencies match the
// probabilities it keeps; seeded), generate() on a Sequential language model (seed tokens,
// stop symbol, determinism, errors), and a character LM trained on generated text that
// then writes plausible text, with its held-out perplexity far below a unigram model's.
import { describe, expect, it } from "vitest";
import { Tensor, initSync } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { fableText } from "../src/data/seq2seq-tasks.js";
import { CharTokenizer } from "../src/data/tokenizers.js";
import { Dense } from "../src/layers/dense.js";
import { Embedding } from "../src/layers/embedding.js";
import { GRU } from "../src/layers/gru.js";
import { LSTM } from "../src/layers/lstm.js";
import { TokenSampler, generate, perplexity, sampleFromProbabilities, textWindows } from "../src/models/generate.js";
import { Sequential } from "../src/models/sequential.js";
import { fit } from "../src/train/fit.js";
import { Adam } from "../src/train/optimizers.js";

initSync();

describe("sampling a token", () => {
  const p = Float32Array.from([0.05, 0.4, 0.1, 0.3, 0.15]);

  function frequencies(topK: number, topP: number, draws = 20000): number[] {
    const rng = new Rng(3);
    const counts = new Array(p.length).fill(0);
    for (let i = 0; i < draws; i++) counts[sampleFromProbabilities(p, topK, topP, rng)]++;
    return counts.map((c) => c / draws);
  }

  it("draws with the model's probabilities when nothing is cut", () => {
    frequencies(0, 1).forEach((f, i) => expect(Math.abs(f - p[i])).toBeLessThan(0.012));
  });

  it("top-k keeps the k most likely, renormalised", () => {
    const f = frequencies(2, 1);
    expect(f[0] + f[2] + f[4]).toBe(0);
    expect(Math.abs(f[1] - 0.4 / 0.7)).toBeLessThan(0.012);
    expect(frequencies(1, 1)[1]).toBe(1);
  });

  it("top-p keeps the smallest most likely set reaching p", () => {
    // 0.4 + 0.3 = 0.7 >= 0.65: tokens 1 and 3.
    const f = frequencies(0, 0.65);
    expect(f[0] + f[2] + f[4]).toBe(0);
    expect(Math.abs(f[3] - 0.3 / 0.7)).toBeLessThan(0.012);
    // 0.7 < 0.8: the third most likely (0.15) joins.
    const g = frequencies(0, 0.8);
    expect(g[0] + g[2]).toBe(0);
    expect(g[4]).toBeGreaterThan(0.1);
    // Both cuts: top-k first.
    expect(frequencies(3, 0.5).filter((v) => v > 0).length).toBe(2);
  });

  it("TokenSampler: the softmax in wasm, temperature 0 is argmax, a seed fixes the draws", () => {
    const logits = Tensor.fromArray([0.1, 2, -1, 1.5, 0.3], [5]);
    expect(new TokenSampler(5, { temperature: 0 }, new Rng(1)).pick(logits.ptr)).toBe(1);
    const draw = (seed: number, temperature: number) => {
      const s = new TokenSampler(5, { temperature }, new Rng(seed));
      const out = Array.from({ length: 50 }, () => s.pick(logits.ptr));
      s.dispose();
      return out;
    };
    expect(draw(4, 1)).toEqual(draw(4, 1));
    expect(draw(4, 1)).not.toEqual(draw(5, 1));
    // A low temperature concentrates on the most likely token.
    expect(draw(4, 0.05).every((t) => t === 1)).toBe(true);
    expect(new Set(draw(4, 5)).size).toBeGreaterThan(3);
    logits.dispose();
  });
});

describe("generate() from a language model", () => {
  const V = 6;
  const lm = () => new Sequential([new Embedding({ vocab: V, dim: 4 }), new GRU({ units: 8 }), new Dense({ units: V })], { loss: "softmaxCrossEntropy", seed: 2 });

  it("continues the seed, seeded, and stops at the stop token (not returned)", () => {
    const m = lm();
    const a = generate(m, [0, 1], { steps: 30, seed: 9, temperature: 2 });
    expect(a.length).toBe(30);
    expect(generate(m, [0, 1], { steps: 30, seed: 9, temperature: 2 })).toEqual(a);
    const stop = a[5];
    const cut = generate(m, [0, 1], { steps: 30, seed: 9, temperature: 2, stop });
    expect(cut).toEqual(a.slice(0, a.indexOf(stop)));
    // Temperature 0: the most likely token each step, as a forward pass over the text says.
    const greedy = generate(m, [3], { steps: 5, temperature: 0 });
    const ids = Tensor.fromArray([3, ...greedy.slice(0, 4)], [5, 1], "int32");
    const y = m.forward(ids).toFloat32Array();
    for (let t = 0; t < 5; t++) {
      const row = y.subarray(t * V, (t + 1) * V);
      expect(greedy[t]).toBe(row.indexOf(Math.max(...row)));
    }
    ids.dispose();
    m.dispose();
  });

  it("names what is wrong", () => {
    const m = lm();
    expect(() => generate(m, [], { steps: 3 })).toThrow(/at least one seed token/);
    expect(() => generate(m, [7], { steps: 3 })).toThrow(/seed token 0 is 7, outside the vocabulary \[0, 5\]/);
    expect(() => generate(m, [1], { steps: 0 })).toThrow(/steps must be a whole number >= 1/);
    expect(() => generate(m, [1], { steps: 3, topK: 0 })).toThrow(/topK must be a whole number >= 1/);
    expect(() => generate(m, [1], { steps: 3, temprature: 1 } as never)).toThrow(/unknown option "temprature"/);
    const wide = new Sequential([new Embedding({ vocab: V, dim: 4 }), new GRU({ units: 8 }), new Dense({ units: V + 1 })], { seed: 1 });
    expect(() => generate(wide, [1], { steps: 3 })).toThrow(/outputs 7 values per step, but its vocabulary has 6 tokens/);
    m.dispose();
    wide.dispose();
  });

  it("a character LM trained on generated text writes plausible text; held-out perplexity far below a unigram model's", async () => {
    const text = fableText(1400, 1);
    const heldOut = fableText(150, 2);
    const tok = CharTokenizer.fromText(text);
    const ids = tok.encode(text);
    const model = new Sequential([new Embedding({ vocab: tok.size, dim: 16 }), new LSTM({ units: 128 }), new Dense({ units: tok.size })], { loss: "softmaxCrossEntropy", seed: 4 });
    const optimizer = new Adam({ lr: 5e-3, clipNorm: 1 });
    const { x, y } = textWindows(ids, 48, 24);
    await fit(model, { x, y }, { epochs: 3, batchSize: 32, optimizer });
    const test = tok.encode(heldOut);
    const ppl = perplexity(model, test, { steps: 48 });
    // A unigram model's perplexity: exp of the entropy of the character frequencies.
    const counts = new Map<number, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    let entropy = 0;
    for (const c of counts.values()) entropy -= (c / ids.length) * Math.log(c / ids.length);
    const unigram = Math.exp(entropy);
    expect(unigram).toBeGreaterThan(12);
    expect(ppl).toBeLessThan(2.5);

    // Generated text: mostly words of the corpus, sentences that start with a capital.
    const words = new Set(text.toLowerCase().match(/[a-z']+/g));
    const sample = tok.decode(generate(model, tok.encode("The "), { steps: 600, seed: 1, temperature: 0.7 }));
    const generated = ("the " + sample).toLowerCase().match(/[a-z']+/g)!;
    const known = generated.filter((w) => words.has(w)).length / generated.length;
    expect(generated.length).toBeGreaterThan(60);
    expect(known).toBeGreaterThan(0.9);
    const sentences = sample.split(/[.]\s+/).slice(1, -1);
    expect(sentences.length).toBeGreaterThan(5);
    expect(sentences.filter((s) => /^[A-Z]/.test(s)).length / sentences.length).toBeGreaterThan(0.9);
    model.dispose();
    optimizer.dispose();
  });
});
