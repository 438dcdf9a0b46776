// Unfold: recurrent neural networks on a WebAssembly SIMD core.
export { init, initSync, Tensor, UnfoldError } from "./engine/index.js";
export type { DType, NestedArray, TensorData } from "./engine/index.js";
