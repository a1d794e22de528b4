// memory-stress: allocate and touch SIZE bytes in child processes (node hogs,
// or stress-ng --vm when installed), held until revert. Sizes beyond a safety
// share of MemAvailable are refused unless force is set, so a typo cannot
// send the host into the OOM killer. Children are tagged and die with us
// (see load/engine.ts for the shared load helpers).
import { z } from "zod";
import { formatSize, sizeString } from "../lib/size";
import { newTag } from "./load/children";
import { chooseEngine, loadEffect, engineParam, startLoad, stopLoad, verifyStopped, type LoadUndo } from "./load/engine";
import { memAvailable, sizeRefusal } from "./load/memory";
import { register } from "./registry";
import type { HostTarget, Injector } from "./types";
import { loadUndoShape } from "./undo-shapes";

export const memoryStressParams = z
  .object({
    /** total to allocate across the workers, e.g. "512M" */
    size: sizeString.refine((b) => b >= 4096, { error: "must be at least 4096 bytes" }),
    /** processes sharing the size (default 1) */
    workers: z
      .number({ error: "expected a whole number of workers" })
      .int({ error: "expected a whole number of workers" })
      .min(1, { error: "must be at least 1" })
      .max(64, { error: "must be at most 64" })
      .default(1),
    engine: engineParam,
    /** allow a size beyond the safety share of MemAvailable */
    force: z.boolean({ error: "expected true or false" }).default(false),
  })
  .strict();
export type MemoryStressParams = z.infer<typeof memoryStressParams>;

export interface MemoryStressUndo extends LoadUndo {
  bytes: number;
  workers: number;
}

export const memoryStress: Injector<MemoryStressParams, MemoryStressUndo, HostTarget> = {
  name: "memory-stress",
  description: "Allocate and touch memory on the host with child processes (node, or stress-ng when installed); refuses more than 80 % of MemAvailable unless forced.",
  family: "resource",
  targetKind: "host",
  params: memoryStressParams,
  undoSchema: loadUndoShape,

  async available() {
    return { ok: true, detail: `MemAvailable ${formatSize(memAvailable())}` };
  },

  async plan(target, params) {
    return { tag: newTag("memory-stress"), engine: chooseEngine(params.engine), bytes: params.size, workers: params.workers };
  },

  async inject(_target, params, { undo }) {
    const why = sizeRefusal(undo.bytes, params.force);
    if (why) throw new Error(why);
    const each = Math.max(4096, Math.floor(undo.bytes / undo.workers));
    const children =
      undo.engine === "stress-ng"
        ? [{ script: "stress-ng.mjs", args: ["--", "--vm", String(undo.workers), "--vm-bytes", String(each), "--vm-hang", "0", "--timeout", "0", "--quiet"] }]
        : Array.from({ length: undo.workers }, () => ({ script: "mem-hog.mjs", args: ["--bytes", String(each)] }));
    await startLoad(undo, children);
  },

  async revert(_target, undo) {
    await stopLoad(undo);
  },

  async verify(_target, undo) {
    return verifyStopped("memory-stress", undo);
  },

  effect: async (_target, undo) => loadEffect(undo, "memory"),
};

register(memoryStress);
