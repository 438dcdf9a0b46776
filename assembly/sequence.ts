// Bookkeeping kernels over time-major sequences [T, B, W]: variable-length batches (a sample
// past its length carries its state, outputs zero, passes gradients through), time reversal
// for the backward direction of a bidirectional layer, and column blocks for concatenating
// features. They move and add data only; the arithmetic of the cells is elsewhere.
//
// `lengths` points at B int32 values, each in [1, T] (the TypeScript side validated them),
// or is 0, meaning every sample has all T steps. A sample b has ENDED at step t when
// lengths[b] <= t. Row (t, b) of a [T, B, W] tensor starts at element (t·B + b)·W.
import { f32_add, f32_copy, f32_fill } from "./elementwise";

@inline function lengthOf(lengths: usize, b: i32, steps: i32): i32 {
  return lengths ? load<i32>(lengths + (<usize>b << 2)) : steps;
}

/** dst[b] = src[b] for every sample that has ended by `step`; other rows are left alone. */
export function f32_ended_rows_copy(
  dst: usize, // (B, W)
  src: usize, // (B, W)
  lengths: usize, // (B) int32
  step: i32,
  batch: i32,
  width: i32,
): void {
  const row = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    if (load<i32>(lengths + (<usize>b << 2)) <= step) f32_copy(dst + <usize>b * row, src + <usize>b * row, width);
  }
}

/** dst[b] = value for every sample that has ended by `step`. */
export function f32_ended_rows_fill(
  dst: usize, // (B, W)
  lengths: usize, // (B) int32
  step: i32,
  value: f32,
  batch: i32,
  width: i32,
): void {
  const row = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    if (load<i32>(lengths + (<usize>b << 2)) <= step) f32_fill(dst + <usize>b * row, value, width);
  }
}

/** y[t, b] = 0 for every t >= lengths[b]: the outputs past each sample's end. */
export function f32_mask_steps(
  y: usize, // (T, B, W)
  lengths: usize, // (B) int32, or 0 (then nothing to do)
  steps: i32,
  batch: i32,
  width: i32,
): void {
  if (!lengths) return;
  const row = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    for (let t = load<i32>(lengths + (<usize>b << 2)); t < steps; t++) f32_fill(y + (<usize>t * batch + b) * row, 0, width);
  }
}

/**
 * Reverses each sample's real steps in time: y[t, b] = x[L − 1 − t, b] for t < L = lengths[b],
 * and y[t, b] = x[t, b] past L. So the reverse pass of a bidirectional layer starts at each
 * sample's own last step; applied twice it gives x back. y and x must not overlap.
 */
export function f32_reverse_steps(
  y: usize, // (T, B, W)
  x: usize, // (T, B, W)
  lengths: usize, // (B) int32, or 0 for all T
  steps: i32,
  batch: i32,
  width: i32,
): void {
  const row = <usize>width << 2;
  if (!lengths) {
    const block = batch * width;
    for (let t = 0; t < steps; t++) f32_copy(y + <usize>t * batch * row, x + <usize>(steps - 1 - t) * batch * row, block);
    return;
  }
  for (let b = 0; b < batch; b++) {
    const L = lengthOf(lengths, b, steps);
    for (let t = 0; t < steps; t++) {
      const src = t < L ? L - 1 - t : t;
      f32_copy(y + (<usize>t * batch + b) * row, x + (<usize>src * batch + b) * row, width);
    }
  }
}

/**
 * A block of columns: y[r, 0..cols) = x[r, 0..cols) (accumulate == 0) or += (accumulate != 0),
 * for rows r < rows, with row strides ldy and ldx (elements). Concatenates features into a
 * wider tensor (y offset to the block's first column) and splits gradients back out of one.
 */
export function f32_copy_cols(
  y: usize, // (rows, ldy)
  ldy: i32,
  x: usize, // (rows, ldx)
  ldx: i32,
  rows: i32,
  cols: i32,
  accumulate: i32,
): void {
  const sy = <usize>ldy << 2, sx = <usize>ldx << 2;
  for (let r = 0; r < rows; r++) {
    const yr = y + <usize>r * sy, xr = x + <usize>r * sx;
    if (accumulate) f32_add(yr, yr, xr, cols);
    else f32_copy(yr, xr, cols);
  }
}

/** y[b] = x[lengths[b] − 1, b] (x[T − 1, b] when lengths == 0): each sample's last real step. */
export function f32_gather_last_steps(
  y: usize, // (B, W)
  x: usize, // (T, B, W)
  lengths: usize, // (B) int32, or 0 for all T
  steps: i32,
  batch: i32,
  width: i32,
): void {
  const row = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    const t = lengthOf(lengths, b, steps) - 1;
    f32_copy(y + <usize>b * row, x + (<usize>t * batch + b) * row, width);
  }
}

/** dx[lengths[b] − 1, b] += dy[b]: the gradient of f32_gather_last_steps, accumulated. */
export function f32_scatter_last_steps(
  dx: usize, // (T, B, W) accumulated (+=)
  dy: usize, // (B, W)
  lengths: usize, // (B) int32, or 0 for all T
  steps: i32,
  batch: i32,
  width: i32,
): void {
  const row = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    const t = lengthOf(lengths, b, steps) - 1;
    const d = dx + (<usize>t * batch + b) * row;
    f32_add(d, d, dy + <usize>b * row, width);
  }
}
