// cpu-limit: cap the CPU time of a process and its descendants with a CFS
// quota (cgroup v1 cpu.cfs_quota_us, v2 cpu.max). The limit lives in a new
// child cgroup under the target's own (see lib/cgroups.ts for the design), so
// revert moves the tree back and removes the child; the original cgroup's
// limits are never written and verify() compares them byte for byte.
import os from "node:os";
import { z } from "zod";
import { confine, MIN_CPUS, planConfine, release, unavailableReason, verifyReleased, type ConfineUndo } from "../lib/cgroups";
import { register } from "./registry";
import type { Injector, ProcessTarget } from "./types";

export const cpuLimitParams = z
  .object({
    /** CPU time allowed, in cores: 0.2 = 20 % of one core, 1.5 = one and a half cores */
    cpus: z
      .number({ error: "expected a number of cores, e.g. 0.2 for 20 % of one core" })
      .min(MIN_CPUS, { error: `must be at least ${MIN_CPUS} (1 % of one core; the kernel's smallest quota)` })
      .max(1024, { error: "must be at most 1024" }),
  })
  .strict();
export type CpuLimitParams = z.infer<typeof cpuLimitParams>;

export const cpuLimit: Injector<CpuLimitParams, ConfineUndo, ProcessTarget> = {
  name: "cpu-limit",
  description: "Cap the CPU time of the target processes and their descendants through a cgroup (v1 or v2) quota.",
  targetKind: "process",
  params: cpuLimitParams,

  async available() {
    const why = unavailableReason("cpu");
    return why ? { ok: false, reason: why } : { ok: true, detail: `${os.availableParallelism()} cores` };
  },

  plan(target) {
    return planConfine("cpu-limit", "cpu", target.pid, target.startTime);
  },

  async inject(_target, params, { undo }) {
    await confine(undo, params.cpus);
  },

  async revert(_target, undo) {
    await release(undo);
  },

  async verify(_target, undo) {
    return verifyReleased(undo);
  },
};

register(cpuLimit);
