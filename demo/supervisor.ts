// Starts the demo system (frontend -> api x3 -> db), keeps it up by restarting
// any process that exits, and drives it with bounded load. Its stdout is an
// event stream, one JSON object per line ({"msg":"ready"} once every instance
// answers), which tests and `make up` wait on; the services log to stderr.
//   node --import tsx demo/supervisor.ts [--base-port 4100] [--no-load]
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { duration } from "../lib/duration";
import { formatIssues, zodIssues } from "../lib/issues";
import { startLoad, type LoadRun } from "./loadgen";
import { httpGet } from "./net";
import { clusterSchema, DEFAULT_BASE_PORT, defaultCluster, demoInstances, demoTopologyYaml, nodeTag, type DemoInstance } from "./topology";

const SERVICE_TS = path.join(import.meta.dirname, "service.ts");
const READY_TIMEOUT_MS = 20_000;
const READY_POLL_MS = 100;
const HEALTH_TIMEOUT_MS = 500;
const KILL_AFTER_MS = 2000;
/** A child that exits on its own this soon after starting is crashing, not being broken on purpose. */
const CRASH_WINDOW_MS = 2000;
const MAX_BACKOFF_MS = 30_000;

const argsSchema = z.object({
  basePort: z.coerce.number().int().min(1024).max(65525).default(DEFAULT_BASE_PORT),
  cluster: clusterSchema.optional(),
  writeTopology: z.string().min(1).optional(),
  restartDelayMs: z.coerce.number().int().min(0).max(600_000).default(1000),
  loadRps: z.coerce.number().min(0).max(1000).default(20),
  noLoad: z.boolean().default(false),
  maxLoadDurationMs: duration({ min: 1 }).default(12 * 3_600_000),
  maxLoadRequests: z.coerce.number().int().min(1).max(100_000_000).default(5_000_000),
});
type Args = z.infer<typeof argsSchema>;

function parseSupervisorArgs(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      "base-port": { type: "string" },
      cluster: { type: "string" },
      "write-topology": { type: "string" },
      "restart-delay-ms": { type: "string" },
      "load-rps": { type: "string" },
      "no-load": { type: "boolean" },
      "max-load-duration": { type: "string" },
      "max-load-requests": { type: "string" },
    },
    strict: true,
  });
  const r = argsSchema.safeParse({
    basePort: values["base-port"],
    cluster: values.cluster,
    writeTopology: values["write-topology"],
    restartDelayMs: values["restart-delay-ms"],
    loadRps: values["load-rps"],
    noLoad: values["no-load"],
    maxLoadDurationMs: values["max-load-duration"],
    maxLoadRequests: values["max-load-requests"]?.replaceAll("_", "").replaceAll(",", ""),
  });
  if (!r.success) throw new Error(`invalid arguments:\n${formatIssues(zodIssues(r.error))}`);
  return r.data;
}

// stdout is the supervisor's contract with whoever started it, so these lines
// are written unconditionally, not through the GAMEDAY_LOG-filtered logger.
function event(msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), msg, ...fields }) + "\n");
}

interface Slot {
  inst: DemoInstance;
  child: ChildProcess | null;
  startedAt: number;
  /** consecutive crashes, for the backoff; reset by a signal death or a long run */
  crashes: number;
  restartTimer: NodeJS.Timeout | null;
}

