// Matrix products: C[M,N] (+)= op(A) · op(B), in three layouts, each with a scalar twin.
//
//   f32_gemm_nn  C (+)= A[M,K]  · B[K,N]     A row i at a + i*lda, B row p at b + p*ldb
//   f32_gemm_nt  C (+)= A[M,K]  · B[N,K]ᵀ    B row j (length K) at b + j*ldb
//   f32_gemm_tn  C (+)= A[K,M]ᵀ · B[K,N]     A row p (length M) at a + p*lda
//   C row i at c + i*ldc. Leading dimensions count floats; pointers are byte addresses.
//   accumulate != 0: C += product, else C = product. bias != 0: bias[N] is added to every
//   row, once per call, in both modes. Every size >= 0 works. C must not overlap A, B or bias.
//
// The one summation order. Every element, in every kernel here (SIMD, scalar, the M = 1
// paths, full and edge tiles, any blocking), is computed as
//   acc = accumulate ? C[i,j] : 0;  if (bias) acc = acc + bias[j];
//   for p = 0 .. K-1:  acc = acc + A[i,p] * B[p,j]        (f32 multiply, then f32 add)
// so the SIMD kernels give the same bits as their scalar twins, and a row of C does not
// depend on M, on which path ran, or on the runtime. Blocking over K stores the partial
// sum in C and reloads it, which keeps the order. (The one exception wasm allows: the
// payload bits of a NaN result.)
//
// Design (GotoBLAS-style):
//   - a 4x8 register tile (8 f32x4 accumulators, 2 B vectors, 1 splat: fits V8's 16
//     vector registers without spills; 4x16 or 6x8 spill and run at half speed);
//   - K blocked by KC, N by NC, M by MC; the B block is packed into 8-column slivers
//     [KC][8] and the A block into 4-row slivers [KC][4], both contiguous, so the inner
//     loop reads two streams with immediate offsets, whatever the layout. The three
//     layouts differ only in their packing routines (nt and nn transpose 4x4 blocks in
//     registers while packing);
//   - ragged edges (M % 4, N % 8) run the same tile on a zero-padded copy;
//   - M = 1 (one sequence at inference) has matrix-vector paths that stream B once.

// ---------------------------------------------------------------------------------------
// Blocking and static scratch (no allocation, no state kept between calls). The scratch is
// small on purpose: static data lives in the module's first pages, below the allocator.

const MR = 4; // rows of the register tile
const NR = 8; // columns of the register tile (two f32x4)
const KC = 256; // K block: a packed B sliver is KC*8*4 = 8 KiB and stays in L1
const MC = 128; // M block: the rows of A swept per packed B sliver (stay in L2)

const PACK_B: usize = memory.data(KC * NR * 4, 64); // one B sliver [kc][8]
const EDGE_A: usize = memory.data(KC * MR * 4, 64); // ragged rows of op(A) for tn, [kc][4]
const EDGE_C: usize = memory.data(MR * NR * 4, 64); // a padded 4x8 tile of C
const EDGE_BIAS: usize = memory.data(NR * 4, 64); // a padded 8-vector of bias

// ---------------------------------------------------------------------------------------
// Exports

export function f32_gemm_nn(c: usize, a: usize, b: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) initRows(c, bias, m, n, ldc, accumulate);
  else if (m == 1) gemvRows(c, a, 4, b, ldb, bias, n, k, accumulate);
  else gemmBlocked(c, a, b, bias, m, n, k, lda, ldb, ldc, accumulate, false, false);
}

export function f32_gemm_nt(c: usize, a: usize, b: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) initRows(c, bias, m, n, ldc, accumulate);
  else if (m == 1) gemvCols(c, a, b, ldb, bias, n, k, accumulate);
  else gemmBlocked(c, a, b, bias, m, n, k, lda, ldb, ldc, accumulate, false, true);
}

export function f32_gemm_tn(c: usize, a: usize, b: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) initRows(c, bias, m, n, ldc, accumulate);
  else if (m == 1) gemvRows(c, a, <usize>lda << 2, b, ldb, bias, n, k, accumulate);
  else gemmBlocked(c, a, b, bias, m, n, k, lda, ldb, ldc, accumulate, true, false);
}

