// process-kill: send KILL, TERM, INT or STOP to one process.
// STOP is reverted with CONT and verified by the process leaving state T;
// KILL/TERM/INT cannot be undone (a supervisor brings the process back), so
// their revert is a no-op and their verification, always ok, says so and
// reports whether the process is gone or still running.
// Evidence: inject notes the delivery (or why there was none), revert notes
// what became of the process (exited, still running, stopped for how long
// until CONT), effect() reports it: 1 process signalled, or 0.
import { z } from "zod";
import { readProc, sameProcess, protectionReason } from "../lib/procfs";
import { keepEvidence, readEvidence, takeEvidence } from "./evidence";
import { register } from "./registry";
import type { Effect, Injector, ProcessTarget, VerifyResult } from "./types";
import { processKillUndoShape } from "./undo-shapes";

export const SIGNALS = ["KILL", "TERM", "INT", "STOP"] as const;
export type SignalName = (typeof SIGNALS)[number];

export const processKillParams = z
  .object({
    signal: z.enum(SIGNALS, { error: `expected one of ${SIGNALS.join(", ")}` }).default("KILL"),
  })
  .strict();
export type ProcessKillParams = z.infer<typeof processKillParams>;

interface ProcessKillUndo {
  signal: SignalName;
  pid: number;
  startTime: number;
}

interface Delivery {
  signal: SignalName;
  pid: number;
  comm?: string;
  delivered: boolean;
  /** why nothing was delivered */
  error?: string;
  /** wall clock ms of the kill() */
  at?: number;
  /** what revert found, before it sent CONT */
  after?: { state: string; at: number };
}

// one fault per process at a time: the PID with its start time names the delivery (inject rewrites it, revert adds once)
const deliveryKey = (pid: number, startTime: number) => `process-kill-${pid}-${startTime}`;

/** What the process became, in a word or two, from its /proc state. */
function fate(pid: number, startTime: number): string {
  const p = sameProcess(pid, startTime);
  if (!p) return "gone";
  if (p.state === "Z" || p.state === "X") return `exited (state ${p.state})`;
  return p.state === "T" ? "stopped" : `running (state ${p.state})`;
}

function deliveryEffect(d: Delivery): Effect {
  if (!d.delivered) return { touched: 0, summary: `no signal delivered to PID ${d.pid}: ${d.error}`, counters: { ...d } };
  const who = `SIG${d.signal} delivered to PID ${d.pid}${d.comm ? ` (${d.comm})` : ""}`;
  let what = "";
  if (d.after && d.signal === "STOP") what = d.after.state === "stopped" ? `; stopped for ${d.after.at - d.at!} ms until SIGCONT` : `; ${d.after.state} when the revert came (not stopped)`;
  else if (d.after) what = d.after.state === "gone" || d.after.state.startsWith("exited") ? `; it exited (${d.after.state} ${d.after.at - d.at!} ms later)` : `; still ${d.after.state} ${d.after.at - d.at!} ms later: it survived or ignored the signal`;
  return { touched: 1, summary: who + what, counters: { ...d } };
}

function assertTargetable(t: ProcessTarget): void {
  const p = sameProcess(t.pid, t.startTime);
  if (!p) throw new Error(`process ${t.pid} is gone or its PID was reused; not signalled`);
  const why = protectionReason(p);
  if (why) throw new Error(`refusing to signal PID ${t.pid}: ${why}`);
}

export const processKill: Injector<ProcessKillParams, ProcessKillUndo, ProcessTarget> = {
  name: "process-kill",
  description: "Send KILL, TERM, INT or STOP to the target processes (STOP is reverted with CONT).",
  family: "process",
  targetKind: "process",
  params: processKillParams,
  undoSchema: processKillUndoShape,

  async available() {
    return { ok: true };
  },

  async plan(target, params) {
    return { signal: params.signal, pid: target.pid, startTime: target.startTime };
  },

  async inject(target, params) {
    const key = deliveryKey(target.pid, target.startTime);
    try {
      assertTargetable(target);
      process.kill(target.pid, `SIG${params.signal}`);
    } catch (e) {
      keepEvidence(key, { signal: params.signal, pid: target.pid, delivered: false, error: (e as Error).message } satisfies Delivery);
      throw e;
    }
    keepEvidence(key, { signal: params.signal, pid: target.pid, comm: target.comm, delivered: true, at: Date.now() } satisfies Delivery);
  },

  async revert(_target, undo) {
    const key = deliveryKey(undo.pid, undo.startTime);
    const d = readEvidence<Delivery>(key);
    if (d?.delivered && !d.after) keepEvidence(key, { ...d, after: { state: fate(undo.pid, undo.startTime), at: Date.now() } });
    if (undo.signal !== "STOP") return;
    // Only continue the very process we stopped; a reused PID is left alone.
    if (!sameProcess(undo.pid, undo.startTime)) return;
    try {
      process.kill(undo.pid, "SIGCONT");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
  },

  async verify(_target, undo): Promise<VerifyResult> {
    const p = sameProcess(undo.pid, undo.startTime);
    if (undo.signal === "STOP") {
      if (!p) return { ok: true, detail: `process ${undo.pid} is gone` };
      // SIGCONT is delivered asynchronously; give the kernel a moment.
      for (let i = 0; i < 20 && readProc(undo.pid)?.state === "T"; i++) await new Promise((r) => setTimeout(r, 25));
      const state = readProc(undo.pid)?.state;
      return state === "T"
        ? { ok: false, detail: `process ${undo.pid} is still stopped (state T)` }
        : { ok: true, detail: `process ${undo.pid} is running again (state ${state ?? "gone"})` };
    }
    // ok: there is nothing to check a revert against, so the detail says what was looked at instead
    const what = `nothing to revert: SIG${undo.signal} cannot be undone`;
    if (!p) return { ok: true, detail: `${what}; PID ${undo.pid} is gone` };
    if (p.state === "Z" || p.state === "X") return { ok: true, detail: `${what}; PID ${undo.pid} has exited (state ${p.state}, not yet reaped)` };
    return { ok: true, detail: `${what}; PID ${undo.pid} is still running (state ${p.state}): it survived or ignored the signal` };
  },

  async effect(_target, undo) {
    const d = takeEvidence<Delivery>(deliveryKey(undo.pid, undo.startTime));
    return d ? deliveryEffect(d) : null;
  },
};

register(processKill);
