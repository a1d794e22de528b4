// The worker process. Needs root for most faults. On SIGTERM/SIGINT it halts
// (reverting every change) before exiting; after SIGKILL the next start
// replays the journal.
import path from "node:path";
import fs from "node:fs";
import { parseArgs } from "node:util";
import { config, ConfigError } from "../lib/config";
import { createLogger } from "../lib/log";
import { registerSelf } from "../lib/procfs";
import { startWorker } from "./app";

let env: { port: number; bind: string; topology?: string; examples?: string; protectPids: number[]; warmupMs?: number };
try {
  const c = config();
  env = { port: c.WORKER_PORT, bind: c.GAMEDAY_BIND, topology: c.GAMEDAY_TOPOLOGY, examples: c.GAMEDAY_EXAMPLES, protectPids: c.GAMEDAY_PROTECT_PIDS, warmupMs: c.GAMEDAY_WARMUP_MS };
  void c.GAMEDAY_LOG; // the logger reads it next: a bad value is reported here like the others
  void c.GAMEDAY_AUDIT_RETENTION_DAYS; // read once the worker is up: refused before anything starts
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`gameday worker: ${e.message}\n`);
  process.exit(1);
}

const log = createLogger({ component: "worker" });

const { values: a } = parseArgs({
  options: {
    port: { type: "string", default: String(env.port) },
    host: { type: "string", default: env.bind },
    topology: { type: "string", default: env.topology },
    examples: { type: "string", default: env.examples },
    "protect-pid": { type: "string", multiple: true, default: [] },
  },
  strict: true,
});

const root = path.resolve(import.meta.dirname, "..");
const port = Number(a.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log.error("invalid --port", { port: a.port });
  process.exit(1);
}
const protectPids = [...(a["protect-pid"] ?? []).filter(Boolean).map(Number), ...env.protectPids];
// Standalone CLIs (gameday sniper, ...) read this registry and spare us too.
const unregister = [process.pid, ...protectPids].map((pid) => registerSelf(pid));
process.on("exit", () => unregister.forEach((u) => u()));
const topologyFile = a.topology ?? (fs.existsSync(path.join(root, "demo/topology.yaml")) ? path.join(root, "demo/topology.yaml") : null);

try {
  const w = await startWorker({
    port,
    host: a.host!,
    topologyFile,
    examplesDir: a.examples ?? path.join(root, "examples"),
    protectPids,
    warmupMs: env.warmupMs,
    log,
  });
  if (w.createdAdmin) {
    const pw = w.createdAdmin.generated ? w.createdAdmin.password : "(from GAMEDAY_ADMIN_PASSWORD)";
    process.stdout.write(`\n  Game Day admin created: user "${w.createdAdmin.username}", password ${pw}\n  (shown once; set GAMEDAY_ADMIN_PASSWORD to choose it)\n\n`);
  }
  process.stdout.write(JSON.stringify({ msg: "ready", url: w.url, pid: process.pid, topology: topologyFile }) + "\n");
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping: reverting everything", { signal: sig });
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    void w.close().then(
      () => process.exit(0),
      (e: Error) => {
        log.error("shutdown failed", { error: e });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => stop("SIGHUP"));
  process.on("uncaughtException", (e) => {
    log.error("uncaught exception; halting", { error: e });
    stop("uncaughtException");
  });
} catch (e) {
  log.error("worker failed to start", { error: e as Error });
  process.exit(1);
}
