export { Engine, engine, init, initSync, checkInt } from "./engine.js";
export { Allocator, ALIGN } from "./allocator.js";
export { ParamStore, type ParamEntry } from "./params.js";
export { Workspace } from "./workspace.js";
export { Tensor, type DType, type NestedArray, type TensorData } from "./tensor.js";
export { UnfoldError, formatShape } from "./errors.js";
export type { WasmExports } from "./wasm-bytes.js";
