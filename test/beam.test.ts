// Beam search: width 1 is greedy decoding; on a tiny hand-built model whose best output is
// known, beam search finds it and greedy does not; with a beam wide enough to keep every
// candidate it finds the exact optimum of a random model (checked by enumerating all
// outputs); scores, n-best order and length normalisation.
import { describe, expect, it } from "vitest";
import { initSync } from "../src/engine/index.js";
import { Bidirectional } from "../src/layers/bidirectional.js";
import { Elman } from "../src/layers/elman.js";
import { GRU } from "../src/layers/gru.js";
import { LSTM } from "../src/layers/lstm.js";
import { Seq2Seq } from "../src/models/seq2seq.js";

initSync();

const BOS = 0, EOS = 1, A = 2, B = 3;

/**
 * A decoder whose next-token distribution depends only on the previous token, by a table:
 * embedding = identity, h_t = tanh(10·onehot(prev)) = onehot(prev) (tanh saturates to
 * exactly 1), no recurrence, logits = log P[prev]. So P(sequence) is a product of table
 * entries. After bos: A 0.5, B 0.4, eos 0.1; after A: eos 0.4, A 0.3, B 0.3; after B: eos
 * 0.9, A 0.05, B 0.05. Greedy takes A (0.5) then eos: p = 0.2. The best output is B, eos:
 * p = 0.36.
 */
function tableModel(): Seq2Seq {
  const m = new Seq2Seq({ sourceVocab: 3, targetVocab: 4, embedding: 4, encoder: new Elman({ units: 4 }), decoder: new Elman({ units: 4 }), bos: BOS, eos: EOS, seed: 1 });
  const tiny = 1e-9;
  // P[prev][next], next in the order bos, eos, A, B.
  const P: number[][] = [];
  P[BOS] = [tiny, 0.1, 0.5, 0.4];
  P[EOS] = [tiny, 0.4, 0.3, 0.3];
  P[A] = [tiny, 0.4, 0.3, 0.3];
  P[B] = [tiny, 0.9, 0.05, 0.05];
  const eye = (scale: number) => Float32Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? scale : 0));
  const out = new Float32Array(16);
  for (let prev = 0; prev < 4; prev++) for (let next = 0; next < 4; next++) out[next * 4 + prev] = Math.log(P[prev][next]);
  m.setWeights({
    "target_embedding.weight": eye(1),
    "decoder.weight_ih": eye(10),
    "decoder.weight_hh": new Float32Array(16),
    "decoder.bias_ih": new Float32Array(4),
    "decoder.bias_hh": new Float32Array(4),
    "output.weight": out,
    "output.bias": new Float32Array(4),
  });
  return m;
}

/** Every output of up to `maxLength` tokens (any non-end token), as token lists. */
function allOutputs(tokens: number[], maxLength: number): number[][] {
  const out: number[][] = [[]];
  let frontier: number[][] = [[]];
  for (let L = 1; L <= maxLength; L++) {
    frontier = frontier.flatMap((s) => tokens.map((t) => [...s, t]));
    out.push(...frontier);
  }
  return out;
}

