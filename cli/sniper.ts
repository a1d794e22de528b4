// gameday sniper — the Process Sniper: every interval, rescan the targets,
// roll a (seedable) die, and on a hit signal one or more random instances.
// Safety valves: the process-level protections of lib/procfs (PID 1, kernel
// threads, ourselves and our ancestors, our session leader, Game Day's own
// processes, the protect list), a cap on how much of the fleet may be down at
// once, and an identity re-check (PID + start time) right before each signal.
// STOPped processes are journaled and CONTinued at the end, on Ctrl-C, or
// after a crash by `gameday recover`.
import { parseArgs } from "node:util";
import { z } from "zod";
import { duration, formatDuration } from "../lib/duration";
import { LocalJournal } from "../lib/local-journal";
import { protectedNames, uidOf } from "../lib/procfs";
import { loadTopology, processSelectorSchema, type ProcessSelector } from "../lib/topology";
import { processKill, SIGNALS, type SignalName } from "../injectors/process-kill";
import type { ProcessTarget } from "../injectors/types";
import { applyBlastRadius, describeSelector, resolveProcesses, seededRandom, selectorFor, type Resolution } from "../injectors/targets/resolve";
import { CliError } from "./client";
import { flagNumber, interruptible, recoverBeforeStart, sleep, stamp, STANDALONE_OPTIONS } from "./standalone";

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
                        ${protectedNames().join(",")}; GAMEDAY_PROTECT_NAMES sets it too)
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

  const emit = (event: string, text: string, data: Record<string, unknown> = {}) => {
    const now = new Date();
    process.stdout.write(f.json ? JSON.stringify({ ts: now.toISOString(), event, ...data, message: text }) + "\n" : `[${stamp(now)}] ${text}\n`);
  };
  await recoverBeforeStart((line) => emit("recovered", line));

  const scan = (): Resolution => resolveProcesses(selector);
  const first = scan();
  if (first.matched.length === 0) {
    const why = first.protected.length
      ? `; ${first.protected.length} matching process(es) are protected: ${first.protected.map((p) => `${p.comm}[${p.pid}]: ${p.reason}`).join("; ")}`
      : "";
    throw new CliError(`no process matches ${describeSelector(selector)}${why}`);
  }

  const sniper = new Sniper(o, label, seed, !!f["dry-run"], emit, scan);
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  try {
    await sniper.run(first, signal);
  } finally {
    release();
  }
  return 0;
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

/** One sniper campaign. */
class Sniper {
  private readonly rnd: () => number;
  private readonly stats: Stats = { scans: 0, rolls: 0, hits: 0, misses: 0, kills: 0, refused: 0, respawns: 0, failed: 0 };
  /** instances known from the last scan, by PID */
  private fleet = new Map<number, ProcessTarget>();
  /** largest fleet seen: the base of the --max-down share */
  private peak = 0;
  /** processes we froze, with the journal entry and when to thaw them */
  private readonly frozen = new Map<number, { target: ProcessTarget; entry: number; thawAt: number }>();
  private journal: LocalJournal | null = null;
  private readonly verb: string;

  constructor(
    private readonly o: Options,
    private readonly label: string,
    private readonly seed: number,
    private readonly dryRun: boolean,
    private readonly emit: (event: string, text: string, data?: Record<string, unknown>) => void,
    private readonly scan: () => Resolution,
  ) {
    this.rnd = seededRandom(seed);
    this.verb = STRATEGY[o.signal].verb;
  }

  async run(first: Resolution, signal: AbortSignal): Promise<void> {
    const o = this.o;
    const per = o["max-percent"] !== undefined ? `${o["max-percent"]}% of the fleet` : `${o.count ?? 1}`;
    this.emit("start", `Target: ${this.label} | Strategy: ${STRATEGY[o.signal].strategy}${this.dryRun ? " (dry run)" : ""}`, {
      target: this.label,
      signal: o.signal,
      seed: this.seed,
    });
    this.emit(
      "settings",
      `Probability ${o.probability.toFixed(2)} every ${formatDuration(o.interval)}${o.jitter ? ` ± ${formatDuration(o.jitter)}` : ""}, SIG${o.signal}, up to ${per} per hit, at most ${o["max-down"]}% of the fleet down, for ${formatDuration(o.duration)}, seed ${this.seed}`,
      { probability: o.probability, intervalMs: o.interval, jitterMs: o.jitter, durationMs: o.duration, maxDownPercent: o["max-down"] },
    );
    this.absorb(first, true);
    const end = Date.now() + o.duration;
    const nextRoll = () => Date.now() + Math.max(100, o.interval + (o.jitter ? (this.rnd() * 2 - 1) * o.jitter : 0));
    let rollAt = nextRoll();
    try {
      while (!signal.aborted && Date.now() < end) {
        await sleep(Math.max(0, Math.min(rollAt, end, this.nextThaw()) - Date.now()), signal);
        if (signal.aborted) break;
        await this.thawDue();
        if (Date.now() >= end) break;
        if (Date.now() < rollAt) continue; // woke to thaw a frozen process
        this.absorb(this.scan(), false);
        await this.roll();
        rollAt = nextRoll();
      }
    } finally {
      await this.thawAll();
      const s = this.stats;
      this.emit(
        "done",
        `Done: ${s.scans} scans, ${s.rolls} rolls, ${s.hits} hits, ${s.misses} misses, ${s.kills} ${o.signal === "STOP" ? "freezes" : "kills"}, ${s.refused} refused, ${s.failed} failed, ${s.respawns} respawns seen.`,
        { stats: s },
      );
    }
  }

