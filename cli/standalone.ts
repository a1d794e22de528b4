// Running faults without a worker, for the standalone CLIs. Each CLI embeds
// an executor (agent/): the same journal, revert and verify as a worker run,
// at the end of the duration, on Ctrl-C/SIGTERM, and — through the journal —
// by the reaper within moments of the CLI dying, with no command typed.
import { duration } from "../lib/duration";
import { createLogger } from "../lib/log";
import { registerSelf } from "../lib/procfs";
import { targetLabel, type AnyInjector, type Target } from "../injectors";
import { broadProcesses, broadReason } from "../injectors/targets/broad";
import type { NetworkSelector, TargetSpec } from "../lib/experiment";
import type { ProcessSelector, Topology } from "../lib/topology";
import { Executor, type Change, type ExecutorEvent } from "../agent/executor";
import { CliError } from "./client";

export interface PlannedFault {
  injector: AnyInjector;
  target: Target;
  /** already validated by injector.params */
  params: unknown;
}

export interface StandaloneResult {
  /** the duration ran out (false: interrupted by a signal or a failed inject) */
  completed: boolean;
  injected: number;
  reverted: number;
  failures: string[];
}

/** Local time as the seed's CLIs print it: 2024-12-28 10:00:00. */
export function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * A number from a flag ("0.2" → 0.2; with `percentSign`, "10%" → 10); anything
 * else stays a string so the zod error names the flag.
 */
export function flagNumber(v: string | undefined, opts: { percentSign?: boolean } = {}): number | string | undefined {
  if (v === undefined) return undefined;
  const s = opts.percentSign ? v.trim().replace(/%$/, "") : v.trim();
  return s !== "" && Number.isFinite(Number(s)) ? Number(s) : v;
}

/** The flags every standalone CLI takes (parseArgs options). */
export const STANDALONE_OPTIONS = {
  duration: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** The flag a targeting CLI takes to go past the broad-selector check (an experiment's spec.safety.allowBroad). */
export const ALLOW_BROAD_OPTION = { "allow-broad": { type: "string" } } as const;
export const ALLOW_BROAD_USAGE = `  --allow-broad WHY  a selection covering most of this host (more than half its
                    processes, every process root runs, any command line,
                    every address) is refused unless given, with the reason`;

/**
 * A selection that covers most of this host is refused, as in an experiment,
 * unless --allow-broad gives the reason; returns that reason (to be printed),
 * or null when the selection is narrow. `why` is broadReason's answer.
 */
function allowBroad(why: string | null, reason: string | undefined, what: string): string | null {
  if (reason !== undefined) {
    if (!reason.trim()) throw new CliError('--allow-broad: give the reason, e.g. --allow-broad "drill: every worker on this host"');
    return why ? reason.trim() : null;
  }
  if (why) throw new CliError(`${what} matches most of this host: ${why}; narrow it, or pass --allow-broad WHY`);
  return null;
}

/** checkBroad for a process selector. */
export const checkBroad = (sel: ProcessSelector, reason: string | undefined, what: string) => allowBroad(broadProcesses(sel), reason, what);

/** checkBroad for a network selector (its node or process part judged on this host's processes); `flag` names a field's flag. */
export function checkBroadNetwork(sel: NetworkSelector, topology: Topology | null, reason: string | undefined, what: string, flag: (field: string) => string = (k) => `--${k}`): string | null {
  const why = broadReason({ network: sel } as TargetSpec, topology);
  return allowBroad(why && why.replace(/\bnetwork\.(\w+)/g, (_m, k: string) => flag(k)), reason, what);
}

/** `--duration` (at most a week; `fallback` when absent) in ms, or a CliError naming the flag. */
export function durationFlag(raw: string | undefined, fallback: string, minMs = 100): number {
  const r = duration({ min: minMs, max: 7 * 24 * 3_600_000 }).safeParse(raw ?? fallback);
  if (!r.success) throw new CliError(`--duration: ${r.error.issues[0].message}`);
  return r.data;
}

/**
 * The executor a standalone CLI embeds: it first reverts what earlier
 * holders that died left on this host (saying so), then starts the reaper
 * that will revert our own changes if we die.
 */
export async function openExecutor(command: string, say: (line: string) => void): Promise<Executor> {
  // a running CLI is one of Game Day's own: the worker and other CLIs never target it
  const unregister = registerSelf();
  process.once("exit", unregister);
  const ex = new Executor({ command, log: createLogger({ component: "executor", command }) });
  const r = await ex.start();
  for (const x of r.reverted) say(`recovered: ${x.fault} on ${x.targetLabel} left by an earlier CLI that did not finish: reverted (${x.detail})`);
  for (const x of r.failed) say(`recovery FAILED: ${x.fault} on ${x.targetLabel}: ${x.detail}`);
  for (const p of r.problems) say(`recovery FAILED: ${p}`);
  // the reaper takes about a second to start: the duration counts from when a change can be made
  await ex.ready().catch((e: Error) => {
    throw new CliError(e.message);
  });
  return ex;
}

/** Parse an injector's params from CLI values; errors name the flag. */
export function parseParams<P>(injector: AnyInjector, raw: Record<string, unknown>, flagOf: (field: string) => string = (f) => `--${f}`): P {
  const r = injector.params.safeParse(raw);
  if (r.success) return r.data as P;
  const lines = r.error.issues.map((i) => {
    const field = i.path.map(String).join(".");
    return field ? `${flagOf(field)}: ${i.message}` : i.message;
  });
  throw new CliError(`invalid parameters:\n  ${lines.join("\n  ")}`);
}

/** A promise that resolves after ms, or early when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** An AbortController tripped by SIGINT/SIGTERM/SIGHUP; call release() when done. */
export function interruptible(say: (line: string) => void): { signal: AbortSignal; release: () => void } {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    if (!ac.signal.aborted) say(`${sig}: stopping, reverting every change…`);
    ac.abort();
  };
  const sigs: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of sigs) process.on(s, on);
  return { signal: ac.signal, release: () => sigs.forEach((s) => process.off(s, on)) };
}

