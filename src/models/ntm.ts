// Neural Turing machine (Graves et al. 2014): an LSTM controller with read heads and a write
// head over an N × M memory, addressed by content and by location, trained end to end with
// backpropagation through time. The addressing math lives in assembly/ntm.ts; this file owns
// the buffers, the order of the steps and the parameters.
import { ParamStore, Tensor, UnfoldError, Workspace, engine, formatShape } from "../engine/index.js";
import { Rng } from "../data/rng.js";
import { checkKnownOptions, type Initializer } from "../layers/layer.js";
import { constant, glorotUniform, orthogonal } from "../layers/init.js";

export interface NTMOptions {
  /** Features of each input step. */
  inputSize: number;
  /** Logits per output step. */
  outputSize: number;
  /** Hidden units H of the LSTM controller. */
  controllerUnits: number;
  /** Memory locations N. */
  memorySlots: number;
  /** Width M of each memory location. */
  memoryWidth: number;
  /** Read heads R (>= 1); there is one write head. Default 1. */
  readHeads?: number;
  /** Seeds the initial weights. Default 0. */
  seed?: number;
}

export type ResolvedNTMOptions = Required<NTMOptions>;

const KNOWN = ["inputSize", "outputSize", "controllerUnits", "memorySlots", "memoryWidth", "readHeads", "seed"] as const;

/** The memory's starting value: a small constant (Collier & Beel 2018 found it trains best). */
export const NTM_MEMORY_INIT = 1e-6;

function resolve(options: NTMOptions): ResolvedNTMOptions {
  if (!options || typeof options !== "object") throw new UnfoldError("NTM needs options { inputSize, outputSize, controllerUnits, memorySlots, memoryWidth }");
  checkKnownOptions("NTM", options, KNOWN);
  const whole = (name: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new UnfoldError(`NTM: ${name} must be a whole number >= 1, got ${String(v)}`);
    return v;
  };
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UnfoldError(`NTM: seed must be a whole number, got ${seed}`);
  return {
    inputSize: whole("inputSize", options.inputSize),
    outputSize: whole("outputSize", options.outputSize),
    controllerUnits: whole("controllerUnits", options.controllerUnits),
    memorySlots: whole("memorySlots", options.memorySlots),
    memoryWidth: whole("memoryWidth", options.memoryWidth),
    readHeads: whole("readHeads", options.readHeads ?? 1),
    seed,
  };
}

/** One head's buffers: its activated parameters and every addressing stage, over all steps. */
interface HeadBuffers {
  /** First column of the head in the controller's raw head outputs. */
  column: number;
  write: boolean;
  key: Tensor; // [T, B, M]
  beta: Tensor; // [T, B]
  gate: Tensor; // [T, B]
  shift: Tensor; // [T, B, 3]
  gamma: Tensor; // [T, B]
  erase: Tensor | null; // [T, B, M]
  add: Tensor | null; // [T, B, M]
  sim: Tensor; // [T, B, N]
  wc: Tensor; // [T, B, N]
  wg: Tensor; // [T, B, N]
  ws: Tensor; // [T, B, N]
  logw: Tensor; // [T, B, N]
  /** Weightings [T + 1, B, N]; row 0 the initial one (all on location 0). */
  w: Tensor;
}

/**
 * A neural Turing machine over time-major batches x [T, B, inputSize], giving logits
 * [T, B, outputSize]. Each step t:
 *   1. the LSTM controller reads [x_t; r_{t−1}] (r: all read vectors) and gives h_t;
 *   2. h_t gives every head's raw parameters, z_t = W_heads·h_t + b_heads;
 *   3. the write head addresses the memory M_{t−1} (content, interpolation with its previous
 *      weighting, shift, sharpening) and writes: M_t = M_{t−1}⊙(1 − w·eᵀ) + w·aᵀ;
 *   4. each read head addresses M_t the same way and reads r_t = M_tᵀ·w;
 *   5. y_t = W_out·[h_t; r_t] + b_out.
 * Initial state: h, c and r zero, M = 1e-6 everywhere, every weighting on location 0.
 * Parameters (one flat store): `controller.weight_ih` [4H, I + R·M], `controller.weight_hh`
 * [4H, H], `controller.bias_ih`, `controller.bias_hh` [4H] (PyTorch LSTM layout, gates i, f,
 * g, o; forget bias 1); `heads.weight` [P, H], `heads.bias` [P] with P = R·(M + 6) + 3M + 6
 * (read heads first, then the write head; per head key, β, g, shift (3), γ, and for the write
 * head erase and add); `output.weight` [O, H + R·M], `output.bias` [O].
 * The model owns its store and scratch; `dispose()` frees them.
 */
