// What a cgroup limit did, from the cgroup's own counters: CFS periods in
// which the tree was throttled (cpu.stat), times its memory hit the limit
// and OOM kills (v1 memory.failcnt and memory.oom_control, v2 memory.events).
// A limit the tree never reached touched nothing: its run is inconclusive.
import fs from "node:fs";
import path from "node:path";
import type { Controller } from "./hierarchy";

export type Counters = Record<string, number>;

/** "key value" lines (cpu.stat, memory.events, memory.oom_control) as numbers. */
function keyed(file: string): Counters | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
  const out: Counters = {};
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && /^\d+$/.test(v ?? "")) out[k] = Number(v);
  }
  return out;
}

function single(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/** The controller's counters in a cgroup folder (v1 or v2 names); null when the folder is unreadable. */
export function readCounters(controller: Controller, dir: string): Counters | null {
  if (controller === "cpu") {
    const s = keyed(path.join(dir, "cpu.stat"));
    if (!s) return null;
    // v1: throttled_time in ns; v2: throttled_usec
    const throttledUs = s.throttled_usec ?? (s.throttled_time !== undefined ? Math.round(s.throttled_time / 1000) : 0);
    return { periods: s.nr_periods ?? 0, throttled: s.nr_throttled ?? 0, throttledUs, ...(s.usage_usec !== undefined ? { usageUs: s.usage_usec } : {}) };
  }
  const events = keyed(path.join(dir, "memory.events"));
  if (events) return { limitHits: events.max ?? 0, high: events.high ?? 0, oom: events.oom ?? 0, oomKills: events.oom_kill ?? 0 };
  const failcnt = single(path.join(dir, "memory.failcnt"));
  if (failcnt === null) return null;
  const oom = keyed(path.join(dir, "memory.oom_control")) ?? {};
  return { limitHits: failcnt, oomKills: oom.oom_kill ?? 0, peakBytes: single(path.join(dir, "memory.max_usage_in_bytes")) ?? 0 };
}

// peaks are levels, not counts: they are not subtracted
const LEVELS = new Set(["peakBytes"]);

/** after − before, counter by counter (a counter missing before counts from 0). */
export function delta(after: Counters, before: Counters | null): Counters {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, LEVELS.has(k) ? v : Math.max(0, v - (before?.[k] ?? 0))]));
}

/** What the counters say the limit did: touched = throttled periods, or memory limit hits and OOM kills. */
export function limitEffect(controller: Controller, d: Counters, where: string): { touched: number; summary: string } {
  if (controller === "cpu") {
    const ms = Math.round((d.throttledUs ?? 0) / 1000);
    return { touched: d.throttled ?? 0, summary: `throttled in ${d.throttled ?? 0} of ${d.periods ?? 0} CFS periods (${ms} ms held back), counted by ${where}/cpu.stat` };
  }
  const touched = (d.limitHits ?? 0) + (d.oomKills ?? 0);
  const peak = d.peakBytes ? `, peak ${Math.round(d.peakBytes / 1024 / 1024)} MiB` : "";
  return { touched, summary: `memory limit hit ${d.limitHits ?? 0} time(s), ${d.oomKills ?? 0} OOM kill(s)${peak}, counted by ${where}` };
}