/**
 * Apply every fault through the executor (journaled first), hold for
 * durationMs or until the signal aborts, then revert and verify each, last
 * first. A failed apply stops the rest and reverts what is in place. onChange
 * sees every executor event of these changes (the journaled undo, the inject,
 * the revert); beforeRevert runs when the hold ends, before the first revert.
 */
export async function runFaults(
  executor: Executor,
  faults: PlannedFault[],
  durationMs: number,
  signal: AbortSignal,
  say: (line: string, event: "injected" | "inject-failed" | "reverted" | "revert-failed") => void,
  hooks: { onChange?: (e: ExecutorEvent) => void; beforeRevert?: () => void } = {},
): Promise<StandaloneResult> {
  const { onChange, beforeRevert } = hooks;
  const runId = `cli-${process.pid}`;
  const res: StandaloneResult = { completed: false, injected: 0, reverted: 0, failures: [] };
  const off = executor.on((e) => {
    if (e.change.runId !== runId) return;
    onChange?.(e);
    const what = `${e.change.fault} on ${e.change.targetLabel}`;
    if (e.type === "injected") {
      res.injected++;
      say(`injected ${what}`, e.type);
    } else if (e.type === "inject-failed") {
      res.failures.push(`${what}: ${e.error}`);
      say(`inject failed: ${what}: ${e.error}`, e.type);
    } else if (e.type === "reverted") {
      res.reverted++;
      say(`reverted ${what}: ${e.detail}`, e.type);
    } else if (e.type === "revert-failed") {
      res.failures.push(`revert of ${what}: ${e.detail}`);
      say(`REVERT FAILED: ${what}: ${e.detail} (journal kept; \`gameday recover\` retries)`, e.type);
    }
  });
  // the inject's own signal: Ctrl-C cancels an inject in flight, and the executor reverts what it did
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  const made: Change[] = [];
  try {
    for (const [i, f] of faults.entries()) {
      if (signal.aborted) break;
      try {
        made.push(await executor.apply({ runId, step: i, targetName: targetLabel(f.target), fault: f.injector.name, target: f.target, params: f.params, revertAt: new Date(Date.now() + durationMs) }, stop.signal));
      } catch (e) {
        // an inject that failed was reported by its event; a refusal before the journal was not
        if (!res.failures.some((x) => x.endsWith((e as Error).message))) {
          res.failures.push(`${f.injector.name} on ${targetLabel(f.target)}: ${(e as Error).message}`);
          say(`inject failed: ${f.injector.name} on ${targetLabel(f.target)}: ${(e as Error).message}`, "inject-failed");
        }
        break;
      }
    }
    if (res.failures.length === 0 && !signal.aborted) {
      await sleep(durationMs, signal);
      res.completed = !signal.aborted;
    }
  } finally {
    beforeRevert?.();
    for (const c of made.reverse()) await executor.revert(c.id);
    signal.removeEventListener("abort", onAbort);
    off();
  }
  return res;
}
