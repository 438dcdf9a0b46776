// The exports of Unfold's numeric core, and nothing else.
export * from "./memory";
export * from "./gemm";
export * from "./elementwise";
