// The browser demo (examples/web) end to end: Vite builds it against the built package,
// headless Chromium opens it, presses Train, waits until the plotted loss has dropped and a
// sample is on the page, checks the page kept drawing frames meanwhile, saves a screenshot
// (test-results/demo-web.png), stops, saves the model and loads it back.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, requireBuild } from "./runtimes/env.js";
import { launchChromium, serveDirectory, type Browser, type StaticServer } from "./runtimes/browser.js";
import type { Page } from "playwright-core";

const SCREENSHOT = join(ROOT, "test-results", "demo-web.png");

describe("browser demo (examples/web)", () => {
  let outDir = "";
  let browser: Browser | null = null;
  let server: StaticServer | null = null;
  let page: Page;
  let errors: string[] = [];

  beforeAll(async () => {
    requireBuild();
    browser = await launchChromium(); // fails with install instructions when Chromium is missing
    outDir = mkdtempSync(join(tmpdir(), "unfold-demo-"));
    const { build } = await import("vite");
    await build({ configFile: join(ROOT, "examples/web/vite.config.ts"), logLevel: "error", build: { outDir, emptyOutDir: true } });
    server = await serveDirectory(outDir);
    const opened = await browser.page();
    page = opened.page;
    errors = opened.errors;
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => document.getElementById("message")?.textContent?.startsWith("Press Train"), null, { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it("trains in a worker: the plotted loss drops, a sample appears, the page keeps drawing", async () => {
    const started = performance.now();
    await page.click("#train");
    // The curve uPlot draws: the batch losses (series 1). Dropped = the last 10 average at
    // most 80% of the first 10 (from ln(vocab) ≈ 3.9 towards the text's character statistics).
    await page.waitForFunction(
      () => {
        const demo = (globalThis as unknown as { unfoldDemo: { plot: { data: number[][] } } }).unfoldDemo;
        const loss = demo.plot.data[1] ?? [];
        if (loss.length < 40) return false;
        const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
        return mean(loss.slice(-10)) < 0.8 * mean(loss.slice(0, 10));
      },
      null,
      { timeout: 120_000, polling: 250 },
    );
    await page.waitForFunction(() => (document.getElementById("sample")?.textContent ?? "").length > 100, null, { timeout: 30_000, polling: 250 });
    // A little longer, so the screenshot shows a curve and a sample worth looking at.
    await page.waitForFunction(() => Number(document.getElementById("stat-step")?.textContent) >= 250, null, { timeout: 60_000, polling: 250 }).catch(() => {});
    await page.waitForTimeout(1600); // the next sample, from weights of these steps
    const plotted = await page.evaluate(() => (globalThis as unknown as { unfoldDemo: { plot: { data: number[][] } } }).unfoldDemo.plot.data[1]);
    const sample = await page.textContent("#sample");
    const fps = Number(await page.textContent("#stat-fps"));
    console.log(
      `demo: loss ${plotted[0].toFixed(3)} → ${plotted[plotted.length - 1].toFixed(3)} over ${plotted.length} steps in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `page at ${fps} frames/s; sample: ${JSON.stringify(sample?.slice(0, 80))}`,
    );
    expect(sample!.length).toBeGreaterThan(100);
    // The page's own thread is free: it kept drawing frames while the worker trained.
    expect(fps).toBeGreaterThanOrEqual(20);
    expect(await page.evaluate(() => (globalThis as unknown as { unfoldDemo: { training: boolean } }).unfoldDemo.training)).toBe(true);
    mkdirSync(join(ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
  });

  it("stops, saves the model, and loads it back", async () => {
    await page.click("#stop");
    await page.waitForFunction(() => !(globalThis as unknown as { unfoldDemo: { training: boolean } }).unfoldDemo.training, null, { timeout: 30_000 });
    expect(await page.textContent("#sample-info")).toMatch(/^stopped after \d+ epochs/);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save")]);
    const saved = await download.path();
    const bytes = readFileSync(saved);
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(download.suggestedFilename()).toMatch(/^char-lm-\d+-chars\.safetensors$/);

    await page.click("#reset");
    expect(await page.textContent("#sample")).toBe("");
    await page.setInputFiles("#load", { name: "char-lm.safetensors", mimeType: "application/octet-stream", buffer: bytes });
    await page.waitForFunction(() => document.getElementById("message")?.textContent?.startsWith("Loaded a model"), null, { timeout: 30_000 });
    expect((await page.textContent("#sample"))!.length).toBeGreaterThan(100);
    expect(await page.textContent("#sample-info")).toMatch(/^loaded char-lm\.safetensors/);
    expect(errors).toEqual([]);
  });
});
