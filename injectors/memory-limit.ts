// memory-limit: cap the memory of a process and its descendants through a
// cgroup (v1 memory.limit_in_bytes, v2 memory.max) set on a new child cgroup
// under the target's own (see lib/cgroups.ts). Beyond the limit the kernel
// reclaims, then the OOM killer picks within the child only. Memory the tree
// already had stays charged to its original cgroup (the kernel does not move
// charges): the limit bites on what it allocates from now on.
import { z } from "zod";
import { confine, planConfine, release, unavailableReason, verifyReleased, type ConfineUndo } from "../lib/cgroups";
import { formatSize, sizeString } from "../lib/size";
import { register } from "./registry";
import type { Injector, ProcessTarget } from "./types";

const MIN_LIMIT = 1024 * 1024;

export const memoryLimitParams = z
  .object({
    /** the cap, e.g. "256M" */
    limit: sizeString.refine((b) => b >= MIN_LIMIT, { error: `must be at least ${formatSize(MIN_LIMIT)}` }),
  })
  .strict();
export type MemoryLimitParams = z.infer<typeof memoryLimitParams>;

export const memoryLimit: Injector<MemoryLimitParams, ConfineUndo, ProcessTarget> = {
  name: "memory-limit",
  description: "Cap the memory of the target processes and their descendants through a cgroup (v1 or v2) limit.",
  targetKind: "process",
  params: memoryLimitParams,

  async available() {
    const why = unavailableReason("memory");
    return why ? { ok: false, reason: why } : { ok: true };
  },

  plan(target) {
    return planConfine("memory-limit", "memory", target.pid, target.startTime);
  },

  async inject(_target, params, { undo }) {
    await confine(undo, params.limit);
  },

  async revert(_target, undo) {
    await release(undo);
  },

  async verify(_target, undo) {
    return verifyReleased(undo);
  },
};

register(memoryLimit);
