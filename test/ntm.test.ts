import { afterEach, describe, expect, it } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { bitErrors, copyTaskBatch } from "../src/data/copy-task.js";
import { NTM } from "../src/models/ntm.js";
import { checkGradients, type GradientCheckInput } from "../src/train/gradcheck.js";
import { Adam } from "../src/train/optimizers.js";
import { expectBitEqual, expectClose, freeAll, get, k, put, rand } from "./helpers.js";

/**
 * A finite-difference check of one kernel stage: `inputs` are perturbed; `forward` runs the
 * stage and returns its output pointer and size; `backward(dout)` runs the stage's backward
 * with dL/dout = R (fixed random) into the gradient tensors, which it returns by input name.
 * The loss is L = Σ out ⊙ R.
 */
function checkStage(
  name: string,
  inputs: Record<string, Tensor>,
  forward: () => { ptr: number; size: number },
  backward: (dout: Tensor) => Record<string, Tensor>,
  epsilon = 1e-2,
): void {
  const probe = forward();
  const R = Tensor.fromArray(rand(probe.size, probe.size + 17), [probe.size]);
  const r = R.toFloat32Array();
  const loss = () => {
    const out = forward();
    const y = get(out.ptr, out.size);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * r[i];
    return s;
  };
  let grads: Record<string, Tensor> = {};
  const lossAndGrad = () => {
    const l = loss();
    grads = backward(R);
    return l;
  };
  const list: GradientCheckInput[] = Object.entries(inputs).map(([n, t]) => ({ name: `${name}: ${n}`, values: t, grad: () => grads[n].toFloat32Array() }));
  const report = checkGradients({ loss, lossAndGrad, inputs: list, epsilon, directions: 3, seed: 5 });
  expect(report.results.filter((x) => !x.ok).map((x) => `${x.name}: analytic ${x.analytic}, numeric ${x.numeric}`)).toEqual([]);
  for (const [n, g] of Object.entries(grads)) expect(g.toFloat32Array().some((v) => v !== 0), `${name}: gradient of ${n} is all zeros`).toBe(true);
  R.dispose();
}

/** Softmax rows of random logits: a valid weighting (B, N). */
function weighting(B: number, N: number, seed: number): Float32Array {
  const z = rand(B * N, seed, -2, 2);
  const out = new Float32Array(B * N);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < N; i++) s += (out[b * N + i] = Math.exp(z[b * N + i]));
    for (let i = 0; i < N; i++) out[b * N + i] /= s;
  }
  return out;
}

const B = 2, N = 7, M = 5;
const T = (data: Float32Array, shape: number[]) => Tensor.fromArray(data, shape);

