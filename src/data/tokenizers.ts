// Tokenizers: a vocabulary built from text, mapping characters or words to token ids and
// back, with the four special symbols every sequence model needs. They are plain data
// (toJSON / tokenizerFromJSON), so a tokenizer can be saved next to the model it feeds.
import { UnfoldError } from "../engine/index.js";

/** The special symbols, always ids 0–3 in this order. */
export const SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"] as const;

export type TokenizerType = "char" | "word";

/** A tokenizer as plain JSON-able data. */
export interface TokenizerJSON {
  type: TokenizerType;
  /** Every token by id: the four special symbols, then the vocabulary. */
  tokens: string[];
  /** Words only: text is lowercased before it is split. */
  lowercase?: boolean;
}

export interface VocabularyOptions {
  /** Keep at most this many tokens besides the special symbols (the most frequent). Default: all. */
  maxSize?: number;
  /** Keep only tokens seen at least this often. Default 1. */
  minCount?: number;
}

export interface WordTokenizerOptions extends VocabularyOptions {
  /** Lowercase text before splitting it. Default false. */
  lowercase?: boolean;
}

export interface EncodeOptions {
  /** Start with the begin symbol. Default false. */
  bos?: boolean;
  /** End with the end symbol. Default false. */
  eos?: boolean;
}

export interface TokenDecodeOptions {
  /** Keep the special symbols (<pad>, <bos>, <eos>) in the text. Default false (<unk> is always shown). */
  special?: boolean;
}

/**
 * A vocabulary with the special symbols at fixed ids: `pad` 0 (fills the steps past a
 * sequence's end), `unk` 1 (anything not in the vocabulary), `bos` 2 and `eos` 3 (begin and
 * end of a sequence). Subclasses say how text splits into tokens and how tokens join back.
 */
export abstract class Tokenizer {
  abstract readonly type: TokenizerType;
  readonly pad = 0;
  readonly unk = 1;
  readonly bos = 2;
  readonly eos = 3;
  readonly tokens: readonly string[];
  private readonly ids: Map<string, number>;

  protected constructor(tokens: readonly string[]) {
    SPECIAL_TOKENS.forEach((s, i) => {
      if (tokens[i] !== s) throw new UnfoldError(`tokenizer: token ${i} must be the special symbol "${s}", got ${JSON.stringify(tokens[i])}`);
    });
    const ids = new Map<string, number>();
    tokens.forEach((t, i) => {
      if (typeof t !== "string" || t.length === 0) throw new UnfoldError(`tokenizer: token ${i} must be a non-empty string, got ${JSON.stringify(t)}`);
      if (ids.has(t)) throw new UnfoldError(`tokenizer: token ${JSON.stringify(t)} appears twice (ids ${ids.get(t)} and ${i})`);
      ids.set(t, i);
    });
    this.tokens = Object.freeze([...tokens]);
    this.ids = ids;
  }

  /** Number of token ids, special symbols included (the `vocab` of an Embedding, the units of the output layer). */
  get size(): number {
    return this.tokens.length;
  }

  /** The tokens of a text, before they become ids. */
  abstract split(text: string): string[];
  /** Text from tokens (the inverse of split, up to whitespace for words). */
  abstract join(tokens: readonly string[]): string;

  /** The id of one token (`unk` if it is not in the vocabulary). */
  idOf(token: string): number {
    return this.ids.get(token) ?? this.unk;
  }

  /** Text → token ids; unknown tokens become `unk`. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new UnfoldError(`tokenizer: encode takes a string, got ${typeof text}`);
    const ids = this.split(text).map((t) => this.idOf(t));
    if (options.bos) ids.unshift(this.bos);
    if (options.eos) ids.push(this.eos);
    return ids;
  }

  /** Token ids → text. Special symbols are dropped unless `special`; ids outside the vocabulary throw. */
  decode(ids: ArrayLike<number>, options: TokenDecodeOptions = {}): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.tokens.length) throw new UnfoldError(`tokenizer: id ${id} at ${i} is outside the vocabulary [0, ${this.tokens.length - 1}]`);
      if (!options.special && id !== this.unk && id < SPECIAL_TOKENS.length) continue;
      out.push(this.tokens[id]);
    }
    return this.join(out);
  }

  toJSON(): TokenizerJSON {
    return { type: this.type, tokens: [...this.tokens] };
  }
}

