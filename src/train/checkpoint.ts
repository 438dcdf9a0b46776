// Checkpoints: a model's parameters, its optimizer's state, the RNG and the progress counters
// in one safetensors byte array. Loading one into a model of the same architecture (and a
// fresh optimizer of the same kind) continues training to the same bits as a run that was
// never interrupted.
import { UnfoldError } from "../engine/index.js";
import { Rng } from "../data/rng.js";
import { readSafetensors, writeSafetensors, type SafeTensor } from "../io/safetensors.js";
import type { Sequential } from "../models/sequential.js";
import type { Optimizer, OptimizerState } from "./optimizers.js";

const FORMAT = "unfold-checkpoint";
const VERSION = 1;

/** Where training stood when the checkpoint was made. */
export interface TrainingProgress {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
}

export function saveCheckpoint(model: Sequential, optimizer: Optimizer | null, progress: TrainingProgress = { epoch: 0, step: 0 }): Uint8Array {
  const tensors: Record<string, SafeTensor> = {};
  for (const e of model.params.entries) tensors[`param/${e.name}`] = { dtype: "F32", shape: [...e.shape], data: model.params.read(e.name) };
  let optimizerMeta: Omit<OptimizerState, "buffers"> | null = null;
  if (optimizer) {
    const state = optimizer.getState();
    for (const [name, data] of Object.entries(state.buffers)) tensors[`optimizer/${name}`] = { dtype: "F32", shape: [data.length], data };
    optimizerMeta = { name: state.name, step: state.step, options: state.options };
  }
  const meta = { format: FORMAT, version: VERSION, rng: model.rng.getState().map((v) => (Number.isNaN(v) ? null : v)), progress, optimizer: optimizerMeta };
  return writeSafetensors(tensors, { unfold: JSON.stringify(meta) });
}

/**
 * Restores a checkpoint into `model` (and `optimizer`, which must be of the kind that was
 * saved). Everything is checked before anything changes: on error the model and the
 * optimizer are as they were. Returns the saved progress.
 */
export function loadCheckpoint(bytes: Uint8Array, model: Sequential, optimizer: Optimizer | null = null): TrainingProgress {
  const { tensors, metadata } = readSafetensors(bytes);
  let meta: { format?: unknown; version?: unknown; rng?: unknown; progress?: unknown; optimizer?: unknown };
  try {
    meta = JSON.parse(metadata.get("unfold") ?? "null") ?? {};
  } catch {
    throw new UnfoldError("checkpoint: its metadata is not valid JSON");
  }
  if (meta.format !== FORMAT) throw new UnfoldError(`checkpoint: not an Unfold checkpoint (format ${JSON.stringify(meta.format)})`);
  if (meta.version !== VERSION) throw new UnfoldError(`checkpoint: version ${JSON.stringify(meta.version)} is not supported (this Unfold reads version ${VERSION})`);
  const progress = meta.progress as TrainingProgress;
  if (!progress || !Number.isInteger(progress.epoch) || !Number.isInteger(progress.step)) throw new UnfoldError("checkpoint: progress counters are missing or not whole numbers");
  const rng = meta.rng;
  if (!Array.isArray(rng) || rng.length !== 5) throw new UnfoldError("checkpoint: the RNG state is missing or malformed");
  const rngState = rng.map((v) => (v === null ? NaN : v)) as number[];
  try {
    new Rng(0).setState(rngState);
  } catch (e) {
    throw new UnfoldError(`checkpoint: ${(e as Error).message}`);
  }

  // Parameters: exactly the model's, shape for shape.
  const weights: Record<string, Float32Array> = {};
  for (const e of model.params.entries) {
    const t = tensors.get(`param/${e.name}`);
    if (!t) throw new UnfoldError(`checkpoint: no values for parameter "${e.name}" — was it saved from a model of another architecture?`);
    if (t.dtype !== "F32" || t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new UnfoldError(`checkpoint: parameter "${e.name}" is ${t.dtype} [${t.shape.join(", ")}], the model has F32 [${e.shape.join(", ")}]`);
    }
    weights[e.name] = t.data as Float32Array;
  }
  const extra = [...tensors.keys()].filter((name) => name.startsWith("param/") && !model.params.has(name.slice(6)));
  if (extra.length) throw new UnfoldError(`checkpoint: it has parameters the model lacks: ${extra.map((n) => n.slice(6)).join(", ")}`);
  for (const [name, data] of Object.entries(weights)) {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new UnfoldError(`checkpoint: parameter "${name}" value ${i} is ${data[i]}`);
  }

  // Optimizer: validated and applied by setState (which changes nothing when it throws).
  const savedOptimizer = meta.optimizer as Omit<OptimizerState, "buffers"> | null;
  if (optimizer) {
    if (!savedOptimizer) throw new UnfoldError("checkpoint: it holds no optimizer state, but an optimizer was given");
    const buffers: Record<string, Float32Array> = {};
    for (const [name, t] of tensors) if (name.startsWith("optimizer/")) buffers[name.slice(10)] = t.data as Float32Array;
    optimizer.bind(model.params); // throws, changing nothing, if it belongs to another model
    optimizer.setState({ ...savedOptimizer, buffers });
  }
  model.setWeights(weights);
  model.rng.setState(rngState);
  return { epoch: progress.epoch, step: progress.step };
}
