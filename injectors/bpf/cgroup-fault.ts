// The shared body of connect-error and packet-drop: a cgroup BPF object
// attached by the loader to the target's dedicated child cgroup.
// inject: make the folder → loader attaches (links held by the loader) →
// move the processes in. revert: move everyone back → stop the loader (its
// links go with it) → remove the folder. A crash leaves nothing attached: the
// loader dies with its parent and the reaper replays revert from the journal.
import type { z } from "zod";
import type { Availability, Injector, ProcessTarget, VerifyResult } from "../types";
import { makeFolder, moveBack, moveIn, moveProblems, planMove, type MoveUndo } from "./cgroup";
import { bpfObjectAvailable } from "./detect";
import { evidenceText, helperEffect, helperPids, newHelperTag, startHelper, stopHelper, tool } from "./helper";

export interface CgroupBpfUndo {
  tag: string;
  /** the hooks, e.g. "cgroup/connect4+connect6"; shown in the run record */
  mechanism: string;
  /** program names in the object */
  programs: string[];
  /** loader key=value configuration */
  config: string[];
  /** what the filters select, in words */
  selects: string;
  move: MoveUndo;
}

interface Spec<P> {
  name: string;
  description: string;
  obj: string;
  params: z.ZodType<P & { scope: "process" | "cgroup" }>;
  /** programs to attach, their hooks in words, the loader's key=value configuration, the selection in words */
  program(p: P): { programs: string[]; mechanism: string; config: string[]; selects: string };
  evidence: { seen: string; injected: string };
}

export function cgroupBpfInjector<P extends { scope: "process" | "cgroup" }>(s: Spec<P>): Injector<P, CgroupBpfUndo, ProcessTarget> {
  return {
    name: s.name,
    description: s.description,
    family: "bpf",
    targetKind: "process",
    params: s.params,
    available: (): Promise<Availability> => bpfObjectAvailable(s.obj),
    async plan(target, params) {
      return { tag: newHelperTag(s.name), ...s.program(params), move: planMove(s.name, target.pid, target.startTime, params.scope) };
    },
    async inject(_target, _params, { undo, signal }) {
      makeFolder(undo.move);
      await startHelper("gameday-bpf", ["run", tool(s.obj), undo.move.folder, undo.programs.join(","), ...undo.config], undo.tag, signal);
      moveIn(undo.move);
    },
    async revert(_target, undo) {
      await moveBack(undo.move);
      await stopHelper(undo.tag);
    },
    async verify(_target, undo): Promise<VerifyResult> {
      const problems = moveProblems(undo.move);
      const left = helperPids(undo.tag);
      if (left.length) problems.push(`loader ${left.join(", ")} still runs (its programs stay attached)`);
      if (problems.length) return { ok: false, detail: problems.join("; ") };
      const where = undo.move.inPlace ? ` from ${undo.move.original} (in place)` : `, ${undo.move.tree.length} process(es) back in ${undo.move.original}`;
      return { ok: true, detail: `${undo.mechanism} detached${where}; ${evidenceText(undo.tag, s.evidence)}` };
    },
    effect: async (_target, undo) => helperEffect(undo.tag, s.evidence),
    describe: (_target, undo) => `${undo.mechanism} on ${undo.move.folder}${undo.move.inPlace ? " (in place: every process and socket of the cgroup)" : ""} (${undo.selects})`,
  };
}
