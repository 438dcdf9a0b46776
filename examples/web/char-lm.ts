// A character language model: the text's characters are its vocabulary; the model reads a
// window of characters and predicts, at every step, the next one (Embedding → LSTM → Dense
// logits, softmax cross-entropy averaged per character). Sampling feeds characters one at a
// time through model.step() and draws each next one from the softmax of the logits.
import { Dense, Embedding, LSTM, Loss, Rng, Sequential, Tensor } from "unfold";

export interface CharLMSettings {
  /** Hidden units of the LSTM. */
  units: number;
  /** Width of the character embedding. */
  embedding: number;
  seed: number;
}

/** The characters of a text, in code-point order; a character's id is its index. */
export class Vocabulary {
  readonly chars: string[];
  private readonly ids: Map<string, number>;

  /** A vocabulary of these characters, in this order (as a saved model lists them). */
  constructor(chars: readonly string[]) {
    this.chars = [...chars];
    this.ids = new Map(this.chars.map((c, i) => [c, i]));
  }

  /** The characters of `text`, sorted. */
  static of(text: string): Vocabulary {
    return new Vocabulary([...new Set(Array.from(text))].sort());
  }

  get size(): number {
    return this.chars.length;
  }

  has(c: string): boolean {
    return this.ids.has(c);
  }

  /** The ids of the text's characters (characters outside the vocabulary are skipped). */
  encode(text: string): Int32Array {
    return Int32Array.from(Array.from(text).filter((c) => this.ids.has(c)), (c) => this.ids.get(c)!);
  }
}

export function makeModel(vocab: Vocabulary, s: CharLMSettings): Sequential {
  return new Sequential([new Embedding({ vocab: vocab.size, dim: s.embedding }), new LSTM({ units: s.units }), new Dense({ units: vocab.size })], {
    loss: new Loss("softmaxCrossEntropy", { reduction: "mean" }),
    seed: s.seed,
  });
}

/** Overlapping windows of `steps` characters; each step's target is the character after it. */
export function textWindows(ids: Int32Array, steps: number, stride: number): { x: { data: Int32Array; shape: number[] }; y: { data: Int32Array; shape: number[] } } {
  const n = Math.max(0, Math.floor((ids.length - steps - 1) / stride) + 1);
  const x = new Int32Array(n * steps);
  const y = new Int32Array(n * steps);
  for (let i = 0; i < n; i++) {
    x.set(ids.subarray(i * stride, i * stride + steps), i * steps);
    y.set(ids.subarray(i * stride + 1, i * stride + steps + 1), i * steps);
  }
  return { x: { data: x, shape: [n, steps] }, y: { data: y, shape: [n, steps] } };
}

/** Draws an index from softmax(logits / temperature). */
function draw(logits: Float32Array, temperature: number, rng: Rng): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const p = Array.from(logits, (v) => Math.exp((v - max) / temperature));
  let u = rng.next() * p.reduce((a, b) => a + b, 0);
  for (let i = 0; i < p.length; i++) if ((u -= p[i]) < 0) return i;
  return p.length - 1;
}

/** `length` characters the model writes after reading `prime`. */
export function sample(model: Sequential, vocab: Vocabulary, prime: string, length: number, temperature: number, rng: Rng): string {
  const primeIds = vocab.encode(prime);
  const start = primeIds.length ? primeIds : Int32Array.of(rng.int(vocab.size));
  const x = new Tensor([1], "int32");
  let out = "";
  try {
    model.resetState();
    let logits: Float32Array = new Float32Array(0);
    const feed = (id: number) => {
      x.write([id], true);
      logits = model.step(x).y.toFloat32Array();
    };
    for (const id of start) feed(id);
    for (let i = 0; i < length; i++) {
      const id = draw(logits, temperature, rng);
      out += vocab.chars[id];
      feed(id);
    }
  } finally {
    x.dispose();
  }
  return out;
}
