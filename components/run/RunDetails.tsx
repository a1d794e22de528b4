"use client";
import { useMemo, type ReactNode } from "react";
import type { AbortInfo, RunRecord } from "@/lib/contract";
import { abortSummary, dateTime, duration, num, thresholdText, time } from "@/lib/web/format";
import type { RunViewState } from "@/lib/web/run-view";
import { recalledRunYaml, thresholdsFromRun, thresholdsFromYaml } from "@/lib/web/thresholds";
import { ProbeCharts } from "@/components/chart/ProbeCharts";
import { FaultsTable } from "./FaultsTable";
import { HeldBadge, StateBadge } from "./StateBadge";
import { Timeline } from "./Timeline";

function AbortBlock({ a }: { a: AbortInfo }) {
  const evidence: [string, string][] = [];
  if (a.probe) evidence.push(["probe", `${a.probe} ${a.measure ?? ""}`.trim()]);
  if (a.observed !== undefined) evidence.push(["observed", num(a.observed, 3)]);
  if (a.threshold) evidence.push(["tolerance", thresholdText(a.threshold)]);
  if (a.breachStartedAt) evidence.push(["breach since", time(a.breachStartedAt)]);
  evidence.push(["decided", time(a.at)]);
  if (a.by) evidence.push(["by", a.by]);
  if (a.revertMs !== undefined) evidence.push(["all reverted in", `${num(a.revertMs, 1)} ms`]);
  return (
    <div className="rounded-lg border border-amber-700/60 bg-amber-950/30 p-3" data-testid="abort">
      <p className="font-mono text-sm font-semibold text-amber-300" data-testid="abort-reason">
        {abortSummary(a)}
      </p>
      <p className="mt-1 text-sm text-amber-100/80" data-testid="abort-message">
        {a.message}
      </p>
      <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-xs">
        {evidence.map(([k, v]) => (
          <div key={k} className="contents">
            <dt className="text-amber-200/60">{k}</dt>
            <dd className="font-mono text-amber-100">{v}</dd>
          </div>
        ))}
      </dl>
      {a.evidence?.link ? (
        <a className="mt-2 inline-block text-xs text-sky-400 hover:underline" href={a.evidence.link} target="_blank" rel="noreferrer" data-testid="abort-evidence-link">
          open {a.evidence.query} in Prometheus
        </a>
      ) : null}
    </div>
  );
}

function Meta({ run }: { run: RunRecord }) {
  return (
    <dl className="flex flex-wrap gap-x-5 gap-y-1 text-xs text-slate-400">
      <div>
        <dt className="inline text-slate-500">id </dt>
        <dd className="inline font-mono" data-testid="run-id">
          {run.id}
        </dd>
      </div>
      <div>
        <dt className="inline text-slate-500">by </dt>
        <dd className="inline">
          {run.launchedBy === "schedule" ? `schedule ${run.startedBy.replace(/^schedule:/, "")}` : run.startedBy}
        </dd>
      </div>
      {(run.budgets ?? []).map((b) => (
        <div key={b.probe} data-testid={`budget-${b.probe}`}>
          <dt className="inline text-slate-500">error budget {b.probe} </dt>
          <dd className="inline tabular-nums">
            {(b.left * 100).toFixed(1)} % left{b.burned !== undefined ? `, burned ${(b.burned * 100).toFixed(2)} %` : ""}
          </dd>
        </div>
      ))}
      <div>
        <dt className="inline text-slate-500">created </dt>
        <dd className="inline">{dateTime(run.createdAt)}</dd>
      </div>
      <div>
        <dt className="inline text-slate-500">duration </dt>
        <dd className="inline tabular-nums">{duration(run.startedAt, run.endedAt)}</dd>
      </div>
    </dl>
  );
}

export function RunDetails({ view, actions, timelineHeight }: { view: RunViewState; actions?: ReactNode; timelineHeight?: string }) {
  const run = view.run;
  // Keyed on the record too: a launch stores its YAML just after the live
  // run:update may already have switched this panel to the new run.
  const yaml = useMemo(() => (run ? recalledRunYaml(run.id) : null), [run]);
  const thresholds = useMemo(() => ({ ...(yaml ? thresholdsFromYaml(yaml) : {}), ...thresholdsFromRun(run, view.events) }), [yaml, run, view.events]);
  if (!run) {
    if (view.error) return <p className="text-sm text-red-400">Could not load the run: {view.error}</p>;
    return <p className="text-sm text-slate-500">{view.runId ? "Loading run…" : "No run yet. Launch an experiment to see it here."}</p>;
  }
  return (
    <div className="space-y-4" data-testid="run" data-run-id={run.id}>
      <div className="flex flex-wrap items-center gap-3">
        <h3 className="text-lg font-semibold text-slate-100" data-testid="run-name">
          {run.name}
        </h3>
        <StateBadge state={run.state} testId="run-state" />
        <HeldBadge held={run.hypothesisHeld} inconclusive={!!run.inconclusive} />
        <div className="ml-auto">{actions}</div>
      </div>
      <p className="text-sm text-slate-300" data-testid="run-hypothesis">
        <span className="text-slate-500">Hypothesis: </span>
        {run.hypothesis}
      </p>
      <Meta run={run} />
      {run.abort ? <AbortBlock a={run.abort} /> : null}
      {run.inconclusive ? (
        <p className="rounded-lg border border-amber-800 bg-amber-950/40 p-3 text-sm text-amber-200" data-testid="run-inconclusive">
          {run.inconclusive}
        </p>
      ) : null}
      {run.error ? (
        <p className="rounded-lg border border-red-800 bg-red-950/40 p-3 font-mono text-sm text-red-300" data-testid="run-error">
          {run.error}
        </p>
      ) : null}
      {view.error ? <p className="text-xs text-amber-400">Refresh failed: {view.error}</p> : null}
      <div className="grid gap-4 xl:grid-cols-5">
        <div className="space-y-4 xl:col-span-3">
          <section>
            <h4 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-400">Faults</h4>
            <FaultsTable faults={run.faults} />
          </section>
          <section>
            <h4 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-400">Steady-state probes</h4>
            <ProbeCharts samples={view.samples} thresholds={thresholds} />
          </section>
        </div>
        <section className="xl:col-span-2">
          <h4 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-400">Timeline</h4>
          <Timeline events={view.events} maxHeight={timelineHeight} />
        </section>
      </div>
    </div>
  );
}
