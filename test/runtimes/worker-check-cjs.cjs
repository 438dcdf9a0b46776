// node: trainInWorker through the CommonJS build (require), whose worker loads index.cjs.
const unfold = require("../../dist/index.cjs");

import("./worker-check.mjs").then(({ workerCheck }) => workerCheck(unfold)).catch((e) => {
  console.error(e);
  process.exit(1);
});