function writeFileAtomic(file: string, text: string): void {
  // a reader (the worker) must never see half a topology
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseSupervisorArgs(process.argv.slice(2));
  } catch (e) {
    event("error", { error: (e as Error).message });
    process.exit(2);
  }
  const cluster = args.cluster ?? defaultCluster(args.basePort);
  if (args.writeTopology) {
    writeFileAtomic(args.writeTopology, demoTopologyYaml({ basePort: args.basePort, cluster }));
    event("topology-written", { file: path.resolve(args.writeTopology), cluster });
  }

  const slots: Slot[] = demoInstances(args.basePort).map((inst) => ({ inst, child: null, startedAt: 0, crashes: 0, restartTimer: null }));
  let stopping = false;
  let load: LoadRun | null = null;

  const spawnSlot = (slot: Slot, msg: "started" | "restarted") => {
    const { inst } = slot;
    const argv = ["--import", "tsx", SERVICE_TS, ...nodeTag(cluster, inst.node), "--port", String(inst.port)];
    if (inst.upstreams.length) argv.push("--upstream", inst.upstreams.join(","));
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "inherit", "inherit"] });
    slot.child = child;
    slot.startedAt = Date.now();
    event(msg, { node: inst.node, port: inst.port, pid: child.pid ?? null });
    child.on("error", (e) => event("spawn-error", { node: inst.node, port: inst.port, error: e.message }));
    child.on("exit", (code, signal) => {
      if (slot.child === child) slot.child = null;
      const livedMs = Date.now() - slot.startedAt;
      event("exited", { node: inst.node, port: inst.port, pid: child.pid ?? null, code, signal, livedMs });
      if (stopping) return;
      // Killed by a signal is chaos doing its job: come back after the usual delay.
      // Exiting by itself right after start (port taken, bad build) would spin, so back off.
      slot.crashes = signal === null && livedMs < CRASH_WINDOW_MS ? slot.crashes + 1 : 0;
      const delay = Math.min(MAX_BACKOFF_MS, args.restartDelayMs * 2 ** slot.crashes);
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = null;
        if (!stopping) spawnSlot(slot, "restarted");
      }, delay);
    });
  };

  const shutdown = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    event("stopping", { reason });
    for (const s of slots) if (s.restartTimer) clearTimeout(s.restartTimer);
    const loadStopped = load?.stop();
    const live = slots.map((s) => s.child).filter((c): c is ChildProcess => !!c && c.exitCode === null && c.signalCode === null);
    const exited = live.map((c) => new Promise<void>((r) => c.once("exit", () => r())));
    for (const c of live) {
      // a stopped process cannot act on SIGTERM until it is continued
      c.kill("SIGCONT");
      c.kill("SIGTERM");
    }
    const killer = setTimeout(() => live.forEach((c) => c.kill("SIGKILL")), KILL_AFTER_MS);
    // SIGKILL is final, but a process stuck in the kernel (D state) can still take a moment: do not wait forever
    await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, KILL_AFTER_MS + 3000))]);
    clearTimeout(killer);
    await loadStopped;
    event("stopped", { reason });
    process.exit(exitCode);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
  process.on("SIGINT", () => void shutdown("SIGINT", 0));

  for (const s of slots) spawnSlot(s, "started");

  // Ready means every instance answers /healthz *as our child*: the pid header
  // tells our process apart from a leftover demo already holding the port.
  const healthy = async (s: Slot) => {
    const pid = s.child?.pid;
    if (!pid) return false;
    try {
      const r = await httpGet(`http://127.0.0.1:${s.inst.port}/healthz`, { timeoutMs: HEALTH_TIMEOUT_MS });
      return r.status === 200 && r.headers["x-demo-pid"] === String(pid);
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let waiting = slots;
  while (waiting.length && Date.now() < deadline && !stopping) {
    const ok = await Promise.all(waiting.map(healthy));
    waiting = waiting.filter((_, i) => !ok[i]);
    if (waiting.length) await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  if (stopping) return;
  if (waiting.length) {
    const missing = waiting.map((s) => `${s.inst.node}:${s.inst.port}`).join(", ");
    event("error", { error: `not ready after ${READY_TIMEOUT_MS / 1000} s: no healthy answer from ${missing} (port taken by another process? see the service logs on stderr)` });
    await shutdown("not ready", 1);
    return;
  }

  const frontend = slots.find((s) => s.inst.node === "frontend")!;
  const rps = args.noLoad ? 0 : args.loadRps;
  event("ready", {
    cluster,
    frontend: `http://127.0.0.1:${frontend.inst.port}/`,
    instances: slots.map((s) => ({ node: s.inst.node, port: s.inst.port, pid: s.child?.pid ?? null })),
    loadRps: rps,
  });
  if (rps > 0) {
    load = startLoad(
      { url: `http://127.0.0.1:${frontend.inst.port}/`, rps, maxDurationMs: args.maxLoadDurationMs, maxRequests: args.maxLoadRequests },
      (msg, fields) => event(msg, fields),
    );
  }
}

main().catch((e: Error) => {
  event("error", { error: e.message });
  process.exit(1);
});
