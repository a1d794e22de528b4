// Each probe's tolerance, for the line drawn on its chart. Samples do not carry
// it, so it is gathered from what the browser has: the experiment YAML when it
// was launched from this browser, breach events and the abort evidence.
import { parse } from "yaml";
import type { RunRecord, Threshold, TimelineEvent } from "@/lib/contract";

export type Thresholds = Record<string, Threshold>;

const YAML_KEY = (runId: string) => `gameday:yaml:${runId}`;

function asThreshold(v: unknown): Threshold | null {
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  const t: Threshold = {};
  if (typeof o.min === "number") t.min = o.min;
  if (typeof o.max === "number") t.max = o.max;
  return t.min === undefined && t.max === undefined ? null : t;
}

export function thresholdsFromYaml(yaml: string): Thresholds {
  const out: Thresholds = {};
  try {
    const doc = parse(yaml) as { spec?: { steadyState?: { probes?: unknown } } } | null;
    const probes = doc?.spec?.steadyState?.probes;
    if (!Array.isArray(probes)) return out;
    for (const p of probes as { name?: unknown; tolerance?: unknown }[]) {
      const t = asThreshold(p?.tolerance);
      if (typeof p?.name === "string" && t) out[p.name] = t;
    }
  } catch {
    // an unparsable draft simply has no tolerances to draw
  }
  return out;
}

export function thresholdsFromRun(run: RunRecord | null, events: TimelineEvent[]): Thresholds {
  const out: Thresholds = {};
  for (const e of events) {
    if (e.kind !== "breach" || !e.data || typeof e.data !== "object") continue;
    const d = e.data as { probe?: unknown; threshold?: unknown };
    const t = asThreshold(d.threshold);
    if (typeof d.probe === "string" && t) out[d.probe] = t;
  }
  const a = run?.abort;
  if (a?.probe && a.threshold) out[a.probe] = a.threshold;
  return out;
}

/** Remember the YAML a run was launched with, for this browser tab's later views. */
export function rememberRunYaml(runId: string, yaml: string): void {
  try {
    sessionStorage.setItem(YAML_KEY(runId), yaml);
  } catch {
    // storage full or disabled: the chart just lacks its tolerance line
  }
}

export function recalledRunYaml(runId: string): string | null {
  try {
    return sessionStorage.getItem(YAML_KEY(runId));
  } catch {
    return null;
  }
}
