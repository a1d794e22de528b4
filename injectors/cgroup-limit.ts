// The shared shape of cpu-limit and memory-limit: a process tree is moved into
// a new child cgroup that carries the limit (cgroup/confine.ts confine/release),
// so revert moves it back and verify compares the original cgroup's files.
// Evidence: the limiting cgroup's counters over the fault (cgroup/counters.ts),
// read by revert before the child cgroup, and its counters, go away.
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import { confine, planConfine, release, verifyReleased, type ConfineUndo } from "./cgroup/confine";
import { delta, limitEffect, readCounters, type Counters } from "./cgroup/counters";
import { unavailableReason, type Controller } from "./cgroup/hierarchy";
import { keepEvidence, readEvidence, takeEvidence } from "./evidence";
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

interface LimitEvidence {
  /** in place: the target's own cgroup's counters when the limit went on; a fresh child starts at 0 */
  before: Counters | null;
  /** over the fault, read by revert */
  delta?: Counters;
  where?: string;
}

/** plan() adds a nonce naming the evidence (absent in journals from before it: no evidence) */
type LimitUndo = ConfineUndo & { evidence?: string };

const keyOf = (u: LimitUndo) => `cgroup-${u.controller}-${u.evidence}`;
const limitDir = (u: ConfineUndo) => (u.mode === "child" ? u.folder : u.original);

/** Before release: the counters of the cgroup holding the limit, minus those it had when the limit went on. */
function keepLimitCounters(u: LimitUndo): void {
  if (!u.evidence) return;
  const rec = readEvidence<LimitEvidence>(keyOf(u));
  const dir = limitDir(u);
  if (rec?.delta || !dir) return;
  const now = readCounters(u.controller, dir);
  if (now) keepEvidence(keyOf(u), { before: rec?.before ?? null, delta: delta(now, rec?.before ?? null), where: dir } satisfies LimitEvidence);
}

export function cgroupLimitInjector<P>(s: LimitSpec<P>): Injector<P, LimitUndo, ProcessTarget> {
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
    plan: async (target) => ({ ...planConfine(s.name, s.controller, target.pid, target.startTime), evidence: randomUUID() }),
    async inject(_target, params, { undo }) {
      const dir = limitDir(undo);
      if (undo.evidence) keepEvidence(keyOf(undo), { before: undo.mode === "in-place" && dir ? readCounters(s.controller, dir) : null } satisfies LimitEvidence);
      await confine(undo, s.value(params));
    },
    async revert(_target, undo) {
      keepLimitCounters(undo);
      await release(undo);
    },
    verify: async (_target, undo) => verifyReleased(undo),
    describe: (_target, undo) =>
      undo.version === null ? `no ${s.controller} cgroup hierarchy found, or the process is gone` : `cgroup v${undo.version}, ${undo.mode === "child" ? `child ${undo.folder}` : `in place in ${undo.original}`}`,
    async effect(_target, undo) {
      const rec = undo.evidence ? takeEvidence<LimitEvidence>(keyOf(undo)) : null;
      if (!rec?.delta) return null;
      return { ...limitEffect(s.controller, rec.delta, rec.where!), counters: rec.delta };
    },
  };
}