export class NTM {
  readonly options: Readonly<ResolvedNTMOptions>;
  readonly params: ParamStore;
  /** Raw head outputs per step, P. */
  readonly headColumns: number;
  private readonly ws = new Workspace();
  private steps = 0;
  private batch = 0;
  private heads: HeadBuffers[] = [];
  private lastInput: Tensor | null = null;
  private output: Tensor | null = null;
  private disposed = false;

  constructor(options: NTMOptions) {
    const o = resolve(options);
    this.options = Object.freeze(o);
    const { inputSize: I, outputSize: O, controllerUnits: H, memoryWidth: M, readHeads: R } = o;
    this.headColumns = R * (M + 6) + 3 * M + 6;
    const P = this.headColumns;
    const forget: Initializer = (shape) => {
      const b = new Float32Array(shape[0]);
      b.fill(1, H, 2 * H);
      return b;
    };
    const specs = [
      { name: "controller.weight_ih", shape: [4 * H, I + R * M], init: glorotUniform(4) },
      { name: "controller.weight_hh", shape: [4 * H, H], init: orthogonal(4) },
      { name: "controller.bias_ih", shape: [4 * H], init: forget },
      { name: "controller.bias_hh", shape: [4 * H], init: constant(0) },
      { name: "heads.weight", shape: [P, H], init: glorotUniform() },
      { name: "heads.bias", shape: [P], init: constant(0) },
      { name: "output.weight", shape: [O, H + R * M], init: glorotUniform() },
      { name: "output.bias", shape: [O], init: constant(0) },
    ];
    this.params = new ParamStore(specs);
    const rng = new Rng(o.seed);
    for (const s of specs) this.params.write(s.name, s.init(s.shape, rng));
  }

  private checkAlive(): void {
    if (this.disposed) throw new UnfoldError("this NTM was disposed and can no longer be used");
  }

  private p(name: string): number {
    return this.params.ptr(name);
  }

  private g(name: string): number {
    return this.params.gradPtr(name);
  }

  /** The logits of the last forward (owned by the model), or null before the first. */
  get lastOutput(): Tensor | null {
    return this.disposed ? null : this.output;
  }

  /** The [T + 1, B, N] weightings of head `index` in the last forward (read heads 0 … R−1, then the write head); a copy. */
  weightings(index: number): Float32Array {
    this.checkAlive();
    const h = this.heads[index];
    if (!h) throw new UnfoldError(`NTM: no head ${index} in the last forward (it has ${this.heads.length}: read heads 0 … ${this.options.readHeads - 1}, then the write head)`);
    return h.w.toFloat32Array();
  }

  /** The memory after every step of the last forward, [T + 1, B, N, M] (row 0: the initial memory); a copy. */
  memoryHistory(): Float32Array {
    this.checkAlive();
    const { memorySlots: N, memoryWidth: M } = this.options;
    return this.ws.get("mem", [this.steps + 1, this.batch, N, M]).toFloat32Array();
  }

