// `make up`: start the demo system, the web app and the worker, print where to
// log in, and stop all three (reverting every fault) on Ctrl-C. With
// GAMEDAY_DEMO=containers (`make up DEMO=containers`) the demo runs as Docker
// containers: on DOCKER_HOST when set, else on the machine's engine, else on
// a private dockerd started here and stopped with everything else.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { config } from "../lib/config";
import { pingSocket, privateDockerdUnavailable, startPrivateDockerd, SYSTEM_DOCKER_SOCKET, type PrivateDockerd } from "../lib/dockerd";
import { gamedayHome } from "../lib/paths";

const ROOT = path.resolve(import.meta.dirname, "..");
// what we start stops when we do, even after a SIGKILL of this process
const EXIT_WITH_PARENT = ["--import", path.join(ROOT, "scripts/exit-with-parent.mjs")];
const { PORT: WEB_PORT, WORKER_PORT, GAMEDAY_BIND: BIND, DEMO_BASE_PORT, GAMEDAY_DEMO, DOCKER_HOST } = config();
const CONTAINERS = GAMEDAY_DEMO === "containers";
const host = BIND === "0.0.0.0" ? "localhost" : BIND;
const workerUrl = `http://${host}:${WORKER_PORT}`;
const webUrl = `http://${host}:${WEB_PORT}`;

const children: { name: string; child: ChildProcess }[] = [];
const say = (s: string) => process.stdout.write(`\x1b[1m[gameday]\x1b[0m ${s}\n`);

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return r.status < 500;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, ok: () => Promise<boolean>, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
}

function start(name: string, args: string[], env: Record<string, string> = {}, pipeStdout = false): ChildProcess {
  const child = spawn(args[0], args.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", pipeStdout ? "pipe" : "inherit", "inherit"],
  });
  children.push({ name, child });
  child.on("exit", (code, sig) => {
    if (!stopping) {
      say(`${name} exited (${sig ?? code}); stopping everything`);
      void stopAll(1);
    }
  });
  return child;
}

let privateEngine: PrivateDockerd | null = null;

/** The engine the container demo runs on; a private dockerd when the host has none. */
async function demoEngine(): Promise<string> {
  if (process.env.DOCKER_HOST) return DOCKER_HOST;
  if (await pingSocket(SYSTEM_DOCKER_SOCKET)) return `unix://${SYSTEM_DOCKER_SOCKET}`;
  const why = privateDockerdUnavailable();
  if (why) throw new Error(`GAMEDAY_DEMO=containers needs a Docker engine: none answers on ${SYSTEM_DOCKER_SOCKET} (or set DOCKER_HOST), and a private one cannot start: ${why}`);
  say("no Docker engine on this host: starting a private dockerd (no bridge, no iptables rules, host networking)");
  privateEngine = await startPrivateDockerd(fs.mkdtempSync(path.join(os.tmpdir(), `gameday-dockerd-pid${process.pid}-`)));
  return privateEngine.engine;
}

let stopping = false;
async function stopAll(code: number): Promise<never> {
  stopping = true;
  // the worker first: it halts every run and reverts every change
  const order = [...children.filter((c) => c.name === "worker"), ...children.filter((c) => c.name !== "worker").reverse()];
  for (const { name, child } of order) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), name === "worker" ? 20_000 : 5000);
    await gone;
    clearTimeout(t);
  }
  // after the demo: its containers go first (the supervisor removes them), then the engine
  await privateEngine?.stop().catch((e: Error) => say(`stopping the private dockerd: ${e.message}`));
  process.exit(code);
}

