// memory-limit: cap the memory of a process and its descendants through a
// cgroup (v1 memory.limit_in_bytes, v2 memory.max) set on a new child cgroup
// under the target's own (see cgroup/confine.ts). Beyond the limit the kernel
// reclaims, then the OOM killer picks within the child only. Memory the tree
// already had stays charged to its original cgroup (the kernel does not move
// charges): the limit bites on what it allocates from now on.
import { z } from "zod";
import { formatSize, sizeString } from "../lib/size";
import { register } from "./registry";
import { cgroupLimitInjector } from "./cgroup-limit";

const MIN_LIMIT = 1024 * 1024;

export const memoryLimitParams = z
  .object({
    /** the cap, e.g. "256M" */
    limit: sizeString.refine((b) => b >= MIN_LIMIT, { error: `must be at least ${formatSize(MIN_LIMIT)}` }),
  })
  .strict();
export type MemoryLimitParams = z.infer<typeof memoryLimitParams>;

export const memoryLimit = cgroupLimitInjector<MemoryLimitParams>({
  name: "memory-limit",
  description: "Cap the memory of the target processes and their descendants through a cgroup (v1 or v2) limit.",
  controller: "memory",
  params: memoryLimitParams,
  value: (p) => p.limit,
});

register(memoryLimit);