  private headBuffers(index: number, write: boolean): HeadBuffers {
    const { memorySlots: N, memoryWidth: M } = this.options;
    const T = this.steps, B = this.batch;
    const get = (name: string, shape: number[]) => this.ws.get(`head${index}.${name}`, shape);
    return {
      column: index * (M + 6),
      write,
      key: get("key", [T, B, M]),
      beta: get("beta", [T, B]),
      gate: get("gate", [T, B]),
      shift: get("shift", [T, B, 3]),
      gamma: get("gamma", [T, B]),
      erase: write ? get("erase", [T, B, M]) : null,
      add: write ? get("add", [T, B, M]) : null,
      sim: get("sim", [T, B, N]),
      wc: get("wc", [T, B, N]),
      wg: get("wg", [T, B, N]),
      ws: get("ws", [T, B, N]),
      logw: get("logw", [T, B, N]),
      w: get("w", [T + 1, B, N]),
    };
  }

  /**
   * Runs the machine over x [T, B, inputSize] and returns the logits [T, B, outputSize] (owned
   * by the model, valid until its next call).
   */
  forward(x: Tensor): Tensor {
    this.checkAlive();
    const { inputSize: I, outputSize: O, controllerUnits: H, memorySlots: N, memoryWidth: M, readHeads: R } = this.options;
    if (!(x instanceof Tensor) || x.dtype !== "float32" || x.shape.length !== 3 || x.shape[2] !== I || x.shape[0] < 1 || x.shape[1] < 1) {
      throw new UnfoldError(`NTM expected input [T, B, ${I}] (time-major, float32, T and B >= 1), got ${x instanceof Tensor ? `${x.dtype} ${formatShape(x.shape)}` : typeof x}`);
    }
    const k = engine().k;
    if (!k.f32_all_finite(x.ptr, x.size)) throw new UnfoldError(`NTM: input ${formatShape(x.shape)} contains NaN or Infinity`);
    const [T, B] = x.shape;
    this.steps = T;
    this.batch = B;
    const P = this.headColumns, RM = R * M, n = B * H, IR = I + RM;
    const ws = this.ws;
    const gates = ws.get("gates", [T, B, 4 * H]);
    const hs = ws.zeros("hs", [T + 1, B, H]);
    const cs = ws.zeros("cs", [T + 1, B, H]);
    const tanhc = ws.get("tanhc", [T, B, H]);
    const reads = ws.zeros("reads", [T + 1, B, RM]);
    const z = ws.get("z", [T, B, P]);
    const mem = ws.get("mem", [T + 1, B, N, M]);
    const whhT = ws.get("whhT", [H, 4 * H]);
    const bias = ws.get("bias", [4 * H]);
    const memStep = B * N * M * 4;
    k.f32_fill(mem.ptr, NTM_MEMORY_INIT, B * N * M);
    this.heads = [];
    for (let r = 0; r < R; r++) this.heads.push(this.headBuffers(r, false));
    this.heads.push(this.headBuffers(R, true));
    for (const h of this.heads) {
      h.w.fill(0);
      for (let b = 0; b < B; b++) k.f32_fill(h.w.ptr + b * N * 4, 1, 1); // w_0: all on location 0
    }
    // The controller's input projection of x for all steps in one GEMM (W_ih's first I columns).
    k.f32_add(bias.ptr, this.p("controller.bias_ih"), this.p("controller.bias_hh"), 4 * H);
    k.f32_gemm_nt(gates.ptr, x.ptr, this.p("controller.weight_ih"), bias.ptr, T * B, 4 * H, I, I, IR, 4 * H, 0);
    k.f32_transpose(whhT.ptr, this.p("controller.weight_hh"), 4 * H, H);
    const writeHead = this.heads[R];
    for (let t = 0; t < T; t++) {
      // 1. Controller: gates += r_{t−1}·W_ih[:, I:]ᵀ + h_{t−1}·W_hhᵀ, then the LSTM step.
      const g = gates.ptr + t * 4 * n * 4;
      k.f32_gemm_nt(g, reads.ptr + t * B * RM * 4, this.p("controller.weight_ih") + I * 4, 0, B, 4 * H, RM, RM, IR, 4 * H, 1);
      k.f32_gemm_nn(g, hs.ptr + t * n * 4, whhT.ptr, 0, B, 4 * H, H, H, 4 * H, 4 * H, 1);
      const h = hs.ptr + (t + 1) * n * 4;
      k.f32_lstm_forward_step(h, cs.ptr + (t + 1) * n * 4, tanhc.ptr + t * n * 4, g, cs.ptr + t * n * 4, 0, B, H);
      // 2. Raw head parameters.
      const zt = z.ptr + t * B * P * 4;
      k.f32_gemm_nt(zt, h, this.p("heads.weight"), this.p("heads.bias"), B, P, H, H, H, P, 0);
      // 3. Write head: address M_{t−1}, write M_t.
      const memPrev = mem.ptr + t * memStep, memNow = mem.ptr + (t + 1) * memStep;
      this.addressForward(writeHead, t, zt, memPrev);
      k.f32_ntm_write_forward(memNow, memPrev, writeHead.w.ptr + (t + 1) * B * N * 4, writeHead.erase!.ptr + t * B * M * 4, writeHead.add!.ptr + t * B * M * 4, B, N, M);
      // 4. Read heads: address M_t, read into r_t.
      for (let r = 0; r < R; r++) {
        const head = this.heads[r];
        this.addressForward(head, t, zt, memNow);
        k.f32_ntm_read_forward(reads.ptr + ((t + 1) * B * RM + r * M) * 4, RM, head.w.ptr + (t + 1) * B * N * 4, memNow, B, N, M);
      }
    }
    // 5. Outputs of all steps in one GEMM over [h_t; r_t].
    const outIn = ws.get("outIn", [T, B, H + RM]);
    k.f32_copy_cols(outIn.ptr, H + RM, hs.ptr + n * 4, H, T * B, H, 0);
    k.f32_copy_cols(outIn.ptr + H * 4, H + RM, reads.ptr + B * RM * 4, RM, T * B, RM, 0);
    const logits = ws.get("logits", [T, B, O]);
    k.f32_gemm_nt(logits.ptr, outIn.ptr, this.p("output.weight"), this.p("output.bias"), T * B, O, H + RM, H + RM, H + RM, O, 0);
    this.lastInput = x;
    this.output = logits;
    return logits;
  }