  /** When the next frozen process is due to be resumed (epoch ms). */
  private nextThaw(): number {
    let soonest = Infinity;
    for (const f of this.frozen.values()) soonest = Math.min(soonest, f.thawAt);
    return soonest;
  }

  /** Take a scan into the fleet view; report respawned instances. */
  private absorb(r: Resolution, initial: boolean): void {
    this.stats.scans++;
    const now = new Map(r.matched.map((t) => [t.pid, t]));
    if (initial) {
      this.emit("found", `Found ${now.size} instances: [${[...now.keys()].join(", ")}]`, { pids: [...now.keys()] });
    } else {
      const fresh = [...now.keys()].filter((pid) => !this.fleet.has(pid));
      const gone = [...this.fleet.keys()].filter((pid) => !now.has(pid));
      if (gone.length) this.emit("gone", `Gone since the last scan: [${gone.join(", ")}] (fleet ${now.size})`, { pids: gone, fleet: now.size });
      if (fresh.length) {
        this.stats.respawns += fresh.length;
        this.emit("respawn", `Respawned: ${fresh.length} new instance${fresh.length === 1 ? "" : "s"}: [${fresh.join(", ")}] (fleet ${now.size})`, { pids: fresh, fleet: now.size });
      }
      if (now.size === 0) this.emit("empty", "No instances found; waiting for the next scan.", {});
    }
    this.fleet = now;
    this.peak = Math.max(this.peak, now.size);
  }

  /** Instances down or frozen right now, against the largest fleet seen. */
  private down(): number {
    const frozenAlive = [...this.frozen.keys()].filter((pid) => this.fleet.has(pid)).length;
    return Math.max(0, this.peak - this.fleet.size) + frozenAlive;
  }

  private async roll(): Promise<void> {
    const o = this.o;
    const candidates = [...this.fleet.values()].filter((t) => !this.frozen.has(t.pid));
    if (candidates.length === 0) return;
    this.stats.rolls++;
    const dice = this.rnd();
    const shown = dice.toFixed(2);
    const p = o.probability.toFixed(2);
    if (!(dice < o.probability)) {
      this.stats.misses++;
      this.emit("miss", `Dice roll: ${shown} >= ${p}. Holding fire.`, { roll: dice, probability: o.probability });
      return;
    }
    this.stats.hits++;
    const want = o["max-percent"] !== undefined ? Math.max(1, Math.floor((candidates.length * o["max-percent"]) / 100)) : (o.count ?? 1);
    const picked = applyBlastRadius(candidates, "count", want, this.rnd);
    const allowed = Math.floor((this.peak * o["max-down"]) / 100);
    const down = this.down();
    const fire = picked.slice(0, Math.max(0, allowed - down));
    const refused = picked.slice(fire.length);
    const pids = fire.map((t) => t.pid);
    const what = `${pids.length === 1 ? "PID" : "PIDs"} ${pids.join(", ")}`;
    const action = fire.length === 0 ? "Holding fire: the safety valve refuses." : this.dryRun ? `WOULD BE ${this.verb} ${what} (dry run).` : `${this.verb} ${what}.`;
    this.emit("hit", `Dice roll: ${shown} < ${p}. ${action}`, { roll: dice, probability: o.probability, pids, dryRun: this.dryRun });
    for (const t of refused) {
      this.stats.refused++;
      this.emit(
        "refused",
        `SAFETY: not ${this.verb.toLowerCase()} PID ${t.pid}: ${down + fire.length} of ${this.peak} instances would be down; one more exceeds --max-down ${o["max-down"]}%.`,
        { pid: t.pid, down: down + fire.length, fleet: this.peak, maxDownPercent: o["max-down"] },
      );
    }
    if (this.dryRun) return;
    for (const t of fire) await this.shoot(t);
  }

  private async shoot(t: ProcessTarget): Promise<void> {
    const o = this.o;
    let entry = -1;
    try {
      const undo = await processKill.plan(t, { signal: o.signal });
      if (o.signal === "STOP") {
        this.journal ??= new LocalJournal(`sniper ${this.label}`);
        entry = this.journal.begin(processKill.name, t, undo);
      }
      // inject re-checks identity (PID + start time: the PID may have been
      // reused since the scan) and every protection rule right before the signal
      await processKill.inject(t, { signal: o.signal }, { runId: "sniper", signal: new AbortController().signal, undo });
      this.stats.kills++;
      if (o.signal === "STOP") {
        this.journal!.mark(entry, "injected");
        this.frozen.set(t.pid, { target: t, entry, thawAt: Date.now() + (o.hold ?? o.interval) });
      }
    } catch (e) {
      this.stats.failed++;
      if (entry >= 0) this.journal!.mark(entry, "reverted");
      this.emit("error", `PID ${t.pid}: ${(e as Error).message}`, { pid: t.pid });
    }
  }

  private async thaw(pid: number): Promise<void> {
    const f = this.frozen.get(pid);
    if (!f) return;
    const undo = await processKill.plan(f.target, { signal: "STOP" });
    await processKill.revert(f.target, undo);
    const v = await processKill.verify(f.target, undo);
    if (!v.ok) {
      this.emit("error", `PID ${pid}: ${v.detail} (journal kept; gameday recover retries)`, { pid });
      return;
    }
    this.frozen.delete(pid);
    this.journal!.mark(f.entry, "reverted");
    this.emit("resume", `Resumed PID ${pid} (SIGCONT): ${v.detail}.`, { pid });
  }

  private async thawDue(): Promise<void> {
    for (const [pid, f] of [...this.frozen]) if (f.thawAt <= Date.now()) await this.thaw(pid);
  }

  private async thawAll(): Promise<void> {
    for (const pid of [...this.frozen.keys()]) await this.thaw(pid);
    this.journal?.close();
  }
}

