// Plain formatting and classification used by the graph, charts and panels.
import type { AbortInfo, NodeStatus, RunRecord, RunState, Threshold } from "@/lib/contract";

export type Health = "ok" | "degraded" | "down" | "unknown";

/** green ≥ 99 %, amber ≥ 95 %, red below or with no instance up; grey without traffic. */
export function nodeHealth(s: NodeStatus | undefined): Health {
  if (!s) return "unknown";
  if (s.instancesTotal > 0 && s.instancesUp === 0) return "down";
  if (s.successRate === null) return "unknown";
  if (s.successRate >= 0.99) return "ok";
  if (s.successRate >= 0.95) return "degraded";
  return "down";
}

export const HEALTH_COLOR: Record<Health, string> = {
  ok: "#22c55e",
  degraded: "#f59e0b",
  down: "#ef4444",
  unknown: "#64748b",
};

/** A rate as a percentage that never rounds a loss up to "100%". */
export function pct(rate: number | null): string {
  if (rate === null || !Number.isFinite(rate)) return "—";
  if (rate >= 1) return "100%";
  return `${(Math.floor(rate * 1000) / 10).toFixed(1)}%`;
}

export function ms(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "—";
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** "99.8% · p95 12 ms · 3/3 up" */
export function sliText(s: NodeStatus | undefined): string {
  if (!s) return "no data";
  return `${pct(s.successRate)} · p95 ${ms(s.p95LatencyMs)} · ${s.instancesUp}/${s.instancesTotal} up`;
}

/** "process-kill ×3, cpu-hog ×1" (counts summed over runs). */
export function faultSummary(s: NodeStatus | undefined): string {
  const byFault = new Map<string, number>();
  for (const f of s?.faults ?? []) byFault.set(f.fault, (byFault.get(f.fault) ?? 0) + f.count);
  return [...byFault].map(([fault, n]) => `${fault} ×${n}`).join(", ");
}

export function num(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

export function thresholdText(t: Threshold | undefined): string {
  if (!t) return "";
  const parts: string[] = [];
  if (t.min !== undefined) parts.push(`min ${t.min}`);
  if (t.max !== undefined) parts.push(`max ${t.max}`);
  return parts.join(", ");
}

/** "steady-state: frontend-success successRate 0.40 < min 0.95", or "manual: aborted by admin". */
export function abortSummary(a: AbortInfo): string {
  if (a.probe) {
    const t = a.threshold ?? {};
    const o = a.observed ?? null;
    let cmp = thresholdText(t);
    if (o !== null && t.min !== undefined && o < t.min) cmp = `< min ${t.min}`;
    else if (o !== null && t.max !== undefined && o > t.max) cmp = `> max ${t.max}`;
    return `${a.reason}: ${a.probe} ${a.measure ?? ""} ${num(o)} ${cmp}`.replace(/\s+/g, " ").trim();
  }
  return `${a.reason}: ${a.message}`;
}

export const STATE_CLASS: Record<RunState, string> = {
  pending: "bg-slate-700 text-slate-100",
  running: "bg-sky-700 text-sky-50",
  completed: "bg-emerald-700 text-emerald-50",
  aborted: "bg-amber-700 text-amber-50",
  failed: "bg-red-800 text-red-50",
};

export function isActive(run: Pick<RunRecord, "state"> | null | undefined): boolean {
  return run?.state === "pending" || run?.state === "running";
}

export function time(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString(undefined, { hour12: false });
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}

export function duration(fromIso: string | null, toIso: string | null, now = Date.now()): string {
  if (!fromIso) return "—";
  const ms0 = (toIso ? new Date(toIso).getTime() : now) - new Date(fromIso).getTime();
  if (!Number.isFinite(ms0) || ms0 < 0) return "—";
  const s = ms0 / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function offset(monoMs: number): string {
  return `+${(monoMs / 1000).toFixed(1)}s`;
}
