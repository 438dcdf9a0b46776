// What the runtime tests need from the machine: the built package, the Bun and Deno binaries
// from devDependencies, a way to run a program and keep what it printed, and Chromium (from
// the system; a clear error naming how to install it when it is missing).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const DIST = join(ROOT, "dist");

/** Throws unless `npm run build` has made dist/ (npm test builds it first, in `pretest`). */
export function requireBuild(): void {
  for (const file of ["index.js", "index.cjs", "index.d.ts"]) {
    if (!existsSync(join(DIST, file))) throw new Error(`dist/${file} is missing: run \`npm run build\` first (\`npm test\` does it in pretest)`);
  }
}

export const NODE = process.execPath;
/** devDependencies `bun` and `deno` put their binaries here. */
export const BUN = join(ROOT, "node_modules", ".bin", "bun");
export const DENO = join(ROOT, "node_modules", ".bin", "deno");

export function requireBinary(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: the devDependency "${pkg}" is not installed (run npm ci)`);
  return path;
}

/** Environment for the child runtimes: no update checks or telemetry (the machine may be offline). */
export const QUIET_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  DENO_NO_UPDATE_CHECK: "1",
  DENO_NO_PROMPT: "1",
  NO_COLOR: "1",
  DO_NOT_TRACK: "1",
  BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0",
};

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `command args` in `cwd`, resolving with what it printed (never rejects on a non-zero exit). */
export function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? QUIET_ENV, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
    }, options.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command}: ${e.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** Formats a failed run for an assertion message. */
export function describeRun(what: string, r: RunResult): string {
  return `${what} exited with ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}
