import type { Rng } from "../data/rng.js";
import type { Initializer } from "./layer.js";

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Every value `value` (zeros, or a constant bias). */
export const constant = (value: number): Initializer => (shape) => new Float32Array(sizeOf(shape)).fill(value);
export const zeros: Initializer = constant(0);

/** Uniform in [-limit, limit). PyTorch's RNN default is limit = 1/√hidden. */
export const uniform = (limit: number): Initializer => (shape, rng) => {
  const out = new Float32Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-limit, limit);
  return out;
};

/**
 * Glorot/Xavier uniform for a weight of PyTorch shape [out, in]: limit = √(6 / (in + out)).
 * `blocks` splits `out` into that many gates, each initialised as its own [out/blocks, in]
 * matrix, as Keras does for the kernels of LSTM and GRU cells.
 */
export const glorotUniform = (blocks = 1): Initializer => (shape, rng) => {
  const fanOut = shape[0] / blocks;
  const fanIn = shape[1];
  return uniform(Math.sqrt(6 / (fanIn + fanOut)))(shape, rng);
};

/** The identity in every [n, n] block of a [blocks·n, n] matrix, scaled (the IRNN trick). */
export const identity = (scale = 1): Initializer => (shape) => {
  const [rows, cols] = shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out[r * cols + (r % cols)] = scale;
  return out;
};

/**
 * Orthogonal init for a [blocks·n, m] weight: each [n, m] block is a random orthogonal matrix
 * (rows orthonormal when n <= m, columns when n > m), as PyTorch's and Keras' orthogonal
 * initialisers give, from the QR decomposition of a Gaussian matrix with the signs fixed so
 * the result is uniformly (Haar) distributed. Householder QR in float64: O(n·m·min(n,m)), a few
 * milliseconds for 256 units, instead of the multi-second freezes of tensor-op based versions.
 */
export const orthogonal = (blocks = 1, gain = 1): Initializer => (shape, rng) => {
  const rows = shape[0] / blocks;
  const cols = shape[1];
  const out = new Float32Array(shape[0] * cols);
  for (let k = 0; k < blocks; k++) {
    const q = randomOrthogonal(Math.max(rows, cols), Math.min(rows, cols), rng);
    // q is tall (p x s) with orthonormal columns; lay it out as [rows, cols].
    const tall = rows >= cols;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = tall ? q[r * cols + c] : q[c * rows + r];
        out[(k * rows + r) * cols + c] = gain * v;
      }
    }
  }
  return out;
};

/** A p x s matrix (p >= s, row-major) with orthonormal columns: Q of the QR of a Gaussian. */
function randomOrthogonal(p: number, s: number, rng: Rng): Float64Array {
  const a = new Float64Array(p * s);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  // Householder QR: reflect column j below the diagonal onto e_j; remember the vectors.
  const vs: Float64Array[] = [];
  const rdiag = new Float64Array(s);
  for (let j = 0; j < s; j++) {
    let norm = 0;
    for (let i = j; i < p; i++) norm += a[i * s + j] * a[i * s + j];
    norm = Math.sqrt(norm);
    const x0 = a[j * s + j];
    const alpha = x0 > 0 ? -norm : norm;
    const v = new Float64Array(p - j);
    for (let i = j; i < p; i++) v[i - j] = a[i * s + j];
    v[0] -= alpha;
    let vnorm = 0;
    for (let i = 0; i < v.length; i++) vnorm += v[i] * v[i];
    if (vnorm > 0) {
      for (let c = j; c < s; c++) {
        let dot = 0;
        for (let i = j; i < p; i++) dot += v[i - j] * a[i * s + c];
        const f = (2 * dot) / vnorm;
        for (let i = j; i < p; i++) a[i * s + c] -= f * v[i - j];
      }
    }
    rdiag[j] = a[j * s + j];
    vs.push(v);
  }
  // Q = H_0 H_1 … H_{s-1} applied to the first s columns of the identity.
  const q = new Float64Array(p * s);
  for (let j = 0; j < s; j++) q[j * s + j] = 1;
  for (let j = s - 1; j >= 0; j--) {
    const v = vs[j];
    let vnorm = 0;
    for (let i = 0; i < v.length; i++) vnorm += v[i] * v[i];
    if (vnorm === 0) continue;
    for (let c = 0; c < s; c++) {
      let dot = 0;
      for (let i = j; i < p; i++) dot += v[i - j] * q[i * s + c];
      const f = (2 * dot) / vnorm;
      for (let i = j; i < p; i++) q[i * s + c] -= f * v[i - j];
    }
  }
  // Sign fix: multiply column j by sign(R_jj) so Q is Haar-distributed.
  for (let j = 0; j < s; j++) {
    if (rdiag[j] < 0) for (let i = 0; i < p; i++) q[i * s + j] = -q[i * s + j];
  }
  return q;
}
