// Dropout: inverted-dropout masks drawn in wasm, and the product-accumulate that carries a
// masked gradient back. Masks come from xoshiro128** (the generator of src/data/rng.ts, the
// same integer operations), seeded with four words the caller draws from the model's Rng,
// so a seed gives the same mask in every runtime.

// xoshiro128** state, set by each call from its seed words: the kernel holds nothing between calls.
let s0: u32 = 0, s1: u32 = 0, s2: u32 = 0, s3: u32 = 0;

@inline function nextU32(): u32 {
  const result = rotl<u32>(s1 * 5, 7) * 9;
  const t = s1 << 9;
  s2 ^= s0;
  s3 ^= s1;
  s1 ^= s2;
  s0 ^= s3;
  s2 ^= t;
  s3 = rotl<u32>(s3, 11);
  return result;
}

/**
 * mask[i] = 0 with probability `rate`, else 1 / (1 − rate): element i is kept when the i-th
 * 32-bit draw u satisfies u / 2³² >= rate (as Rng.next() < rate drops it). rate in [0, 1).
 * The seed words must not all be zero (xoshiro's one fixed point).
 */
export function f32_dropout_mask(
  mask: usize, // (n) out
  n: i32,
  rate: f64,
  seed0: u32,
  seed1: u32,
  seed2: u32,
  seed3: u32,
): void {
  s0 = seed0;
  s1 = seed1;
  s2 = seed2;
  s3 = seed3;
  const scale = <f32>(1.0 / (1.0 - rate));
  for (let i = 0; i < n; i++) {
    const u = <f64>nextU32() / 4294967296.0;
    store<f32>(mask + (<usize>i << 2), u < rate ? 0 : scale);
  }
}

/** y[i] += a[i] * b[i] (a product, then a sum: no fused multiply-add). */
export function f32_mul_acc(y: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(y + off, f32x4.add(v128.load(y + off), f32x4.mul(v128.load(a + off), v128.load(b + off))));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, load<f32>(y + off) + load<f32>(a + off) * load<f32>(b + off));
  }
}
export function f32_mul_acc_scalar(y: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, load<f32>(y + off) + load<f32>(a + off) * load<f32>(b + off));
  }
}
