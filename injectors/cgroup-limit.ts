// The shared shape of cpu-limit and memory-limit: a process tree is moved into
// a new child cgroup that carries the limit (cgroup/confine.ts confine/release),
// so revert moves it back and verify compares the original cgroup's files.
import type { z } from "zod";
import { confine, planConfine, release, verifyReleased, type ConfineUndo } from "./cgroup/confine";
import { unavailableReason, type Controller } from "./cgroup/hierarchy";
import type { Availability, Injector, ProcessTarget } from "./types";
import { confineUndoShape } from "./undo-shapes";

interface LimitSpec<P> {
  name: string;
  description: string;
  controller: Controller;
  params: z.ZodType<P>;
  /** the number written to the limit file (cores for cpu, bytes for memory) */
  value(params: P): number;
  /** extra text for available() when the controller is there */
  detail?: () => string;
}

export function cgroupLimitInjector<P>(s: LimitSpec<P>): Injector<P, ConfineUndo, ProcessTarget> {
  return {
    name: s.name,
    description: s.description,
    family: "resource",
    targetKind: "process",
    params: s.params,
  undoSchema: confineUndoShape,
    async available(): Promise<Availability> {
      const why = unavailableReason(s.controller);
      return why ? { ok: false, reason: why } : { ok: true, detail: s.detail?.() };
    },
    plan: async (target) => planConfine(s.name, s.controller, target.pid, target.startTime),
    inject: (_target, params, { undo }) => confine(undo, s.value(params)),
    revert: (_target, undo) => release(undo),
    verify: async (_target, undo) => verifyReleased(undo),
    describe: (_target, undo) =>
      undo.version === null ? `no ${s.controller} cgroup hierarchy found, or the process is gone` : `cgroup v${undo.version}, ${undo.mode === "child" ? `child ${undo.folder}` : `in place in ${undo.original}`}`,
  };
}
