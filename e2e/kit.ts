// Test kit: temporary Game Day homes with a migrated database, real victim
// processes, the demo system and worker processes — all cleaned up by the
// caller's after() hooks through the returned stop functions.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { Browser } from "playwright-core";
import { io as ioClient, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../lib/contract";
import { listProcesses, readProc } from "../lib/procfs";

export const ROOT = path.resolve(import.meta.dirname, "..");
/** Node flags for what a test starts that must not outlive it (scripts/exit-with-parent.mjs). */
export const EXIT_WITH_PARENT = ["--import", path.join(ROOT, "scripts/exit-with-parent.mjs")];
const TSX = ["--import", "tsx", ...EXIT_WITH_PARENT];
/** Node arguments that serve the built web app on host:port (scripts/web.ts), tied to the test. */
export const webArgs = (port: number, host = "127.0.0.1") => ["--import", "tsx", ...EXIT_WITH_PARENT, path.join(ROOT, "scripts/web.ts"), "--port", String(port), "--host", host];

const tempDirs: string[] = [];
process.on("exit", () => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * The owner in a temporary name (`<prefix>pid<PID>-XXXXXX`): a process killed before its exit
 * handler ran leaves it behind, and the sweep at the start of the next `make test` (e2e/sweep.ts)
 * removes what belongs to a process that is gone.
 */
export const ownedPrefix = (prefix: string) => `${prefix}pid${process.pid}-`;

/** A fresh directory under the system temp dir, removed when this test process exits. */
export function tempDir(prefix = "gameday-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), ownedPrefix(prefix)));
  tempDirs.push(dir);
  return dir;
}

/** A fresh GAMEDAY_HOME whose database has every migration applied (removed when the test process exits). */
export function tempHome(prefix = "gameday-test-"): string {
  const home = tempDir(prefix);
  const db = new Database(path.join(home, "gameday.db"));
  const dir = path.join(ROOT, "prisma/migrations");
  for (const m of fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory()).sort()) {
    db.exec(fs.readFileSync(path.join(dir, m, "migration.sql"), "utf8"));
  }
  db.close();
  return home;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

export function procState(pid: number): string | null {
  return readProc(pid)?.state ?? null;
}

/** Kill a child and everything it may have left stopped. */
export async function killHard(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    process.kill(child.pid, "SIGCONT");
    child.kill(signal);
  } catch {
    return;
  }
  const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(t);
}

/**
 * An experiment that SIGSTOPs every process of `target` (a target spec in
 * YAML flow style) for 60 s while an http probe watches a healthy URL, so
 * only an abort or a HALT ends it early.
 */
export function freezeExperiment(name: string, target: string, probeUrl: string): string {
  return `apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: the probe target does not care about the victims
  targets:
    victims: ${target}
  steadyState:
    probes:
      - { name: up, type: http, url: "${probeUrl}", interval: 100ms, window: 1s, tolerance: { min: 0.9 } }
  method:
    - { fault: process-kill, target: victims, params: { signal: STOP }, duration: 60s }
  rollback: always
`;
}

/** Are all (none) of these children stopped (state T)? */
export const allStopped = (children: ChildProcess[]) => children.every((c) => procState(c.pid!) === "T");
export const noneStopped = (children: ChildProcess[]) => children.every((c) => procState(c.pid!) !== "T");

/** Victim processes: `sleep` with a unique duration tag in their command line. */
export function spawnVictims(n: number, tag = `${process.pid}${Math.floor(Math.random() * 1e6)}`): { children: ChildProcess[]; regex: string; stop: () => Promise<void> } {
  const arg = `3600.${tag}`;
  const children = Array.from({ length: n }, () => spawn("sleep", [arg], { stdio: "ignore" }));
  return {
    children,
    regex: `^sleep 3600\\.${tag}$`,
    stop: async () => {
      await Promise.all(children.map((c) => killHard(c, "SIGKILL")));
    },
  };
}

/** Read a child's stdout line by line until `match` accepts one. */
export function waitForLine(child: ChildProcess, match: (line: string) => boolean, timeoutMs = 30_000, what = "a line"): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${what}; output so far:\n${buf.slice(-2000)}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split("\n")) {
        if (match(line)) {
          cleanup();
          resolve(line);
          return;
        }
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`process exited (${code}) before ${what}; output:\n${buf.slice(-2000)}`));
    };
    const cleanup = () => {
      clearTimeout(t);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
  });
}

export interface DemoSystem {
  child: ChildProcess;
  basePort: number;
  topologyFile: string;
  stop: () => Promise<void>;
}

