// Matrix products: C[M,N] (+)= op(A) · op(B), in three layouts, each with a scalar twin.
//
//   f32_gemm_nn  C (+)= A[M,K]  · B[K,N]     A row i at a + i*lda, B row p at b + p*ldb
//   f32_gemm_nt  C (+)= A[M,K]  · B[N,K]ᵀ    B row j (length K) at b + j*ldb
//   f32_gemm_tn  C (+)= A[K,M]ᵀ · B[K,N]     A row p (length M) at a + p*lda
//   f32_gemm_np  C (+)= A[M,K]  · B[K,N]     B packed by f32_gemm_pack_b (see there)
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
// Design (GotoBLAS-style, sized for V8's 16 vector registers):
//   - a 2x16 register tile: 8 f32x4 accumulators, 4 B vectors, 1 splat of A. It runs at
//     ~52 GFLOP/s in isolation on the reference machine (Zen 5, Node 20); 4x8 is a little
//     slower, and 4x16 or 6x8 spill to the stack and halve the speed. V8 hoists all the
//     loads of a loop body above its arithmetic, so the K loop is not unrolled (unrolled,
//     it spills);
//   - op(B) is packed one sliver at a time, [kc][16] = 16 KiB at KC = 256: a whole cache
//     line per row of B, read once, then reused from L1 by every row pair of the M block.
//     Reading 16-wide strips straight from B would thrash L1 when ldb is a multiple of
//     1024 floats (every row of the strip maps to the same cache set). For nn and tn the
//     first tile of each sliver does the packing itself while it computes, which hides
//     the latency of the strided reads behind its arithmetic (worth ~10% at M = 32);
//   - A is packed per block into row pairs, [kc][2] slivers, so the tile's loop reads both
//     rows through one pointer (the second at a constant offset): one add fewer per step of
//     K, 2-10% at this loop's size. tn always packs (its rows of op(A) are strided by lda);
//     nn, nt and np pack when N >= 128, where each element's copy is repaid by the N
//     multiply-adds it feeds (at N = 64 packing measured 2-5% slower), and otherwise read
//     two rows of A in place;
//   - ragged edges (M odd, N % 16) run the same tile on a zero-padded copy of C;
//   - M = 1 (one sequence at inference) has matrix-vector paths that stream B once along
//     its rows, without packing: nn and tn four rows of B per pass over C, nt eight rows
//     of B at a time, transposed 4x4 in registers;
//   - np takes B already packed into all its slivers, [N/16][K][16]: a recurrent layer packs
//     W_hhᵀ once per sequence (cheaper than transposing it: whole cache lines in, whole
//     lines out) and each step then reads it contiguously. At M = 1 that is a 1x32 tile
//     down two slivers, B streamed once with C in registers (~15% faster than nn's M = 1
//     path over a transposed W_hh that no longer fits in L2); at M > 1 the blocked path
//     runs its tiles on the packed slivers where they lie, with no B copy at all.

// ---------------------------------------------------------------------------------------
// Blocking and static scratch (no allocation, no state kept between calls). The scratch,
// ~161 KiB, lives in the module's static data below __heap_base, which asconfig.json's
// initialMemory (3 pages = 192 KiB) must hold together with every other module's data.

const MR = 2; // rows of the register tile
const NR = 16; // columns of the register tile (four f32x4, one cache line)
const KC = 256; // K block: a packed B sliver is KC*16*4 = 16 KiB and stays in L1
const MC = 128; // M block for nn and nt: rows of A swept per packed B sliver (from L2)
// tn packs its A block, MC_TN x KC_TN floats = 16 KiB. 64 x 64 beats 16 x 256 and 32 x 128
// (by 20% on the weight-gradient shape): each packed B sliver then serves 32 row pairs.
const KC_TN = 64;
const MC_TN = 64;
const PACK_A_MIN_N = 128; // nn, nt, np pack their A block when N >= this (8 slivers)

const PACK_B: usize = memory.data(KC * NR * 4, 64); // one B sliver [kc][16]
const PACK_A: usize = memory.data(KC_TN * MC_TN * 4, 64); // tn: the A block, [mc/2][kc][2]
const PACK_AN: usize = memory.data(MC * KC * 4, 64); // nn, nt, np: the A block, [mc/2][kc][2]
const EDGE_C: usize = memory.data(MR * NR * 4, 64); // a padded 2x16 tile of C
const EDGE_BIAS: usize = memory.data(NR * 4, 64); // a padded 16-vector of bias

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