  /** One head's parameters from z_t and its addressing against `memory`: fills row t of its buffers and row t + 1 of its weightings. */
  private addressForward(head: HeadBuffers, t: number, zt: number, memory: number): void {
    const k = engine().k;
    const { memorySlots: N, memoryWidth: M } = this.options;
    const B = this.batch, P = this.headColumns;
    const vec = (tensor: Tensor, width: number) => tensor.ptr + t * B * width * 4;
    const key = vec(head.key, M), beta = vec(head.beta, 1), gate = vec(head.gate, 1), shift = vec(head.shift, 3), gamma = vec(head.gamma, 1);
    k.f32_ntm_head_forward(key, beta, gate, shift, gamma, head.erase ? vec(head.erase, M) : 0, head.add ? vec(head.add, M) : 0, zt + head.column * 4, P, B, M);
    const wc = vec(head.wc, N), wg = vec(head.wg, N), wsh = vec(head.ws, N);
    k.f32_ntm_content_forward(wc, vec(head.sim, N), key, beta, memory, B, N, M);
    k.f32_ntm_interpolate_forward(wg, wc, head.w.ptr + t * B * N * 4, gate, B, N);
    k.f32_ntm_shift_forward(wsh, wg, shift, B, N);
    k.f32_ntm_sharpen_forward(head.w.ptr + (t + 1) * B * N * 4, vec(head.logw, N), wsh, gamma, B, N);
  }

