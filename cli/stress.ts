// gameday stress — CPU and memory pressure on this host, and cgroup CPU and
// memory limits on running processes, without a worker. The same injectors
// and the same journal as an experiment: every change is recorded before it
// is made, reverted at the end, on Ctrl-C, or after a crash at the next start
// of any standalone CLI (or `gameday recover`). While the fault holds, the
// CPU (and memory) actually used by the load generators or the limited
// process trees is sampled from /proc.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { formatDuration } from "../lib/duration";
import { planConfine, type ConfineUndo } from "../injectors/cgroup/confine";
import { findHierarchy, processTree, type Controller } from "../injectors/cgroup/hierarchy";
import { ancestorsOf, listProcesses } from "../lib/procfs";
import { formatSize } from "../lib/size";
import { loadTopology, processSelectorSchema, type ProcessSelector } from "../lib/topology";
import { tagged } from "../injectors/load/children";
import { cores, cpuTimeMs, rssBytes as rss, stressNgMissing, type LoadUndo } from "../injectors/load/engine";
import { memAvailable, sizeRefusal } from "../injectors/load/memory";
import { cpuStress } from "../injectors/cpu-stress";
import { memoryStress } from "../injectors/memory-stress";
import { cpuLimit } from "../injectors/cpu-limit";
import { memoryLimit } from "../injectors/memory-limit";
import { targetLabel, type AnyInjector, type HostTarget, type ProcessTarget, type Target } from "../injectors/types";
import { describeSelector, resolveProcesses, selectorFor } from "../injectors/targets/resolve";
import { CliError } from "./client";
import { ALLOW_BROAD_OPTION, ALLOW_BROAD_USAGE, checkBroad, durationFlag, flagNumber, interruptible, parseParams, openExecutor, runFaults, stamp, STANDALONE_OPTIONS, type PlannedFault } from "./standalone";

const USAGE = `gameday stress — CPU and memory pressure, cgroup CPU and memory limits

  gameday stress cpu [--workers N] [--load P] [--engine E]
      load N cores (default: all ${cores}) to P % (default 100) with child processes
  gameday stress memory --size SIZE [--workers N] [--engine E] [--force]
      allocate and touch SIZE (e.g. 512M, 2G) in child processes; more than
      80 % of MemAvailable is refused unless --force
  gameday stress cpu-limit SELECTOR --cpus C
      cap a process and its descendants at C cores (0.2 = 20 % of one core)
  gameday stress memory-limit SELECTOR --limit SIZE
      cap a process and its descendants at SIZE of memory (the OOM killer acts
      inside the limit; memory they already had stays charged where it was)

SELECTOR: --pid PID (repeatable), --name COMM, --cmdline REGEX, or --node ID
  (a topology node; --topology FILE, default demo/topology.yaml)
${ALLOW_BROAD_USAGE}

Common:
  --duration D      hold the fault for D (default 30s); Ctrl-C reverts early
  --engine E        auto (stress-ng when installed, else node), node, stress-ng
  --dry-run         say what would be done, change nothing
  --json            one JSON event per line

Limits need root and the cpu/memory cgroup controller (v1 or v2). Exit 0 when
everything was injected and reverted, 1 on bad input or any failure.`;

const KINDS = ["cpu", "memory", "cpu-limit", "memory-limit"] as const;
type Kind = (typeof KINDS)[number];

const selectorOptions = {
  ...ALLOW_BROAD_OPTION,
  pid: { type: "string", multiple: true },
  name: { type: "string" },
  cmdline: { type: "string" },
  node: { type: "string" },
  topology: { type: "string" },
} as const;
const common = STANDALONE_OPTIONS;
const OPTIONS = {
  cpu: { ...common, workers: { type: "string" }, load: { type: "string" }, engine: { type: "string" } },
  memory: { ...common, size: { type: "string" }, workers: { type: "string" }, engine: { type: "string" }, force: { type: "boolean", default: false } },
  "cpu-limit": { ...common, ...selectorOptions, cpus: { type: "string" } },
  "memory-limit": { ...common, ...selectorOptions, limit: { type: "string" } },
} as const;

export type Flags = Record<string, string | boolean | string[] | undefined>;

const coresText = (ms: number, overMs: number) => `${(ms / overMs).toFixed(2)} cores`;

