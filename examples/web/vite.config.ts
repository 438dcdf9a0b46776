// The browser demo: `npm run demo:web` builds the library, then this page, and serves it.
// "unfold" resolves to the built package (dist/index.js), the file users get from npm; the
// wasm is inlined in it, so nothing here configures wasm.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  resolve: { alias: { unfold: fileURLToPath(new URL("../../dist/index.js", import.meta.url)) } },
  worker: { format: "es" },
  build: { outDir: "dist", emptyOutDir: true },
  preview: { host: "localhost", port: 4173 },
  server: { host: "localhost" },
});
