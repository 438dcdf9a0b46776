// Shared by the recurrent-layer tests: PyTorch fixture replay and finite-difference checks
// of every parameter, the input and the initial state of a layer.
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { Tensor } from "../src/engine/index.js";
import { Rng } from "../src/data/rng.js";
import { fromTorchStateDict, torchParamName, type RecurrentLayer } from "../src/layers/recurrent.js";
import { Sequential } from "../src/models/sequential.js";
import { checkGradients, type GradientCheckInput } from "../src/train/gradcheck.js";
import { expectClose, rand } from "./helpers.js";

export interface FixtureTensor {
  shape: number[];
  data: number[];
}
export interface RecurrentFixture {
  kind: string;
  T: number;
  B: number;
  I: number;
  H: number;
  num_layers: number;
  bidirectional: boolean;
  lengths: number[] | null;
  params: Record<string, FixtureTensor>;
  x: FixtureTensor;
  h0: FixtureTensor;
  c0?: FixtureTensor;
  output: FixtureTensor;
  h_n: FixtureTensor;
  c_n?: FixtureTensor;
  d_output: FixtureTensor;
  d_h_n: FixtureTensor;
  d_c_n?: FixtureTensor;
  loss: number;
  grads: Record<string, FixtureTensor>;
}

export function loadFixture<T = RecurrentFixture>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/torch/${name}.json`, import.meta.url), "utf8")) as T;
}

export const tensorOf = (t: FixtureTensor, shape = t.shape) => Tensor.fromArray(Float32Array.from(t.data), shape);

/**
 * PyTorch parity tolerance: |ours − torch| <= 1e-5·max(1, max|torch|) + 1e-5·|torch| per
 * element. The references are float64 from float32 inputs, so this bounds our float32
 * error (and the ≤ 1e-6 activation approximations) relative to the tensor's scale.
 */
export function expectTorchClose(actual: ArrayLike<number>, expected: FixtureTensor | ArrayLike<number>, what: string): void {
  const data = "data" in (expected as FixtureTensor) ? (expected as FixtureTensor).data : (expected as ArrayLike<number>);
  let maxAbs = 0;
  for (let i = 0; i < data.length; i++) maxAbs = Math.max(maxAbs, Math.abs(data[i]));
  expectClose(actual, data, 1e-5 * Math.max(1, maxAbs), 1e-5, what);
}

/**
 * Replays a single-layer, single-direction fixture: loads the PyTorch weights (`<name>_l0`
 * maps to `<prefix>.<name>`), runs forward from h0 (and c0), compares output and final
 * state, then backward with the fixture's upstream gradients and compares every gradient.
 */
export function replayFixture(fx: RecurrentFixture, layer: RecurrentLayer): void {
  const model = new Sequential([layer], { inputSize: fx.I });
  try {
    const weights: Record<string, number[]> = {};
    for (const [name, t] of Object.entries(fx.params)) weights[`${layer.prefix}.${name.replace(/_l0$/, "")}`] = t.data;
    model.setWeights(weights);
    const { T, B, H } = fx;
    const x = tensorOf(fx.x);
    const states = [tensorOf(fx.h0, [B, H]), ...(fx.c0 ? [tensorOf(fx.c0, [B, H])] : [])];
    const out = layer.forward(x, { training: true, rng: new Rng(0) }, states);
    expectTorchClose(out.toFloat32Array(), fx.output, "output");
    expectTorchClose(layer.finalState[0].toFloat32Array(), fx.h_n, "h_n");
    if (fx.c_n) expectTorchClose(layer.finalState[1].toFloat32Array(), fx.c_n, "c_n");

    model.params.zeroGrads();
    const dy = tensorOf(fx.d_output, [T, B, H]);
    const dFinal = [tensorOf(fx.d_h_n, [B, H]), ...(fx.d_c_n ? [tensorOf(fx.d_c_n, [B, H])] : [])];
    const dx = layer.backward(dy, dFinal);
    for (const [name, g] of Object.entries(fx.grads)) {
      if (name === "x") expectTorchClose(dx.toFloat32Array(), g, "grad x");
      else if (name === "h0") expectTorchClose(layer.initialStateGrad[0].toFloat32Array(), g, "grad h0");
      else if (name === "c0") expectTorchClose(layer.initialStateGrad[1].toFloat32Array(), g, "grad c0");
      else expectTorchClose(model.params.readGrad(`${layer.prefix}.${name.replace(/_l0$/, "")}`), g, `grad ${name}`);
    }
    for (const t of [x, dy, ...states, ...dFinal]) t.dispose();
  } finally {
    model.dispose();
  }
}

export interface GradCheckShape {
  T: number;
  B: number;
  I: number;
  seed?: number;
  /** Finite-difference step; use a smaller one for ReLU (kinks). */
  epsilon?: number;
  /** Per-sample lengths (a variable-length batch). */
  lengths?: number[];
  /**
   * Run in training mode with a generator re-seeded with this value at every forward, so
   * dropout draws the same masks in every evaluation of the loss.
   */
  dropoutSeed?: number;
  /** Skip the "every parameter has a non-zero gradient" check (e.g. parameters no sample reaches). */
  allowZeroGrads?: boolean;
}

/**
 * Finite-difference check of a recurrent layer: every parameter, the input x and each
 * initial state, through a loss L = Σ output⊙W + Σ_s finalState_s⊙V_s with fixed random
 * W and V (so both the output path and the final-state path are exercised).
 */
export function gradCheckRecurrent(layer: RecurrentLayer, shape: GradCheckShape): void {
  const { T, B, I } = shape;
  const seed = shape.seed ?? 7;
  const model = new Sequential([layer], { inputSize: I, seed });
  const H = layer.units;
  const sizes = layer.stateSizes;
  const x = Tensor.fromArray(rand(T * B * I, seed + 1), [T, B, I]);
  const states = sizes.map((w, i) => Tensor.fromArray(rand(B * w, seed + 2 + i, -0.5, 0.5), [B, w]));
  const outShape = layer.returnSequences ? [T, B, H] : [B, H];
  const wOut = Tensor.fromArray(rand(outShape.reduce((a, b) => a * b, 1), seed + 10), outShape);
  const wState = sizes.map((w, i) => Tensor.fromArray(rand(B * w, seed + 20 + i), [B, w]));
  const lengths = shape.lengths ? Int32Array.from(shape.lengths) : undefined;
  const dropoutSeed = shape.dropoutSeed;
  const context = () => (dropoutSeed === undefined ? { training: true, rng: new Rng(0) } : { training: true, rng: new Rng(dropoutSeed) });
  const dot = (a: Tensor, b: Tensor) => {
    const p = a.toFloat32Array(), q = b.toFloat32Array();
    let s = 0;
    for (let i = 0; i < p.length; i++) s += p[i] * q[i];
    return s;
  };
  const loss = () => {
    const out = layer.forward(x, context(), states, lengths);
    const fin = layer.finalState;
    return dot(out, wOut) + fin.reduce((s, f, i) => s + dot(f, wState[i]), 0);
  };
  let dx: Tensor | null = null;
  const lossAndGrad = () => {
    const l = loss();
    model.params.zeroGrads();
    dx = layer.backward(wOut, wState);
    return l;
  };
  const inputs: GradientCheckInput[] = model.params.entries.map((e) => ({
    name: e.name,
    values: Tensor.view(model.params.values, e.offset, e.shape),
    grad: () => model.params.readGrad(e.name),
  }));
  inputs.push({ name: "x", values: x, grad: () => dx!.toFloat32Array() });
  layer.stateNames.forEach((s, i) => inputs.push({ name: `initial ${s}`, values: states[i], grad: () => layer.initialStateGrad[i].toFloat32Array() }));
  const report = checkGradients({ loss, lossAndGrad, inputs, epsilon: shape.epsilon, seed });
  const bad = report.results.filter((r) => !r.ok).map((r) => `${r.name}: analytic ${r.analytic}, numeric ${r.numeric}`);
  expect(bad, "finite-difference mismatches").toEqual([]);
  // Every parameter got a non-trivial check (the gradient is not identically zero).
  if (!shape.allowZeroGrads) for (const e of model.params.entries) {
    const g = model.params.readGrad(e.name);
    expect(g.some((v) => v !== 0), `gradient of ${e.name} is all zeros`).toBe(true);
  }
  for (const t of [x, wOut, ...states, ...wState]) t.dispose();
  model.dispose();
}

/** Index into PyTorch's [num_layers·D, B, H] state tensors of one of our state names (`h`, `c_l1`, `h_l0_reverse`, …). */
function torchStateSlot(name: string, directions: number): { kind: "h" | "c"; index: number } {
  const m = /^([hc])(?:_l(\d+))?(_reverse)?$/.exec(name);
  if (!m) throw new Error(`state ${name} has no PyTorch counterpart`);
  return { kind: m[1] as "h" | "c", index: Number(m[2] ?? 0) * directions + (m[3] ? 1 : 0) };
}

/**
 * Replays any PyTorch nn.LSTM / nn.GRU / nn.RNN fixture (layers, directions, packed lengths)
 * on `layer`: weights through fromTorchStateDict, states mapped by name to the rows of h0/c0,
 * then output, final states and every gradient compared.
 */
export function replayTorchFixture(fx: RecurrentFixture, layer: RecurrentLayer): void {
  const model = new Sequential([layer], { inputSize: fx.I });
  try {
    const dict = Object.fromEntries(Object.entries(fx.params).map(([k, t]) => [k, t.data]));
    model.setWeights(fromTorchStateDict(layer, dict));
    const { T, B, H } = fx;
    const D = fx.bidirectional ? 2 : 1;
    const n = B * H;
    const rows = (t: FixtureTensor, i: number) => t.data.slice(i * n, (i + 1) * n);
    const slots = layer.stateNames.map((s) => torchStateSlot(s, D));
    const pick = (h: FixtureTensor, c: FixtureTensor | undefined) => slots.map((s) => rows(s.kind === "h" ? h : c!, s.index));
    const x = tensorOf(fx.x);
    const states = pick(fx.h0, fx.c0).map((d) => Tensor.fromArray(d, [B, H]));
    const lengths = fx.lengths ? Int32Array.from(fx.lengths) : undefined;
    const out = layer.forward(x, { training: true, rng: new Rng(0) }, states, lengths);
    expectTorchClose(out.toFloat32Array(), fx.output, "output");
    const expectedFinal = pick(fx.h_n, fx.c_n);
    layer.finalState.forEach((s, i) => expectTorchClose(s.toFloat32Array(), expectedFinal[i], `final ${layer.stateNames[i]}`));

    model.params.zeroGrads();
    const dy = tensorOf(fx.d_output);
    const dFinal = pick(fx.d_h_n, fx.d_c_n).map((d) => Tensor.fromArray(d, [B, H]));
    const dx = layer.backward(dy, dFinal);
    expectTorchClose(dx.toFloat32Array(), fx.grads.x, "grad x");
    const d0 = layer.initialStateGrad;
    slots.forEach((s, i) => expectTorchClose(d0[i].toFloat32Array(), rows(fx.grads[s.kind === "h" ? "h0" : "c0"], s.index), `grad initial ${layer.stateNames[i]}`));
    for (const e of model.params.entries) expectTorchClose(model.params.readGrad(e.name), fx.grads[torchParamName(e.name)], `grad ${e.name}`);
    expect(model.params.entries.length, "one parameter per PyTorch parameter").toBe(Object.keys(fx.params).length);
    expect(T).toBe(fx.x.shape[0]);
    for (const t of [x, dy, ...states, ...dFinal]) t.dispose();
  } finally {
    model.dispose();
  }
}