/**
 * Packs op(B) [K, N] for f32_gemm_np: sliver s (columns 16s .. 16s+15) at dst + s*K*64 bytes,
 * [K][16], columns past N zero; dst holds ceil(N/16)*16*K floats. trans = 0: B stored [K, N]
 * (row p at b + p*ldb); trans != 0: B stored [N, K] (row j, column j of op(B), at b + j*ldb),
 * e.g. a weight W [N, K] packed as the Wᵀ of x·Wᵀ.
 */
export function f32_gemm_pack_b(dst: usize, b: usize, n: i32, k: i32, ldb: i32, trans: i32): void {
  if (n <= 0 || k <= 0) return;
  for (let j = 0; j < n; j += NR) {
    const d = dst + ((<usize>j * k) << 2);
    if (trans) packBT(d, b + ((<usize>j * ldb) << 2), ldb, k, min(NR, n - j));
    else packB(d, b + (<usize>j << 2), ldb, k, min(NR, n - j));
  }
}

/** C (+)= A[M,K] · B with B packed by f32_gemm_pack_b; otherwise as f32_gemm_nn. */
export function f32_gemm_np(c: usize, a: usize, bp: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldc: i32, accumulate: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) initRows(c, bias, m, n, ldc, accumulate);
  else if (m == 1) gemvPacked(c, a, bp, bias, n, k, accumulate);
  else {
    gemmBlocked(c, a, bp, bias, m, n, k, lda, NR, ldc, accumulate, false, false, true);
  }
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

