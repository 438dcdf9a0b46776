// Parsed JSON from a file is untrusted. JSON.parse itself is safe (keys like "__proto__" become
// plain own properties), but what is done with the result afterwards may not be: a recursive
// walk or a JSON.stringify of a value nested 100,000 deep overflows the stack, and an object
// whose "toString" is a number throws a TypeError when put into a message. `walkJson` checks
// a value for both before anything else looks at it.
import { UnfoldError } from "../engine/index.js";
import { brief } from "./safetensors.js";

/**
 * Walks `value` iteratively. Throws an UnfoldError (prefixed with `what`) for nesting deeper
 * than `maxDepth` and for object keys that name a built-in property of every object
 * (`__proto__`, `constructor`, `toString`, `valueOf`, …), which no Unfold or Keras option has.
 * `visit` sees every object entry and every array item (key null), with its depth.
 */
export function walkJson(value: unknown, what: string, maxDepth: number, visit?: (key: string | null, value: unknown) => void): void {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth >= maxDepth) throw new UnfoldError(`${what} is nested more than ${maxDepth} deep`);
    if (Array.isArray(v)) {
      for (const item of v) {
        visit?.(null, item);
        stack.push([item, depth + 1]);
      }
      continue;
    }
    for (const key of Object.keys(v)) {
      if (key in Object.prototype) throw new UnfoldError(`${what} holds a key ${brief(key)}, which no option has (it names a built-in property of every object)`);
      const item = (v as Record<string, unknown>)[key];
      visit?.(key, item);
      stack.push([item, depth + 1]);
    }
  }
}