/** out[cols, rows] = a[rows, cols]ᵀ (both dense). out must not overlap a. */
export function f32_transpose(out: usize, a: usize, rows: i32, cols: i32): void {
  if (rows <= 0 || cols <= 0) return;
  const TB = 32; // tile, so both the reads and the writes stay in L1
  const rowsB = <usize>rows << 2;
  const colsB = <usize>cols << 2;
  for (let i0 = 0; i0 < rows; i0 += TB) {
    const i1 = min(rows, i0 + TB);
    const i4 = i0 + ((i1 - i0) & ~3);
    for (let j0 = 0; j0 < cols; j0 += TB) {
      const j1 = min(cols, j0 + TB);
      const j4 = j0 + ((j1 - j0) & ~3);
      for (let i = i0; i < i4; i += 4) {
        const src = a + <usize>i * colsB;
        for (let j = j0; j < j4; j += 4) {
          const s = src + (<usize>j << 2);
          const r0 = v128.load(s);
          const r1 = v128.load(s + colsB);
          const r2 = v128.load(s + colsB * 2);
          const r3 = v128.load(s + colsB * 3);
          const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
          const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
          const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
          const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
          const d = out + <usize>j * rowsB + (<usize>i << 2);
          v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
          v128.store(d + rowsB, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
          v128.store(d + rowsB * 2, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
          v128.store(d + rowsB * 3, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
        }
        for (let j = j4; j < j1; j++) {
          for (let r = 0; r < 4; r++) {
            store<f32>(out + <usize>j * rowsB + (<usize>(i + r) << 2), load<f32>(a + <usize>(i + r) * colsB + (<usize>j << 2)));
          }
        }
      }
      for (let i = i4; i < i1; i++) {
        for (let j = j0; j < j1; j++) {
          store<f32>(out + <usize>j * rowsB + (<usize>i << 2), load<f32>(a + <usize>i * colsB + (<usize>j << 2)));
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Scalar twins: the reference the tests hold the SIMD kernels to (bit for bit).

export function f32_gemm_nn_scalar(c: usize, a: usize, b: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const cp = c + ((<usize>i * ldc + j) << 2);
      let acc: f32 = accumulate ? load<f32>(cp) : 0;
      if (bias) acc += load<f32>(bias + (<usize>j << 2));
      for (let p = 0; p < k; p++) {
        acc += load<f32>(a + ((<usize>i * lda + p) << 2)) * load<f32>(b + ((<usize>p * ldb + j) << 2));
      }
      store<f32>(cp, acc);
    }
  }
}

export function f32_gemm_nt_scalar(c: usize, a: usize, b: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const cp = c + ((<usize>i * ldc + j) << 2);
      let acc: f32 = accumulate ? load<f32>(cp) : 0;
      if (bias) acc += load<f32>(bias + (<usize>j << 2));
      for (let p = 0; p < k; p++) {
        acc += load<f32>(a + ((<usize>i * lda + p) << 2)) * load<f32>(b + ((<usize>j * ldb + p) << 2));
      }
      store<f32>(cp, acc);
    }
  }
}

export function f32_gemm_tn_scalar(c: usize, a: usize, b: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const cp = c + ((<usize>i * ldc + j) << 2);
      let acc: f32 = accumulate ? load<f32>(cp) : 0;
      if (bias) acc += load<f32>(bias + (<usize>j << 2));
      for (let p = 0; p < k; p++) {
        acc += load<f32>(a + ((<usize>p * lda + i) << 2)) * load<f32>(b + ((<usize>p * ldb + j) << 2));
      }
      store<f32>(cp, acc);
    }
  }
}

// ---------------------------------------------------------------------------------------
// K = 0: C = (accumulate ? C : 0) + bias, the start of the summation order and its end.

function initRows(c: usize, bias: usize, m: i32, n: i32, ldc: i32, accumulate: i32): void {
  for (let i = 0; i < m; i++) initRow(c + ((<usize>i * ldc) << 2), bias, n, accumulate);
}

// c[0..n) = (accumulate ? c : 0) + bias  (the bias add only when bias != 0)
function initRow(c: usize, bias: usize, n: i32, accumulate: i32): void {
  const n4 = n & ~3;
  const zero = f32x4.splat(0);
  for (let j = 0; j < n4; j += 4) {
    const cp = c + (<usize>j << 2);
    let v = accumulate ? v128.load(cp) : zero;
    if (bias) v = f32x4.add(v, v128.load(bias + (<usize>j << 2)));
    v128.store(cp, v);
  }
  for (let j = n4; j < n; j++) {
    const cp = c + (<usize>j << 2);
    let v: f32 = accumulate ? load<f32>(cp) : 0;
    if (bias) v += load<f32>(bias + (<usize>j << 2));
    store<f32>(cp, v);
  }
}

// ---------------------------------------------------------------------------------------
// The blocked path. For each block of MC rows and KC values of K, and each 8 columns of
// op(B): pack that B sliver [kc][8] (8 KiB, stays in L1), then run the 4x8 tile down the
// rows of the block. A is read in place: nn and nt read 4 rows of A (contiguous over K),
// tn reads 4 adjacent values of each row p of A (one pointer, immediate offsets).

function gemmBlocked(c: usize, a: usize, b: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32, transA: bool, transB: bool): void {
  const ldaB = <usize>lda << 2;
  const ldcB = <usize>ldc << 2;
  for (let ic = 0; ic < m; ic += MC) {
    const iEnd = min(m, ic + MC);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      // The first K block starts from C or zero and adds the bias; later ones resume from C.
      const loadC = pc > 0 || accumulate != 0;
      const biasBlock: usize = pc == 0 ? bias : 0;
      for (let jr = 0; jr < n; jr += NR) {
        const nr = min(NR, n - jr);
        if (transB) packBT(PACK_B, b + ((<usize>jr * ldb + pc) << 2), ldb, kc, nr);
        else packB(PACK_B, b + ((<usize>pc * ldb + jr) << 2), ldb, kc, nr);
        const biasTile: usize = biasBlock ? biasBlock + (<usize>jr << 2) : 0;
        for (let ir = ic; ir < iEnd; ir += MR) {
          const mr = min(MR, iEnd - ir);
          const ct = c + <usize>ir * ldcB + (<usize>jr << 2);
          const edge = mr < MR || nr < NR;
          const cTile = edge ? EDGE_C : ct;
          const ldcTile: usize = edge ? <usize>(NR * 4) : ldcB;
          const biasUse = edge ? edgeIn(ct, ldcB, loadC, biasTile, mr, nr) : biasTile;
          if (transA) {
            let ap = a + <usize>pc * ldaB + (<usize>ir << 2);
            let apStride = ldaB;
            if (mr < MR) {
              // Reading 4 values from a shorter row could run past the end of A: copy.
              packAEdgeT(EDGE_A, ap, ldaB, mr, kc);
              ap = EDGE_A;
              apStride = MR * 4;
            }
            tileCols(cTile, ldcTile, ap, apStride, PACK_B, kc, loadC, biasUse);
          } else {
            // Ragged rows repeat row 0 of the tile: valid memory, results not stored.
            const a0 = a + <usize>ir * ldaB + (<usize>pc << 2);
            const a1 = mr > 1 ? a0 + ldaB : a0;
            const a2 = mr > 2 ? a1 + ldaB : a0;
            const a3 = mr > 3 ? a2 + ldaB : a0;
            tileRows(cTile, ldcTile, a0, a1, a2, a3, PACK_B, kc, loadC, biasUse);
          }
          if (edge) edgeOut(ct, ldcB, mr, nr);
        }
      }
    }
  }
}

// C[4,8] at c (row stride ldcB bytes) = (loadC ? C : 0) (+ bias[8]) + A[4,kc] · Bp[kc][8],
// row r of A at a_r, contiguous over K.
function tileRows(c: usize, ldcB: usize, a0: usize, a1: usize, a2: usize, a3: usize, bp: usize, kc: i32, loadC: bool, bias: usize): void {
  let c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128;
  if (loadC) {
    c00 = v128.load(c);
    c01 = v128.load(c, 16);
    c10 = v128.load(c + ldcB);
    c11 = v128.load(c + ldcB, 16);
    c20 = v128.load(c + ldcB * 2);
    c21 = v128.load(c + ldcB * 2, 16);
    c30 = v128.load(c + ldcB * 3);
    c31 = v128.load(c + ldcB * 3, 16);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = f32x4.splat(0);
  }
  if (bias) {
    const b0 = v128.load(bias);
    const b1 = v128.load(bias, 16);
    c00 = f32x4.add(c00, b0);
    c01 = f32x4.add(c01, b1);
    c10 = f32x4.add(c10, b0);
    c11 = f32x4.add(c11, b1);
    c20 = f32x4.add(c20, b0);
    c21 = f32x4.add(c21, b1);
    c30 = f32x4.add(c30, b0);
    c31 = f32x4.add(c31, b1);
  }
  // Unrolled by 4 so one address per row of A serves four steps (immediate offsets).
  const end4 = bp + (<usize>(kc & ~3) << 5);
  const end = bp + (<usize>kc << 5);
  let o: usize = 0;
  while (bp < end4) {
    let s = v128.load32_splat(a0 + o);
    let b0 = v128.load(bp);
    let b1 = v128.load(bp, 16);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    s = v128.load32_splat(a1 + o);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    s = v128.load32_splat(a2 + o);
    c20 = f32x4.add(c20, f32x4.mul(s, b0));
    c21 = f32x4.add(c21, f32x4.mul(s, b1));
    s = v128.load32_splat(a3 + o);
    c30 = f32x4.add(c30, f32x4.mul(s, b0));
    c31 = f32x4.add(c31, f32x4.mul(s, b1));
    b0 = v128.load(bp, 32);
    b1 = v128.load(bp, 48);
    s = v128.load32_splat(a0 + o, 4);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    s = v128.load32_splat(a1 + o, 4);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    s = v128.load32_splat(a2 + o, 4);
    c20 = f32x4.add(c20, f32x4.mul(s, b0));
    c21 = f32x4.add(c21, f32x4.mul(s, b1));
    s = v128.load32_splat(a3 + o, 4);
    c30 = f32x4.add(c30, f32x4.mul(s, b0));
    c31 = f32x4.add(c31, f32x4.mul(s, b1));
    b0 = v128.load(bp, 64);
    b1 = v128.load(bp, 80);
    s = v128.load32_splat(a0 + o, 8);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    s = v128.load32_splat(a1 + o, 8);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    s = v128.load32_splat(a2 + o, 8);
    c20 = f32x4.add(c20, f32x4.mul(s, b0));
    c21 = f32x4.add(c21, f32x4.mul(s, b1));
    s = v128.load32_splat(a3 + o, 8);
    c30 = f32x4.add(c30, f32x4.mul(s, b0));
    c31 = f32x4.add(c31, f32x4.mul(s, b1));
    b0 = v128.load(bp, 96);
    b1 = v128.load(bp, 112);
    s = v128.load32_splat(a0 + o, 12);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    s = v128.load32_splat(a1 + o, 12);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    s = v128.load32_splat(a2 + o, 12);
    c20 = f32x4.add(c20, f32x4.mul(s, b0));
    c21 = f32x4.add(c21, f32x4.mul(s, b1));
    s = v128.load32_splat(a3 + o, 12);
    c30 = f32x4.add(c30, f32x4.mul(s, b0));
    c31 = f32x4.add(c31, f32x4.mul(s, b1));
    o += 16;
    bp += 128;
  }
  while (bp < end) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let s = v128.load32_splat(a0 + o);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    s = v128.load32_splat(a1 + o);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    s = v128.load32_splat(a2 + o);
    c20 = f32x4.add(c20, f32x4.mul(s, b0));
    c21 = f32x4.add(c21, f32x4.mul(s, b1));
    s = v128.load32_splat(a3 + o);
    c30 = f32x4.add(c30, f32x4.mul(s, b0));
    c31 = f32x4.add(c31, f32x4.mul(s, b1));
    o += 4;
    bp += 32;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldcB, c10);
  v128.store(c + ldcB, c11, 16);
  v128.store(c + ldcB * 2, c20);
  v128.store(c + ldcB * 2, c21, 16);
  v128.store(c + ldcB * 3, c30);
  v128.store(c + ldcB * 3, c31, 16);
}

