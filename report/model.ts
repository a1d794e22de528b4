// What a post-mortem says, computed from the run's evidence only (record,
// timeline, samples, notes): the one-sentence outcome, the time to detect /
// abort / revert, fault windows and breach marks on the run's monotonic
// clock, and the blast radius (what was targeted against which SLIs moved).
// Pure: no I/O, so the worker, the bench and the browser bundle share it.
import type { FaultRecord, GraphState, ProbeSampleMsg, RunNote, RunRecord, RunReview, Threshold, TimelineEvent } from "../lib/contract";
import { formatValue } from "../components/chart/createSliChart";
import type { NodeMovement } from "./nodes";

export interface ProbeInfo {
  name: string;
  measure: string;
  tolerance: Threshold;
  /** the spec as written, for the appendix (url, interval, window, ...) */
  spec: Record<string, unknown>;
}

export interface ReportInput {
  run: RunRecord;
  experimentYaml: string;
  /** the validated experiment as the worker stored it */
  experiment: { spec: { steadyState: { probes: Record<string, unknown>[] }; method: Record<string, unknown>[]; rollback?: string; targets?: Record<string, unknown> } };
  events: TimelineEvent[];
  samples: ProbeSampleMsg[];
  notes: RunNote[];
  review: RunReview | null;
  topology: GraphState["topology"] | null;
  versions: Record<string, string>;
  seed: number | null;
  generatedAt: string;
}

export interface Window {
  fromMs: number;
  toMs: number;
  label: string;
}

export interface Mark {
  atMs: number;
  label: string;
}

export interface ProbeSummary {
  probe: string;
  measure: string;
  tolerance: Threshold;
  baseline: number | null;
  /** the value furthest from the baseline while a fault was in place */
  worst: number | null;
  after: number | null;
  leftTolerance: boolean;
  moved: boolean;
}

export interface TimelineRow {
  at: string;
  monoMs: number;
  kind: string;
  message: string;
}

export interface ReportModel {
  input: ReportInput;
  outcome: string;
  verdict: "held" | "refuted" | "inconclusive" | "failed" | "aborted" | "running";
  probes: ProbeInfo[];
  timeline: TimelineRow[];
  faultWindows: Window[];
  marks: Mark[];
  /** run start .. run end and the lead-in / lead-out around the method, on the run's clock */
  span: { fromMs: number; toMs: number; methodStartMs: number | null; endMs: number | null };
  /** revertFrom: what the revert time is measured from */
  times: { detectMs: number | null; abortMs: number | null; revertMs: number | null; revertFrom: "abort" | "duration end"; durationMs: number | null };
  /** nodes: every topology node's SLIs under fault (from the worker's graph), when it had a topology */
  blast: { targetedNodes: string[]; targets: string[]; probes: ProbeSummary[]; nodes: NodeMovement[] | null; movedUntargeted: string[] };
  participants: string[];
  mechanisms: { fault: string; detail: string }[];
  /** the changes that cannot be undone ("ec2-terminate on instance i-… in eu-west-1a"): their revert put nothing back */
  irreversible: string[];
}

const wall = (iso: string | null | undefined) => (iso ? new Date(iso).getTime() : NaN);

/** Wall clock → the run's monotonic clock, from the events (each carries both); the median offset resists a slow write. */
export function clockOffset(events: TimelineEvent[]): number {
  const offs = events.filter((e) => e.monoMs >= 0).map((e) => wall(e.at) - e.monoMs).sort((a, b) => a - b);
  return offs.length ? offs[Math.floor(offs.length / 2)] : 0;
}