  /**
   * Back through the last forward from dL/dlogits [T, B, outputSize]: ADDS into the parameter
   * gradients (backpropagation through time over the controller, the heads and the memory).
   */
  backward(dlogits: Tensor): void {
    this.checkAlive();
    const x = this.lastInput;
    if (!x || x.disposed) throw new UnfoldError("NTM: backward needs a forward first (and its input alive)");
    const { inputSize: I, outputSize: O, controllerUnits: H, memorySlots: N, memoryWidth: M, readHeads: R } = this.options;
    const T = this.steps, B = this.batch;
    if (dlogits.shape.length !== 3 || dlogits.shape[0] !== T || dlogits.shape[1] !== B || dlogits.shape[2] !== O) {
      throw new UnfoldError(`NTM expected the logits' gradient [${T}, ${B}, ${O}], got ${formatShape(dlogits.shape)}`);
    }
    const k = engine().k;
    const ws = this.ws;
    const P = this.headColumns, RM = R * M, n = B * H, IR = I + RM, HR = H + RM;
    const memStep = B * N * M * 4;
    const gates = ws.get("gates", [T, B, 4 * H]);
    const hs = ws.get("hs", [T + 1, B, H]);
    const cs = ws.get("cs", [T + 1, B, H]);
    const tanhc = ws.get("tanhc", [T, B, H]);
    const reads = ws.get("reads", [T + 1, B, RM]);
    const z = ws.get("z", [T, B, P]);
    const mem = ws.get("mem", [T + 1, B, N, M]);
    const outIn = ws.get("outIn", [T, B, HR]);
    // Output layer: dW_out += dYᵀ·[h; r], db_out += Σ dY, d[h; r] = dY·W_out.
    k.f32_gemm_tn(this.g("output.weight"), dlogits.ptr, outIn.ptr, 0, O, HR, T * B, O, HR, HR, 1);
    k.f32_sum_rows(this.g("output.bias"), dlogits.ptr, T * B, O, 1);
    const dOutIn = ws.get("dOutIn", [T, B, HR]);
    k.f32_gemm_nn(dOutIn.ptr, dlogits.ptr, this.p("output.weight"), 0, T * B, HR, O, O, HR, HR, 0);

    const dgates = ws.get("dgates", [T, B, 4 * H]);
    const dz = ws.get("dz", [T, B, P]);
    const dh = ws.zeros("dh", [B, H]);
    const dc = ws.zeros("dc", [B, H]);
    const dr = ws.get("dr", [B, RM]);
    const drNext = ws.zeros("drNext", [B, RM]); // dL/dr_t through the controller's input at t + 1
    let dMem = ws.zeros("dMemA", [B, N, M]); // dL/dM_t, all later uses summed
    let dMemPrev = ws.get("dMemB", [B, N, M]);
    const dwNext = this.heads.map((_, i) => ws.zeros(`head${i}.dwNext`, [B, N])); // dL/dw_t through step t + 1's interpolation
    const scratch = {
      dkey: ws.get("dkey", [B, M]), dbeta: ws.get("dbeta", [B]), dgate: ws.get("dgate", [B]), dshift: ws.get("dshift", [B, 3]), dgamma: ws.get("dgamma", [B]),
      derase: ws.get("derase", [B, M]), dadd: ws.get("dadd", [B, M]),
      dw: ws.get("dw", [B, N]), dws: ws.get("dws", [B, N]), dwg: ws.get("dwg", [B, N]), dwc: ws.get("dwc", [B, N]),
    };
    const writeHead = this.heads[R];
    for (let t = T - 1; t >= 0; t--) {
      const memNow = mem.ptr + (t + 1) * memStep, memPrev = mem.ptr + t * memStep;
      const zt = z.ptr + t * B * P * 4, dzt = dz.ptr + t * B * P * 4;
      // dL/dr_t: from the output at t and from the controller at t + 1.
      k.f32_copy_cols(dr.ptr, RM, dOutIn.ptr + (t * B * HR + H) * 4, HR, B, RM, 0);
      k.f32_axpy(dr.ptr, 1, drNext.ptr, B * RM);
      // Read heads (they read M_t): read, then addressing, backwards.
      for (let r = 0; r < R; r++) {
        const head = this.heads[r];
        k.f32_copy(scratch.dw.ptr, dwNext[r].ptr, B * N);
        k.f32_ntm_read_backward(scratch.dw.ptr, dMem.ptr, dr.ptr + r * M * 4, RM, head.w.ptr + (t + 1) * B * N * 4, memNow, B, N, M);
        this.addressBackward(head, t, zt, dzt, memNow, dMem.ptr, dwNext[r].ptr, scratch);
      }
      // Write head: dM_t through the write gives dM_{t−1}; its addressing read M_{t−1}.
      k.f32_copy(scratch.dw.ptr, dwNext[R].ptr, B * N);
      scratch.derase.fill(0);
      scratch.dadd.fill(0);
      k.f32_ntm_write_backward(dMemPrev.ptr, scratch.dw.ptr, scratch.derase.ptr, scratch.dadd.ptr, dMem.ptr, memPrev, writeHead.w.ptr + (t + 1) * B * N * 4, writeHead.erase!.ptr + t * B * M * 4, writeHead.add!.ptr + t * B * M * 4, B, N, M);
      this.addressBackward(writeHead, t, zt, dzt, memPrev, dMemPrev.ptr, dwNext[R].ptr, scratch);
      [dMem, dMemPrev] = [dMemPrev, dMem];
      // dL/dh_t: the output's share, the heads' share (dz_t·W_heads), and the controller's from t + 1 (already in dh).
      k.f32_copy_cols(dh.ptr, H, dOutIn.ptr + t * B * HR * 4, HR, B, H, 1);
      k.f32_gemm_nn(dh.ptr, dzt, this.p("heads.weight"), 0, B, H, P, P, H, H, 1);
      // Controller LSTM step; then dh_{t−1} = dgates·W_hh and dr_{t−1} = dgates·W_ih[:, I:].
      const dg = dgates.ptr + t * 4 * n * 4;
      k.f32_lstm_backward_step(dg, dc.ptr, 0, dh.ptr, gates.ptr + t * 4 * n * 4, cs.ptr + t * n * 4, cs.ptr + (t + 1) * n * 4, tanhc.ptr + t * n * 4, 0, B, H);
      k.f32_gemm_nn(dh.ptr, dg, this.p("controller.weight_hh"), 0, B, H, 4 * H, 4 * H, H, H, 0);
      k.f32_gemm_nn(drNext.ptr, dg, this.p("controller.weight_ih") + I * 4, 0, B, RM, 4 * H, 4 * H, IR, RM, 0);
    }
    // Weight gradients of all steps at once.
    k.f32_gemm_tn(this.g("controller.weight_ih"), dgates.ptr, x.ptr, 0, 4 * H, I, T * B, 4 * H, I, IR, 1);
    k.f32_gemm_tn(this.g("controller.weight_ih") + I * 4, dgates.ptr, reads.ptr, 0, 4 * H, RM, T * B, 4 * H, RM, IR, 1);
    k.f32_gemm_tn(this.g("controller.weight_hh"), dgates.ptr, hs.ptr, 0, 4 * H, H, T * B, 4 * H, H, H, 1);
    k.f32_sum_rows(this.g("controller.bias_ih"), dgates.ptr, T * B, 4 * H, 1);
    k.f32_sum_rows(this.g("controller.bias_hh"), dgates.ptr, T * B, 4 * H, 1);
    k.f32_gemm_tn(this.g("heads.weight"), dz.ptr, hs.ptr + n * 4, 0, P, H, T * B, P, H, H, 1);
    k.f32_sum_rows(this.g("heads.bias"), dz.ptr, T * B, P, 1);
  }