// As tileRows, but A[r,p] at ap + p*apStride + 4r (tn: 4 adjacent values of row p of A).
function tileCols(c: usize, ldcB: usize, ap: usize, apStride: usize, bp: usize, kc: i32, loadC: bool, bias: usize): void {
  let c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128;
  if (loadC) {
    c00 = v128.load(c);
    c01 = v128.load(c, 16);
    c10 = v128.load(c + ldcB);
    c11 = v128.load(c + ldcB, 16);
    c20 = v128.load(c + ldcB * 2);
    c21 = v128.load(c + ldcB * 2, 16);
    c30 = v128.load(c + ldcB * 3);
    c31 = v128.load(c + ldcB * 3, 16);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = f32x4.splat(0);
  }
  if (bias) {
    const b0 = v128.load(bias);
    const b1 = v128.load(bias, 16);
    c00 = f32x4.add(c00, b0);
    c01 = f32x4.add(c01, b1);
    c10 = f32x4.add(c10, b0);
    c11 = f32x4.add(c11, b1);
    c20 = f32x4.add(c20, b0);
    c21 = f32x4.add(c21, b1);
    c30 = f32x4.add(c30, b0);
    c31 = f32x4.add(c31, b1);
  }
  const end = bp + (<usize>kc << 5);
  while (bp < end) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let s = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    s = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    s = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(s, b0));
    c21 = f32x4.add(c21, f32x4.mul(s, b1));
    s = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(s, b0));
    c31 = f32x4.add(c31, f32x4.mul(s, b1));
    ap += apStride;
    bp += 32;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldcB, c10);
  v128.store(c + ldcB, c11, 16);
  v128.store(c + ldcB * 2, c20);
  v128.store(c + ldcB * 2, c21, 16);
  v128.store(c + ldcB * 3, c30);
  v128.store(c + ldcB * 3, c31, 16);
}

