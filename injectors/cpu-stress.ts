// cpu-stress: load N cores to P % with child processes — node burners
// (injectors/load/cpu-burn.mjs), or stress-ng when it is installed and the
// experiment did not ask for engine "node". Every child carries a tag chosen
// in plan(), so revert (here or in a worker restarted after a crash) kills
// exactly these; the children also exit by themselves when we die.
// The load helpers live in load/engine.ts, shared with memory-stress.
import { z } from "zod";
import { newTag } from "./load/children";
import { chooseEngine, loadEffect, cores, engineParam, startLoad, stopLoad, stressNgMissing, verifyStopped, type LoadUndo } from "./load/engine";
import { register } from "./registry";
import type { HostTarget, Injector } from "./types";
import { loadUndoShape } from "./undo-shapes";

export const cpuStressParams = z
  .object({
    /**
     * burner processes, each loading one core; default: every core of the
     * host. The bound and default depend on the host, so they live in a
     * refinement and a transform, out of the published (host-independent) schema.
     */
    workers: z
      .number({ error: "expected a whole number of workers" })
      .int({ error: "expected a whole number of workers" })
      .min(1, { error: "must be at least 1" })
      .optional()
      .refine((w) => w === undefined || w <= 4 * cores, { error: `must be at most ${4 * cores} (4 × the ${cores} cores of this host)` })
      .transform((w) => w ?? cores),
    /** percent of each worker's core kept busy */
    load: z.number({ error: "expected a percentage 1..100" }).min(1, { error: "must be at least 1 (percent)" }).max(100, { error: "must be at most 100 (percent)" }).default(100),
    engine: engineParam,
  })
  .strict();
export type CpuStressParams = z.infer<typeof cpuStressParams>;

export interface CpuStressUndo extends LoadUndo {
  workers: number;
  load: number;
}

export const cpuStress: Injector<CpuStressParams, CpuStressUndo, HostTarget> = {
  name: "cpu-stress",
  description: "Load CPU cores on the host to a percentage with child processes (node burners, or stress-ng when installed).",
  family: "resource",
  targetKind: "host",
  params: cpuStressParams,
  undoSchema: loadUndoShape,

  async available() {
    const missing = stressNgMissing();
    return { ok: true, detail: `${cores} cores; engine auto = ${missing ? `node (${missing})` : "stress-ng"}` };
  },

  async plan(target, params) {
    return { tag: newTag("cpu-stress"), engine: chooseEngine(params.engine), workers: params.workers, load: params.load };
  },

  async inject(_target, _params, { undo }) {
    const children =
      undo.engine === "stress-ng"
        ? [{ script: "stress-ng.mjs", args: ["--", "--cpu", String(undo.workers), "--cpu-load", String(undo.load), "--timeout", "0", "--quiet"] }]
        : Array.from({ length: undo.workers }, () => ({ script: "cpu-burn.mjs", args: ["--load", String(undo.load)] }));
    await startLoad(undo, children);
  },

  async revert(_target, undo) {
    await stopLoad(undo);
  },

  async verify(_target, undo) {
    return verifyStopped("cpu-stress", undo);
  },

  effect: async (_target, undo) => loadEffect(undo, "cpu"),
};

register(cpuStress);
