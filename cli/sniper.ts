// gameday sniper — the Process Sniper: every interval, rescan the targets,
// roll a (seedable) die, and on a hit signal one or more random instances.
// A thin CLI: the flags become one method step (process-kill, in rounds of
// one interval, one roll per round) that agent/step.ts runs through the
// executor, and this file turns the step's and the executor's events into
// the seed's lines. Safety valves come from below it: the protections of
// lib/procfs in the resolution (PID 1, kernel threads, ourselves and our
// ancestors, our session leader, Game Day's own processes, the protect
// list), the step's fleet valve (--max-down), and the injector's identity
// re-check (PID + start time) right before each signal. STOPs are journaled
// before they are sent and CONTinued when their hold ends, on Ctrl-C, or —
// when the sniper dies — by the executor's reaper, with no command typed.
import { parseArgs } from "node:util";
import { z } from "zod";
import { duration, formatDuration } from "../lib/duration";
import { protectedNames, uidOf } from "../lib/procfs";
import { loadTopology, processSelectorSchema, type ProcessSelector } from "../lib/topology";
import { processKill, SIGNALS, type SignalName } from "../injectors/process-kill";
import type { Target } from "../injectors/types";
import { describeSelector, resolveProcesses, seededRandom, selectorFor } from "../injectors/targets/resolve";
import type { ExecutorEvent } from "../agent/executor";
import { StepRunner, type StepEvent, type StepSpec, type StepStats } from "../agent/step";
import { CliError } from "./client";
import { ALLOW_BROAD_OPTION, ALLOW_BROAD_USAGE, checkBroad, flagNumber, interruptible, openExecutor, stamp, STANDALONE_OPTIONS } from "./standalone";

const USAGE = `gameday sniper — kill (or freeze) random instances of a process, on a schedule

Choose targets (every given selector must match):
  --target PROGRAM      process name, executable name, or script name of an
                        interpreter (node worker-app.js matches "worker-app")
  --name COMM           exact process name (/proc/PID/comm)
  --cmdline REGEX       regular expression on the full command line
  --user USER|UID       owner
  --cgroup REGEX        regular expression on /proc/PID/cgroup (e.g. docker/3f2a)
  --pid PID             a given PID (repeatable)
  --node ID             a node of the topology file (--topology FILE, default demo/topology.yaml)

Shoot:
  --probability P       chance 0..1 that an interval fires (default 1)
  --interval D          time between dice rolls (default 10s)
  --jitter D            each wait is interval ± up to D, uniformly (default 0)
  --signal SIG          KILL (default), TERM, INT or STOP
  --hold D              STOP only: resume a frozen process after D (default: one interval)
  --count N             instances hit per firing interval (default 1)
  --max-percent P       instead of --count: that share of the live fleet per firing interval
  --max-down P          safety valve: at most P% of the fleet (largest size seen) down or
                        frozen at once (default 50); kills beyond it are refused
  --duration D          stop after D (default 10m); Ctrl-C stops earlier
  --seed N              replay the same dice rolls and choices
  --protect NAMES       comma-separated process names never hit (default:
                        ${protectedNames().join(",")}; GAMEDAY_PROTECT_NAMES sets it too);
                        the machine's services (sshd, systemd-*, dbus-daemon, ...)
                        stay protected by role whatever it says
${ALLOW_BROAD_USAGE}
  --dry-run             roll and choose, signal nothing
  --json                one JSON event per line instead of text

Durations: 500ms, 10s, 5m, 1h. Exit 0 when done, 1 on bad input or when nothing matches.`;

const STRATEGY: Record<SignalName, { strategy: string; verb: string }> = {
  KILL: { strategy: "Random Kill", verb: "KILLING" },
  TERM: { strategy: "Random Terminate", verb: "TERMINATING" },
  INT: { strategy: "Random Interrupt", verb: "INTERRUPTING" },
  STOP: { strategy: "Random Freeze", verb: "FREEZING" },
};

const percent = (flag: string) =>
  z.number({ error: `${flag}: expected a number` }).gt(0, { error: "must be greater than 0" }).max(100, { error: "must be at most 100" });

