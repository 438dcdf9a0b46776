// Embedding kernels: a row gather (forward) and a row scatter-add (backward) over a
// (vocab, dim) table, PyTorch's nn.Embedding. ids are int32 row indices. TypeScript
// validates them into [0, vocab) first; the kernels still never touch memory outside the
// table: an id outside [0, vocab) gives a zero row forward and adds nothing backward.
//
// f32_embedding_forward(y, ids, weight, n, dim, vocab)
//   y (n, dim) out; ids (n) i32; weight (vocab, dim).
//     y[i] = weight[ids[i]]
// f32_embedding_backward(dweight, dy, ids, n, dim, vocab, paddingIndex)
//   dweight (vocab, dim) accumulated (+=); dy (n, dim); ids (n) i32.
//     dweight[ids[i]] += dy[i]   for i = 0, 1, …, n − 1, in that order
//   A sparse gradient: only the rows that occur are read and written, O(n·dim) whatever the
//   vocabulary; a row that occurs k times gets its k rows of dy added in order of i, so the
//   result is the same bits every run. Rows whose id equals paddingIndex are skipped (their
//   gradient stays zero, as with padding_idx); paddingIndex < 0 skips nothing.
// Each has a `_scalar` twin (one element at a time) that gives the same bits.

/** y (n, dim) = weight[ids] (see the header). */
export function f32_embedding_forward(y: usize, ids: usize, weight: usize, n: i32, dim: i32, vocab: i32): void {
  const row = <usize>max<i32>(dim, 0) << 2;
  const vecEnd = dim & ~3;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    const dst = y + <usize>i * row;
    if (id < 0 || id >= vocab) {
      for (let j = 0; j < dim; j++) store<f32>(dst + (<usize>j << 2), 0);
      continue;
    }
    const src = weight + <usize>id * row;
    let j = 0;
    for (; j < vecEnd; j += 4) v128.store(dst + (<usize>j << 2), v128.load(src + (<usize>j << 2)));
    for (; j < dim; j++) store<f32>(dst + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
  }
}
export function f32_embedding_forward_scalar(y: usize, ids: usize, weight: usize, n: i32, dim: i32, vocab: i32): void {
  const row = <usize>max<i32>(dim, 0) << 2;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    const dst = y + <usize>i * row;
    const ok = id >= 0 && id < vocab;
    const src = weight + <usize>(ok ? id : <i32>0) * row;
    for (let j = 0; j < dim; j++) store<f32>(dst + (<usize>j << 2), ok ? load<f32>(src + (<usize>j << 2)) : 0);
  }
}

/** dweight[ids[i]] += dy[i], i in order, padding rows skipped (see the header). */
export function f32_embedding_backward(dweight: usize, dy: usize, ids: usize, n: i32, dim: i32, vocab: i32, paddingIndex: i32): void {
  const row = <usize>max<i32>(dim, 0) << 2;
  const vecEnd = dim & ~3;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    if (id < 0 || id >= vocab || id == paddingIndex) continue;
    const dst = dweight + <usize>id * row;
    const src = dy + <usize>i * row;
    let j = 0;
    for (; j < vecEnd; j += 4) {
      const o = <usize>j << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    for (; j < dim; j++) {
      const o = <usize>j << 2;
      store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
    }
  }
}
export function f32_embedding_backward_scalar(dweight: usize, dy: usize, ids: usize, n: i32, dim: i32, vocab: i32, paddingIndex: i32): void {
  const row = <usize>max<i32>(dim, 0) << 2;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    if (id < 0 || id >= vocab || id == paddingIndex) continue;
    for (let j = 0; j < dim; j++) {
      const o = <usize>j << 2;
      const p = dweight + <usize>id * row + o;
      store<f32>(p, load<f32>(p) + load<f32>(dy + <usize>i * row + o));
    }
  }
}