export function f32_gemm_np_scalar(c: usize, a: usize, bp: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldc: i32, accumulate: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const cp = c + ((<usize>i * ldc + j) << 2);
      let acc: f32 = accumulate ? load<f32>(cp) : 0;
      if (bias) acc += load<f32>(bias + (<usize>j << 2));
      const sliver = bp + ((<usize>(j & ~15) * k + (j & 15)) << 2);
      for (let p = 0; p < k; p++) {
        acc += load<f32>(a + ((<usize>i * lda + p) << 2)) * load<f32>(sliver + (<usize>p << 6));
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
// The blocked path. For each block of rows and of K, and each 16 columns of op(B): pack
// that B sliver (stays in L1), then run the 2x16 tile down the rows of the block.

function gemmBlocked(c: usize, a: usize, b: usize, bias: usize, m: i32, n: i32, k: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32, transA: bool, transB: bool, packedB: bool = false): void {
  const ldaB = <usize>lda << 2;
  const ldcB = <usize>ldc << 2;
  const kcMax = transA ? KC_TN : KC;
  // A in row pairs (one pointer in the tile's loop) when enough slivers repay the copy.
  const packA = transA || n >= PACK_A_MIN_N;
  const mcMax = transA ? MC_TN : MC;
  for (let ic = 0; ic < m; ic += mcMax) {
    const iEnd = min(m, ic + mcMax);
    for (let pc = 0; pc < k; pc += kcMax) {
      const kc = min(kcMax, k - pc);
      // The first K block starts from C or zero and adds the bias; later ones resume from C.
      const loadC = pc > 0 || accumulate != 0;
      const biasBlock: usize = pc == 0 ? bias : 0;
      if (transA) packAT(PACK_A, a + ((<usize>pc * lda + ic) << 2), ldaB, iEnd - ic, kc);
      else if (packA) packAN(PACK_AN, a + ((<usize>ic * lda + pc) << 2), ldaB, iEnd - ic, kc);
      const pa = transA ? PACK_A : PACK_AN;
      for (let jr = 0; jr < n; jr += NR) {
        const nr = min(NR, n - jr);
        // nn, tn: the first tile of the sliver reads B in place and packs it as it goes, so
        // the strided loads overlap the arithmetic; the other tiles read the packed copy.
        const bSrc = b + ((<usize>pc * ldb + jr) << 2);
        const packInTile = !packedB && !transB && nr == NR && iEnd - ic >= MR;
        if (!packedB) {
          if (transB) packBT(PACK_B, b + ((<usize>jr * ldb + pc) << 2), ldb, kc, nr);
          else if (!packInTile) packB(PACK_B, bSrc, ldb, kc, nr);
        }
        const bTile: usize = packedB ? b + <usize>jr * k * 4 + (<usize>pc << 6) : PACK_B;
        const biasTile: usize = biasBlock ? biasBlock + (<usize>jr << 2) : 0;
        for (let ir = ic; ir < iEnd; ir += MR) {
          const mr = min(MR, iEnd - ir);
          const ct = c + <usize>ir * ldcB + (<usize>jr << 2);
          const edge = mr < MR || nr < NR;
          const cTile = edge ? EDGE_C : ct;
          const ldcTile: usize = edge ? <usize>(NR * 4) : ldcB;
          const biasUse = edge ? edgeIn(ct, ldcB, loadC, biasTile, mr, nr) : biasTile;
          // Binaryen inlines tile2x16 and tile2x16A here (one call site each); V8's code for
          // their loops keeps all 14 vectors in registers (checked with --print-wasm-code).
          const first = packInTile && ir == ic;
          if (packA) {
            // row pair (ir - ic) / 2 of the packed block; a ragged row there is zeros
            const a0 = pa + <usize>(ir - ic) * kc * 4;
            if (first) tile2x16Pack(cTile, ldcTile, a0, a0 + 4, MR * 4, bSrc, <usize>ldb << 2, PACK_B, kc, loadC, biasUse);
            else tile2x16A(cTile, ldcTile, a0, bTile, kc, loadC, biasUse);
          } else {
            // A in place. A ragged row repeats row 0 of the tile: valid memory, result not stored.
            const a0 = a + <usize>ir * ldaB + (<usize>pc << 2);
            const a1 = mr > 1 ? a0 + ldaB : a0;
            if (first) tile2x16Pack(cTile, ldcTile, a0, a1, 4, bSrc, <usize>ldb << 2, PACK_B, kc, loadC, biasUse);
            else tile2x16(cTile, ldcTile, a0, a1, 4, bTile, kc, loadC, biasUse);
          }
          if (edge) edgeOut(ct, ldcB, mr, nr);
        }
      }
    }
  }
}

// C[2,16] at c (row stride ldcB bytes) = (loadC ? C : 0) (+ bias[16]) + A[2,kc] · Bp[kc][16],
// A[r,p] at a_r + p*aStep: two rows in place (nn, nt with few slivers).
function tile2x16(c: usize, ldcB: usize, a0: usize, a1: usize, aStep: usize, bp: usize, kc: i32, loadC: bool, bias: usize): void {
  tile2x16Body(c, ldcB, a0, a1, aStep, bp, kc, loadC, bias, false);
}

// tile2x16 over a packed A sliver, [kc][2] at ap: one pointer serves both rows (the second
// row's load takes the constant offset 4), one add fewer per step of K than two rows in
// place, which shows at this loop's size: 2–10% on the GEMMs of a recurrent layer.
function tile2x16A(c: usize, ldcB: usize, ap: usize, bp: usize, kc: i32, loadC: bool, bias: usize): void {
  tile2x16Body(c, ldcB, ap, ap, 8, bp, kc, loadC, bias, true);
}

// The one body of both; `paired` is a constant at each inlined site.
@inline function tile2x16Body(c: usize, ldcB: usize, a0: usize, a1: usize, aStep: usize, bp: usize, kc: i32, loadC: bool, bias: usize, paired: bool): void {
  let c00: v128, c01: v128, c02: v128, c03: v128, c10: v128, c11: v128, c12: v128, c13: v128;
  if (loadC) {
    c00 = v128.load(c);
    c01 = v128.load(c, 16);
    c02 = v128.load(c, 32);
    c03 = v128.load(c, 48);
    c10 = v128.load(c + ldcB);
    c11 = v128.load(c + ldcB, 16);
    c12 = v128.load(c + ldcB, 32);
    c13 = v128.load(c + ldcB, 48);
  } else {
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = f32x4.splat(0);
  }
  if (bias) {
    const b0 = v128.load(bias);
    const b1 = v128.load(bias, 16);
    const b2 = v128.load(bias, 32);
    const b3 = v128.load(bias, 48);
    c00 = f32x4.add(c00, b0);
    c01 = f32x4.add(c01, b1);
    c02 = f32x4.add(c02, b2);
    c03 = f32x4.add(c03, b3);
    c10 = f32x4.add(c10, b0);
    c11 = f32x4.add(c11, b1);
    c12 = f32x4.add(c12, b2);
    c13 = f32x4.add(c13, b3);
  }
  const end = bp + (<usize>kc << 6);
  while (bp < end) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const b2 = v128.load(bp, 32);
    const b3 = v128.load(bp, 48);
    let s = v128.load32_splat(a0);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    c02 = f32x4.add(c02, f32x4.mul(s, b2));
    c03 = f32x4.add(c03, f32x4.mul(s, b3));
    s = paired ? v128.load32_splat(a0, 4) : v128.load32_splat(a1);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    c12 = f32x4.add(c12, f32x4.mul(s, b2));
    c13 = f32x4.add(c13, f32x4.mul(s, b3));
    a0 += aStep;
    if (!paired) a1 += aStep;
    bp += 64;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c, c02, 32);
  v128.store(c, c03, 48);
  v128.store(c + ldcB, c10);
  v128.store(c + ldcB, c11, 16);
  v128.store(c + ldcB, c12, 32);
  v128.store(c + ldcB, c13, 48);
}

// tile2x16 reading B in place (row p at b + p*ldbB) and storing each row into the packed
// sliver at pk as it goes: the packing of a sliver, hidden in the first tile that needs it.
function tile2x16Pack(c: usize, ldcB: usize, a0: usize, a1: usize, aStep: usize, b: usize, ldbB: usize, pk: usize, kc: i32, loadC: bool, bias: usize): void {
  let c00: v128, c01: v128, c02: v128, c03: v128, c10: v128, c11: v128, c12: v128, c13: v128;
  if (loadC) {
    c00 = v128.load(c);
    c01 = v128.load(c, 16);
    c02 = v128.load(c, 32);
    c03 = v128.load(c, 48);
    c10 = v128.load(c + ldcB);
    c11 = v128.load(c + ldcB, 16);
    c12 = v128.load(c + ldcB, 32);
    c13 = v128.load(c + ldcB, 48);
  } else {
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = f32x4.splat(0);
  }
  if (bias) {
    const b0 = v128.load(bias);
    const b1 = v128.load(bias, 16);
    const b2 = v128.load(bias, 32);
    const b3 = v128.load(bias, 48);
    c00 = f32x4.add(c00, b0);
    c01 = f32x4.add(c01, b1);
    c02 = f32x4.add(c02, b2);
    c03 = f32x4.add(c03, b3);
    c10 = f32x4.add(c10, b0);
    c11 = f32x4.add(c11, b1);
    c12 = f32x4.add(c12, b2);
    c13 = f32x4.add(c13, b3);
  }
  const end = pk + (<usize>kc << 6);
  while (pk < end) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const b2 = v128.load(b, 32);
    const b3 = v128.load(b, 48);
    v128.store(pk, b0);
    v128.store(pk, b1, 16);
    v128.store(pk, b2, 32);
    v128.store(pk, b3, 48);
    let s = v128.load32_splat(a0);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    c02 = f32x4.add(c02, f32x4.mul(s, b2));
    c03 = f32x4.add(c03, f32x4.mul(s, b3));
    s = v128.load32_splat(a1);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    c12 = f32x4.add(c12, f32x4.mul(s, b2));
    c13 = f32x4.add(c13, f32x4.mul(s, b3));
    a0 += aStep;
    a1 += aStep;
    b += ldbB;
    pk += 64;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c, c02, 32);
  v128.store(c, c03, 48);
  v128.store(c + ldcB, c10);
  v128.store(c + ldcB, c11, 16);
  v128.store(c + ldcB, c12, 32);
  v128.store(c + ldcB, c13, 48);
}

