// Sequence-to-sequence tasks the project generates itself, from a seed: string pairs of
// different lengths, every source distinct, so a split into training and held-out pairs
// never tests on a string the model trained on.
import { UnfoldError } from "../engine/index.js";
import { Rng } from "./rng.js";
import type { Tokenizer } from "./tokenizers.js";

/** Parallel lists of source and target strings. */
export interface TextPairs {
  source: string[];
  target: string[];
}

export interface ReverseTaskOptions {
  /** Shortest source, in characters. Default 3. */
  minLength?: number;
  /** Longest source. Default 12. */
  maxLength?: number;
  /** The characters sources are drawn from. Default the 26 lowercase letters. */
  alphabet?: string;
  seed?: number;
}

export interface AdditionTaskOptions {
  /** Most digits of each operand. Default 3 (operands 0 … 999). */
  maxDigits?: number;
  seed?: number;
}

function whole(who: string, name: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new UnfoldError(`${who}: ${name} must be a whole number >= ${min}, got ${String(v)}`);
  return v;
}

/** Draws `n` pairs with distinct sources from `make`; throws when the space runs dry. */
function distinctPairs(who: string, n: number, make: () => [string, string], space: number): TextPairs {
  whole(who, "n", n, 1);
  if (n > space / 2) throw new UnfoldError(`${who}: ${n} distinct pairs are too many for a space of about ${Math.floor(space)} sources (keep n below half of it)`);
  const seen = new Set<string>();
  const out: TextPairs = { source: [], target: [] };
  while (out.source.length < n) {
    const [s, t] = make();
    if (seen.has(s)) continue;
    seen.add(s);
    out.source.push(s);
    out.target.push(t);
  }
  return out;
}

/**
 * Reversal: a random string of minLength … maxLength characters (lengths uniform), and the
 * same string backwards: "kqzea" → "aezqk". Every source is distinct.
 */
export function reverseTask(n: number, options: ReverseTaskOptions = {}): TextPairs {
  const who = "reverseTask";
  for (const key of Object.keys(options)) if (!["minLength", "maxLength", "alphabet", "seed"].includes(key)) throw new UnfoldError(`${who}: unknown option "${key}" (known: minLength, maxLength, alphabet, seed)`);
  const lo = whole(who, "minLength", options.minLength ?? 3, 1);
  const hi = whole(who, "maxLength", options.maxLength ?? 12, lo);
  const alphabet = Array.from(options.alphabet ?? "abcdefghijklmnopqrstuvwxyz");
  if (alphabet.length < 2 || new Set(alphabet).size !== alphabet.length) throw new UnfoldError(`${who}: alphabet must hold at least two distinct characters`);
  const rng = new Rng(options.seed ?? 0);
  let space = 0;
  for (let L = lo; L <= hi; L++) space += alphabet.length ** L;
  return distinctPairs(who, n, () => {
    const L = lo + rng.int(hi - lo + 1);
    const chars = Array.from({ length: L }, () => alphabet[rng.int(alphabet.length)]);
    return [chars.join(""), chars.reverse().join("")];
  }, space);
}

/**
 * Long sources: reversal of strings of 20 … 30 characters (by default) — where a decoder
 * that must get everything through one fixed-size context vector struggles and attention,
 * which looks up the source position it needs, does not.
 */
export function longSourceTask(n: number, options: ReverseTaskOptions = {}): TextPairs {
  return reverseTask(n, { minLength: 20, maxLength: 30, ...options });
}

/**
 * Addition written out: "372+58" → "430". Each operand has 1 … maxDigits digits (the digit
 * count uniform, then the value uniform among numbers of that many digits, so short operands
 * are as common as long ones); every source is distinct.
 */
export function additionTask(n: number, options: AdditionTaskOptions = {}): TextPairs {
  const who = "additionTask";
  for (const key of Object.keys(options)) if (!["maxDigits", "seed"].includes(key)) throw new UnfoldError(`${who}: unknown option "${key}" (known: maxDigits, seed)`);
  const digits = whole(who, "maxDigits", options.maxDigits ?? 3, 1);
  if (digits > 7) throw new UnfoldError(`${who}: maxDigits must be at most 7, got ${digits}`);
  const rng = new Rng(options.seed ?? 0);
  const operand = () => {
    const d = 1 + rng.int(digits);
    const lo = d === 1 ? 0 : 10 ** (d - 1);
    return lo + rng.int(10 ** d - lo);
  };
  return distinctPairs(who, n, () => {
    const a = operand(), b = operand();
    return [`${a}+${b}`, String(a + b)];
  }, 100 ** digits);
}

