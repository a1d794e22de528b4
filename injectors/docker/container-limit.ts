// container-limit: cap a container's CPUs and/or memory (docker update) and
// put back exactly what it had on revert. Limits the owner set are never
// loosened: a resource already capped at or below the ask is left alone.
//
// The Docker API treats 0 as "unchanged", so a limit cannot be set back to
// "none" with it: a container that had no CPU cap gets its quota back to -1
// (unlimited, the kernel's own value) and one that had no memory cap gets
// the kernel's maximum (unlimited) with unlimited swap. The kernel then holds
// exactly what it held before; the engine's record shows -1 / the maximum
// instead of 0 (the same meaning, also after a restart).
import { z } from "zod";
import { formatSize, sizeString } from "../../lib/size";
import { register } from "../registry";
import type { ContainerTarget } from "../targets/container";
import type { Injector } from "../types";
import { available, ours } from "./common";
import { sameContainer } from "./containers";
import { docker } from "./engine";

export const containerLimitParams = z
  .object({
    /** CPUs the container may use, e.g. 0.5 */
    cpus: z.number({ error: "expected a number of CPUs like 0.5" }).min(0.01, { error: "must be at least 0.01" }).max(1024, { error: "must be at most 1024" }).optional(),
    /** memory cap, e.g. 64M (at least 6M, Docker's minimum) */
    memory: sizeString.pipe(z.number().min(6 * 2 ** 20, { error: "must be at least 6M (Docker's minimum)" })).optional(),
  })
  .strict()
  .refine((p) => p.cpus !== undefined || p.memory !== undefined, { message: "give cpus, memory or both" })
  .meta({ examples: [{ cpus: 0.5 }] });
type LimitParams = z.infer<typeof containerLimitParams>;

const FIELDS = ["NanoCpus", "CpuPeriod", "CpuQuota", "Memory", "MemorySwap"] as const;
type Limits = Partial<Record<(typeof FIELDS)[number], number>>;

/** cgroup v1's "no limit" for memory (2^63 - 4096; docker stores what it is sent) */
const MEMORY_UNLIMITED = 9223372036854771712;
const DEFAULT_PERIOD_US = 100_000;

interface LimitUndo {
  before: Limits;
  /** what inject sends */
  set: Limits;
  /** what revert sends: the values before, or their unlimited equivalent */
  restore: Limits;
  /** resources left alone because the owner's cap is already as tight */
  kept: string[];
}

function cpusOf(b: Limits): number | null {
  if (b.NanoCpus) return b.NanoCpus / 1e9;
  if (b.CpuQuota && b.CpuQuota > 0) return b.CpuQuota / (b.CpuPeriod || DEFAULT_PERIOD_US);
  return null;
}

export function planLimits(before: Limits, p: LimitParams): Omit<LimitUndo, "before"> {
  const set: Limits = {};
  const restore: Limits = {};
  const kept: string[] = [];
  if (p.cpus !== undefined) {
    const had = cpusOf(before);
    if (had !== null && had <= p.cpus) kept.push(`cpus: already ${had} (≤ ${p.cpus})`);
    else if (before.NanoCpus) {
      set.NanoCpus = Math.round(p.cpus * 1e9);
      restore.NanoCpus = before.NanoCpus;
    } else {
      const period = before.CpuPeriod || DEFAULT_PERIOD_US;
      Object.assign(set, { CpuPeriod: period, CpuQuota: Math.max(1000, Math.round(p.cpus * period)) });
      Object.assign(restore, { CpuPeriod: period, CpuQuota: before.CpuQuota && before.CpuQuota > 0 ? before.CpuQuota : -1 });
    }
  }
  if (p.memory !== undefined) {
    const had = before.Memory || 0;
    if (had > 0 && had <= p.memory) kept.push(`memory: already ${formatSize(had)} (≤ ${formatSize(p.memory)})`);
    else {
      // no swap beyond the cap while it holds (a swap cap the owner set stays)
      Object.assign(set, { Memory: p.memory, MemorySwap: before.MemorySwap && before.MemorySwap > 0 ? before.MemorySwap : p.memory });
      Object.assign(restore, { Memory: had > 0 ? had : MEMORY_UNLIMITED, MemorySwap: before.MemorySwap ? before.MemorySwap : -1 });
    }
  }
  return { set, restore, kept };
}

const pick = (h: Record<string, unknown>): Limits => Object.fromEntries(FIELDS.map((f) => [f, Number(h[f] ?? 0)]));
const show = (l: Limits) => Object.entries(l).map(([k, v]) => `${k}=${v === MEMORY_UNLIMITED ? "unlimited" : v}`).join(" ") || "nothing";

export const containerLimit: Injector<LimitParams, LimitUndo, ContainerTarget> = {
  name: "container-limit",
  description: "Cap a container's CPUs and/or memory (docker update); the limits it had are put back on revert. Tighter caps of the owner are kept.",
  family: "container",
  targetKind: "container",
  params: containerLimitParams,
  available,

  async plan(t, p) {
    const before = pick((await sameContainer(t)).HostConfig as Record<string, unknown>);
    return { before, ...planLimits(before, p) };
  },

  async inject(t, _p, { undo }) {
    if (Object.keys(undo.set).length) await (await docker(t.engine)).getContainer(t.id).update(undo.set);
  },

  async revert(t, undo) {
    if (!Object.keys(undo.restore).length) return;
    const o = await ours(t);
    if (!("info" in o)) return;
    const c = (await docker(t.engine)).getContainer(t.id);
    // the kernel refuses a memory limit above the memory+swap one, and the engine ignores a lone
    // MemorySwap -1: lift memory+swap to the kernel's maximum first, then memory, then the rest
    const r = undo.restore;
    const swapNow = o.info.HostConfig.MemorySwap ?? 0;
    if (r.Memory !== undefined && swapNow > 0 && r.Memory > swapNow) {
      await c.update({ MemorySwap: MEMORY_UNLIMITED });
      await c.update({ Memory: r.Memory, MemorySwap: MEMORY_UNLIMITED });
    }
    await c.update(r);
  },

  async verify(t, undo) {
    const o = await ours(t);
    if (!("info" in o)) return o.done;
    const now = pick(o.info.HostConfig as Record<string, unknown>);
    // the engine may round a value it is sent (e.g. a huge memory limit); 1 MiB of slack on memory
    const off = Object.entries(undo.restore).filter(([k, v]) => (k === "Memory" ? Math.abs(now.Memory! - v) > 2 ** 20 : now[k as keyof Limits] !== v));
    if (off.length) return { ok: false, detail: `container ${t.name} limits not restored: ${off.map(([k, v]) => `${k} is ${now[k as keyof Limits]}, want ${v}`).join("; ")}` };
    const kept = undo.kept.length ? `; left as the owner had them: ${undo.kept.join(", ")}` : "";
    return { ok: true, detail: `container ${t.name} limits restored (${show(undo.restore)})${kept}` };
  },

  describe: (t, undo) => `docker update ${t.name}: ${show(undo.set)} (was ${show(undo.before)})${undo.kept.length ? `; kept: ${undo.kept.join(", ")}` : ""}`,
};

register(containerLimit);
