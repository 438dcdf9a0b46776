// The package as users get it: `npm pack` unpacked into a fresh project's node_modules, then
// imported the way each runtime's users import it — ESM in Node, Bun, Deno and Chromium,
// require() in Node and Bun — and bundled into a tiny app by rollup and by Vite with no
// configuration for the wasm (it is inlined). Every program prints the same line, with a hash
// of its output, in every runtime.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUN, DENO, NODE, describeRun, requireBinary, requireBuild, run } from "./runtimes/env.js";
import { launchChromium, serveDirectory, type Browser, type StaticServer } from "./runtimes/browser.js";
import { SMOKE_LINE, cjsProgram, esmProgram, makeProject, pageHtml, type SmokeProject } from "./runtimes/smoke-app.js";

let project: SmokeProject;
const lines = new Map<string, string>();

function expectSmoke(what: string, printed: string): void {
  const line = printed.trim().split("\n").pop() ?? "";
  expect(line, `${what} printed:\n${printed}`).toMatch(SMOKE_LINE);
  lines.set(what, line);
}

async function runProgram(what: string, command: string, args: string[]): Promise<void> {
  const r = await run(command, args, { cwd: project.dir });
  expect(r.code, describeRun(what, r)).toBe(0);
  expectSmoke(what, r.stdout);
}

describe("the packed package", () => {
  beforeAll(async () => {
    requireBuild();
    project = await makeProject();
    const file = (name: string, text: string) => writeFileSync(join(project.dir, name), text);
    file("esm.mjs", esmProgram("unfold"));
    file("cjs.cjs", cjsProgram());
    file("deno-npm.mjs", esmProgram("npm:unfold"));
    file("by-path.mjs", esmProgram("./node_modules/unfold/dist/index.js"));
  });
  afterAll(() => project?.dispose());

  it("Node: import from \"unfold\" (ESM)", () => runProgram("node esm", NODE, ["esm.mjs"]));
  it("Node: require(\"unfold\") (CommonJS)", () => runProgram("node cjs", NODE, ["cjs.cjs"]));
  it("Bun: import from \"unfold\"", () => runProgram("bun esm", requireBinary(BUN, "bun"), ["esm.mjs"]));
  it("Bun: require(\"unfold\")", () => runProgram("bun cjs", requireBinary(BUN, "bun"), ["cjs.cjs"]));
  it("Deno: import from \"npm:unfold\", with no permissions", () => runProgram("deno npm:", requireBinary(DENO, "deno"), ["run", "--no-prompt", "deno-npm.mjs"]));
  it("Deno: import by path", () => runProgram("deno path", requireBinary(DENO, "deno"), ["run", "--no-prompt", "by-path.mjs"]));

  it("rollup bundles an app with no wasm configuration, and the bundle runs in Node", async () => {
    const { rollup } = await import("rollup");
    const { nodeResolve } = await import("@rollup/plugin-node-resolve");
    writeFileSync(join(project.dir, "rollup-entry.mjs"), esmProgram("unfold"));
    const warnings: string[] = [];
    const bundle = await rollup({ input: join(project.dir, "rollup-entry.mjs"), plugins: [nodeResolve({ browser: true })], onwarn: (w) => void warnings.push(w.message) });
    await bundle.write({ file: join(project.dir, "rollup-out", "app.js"), format: "es" });
    await bundle.close();
    expect(warnings).toEqual([]);
    await runProgram("rollup bundle in node", NODE, ["rollup-out/app.js"]);
  });

  describe("in Chromium", () => {
    let browser: Browser;
    let server: StaticServer;
    beforeAll(async () => {
      browser = await launchChromium(); // fails with install instructions when Chromium is missing
      server = await serveDirectory(project.dir);
    });
    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    async function openPage(what: string, path: string): Promise<void> {
      const { page, errors } = await browser.page();
      await page.goto(`${server.url}/${path}`);
      await page.waitForFunction(() => document.title !== "running", null, { timeout: 30_000 });
      expect(errors, `${what}: errors on the page`).toEqual([]);
      expect(await page.title(), what).toBe("done");
      expectSmoke(what, await page.evaluate(() => document.body.textContent ?? ""));
      await page.close();
    }

    it("import by path (no bundler)", async () => {
      writeFileSync(join(project.dir, "by-path.html"), pageHtml("./by-path.mjs"));
      await openPage("chromium path", "by-path.html");
    });

    it("import from \"unfold\" through an import map", async () => {
      writeFileSync(join(project.dir, "import-map.html"), pageHtml("./esm.mjs", `<script type="importmap">{ "imports": { "unfold": "./node_modules/unfold/dist/index.js" } }</script>`));
      await openPage("chromium import map", "import-map.html");
    });

    it("the rollup bundle runs in the page", async () => {
      writeFileSync(join(project.dir, "rollup.html"), pageHtml("./rollup-out/app.js"));
      await openPage("chromium rollup bundle", "rollup.html");
    });

    it("Vite builds an app with no wasm configuration, and it runs", async () => {
      const { build } = await import("vite");
      const root = join(project.dir, "vite-app");
      mkdirSync(root, { recursive: true });
      writeFileSync(join(root, "main.js"), esmProgram("unfold"));
      writeFileSync(join(root, "index.html"), pageHtml("./main.js"));
      await build({ root, base: "./", configFile: false, logLevel: "error", build: { outDir: join(root, "dist"), emptyOutDir: true } });
      await openPage("chromium vite build", "vite-app/dist/index.html");
    });
  });

  it("every runtime and bundle computed the same bits", () => {
    const distinct = new Set(lines.values());
    expect(lines.size).toBe(11);
    expect(distinct.size, [...lines].map(([k, v]) => `${k}: ${v}`).join("\n")).toBe(1);
  });
});