const optionsSchema = z
  .object({
    probability: z.number({ error: "expected a number between 0 and 1" }).min(0, { error: "must be between 0 and 1" }).max(1, { error: "must be between 0 and 1" }).default(1),
    interval: duration({ min: 100, max: 24 * 3_600_000 }).default(10_000),
    jitter: duration({ max: 24 * 3_600_000 }).default(0),
    signal: z.enum(SIGNALS, { error: `expected one of ${SIGNALS.join(", ")}` }).default("KILL"),
    hold: duration({ min: 100, max: 24 * 3_600_000 }).optional(),
    count: z.number({ error: "expected a whole number ≥ 1" }).int({ error: "expected a whole number ≥ 1" }).min(1, { error: "expected a whole number ≥ 1" }).optional(),
    "max-percent": percent("--max-percent").optional(),
    "max-down": percent("--max-down").default(50),
    duration: duration({ min: 1, max: 7 * 24 * 3_600_000 }).default(600_000),
    seed: z.number({ error: "expected an integer" }).int({ error: "expected an integer" }).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.count !== undefined && o["max-percent"] !== undefined)
      ctx.addIssue({ code: "custom", path: ["count"], message: "give --count or --max-percent, not both" });
    if (o.jitter >= o.interval) ctx.addIssue({ code: "custom", path: ["jitter"], message: "must be shorter than --interval" });
    if (o.hold !== undefined && o.signal !== "STOP") ctx.addIssue({ code: "custom", path: ["hold"], message: "only applies to --signal STOP" });
  });
type Options = z.output<typeof optionsSchema>;

type Emit = (event: string, text: string, data?: Record<string, unknown>) => void;

interface Stats {
  scans: number;
  rolls: number;
  hits: number;
  misses: number;
  kills: number;
  refused: number;
  respawns: number;
  failed: number;
}

export async function main(argv: string[]): Promise<number> {
  const { values: f } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      target: { type: "string" },
      name: { type: "string" },
      cmdline: { type: "string" },
      user: { type: "string" },
      cgroup: { type: "string" },
      pid: { type: "string", multiple: true },
      node: { type: "string" },
      topology: { type: "string" },
      probability: { type: "string" },
      interval: { type: "string" },
      jitter: { type: "string" },
      signal: { type: "string" },
      hold: { type: "string" },
      count: { type: "string" },
      "max-percent": { type: "string" },
      "max-down": { type: "string" },
      seed: { type: "string" },
      protect: { type: "string" },
      ...ALLOW_BROAD_OPTION,
      ...STANDALONE_OPTIONS,
    },
  });
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }

  const parsed = optionsSchema.safeParse({
    probability: flagNumber(f.probability),
    interval: f.interval,
    jitter: f.jitter,
    signal: f.signal?.toUpperCase().replace(/^SIG/, ""),
    hold: f.hold,
    count: flagNumber(f.count),
    "max-percent": flagNumber(f["max-percent"]),
    "max-down": flagNumber(f["max-down"]),
    duration: f.duration,
    seed: flagNumber(f.seed),
  });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `--${String(i.path[0] ?? "")}: ${i.message}`);
    throw new CliError(`invalid options:\n  ${lines.join("\n  ")}\n(see gameday sniper --help)`);
  }
  const o = parsed.data;
  const { selector, label } = selectorFromFlags(f);
  // One protect list for the scan and for the injector's own last check.
  if (f.protect !== undefined) process.env.GAMEDAY_PROTECT_NAMES = f.protect;
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);

  const emit: Emit = (event, text, data = {}) => {
    const now = new Date();
    process.stdout.write(f.json ? JSON.stringify({ ts: now.toISOString(), event, ...data, message: text }) + "\n" : `[${stamp(now)}] ${text}\n`);
  };

  const broad = checkBroad(selector, f["allow-broad"], `target ${label}`);
  if (broad) emit("broad", `Broad selection allowed: ${broad}`, { reason: broad });

  // Our own first scan: refuse at once, naming what matched and why it is protected.
  const first = resolveProcesses(selector);
  if (first.matched.length === 0) {
    const why = first.protected.length
      ? `; ${first.protected.length} matching process(es) are protected: ${first.protected.map((p) => `${p.comm}[${p.pid}]: ${p.reason}`).join("; ")}`
      : "";
    throw new CliError(`no process matches ${describeSelector(selector)}${why}`);
  }

  const dryRun = !!f["dry-run"];
  // a dry run changes nothing, so it needs no executor (and starts no reaper)
  const executor = dryRun ? null : await openExecutor(`sniper ${label}`, (line) => emit("recovered", line));
  const spec: StepSpec = {
    index: 0,
    fault: processKill.name,
    params: processKill.params.parse({ signal: o.signal }),
    targetName: label,
    target: o["max-percent"] !== undefined ? { process: selector, mode: "percent", value: o["max-percent"] } : { process: selector, mode: "count", value: o.count ?? 1 },
    duration: o.duration,
    every: o.interval,
    jitter: o.jitter,
    probability: o.probability,
    // the sniper rolls once per interval: fire at every chosen instance, or hold fire
    probabilityPer: "round",
    // absent: one round, and the next round rolls only once the frozen are resumed
    hold: o.hold,
    maxDown: { percent: o["max-down"] },
    // the first roll comes one interval after the start, the instances found were scanned above
    firstRoundAfterPeriod: true,
    firstRoundMayBeEmpty: true,
    // an instance that died between the scan and the signal is a failure to count, not the end
    continueAfterFailedRound: true,
  };
  const runId = `sniper-${process.pid}`;
  const narrator = new Narrator(o, dryRun, emit, first.matched.map(pidOf));
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  const runner = new StepRunner(spec, {
    executor,
    runId,
    topology: null,
    protectedPids: () => NONE,
    rnd: seededRandom(seed),
    signal,
    onEvent: (e) => narrator.step(e),
    dryRun,
  });
  const off = executor?.on((e) => {
    if (e.change.runId === runId) narrator.change(e);
  });
  // a stopped step still holds its changes until their holds end: Ctrl-C reverts them now
  const revertNow = () => void executor?.revertRun(runId);
  signal.addEventListener("abort", revertNow, { once: true });

  narrator.header(label, seed, first.matched.map(pidOf));
  try {
    await runner.run();
  } finally {
    signal.removeEventListener("abort", revertNow);
    release();
    // whatever is still open (a revert cut short, an inject that landed as the step stopped)
    await executor?.revertRun(runId);
    narrator.done(runner.stats);
    off?.();
    await executor?.close();
  }
  return 0;
}

