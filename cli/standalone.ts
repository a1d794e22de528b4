// Running injectors without a worker, for the standalone CLIs. The same
// injector contract and the same rules as a worker run: journal before every
// change, revert and verify at the end of the duration, on Ctrl-C/SIGTERM, and
// — through the journal — after a crash, at the next start of any CLI.
import { duration } from "../lib/duration";
import { LocalJournal, recoverLocalJournals } from "../lib/local-journal";
import { targetLabel, type AnyInjector, type Target } from "../injectors";
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

/** `--duration` (at most a week; `fallback` when absent) in ms, or a CliError naming the flag. */
export function durationFlag(raw: string | undefined, fallback: string, minMs = 100): number {
  const r = duration({ min: minMs, max: 7 * 24 * 3_600_000 }).safeParse(raw ?? fallback);
  if (!r.success) throw new CliError(`--duration: ${r.error.issues[0].message}`);
  return r.data;
}

/** Say what an earlier CLI that died left behind, and revert it. */
export async function recoverBeforeStart(say: (line: string) => void): Promise<void> {
  const r = await recoverLocalJournals();
  for (const x of r.reverted) say(`recovered: ${x.fault} on ${x.target} left by an earlier CLI that did not finish: reverted (${x.detail})`);
  for (const x of r.failed) say(`recovery FAILED: ${x.fault} on ${x.target}: ${x.detail}`);
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
 * Inject every fault (journaled first), hold for durationMs or until the
 * signal aborts, then revert and verify each. A failed inject stops the rest
 * and reverts what is in place.
 */
export async function runFaults(
  command: string,
  faults: PlannedFault[],
  durationMs: number,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<StandaloneResult> {
  const journal = new LocalJournal(command);
  const res: StandaloneResult = { completed: false, injected: 0, reverted: 0, failures: [] };
  const inPlace: { i: number; f: PlannedFault; undo: unknown }[] = [];
  try {
    for (const f of faults) {
      if (signal.aborted) break;
      const undo = await f.injector.plan(f.target, f.params);
      const i = journal.begin(f.injector.name, f.target, undo);
      inPlace.push({ i, f, undo });
      try {
        await f.injector.inject(f.target, f.params, { runId: `cli-${process.pid}`, signal, undo });
        journal.mark(i, "injected");
        res.injected++;
        say(`injected ${f.injector.name} on ${targetLabel(f.target)}`);
      } catch (e) {
        res.failures.push(`${f.injector.name} on ${targetLabel(f.target)}: ${(e as Error).message}`);
        say(`inject failed: ${f.injector.name} on ${targetLabel(f.target)}: ${(e as Error).message}`);
        break;
      }
    }
    if (res.failures.length === 0 && !signal.aborted) {
      await sleep(durationMs, signal);
      res.completed = !signal.aborted;
    }
  } finally {
    for (const { i, f, undo } of inPlace.reverse()) {
      try {
        await f.injector.revert(f.target, undo);
        const v = await f.injector.verify(f.target, undo);
        if (!v.ok) throw new Error(v.detail);
        journal.mark(i, "reverted");
        res.reverted++;
        say(`reverted ${f.injector.name} on ${targetLabel(f.target)}: ${v.detail}`);
      } catch (e) {
        res.failures.push(`revert of ${f.injector.name} on ${targetLabel(f.target)}: ${(e as Error).message}`);
        say(`REVERT FAILED: ${f.injector.name} on ${targetLabel(f.target)}: ${(e as Error).message} (journal kept; \`gameday recover\` retries)`);
      }
    }
    journal.close();
  }
  return res;
}