  /**
   * One head's addressing backwards at step t, from dL/dw_t (in scratch.dw): sharpening, shift,
   * interpolation (dL/dw_{t−1} goes to `dwPrev`, which is overwritten), content (dL/dM added to
   * `dmem`), and the head's raw outputs (their gradient written into row t of dz).
   */
  private addressBackward(head: HeadBuffers, t: number, zt: number, dzt: number, memory: number, dmem: number, dwPrev: number, s: Record<string, Tensor>): void {
    const k = engine().k;
    const { memorySlots: N, memoryWidth: M } = this.options;
    const B = this.batch, P = this.headColumns;
    const vec = (tensor: Tensor, width: number) => tensor.ptr + t * B * width * 4;
    for (const name of ["dkey", "dbeta", "dgate", "dshift", "dgamma"]) s[name].fill(0);
    const key = vec(head.key, M), beta = vec(head.beta, 1), gate = vec(head.gate, 1), shift = vec(head.shift, 3), gamma = vec(head.gamma, 1);
    const wc = vec(head.wc, N), wg = vec(head.wg, N), wsh = vec(head.ws, N);
    k.f32_ntm_sharpen_backward(s.dws.ptr, s.dgamma.ptr, s.dw.ptr, head.w.ptr + (t + 1) * B * N * 4, vec(head.logw, N), wsh, gamma, B, N);
    k.f32_ntm_shift_backward(s.dwg.ptr, s.dshift.ptr, s.dws.ptr, wg, shift, B, N);
    k.f32_fill(dwPrev, 0, B * N);
    k.f32_ntm_interpolate_backward(s.dwc.ptr, dwPrev, s.dgate.ptr, s.dwg.ptr, wc, head.w.ptr + t * B * N * 4, gate, B, N);
    k.f32_ntm_content_backward(s.dkey.ptr, s.dbeta.ptr, dmem, s.dwc.ptr, wc, vec(head.sim, N), key, beta, memory, B, N, M);
    k.f32_ntm_head_backward(
      dzt + head.column * 4, P, s.dkey.ptr, s.dbeta.ptr, s.dgate.ptr, s.dshift.ptr, s.dgamma.ptr,
      head.write ? s.derase.ptr : 0, head.write ? s.dadd.ptr : 0,
      zt + head.column * 4, key, gate, shift, head.erase ? vec(head.erase, M) : 0, head.add ? vec(head.add, M) : 0, B, M,
    );
  }