describe("NTM addressing stages: finite differences", () => {
  it("head parameters (tanh, softplus, sigmoid, softmax, 1 + softplus) for a read and a write head", () => {
    for (const write of [false, true]) {
      const P = write ? 3 * M + 6 : M + 6, ld = P + 3; // the head's columns inside wider rows
      const z = T(rand(B * ld, 3, -2, 2), [B, ld]);
      const outs = { key: new Tensor([B, M]), beta: new Tensor([B]), gate: new Tensor([B]), shift: new Tensor([B, 3]), gamma: new Tensor([B]), erase: new Tensor([B, M]), add: new Tensor([B, M]) };
      const all = new Tensor([B * (3 * M + 6)]);
      const names = write ? Object.keys(outs) : ["key", "beta", "gate", "shift", "gamma"];
      const forward = () => {
        k().f32_ntm_head_forward(outs.key.ptr, outs.beta.ptr, outs.gate.ptr, outs.shift.ptr, outs.gamma.ptr, write ? outs.erase.ptr : 0, write ? outs.add.ptr : 0, z.ptr + 4, ld, B, M);
        // Concatenate the outputs into one vector for the loss.
        let off = 0;
        for (const n of names) {
          const t = outs[n as keyof typeof outs];
          k().f32_copy(all.ptr + off * 4, t.ptr, t.size);
          off += t.size;
        }
        return { ptr: all.ptr, size: off };
      };
      const dz = new Tensor([B, ld]);
      const backward = (dout: Tensor) => {
        const d: Record<string, Tensor> = {};
        let off = 0;
        for (const n of Object.keys(outs)) {
          const t = outs[n as keyof typeof outs];
          d[n] = names.includes(n) ? Tensor.view(dout, off, t.shape) : new Tensor(t.shape);
          if (names.includes(n)) off += t.size;
        }
        dz.fill(0);
        k().f32_ntm_head_backward(dz.ptr + 4, ld, d.key.ptr, d.beta.ptr, d.gate.ptr, d.shift.ptr, d.gamma.ptr, write ? d.erase.ptr : 0, write ? d.add.ptr : 0, z.ptr + 4, outs.key.ptr, outs.gate.ptr, outs.shift.ptr, write ? outs.erase.ptr : 0, write ? outs.add.ptr : 0, B, M);
        return { z: dz };
      };
      // The columns outside the head get no gradient; check the head's own columns through z.
      checkStage(write ? "write head parameters" : "read head parameters", { z }, forward, backward);
      for (const t of [z, all, dz, ...Object.values(outs)]) t.dispose();
    }
  });

  it("content addressing: softmax(β·cosine(k, M_i)) — key, key strength and memory", () => {
    const key = T(rand(B * M, 1), [B, M]), beta = T(Float32Array.from([2.5, 0.7]), [B]), mem = T(rand(B * N * M, 2), [B, N, M]);
    const wc = new Tensor([B, N]), sim = new Tensor([B, N]);
    const dkey = new Tensor([B, M]), dbeta = new Tensor([B]), dmem = new Tensor([B, N, M]);
    checkStage("content", { key, beta, mem }, () => {
      k().f32_ntm_content_forward(wc.ptr, sim.ptr, key.ptr, beta.ptr, mem.ptr, B, N, M);
      return { ptr: wc.ptr, size: wc.size };
    }, (dwc) => {
      for (const t of [dkey, dbeta, dmem]) t.fill(0);
      k().f32_ntm_content_backward(dkey.ptr, dbeta.ptr, dmem.ptr, dwc.ptr, wc.ptr, sim.ptr, key.ptr, beta.ptr, mem.ptr, B, N, M);
      return { key: dkey, beta: dbeta, mem: dmem };
    });
  });

  it("interpolation with the previous weighting: gate, content weighting, previous weighting", () => {
    const wc = T(weighting(B, N, 3), [B, N]), wprev = T(weighting(B, N, 4), [B, N]), gate = T(Float32Array.from([0.3, 0.8]), [B]);
    const wg = new Tensor([B, N]), dwc = new Tensor([B, N]), dwprev = new Tensor([B, N]), dgate = new Tensor([B]);
    checkStage("interpolation", { wc, wprev, gate }, () => {
      k().f32_ntm_interpolate_forward(wg.ptr, wc.ptr, wprev.ptr, gate.ptr, B, N);
      return { ptr: wg.ptr, size: wg.size };
    }, (dwg) => {
      dwprev.fill(0);
      dgate.fill(0);
      k().f32_ntm_interpolate_backward(dwc.ptr, dwprev.ptr, dgate.ptr, dwg.ptr, wc.ptr, wprev.ptr, gate.ptr, B, N);
      return { wc: dwc, wprev: dwprev, gate: dgate };
    });
  });

  it("circular shift (3 wide): weighting and shift weights, also for N = 1 and 2", () => {
    for (const n of [N, 1, 2]) {
      const wg = T(weighting(B, n, 5), [B, n]), shift = T(weighting(B, 3, 6), [B, 3]);
      const ws = new Tensor([B, n]), dwg = new Tensor([B, n]), dshift = new Tensor([B, 3]);
      checkStage(`shift N=${n}`, { wg, shift }, () => {
        k().f32_ntm_shift_forward(ws.ptr, wg.ptr, shift.ptr, B, n);
        return { ptr: ws.ptr, size: ws.size };
      }, (dws) => {
        dshift.fill(0);
        k().f32_ntm_shift_backward(dwg.ptr, dshift.ptr, dws.ptr, wg.ptr, shift.ptr, B, n);
        return { wg: dwg, shift: dshift };
      });
    }
  });

  it("sharpening w̃^γ / Σ w̃^γ: weighting and γ", () => {
    const ws = T(weighting(B, N, 7), [B, N]), gamma = T(Float32Array.from([1.7, 3.2]), [B]);
    const w = new Tensor([B, N]), logw = new Tensor([B, N]), dws = new Tensor([B, N]), dgamma = new Tensor([B]);
    checkStage("sharpen", { ws, gamma }, () => {
      k().f32_ntm_sharpen_forward(w.ptr, logw.ptr, ws.ptr, gamma.ptr, B, N);
      return { ptr: w.ptr, size: w.size };
    }, (dw) => {
      dgamma.fill(0);
      k().f32_ntm_sharpen_backward(dws.ptr, dgamma.ptr, dw.ptr, w.ptr, logw.ptr, ws.ptr, gamma.ptr, B, N);
      return { ws: dws, gamma: dgamma };
    }, 1e-3);
  });

  it("read r = Mᵀw: weighting and memory", () => {
    const w = T(weighting(B, N, 8), [B, N]), mem = T(rand(B * N * M, 9), [B, N, M]);
    const r = new Tensor([B, M]), dw = new Tensor([B, N]), dmem = new Tensor([B, N, M]);
    checkStage("read", { w, mem }, () => {
      k().f32_ntm_read_forward(r.ptr, M, w.ptr, mem.ptr, B, N, M);
      return { ptr: r.ptr, size: r.size };
    }, (dr) => {
      dw.fill(0);
      dmem.fill(0);
      k().f32_ntm_read_backward(dw.ptr, dmem.ptr, dr.ptr, M, w.ptr, mem.ptr, B, N, M);
      return { w: dw, mem: dmem };
    });
  });

  it("erase and add write: previous memory, weighting, erase and add vectors", () => {
    const memPrev = T(rand(B * N * M, 10), [B, N, M]), w = T(weighting(B, N, 11), [B, N]);
    const erase = T(rand(B * M, 12, 0.1, 0.9), [B, M]), add = T(rand(B * M, 13), [B, M]);
    const mem = new Tensor([B, N, M]), dmemPrev = new Tensor([B, N, M]), dw = new Tensor([B, N]), derase = new Tensor([B, M]), dadd = new Tensor([B, M]);
    checkStage("write", { memPrev, w, erase, add }, () => {
      k().f32_ntm_write_forward(mem.ptr, memPrev.ptr, w.ptr, erase.ptr, add.ptr, B, N, M);
      return { ptr: mem.ptr, size: mem.size };
    }, (dmem) => {
      for (const t of [dw, derase, dadd]) t.fill(0);
      k().f32_ntm_write_backward(dmemPrev.ptr, dw.ptr, derase.ptr, dadd.ptr, dmem.ptr, memPrev.ptr, w.ptr, erase.ptr, add.ptr, B, N, M);
      return { memPrev: dmemPrev, w: dw, erase: derase, add: dadd };
    });
  });
});

