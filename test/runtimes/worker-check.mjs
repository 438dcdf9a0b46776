// trainInWorker in any runtime, given the package's module: trains a model in the default
// worker while a 5 ms timer runs on this thread, trains the same model with fit() here, and
// prints one line to compare across runtimes ("worker same <weights hash> ...") and one with
// this runtime's timings ("timing ...", not compared); then the same for a Seq2Seq model
// ("seq2seq same <weights hash> ..."). Used by test/worker-runtimes.test.ts
// through worker-check-esm.mjs, worker-check-cjs.cjs and worker-check.html.
function fnv1a(weights) {
  let h = 0x811c9dc5;
  for (const a of Object.values(weights)) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

export async function workerCheck(unfold, log = (line) => console.log(line)) {
  await unfold.init();
  const data = unfold.addingProblem(256, 40, 5);
  const make = () => new unfold.Sequential([new unfold.LSTM({ units: 48, returnSequences: false }), new unfold.Dense({ units: 1 })], { inputSize: 2, loss: "mse", seed: 9 });
  const options = () => ({ epochs: 2, batchSize: 32, optimizer: new unfold.Adam({ lr: 1e-2, clipNorm: 1 }) });

  const reference = make();
  const expected = await unfold.fit(reference, data, options());

  const model = make();
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  let batches = 0;
  const started = performance.now();
  const history = await unfold.trainInWorker(model, data, { ...options(), onBatchEnd: () => batches++ });
  const ms = performance.now() - started;
  clearInterval(timer);

  const hash = fnv1a(model.getWeights());
  const losses = (h) => JSON.stringify(h.epochs.map((e) => e.loss));
  const same = hash === fnv1a(reference.getWeights()) && losses(history) === losses(expected) && model.rng.getState().join() === reference.rng.getState().join();
  log(`worker ${same ? "same" : "DIFFERENT"} ${hash} batches ${batches} epochs ${history.epochs.length}`);
  log(`timing ${ms.toFixed(0)} ms in the worker, ${ticks} ticks of a 5 ms timer here, longest gap ${maxGap.toFixed(1)} ms`);
  model.dispose();
  reference.dispose();
  const seq2seq = await seq2seqCheck(unfold);
  log(`seq2seq ${seq2seq.same ? "same" : "DIFFERENT"} ${seq2seq.hash} epochs ${seq2seq.epochs}`);
  return { hash, same, ms, ticks, maxGap, seq2seq };
}

/** A small attention model reversing strings, trained in the default worker and with Seq2Seq.fit here. */
async function seq2seqCheck(unfold) {
  const tok = unfold.CharTokenizer.fromText("abcdef");
  const data = unfold.encodePairs(unfold.reverseTask(128, { alphabet: "abcdef", minLength: 2, maxLength: 6, seed: 3 }), tok);
  const make = () =>
    new unfold.Seq2Seq({
      sourceVocab: tok.size, targetVocab: tok.size, embedding: 8, bos: tok.bos, eos: tok.eos, seed: 4,
      encoder: new unfold.Bidirectional(new unfold.GRU({ units: 8 })), decoder: new unfold.GRU({ units: 16 }), attention: { score: "general" },
    });
  const options = () => ({ epochs: 2, batchSize: 16, optimizer: new unfold.Adam({ lr: 1e-2, clipNorm: 1 }), scheduledSampling: { probability: 0.2 } });
  const reference = make();
  const expected = await reference.fit(data, options());
  const model = make();
  const history = await unfold.trainInWorker(model, data, options());
  const hash = fnv1a(model.getWeights());
  const losses = (h) => JSON.stringify(h.map((e) => e.loss));
  const same = hash === fnv1a(reference.getWeights()) && losses(history) === losses(expected) && model.rng.getState().join() === reference.rng.getState().join();
  model.dispose();
  reference.dispose();
  return { hash, same, epochs: history.length };
}
