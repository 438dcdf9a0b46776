// The browser demo (examples/web) end to end: Vite builds it against the built package,
// headless Chromium opens it, presses Train, waits until the plotted loss has dropped and a
// sample is on the page, checks the page kept drawing frames meanwhile, saves a screenshot
// (test-results/demo-web.png), stops, saves the model and loads it back. Then the same for
// the seq2seq tab (reversal with attention): the loss drops, answers to held-out sources and
// an attention heat map of the right size appear (test-results/demo-web-seq2seq.png), and the
// model saves and loads back.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, requireBuild } from "./runtimes/env.js";
import { launchChromium, serveDirectory, type Browser, type StaticServer } from "./runtimes/browser.js";
import type { Page } from "playwright-core";

const SCREENSHOT = join(ROOT, "test-results", "demo-web.png");
const SEQ2SEQ_SCREENSHOT = join(ROOT, "test-results", "demo-web-seq2seq.png");

type Demo = Record<"char-lm" | "seq2seq", { plot: { data: number[][] }; training: boolean }>;
const demo = (page: Page) => page.evaluate(() => (globalThis as unknown as { unfoldDemo: Demo }).unfoldDemo);
const training = (page: Page, task: keyof Demo) => page.evaluate((t) => (globalThis as unknown as { unfoldDemo: Demo }).unfoldDemo[t].training, task);

/** Waits until the task's plotted batch losses (uPlot's series 1): the last 10 average at most `ratio` of the first 10. */
async function lossDropped(page: Page, task: keyof Demo, ratio: number): Promise<void> {
  await page.waitForFunction(
    ([t, r]) => {
      const loss = (globalThis as unknown as { unfoldDemo: Demo }).unfoldDemo[t as keyof Demo].plot.data[1] ?? [];
      if (loss.length < 40) return false;
      const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      return mean(loss.slice(-10)) < (r as number) * mean(loss.slice(0, 10));
    },
    [task, ratio] as const,
    { timeout: 120_000, polling: 250 },
  );
}

/**
 * The heat map canvas: its data attributes, and the colour of every cell's centre pixel (its
 * green channel: 255 white, lower is darker; -1 where nothing was drawn).
 */
