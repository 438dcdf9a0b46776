// A user's project, made from the packed package: `npm pack` of this repository unpacked into
// node_modules/unfold of a fresh directory (what `npm install unfold` leaves there, without a
// registry), and tiny programs that import it the way a user would in each runtime. Every
// program computes the same small forward pass and prints one line with a hash of the output,
// so the runs can also be compared bit for bit.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, describeRun, run } from "./env.js";

/** The line every smoke program prints (the hash is over the output's float32 bytes). */
export const SMOKE_LINE = /^unfold ok [0-9a-f]{8}$/;

/** The program, given `unfold` (the module) in scope; synchronous, so it also runs under require(). */
const BODY = `
const model = new unfold.Sequential([new unfold.LSTM({ units: 8 }), new unfold.Dense({ units: 3 })], { inputSize: 4, seed: 5 });
const x = unfold.Tensor.fromArray(Float32Array.from({ length: 6 * 2 * 4 }, (_, i) => (i % 7) / 7 - 0.5), [6, 2, 4]);
const y = model.predict(x).toFloat32Array();
const bytes = new Uint8Array(y.buffer);
let h = 0x811c9dc5;
for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
const line = "unfold ok " + (h >>> 0).toString(16).padStart(8, "0");
console.log(line);
if (typeof document !== "undefined") { document.body.textContent = line; document.title = "done"; }
`;

/** An ES module importing the package through `specifier`. */
export function esmProgram(specifier: string): string {
  return `import * as unfold from ${JSON.stringify(specifier)};\nawait unfold.init();\n${BODY}`;
}

/** A CommonJS program that require()s the package. */
export function cjsProgram(): string {
  return `"use strict";\nconst unfold = require("unfold");\nunfold.initSync();\n${BODY}`;
}

/** A browser page running a module script (which reports errors in the title, for the test). */
export function pageHtml(moduleSrc: string, head = ""): string {
  return `<!doctype html>\n<meta charset="utf-8">\n<title>running</title>\n${head}\n<body>\n<script type="module" src="${moduleSrc}"></script>\n<script>addEventListener("error", (e) => { document.title = "failed: " + e.message; });</script>\n`;
}

export interface SmokeProject {
  dir: string;
  dispose(): void;
}

/** Packs the repository (dist must be built) and unpacks it as node_modules/unfold of a new project directory. */
export async function makeProject(): Promise<SmokeProject> {
  const dir = mkdtempSync(join(tmpdir(), "unfold-app-"));
  const packed = await run("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: ROOT });
  if (packed.code !== 0) throw new Error(describeRun("npm pack", packed));
  const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack made no tarball in ${dir}:\n${packed.stdout}`);
  const pkg = join(dir, "node_modules", "unfold");
  mkdirSync(pkg, { recursive: true });
  const untar = await run("tar", ["xzf", join(dir, tarball), "-C", pkg, "--strip-components", "1"]);
  if (untar.code !== 0) throw new Error(describeRun("tar", untar));
  rmSync(join(dir, tarball));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "unfold-smoke-app", private: true, type: "module", dependencies: { unfold: "*" } }, null, 2));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
