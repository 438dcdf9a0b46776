/**
 * The one error type Unfold throws for bad input or misuse. Its message names what was
 * wrong with the values the caller gave; the state of models and memory is unchanged.
 */
export class UnfoldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnfoldError";
  }
}

/** Formats a shape the way messages show it: `[T, B, 64]` style, with numbers. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
