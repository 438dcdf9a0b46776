// The exports of Unfold's numeric core, and nothing else.
export * from "./memory";
export * from "./gemm";
export * from "./elementwise";
export * from "./lstm";
export * from "./gru";
export * from "./elman";
export * from "./loss";
export * from "./optim";
export * from "./embedding";
export * from "./pooling";
export * from "./sequence";
export * from "./dropout";
export * from "./reservoir";
export * from "./attention";
export * from "./tree";
export * from "./ntm";
export * from "./linalg";
