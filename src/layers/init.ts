import { Tensor, engine } from "../engine/index.js";
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
 * the result is uniformly (Haar) distributed. The QR runs in the wasm core in float64
 * (assembly/linalg.ts): about 40 ms for a 512 x 512 block and 0.3 s for 1024 x 1024, where
 * tensor-op based versions freeze for seconds.
 */
export const orthogonal = (blocks = 1, gain = 1): Initializer => (shape, rng) => {
  const rows = shape[0] / blocks;
  const cols = shape[1];
  const out = new Float32Array(shape[0] * cols);
  // Each block is Q (p x s, orthonormal columns) laid out as [rows, cols]: Q itself when the
  // block is tall, Qᵀ when it is wide.
  const tall = rows >= cols;
  const p = Math.max(rows, cols);
  const s = Math.min(rows, cols);
  // float64 scratch in wasm memory: the Gaussian matrix (then the reflectors, then Q) and
  // R's diagonal, each value taking two slots of a float32 tensor (written and read as bytes).
  const scratch = new Tensor([2 * (p * s + s)]);
  try {
    const a = Tensor.view(scratch, 0, [2 * p * s]);
    const rdiag = Tensor.view(scratch, 2 * p * s, [2 * s]);
    const k = engine().k;
    for (let b = 0; b < blocks; b++) {
      a.write(new Float32Array(gaussianColumnMajor(p, s, rng).buffer), true);
      k.f64_householder_qr(a.ptr, rdiag.ptr, p, s);
      k.f64_householder_q(a.ptr, p, s);
      const qv = new Float64Array(a.toFloat32Array().buffer);
      const r = new Float64Array(rdiag.toFloat32Array().buffer);
      for (let c = 0; c < s; c++) {
        // Sign fix: column c times sign(R_cc), so Q is Haar-distributed; then the gain.
        const scale = r[c] < 0 ? -gain : gain;
        for (let i = 0; i < p; i++) {
          const index = tall ? i * cols + c : c * cols + i;
          out[b * rows * cols + index] = scale * qv[c * p + i];
        }
      }
    }
  } finally {
    scratch.dispose();
  }
  return out;
};

/**
 * A p x s matrix of standard normal draws, stored column-major: the draws fill it row by row
 * (draw i·s + j is entry (i, j)), the order the seed has always meant.
 */
function gaussianColumnMajor(p: number, s: number, rng: Rng): Float64Array {
  const a = new Float64Array(p * s);
  for (let i = 0; i < p; i++) for (let j = 0; j < s; j++) a[j * p + i] = rng.normal();
  return a;
}