const NONE: ReadonlySet<number> = new Set();

function pidOf(t: Target): number {
  if (t.kind !== "process") throw new Error(`the sniper acts on processes, not on ${t.kind} targets`);
  return t.pid;
}

type Flags = { target?: string; name?: string; cmdline?: string; user?: string; cgroup?: string; pid?: string[]; node?: string; topology?: string };

function selectorFromFlags(f: Flags): { selector: ProcessSelector; label: string } {
  if (f.node) {
    const others = [f.target, f.name, f.cmdline, f.user, f.cgroup, f.pid].filter((x) => x !== undefined);
    if (others.length) throw new CliError("--node: give the topology node alone, without other selectors");
    const file = f.topology ?? "demo/topology.yaml";
    let topology;
    try {
      topology = loadTopology(file);
    } catch (e) {
      throw new CliError(`--topology: ${(e as Error).message}`);
    }
    try {
      return { selector: selectorFor({ node: f.node, mode: "all" }, topology).selector, label: f.node };
    } catch (e) {
      throw new CliError(`--node: ${(e as Error).message}`);
    }
  }
  const pids = f.pid?.map((p) => {
    if (!/^\d+$/.test(p)) throw new CliError(`--pid: expected a process ID (got "${p}")`);
    return Number(p);
  });
  const raw = { program: f.target, name: f.name, cmdline: f.cmdline, user: f.user, cgroup: f.cgroup, pids };
  const r = (processSelectorSchema as z.ZodType<ProcessSelector>).safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!r.success) {
    const flag: Record<string, string> = { program: "--target", pids: "--pid" };
    const lines = r.error.issues.map((i) => {
      const k = String(i.path[0] ?? "");
      return k ? `${flag[k] ?? `--${k}`}: ${i.message}` : `choose targets: --target, --name, --cmdline, --user, --cgroup, --pid or --node`;
    });
    throw new CliError(lines.join("\n"));
  }
  try {
    if (r.data.user !== undefined) uidOf(r.data.user);
  } catch (e) {
    throw new CliError(`--user: ${(e as Error).message}`);
  }
  return { selector: r.data, label: f.target ?? describeSelector(r.data) };
}

/**
 * The seed's lines from the step's and the executor's events. The step
 * rolls before its fleet valve refuses, but the hit line names the PIDs that
 * are fired at: it waits for the refusals of its round, which follow the
 * dice event synchronously, and is written a microtask later (or at the next
 * event, whichever comes first), the refusals after it.
 */
class Narrator {
  private readonly verb: string;
  /** PIDs of the last scan: what a new scan adds are respawns, what it lacks is gone */
  private last: Set<number>;
  private respawns = 0;
  private hit: { roll: number; chosen: Target[]; refused: Extract<StepEvent, { type: "refused" }>[] } | null = null;

  constructor(
    private readonly o: Options,
    private readonly dryRun: boolean,
    private readonly emit: Emit,
    firstScan: number[],
  ) {
    this.verb = STRATEGY[o.signal].verb;
    this.last = new Set(firstScan);
  }

  header(label: string, seed: number, pids: number[]): void {
    const o = this.o;
    const per = o["max-percent"] !== undefined ? `${o["max-percent"]}% of the fleet` : `${o.count ?? 1}`;
    this.emit("start", `Target: ${label} | Strategy: ${STRATEGY[o.signal].strategy}${this.dryRun ? " (dry run)" : ""}`, { target: label, signal: o.signal, seed });
    this.emit(
      "settings",
      `Probability ${o.probability.toFixed(2)} every ${formatDuration(o.interval)}${o.jitter ? ` ± ${formatDuration(o.jitter)}` : ""}, SIG${o.signal}, up to ${per} per hit, at most ${o["max-down"]}% of the fleet down, for ${formatDuration(o.duration)}, seed ${seed}`,
      { probability: o.probability, intervalMs: o.interval, jitterMs: o.jitter, durationMs: o.duration, maxDownPercent: o["max-down"] },
    );
    this.emit("found", `Found ${pids.length} instances: [${pids.join(", ")}]`, { pids });
  }

