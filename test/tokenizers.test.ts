// Tokenizers: vocabularies from text (special symbols at fixed ids, frequency order, size
// and count limits), encode/decode round trips, unknown tokens, JSON round trips, errors.
import { describe, expect, it } from "vitest";
import { CharTokenizer, SPECIAL_TOKENS, WordTokenizer, tokenizerFromJSON } from "../src/data/tokenizers.js";

describe("CharTokenizer", () => {
  it("has the special symbols first, then characters by frequency (ties in code order)", () => {
    const tok = CharTokenizer.fromText("abracadabra");
    expect(tok.tokens).toEqual([...SPECIAL_TOKENS, "a", "b", "r", "c", "d"]);
    expect([tok.pad, tok.unk, tok.bos, tok.eos]).toEqual([0, 1, 2, 3]);
    expect(tok.size).toBe(9);
  });

  it("encodes and decodes, with begin/end symbols and unknown characters", () => {
    const tok = CharTokenizer.fromText(["hello", "world"]);
    const ids = tok.encode("hello", { bos: true, eos: true });
    expect(ids[0]).toBe(tok.bos);
    expect(ids[ids.length - 1]).toBe(tok.eos);
    expect(tok.decode(ids)).toBe("hello");
    expect(tok.decode(ids, { special: true })).toBe("<bos>hello<eos>");
    expect(tok.encode("hex")).toEqual([tok.idOf("h"), tok.idOf("e"), tok.unk]);
    expect(tok.decode(tok.encode("hex"))).toBe("he<unk>");
    expect(tok.decode([tok.pad, tok.idOf("o"), tok.pad])).toBe("o");
  });

  it("treats a code point as one character", () => {
    const tok = CharTokenizer.fromText("día 🦊");
    expect(tok.encode("🦊").length).toBe(1);
    expect(tok.decode(tok.encode("día 🦊"))).toBe("día 🦊");
  });

  it("limits the vocabulary by size and by count", () => {
    expect(CharTokenizer.fromText("aaabbc", { maxSize: 2 }).tokens.slice(4)).toEqual(["a", "b"]);
    expect(CharTokenizer.fromText("aaabbc", { minCount: 2 }).tokens.slice(4)).toEqual(["a", "b"]);
  });

  it("goes through JSON and back", () => {
    const tok = CharTokenizer.fromText("the quick brown fox");
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back).toBeInstanceOf(CharTokenizer);
    expect(back.tokens).toEqual(tok.tokens);
    expect(back.encode("fox")).toEqual(tok.encode("fox"));
  });
});

describe("WordTokenizer", () => {
  const text = "The fox sees the dog. The dog doesn't see the fox! (Really?)";

  it("splits words, contractions and punctuation; joins them back", () => {
    const tok = WordTokenizer.fromText(text);
    expect(tok.split(text)).toEqual(["The", "fox", "sees", "the", "dog", ".", "The", "dog", "doesn't", "see", "the", "fox", "!", "(", "Really", "?", ")"]);
    expect(tok.decode(tok.encode(text))).toBe(text);
    // Two of each; ties in code-unit order (capitals first).
    expect(tok.tokens.slice(4, 8)).toEqual(["The", "dog", "fox", "the"]);
  });

  it("lowercases when asked, and maps unknown words to <unk>", () => {
    const tok = WordTokenizer.fromText(text, { lowercase: true });
    expect(tok.idOf("The")).toBe(tok.unk);
    expect(tok.encode("THE cat")).toEqual([tok.idOf("the"), tok.unk]);
    expect(tok.decode(tok.encode("the cat sees"))).toBe("the <unk> sees");
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back).toBeInstanceOf(WordTokenizer);
    expect((back as WordTokenizer).lowercase).toBe(true);
    expect(back.encode("THE fox")).toEqual(tok.encode("THE fox"));
  });

  it("names what is wrong", () => {
    expect(() => WordTokenizer.fromText(text, { maxSize: 0 })).toThrow(/maxSize must be a whole number >= 1/);
    expect(() => CharTokenizer.fromText("abc", { lowercase: true } as never)).toThrow(/unknown option "lowercase"/);
    expect(() => tokenizerFromJSON({ type: "char", tokens: ["a", "b"] })).toThrow(/token 0 must be the special symbol "<pad>"/);
    expect(() => tokenizerFromJSON({ type: "char", tokens: [...SPECIAL_TOKENS, "ab"] })).toThrow(/must be one character/);
    expect(() => tokenizerFromJSON({ type: "char", tokens: [...SPECIAL_TOKENS, "a", "a"] })).toThrow(/appears twice/);
    expect(() => tokenizerFromJSON({ type: "bpe", tokens: [...SPECIAL_TOKENS] } as never)).toThrow(/unknown type "bpe"/);
    const tok = CharTokenizer.fromText("ab");
    expect(() => tok.decode([99])).toThrow(/id 99 at 0 is outside the vocabulary \[0, 5\]/);
  });
});