/**
 * String pairs as token ids, for Seq2Seq (no begin or end symbols: the model adds them).
 * The target side uses `targetTokenizer` (default: the same tokenizer).
 */
export function encodePairs(pairs: TextPairs, tokenizer: Tokenizer, targetTokenizer: Tokenizer = tokenizer): { source: number[][]; target: number[][] } {
  if (pairs.source.length !== pairs.target.length) throw new UnfoldError(`encodePairs: ${pairs.source.length} sources but ${pairs.target.length} targets`);
  return { source: pairs.source.map((s) => tokenizer.encode(s)), target: pairs.target.map((t) => targetTokenizer.encode(t)) };
}

/** Splits pairs into the first `n` and the rest (the generators' sources are distinct, so the parts share none). */
export function splitPairs(pairs: TextPairs, n: number): [TextPairs, TextPairs] {
  whole("splitPairs", "n", n, 0);
  if (n > pairs.source.length) throw new UnfoldError(`splitPairs: cannot take ${n} of ${pairs.source.length} pairs`);
  return [
    { source: pairs.source.slice(0, n), target: pairs.target.slice(0, n) },
    { source: pairs.source.slice(n), target: pairs.target.slice(n) },
  ];
}

// Text for language models: a small generated English, so examples and tests need no
// download. Sentences from a little grammar of a fable's world (who does what to whom,
// where and when) — enough structure for a character model to learn spelling, agreement of
// articles and punctuation, with a vocabulary of about a hundred words.
const SUBJECTS = ["the fox", "a little bird", "the old miller", "the king", "a young girl", "the baker", "the grey wolf", "the farmer", "a tired horse", "the queen", "an old woman", "the miller's son"];
const TRANSITIVE = ["sees", "follows", "helps", "loves", "finds", "calls", "watches", "meets", "thanks", "fears"];
const INTRANSITIVE = ["sleeps", "sings", "runs home", "waits by the door", "laughs", "walks to the village", "cries", "goes to market", "stays at home"];
const PLACES = ["in the morning", "at night", "near the mill", "under the old tree", "after the rain", "by the river", "in the forest", "on the hill", "before dinner"];
const LINKS = ["and then", "but", "so", "while"];

/**
 * `sentences` sentences of generated fable text, in paragraphs of four to seven sentences
 * separated by blank lines, from a seed: "In the morning, the fox sees a little bird by the
 * river. The king laughs, but the baker waits by the door."
 */
export function fableText(sentences: number, seed = 0): string {
  whole("fableText", "sentences", sentences, 1);
  const rng = new Rng(seed);
  const pick = (words: readonly string[]) => words[rng.int(words.length)];
  const clause = () => (rng.next() < 0.6 ? `${pick(SUBJECTS)} ${pick(TRANSITIVE)} ${pick(SUBJECTS)}` : `${pick(SUBJECTS)} ${pick(INTRANSITIVE)}`);
  const capital = (s: string) => s[0].toUpperCase() + s.slice(1);
  const paragraphs: string[] = [];
  let current: string[] = [];
  let size = 4 + rng.int(4);
  for (let i = 0; i < sentences; i++) {
    const r = rng.next();
    let s: string;
    if (r < 0.3) s = `${capital(pick(PLACES))}, ${clause()}.`;
    else if (r < 0.6) s = `${capital(clause())} ${pick(PLACES)}.`;
    else if (r < 0.85) s = `${capital(clause())}, ${pick(LINKS)} ${clause()}.`;
    else s = `${capital(clause())}.`;
    current.push(s);
    if (current.length === size) {
      paragraphs.push(current.join(" "));
      current = [];
      size = 4 + rng.int(4);
    }
  }
  if (current.length) paragraphs.push(current.join(" "));
  return paragraphs.join("\n\n") + "\n";
}