describe("NTM kernels: SIMD = scalar twins, and the forward formulas", () => {
  afterEach(freeAll);

  it("content, read and write, forward and backward, bit for bit over widths around the SIMD width", () => {
    for (const width of [1, 2, 3, 4, 5, 7, 8, 9, 16, 17]) {
      const slots = 6, batch = 2;
      const key = rand(batch * width, width), beta = Float32Array.from([1.5, 4]), memory = rand(batch * slots * width, width + 1);
      const w = weighting(batch, slots, width + 2), erase = rand(batch * width, width + 3, 0, 1), add = rand(batch * width, width + 4);
      const d = rand(batch * slots * width, width + 5), dwc = rand(batch * slots, width + 6), dr = rand(batch * width, width + 7);
      const run = (scalar: boolean) => {
        const s = scalar ? "_scalar" : "";
        const kk = k() as unknown as Record<string, (...a: number[]) => void>;
        const wc = put(new Float32Array(batch * slots)), sim = put(new Float32Array(batch * slots));
        const kp = put(key), bp = put(beta), mp = put(memory), wp = put(w), ep = put(erase), ap = put(add);
        kk[`f32_ntm_content_forward${s}`](wc, sim, kp, bp, mp, batch, slots, width);
        const dk = put(new Float32Array(batch * width)), db = put(new Float32Array(batch)), dm = put(new Float32Array(batch * slots * width));
        kk[`f32_ntm_content_backward${s}`](dk, db, dm, put(dwc), wc, sim, kp, bp, mp, batch, slots, width);
        const r = put(new Float32Array(batch * width));
        kk[`f32_ntm_read_forward${s}`](r, width, wp, mp, batch, slots, width);
        const dw = put(new Float32Array(batch * slots)), dm2 = put(new Float32Array(batch * slots * width));
        kk[`f32_ntm_read_backward${s}`](dw, dm2, put(dr), width, wp, mp, batch, slots, width);
        const mem2 = put(new Float32Array(batch * slots * width));
        kk[`f32_ntm_write_forward${s}`](mem2, mp, wp, ep, ap, batch, slots, width);
        const dmp = put(new Float32Array(batch * slots * width)), dw2 = put(new Float32Array(batch * slots)), de = put(new Float32Array(batch * width)), da = put(new Float32Array(batch * width));
        kk[`f32_ntm_write_backward${s}`](dmp, dw2, de, da, put(d), mp, wp, ep, ap, batch, slots, width);
        const n = batch * slots, nm = n * width, bm = batch * width;
        return [get(wc, n), get(sim, n), get(dk, bm), get(db, batch), get(dm, nm), get(r, bm), get(dw, n), get(dm2, nm), get(mem2, nm), get(dmp, nm), get(dw2, n), get(de, bm), get(da, bm)];
      };
      const simd = run(false), scalar = run(true);
      simd.forEach((v, i) => expectBitEqual(v, scalar[i], `output ${i} M=${width}`));
      // Forward formulas against float64.
      const cos = new Float64Array(batch * slots), rRef = new Float64Array(batch * width), memRef = new Float64Array(batch * slots * width);
      for (let b = 0; b < batch; b++) {
        let kn = 0;
        for (let j = 0; j < width; j++) kn += key[b * width + j] ** 2;
        for (let i = 0; i < slots; i++) {
          let u = 0, mn = 0;
          for (let j = 0; j < width; j++) {
            const m = memory[(b * slots + i) * width + j];
            u += key[b * width + j] * m;
            mn += m * m;
            rRef[b * width + j] += w[b * slots + i] * m;
            memRef[(b * slots + i) * width + j] = m * (1 - w[b * slots + i] * erase[b * width + j]) + w[b * slots + i] * add[b * width + j];
          }
          cos[b * slots + i] = u / (Math.sqrt(kn) * Math.sqrt(mn) + 1e-8);
        }
      }
      expectClose(simd[1], cos, 1e-6, 1e-5, `cosine M=${width}`);
      expectClose(simd[5], rRef, 1e-6, 1e-5, `read M=${width}`);
      expectClose(simd[8], memRef, 1e-6, 1e-5, `write M=${width}`);
      freeAll();
    }
  });

  it("head parameters match their float64 formulas", () => {
    const width = 3, P = 3 * width + 6;
    const z = rand(P, 21, -4, 4);
    const out = { key: put(new Float32Array(width)), beta: put(new Float32Array(1)), gate: put(new Float32Array(1)), shift: put(new Float32Array(3)), gamma: put(new Float32Array(1)), erase: put(new Float32Array(width)), add: put(new Float32Array(width)) };
    k().f32_ntm_head_forward(out.key, out.beta, out.gate, out.shift, out.gamma, out.erase, out.add, put(z), P, 1, width);
    const softplus = (v: number) => Math.log1p(Math.exp(v));
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const e = [0, 1, 2].map((q) => Math.exp(z[width + 2 + q]));
    const sum = e[0] + e[1] + e[2];
    expectClose(get(out.key, width), Array.from(z.subarray(0, width), Math.tanh), 1e-6, 0, "key");
    expectClose(get(out.beta, 1), [softplus(z[width])], 1e-6, 1e-6, "β");
    expectClose(get(out.gate, 1), [sig(z[width + 1])], 1e-6, 0, "g");
    expectClose(get(out.shift, 3), e.map((v) => v / sum), 1e-6, 1e-6, "shift");
    expectClose(get(out.gamma, 1), [1 + softplus(z[width + 5])], 1e-6, 1e-6, "γ");
    expectClose(get(out.erase, width), Array.from(z.subarray(width + 6, 2 * width + 6), sig), 1e-6, 0, "erase");
    expectClose(get(out.add, width), Array.from(z.subarray(2 * width + 6), Math.tanh), 1e-6, 0, "add");
  });

  it("a shift of +1 moves the focus one location forward (circularly); sharpening with γ = 1 changes nothing", () => {
    const wg = put(Float32Array.from([0.1, 0.2, 0.7, 0, 0])), s = put(Float32Array.from([0, 0, 1]));
    const ws = put(new Float32Array(5));
    k().f32_ntm_shift_forward(ws, wg, s, 1, 5);
    expectClose(get(ws, 5), [0, 0.1, 0.2, 0.7, 0].map(Math.fround), 0, 0, "shift +1");
    const sBack = put(Float32Array.from([1, 0, 0]));
    k().f32_ntm_shift_forward(ws, wg, sBack, 1, 5);
    expectClose(get(ws, 5), [0.2, 0.7, 0, 0, 0.1].map(Math.fround), 0, 0, "shift −1");
    const w = put(new Float32Array(5)), logw = put(new Float32Array(5));
    k().f32_ntm_sharpen_forward(w, logw, wg, put(Float32Array.from([1])), 1, 5);
    expectClose(get(w, 5), [0.1, 0.2, 0.7, 0, 0], 1e-6, 1e-6, "sharpen γ = 1");
  });
});

