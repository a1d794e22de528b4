// cpu-limit: cap the CPU time of a process and its descendants with a CFS
// quota (cgroup v1 cpu.cfs_quota_us, v2 cpu.max). The limit lives in a new
// child cgroup under the target's own (see cgroup/confine.ts for the design), so
// revert moves the tree back and removes the child; the original cgroup's
// limits are never written and verify() compares them byte for byte.
import os from "node:os";
import { z } from "zod";
import { MIN_CPUS } from "./cgroup/hierarchy";
import { cgroupLimitInjector } from "./cgroup-limit";
import { register } from "./registry";

export const cpuLimitParams = z
  .object({
    /** CPU time allowed, in cores: 0.2 = 20 % of one core, 1.5 = one and a half cores */
    cpus: z
      .number({ error: "expected a number of cores, e.g. 0.2 for 20 % of one core" })
      .min(MIN_CPUS, { error: `must be at least ${MIN_CPUS} (1 % of one core; the kernel's smallest quota)` })
      .max(1024, { error: "must be at most 1024" })
      .meta({ examples: [0.5] }),
  })
  .strict();
export type CpuLimitParams = z.infer<typeof cpuLimitParams>;

export const cpuLimit = cgroupLimitInjector<CpuLimitParams>({
  name: "cpu-limit",
  description: "Cap the CPU time of the target processes and their descendants through a cgroup (v1 or v2) quota.",
  controller: "cpu",
  params: cpuLimitParams,
  value: (p) => p.cpus,
  detail: () => `${os.availableParallelism()} cores`,
});

register(cpuLimit);