function median(vs: number[]): number | null {
  if (!vs.length) return null;
  const s = [...vs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const within = (v: number, t: Threshold) => (t.min === undefined || v >= t.min) && (t.max === undefined || v <= t.max);
const secs = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);

/** "process-kill (signal STOP)" from the method step's params. */
function faultText(fault: string, params: unknown): string {
  if (!params || typeof params !== "object" || !Object.keys(params).length) return fault;
  const p = Object.entries(params as Record<string, unknown>)
    .slice(0, 3)
    .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
  return `${fault} (${p})`;
}

function list(xs: string[]): string {
  if (xs.length <= 1) return xs[0] ?? "";
  return `${xs.slice(0, -1).join(", ")} and ${xs.at(-1)}`;
}

export function probesOf(input: ReportInput): ProbeInfo[] {
  return input.experiment.spec.steadyState.probes.map((p) => ({
    name: String(p.name),
    measure: String(p.measure ?? input.samples.find((s) => s.probe === p.name)?.measure ?? ""),
    tolerance: (p.tolerance ?? {}) as Threshold,
    spec: p,
  }));
}

function summarizeProbe(p: ProbeInfo, samples: ProbeSampleMsg[], windows: Window[], methodStart: number | null, endMs: number | null): ProbeSummary {
  const mine = samples.filter((s) => s.probe === p.name && s.value !== null && Number.isFinite(s.value));
  const before = mine.filter((s) => methodStart === null || s.monoMs < methodStart).map((s) => s.value!);
  const during = mine.filter((s) => windows.some((w) => s.monoMs >= w.fromMs && s.monoMs <= w.toMs)).map((s) => s.value!);
  const after = mine.filter((s) => endMs !== null && s.monoMs > endMs).map((s) => s.value!);
  const baseline = median(before);
  let worst: number | null = null;
  for (const v of during) if (worst === null || Math.abs(v - (baseline ?? v)) > Math.abs(worst - (baseline ?? worst))) worst = v;
  const leftTolerance = during.some((v) => !within(v, p.tolerance));
  // moved: out of tolerance, or 5 % off the lead-in baseline (and more than noise on a near-zero baseline)
  const moved = leftTolerance || (baseline !== null && worst !== null && Math.abs(worst - baseline) > Math.max(Math.abs(baseline) * 0.05, 1e-3));
  return { probe: p.name, measure: p.measure, tolerance: p.tolerance, baseline, worst, after: median(after), leftTolerance, moved };
}

export function buildModel(input: ReportInput): ReportModel {
  const { run, events } = input;
  const off = clockOffset(events);
  const mono = (iso: string | null | undefined) => (iso ? wall(iso) - off : null);
  const ev = (kind: string) => events.find((e) => e.kind === kind);
  const probes = probesOf(input);

  const injected = run.faults.filter((f) => f.injectedAt);
  const injectedMs = injected.map((f) => mono(f.injectedAt)!).filter(Number.isFinite);
  const firstInject = injectedMs.length ? Math.min(...injectedMs) : null;
  const endEvent = events.findLast((e) => e.kind === "run-ended");
  const endMs = endEvent?.monoMs ?? mono(run.endedAt);
  const methodStartMs = ev("method-started")?.monoMs ?? firstInject;

  const faultWindows: Window[] = injected.map((f: FaultRecord) => ({
    fromMs: mono(f.injectedAt)!,
    toMs: mono(f.revertedAt) ?? endMs ?? mono(f.injectedAt)!,
    label: `${f.fault} → ${f.targetLabel}`,
  }));

  const breach = ev("breach");
  const abort = ev("abort");
  const marks: Mark[] = [];
  if (run.abort?.breachStartedAt) marks.push({ atMs: mono(run.abort.breachStartedAt)!, label: "left tolerance" });
  if (breach) marks.push({ atMs: breach.monoMs, label: "breach" });
  if (abort) marks.push({ atMs: abort.monoMs, label: "abort" });
  if (endMs !== null && !abort) marks.push({ atMs: endMs, label: "end" });

  const lastRevert = Math.max(...run.faults.map((f) => mono(f.revertedAt) ?? -Infinity));
  const detectMs = breach && firstInject !== null ? breach.monoMs - firstInject : null;
  const abortMs = abort && breach ? abort.monoMs - breach.monoMs : null;
  // without an abort, the faults ended with their durations: the revert took from the scheduled end to the verified revert
  const lags = run.faults.filter((f) => f.revertAt && f.revertedAt).map((f) => wall(f.revertedAt) - wall(f.revertAt));
  const revertMs = run.abort?.revertMs ?? (abort && Number.isFinite(lastRevert) ? lastRevert - abort.monoMs : lags.length ? Math.max(0, ...lags) : null);
  const durationMs = run.startedAt && run.endedAt ? wall(run.endedAt) - wall(run.startedAt) : null;

  const sampleMs = input.samples.map((s) => s.monoMs);
  const span = {
    fromMs: Math.min(0, ...sampleMs),
    toMs: Math.max(endMs ?? 0, ...sampleMs),
    methodStartMs,
    endMs,
  };

  const summaries = probes.map((p) => summarizeProbe(p, input.samples, faultWindows, firstInject, endMs));
  const targetedNodes = [...new Set(injected.map((f) => f.node).filter((n): n is string => !!n))];
  const targets = [...new Set(injected.map((f) => f.targetLabel))];
  const nodes = (events.findLast((e) => e.kind === "node-slis")?.data as { nodes?: NodeMovement[] } | undefined)?.nodes ?? null;
  // collateral: a node that moved without being targeted (or, with no graph, a probe not named for a targeted node)
  const movedUntargeted = nodes
    ? nodes.filter((n) => n.moved && !n.targeted && !targetedNodes.includes(n.node)).map((n) => n.node)
    : summaries.filter((s) => s.moved && !targetedNodes.some((n) => s.probe.includes(n))).map((s) => s.probe);

  const verified = run.faults.filter((f) => f.verified === true).length;
  const reverted = run.faults.filter((f) => f.state === "reverted").length;
  const method = input.experiment.spec.method;
  const what = list([...new Set(injected.map((f) => faultText(f.fault, method[f.step]?.params)))]);
  const where = list(targetedNodes.length ? targetedNodes : [...new Set(injected.map((f) => f.target))]);
  const nFaults = `${run.faults.length} fault${run.faults.length === 1 ? "" : "s"}`;
  let revertText =
    !run.faults.length
      ? ""
      : verified === run.faults.length
        ? `${run.faults.length === 1 ? "the fault was" : `all ${nFaults}`} reverted and verified${revertMs !== null ? ` in ${Math.round(revertMs)} ms` : ""}`
        : `${reverted} of ${nFaults} reverted, ${verified} verified`;
  const irreversible = run.faults.filter((f) => f.irreversible && f.injectedAt).map((f) => `${f.fault} on ${f.targetLabel}`);
  if (irreversible.length) revertText += `${revertText ? "; " : ""}IRREVERSIBLE: ${irreversible.length === 1 ? "1 change was" : `${irreversible.length} changes were`} not undone (${list(irreversible)})`;

  let verdict: ReportModel["verdict"];
  let outcome: string;
  const breachProbe = run.abort?.probe ? summaries.find((s) => s.probe === run.abort!.probe) : summaries.find((s) => s.leftTolerance);
  if (run.state === "pending" || run.state === "running") {
    verdict = "running";
    outcome = `Run in progress: ${what || "no fault"} injected so far.`;
  } else if (run.state === "failed") {
    verdict = "failed";
    outcome = `Run failed${injected.length ? "" : " before injecting anything"}: ${run.error ?? "unknown error"}${revertText ? `; ${revertText}` : ""}.`;
  } else if (!injected.length) {
    verdict = "inconclusive";
    outcome = `Inconclusive: no fault touched anything, so the hypothesis was not tested; run ${run.state} after ${durationMs !== null ? secs(durationMs) : "—"}.`;
  } else if (run.hypothesisHeld === false) {
    verdict = "refuted";
    const b = breachProbe;
    const observed = run.abort?.observed ?? b?.worst ?? null;
    const dir = b && b.tolerance.min !== undefined && observed !== null && observed < b.tolerance.min ? "fell to" : "rose to";
    const impactMs = run.abort?.breachStartedAt && firstInject !== null ? mono(run.abort.breachStartedAt)! - firstInject : detectMs;
    const sli = b ? `${b.probe} ${b.measure} ${dir} ${observed !== null ? formatValue(b.measure, observed) : "—"}` : "the steady state was not restored";
    const ended = run.state === "aborted" ? `aborted after ${durationMs !== null ? secs(durationMs) : "—"}` : `completed after ${durationMs !== null ? secs(durationMs) : "—"}`;
    outcome = `Hypothesis refuted: ${sli}${impactMs !== null && b ? ` ${secs(Math.max(0, impactMs))} after` : " after"} ${what} was injected into ${where}; ${ended}${revertText ? `; ${revertText}` : ""}.`;
  } else if (run.state === "aborted") {
    verdict = "aborted";
    outcome = `Aborted (${run.abort?.reason ?? "unknown"}${run.abort?.by ? ` by ${run.abort.by}` : ""}) after ${durationMs !== null ? secs(durationMs) : "—"} while ${what} was injected into ${where}; the hypothesis was not refuted before the abort${revertText ? `; ${revertText}` : ""}.`;
  } else {
    verdict = "held";
    const worst = summaries
      .filter((s) => s.worst !== null)
      .map((s) => `${s.probe} ${s.measure} at worst ${formatValue(s.measure, s.worst!)}`)
      .join(", ");
    outcome = `Hypothesis held: every steady-state probe stayed within tolerance${worst ? ` (${worst})` : ""} while ${what} was injected into ${where}; completed after ${durationMs !== null ? secs(durationMs) : "—"}${revertText ? `; ${revertText}` : ""}.`;
  }

  const timeline: TimelineRow[] = [
    ...events.map((e) => ({ at: e.at, monoMs: e.monoMs >= 0 ? e.monoMs : mono(e.at)!, kind: e.kind, message: e.message })),
    ...input.notes.map((n) => ({ at: n.at, monoMs: mono(n.at)!, kind: "note", message: `${n.author}: ${n.text}` })),
  ].sort((a, b) => wall(a.at) - wall(b.at) || a.monoMs - b.monoMs);

  const participants = [...new Set([run.startedBy, ...input.notes.map((n) => n.author), ...(input.review?.updatedBy ? [input.review.updatedBy] : []), ...(run.abort?.by ? [run.abort.by] : [])])];
  const how = (f: FaultRecord) => f.detail ?? `${faultText(f.fault, input.experiment.spec.method[f.step]?.params)} on ${f.targetKind} targets (no further detail reported)`;
  const mechanisms = [...new Map(run.faults.map((f) => [`${f.fault}|${how(f)}`, { fault: f.fault, detail: how(f) }])).values()];

  return {
    input,
    outcome,
    verdict,
    probes,
    timeline,
    faultWindows,
    marks,
    span,
    times: { detectMs, abortMs, revertMs, revertFrom: abort ? "abort" : "duration end", durationMs },
    blast: { targetedNodes, targets, probes: summaries, nodes, movedUntargeted },
    participants,
    mechanisms,
    irreversible,
  };
}
