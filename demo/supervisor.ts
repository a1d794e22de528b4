// Starts the demo system (frontend -> api x3 -> db), keeps it up by restarting
// any process that exits, and drives it with bounded load. Its stdout is an
// event stream, one JSON object per line ({"msg":"ready"} once every instance
// answers), which tests and `make up` wait on; the services log to stderr.
// With --containers every instance is a Docker container instead (see
// containers.ts; Docker's restart policy brings back one that dies) and the
// shop gains its checkout, order-service -> payment-service.
//   node --import tsx demo/supervisor.ts [--base-port 4100] [--no-load] [--containers [--engine unix:///var/run/docker.sock]]
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { config } from "../lib/config";
import { duration } from "../lib/duration";
import { formatIssues, zodIssues } from "../lib/issues";
import { startContainerDemo, type ContainerDemo } from "./containers";
import { startLoad, type LoadRun } from "./loadgen";
import { httpGet } from "./net";
import { clusterSchema, DEFAULT_BASE_PORT, defaultCluster, demoInstances, demoTopologyYaml, entryPoints, nodeTag, type DemoInstance } from "./topology";

const SERVICE_TS = path.join(import.meta.dirname, "service.ts");
/** containers take longer: the engine creates them one by one, and seven node processes boot at once on two cores */
const READY_TIMEOUT_MS = { processes: 20_000, containers: 45_000 };
const READY_POLL_MS = 100;
const HEALTH_TIMEOUT_MS = 500;
const KILL_AFTER_MS = 2000;
/** A child that exits on its own this soon after starting is crashing, not being broken on purpose. */
const CRASH_WINDOW_MS = 2000;
const MAX_BACKOFF_MS = 30_000;

const argsSchema = z
  .object({
    basePort: z.coerce.number().int().min(1024).max(65525).default(DEFAULT_BASE_PORT),
    cluster: clusterSchema.optional(),
    writeTopology: z.string().min(1).optional(),
    restartDelayMs: z.coerce.number().int().min(0).max(600_000).default(1000),
    loadRps: z.coerce.number().min(0).max(1000).default(20),
    noLoad: z.boolean().default(false),
    maxLoadDurationMs: duration({ min: 1 }).default(12 * 3_600_000),
    maxLoadRequests: z.coerce.number().int().min(1).max(100_000_000).default(5_000_000),
    containers: z.boolean().default(false),
    engine: z
      .string()
      .regex(/^(unix:\/\/\/.+|tcp:\/\/[^/\s]+:\d{1,5}\/?)$/, "expected unix:///path/to/docker.sock or tcp://HOST:PORT")
      .optional(),
  })
  .refine((a) => a.containers || a.engine === undefined, { path: ["engine"], message: "--engine goes with --containers" });
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
      containers: { type: "boolean" },
      engine: { type: "string" },
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
    containers: values.containers,
    engine: values.engine,
  });
  if (!r.success) throw new Error(`invalid arguments:\n${formatIssues(zodIssues(r.error))}`);
  return r.data;
}

// stdout is the supervisor's contract with whoever started it, so these lines
// are written unconditionally, not through the GAMEDAY_LOG-filtered logger.
function event(msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), msg, ...fields }) + "\n");
}

