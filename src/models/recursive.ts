// Recursive neural network over binary trees (Pollack 1990; Socher et al. 2011), with the
// binary Tree-LSTM of Tai et al. (2015) as an option: a shared cell composes the vectors of
// two children into their parent's, bottom-up, and the root's vector is classified.
// Backpropagation through structure runs the same plan top-down. Many trees are batched by
// level: every node of one height (and one operator) across the batch is one GEMM.
import { ParamStore, Tensor, UnfoldError, Workspace, engine } from "../engine/index.js";
import { Rng } from "../data/rng.js";
import type { BinaryTree } from "../data/expressions.js";
import { checkKnownOptions, type Initializer } from "../layers/layer.js";
import { constant, glorotUniform, uniform } from "../layers/init.js";
import type { Optimizer } from "../train/optimizers.js";

export type { BinaryTree };

/** The composition cell. */
export type TreeCell = "tanh" | "treeLSTM";

export interface RecursiveNetOptions {
  /** Leaf token ids are whole numbers in [0, vocab); each has a learned vector (`leaf.weight`). */
  vocab: number;
  /**
   * Inner-node labels (e.g. operators) are whole numbers in [0, operators); each label has its
   * own composition weights, so `+` and `×` compose differently. 1 for unlabelled trees.
   */
  operators: number;
  /** Width H of every node's vector. */
  units: number;
  /** Classes of the root classifier (softmax cross-entropy). */
  classes: number;
  /**
   * `"tanh"` (default): p = tanh(W_op·[h_l; h_r] + b_op). `"treeLSTM"`: the binary Tree-LSTM,
   * gates i, f_l, f_r, o, u from W_op·[h_l; h_r] + b_op, with a memory cell per node
   * (leaves: h = their vector, c = 0).
   */
  cell?: TreeCell;
  /** Seeds the initial weights and the shuffling in `fit`. Default 0. */
  seed?: number;
}

export type ResolvedRecursiveNetOptions = Required<RecursiveNetOptions>;

export interface TreeFitOptions {
  optimizer: Optimizer;
  /** Passes over the trees. Default 1. */
  epochs?: number;
  /** Trees per update. Default 32. */
  batchSize?: number;
  /** Shuffle the trees every epoch with the model's generator. Default true. */
  shuffle?: boolean;
  /** Called after every epoch with the mean training loss and accuracy. */
  onEpochEnd?: (epoch: number, logs: { loss: number; accuracy: number }) => void | Promise<void>;
}

const KNOWN = ["vocab", "operators", "units", "classes", "cell", "seed"] as const;

