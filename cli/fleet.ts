// What the fleet CLIs (docker-monkey, cloud-terminator) share: blast-radius
// and fleet-valve flags, a line (or JSON) per event, and narration of the
// step's and the executor's events.
import { z } from "zod";
import { targetLabel } from "../injectors";
import type { ExecutorEvent } from "../agent/executor";
import type { MaxDown, StepEvent } from "../agent/step";
import type { Executor } from "../agent/executor";
import { flagNumber, interruptible, stamp } from "./standalone";

export const BLAST_OPTIONS = {
  mode: { type: "string" },
  count: { type: "string" },
  percent: { type: "string" },
  "max-down": { type: "string" },
  seed: { type: "string" },
} as const;

export const blastFields = {
  mode: z.enum(["one", "count", "percent", "all"], { error: "expected one, count, percent or all" }).default("one"),
  count: z.number({ error: "expected a whole number ≥ 1" }).int({ error: "expected a whole number ≥ 1" }).min(1, { error: "expected a whole number ≥ 1" }).optional(),
  percent: z.number({ error: "expected a number" }).gt(0, { error: "must be greater than 0" }).max(100, { error: "must be at most 100" }).optional(),
  "max-down": z.union([z.number().int().min(1), z.string().regex(/^\d+(\.\d+)?%$/, 'expected a whole number ≥ 1 or a percentage like "50%"')], { error: 'expected a whole number ≥ 1 or a percentage like "50%"' }).optional(),
  seed: z.number({ error: "expected an integer" }).int({ error: "expected an integer" }).optional(),
};

type BlastRaw = { mode?: string; count?: string; percent?: string; "max-down"?: string; seed?: string };

export function blastInput(f: BlastRaw): Record<string, unknown> {
  const md = f["max-down"];
  return { mode: f.mode, count: flagNumber(f.count), percent: flagNumber(f.percent, { percentSign: true }), "max-down": md === undefined ? undefined : /^\d+$/.test(md) ? Number(md) : md, seed: flagNumber(f.seed) };
}

export function blastIssues(o: { mode: string; count?: number; percent?: number }, ctx: z.RefinementCtx): void {
  if (o.mode === "count" && o.count === undefined) ctx.addIssue({ code: "custom", path: ["count"], message: "--mode count needs --count N" });
  if (o.mode === "percent" && o.percent === undefined) ctx.addIssue({ code: "custom", path: ["percent"], message: "--mode percent needs --percent P" });
}

export function blastOf(o: { mode: "one" | "count" | "percent" | "all"; count?: number; percent?: number; "max-down"?: number | string }) {
  const maxDown: MaxDown | undefined = o["max-down"] === undefined ? undefined : typeof o["max-down"] === "number" ? { count: o["max-down"] } : { percent: Number(o["max-down"].slice(0, -1)) };
  return { mode: o.mode, value: o.mode === "count" ? o.count : o.mode === "percent" ? o.percent : undefined, maxDown };
}

export type Emit = (event: string, text: string, data?: Record<string, unknown>) => void;

export function emitter(json: boolean): Emit {
  return (event, text, data = {}) => {
    const now = new Date();
    process.stdout.write(json ? JSON.stringify({ ts: now.toISOString(), event, ...data, message: text }) + "\n" : `[${stamp(now)}] ${text}\n`);
  };
}

export function narrateStep(emit: Emit, e: StepEvent, dryRun: boolean): void {
  if (e.type === "would-apply") emit("would-apply", `WOULD hit (dry run): ${e.targets.map(targetLabel).join(", ")}`, { round: e.round });
  else if (e.type === "refused") emit("refused", `SAFETY: sparing ${targetLabel(e.target)}: ${e.down} of ${e.fleet} would be affected, --max-down allows ${e.allowed}`, { round: e.round });
  else if (e.type === "apply-failed") emit("error", `${targetLabel(e.target)}: ${e.error}`, { round: e.round });
  else if (e.type === "empty") emit("empty", `${e.message}; waiting for the next round`, { round: e.round });
  else if (e.type === "resolved" && !dryRun) emit("round", `Round ${e.round + 1}: ${e.resolution.matched.length} match, hitting ${e.chosen.map(targetLabel).join(", ") || "none"}`, { round: e.round, at: Date.now() });
}

export function narrateChange(emit: Emit, e: ExecutorEvent): void {
  const what = `${e.change.fault} on ${e.change.targetLabel}`;
  if (e.type === "injected") emit("injected", `Injected ${what}`, { change: e.change.id, undo: e.change.undo });
  // the evidence of effect, as the run's events give it: a change that touched nothing says so
  else if (e.type === "reverted") emit("reverted", `Reverted ${what}: ${e.detail}${e.change.effect ? `; effect: ${e.change.effect.summary}` : ""}`, { change: e.change.id, ...(e.change.effect ? { effect: e.change.effect } : {}) });
  else if (e.type === "revert-failed") emit("error", `REVERT FAILED: ${what}: ${e.detail} (journal kept; gameday recover retries)`, { change: e.change.id });
  else if (e.type === "inject-failed") emit("error", `Inject failed: ${what}: ${e.error}`, { change: e.change.id });
}

/**
 * Run a fleet CLI's steps: the executor's events of this run narrated,
 * Ctrl-C/SIGTERM (the signal body gets) and the end both revert the run's
 * changes, and the executor closed; body returns the exit code.
 */
export async function holdRun(executor: Executor | null, runId: string, emit: Emit, body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  const off = executor?.on((e) => {
    if (e.change.runId === runId) narrateChange(emit, e);
  });
  const revertNow = () => void executor?.revertRun(runId);
  signal.addEventListener("abort", revertNow, { once: true });
  try {
    return await body(signal);
  } finally {
    signal.removeEventListener("abort", revertNow);
    release();
    await executor?.revertRun(runId);
    off?.();
    await executor?.close();
  }
}