// A ragged tile (mr < 2 or nr < 16) runs on EDGE_C, a zero-padded copy of its window of C;
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
// Packing. One sliver of op(B), [kc][16] at dst, columns past nr zero; and for tn the
// A block, rows of op(A) in pairs, [mc/2][kc][2], a ragged last row zero.

// op(B) = B: rows p contiguous over N (nn, tn). Plain copies, one cache line per row.
function packB(dst: usize, src: usize, ldb: i32, kc: i32, nr: i32): void {
  const ldbB = <usize>ldb << 2;
  if (nr == NR) {
    for (let p = 0; p < kc; p++) {
      const s = src + <usize>p * ldbB;
      const d = dst + (<usize>p << 6);
      v128.store(d, v128.load(s));
      v128.store(d, v128.load(s, 16), 16);
      v128.store(d, v128.load(s, 32), 32);
      v128.store(d, v128.load(s, 48), 48);
    }
  } else {
    for (let p = 0; p < kc; p++) {
      const s = src + <usize>p * ldbB;
      const d = dst + (<usize>p << 6);
      for (let q = 0; q < NR; q++) store<f32>(d + (<usize>q << 2), q < nr ? load<f32>(s + (<usize>q << 2)) : 0);
    }
  }
}

// op(B) = Bᵀ: row j of B holds column j of op(B), contiguous over K (nt). Transposes
// 4x4 blocks in registers: rows 4h .. 4h+3 of B go to lanes 4h .. 4h+3 of the sliver.
function packBT(dst: usize, src: usize, ldb: i32, kc: i32, nr: i32): void {
  const ldbB = <usize>ldb << 2;
  if (nr < NR) {
    for (let p = 0; p < kc; p++) {
      const d = dst + (<usize>p << 6);
      for (let q = 0; q < NR; q++) store<f32>(d + (<usize>q << 2), q < nr ? load<f32>(src + <usize>q * ldbB + (<usize>p << 2)) : 0);
    }
    return;
  }
  const k4 = kc & ~3;
  for (let h = 0; h < 4; h++) {
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
      const dp = dh + (<usize>p << 6);
      v128.store(dp, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(dp, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 64);
      v128.store(dp, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 128);
      v128.store(dp, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 192);
    }
    for (let p = k4; p < kc; p++) {
      const o = <usize>p << 2;
      const dp = dh + (<usize>p << 6);
      store<f32>(dp, load<f32>(q0 + o));
      store<f32>(dp, load<f32>(q1 + o), 4);
      store<f32>(dp, load<f32>(q2 + o), 8);
      store<f32>(dp, load<f32>(q3 + o), 12);
    }
  }
}