export async function startDemo(basePort: number, dir: string, extra: string[] = []): Promise<DemoSystem> {
  const topologyFile = path.join(dir, `topology-${basePort}.yaml`);
  const child = spawn(process.execPath, [...TSX, path.join(ROOT, "demo/supervisor.ts"), "--base-port", String(basePort), "--write-topology", topologyFile, ...extra], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await waitForLine(child, (l) => l.includes('"ready"'), 30_000, "the demo system to be ready");
  return { child, basePort, topologyFile, stop: () => killHard(child) };
}

export interface WorkerProc {
  child: ChildProcess;
  url: string;
  token: string;
  home: string;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

export async function startWorkerProcess(home: string, opts: { topology?: string; port?: number; env?: Record<string, string> } = {}): Promise<WorkerProc> {
  const args = [...TSX, path.join(ROOT, "worker/main.ts"), "--port", String(opts.port ?? 0)];
  if (opts.topology) args.push("--topology", opts.topology);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, GAMEDAY_HOME: home, GAMEDAY_LOG: process.env.GAMEDAY_LOG ?? "warn", GAMEDAY_ADMIN_PASSWORD: "test-admin-pw", ...opts.env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await waitForLine(child, (l) => l.includes('"msg":"ready"'), 30_000, "the worker to be ready");
  const { url } = JSON.parse(line) as { url: string };
  const cfg = JSON.parse(fs.readFileSync(path.join(home, "cli.json"), "utf8")) as { token: string };
  return { child, url, token: cfg.token, home, stop: (signal = "SIGTERM") => killHard(child, signal) };
}

export async function apiCall<T = unknown>(w: { url: string; token: string }, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(w.url + p, {
    method,
    headers: { authorization: `Bearer ${w.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as T };
}

export type LiveClient = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * A socket.io client of the worker at `url`, by token or by session cookie
 * from the page `origin`, resolved at its hello; it goes into `opened`, for the
 * caller's after() to close.
 */
export function connectLive(url: string, auth: { token?: string; cookie?: string }, origin: string, opened: LiveClient[]): Promise<LiveClient> {
  const s: LiveClient = ioClient(url, {
    transports: ["websocket"],
    reconnection: false,
    ...(auth.token ? { auth: { token: auth.token } } : { extraHeaders: { cookie: auth.cookie!, origin } }),
  });
  opened.push(s);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no hello within 10 s")), 10_000);
    s.once("hello", () => (clearTimeout(t), resolve(s)));
    s.once("connect_error", (e) => (clearTimeout(t), reject(e)));
  });
}

/** The reason a socket was disconnected, within `withinMs`. */
export function disconnected(s: LiveClient, withinMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    if (!s.connected) return resolve("already");
    const t = setTimeout(() => reject(new Error(`still connected after ${withinMs} ms`)), withinMs);
    s.once("disconnect", (reason) => (clearTimeout(t), resolve(reason)));
  });
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** A browser test needs the built web app and Debian's Chromium; say how to get them. */
export function requireWebBuildAndChromium(): void {
  if (!fs.existsSync(path.join(ROOT, ".next/BUILD_ID"))) throw new Error("the web app is not built: run `make test` (it builds first) or `bash scripts/build.sh`");
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (make test does this as root)`);
}

/** The built web app (scripts/web.ts) on 127.0.0.1:port in front of the worker at workerUrl, trusting only its own origin; resolved once /login answers. */
export async function startWebApp(port: number, workerUrl: string): Promise<ChildProcess> {
  const web = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, webArgs(port), {
    cwd: ROOT,
    env: { ...process.env, GAMEDAY_WORKER_URL: workerUrl, GAMEDAY_ORIGINS: web, NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  try {
    await waitFor("the web app", async () => (await fetch(`${web}/login`)).status === 200, 60_000, 250);
  } catch (e) {
    await killHard(child);
    throw e;
  }
  return child;
}

/** Debian's Chromium under Playwright (`npx playwright install` cannot work here), with nothing reaching beyond the machine. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

/** Run the gameday CLI as a separate process; `input`, when given, is its stdin. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Several `gameday` commands in one process (e2e/cli-batch.ts): for inputs
 * that must be refused, each a fraction of a second instead of a process's
 * start. The results come in the order of the commands.
 */
export function runCliBatch(cases: string[][], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...EXIT_WITH_PARENT, "--import", "tsx", path.join(ROOT, "e2e/cli-batch.ts")], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin!.end(JSON.stringify(cases));
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, sig) => {
      clearTimeout(t);
      try {
        const r = JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
        if (!Array.isArray(r) || r.length !== cases.length) throw new Error(`${r?.length} results for ${cases.length} commands`);
        resolve(r);
      } catch (e) {
        reject(new Error(`cli-batch exited ${sig ?? code} without its results (${(e as Error).message}): ${stderr.slice(-2000)}`));
      }
    });
  });
}

/** Load generators (injectors/load/*.mjs) whose command line names something below dir. */
export function loadIn(dir: string): number[] {
  return listProcesses()
    .filter((p) => p.state !== "Z" && p.state !== "X" && p.cmdline.includes(dir) && /injectors\/load\/[\w-]+\.mjs/.test(p.cmdline))
    .map((p) => p.pid);
}

const tmpfsMounts: string[] = [];

/** A fresh tmpfs of `mb` MiB on a temporary directory: a real, small filesystem to fill. Undo with unmountAllTmpfs(). */
export function mountTmpfs(mb = 32, prefix = "gameday-tmpfs-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), ownedPrefix(prefix)));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${mb}m`, `gameday-test-${process.pid}`, dir]);
  tmpfsMounts.push(dir);
  return dir;
}

/** Kill load generators still writing in them, unmount every tmpfs mountTmpfs() made, remove the folders. */
export function unmountAllTmpfs(): void {
  for (const dir of tmpfsMounts.splice(0)) {
    for (const pid of loadIn(dir)) process.kill(pid, "SIGKILL");
    try {
      execFileSync("umount", [dir]);
    } catch {
      execFileSync("umount", ["-l", dir]);
    }
    fs.rmdirSync(dir);
  }
}

/** A valid experiment that is never meant to run (its target matches nothing): for schedules and validation. */
export function inertExperiment(name: string): string {
  return `apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: h
  targets: { t: { process: { name: nothing-here } } }
  steadyState: { probes: [ { name: up, type: http, url: "http://127.0.0.1:1/", tolerance: { min: 1 } } ] }
  method: [ { fault: process-kill, target: t, duration: 1s } ]
`;
}