export async function main(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (!kind || kind === "--help" || kind === "-h" || kind === "help") {
    process.stdout.write(USAGE + "\n");
    return kind ? 0 : 1;
  }
  if (!(KINDS as readonly string[]).includes(kind)) throw new CliError(`unknown stress kind "${kind}": expected one of ${KINDS.join(", ")} (see gameday stress --help)`);
  const { values: f } = parseArgs({ args: rest, strict: true, allowPositionals: false, options: OPTIONS[kind as Kind] }) as { values: Flags };
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const durationMs = durationFlag(f.duration as string | undefined, "30s");

  const json = !!f.json;
  const emit = (event: string, text: string, data: Record<string, unknown> = {}) => {
    const now = new Date();
    process.stdout.write(json ? JSON.stringify({ ts: now.toISOString(), event, ...data, message: text }) + "\n" : `[${stamp(now)}] ${text}\n`);
  };

  const plan = buildPlan(kind as Kind, f);
  const dryRun = !!f["dry-run"];
  const a = await plan.injector.available();
  if (!a.ok) throw new CliError(`${plan.injector.name} is not available on this host: ${a.reason}`);

  const executor = dryRun ? null : await openExecutor(`stress ${argv.join(" ")}`, (line) => emit("recovered", line));
  for (const line of plan.describe()) emit("plan", line.text, line.data);
  if (dryRun) {
    emit("dry-run", `dry run: would hold ${plan.injector.name} for ${formatDuration(durationMs)}; nothing changed`, { durationMs });
    return 0;
  }

  const undos: unknown[] = [];
  const sampler = new Sampler(plan.kind, undos, plan.targets, emit, Math.min(5000, Math.max(1000, Math.floor(durationMs / 4))));
  if (plan.kind === "cpu-limit") await sampler.baseline();
  // the journaled undo (the tag, the cgroup folder) says what to measure and report;
  // the last sample is taken just before the revert ends the load
  const faults: PlannedFault[] = plan.targets.map((target) => ({ injector: plan.injector, target, params: plan.params }));
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  let failures: string[] = [];
  let reverted = 0;
  try {
    const res = await runFaults(
      executor!,
      faults,
      durationMs,
      signal,
      (line, event) => {
        if (event === "injected") {
          emit("injected", line, { undo: undos[undos.length - 1] });
          sampler.start();
        } else if (event === "reverted") emit("reverted", line);
        else emit("error", line);
      },
      { onChange: (e) => e.type === "journaled" && undos.push(e.change.undo), beforeRevert: () => sampler.stop() },
    );
    sampler.stop();
    failures = res.failures;
    reverted = res.reverted;
    sampler.summary();
    emit(
      "done",
      failures.length
        ? `done with ${failures.length} failure(s): ${failures.join("; ")}`
        : `done: ${res.injected} injected, ${reverted} reverted and verified${res.completed ? "" : " (stopped early)"}; nothing left behind`,
      { injected: res.injected, reverted, failures, completed: res.completed },
    );
  } finally {
    sampler.stop();
    release();
    await executor!.close();
  }
  return failures.length ? 1 : 0;
}

interface Plan {
  kind: Kind;
  injector: AnyInjector;
  params: unknown;
  targets: Target[];
  describe: () => { text: string; data: Record<string, unknown> }[];
}

function engineLine(wanted: string): string {
  const missing = stressNgMissing();
  if (wanted === "node") return "engine node (asked for)";
  if (wanted === "stress-ng") return missing ? `engine stress-ng asked for, but ${missing}: the fault will fail` : "engine stress-ng (asked for)";
  return missing ? `engine node (auto: ${missing})` : "engine stress-ng (auto: found on PATH)";
}

