// Bundles the library: ESM + CJS with the wasm inlined, and one .d.ts. The loader is
// bundled in, so the published package has no runtime dependencies and a browser or
// Deno can import dist/index.js by path.
import typescript from "@rollup/plugin-typescript";
import { nodeResolve } from "@rollup/plugin-node-resolve";
import { dts } from "rollup-plugin-dts";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const LIBRARY = fileURLToPath(new URL("src/index.js", import.meta.url));
const RELEASE_WASM = fileURLToPath(new URL("src/engine/wasm-bytes.release.ts", import.meta.url));

/**
 * The bundle ships the release wasm: the same kernels without their `_scalar` test twins
 * (scripts/release-entry.mjs). The tests, which run src/, load the full build.
 */
const releaseWasm = {
  name: "unfold-release-wasm",
  resolveId(source, importer) {
    if (source === "./wasm-bytes.js" && importer && importer.endsWith("engine.ts")) return RELEASE_WASM;
    return null;
  },
};

export default [
  {
    input: "src/index.ts",
    output: [
      { file: "dist/index.js", format: "es", sourcemap: true },
      { file: "dist/index.cjs", format: "cjs", sourcemap: true, exports: "named" },
    ],
    plugins: [
      releaseWasm,
      nodeResolve(),
      typescript({
        tsconfig: "./tsconfig.json",
        include: ["src/**/*.ts"],
        declaration: false,
        compilerOptions: { types: [] },
      }),
    ],
  },
  {
    input: "src/index.ts",
    output: { file: "dist/index.d.ts", format: "es" },
    plugins: [dts({ tsconfig: "./tsconfig.json" })],
  },
  {
    // The `unfold` command (package.json "bin"), for Node. It imports the library as users do,
    // from dist/index.js (so the wasm ships once), and its two dependencies stay external.
    input: "src/cli/main.ts",
    output: { file: "dist/cli.js", format: "es", banner: "#!/usr/bin/env node", paths: { [LIBRARY]: "./index.js" } },
    external: (id, importer) => id === "commander" || id === "cli-progress" || id.startsWith("node:") || (importer !== undefined && resolve(dirname(importer), id) === LIBRARY),
    plugins: [
      nodeResolve(),
      typescript({ tsconfig: "./tsconfig.json", include: ["src/**/*.ts"], declaration: false }),
    ],
  },
];