// op(A) = A: rows i, i+1 of the block interleaved, [mc/2][kc][2], a ragged last row zero.
function packAN(dst: usize, src: usize, ldaB: usize, mc: i32, kc: i32): void {
  const m2 = mc & ~1;
  for (let i = 0; i < m2; i += 2) {
    const s0 = src + <usize>i * ldaB;
    const s1 = s0 + ldaB;
    const d = dst + <usize>i * kc * 4;
    const k4 = kc & ~3;
    for (let p = 0; p < k4; p += 4) {
      const x = v128.load(s0 + (<usize>p << 2));
      const y = v128.load(s1 + (<usize>p << 2));
      v128.store(d + (<usize>p << 3), v128.shuffle<f32>(x, y, 0, 4, 1, 5));
      v128.store(d + (<usize>p << 3), v128.shuffle<f32>(x, y, 2, 6, 3, 7), 16);
    }
    for (let p = k4; p < kc; p++) {
      store<f32>(d + (<usize>p << 3), load<f32>(s0 + (<usize>p << 2)));
      store<f32>(d + (<usize>p << 3), load<f32>(s1 + (<usize>p << 2)), 4);
    }
  }
  if (m2 < mc) {
    const s0 = src + <usize>m2 * ldaB;
    const d = dst + <usize>m2 * kc * 4;
    for (let p = 0; p < kc; p++) {
      store<f32>(d + (<usize>p << 3), load<f32>(s0 + (<usize>p << 2)));
      store<f32>(d + (<usize>p << 3), 0, 4);
    }
  }
}

// tn: op(A) = Aᵀ, row p of A holds column p of op(A), contiguous over M. Copies pairs of
// adjacent values of each row p into the slivers: dst[s][p][r] = A[p, 2s + r].
function packAT(dst: usize, src: usize, ldaB: usize, mc: i32, kc: i32): void {
  const m2 = mc & ~1;
  const sliver = <usize>kc << 3;
  for (let p = 0; p < kc; p++) {
    const s = src + <usize>p * ldaB;
    let d = dst + (<usize>p << 3);
    for (let i = 0; i < m2; i += 2) {
      store<u64>(d, load<u64>(s + (<usize>i << 2)));
      d += sliver;
    }
    if (m2 < mc) {
      store<f32>(d, load<f32>(s + (<usize>m2 << 2)));
      store<f32>(d, 0, 4);
    }
  }
}

// ---------------------------------------------------------------------------------------
// M = 1: matrix-vector paths. No packing: B is read once, so copying it would cost as much
// as the product.