function writeFileAtomic(file: string, text: string): void {
  // a reader (the worker) must never see half a topology
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** How the instances run: host processes spawned and restarted here, or Docker containers (containers.ts). */
interface Runtime {
  start(): Promise<void>;
  /** instance i answers /healthz as the one we started, not a leftover holding its port */
  healthy(i: number): Promise<boolean>;
  /** what the ready event says of instance i */
  describe(i: number): Promise<Record<string, unknown>>;
  /** why instance i is not ready, for the error event */
  why(i: number): Promise<string>;
  /** stop every instance; nothing is restarted afterwards */
  stop(): Promise<void>;
}

interface Slot {
  inst: DemoInstance;
  child: ChildProcess | null;
  startedAt: number;
  /** consecutive crashes, for the backoff; reset by a signal death or a long run */
  crashes: number;
  restartTimer: NodeJS.Timeout | null;
}

function processRuntime(args: Args, cluster: string, instances: DemoInstance[]): Runtime {
  const slots: Slot[] = instances.map((inst) => ({ inst, child: null, startedAt: 0, crashes: 0, restartTimer: null }));
  let stopping = false;

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

  return {
    async start() {
      for (const s of slots) spawnSlot(s, "started");
    },
    // the pid header tells our process apart from a leftover demo already holding the port
    async healthy(i) {
      const s = slots[i];
      const pid = s.child?.pid;
      if (!pid) return false;
      try {
        const r = await httpGet(`http://127.0.0.1:${s.inst.port}/healthz`, { timeoutMs: HEALTH_TIMEOUT_MS });
        return r.status === 200 && r.headers["x-demo-pid"] === String(pid);
      } catch {
        return false;
      }
    },
    describe: async (i) => ({ node: slots[i].inst.node, port: slots[i].inst.port, pid: slots[i].child?.pid ?? null }),
    why: async (i) => `${slots[i].inst.node}:${slots[i].inst.port}`,
    async stop() {
      stopping = true;
      for (const s of slots) if (s.restartTimer) clearTimeout(s.restartTimer);
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
    },
  };
}

function containerRuntime(args: Args, cluster: string, instances: DemoInstance[]): Runtime {
  const engine = args.engine ?? config().DOCKER_HOST;
  const abort = new AbortController();
  let demo: ContainerDemo | null = null;
  let starting: Promise<unknown> = Promise.resolve();
  const env = process.env.GAMEDAY_LOG ? { GAMEDAY_LOG: process.env.GAMEDAY_LOG } : undefined;
  return {
    async start() {
      const p = startContainerDemo({ engine, cluster, instances, env, signal: abort.signal });
      starting = p.catch(() => undefined);
      demo = await p;
      for (const c of demo.containers) event("started", { node: c.inst.node, port: c.inst.port, container: c.name, id: c.id });
    },
    healthy: async (i) => (demo ? demo.healthy(demo.containers[i]) : false),
    async describe(i) {
      const c = demo!.containers[i];
      return { node: c.inst.node, port: c.inst.port, pid: await demo!.hostPid(c).catch(() => null), container: c.name, id: c.id };
    },
    why: async (i) => (demo ? demo.why(demo.containers[i]) : `${instances[i].node}:${instances[i].port} (no container yet)`),
    async stop() {
      // a start still creating containers stops at the next one and removes what it made
      abort.abort();
      await starting;
      await demo?.stop();
    },
  };
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
  const mode = args.containers ? "containers" : "processes";
  const instances = demoInstances(args.basePort, mode);
  if (args.writeTopology) {
    writeFileAtomic(args.writeTopology, demoTopologyYaml({ basePort: args.basePort, cluster, mode }));
    event("topology-written", { file: path.resolve(args.writeTopology), cluster });
  }

  const rt = args.containers ? containerRuntime(args, cluster, instances) : processRuntime(args, cluster, instances);
  let stopping = false;
  const loads: LoadRun[] = [];

  const shutdown = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    event("stopping", { reason });
    const loadsStopped = Promise.all(loads.map((l) => l.stop()));
    try {
      await rt.stop();
    } catch (e) {
      event("error", { error: `stopping the demo: ${(e as Error).message}` });
      exitCode ||= 1;
    }
    await loadsStopped;
    event("stopped", { reason });
    process.exit(exitCode);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
  process.on("SIGINT", () => void shutdown("SIGINT", 0));

  try {
    await rt.start();
  } catch (e) {
    if (stopping) return;
    event("error", { error: (e as Error).message });
    await shutdown("start failed", 1);
    return;
  }

  const deadline = Date.now() + READY_TIMEOUT_MS[mode];
  let waiting = instances.map((_, i) => i);
  while (waiting.length && Date.now() < deadline && !stopping) {
    const ok = await Promise.all(waiting.map((i) => rt.healthy(i)));
    waiting = waiting.filter((_, j) => !ok[j]);
    if (waiting.length) await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  if (stopping) return;
  if (waiting.length) {
    const missing = (await Promise.all(waiting.map((i) => rt.why(i)))).join(", ");
    const hint = args.containers ? "see each container's log" : "port taken by another process? see the service logs on stderr";
    event("error", { error: `not ready after ${READY_TIMEOUT_MS[mode] / 1000} s: no healthy answer from ${missing} (${hint})` });
    await shutdown("not ready", 1);
    return;
  }

  const entries = entryPoints(instances);
  const rps = args.noLoad ? 0 : args.loadRps;
  event("ready", {
    cluster,
    mode,
    ...(args.containers ? { engine: args.engine ?? config().DOCKER_HOST } : {}),
    frontend: `http://127.0.0.1:${entries[0].port}/`,
    entryPoints: entries.map((e) => ({ node: e.node, url: `http://127.0.0.1:${e.port}/` })),
    instances: await Promise.all(instances.map((_, i) => rt.describe(i))),
    loadRps: rps,
  });
  // each entry point gets the rate: the checkout's timeouts show at the same traffic as the shop's
  if (rps > 0) {
    for (const e of entries) {
      loads.push(
        startLoad(
          { url: `http://127.0.0.1:${e.port}/`, rps, maxDurationMs: args.maxLoadDurationMs, maxRequests: args.maxLoadRequests },
          (msg, fields) => event(msg, { node: e.node, ...fields }),
        ),
      );
    }
  }
}

main().catch((e: Error) => {
  event("error", { error: e.message });
  process.exit(1);
});
