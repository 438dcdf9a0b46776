export function f32_fill(y: usize, value: f32, n: i32): void { for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), value); }