function buildPlan(kind: Kind, f: Flags): Plan {
  const hostTarget: HostTarget = { kind: "host", hostname: os.hostname() };
  const hostLine = { text: `host ${hostTarget.hostname}: ${cores} cores, MemAvailable ${formatSize(memAvailable())}`, data: { cores, memAvailable: memAvailable() } };
  switch (kind) {
    case "cpu": {
      const params = parseParams<{ workers: number; load: number; engine: string }>(cpuStress, { workers: flagNumber(f.workers as string | undefined), load: flagNumber((f.load as string | undefined)?.replace(/%$/, "")), engine: f.engine });
      return {
        kind,
        injector: cpuStress,
        params,
        targets: [hostTarget],
        describe: () => [hostLine, { text: `cpu-stress: ${params.workers} worker(s) at ${params.load} %, ${engineLine(params.engine)}`, data: { params } }],
      };
    }
    case "memory": {
      const params = parseParams<{ size: number; workers: number; engine: string; force: boolean }>(memoryStress, {
        size: f.size,
        workers: flagNumber(f.workers as string | undefined),
        engine: f.engine,
        force: f.force,
      });
      const why = sizeRefusal(params.size, params.force, "--size", "--force");
      if (why) throw new CliError(why);
      return {
        kind,
        injector: memoryStress,
        params,
        targets: [hostTarget],
        describe: () => [hostLine, { text: `memory-stress: ${formatSize(params.size)} in ${params.workers} worker(s), ${engineLine(params.engine)}`, data: { params } }],
      };
    }
    case "cpu-limit":
    case "memory-limit": {
      const injector = kind === "cpu-limit" ? cpuLimit : memoryLimit;
      const controller: Controller = kind === "cpu-limit" ? "cpu" : "memory";
      const params = parseParams<{ cpus?: number; limit?: number }>(injector, kind === "cpu-limit" ? { cpus: flagNumber(f.cpus as string | undefined) } : { limit: f.limit });
      const targets = resolveTargets(f);
      const h = findHierarchy(controller);
      return {
        kind,
        injector,
        params,
        targets,
        describe: () => [
          { ...hostLine, text: `${hostLine.text}; ${controller} controller: ${h ? `cgroup v${h.version} at ${h.mount}` : "none"}` },
          {
            text: `${kind}: ${kind === "cpu-limit" ? `${params.cpus} cores` : formatSize(params.limit!)} on ${targets.length} process tree(s)`,
            data: { params },
          },
          ...targets.map((t) => {
            const p = t as ProcessTarget;
            const u = planConfine(kind, controller, p.pid, p.startTime);
            const where = u.mode === "child" ? `limit in ${u.folder}` : `limit written to ${u.original} itself (cgroup v2: a cgroup holding processes cannot have limited children)`;
            return { text: `target ${targetLabel(t)} (${p.cmdline.slice(0, 80)}): ${u.tree.length} process(es) in ${u.original}; ${where}`, data: { target: t, plan: u } };
          }),
        ],
      };
    }
  }
}

export function resolveTargets(f: Flags): ProcessTarget[] {
  let selector: ProcessSelector;
  if (f.node !== undefined) {
    if (f.pid || f.name !== undefined || f.cmdline !== undefined) throw new CliError("--node: give the topology node alone, without --pid, --name or --cmdline");
    let topology;
    try {
      topology = loadTopology((f.topology as string | undefined) ?? "demo/topology.yaml");
    } catch (e) {
      throw new CliError(`--topology: ${(e as Error).message}`);
    }
    try {
      selector = selectorFor({ node: f.node as string, mode: "all" }, topology).selector;
    } catch (e) {
      throw new CliError(`--node: ${(e as Error).message}`);
    }
  } else {
    const pids = (f.pid as string[] | undefined)?.map((p) => {
      if (!/^\d+$/.test(p)) throw new CliError(`--pid: expected a process ID (got "${p}")`);
      return Number(p);
    });
    const raw = Object.fromEntries(Object.entries({ name: f.name, cmdline: f.cmdline, pids }).filter(([, v]) => v !== undefined));
    const r = processSelectorSchema.safeParse(raw);
    if (!r.success) {
      const lines = r.error.issues.map((i) => {
        const k = String(i.path[0] ?? "");
        return k ? `${k === "pids" ? "--pid" : `--${k}`}: ${i.message}` : "choose the target: --pid, --name, --cmdline or --node";
      });
      throw new CliError(lines.join("\n"));
    }
    selector = r.data as ProcessSelector;
  }
  const broad = checkBroad(selector, f["allow-broad"] as string | undefined, describeSelector(selector));
  if (broad) process.stderr.write(`broad selection allowed: ${broad}\n`);
  const res = resolveProcesses(selector);
  if (!res.matched.length) {
    const why = res.protected.length ? `; protected: ${res.protected.map((p) => `${p.comm}[${p.pid}]: ${p.reason}`).join("; ")}` : "";
    throw new CliError(`no process matches ${describeSelector(selector)}${why}`);
  }
  // a process inside another matched process's tree is limited with that tree
  const pids = new Set(res.matched.map((t) => t.pid));
  return res.matched.filter((t) => ![...ancestorsOf(t.pid)].some((a) => a !== t.pid && pids.has(a)));
}

