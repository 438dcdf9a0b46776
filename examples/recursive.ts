// A recursive (tree) network learns arithmetic: expression trees over the digits 0–9 with + and
// × (depth 1 to 4, up to 16 digits), and the value of the expression mod 10 to predict from the
// root's vector. Leaves are learned digit vectors; every inner node is composed from its two
// children by weights of its own operator — p = tanh(W_op·[h_l; h_r] + b_op), or the binary
// Tree-LSTM (Tai et al. 2015) with gates from W_op·[h_l; h_r] + b_op. All nodes of one height and
// one operator, across a batch of 32 trees, are composed by one GEMM.
//
//   npx tsx examples/recursive.ts
//
// Takes about 20 s. Prints held-out accuracy by depth, and on deeper trees (5 and 6) than
// any seen in training.
import { init, Adam, RecursiveNet, arithmeticTrees, expressionText, type BinaryTree, type TreeCell } from "../src/index.js";

await init();

const train = arithmeticTrees(50_000, { maxDepth: 4, seed: 1 });
const test = arithmeticTrees(5_000, { maxDepth: 4, seed: 2 });
const deeper = arithmeticTrees(2_000, { minDepth: 5, maxDepth: 6, seed: 3 });

function accuracyByDepth(net: RecursiveNet, trees: BinaryTree[], values: Int32Array, depths: Int32Array): string {
  const predicted = net.predict(trees);
  const parts: string[] = [];
  for (const d of [...new Set(depths)].sort()) {
    let n = 0, correct = 0;
    depths.forEach((x, i) => {
      if (x !== d) return;
      n++;
      if (predicted[i] === values[i]) correct++;
    });
    parts.push(`depth ${d}: ${((100 * correct) / n).toFixed(1)}%`);
  }
  return parts.join(", ");
}

for (const [cell, epochs] of [["tanh", 10], ["treeLSTM", 5]] as [TreeCell, number][]) {
  const started = performance.now();
  const net = new RecursiveNet({ vocab: 10, operators: 2, units: 64, classes: 10, cell, seed: 3 });
  const optimizer = new Adam({ lr: 3e-3, clipNorm: 5 });
  await net.fit({ trees: train.trees, labels: train.values }, {
    optimizer, epochs, batchSize: 32,
    onEpochEnd: (epoch, logs) => {
      const { accuracy } = net.evaluate(test.trees, test.values);
      console.log(`${cell} epoch ${epoch + 1}: train loss ${logs.loss.toFixed(4)}, held-out accuracy ${(100 * accuracy).toFixed(2)}%`);
    },
  });
  const { accuracy } = net.evaluate(test.trees, test.values);
  const deep = net.evaluate(deeper.trees, deeper.values);
  console.log(`${cell}: held-out accuracy ${(100 * accuracy).toFixed(2)}% (${accuracyByDepth(net, test.trees, test.values, test.depths)}); ` +
    `deeper than trained: ${(100 * deep.accuracy).toFixed(1)}% (${accuracyByDepth(net, deeper.trees, deeper.values, deeper.depths)}) — ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const t = test.trees[0];
  console.log(`  e.g. ${expressionText(t)} mod 10 = ${test.values[0]}, predicted ${net.predict([t])[0]}`);
  net.dispose();
  optimizer.dispose();
}