/** Counts tokens and keeps the vocabulary: most frequent first, ties in code-unit order. */
function buildVocabulary(who: string, counts: Map<string, number>, options: VocabularyOptions): string[] {
  const known = who === "WordTokenizer" ? ["maxSize", "minCount", "lowercase"] : ["maxSize", "minCount"];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new UnfoldError(`${who}: unknown option "${key}" (known: ${known.join(", ")})`);
  }
  const maxSize = options.maxSize ?? Infinity;
  const minCount = options.minCount ?? 1;
  if (maxSize !== Infinity && (!Number.isInteger(maxSize) || maxSize < 1)) throw new UnfoldError(`${who}: maxSize must be a whole number >= 1, got ${String(options.maxSize)}`);
  if (!Number.isInteger(minCount) || minCount < 1) throw new UnfoldError(`${who}: minCount must be a whole number >= 1, got ${String(options.minCount)}`);
  const specials = new Set<string>(SPECIAL_TOKENS);
  const kept = [...counts.entries()]
    .filter(([t, c]) => c >= minCount && !specials.has(t))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, maxSize)
    .map(([t]) => t);
  return [...SPECIAL_TOKENS, ...kept];
}

function texts(who: string, text: string | readonly string[]): readonly string[] {
  const all = typeof text === "string" ? [text] : text;
  if (!Array.isArray(all) || all.some((t) => typeof t !== "string")) throw new UnfoldError(`${who}.fromText takes a string or an array of strings`);
  return all;
}

/** One token per character (per Unicode code point, so an emoji is one token). */
export class CharTokenizer extends Tokenizer {
  readonly type = "char" as const;

  constructor(tokens: readonly string[]) {
    super(tokens);
    tokens.forEach((t, i) => {
      if (i >= SPECIAL_TOKENS.length && Array.from(t).length !== 1) throw new UnfoldError(`CharTokenizer: token ${i} must be one character, got ${JSON.stringify(t)}`);
    });
  }

  /** The vocabulary of the characters of `text` (a string or many). */
  static fromText(text: string | readonly string[], options: VocabularyOptions = {}): CharTokenizer {
    const counts = new Map<string, number>();
    for (const t of texts("CharTokenizer", text)) for (const ch of t) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    return new CharTokenizer(buildVocabulary("CharTokenizer", counts, options));
  }

  split(text: string): string[] {
    return Array.from(text);
  }

  join(tokens: readonly string[]): string {
    return tokens.join("");
  }
}

// A word: letters, digits, underscores and inner apostrophes ("don't"); every other
// non-space character is a token of its own (punctuation).
const WORD = /[\p{L}\p{N}_]+(?:'[\p{L}\p{N}_]+)*|[^\s]/gu;
const NO_SPACE_BEFORE = /^[.,!?;:)\]}%'"»]$/u;
const NO_SPACE_AFTER = /^[([{«$]$/u;

/** One token per word or punctuation mark; decoding joins them with single spaces. */
export class WordTokenizer extends Tokenizer {
  readonly type = "word" as const;
  readonly lowercase: boolean;

  constructor(tokens: readonly string[], lowercase = false) {
    super(tokens);
    if (typeof lowercase !== "boolean") throw new UnfoldError(`WordTokenizer: lowercase must be true or false, got ${String(lowercase)}`);
    this.lowercase = lowercase;
  }

  /** The vocabulary of the words of `text` (a string or many). */
  static fromText(text: string | readonly string[], options: WordTokenizerOptions = {}): WordTokenizer {
    const lowercase = options.lowercase ?? false;
    const probe = new WordTokenizer([...SPECIAL_TOKENS], lowercase);
    const counts = new Map<string, number>();
    for (const t of texts("WordTokenizer", text)) for (const w of probe.split(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
    return new WordTokenizer(buildVocabulary("WordTokenizer", counts, options), lowercase);
  }

  split(text: string): string[] {
    return (this.lowercase ? text.toLowerCase() : text).match(WORD) ?? [];
  }

  join(tokens: readonly string[]): string {
    let out = "";
    tokens.forEach((t, i) => {
      if (i > 0 && !NO_SPACE_BEFORE.test(t) && !NO_SPACE_AFTER.test(tokens[i - 1])) out += " ";
      out += t;
    });
    return out;
  }

  override toJSON(): TokenizerJSON {
    return { type: "word", tokens: [...this.tokens], lowercase: this.lowercase };
  }
}

/** A tokenizer from its JSON (what `toJSON` gave, possibly through JSON.stringify/parse). */
export function tokenizerFromJSON(json: TokenizerJSON): Tokenizer {
  if (!json || typeof json !== "object" || !Array.isArray(json.tokens)) throw new UnfoldError("tokenizerFromJSON: expected { type, tokens: [...] }");
  if (json.type === "char") return new CharTokenizer(json.tokens);
  if (json.type === "word") return new WordTokenizer(json.tokens, json.lowercase ?? false);
  throw new UnfoldError(`tokenizerFromJSON: unknown type ${JSON.stringify((json as { type?: unknown }).type)} (known: "char", "word")`);
}