// c[N] (+)= a · B[K,N], a[p] at a + p*aStrideB (4 for nn, 4*lda for tn). Four rows of B per
// pass over c (B is streamed along its rows, which the prefetchers follow; a strip of
// columns down all of K would stride by ldb and crawl when ldb is a multiple of 1024);
// each c element still adds its products in the order p = 0, 1, 2, ...
function gemvRows(c: usize, a: usize, aStrideB: usize, b: usize, ldb: i32, bias: usize, n: i32, k: i32, accumulate: i32): void {
  initRow(c, bias, n, accumulate);
  const ldbB = <usize>ldb << 2;
  const n8 = n & ~7;
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
    // 8 columns per step: one address per row serves two vectors (immediate offsets)
    for (let j = 0; j < n8; j += 8) {
      const o = <usize>j << 2;
      const cp = c + o;
      const q0 = b0 + o;
      const q1 = b1 + o;
      const q2 = b2 + o;
      const q3 = b3 + o;
      let v = v128.load(cp);
      let w = v128.load(cp, 16);
      v = f32x4.add(v, f32x4.mul(a0, v128.load(q0)));
      w = f32x4.add(w, f32x4.mul(a0, v128.load(q0, 16)));
      v = f32x4.add(v, f32x4.mul(a1, v128.load(q1)));
      w = f32x4.add(w, f32x4.mul(a1, v128.load(q1, 16)));
      v = f32x4.add(v, f32x4.mul(a2, v128.load(q2)));
      w = f32x4.add(w, f32x4.mul(a2, v128.load(q2, 16)));
      v = f32x4.add(v, f32x4.mul(a3, v128.load(q3)));
      w = f32x4.add(w, f32x4.mul(a3, v128.load(q3, 16)));
      v128.store(cp, v);
      v128.store(cp, w, 16);
    }
    for (let j = n8; j < n; j++) {
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
    const n4 = n & ~3;
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

// c[N] (+)= a · B with B packed ([N/16][K][16]): two slivers at a time, 32 sums in registers,
// each adding its products in the order p = 0, 1, ...; a ragged end runs on EDGE_C.
function gemvPacked(c: usize, a: usize, bp: usize, bias: usize, n: i32, k: i32, accumulate: i32): void {
  initRow(c, bias, n, accumulate);
  const sliverB = <usize>k << 6;
  for (let j = 0; j < n; j += 2 * NR) {
    const b0 = bp + <usize>(j >> 4) * sliverB;
    const b1 = j + NR < n ? b0 + sliverB : b0; // a lone last sliver: the second half is not stored
    const w = min(2 * NR, n - j);
    const cj = c + (<usize>j << 2);
    if (w == 2 * NR) {
      gemv1x32(cj, a, b0, b1, k);
      continue;
    }
    for (let q = 0; q < 2 * NR; q++) store<f32>(EDGE_C + (<usize>q << 2), q < w ? load<f32>(cj + (<usize>q << 2)) : 0);
    gemv1x32(EDGE_C, a, b0, b1, k);
    for (let q = 0; q < w; q++) store<f32>(cj + (<usize>q << 2), load<f32>(EDGE_C + (<usize>q << 2)));
  }
}

// c[0..32) += Σ_p a[p] * [sliver b0 row p | sliver b1 row p], p = 0 .. k-1 in order.
function gemv1x32(c: usize, a: usize, b0: usize, b1: usize, k: i32): void {
  let c0 = v128.load(c), c1 = v128.load(c, 16), c2 = v128.load(c, 32), c3 = v128.load(c, 48);
  let c4 = v128.load(c, 64), c5 = v128.load(c, 80), c6 = v128.load(c, 96), c7 = v128.load(c, 112);
  const end = a + (<usize>k << 2);
  while (a < end) {
    const s = v128.load32_splat(a);
    c0 = f32x4.add(c0, f32x4.mul(s, v128.load(b0)));
    c1 = f32x4.add(c1, f32x4.mul(s, v128.load(b0, 16)));
    c2 = f32x4.add(c2, f32x4.mul(s, v128.load(b0, 32)));
    c3 = f32x4.add(c3, f32x4.mul(s, v128.load(b0, 48)));
    c4 = f32x4.add(c4, f32x4.mul(s, v128.load(b1)));
    c5 = f32x4.add(c5, f32x4.mul(s, v128.load(b1, 16)));
    c6 = f32x4.add(c6, f32x4.mul(s, v128.load(b1, 32)));
    c7 = f32x4.add(c7, f32x4.mul(s, v128.load(b1, 48)));
    a += 4;
    b0 += 64;
    b1 += 64;
  }
  v128.store(c, c0);
  v128.store(c, c1, 16);
  v128.store(c, c2, 32);
  v128.store(c, c3, 48);
  v128.store(c, c4, 64);
  v128.store(c, c5, 80);
  v128.store(c, c6, 96);
  v128.store(c, c7, 112);
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
