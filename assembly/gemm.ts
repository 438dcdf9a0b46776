export function f32_gemm_placeholder(): void {}