  step(e: StepEvent): void {
    if (e.type !== "refused") this.flushHit();
    const o = this.o;
    switch (e.type) {
      case "resolved": {
        const now = e.resolution.matched.map(pidOf);
        const seen = new Set(now);
        const gone = [...this.last].filter((pid) => !seen.has(pid));
        const fresh = now.filter((pid) => !this.last.has(pid));
        if (gone.length) this.emit("gone", `Gone since the last scan: [${gone.join(", ")}] (fleet ${now.length})`, { pids: gone, fleet: now.length });
        if (fresh.length) {
          this.respawns += fresh.length;
          this.emit("respawn", `Respawned: ${fresh.length} new instance${fresh.length === 1 ? "" : "s"}: [${fresh.join(", ")}] (fleet ${now.length})`, { pids: fresh, fleet: now.length });
        }
        this.last = seen;
        return;
      }
      case "dice":
        if (!e.hit) {
          this.emit("miss", `Dice roll: ${e.roll.toFixed(2)} >= ${o.probability.toFixed(2)}. Holding fire.`, { roll: e.roll, probability: o.probability });
          return;
        }
        this.hit = { roll: e.roll, chosen: e.chosen, refused: [] };
        queueMicrotask(() => this.flushHit());
        return;
      case "refused":
        if (this.hit) this.hit.refused.push(e);
        else this.refusedLine(e);
        return;
      case "apply-failed":
        this.emit("error", `PID ${pidOf(e.target)}: ${e.error}`, { pid: pidOf(e.target) });
        return;
      case "empty":
        this.emit("empty", "No instances found; waiting for the next scan.", {});
        return;
      case "would-apply":
      case "applied":
        return; // announced by the hit line
    }
  }

  change(e: ExecutorEvent): void {
    this.flushHit();
    if (e.change.target.kind !== "process") return;
    const pid = e.change.target.pid;
    // a KILL, TERM or INT has nothing to undo: only a STOP's revert is news
    if (e.type === "reverted" && this.o.signal === "STOP") this.emit("resume", `Resumed PID ${pid} (SIGCONT): ${e.detail}.`, { pid });
    else if (e.type === "revert-failed") this.emit("error", `PID ${pid}: ${e.detail} (journal kept; gameday recover retries)`, { pid });
  }

  done(s: StepStats): void {
    this.flushHit();
    const stats: Stats = { scans: s.rounds + 1, rolls: s.rolls, hits: s.hits, misses: s.misses, kills: s.applied, refused: s.refused, respawns: this.respawns, failed: s.failed };
    this.emit(
      "done",
      `Done: ${stats.scans} scans, ${stats.rolls} rolls, ${stats.hits} hits, ${stats.misses} misses, ${stats.kills} ${this.o.signal === "STOP" ? "freezes" : "kills"}, ${stats.refused} refused, ${stats.failed} failed, ${stats.respawns} respawns seen.`,
      { stats },
    );
  }

  private flushHit(): void {
    const h = this.hit;
    if (!h) return;
    this.hit = null;
    const refused = new Set(h.refused.map((r) => pidOf(r.target)));
    const pids = h.chosen.map(pidOf).filter((pid) => !refused.has(pid));
    const what = `${pids.length === 1 ? "PID" : "PIDs"} ${pids.join(", ")}`;
    const action = pids.length === 0 ? "Holding fire: the safety valve refuses." : this.dryRun ? `WOULD BE ${this.verb} ${what} (dry run).` : `${this.verb} ${what}.`;
    const p = this.o.probability;
    this.emit("hit", `Dice roll: ${h.roll.toFixed(2)} < ${p.toFixed(2)}. ${action}`, { roll: h.roll, probability: p, pids, dryRun: this.dryRun });
    for (const r of h.refused) this.refusedLine(r);
  }

  private refusedLine(e: Extract<StepEvent, { type: "refused" }>): void {
    const pct = this.o["max-down"];
    this.emit("refused", `SAFETY: not ${this.verb.toLowerCase()} PID ${pidOf(e.target)}: ${e.down} of ${e.fleet} instances would be down; one more exceeds --max-down ${pct}%.`, {
      pid: pidOf(e.target),
      down: e.down,
      fleet: e.fleet,
      maxDownPercent: pct,
    });
  }
}