const heatmap = (page: Page) =>
  page.evaluate(() => {
    const canvas = document.getElementById("s2s-heatmap") as HTMLCanvasElement;
    const { rows, cols, source, output, origin, cell } = canvas.dataset;
    const greens: number[] = [];
    if (canvas.width && canvas.height) {
      const ratio = canvas.width / parseFloat(canvas.style.width);
      const g = canvas.getContext("2d")!;
      for (let r = 0; r < Number(rows); r++) {
        for (let c = 0; c < Number(cols); c++) {
          const at = (i: number) => Math.floor((Number(origin) + (i + 0.5) * Number(cell)) * ratio);
          const [, green, , alpha] = g.getImageData(at(c), at(r), 1, 1).data;
          greens.push(alpha === 255 ? green : -1);
        }
      }
    }
    return { rows: Number(rows), cols: Number(cols), source, output, greens };
  });

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
    // Dropped: from ln(vocab) ≈ 3.9 towards the text's character statistics.
    await lossDropped(page, "char-lm", 0.8);
    await page.waitForFunction(() => (document.getElementById("sample")?.textContent ?? "").length > 100, null, { timeout: 30_000, polling: 250 });
    // A little longer, so the screenshot shows a curve and a sample worth looking at.
    await page.waitForFunction(() => Number(document.getElementById("stat-step")?.textContent) >= 250, null, { timeout: 60_000, polling: 250 }).catch(() => {});
    await page.waitForTimeout(1600); // the next sample, from weights of these steps
    const plotted = (await demo(page))["char-lm"].plot.data[1];
    const sample = await page.textContent("#sample");
    const fps = Number(await page.textContent("#stat-fps"));
    console.log(
      `demo: loss ${plotted[0].toFixed(3)} → ${plotted[plotted.length - 1].toFixed(3)} over ${plotted.length} steps in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `page at ${fps} frames/s; sample: ${JSON.stringify(sample?.slice(0, 80))}`,
    );
    expect(sample!.length).toBeGreaterThan(100);
    // The page's own thread is free: it kept drawing frames while the worker trained.
    expect(fps).toBeGreaterThanOrEqual(20);
    expect(await training(page, "char-lm")).toBe(true);
    mkdirSync(join(ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
  });

  it("stops, saves the model, and loads it back", async () => {
    await page.click("#stop");
    await page.waitForFunction(() => !(globalThis as unknown as { unfoldDemo: Demo }).unfoldDemo["char-lm"].training, null, { timeout: 30_000 });
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

  it("trains seq2seq reversal in a worker: the loss drops, answers and an attention heat map appear", async () => {
    const started = performance.now();
    await page.click("[role=tab][data-task=seq2seq]");
    expect(await page.isVisible("#s2s-train")).toBe(true);
    expect(await page.isVisible("#train")).toBe(false);
    await page.selectOption("#s2s-task", "reverse");
    await page.click("#s2s-train");
    // The other tab cannot be opened while this one trains.
    expect(await page.isDisabled("[role=tab][data-task=char-lm]")).toBe(true);
    // Dropped: from ln(30) ≈ 3.4 per character to well under half.
    await lossDropped(page, "seq2seq", 0.5);
    // After the first epoch: the answers to the held-out sources, the exact-match rate, the heat map.
    await page.waitForFunction(() => document.querySelectorAll("#s2s-predictions li").length === 7 && /%$/.test(document.getElementById("s2s-accuracy")!.textContent!), null, { timeout: 60_000, polling: 250 });
    const rows = await page.$$eval("#s2s-predictions li", (items) => items.map((li) => Array.from(li.children, (c) => c.textContent)));
    for (const [source, arrow, predicted] of rows) {
      expect(source).toMatch(/^[a-z]{3,12}$/);
      expect(arrow).toBe("→");
      expect(predicted).toMatch(/^[a-z]*$|^∅$/);
    }
    // The heat map of the chosen source: one column per source letter, one row per answer letter (and the end symbol).
    const source = await page.inputValue("#s2s-source");
    const map = await heatmap(page);
    expect(map.source).toBe(source);
    expect(map.cols).toBe(Array.from(source).length);
    expect(map.rows).toBe(Array.from(map.output!).length);
    expect(map.rows).toBeGreaterThan(0);
    // Every cell is drawn, and shaded by its weight: some far darker than others.
    expect(map.greens).toHaveLength(map.rows * map.cols);
    expect(Math.min(...map.greens)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...map.greens) - Math.min(...map.greens)).toBeGreaterThan(60);
    expect(await page.textContent("#s2s-answer")).toContain(`→ ${map.output!.replace(/⏎$/, "")}`);
    // A source typed in is decoded and drawn at once.
    await page.fill("#s2s-source", "unfold");
    const typed = await heatmap(page);
    expect([typed.source, typed.cols]).toEqual(["unfold", 6]);
    // A little longer, so the screenshot shows a model that has learned (reversal gets there in a few epochs).
    await page.waitForFunction(() => parseFloat(document.getElementById("s2s-accuracy")!.textContent!) >= 80, null, { timeout: 30_000, polling: 250 }).catch(() => {});
    const accuracy = await page.textContent("#s2s-accuracy");
    const plotted = (await demo(page)).seq2seq.plot.data[1];
    console.log(
      `demo seq2seq: loss ${plotted[0].toFixed(3)} → ${plotted[plotted.length - 1].toFixed(3)} over ${plotted.length} steps in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `exact match ${accuracy}; "unfold" ${await page.textContent("#s2s-answer")}`,
    );
    expect(await training(page, "seq2seq")).toBe(true);
    mkdirSync(join(ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: SEQ2SEQ_SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
  });

  it("stops seq2seq training, saves the model, and loads it back (through either tab's Load)", async () => {
    await page.click("#s2s-stop");
    await page.waitForFunction(() => !(globalThis as unknown as { unfoldDemo: Demo }).unfoldDemo.seq2seq.training, null, { timeout: 30_000 });
    expect(await page.textContent("#s2s-message")).toMatch(/^Stopped\./);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#s2s-save")]);
    const bytes = readFileSync(await download.path());
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(download.suggestedFilename()).toBe("seq2seq-reverse.safetensors");

    await page.click("#s2s-reset");
    expect(await page.$$eval("#s2s-predictions li", (items) => items.length)).toBe(0);
    expect((await heatmap(page)).rows).toBe(0);
    // Loaded through the language model's tab: the page sees a Seq2Seq file and opens it in its tab.
    await page.click("[role=tab][data-task=char-lm]");
    await page.setInputFiles("#load", { name: "reverse.safetensors", mimeType: "application/octet-stream", buffer: bytes });
    await page.waitForFunction(() => document.getElementById("s2s-message")?.textContent?.startsWith("Loaded reverse.safetensors"), null, { timeout: 30_000 });
    expect(await page.getAttribute("[role=tab][data-task=seq2seq]", "aria-selected")).toBe("true");
    expect(await page.isVisible("#s2s-predictions")).toBe(true);
    expect(await page.$$eval("#s2s-predictions li", (items) => items.length)).toBe(7);
    expect(await page.textContent("#s2s-accuracy")).toMatch(/^\d+\.\d%$/);
    expect(await page.textContent("#s2s-accuracy-info")).toMatch(/\(loaded reverse\.safetensors\)/);
    const map = await heatmap(page);
    expect(map.rows).toBeGreaterThan(0);
    expect(map.cols).toBe(Array.from((await page.inputValue("#s2s-source"))).length);
    // A file that is no model is refused with a message, and the page goes on.
    await page.setInputFiles("#s2s-load", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not a model") });
    await page.waitForFunction(() => document.getElementById("s2s-message")?.textContent?.startsWith("Could not load notes.txt"), null, { timeout: 30_000 });
    expect(await page.$$eval("#s2s-predictions li", (items) => items.length)).toBe(7);
    expect(errors).toEqual([]);
  });
});
