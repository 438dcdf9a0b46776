// Headless Chromium for the tests, driven by playwright-core, and a static file server to
// load pages from (module scripts and workers need http:, not file:).
import { createServer, type Server } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize, sep } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** Where Chromium is looked for: $CHROMIUM_PATH, else Debian's package. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_MISSING =
  `Chromium was not found at ${CHROMIUM}, so the browser tests cannot run. ` +
  `Install it with \`apt-get update && apt-get install -y chromium\` (Debian; .ci/run does this), ` +
  `or point CHROMIUM_PATH at a Chromium binary.`;

/** Throws the install instructions when Chromium is missing: browser tests never pass without a browser. */
export function requireChromium(): string {
  if (!existsSync(CHROMIUM)) throw new Error(CHROMIUM_MISSING);
  return CHROMIUM;
}

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export interface Browser {
  context: BrowserContext;
  /** A new page whose console.log lines, console errors and uncaught errors are collected. */
  page(): Promise<{ page: Page; console: string[]; errors: string[] }>;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile directory (removed on close). */
export async function launchChromium(): Promise<Browser> {
  const executablePath = requireChromium();
  const profile = mkdtempSync(join(tmpdir(), "unfold-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
  return {
    context,
    async page() {
      const page = await context.newPage();
      const consoleLines: string[] = [];
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "log") consoleLines.push(m.text());
        else if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
      });
      page.on("pageerror", (e) => errors.push(e.stack ?? e.message));
      return { page, console: consoleLines, errors };
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".cjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=utf-8",
};

export interface StaticServer {
  /** http://127.0.0.1:port (no trailing slash). */
  url: string;
  close(): Promise<void>;
}

/** Serves the files under `root` on a free localhost port. */
export async function serveDirectory(root: string): Promise<StaticServer> {
  const base = normalize(root + sep);
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (path === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    let file = normalize(join(base, path));
    if (!file.startsWith(base)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file)) {
      res.writeHead(404).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("static server: no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