/** Periodic CPU / memory measurements of what the fault acts on. */
class Sampler {
  private timer: NodeJS.Timeout | null = null;
  private last: { at: number; cpuMs: number } | null = null;
  private totalMs = 0;
  private totalCpuMs = 0;
  private peakBytes = 0;

  constructor(
    private readonly kind: Kind,
    private readonly undos: unknown[],
    private readonly targets: Target[],
    private readonly emit: (event: string, text: string, data?: Record<string, unknown>) => void,
    private readonly everyMs: number,
  ) {}

  /** The processes to measure: the load generators with their process groups, or the limited trees. */
  private pids(): number[] {
    if (this.kind === "cpu" || this.kind === "memory") {
      const groups = new Set(this.undos.flatMap((u) => tagged((u as LoadUndo).tag).map((p) => p.pgid)));
      return listProcesses()
        .filter((p) => groups.has(p.pgid) && p.state !== "Z")
        .map((p) => p.pid);
    }
    return this.targets.flatMap((t) => processTree((t as ProcessTarget).pid));
  }

  /** CPU of the targets before the fault, for comparison. */
  async baseline(ms = 1000): Promise<void> {
    const a = cpuTimeMs(this.pids());
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    const dt = performance.now() - t0;
    const used = Math.max(0, cpuTimeMs(this.pids()) - a);
    this.emit("baseline", `before the limit: target tree(s) used CPU ${coresText(used, dt)}`, { cpuCores: used / dt });
  }

  start(): void {
    if (this.timer || this.undos.length < this.targets.length) return;
    this.last = { at: performance.now(), cpuMs: cpuTimeMs(this.pids()) };
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  private sample(): void {
    if (!this.last) return;
    const pids = this.pids();
    const now = { at: performance.now(), cpuMs: cpuTimeMs(pids) };
    const dt = now.at - this.last.at;
    if (dt < 200) return;
    const used = Math.max(0, now.cpuMs - this.last.cpuMs);
    this.totalMs += dt;
    this.totalCpuMs += used;
    this.last = now;
    const who = this.kind === "cpu" || this.kind === "memory" ? `load generators (${pids.length} process(es))` : `limited tree(s) (${pids.length} process(es))`;
    let mem = "";
    if (this.kind === "memory") {
      const bytes = pids.reduce((s, p) => s + rss(p), 0);
      this.peakBytes = Math.max(this.peakBytes, bytes);
      mem = `, resident ${formatSize(bytes)}`;
    } else if (this.kind === "memory-limit") {
      const bytes = this.undos.reduce<number>((s, u) => s + cgroupUsage(u as ConfineUndo), 0);
      this.peakBytes = Math.max(this.peakBytes, bytes);
      mem = `, charged to the limit ${formatSize(bytes)}`;
    }
    this.emit("sample", `${who}: CPU ${coresText(used, dt)}${mem}`, { processes: pids.length, cpuCores: used / dt, ...(mem ? { bytes: this.peakBytes } : {}) });
  }

  summary(): void {
    if (!this.totalMs) return;
    const peak = this.peakBytes ? `, peak memory ${formatSize(this.peakBytes)}` : "";
    this.emit("measured", `measured during the fault: average CPU ${coresText(this.totalCpuMs, this.totalMs)} over ${(this.totalMs / 1000).toFixed(1)} s${peak}`, {
      cpuCores: this.totalCpuMs / this.totalMs,
      seconds: this.totalMs / 1000,
      peakBytes: this.peakBytes || undefined,
    });
  }
}

function cgroupUsage(u: ConfineUndo): number {
  const dir = u.folder ?? u.original;
  if (!dir) return 0;
  for (const name of ["memory.usage_in_bytes", "memory.current"]) {
    try {
      return Number(fs.readFileSync(path.join(dir, name), "utf8").trim());
    } catch {
      // other cgroup version
    }
  }
  return 0;
}