// A ragged tile (mr < 4 or nr < 8) runs on EDGE_C, a zero-padded copy of its window of C;
// the bias, if any, is padded likewise. Returns the bias pointer the tile should use.
function edgeIn(c: usize, ldcB: usize, loadC: bool, bias: usize, mr: i32, nr: i32): usize {
  for (let r = 0; r < MR; r++) {
    for (let q = 0; q < NR; q++) {
      const v: f32 = loadC && r < mr && q < nr ? load<f32>(c + <usize>r * ldcB + (<usize>q << 2)) : 0;
      store<f32>(EDGE_C + (<usize>(r * NR + q) << 2), v);
    }
  }
  if (!bias) return 0;
  for (let q = 0; q < NR; q++) store<f32>(EDGE_BIAS + (<usize>q << 2), q < nr ? load<f32>(bias + (<usize>q << 2)) : 0);
  return EDGE_BIAS;
}

function edgeOut(c: usize, ldcB: usize, mr: i32, nr: i32): void {
  for (let r = 0; r < mr; r++) {
    for (let q = 0; q < nr; q++) {
      store<f32>(c + <usize>r * ldcB + (<usize>q << 2), load<f32>(EDGE_C + (<usize>(r * NR + q) << 2)));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Packing op(B) into one sliver [kc][8] at dst (columns past nr are zero), and the ragged
// rows of op(A) for tn.

// op(B) = B: rows p contiguous over N (nn, tn). Plain copies.
function packB(dst: usize, src: usize, ldb: i32, kc: i32, nr: i32): void {
  const ldbB = <usize>ldb << 2;
  if (nr == NR) {
    for (let p = 0; p < kc; p++) {
      const s = src + <usize>p * ldbB;
      const d = dst + (<usize>p << 5);
      v128.store(d, v128.load(s));
      v128.store(d, v128.load(s, 16), 16);
    }
  } else {
    for (let p = 0; p < kc; p++) {
      const s = src + <usize>p * ldbB;
      const d = dst + (<usize>p << 5);
      for (let q = 0; q < NR; q++) store<f32>(d + (<usize>q << 2), q < nr ? load<f32>(s + (<usize>q << 2)) : 0);
    }
  }
}

// op(B) = Bᵀ: row j of B holds column j of op(B), contiguous over K (nt). Transposes
// two 4x4 blocks per 4 values of K in registers.
function packBT(dst: usize, src: usize, ldb: i32, kc: i32, nr: i32): void {
  const ldbB = <usize>ldb << 2;
  if (nr < NR) {
    for (let p = 0; p < kc; p++) {
      const d = dst + (<usize>p << 5);
      for (let q = 0; q < NR; q++) store<f32>(d + (<usize>q << 2), q < nr ? load<f32>(src + <usize>q * ldbB + (<usize>p << 2)) : 0);
    }
    return;
  }
  const k4 = kc & ~3;
  for (let h = 0; h < 2; h++) {
    // rows 4h .. 4h+3 of B go to lanes 4h .. 4h+3 of each [8] row of the sliver
    const q0 = src + <usize>(h * 4) * ldbB;
    const q1 = q0 + ldbB;
    const q2 = q1 + ldbB;
    const q3 = q2 + ldbB;
    const dh = dst + (<usize>h << 4);
    for (let p = 0; p < k4; p += 4) {
      const o = <usize>p << 2;
      const x0 = v128.load(q0 + o);
      const x1 = v128.load(q1 + o);
      const x2 = v128.load(q2 + o);
      const x3 = v128.load(q3 + o);
      const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
      const t1 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
      const t2 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
      const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
      const dp = dh + (<usize>p << 5);
      v128.store(dp, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(dp, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 32);
      v128.store(dp, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 64);
      v128.store(dp, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 96);
    }
    for (let p = k4; p < kc; p++) {
      const o = <usize>p << 2;
      const dp = dh + (<usize>p << 5);
      store<f32>(dp, load<f32>(q0 + o));
      store<f32>(dp, load<f32>(q1 + o), 4);
      store<f32>(dp, load<f32>(q2 + o), 8);
      store<f32>(dp, load<f32>(q3 + o), 12);
    }
  }
}

// tn, mr < 4 rows of op(A) left: dst[p][r] = A[p, r] (r < mr), zero for r >= mr.
function packAEdgeT(dst: usize, src: usize, ldaB: usize, mr: i32, kc: i32): void {
  for (let p = 0; p < kc; p++) {
    const s = src + <usize>p * ldaB;
    const d = dst + (<usize>p << 4);
    for (let r = 0; r < MR; r++) store<f32>(d + (<usize>r << 2), r < mr ? load<f32>(s + (<usize>r << 2)) : 0);
  }
}

// ---------------------------------------------------------------------------------------
// M = 1: matrix-vector paths. No packing: B is read once, so copying it would cost as much
// as the product.

// c[N] (+)= a · B[K,N], a[p] at a + p*aStrideB (4 for nn, 4*lda for tn). Four rows of B per
// pass over c; each c element still adds its products in the order p = 0, 1, 2, ...
function gemvRows(c: usize, a: usize, aStrideB: usize, b: usize, ldb: i32, bias: usize, n: i32, k: i32, accumulate: i32): void {
  initRow(c, bias, n, accumulate);
  const ldbB = <usize>ldb << 2;
  const n4 = n & ~3;
  let p = 0;
  for (; p + 4 <= k; p += 4) {
    const s0 = load<f32>(a + <usize>p * aStrideB);
    const s1 = load<f32>(a + <usize>(p + 1) * aStrideB);
    const s2 = load<f32>(a + <usize>(p + 2) * aStrideB);
    const s3 = load<f32>(a + <usize>(p + 3) * aStrideB);
    const a0 = f32x4.splat(s0);
    const a1 = f32x4.splat(s1);
    const a2 = f32x4.splat(s2);
    const a3 = f32x4.splat(s3);
    const b0 = b + <usize>p * ldbB;
    const b1 = b0 + ldbB;
    const b2 = b1 + ldbB;
    const b3 = b2 + ldbB;
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      let v = v128.load(c + o);
      v = f32x4.add(v, f32x4.mul(a0, v128.load(b0 + o)));
      v = f32x4.add(v, f32x4.mul(a1, v128.load(b1 + o)));
      v = f32x4.add(v, f32x4.mul(a2, v128.load(b2 + o)));
      v = f32x4.add(v, f32x4.mul(a3, v128.load(b3 + o)));
      v128.store(c + o, v);
    }
    for (let j = n4; j < n; j++) {
      const o = <usize>j << 2;
      let v = load<f32>(c + o);
      v += s0 * load<f32>(b0 + o);
      v += s1 * load<f32>(b1 + o);
      v += s2 * load<f32>(b2 + o);
      v += s3 * load<f32>(b3 + o);
      store<f32>(c + o, v);
    }
  }
  for (; p < k; p++) {
    const s0 = load<f32>(a + <usize>p * aStrideB);
    const a0 = f32x4.splat(s0);
    const b0 = b + <usize>p * ldbB;
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      v128.store(c + o, f32x4.add(v128.load(c + o), f32x4.mul(a0, v128.load(b0 + o))));
    }
    for (let j = n4; j < n; j++) {
      const o = <usize>j << 2;
      store<f32>(c + o, load<f32>(c + o) + s0 * load<f32>(b0 + o));
    }
  }
}

// c[N] (+)= a · B[N,K]ᵀ: c[j] is a dot product of a with row j of B. Eight rows at a time,
// transposed 4x4 in registers so that each lane adds its products in the order p = 0, 1, ...
function gemvCols(c: usize, a: usize, b: usize, ldb: i32, bias: usize, n: i32, k: i32, accumulate: i32): void {
  initRow(c, bias, n, accumulate);
  const ldbB = <usize>ldb << 2;
  const k4 = k & ~3;
  const n8 = n & ~7;
  for (let j = 0; j < n8; j += 8) {
    const cp = c + (<usize>j << 2);
    let acc0 = v128.load(cp);
    let acc1 = v128.load(cp, 16);
    const r0 = b + <usize>j * ldbB;
    const r1 = r0 + ldbB;
    const r2 = r1 + ldbB;
    const r3 = r2 + ldbB;
    const r4 = r3 + ldbB;
    const r5 = r4 + ldbB;
    const r6 = r5 + ldbB;
    const r7 = r6 + ldbB;
    for (let p = 0; p < k4; p += 4) {
      const o = <usize>p << 2;
      const s0 = v128.load32_splat(a + o);
      const s1 = v128.load32_splat(a + o, 4);
      const s2 = v128.load32_splat(a + o, 8);
      const s3 = v128.load32_splat(a + o, 12);
      let x0 = v128.load(r0 + o);
      let x1 = v128.load(r1 + o);
      let x2 = v128.load(r2 + o);
      let x3 = v128.load(r3 + o);
      let t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
      let t1 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
      let t2 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
      let t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
      acc0 = f32x4.add(acc0, f32x4.mul(s0, i32x4.shuffle(t0, t2, 0, 1, 4, 5)));
      acc0 = f32x4.add(acc0, f32x4.mul(s1, i32x4.shuffle(t0, t2, 2, 3, 6, 7)));
      acc0 = f32x4.add(acc0, f32x4.mul(s2, i32x4.shuffle(t1, t3, 0, 1, 4, 5)));
      acc0 = f32x4.add(acc0, f32x4.mul(s3, i32x4.shuffle(t1, t3, 2, 3, 6, 7)));
      x0 = v128.load(r4 + o);
      x1 = v128.load(r5 + o);
      x2 = v128.load(r6 + o);
      x3 = v128.load(r7 + o);
      t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
      t1 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
      t2 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
      t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
      acc1 = f32x4.add(acc1, f32x4.mul(s0, i32x4.shuffle(t0, t2, 0, 1, 4, 5)));
      acc1 = f32x4.add(acc1, f32x4.mul(s1, i32x4.shuffle(t0, t2, 2, 3, 6, 7)));
      acc1 = f32x4.add(acc1, f32x4.mul(s2, i32x4.shuffle(t1, t3, 0, 1, 4, 5)));
      acc1 = f32x4.add(acc1, f32x4.mul(s3, i32x4.shuffle(t1, t3, 2, 3, 6, 7)));
    }
    v128.store(cp, acc0);
    v128.store(cp, acc1, 16);
    if (k4 < k) {
      for (let q = 0; q < 8; q++) dotTail(cp + (<usize>q << 2), a, b + <usize>(j + q) * ldbB, k4, k);
    }
  }
  for (let j = n8; j < n; j++) dotTail(c + (<usize>j << 2), a, b + <usize>j * ldbB, 0, k);
}

// c[0] += a[p] * row[p] for p = from .. to-1, in order.
@inline function dotTail(c: usize, a: usize, row: usize, from: i32, to: i32): void {
  let v = load<f32>(c);
  for (let p = from; p < to; p++) v += load<f32>(a + (<usize>p << 2)) * load<f32>(row + (<usize>p << 2));
  store<f32>(c, v);
}