  private checkTargets(y: Tensor, mask: Tensor | null): void {
    const { outputSize: O } = this.options;
    const T = this.steps, B = this.batch;
    if (!(y instanceof Tensor) || y.dtype !== "float32" || y.shape.length !== 3 || y.shape[0] !== T || y.shape[1] !== B || y.shape[2] !== O) {
      throw new UnfoldError(`NTM expected targets [${T}, ${B}, ${O}] like the output, got ${y instanceof Tensor ? formatShape(y.shape) : typeof y}`);
    }
    if (mask && (mask.dtype !== "float32" || mask.size !== T * B)) throw new UnfoldError(`NTM expected a float32 row mask [${T}, ${B}], got ${mask.dtype} ${formatShape(mask.shape)}`);
  }

  /**
   * Sigmoid binary cross-entropy of the logits against targets y [T, B, outputSize] in [0, 1],
   * averaged over the output features, summed over the counted steps (mask [T, B] of 0/1, or all)
   * and averaged over the batch; its gradient is left in `dlogits` of the workspace.
   */
  private bce(logits: Tensor, y: Tensor, mask: Tensor | null): { loss: number; dlogits: Tensor } {
    this.checkTargets(y, mask);
    const { outputSize: O } = this.options;
    const T = this.steps, B = this.batch;
    const dlogits = this.ws.get("dlogits", [T, B, O]);
    const sum = engine().k.f32_sigmoid_bce(dlogits.ptr, logits.ptr, y.ptr, mask ? mask.ptr : 0, T * B, O, 1 / B);
    return { loss: sum / B, dlogits };
  }

  /** The loss of x against y (see `lossAndGradients`), without gradients. */
  computeLoss(x: Tensor, y: Tensor, mask: Tensor | null = null): number {
    return this.bce(this.forward(x), y, mask).loss;
  }

  /**
   * Forward, loss and backward: sigmoid binary cross-entropy over the steps `mask` counts (all
   * when null), per sequence (summed over steps, averaged over features and the batch). The
   * gradients are left in `params.grads` (zeroed first). Returns the loss.
   */
  lossAndGradients(x: Tensor, y: Tensor, mask: Tensor | null = null): number {
    const { loss, dlogits } = this.bce(this.forward(x), y, mask);
    this.params.zeroGrads();
    this.backward(dlogits);
    return loss;
  }

  dispose(): void {
    if (this.disposed) return;
    this.ws.dispose();
    this.params.dispose();
    this.heads = [];
    this.lastInput = null;
    this.output = null;
    this.disposed = true;
  }
}
