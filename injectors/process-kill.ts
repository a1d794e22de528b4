// process-kill: send KILL, TERM, INT or STOP to one process.
// STOP is reverted with CONT and verified by the process leaving state T;
// KILL/TERM/INT cannot be undone (a supervisor brings the process back), so
// their revert is a no-op and their verification, always ok, says so and
// reports whether the process is gone or still running.
import { z } from "zod";
import { readProc, sameProcess, protectionReason } from "../lib/procfs";
import { register } from "./registry";
import type { Injector, ProcessTarget, VerifyResult } from "./types";
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
    assertTargetable(target);
    process.kill(target.pid, `SIG${params.signal}`);
  },

  async revert(_target, undo) {
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
};

register(processKill);
