// Runs the named benchmarks (`npm run bench -- gemm`), or all of them with no argument.
// Each bench module exports `run()`; add a line to `benches` to register a new one.

const benches: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  gemm: () => import("./gemm.js"),
  rnn: () => import("./rnn.js"),
  bidir: () => import("./bidir.js"),
  size: () => import("./size.js"),
  seq2seq: () => import("./seq2seq.js"),
  init: () => import("./init.js"),
  embedding: () => import("./embedding.js"),
};

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((name) => !(name in benches));
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(", ")}; available: ${Object.keys(benches).join(", ")}`);
    process.exit(2);
  }
  for (const name of asked.length ? asked : Object.keys(benches)) {
    console.log(`\n== ${name} ==`);
    await (await benches[name]()).run();
  }
}

await main();

export {};