describe("NTM", () => {
  it("finite differences of every parameter through the whole machine (BPTT over controller, heads and memory)", () => {
    const ntm = new NTM({ inputSize: 3, outputSize: 2, controllerUnits: 5, memorySlots: 6, memoryWidth: 5, readHeads: 2, seed: 1 });
    const rng = new Rng(3);
    const steps = 5, batch = 2;
    const x = Tensor.fromArray(Float32Array.from({ length: steps * batch * 3 }, () => rng.uniform(-1, 1)), [steps, batch, 3]);
    const y = Tensor.fromArray(Float32Array.from({ length: steps * batch * 2 }, () => rng.next()), [steps, batch, 2]);
    const mask = Tensor.fromArray(Float32Array.from({ length: steps * batch }, (_, i) => (i < 2 ? 0 : 1)), [steps, batch]);
    // Random ±1 directions over a whole parameter tensor: each check sums many elements, so the
    // float32 noise of the loss stays far below the directional derivative (atol tightened).
    const inputs = ntm.params.entries.map((e) => ({ name: e.name, values: Tensor.view(ntm.params.values, e.offset, e.shape), grad: () => ntm.params.readGrad(e.name) }));
    const report = checkGradients({ loss: () => ntm.computeLoss(x, y, mask), lossAndGrad: () => ntm.lossAndGradients(x, y, mask), inputs, directions: 3, seed: 4, atol: 1e-6 });
    expect(report.results.filter((r) => !r.ok).map((r) => `${r.name}: analytic ${r.analytic}, numeric ${r.numeric}`)).toEqual([]);
    for (const e of ntm.params.entries) expect(ntm.params.readGrad(e.name).some((v) => v !== 0), `gradient of ${e.name}`).toBe(true);
    for (const t of [x, y, mask]) t.dispose();
    ntm.dispose();
  });

  it("learns the copy task on lengths 1–5 (and is deterministic)", () => {
    const train = (iterations: number) => {
      const ntm = new NTM({ inputSize: 9, outputSize: 8, controllerUnits: 64, memorySlots: 32, memoryWidth: 8, seed: 1 });
      const optimizer = new Adam({ lr: 1e-3, clipNorm: 10 });
      const rng = new Rng(5);
      const batch = 16;
      for (let it = 0; it < iterations; it++) {
        const d = copyTaskBatch(batch, 1 + rng.int(5), { rng });
        const x = Tensor.fromArray(d.x, [d.steps, batch, 9]), y = Tensor.fromArray(d.y, [d.steps, batch, 8]), m = Tensor.fromArray(d.mask, [d.steps, batch]);
        ntm.lossAndGradients(x, y, m);
        optimizer.step(ntm.params);
        for (const t of [x, y, m]) t.dispose();
      }
      // Held out: 64 new sequences of each length 1–5.
      const test = new Rng(99);
      let errors = 0, sequences = 0;
      for (let L = 1; L <= 5; L++) {
        const d = copyTaskBatch(64, L, { rng: test });
        const x = Tensor.fromArray(d.x, [d.steps, 64, 9]);
        errors += bitErrors(ntm.forward(x).toFloat32Array(), d.y, d.mask, 64, 8).reduce((a, b) => a + b, 0);
        sequences += 64;
        x.dispose();
      }
      const weights = ntm.params.values.toFloat32Array();
      optimizer.dispose();
      ntm.dispose();
      return { errorsPerSequence: errors / sequences, weights };
    };
    // Chance is 4 bits per vector, 12 per sequence on average; a model that learned copies nearly all.
    expect(train(3000).errorsPerSequence).toBeLessThan(0.5);
    expectBitEqual(train(50).weights, train(50).weights, "weights after two identical runs");
  }, 60_000);

  it("names what is wrong with its options and inputs", () => {
    expect(() => new NTM({ inputSize: 3, outputSize: 2, controllerUnits: 4, memorySlots: 0, memoryWidth: 3 })).toThrow(/memorySlots must be a whole number >= 1/);
    expect(() => new NTM({ inputSize: 3, outputSize: 2, controllerUnits: 4, memorySlots: 4, memoryWidth: 3, writeHeads: 2 } as never)).toThrow(/unknown option "writeHeads"/);
    const ntm = new NTM({ inputSize: 3, outputSize: 2, controllerUnits: 4, memorySlots: 4, memoryWidth: 3 });
    const x = Tensor.zeros([4, 2, 5]);
    expect(() => ntm.forward(x)).toThrow(/NTM expected input \[T, B, 3\].*\[4, 2, 5\]/);
    const good = Tensor.zeros([4, 2, 3]);
    expect(() => ntm.lossAndGradients(good, Tensor.zeros([4, 2, 3]))).toThrow(/expected targets \[4, 2, 2\]/);
    ntm.dispose();
    expect(() => ntm.forward(good)).toThrow(/disposed/);
    x.dispose();
    good.dispose();
  });
});