describe("beam search", () => {
  it("finds the known best sequence of a hand-built model where greedy does not", () => {
    const m = tableModel();
    const source = [1, 2];
    const greedy = m.greedy([source])[0];
    expect(greedy.tokens).toEqual([A]);
    expect(Math.exp(greedy.logProb)).toBeCloseTo(0.2, 5);
    for (const lengthNormalization of [0, 1]) {
      const [best] = m.beamSearch(source, { width: 2, lengthNormalization });
      expect(best.tokens).toEqual([B]);
      expect(best.finished).toBe(true);
      expect(Math.exp(best.logProb)).toBeCloseTo(0.36, 5);
    }
    // The brute-force optimum over every output of up to 4 tokens agrees.
    const candidates = allOutputs([BOS, A, B], 4);
    const lp = m.logProbability({ source: candidates.map(() => source), target: candidates });
    const bestIndex = lp.indexOf(Math.max(...lp));
    expect(candidates[bestIndex]).toEqual([B]);
    m.dispose();
  });

  it("returns the n best, ranked, with their log-probabilities and normalised scores", () => {
    const m = tableModel();
    const hyps = m.beamSearch([1], { width: 4, nBest: 4, lengthNormalization: 0 });
    expect(hyps.map((h) => h.tokens)).toEqual([[B], [A], [A, B], []]);
    expect(hyps.map((h) => Math.exp(h.logProb))).toEqual([0.36, 0.2, 0.135, 0.1].map((p) => expect.closeTo(p, 5)));
    for (const h of hyps) expect(h.score).toBe(h.logProb);
    const lp = m.logProbability({ source: hyps.map(() => [1]), target: hyps.map((h) => h.tokens) });
    hyps.forEach((h, i) => expect(h.logProb).toBeCloseTo(lp[i], 5));
    // α = 1: ranked by the mean log-probability per token (the end symbol counts).
    const norm = m.beamSearch([1], { width: 4, nBest: 4, lengthNormalization: 1 });
    for (const h of norm) expect(h.score).toBeCloseTo(h.logProb / (h.tokens.length + 1), 10);
    for (let i = 1; i < norm.length; i++) expect(norm[i].score).toBeLessThanOrEqual(norm[i - 1].score);
    m.dispose();
  });

  it("stops at maxLength and reports the live hypotheses as unfinished", () => {
    const m = tableModel();
    const hyps = m.beamSearch([1], { width: 2, nBest: 2, maxLength: 1, lengthNormalization: 0 });
    expect(hyps.map((h) => [h.tokens, h.finished])).toEqual([[[A], false], [[B], false]]);
    expect(m.greedy([[1]], { maxLength: 1 })[0]).toMatchObject({ tokens: [A], finished: false });
    m.dispose();
  });

  const randomModels: [string, () => Seq2Seq][] = [
    ["GRU, no attention", () => new Seq2Seq({ sourceVocab: 6, targetVocab: 5, embedding: 4, encoder: new GRU({ units: 6 }), decoder: new GRU({ units: 6 }), bos: 0, eos: 1, seed: 11 })],
    ["bidirectional LSTM, general attention, reversed source", () => new Seq2Seq({ sourceVocab: 6, targetVocab: 5, embedding: 4, encoder: new Bidirectional(new LSTM({ units: 3 })), decoder: new LSTM({ units: 5, layers: 2 }), attention: { score: "general" }, reverseSource: true, bos: 0, eos: 1, seed: 12 })],
    ["additive attention, input context", () => new Seq2Seq({ sourceVocab: 6, targetVocab: 5, embedding: 4, encoder: new GRU({ units: 4 }), decoder: new Elman({ units: 5 }), attention: { score: "additive" }, context: "both", bos: 0, eos: 1, seed: 13 })],
  ];

  for (const [name, make] of randomModels) {
    it(`width 1 is greedy decoding (${name})`, () => {
      const m = make();
      const sources = [[1], [2, 3, 4], [5, 5, 0, 1, 2, 3], [0, 1]];
      const attention = m.attention !== null;
      for (const source of sources) {
        const g = m.greedy([source], { maxLength: 7, attention })[0];
        for (const lengthNormalization of [0, 1]) {
          const [b] = m.beamSearch(source, { width: 1, maxLength: 7, lengthNormalization, attention });
          expect(b.tokens).toEqual(g.tokens);
          expect(b.finished).toBe(g.finished);
          expect(b.logProb).toBe(g.logProb);
          expect(b.attention).toEqual(g.attention);
        }
      }
      m.dispose();
    });

    it(`a beam that keeps every candidate finds the exact optimum (${name})`, () => {
      const m = make();
      const source = [3, 1, 4];
      const maxLength = 3;
      const [best] = m.beamSearch(source, { width: 40, maxLength, lengthNormalization: 0 });
      const candidates = allOutputs([0, 2, 3, 4], maxLength);
      const lp = m.logProbability({ source: candidates.map(() => source), target: candidates });
      const i = lp.indexOf(Math.max(...lp));
      expect(best.tokens).toEqual(candidates[i]);
      expect(best.logProb).toBeCloseTo(lp[i], 4);
      m.dispose();
    });
  }
});