async function main(): Promise<void> {
  if (await answers(`${workerUrl}/api/v1/health`)) {
    say(`Game Day is already running: dashboard ${webUrl} (worker ${workerUrl}). Nothing started.`);
    return;
  }
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));

  fs.mkdirSync(gamedayHome(), { recursive: true, mode: 0o700 });
  let topology = path.join(ROOT, "demo/topology.yaml");
  const demoArgs = [process.execPath, ...EXIT_WITH_PARENT, "--import", "tsx", "demo/supervisor.ts", "--base-port", String(DEMO_BASE_PORT)];
  const ports = `frontend :${DEMO_BASE_PORT}, api :${DEMO_BASE_PORT + 1}-${DEMO_BASE_PORT + 3}, db :${DEMO_BASE_PORT + 10}`;
  const workerEnv: Record<string, string> = {};
  let demoUp = () => answers(`http://127.0.0.1:${DEMO_BASE_PORT}/healthz`);
  if (CONTAINERS) {
    const engine = await demoEngine();
    topology = path.join(gamedayHome(), `topology-containers-${DEMO_BASE_PORT}.yaml`);
    demoArgs.push("--containers", "--engine", engine, "--write-topology", topology);
    // the container faults' default engine is the demo's
    workerEnv.DOCKER_HOST = engine;
    say(`starting the demo system as containers on ${engine} (${ports}, order-service :${DEMO_BASE_PORT + 11} -> payment-service :${DEMO_BASE_PORT + 12})`);
    demoUp = async () => (await answers(`http://127.0.0.1:${DEMO_BASE_PORT}/healthz`)) && answers(`http://127.0.0.1:${DEMO_BASE_PORT + 11}/healthz`);
  } else {
    if (DEMO_BASE_PORT !== 4100) {
      topology = path.join(gamedayHome(), `topology-${DEMO_BASE_PORT}.yaml`);
      demoArgs.push("--write-topology", topology);
    }
    say(`starting the demo system (${ports})`);
  }
  const demo = start("demo", demoArgs);
  // the first container start builds the image and boots seven node processes at once
  await waitUntil("the demo system", demoUp, demo, CONTAINERS ? 120_000 : 60_000);

  say(`starting the web app on ${webUrl}`);
  const web = start("web", [process.execPath, "--import", "tsx", ...EXIT_WITH_PARENT, path.join(ROOT, "scripts/web.ts"), "--port", String(WEB_PORT), "--host", BIND], {
    GAMEDAY_WORKER_URL: `http://127.0.0.1:${WORKER_PORT}`,
  });

  say(`starting the worker on ${workerUrl}`);
  const worker = start(
    "worker",
    [process.execPath, ...EXIT_WITH_PARENT, "--import", "tsx", "worker/main.ts", "--port", String(WORKER_PORT), "--host", BIND, "--topology", topology, "--protect-pid", String(web.pid), "--protect-pid", String(demo.pid)],
    workerEnv,
    true,
  );
  let firstStart: string | null = null;
  worker.stdout!.on("data", (d: Buffer) => {
    const text = d.toString();
    const m = /admin created: user "([^"]+)", password (\(from GAMEDAY_ADMIN_PASSWORD\)|\S+)/.exec(text);
    if (m) firstStart = m[2].startsWith("(") ? `user ${m[1]} with the password in GAMEDAY_ADMIN_PASSWORD` : `user ${m[1]}, password ${m[2]} (shown once: write it down)`;
    process.stdout.write(text);
  });
  await waitUntil("the worker", () => answers(`${workerUrl}/api/v1/health`), worker);
  await waitUntil("the web app", () => answers(`http://127.0.0.1:${WEB_PORT}/login`), web);

  say("");
  say(`Dashboard: ${webUrl}`);
  say(firstStart ? `Log in as ${firstStart}` : "Log in with the admin password printed at the first start (or the one in GAMEDAY_ADMIN_PASSWORD)");
  say(`CLI: ./bin/gameday.mjs run examples/${CONTAINERS ? "seed-payment-pause" : "api-freeze"}.yaml --wait   (token in ${path.join(gamedayHome(), "cli.json")})`);
  say("Ctrl-C stops everything and reverts every fault.");
}

main().catch((e: Error) => {
  say(`failed: ${e.message}`);
  void stopAll(1);
});