function resolve(options: RecursiveNetOptions): ResolvedRecursiveNetOptions {
  if (!options || typeof options !== "object") throw new UnfoldError("RecursiveNet needs options { vocab, operators, units, classes }");
  checkKnownOptions("RecursiveNet", options, KNOWN);
  const whole = (name: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new UnfoldError(`RecursiveNet: ${name} must be a whole number >= 1, got ${String(v)}`);
    return v;
  };
  const cell = options.cell ?? "tanh";
  if (cell !== "tanh" && cell !== "treeLSTM") throw new UnfoldError(`RecursiveNet: cell must be "tanh" or "treeLSTM", got ${String(cell)}`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UnfoldError(`RecursiveNet: seed must be a whole number, got ${seed}`);
  return { vocab: whole("vocab", options.vocab), operators: whole("operators", options.operators), units: whole("units", options.units), classes: whole("classes", options.classes), cell, seed };
}

/** One run of inner nodes of the same height and operator: rows [start, start + count) of the node buffers. */
interface Group {
  start: number;
  count: number;
  op: number;
}

/**
 * The batched plan of a list of trees: every node gets a row — the leaves first, then the inner
 * nodes by height and, within a height, by operator — so each group's parents are contiguous
 * rows and all their children are rows before them.
 */
interface Plan {
  nodes: number;
  leaves: number;
  leafTokens: Int32Array; // [leaves]
  /** Children rows of inner node k (row leaves + k). */
  left: Int32Array;
  right: Int32Array;
  groups: Group[];
  roots: Int32Array; // [trees]
}

function planOf(trees: readonly BinaryTree[], vocab: number, operators: number): Plan {
  if (!Array.isArray(trees) || trees.length === 0) throw new UnfoldError("RecursiveNet: expected a non-empty array of trees");
  // Pass 1: every node once (shared subtrees are visited again: a tree is a value), with its height.
  const height: number[] = [], op: number[] = [], token: number[] = [], l: number[] = [], r: number[] = [];
  const visit = (t: BinaryTree, where: string): number => {
    if (t === null || typeof t !== "object") throw new UnfoldError(`RecursiveNet: ${where} is not a tree node ({ leaf } or { op, left, right })`);
    const id = height.length;
    if ("leaf" in t) {
      if (!Number.isInteger(t.leaf) || t.leaf < 0 || t.leaf >= vocab) throw new UnfoldError(`RecursiveNet: leaf token ${String(t.leaf)} at ${where} is outside [0, ${vocab - 1}]`);
      height.push(0); op.push(-1); token.push(t.leaf); l.push(-1); r.push(-1);
      return id;
    }
    if (!Number.isInteger(t.op) || t.op < 0 || t.op >= operators) throw new UnfoldError(`RecursiveNet: operator ${String(t.op)} at ${where} is outside [0, ${operators - 1}]`);
    height.push(0); op.push(t.op); token.push(-1); l.push(-1); r.push(-1);
    const a = visit(t.left, `${where}.left`), b = visit(t.right, `${where}.right`);
    height[id] = 1 + Math.max(height[a], height[b]);
    l[id] = a;
    r[id] = b;
    return id;
  };
  const rootIds = trees.map((t, i) => visit(t, `tree ${i}`));
  // Pass 2: rows in order of (height, operator), stable in visiting order.
  const order = Array.from(height.keys());
  order.sort((a, b) => height[a] - height[b] || op[a] - op[b] || a - b);
  const row = new Int32Array(order.length);
  order.forEach((id, i) => (row[id] = i));
  const leaves = order.findIndex((id) => height[id] > 0);
  const nLeaves = leaves < 0 ? order.length : leaves;
  const inner = order.length - nLeaves;
  const plan: Plan = {
    nodes: order.length,
    leaves: nLeaves,
    leafTokens: Int32Array.from(order.slice(0, nLeaves), (id) => token[id]),
    left: new Int32Array(inner),
    right: new Int32Array(inner),
    groups: [],
    roots: Int32Array.from(rootIds, (id) => row[id]),
  };
  for (let i = nLeaves; i < order.length; i++) {
    const id = order[i];
    plan.left[i - nLeaves] = row[l[id]];
    plan.right[i - nLeaves] = row[r[id]];
    const last = plan.groups[plan.groups.length - 1];
    if (last && height[order[last.start]] === height[id] && last.op === op[id]) last.count++;
    else plan.groups.push({ start: i, count: 1, op: op[id] });
  }
  return plan;
}

/**
 * A recursive network over binary trees with a root classifier. Parameters (one flat store):
 * `leaf.weight` [vocab, H]; `compose.weight` [operators, G·H, 2H] and `compose.bias`
 * [operators, G·H] with G = 1 (tanh) or 5 (Tree-LSTM gates i, f_l, f_r, o, u); `output.weight`
 * [classes, H] and `output.bias` [classes]. The model owns its store and scratch; `dispose()`
 * frees them.
 */
export class RecursiveNet {
  readonly options: Readonly<ResolvedRecursiveNetOptions>;
  readonly params: ParamStore;
  readonly rng: Rng;
  private readonly ws = new Workspace();
  private readonly gates: number;
  private plan: Plan | null = null;
  private disposed = false;

  constructor(options: RecursiveNetOptions) {
    const o = resolve(options);
    this.options = Object.freeze(o);
    const H = o.units;
    this.gates = o.cell === "tanh" ? 1 : 5;
    const G = this.gates;
    // Every operator's [G·H, 2H] block Glorot-uniform on its own (per gate for the Tree-LSTM).
    const compose: Initializer = (shape, rng) => {
      const out = new Float32Array(shape[0] * shape[1] * shape[2]);
      for (let k = 0; k < shape[0]; k++) out.set(glorotUniform(G)([G * H, 2 * H], rng), k * G * H * 2 * H);
      return out;
    };
    // Tree-LSTM: both forget gates start open (bias 1), as for an LSTM's forget gate.
    const bias: Initializer = (shape) => {
      const out = new Float32Array(shape[0] * shape[1]);
      if (G === 5) for (let k = 0; k < shape[0]; k++) out.fill(1, k * 5 * H + H, k * 5 * H + 3 * H);
      return out;
    };
    const specs = [
      { name: "leaf.weight", shape: [o.vocab, H], init: uniform(1) },
      { name: "compose.weight", shape: [o.operators, G * H, 2 * H], init: compose },
      { name: "compose.bias", shape: [o.operators, G * H], init: bias },
      { name: "output.weight", shape: [o.classes, H], init: glorotUniform() },
      { name: "output.bias", shape: [o.classes], init: constant(0) },
    ];
    this.params = new ParamStore(specs);
    this.rng = new Rng(o.seed);
    for (const s of specs) this.params.write(s.name, s.init(s.shape, this.rng));
  }

  private checkAlive(): void {
    if (this.disposed) throw new UnfoldError("this recursive network was disposed and can no longer be used");
  }

  /** Pointer to operator `op`'s block of a per-operator parameter. */
  private opPtr(name: "compose.weight" | "compose.bias", op: number, grad = false): number {
    const H = this.options.units, G = this.gates;
    const per = name === "compose.weight" ? G * H * 2 * H : G * H;
    return (grad ? this.params.gradPtr(name) : this.params.ptr(name)) + op * per * 4;
  }

  /**
   * Composes every tree bottom-up and returns the root classifier's logits [trees, classes]
   * (owned by the model, valid until its next call).
   */
  forward(trees: readonly BinaryTree[]): Tensor {
    this.checkAlive();
    const { vocab, operators, units: H, classes: C } = this.options;
    const G = this.gates;
    const plan = planOf(trees, vocab, operators);
    const k = engine().k;
    const inner = plan.nodes - plan.leaves;
    const nodeH = this.ws.get("nodeH", [plan.nodes, H]);
    const tokens = this.ws.get("leafTokens", [plan.leaves], "int32").write(plan.leafTokens, true);
    const left = this.ws.get("left", [inner], "int32").write(plan.left, true);
    const right = this.ws.get("right", [inner], "int32").write(plan.right, true);
    const roots = this.ws.get("roots", [trees.length], "int32").write(plan.roots, true);
    const pairs = this.ws.get("pairs", [inner, 2 * H]);
    k.f32_embedding_forward(nodeH.ptr, tokens.ptr, this.params.ptr("leaf.weight"), plan.leaves, H, vocab);
    const lstm = G === 5;
    const nodeC = lstm ? this.ws.get("nodeC", [plan.nodes, H]) : null;
    const cPairs = lstm ? this.ws.get("cPairs", [inner, 2 * H]) : null;
    const gates = lstm ? this.ws.get("gateActs", [inner, 5 * H]) : null;
    const tanhc = lstm ? this.ws.get("tanhc", [inner, H]) : null;
    if (nodeC) k.f32_fill(nodeC.ptr, 0, plan.leaves * H);
    for (const g of plan.groups) {
      const q = g.start - plan.leaves; // index among inner nodes
      const pg = pairs.ptr + q * 2 * H * 4;
      const lg = left.ptr + q * 4, rg = right.ptr + q * 4;
      k.f32_gather_pairs(pg, nodeH.ptr, lg, rg, g.count, H);
      const out = nodeH.ptr + g.start * H * 4;
      if (!lstm) {
        // p = tanh(W_op·[h_l; h_r] + b_op) for the whole group: (count x 2H)·(2H x H).
        k.f32_gemm_nt(out, pg, this.opPtr("compose.weight", g.op), this.opPtr("compose.bias", g.op), g.count, H, 2 * H, 2 * H, 2 * H, H, 0);
        k.f32_vtanh(out, out, g.count * H);
      } else {
        const cg = cPairs!.ptr + q * 2 * H * 4, gg = gates!.ptr + q * 5 * H * 4;
        k.f32_gather_pairs(cg, nodeC!.ptr, lg, rg, g.count, H);
        k.f32_gemm_nt(gg, pg, this.opPtr("compose.weight", g.op), this.opPtr("compose.bias", g.op), g.count, 5 * H, 2 * H, 2 * H, 2 * H, 5 * H, 0);
        k.f32_treelstm_forward(out, nodeC!.ptr + g.start * H * 4, tanhc!.ptr + q * H * 4, gg, cg, g.count, H);
      }
    }
    const rootH = this.ws.get("rootH", [trees.length, H]);
    k.f32_embedding_forward(rootH.ptr, roots.ptr, nodeH.ptr, trees.length, H, plan.nodes);
    const logits = this.ws.get("logits", [trees.length, C]);
    k.f32_gemm_nt(logits.ptr, rootH.ptr, this.params.ptr("output.weight"), this.params.ptr("output.bias"), trees.length, C, H, H, H, C, 0);
    this.plan = plan;
    return logits;
  }

  /** The vectors of the roots of the last forward, [trees, H] (owned by the model). */
  get rootVectors(): Tensor {
    this.checkAlive();
    if (!this.plan) throw new UnfoldError("RecursiveNet: no forward yet");
    return this.ws.get("rootH", [this.plan.roots.length, this.options.units]);
  }

  /**
   * Backpropagation through structure from dL/dlogits [trees, classes] of the last forward:
   * ADDS into the parameter gradients.
   */
  backward(dlogits: Tensor): void {
    this.checkAlive();
    const plan = this.plan;
    if (!plan) throw new UnfoldError("RecursiveNet: backward called before forward");
    const { vocab, units: H, classes: C } = this.options;
    const n = plan.roots.length;
    if (dlogits.shape.length !== 2 || dlogits.shape[0] !== n || dlogits.shape[1] !== C) {
      throw new UnfoldError(`RecursiveNet expected the logits' gradient [${n}, ${C}], got [${dlogits.shape.join(", ")}]`);
    }
    const k = engine().k;
    const G = this.gates, lstm = G === 5;
    const inner = plan.nodes - plan.leaves;
    const nodeH = this.ws.get("nodeH", [plan.nodes, H]);
    const rootH = this.ws.get("rootH", [n, H]);
    const left = this.ws.get("left", [inner], "int32");
    const right = this.ws.get("right", [inner], "int32");
    const pairs = this.ws.get("pairs", [inner, 2 * H]);
    // Classifier: dW_out += dlogitsᵀ·roots, db_out += Σ dlogits, d roots = dlogits·W_out.
    k.f32_gemm_tn(this.params.gradPtr("output.weight"), dlogits.ptr, rootH.ptr, 0, C, H, n, C, H, H, 1);
    k.f32_sum_rows(this.params.gradPtr("output.bias"), dlogits.ptr, n, C, 1);
    const dRoot = this.ws.get("dRoot", [n, H]);
    k.f32_gemm_nn(dRoot.ptr, dlogits.ptr, this.params.ptr("output.weight"), 0, n, H, C, C, H, H, 0);
    const dNodeH = this.ws.zeros("dNodeH", [plan.nodes, H]);
    k.f32_embedding_backward(dNodeH.ptr, dRoot.ptr, this.ws.get("roots", [n], "int32").ptr, n, H, plan.nodes, -1);
    const dNodeC = lstm ? this.ws.zeros("dNodeC", [plan.nodes, H]) : null;
    const dpre = this.ws.get("dpre", [inner, G * H]);
    const dpairs = this.ws.get("dpairs", [inner, 2 * H]);
    const dcPairs = lstm ? this.ws.get("dcPairs", [inner, 2 * H]) : null;
    // Top-down: a group's rows have all their gradient once every higher group is done.
    for (let gi = plan.groups.length - 1; gi >= 0; gi--) {
      const g = plan.groups[gi];
      const q = g.start - plan.leaves;
      const pg = pairs.ptr + q * 2 * H * 4;
      const lg = left.ptr + q * 4, rg = right.ptr + q * 4;
      const dg = dpre.ptr + q * G * H * 4;
      const dh = dNodeH.ptr + g.start * H * 4;
      if (!lstm) {
        k.f32_vtanh_grad(dg, dh, nodeH.ptr + g.start * H * 4, g.count * H); // tanh' = 1 − p²
      } else {
        const gates = this.ws.get("gateActs", [inner, 5 * H]);
        const cPairs = this.ws.get("cPairs", [inner, 2 * H]);
        const tanhc = this.ws.get("tanhc", [inner, H]);
        k.f32_treelstm_backward(dg, dcPairs!.ptr + q * 2 * H * 4, dh, dNodeC!.ptr + g.start * H * 4, gates.ptr + q * 5 * H * 4, cPairs.ptr + q * 2 * H * 4, tanhc.ptr + q * H * 4, g.count, H);
        k.f32_scatter_add_pairs(dNodeC!.ptr, dcPairs!.ptr + q * 2 * H * 4, lg, rg, g.count, H);
      }
      // dW_op += dpreᵀ·[h_l; h_r], db_op += Σ dpre, d[h_l; h_r] = dpre·W_op, sent to the children.
      k.f32_gemm_tn(this.opPtr("compose.weight", g.op, true), dg, pg, 0, G * H, 2 * H, g.count, G * H, 2 * H, 2 * H, 1);
      k.f32_sum_rows(this.opPtr("compose.bias", g.op, true), dg, g.count, G * H, 1);
      const dp = dpairs.ptr + q * 2 * H * 4;
      k.f32_gemm_nn(dp, dg, this.opPtr("compose.weight", g.op), 0, g.count, 2 * H, G * H, G * H, 2 * H, 2 * H, 0);
      k.f32_scatter_add_pairs(dNodeH.ptr, dp, lg, rg, g.count, H);
    }
    const tokens = this.ws.get("leafTokens", [plan.leaves], "int32");
    k.f32_embedding_backward(this.params.gradPtr("leaf.weight"), dNodeH.ptr, tokens.ptr, plan.leaves, H, vocab, -1);
  }

  private checkLabels(labels: ArrayLike<number>, n: number): Int32Array {
    if (!labels || labels.length !== n) throw new UnfoldError(`RecursiveNet: expected ${n} labels (one per tree), got ${labels ? labels.length : String(labels)}`);
    const C = this.options.classes;
    for (let i = 0; i < n; i++) {
      if (!Number.isInteger(labels[i]) || labels[i] < 0 || labels[i] >= C) throw new UnfoldError(`RecursiveNet: label ${i} is ${labels[i]}, outside the ${C} classes [0, ${C - 1}]`);
    }
    return Int32Array.from(labels);
  }

  /** Mean cross-entropy of the roots' classes over the trees, and the gradient of it left in `dlogits`. */
  private crossEntropy(logits: Tensor, labels: Int32Array): { loss: number; dlogits: Tensor } {
    const n = labels.length, C = this.options.classes;
    const targets = this.ws.get("targets", [n], "int32").write(labels, true);
    const dlogits = this.ws.get("dlogits", [n, C]);
    const sum = engine().k.f32_softmax_xent(dlogits.ptr, logits.ptr, targets.ptr, n, C, -1, 1 / n);
    return { loss: sum / n, dlogits };
  }

  /** Forward, mean cross-entropy and backward: the gradients are left in `params.grads` (zeroed first). Returns the loss. */
  lossAndGradients(trees: readonly BinaryTree[], labels: ArrayLike<number>): number {
    this.checkAlive();
    const y = this.checkLabels(labels, trees.length);
    const logits = this.forward(trees);
    const { loss, dlogits } = this.crossEntropy(logits, y);
    this.params.zeroGrads();
    this.backward(dlogits);
    return loss;
  }

  /** The mean cross-entropy of the trees' labels, without gradients. */
  computeLoss(trees: readonly BinaryTree[], labels: ArrayLike<number>): number {
    this.checkAlive();
    const y = this.checkLabels(labels, trees.length);
    return this.crossEntropy(this.forward(trees), y).loss;
  }

  /** The most likely class of every tree. */
  predict(trees: readonly BinaryTree[], batchSize = 256): Int32Array {
    this.checkAlive();
    const out = new Int32Array(trees.length);
    const C = this.options.classes;
    for (let s = 0; s < trees.length; s += batchSize) {
      const part = trees.slice(s, s + batchSize);
      const logits = this.forward(part).toFloat32Array();
      for (let i = 0; i < part.length; i++) {
        let best = 0;
        for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
        out[s + i] = best;
      }
    }
    return out;
  }

  /** Mean loss and accuracy over labelled trees. */
  evaluate(trees: readonly BinaryTree[], labels: ArrayLike<number>, batchSize = 256): { loss: number; accuracy: number } {
    this.checkAlive();
    const y = this.checkLabels(labels, trees.length);
    let loss = 0, correct = 0;
    for (let s = 0; s < trees.length; s += batchSize) {
      const part = trees.slice(s, s + batchSize);
      loss += this.computeLoss(part, y.subarray(s, s + batchSize)) * part.length;
      correct += this.countCorrect(y.subarray(s, s + batchSize));
    }
    return { loss: loss / trees.length, accuracy: correct / trees.length };
  }

  /** Correct argmax predictions of the last forward's logits. */
  private countCorrect(labels: Int32Array): number {
    const C = this.options.classes;
    const logits = this.ws.get("logits", [labels.length, C]).toFloat32Array();
    let correct = 0;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
      if (best === labels[i]) correct++;
    }
    return correct;
  }

  /**
   * Trains on labelled trees: minibatches (shuffled every epoch with the model's generator),
   * cross-entropy, backpropagation through structure, one optimizer step each. Yields to the
   * event loop between batches now and then. Returns every epoch's mean loss and accuracy.
   */
  async fit(data: { trees: readonly BinaryTree[]; labels: ArrayLike<number> }, options: TreeFitOptions): Promise<{ loss: number; accuracy: number }[]> {
    this.checkAlive();
    checkKnownOptions("RecursiveNet.fit", options, ["optimizer", "epochs", "batchSize", "shuffle", "onEpochEnd"]);
    if (!options.optimizer || typeof options.optimizer.step !== "function") throw new UnfoldError("RecursiveNet.fit needs { optimizer }, e.g. new Adam({ lr: 1e-3 })");
    const epochs = options.epochs ?? 1, batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(epochs) || epochs < 0) throw new UnfoldError(`RecursiveNet.fit: epochs must be a whole number >= 0, got ${epochs}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UnfoldError(`RecursiveNet.fit: batchSize must be a whole number >= 1, got ${batchSize}`);
    const { trees } = data;
    const labels = this.checkLabels(data.labels, trees.length);
    const history: { loss: number; accuracy: number }[] = [];
    let lastYield = performance.now();
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = Int32Array.from({ length: trees.length }, (_, i) => i);
      if (options.shuffle ?? true) this.rng.shuffle(order);
      let loss = 0, correct = 0;
      for (let s = 0; s < trees.length; s += batchSize) {
        const idx = order.subarray(s, s + batchSize);
        const batchTrees = Array.from(idx, (i) => trees[i]);
        const batchLabels = Int32Array.from(idx, (i) => labels[i]);
        const l = this.lossAndGradients(batchTrees, batchLabels);
        if (!Number.isFinite(l)) throw new UnfoldError(`RecursiveNet.fit: the loss of epoch ${epoch}, batch ${s / batchSize} is ${l}; try a lower learning rate or clipNorm`);
        correct += this.countCorrect(batchLabels);
        loss += l * idx.length;
        options.optimizer.step(this.params);
        if (performance.now() - lastYield > 25) {
          await new Promise<void>((resolve) => setTimeout(resolve, 0));
          lastYield = performance.now();
        }
      }
      const logs = { loss: loss / trees.length, accuracy: correct / trees.length };
      history.push(logs);
      await options.onEpochEnd?.(epoch, logs);
    }
    return history;
  }

  dispose(): void {
    if (this.disposed) return;
    this.ws.dispose();
    this.params.dispose();
    this.plan = null;
    this.disposed = true;
  }
}
