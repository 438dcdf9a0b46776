// Bundles the library: ESM + CJS with the wasm inlined, and one .d.ts. The loader is
// bundled in, so the published package has no runtime dependencies and a browser or
// Deno can import dist/index.js by path.
import typescript from "@rollup/plugin-typescript";
import { nodeResolve } from "@rollup/plugin-node-resolve";
import { dts } from "rollup-plugin-dts";

export default [
  {
    input: "src/index.ts",
    output: [
      { file: "dist/index.js", format: "es", sourcemap: true },
      { file: "dist/index.cjs", format: "cjs", sourcemap: true, exports: "named" },
    ],
    plugins: [
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
];
