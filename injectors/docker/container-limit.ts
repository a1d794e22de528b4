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
// Evidence: the container's own cgroup counters over the fault (throttled CFS
// periods, memory limit hits and OOM kills), read when the limit goes on and
// again just before revert lifts it, when its cgroup is on this host; else
// the limits the engine confirmed, which say nothing of whether they bit.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { formatSize, sizeString } from "../../lib/size";
import { register } from "../registry";
import type { ContainerTarget } from "../targets/container";
import type { Injector } from "../types";
import { available, ours } from "./common";
import { sameContainer } from "./containers";
import { docker } from "./engine";
import { delta, limitEffect, readCounters, type Counters } from "../cgroup/counters";
import { cgroupOf, findHierarchy, type Controller } from "../cgroup/hierarchy";
import { keepEvidence, readEvidence, takeEvidence } from "../evidence";
import type Dockerode from "dockerode";

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
  /** names the evidence file (absent in journals from before it) */
  evidence?: string;
}

interface LimitEvidence {
  /** the container's cgroup folder per limited controller, on this host */
  dirs: Partial<Record<Controller, string>>;
  before: Partial<Record<Controller, Counters>>;
  /** what the engine reports once the limit is on */
  confirmed?: Limits;
  delta?: Partial<Record<Controller, Counters>>;
}

const controllersOf = (set: Limits): Controller[] => [...(set.NanoCpus || set.CpuQuota ? ["cpu" as const] : []), ...(set.Memory ? ["memory" as const] : [])];

/** The container's cgroup folders, when its main process is on this host (the path names the container). */
function cgroupDirs(info: Dockerode.ContainerInspectInfo, controllers: Controller[]): Partial<Record<Controller, string>> {
  const out: Partial<Record<Controller, string>> = {};
  if (!info.State.Pid) return out;
  for (const c of controllers) {
    const h = findHierarchy(c);
    const dir = h ? cgroupOf(info.State.Pid, h) : null;
    if (dir?.includes(info.Id)) out[c] = dir;
  }
  return out;
}

function countersOf(dirs: LimitEvidence["dirs"]): Partial<Record<Controller, Counters>> {
  const out: Partial<Record<Controller, Counters>> = {};
  for (const [c, dir] of Object.entries(dirs) as [Controller, string][]) {
    const n = readCounters(c, dir);
    if (n) out[c] = n;
  }
  return out;
}

/** Before revert lifts the limit: the counters since it went on. */
function keepLimitDelta(undo: LimitUndo): void {
  const rec = undo.evidence ? readEvidence<LimitEvidence>(`container-limit-${undo.evidence}`) : null;
  if (!rec || rec.delta) return;
  const now = countersOf(rec.dirs);
  const d = Object.fromEntries((Object.entries(now) as [Controller, Counters][]).map(([c, n]) => [c, delta(n, rec.before[c] ?? null)]));
  keepEvidence(`container-limit-${undo.evidence}`, { ...rec, delta: d } satisfies LimitEvidence);
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
    return { before, ...planLimits(before, p), evidence: randomUUID() };
  },

  async inject(t, _p, { undo }) {
    if (!Object.keys(undo.set).length) return;
    const c = (await docker(t.engine)).getContainer(t.id);
    const key = `container-limit-${undo.evidence}`;
    let rec: LimitEvidence | null = null;
    if (undo.evidence) {
      const dirs = cgroupDirs(await c.inspect(), controllersOf(undo.set));
      rec = { dirs, before: countersOf(dirs) };
      keepEvidence(key, rec);
    }
    await c.update(undo.set);
    if (rec) keepEvidence(key, { ...rec, confirmed: pick((await c.inspect()).HostConfig as Record<string, unknown>) });
  },

  async revert(t, undo) {
    if (!Object.keys(undo.restore).length) return;
    keepLimitDelta(undo);
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

  async effect(t, undo) {
    if (!Object.keys(undo.set).length) return { touched: 0, summary: `nothing changed: container ${t.name}'s own limits are already as tight (${undo.kept.join(", ")})` };
    const rec = undo.evidence ? takeEvidence<LimitEvidence>(`container-limit-${undo.evidence}`) : null;
    if (!rec) return null;
    const counted = Object.entries(rec.delta ?? {}) as [Controller, Counters][];
    if (counted.length) {
      const parts = counted.map(([c, d]) => limitEffect(c, d, rec.dirs[c]!));
      return { touched: parts.reduce((n, p) => n + p.touched, 0), summary: parts.map((p) => p.summary).join("; "), counters: rec.delta };
    }
    // no cgroup of it on this host (a remote engine): that the limits took is all there is to say
    const took = rec.confirmed ? Object.entries(undo.set).filter(([k, v]) => rec.confirmed![k as keyof Limits] === v) : [];
    return { touched: took.length ? 1 : 0, summary: `the engine confirmed ${took.length ? show(Object.fromEntries(took)) : "none of the limits"} on container ${t.name}; its cgroup counters are not readable here, so whether the limits bit is unknown`, counters: { confirmed: rec.confirmed ?? null } };
  },

  describe: (t, undo) => `docker update ${t.name}: ${show(undo.set)} (was ${show(undo.before)})${undo.kept.length ? `; kept: ${undo.kept.join(", ")}` : ""}`,
};

register(containerLimit);
