"use client";
// The dashboard: who is logged in, the live architecture graph (click a node
// to pick it), the launch panel, the fault catalogue (its Use fills the launch
// panel), the current run and the history. Reads come from the REST API through
// the same-origin proxy; live changes arrive over socket.io, and while the
// socket is down the page polls so it never silently goes stale.
import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import { API, type ExampleInfo, type GraphState, type RunRecord, type UnrevertedChange, type UserInfo } from "@/lib/contract";
import { apiCall, ApiCallError, errorLines } from "@/lib/web/api";
import { HEALTH_COLOR, isActive, time } from "@/lib/web/format";
import { useLive } from "@/lib/web/live";
import { useRunView } from "@/lib/web/run-view";
import { rememberRunYaml } from "@/lib/web/thresholds";
import { Card } from "@/components/Card";
import { FaultCatalogue } from "@/components/catalogue/FaultCatalogue";
import { ArchitectureGraph } from "@/components/graph/ArchitectureGraph";
import { RunDetails } from "@/components/run/RunDetails";
import { AppHeader } from "./AppHeader";
import { HaltButton } from "./HaltButton";
import { History } from "./History";
import { LaunchPanel, type LaunchPreset } from "./LaunchPanel";

const HISTORY_LIMIT = 50;
/** REST polling period while the live socket is down. */
const OFFLINE_POLL_MS = 3000;

function upsertRun(list: RunRecord[], run: RunRecord): RunRecord[] {
  const rest = list.filter((r) => r.id !== run.id);
  return [run, ...rest].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, HISTORY_LIMIT);
}

function message(e: unknown): string {
  return errorLines(e).join("; ");
}

export function Dashboard() {
  const [user, setUser] = useState<UserInfo | null>(null);
  const [authError, setAuthError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const ctrl = new AbortController();
    apiCall<{ user: UserInfo }>(API.me, { signal: ctrl.signal }).then(
      (r) => setUser(r.user),
      (e: unknown) => {
        // a 401 is already on its way to /login
        if (!ctrl.signal.aborted && !(e instanceof ApiCallError && e.status === 401)) setAuthError(message(e));
      },
    );
    return () => ctrl.abort();
  }, [attempt]);

  if (!user) {
    return (
      <main className="flex min-h-screen items-center justify-center p-6">
        {authError ? (
          <div className="max-w-md rounded-xl border border-red-800 bg-red-950/40 p-5 text-sm text-red-200" data-testid="auth-error">
            <p className="font-semibold">Cannot reach Game Day</p>
            <p className="mt-1 font-mono text-xs">{authError}</p>
            <button
              type="button"
              onClick={() => {
                setAuthError(null);
                setAttempt((n) => n + 1);
              }}
              className="mt-3 rounded-md border border-red-700 px-3 py-1 text-xs hover:bg-red-900/50"
            >
              Retry
            </button>
          </div>
        ) : (
          <p className="text-sm text-slate-500">Checking your session…</p>
        )}
      </main>
    );
  }
  return <DashboardBody user={user} />;
}

function DashboardBody({ user: loggedIn }: { user: UserInfo }) {
  // the worker says hello again when an admin changes our role: follow it
  const [user, setUser] = useState(loggedIn);
  const canOperate = user.role !== "viewer";
  const [graph, setGraph] = useState<GraphState | null>(null);
  const [graphError, setGraphError] = useState<string | null>(null);
  const [runs, setRuns] = useState<RunRecord[]>([]);
  const [runsError, setRunsError] = useState<string | null>(null);
  const [examples, setExamples] = useState<ExampleInfo[]>([]);
  const [examplesError, setExamplesError] = useState<string | null>(null);
  const [abortBusy, setAbortBusy] = useState(false);
  const [abortError, setAbortError] = useState<string | null>(null);
  const [unreverted, setUnreverted] = useState<UnrevertedChange[]>([]);
  const { state: view, dispatch, select } = useRunView();
  const [catalogueOpen, setCatalogueOpen] = useState(false);
  const [picked, setPicked] = useState<string | null>(null);
  // seq keys the launch panel: each Use starts it afresh
  const [preset, setPreset] = useState<{ seq: number; preset: LaunchPreset } | null>(null);

  // the header's Faults link on other pages comes here as /#faults
  useEffect(() => {
    if (window.location.hash === "#faults") setCatalogueOpen(true);
  }, []);

  const takeFault = useCallback((p: LaunchPreset) => {
    setPreset((prev) => ({ seq: (prev?.seq ?? 0) + 1, preset: p }));
    document.querySelector("[data-testid=launch-panel]")?.scrollIntoView({ behavior: "smooth", block: "center" });
  }, []);

  const loadGraph = useCallback(async () => {
    try {
      setGraph(await apiCall<GraphState>(API.graph));
      setGraphError(null);
    } catch (e) {
      setGraphError(message(e));
    }
  }, []);

  // changes on the worker's host not verified reverted: they block new runs until HALT or gameday recover reverts them
  const loadChanges = useCallback(async () => {
    try {
      setUnreverted((await apiCall<{ unreverted: UnrevertedChange[] }>(API.changes)).unreverted);
    } catch {
      // the graph and runs say when the worker is unreachable
    }
  }, []);

  const loadRuns = useCallback(async () => {
    try {
      const r = await apiCall<{ runs: RunRecord[] }>(API.runs);
      setRuns(r.runs.slice(0, HISTORY_LIMIT));
      setRunsError(null);
      if (r.runs[0]) dispatch({ type: "select", runId: r.runs[0].id, run: r.runs[0], ifNone: true });
    } catch (e) {
      setRunsError(message(e));
    }
  }, [dispatch]);

  useEffect(() => {
    void loadGraph();
    void loadRuns();
    void loadChanges();
    apiCall<{ examples: ExampleInfo[] }>(API.examples).then(
      (r) => setExamples(r.examples),
      (e: unknown) => setExamplesError(message(e)),
    );
  }, [loadGraph, loadRuns, loadChanges]);

  const live = useLive({
    hello: (m) => {
      setUser(m.user);
      if (m.activeRunId) select(m.activeRunId);
      // whatever happened while disconnected is in the API, not in the stream
      dispatch({ type: "reload" });
      void loadRuns();
    },
    graph: (g) => {
      setGraph(g);
      setGraphError(null);
    },
    runUpdate: (r) => {
      void loadChanges();
      setRuns((prev) => upsertRun(prev, r));
      dispatch({ type: "run", run: r, follow: true });
    },
    runEvent: (event) => dispatch({ type: "event", event }),
    runSample: (sample) => dispatch({ type: "sample", sample }),
  });

  // while something is stuck, look again every few seconds (HALT or gameday recover may clear it without a run update)
  useEffect(() => {
    if (!unreverted.length) return;
    const t = setInterval(() => void loadChanges(), 5000);
    return () => clearInterval(t);
  }, [unreverted.length, loadChanges]);

  const active = isActive(view.run);
  // Without the socket, a failed poll means the picture on screen is old.
  const stale = !live.connected && graphError !== null;
  useEffect(() => {
    if (live.connected) return;
    const t = setInterval(() => {
      void loadGraph();
      void loadRuns();
      void loadChanges();
      if (active) dispatch({ type: "reload" });
    }, OFFLINE_POLL_MS);
    return () => clearInterval(t);
  }, [live.connected, active, loadGraph, loadRuns, loadChanges, dispatch]);

  function onLaunched(run: RunRecord, yaml: string) {
    rememberRunYaml(run.id, yaml);
    select(run.id, run);
    setRuns((prev) => upsertRun(prev, run));
    setAbortError(null);
  }

  async function abortRun(id: string) {
    setAbortBusy(true);
    setAbortError(null);
    try {
      const r = await apiCall<{ run: RunRecord }>(API.runAbort(id), { method: "POST", body: {} });
      dispatch({ type: "run", run: r.run, follow: false });
      setRuns((prev) => upsertRun(prev, r.run));
    } catch (e) {
      setAbortError(message(e));
    } finally {
      setAbortBusy(false);
    }
  }

  const abortButton =
    view.run && active ? (
      <div className="flex items-center gap-2">
        {abortError ? <span className="text-xs text-red-400">{abortError}</span> : null}
        <Link href={`/runs/${encodeURIComponent(view.run.id)}`} className="text-sm text-sky-400 hover:underline" data-testid="run-notes-link">
          Notes &amp; post-mortem
        </Link>
        <button
          type="button"
          data-testid="abort-run"
          disabled={!canOperate || abortBusy}
          title={canOperate ? "Abort this run and revert its faults" : "Aborting needs the operator role"}
          onClick={() => void abortRun(view.run!.id)}
          className="rounded-md border border-amber-600 px-3 py-1 text-sm font-semibold text-amber-300 hover:bg-amber-950 disabled:opacity-40"
        >
          {abortBusy ? "Aborting…" : "Abort"}
        </button>
      </div>
    ) : null;

  return (
    <>
      <AppHeader user={user} connected={live.connected} liveError={live.error} faults={{ open: catalogueOpen, toggle: () => setCatalogueOpen((o) => !o) }}>
        <HaltButton disabled={!canOperate} />
      </AppHeader>
      <main className="mx-auto max-w-[1600px] space-y-4 p-4">
        {unreverted.length ? (
          <div role="alert" data-testid="unreverted" className="rounded-md border border-red-700 bg-red-950/60 p-3 text-sm text-red-200">
            <p className="font-semibold">
              {unreverted.length} change(s) on the worker&apos;s host are not verified reverted; new runs are refused until HALT or{" "}
              <code>gameday recover</code> reverts them.
            </p>
            <ul className="mt-1 list-disc pl-5 font-mono text-xs">
              {unreverted.map((c) => (
                <li key={c.id}>
                  {c.fault} on {c.targetLabel} (run {c.runId}): {c.error ?? "not verified"}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
        <div className="grid gap-4 xl:grid-cols-3">
          <Card
            title="Architecture"
            className="flex flex-col xl:col-span-2"
            testId="architecture"
            right={
              graph ? (
                <span className="text-xs text-slate-500">
                  {stale ? (
                    <span className="text-amber-400" data-testid="graph-stale" title={graphError ?? undefined}>
                      stale: {graphError} ·{" "}
                    </span>
                  ) : null}
                  {graph.topology.name} · {time(graph.at)}
                </span>
              ) : null
            }
          >
            <ArchitectureGraph state={graph} picked={picked} onPick={(id) => setPicked((p) => (p === id ? null : id))} className={graph ? `max-h-[560px] min-h-[200px] flex-1 ${stale ? "opacity-40 grayscale" : ""}` : "h-0"} />
            {!graph ? <p className="py-8 text-center text-sm text-slate-500">{graphError ?? "Loading the topology…"}</p> : null}
            <Legend />
          </Card>
          <Card title="Launch" testId="launch-panel">
            <LaunchPanel key={preset?.seq ?? 0} preset={preset?.preset} examples={examples} examplesError={examplesError} canOperate={canOperate} onLaunched={onLaunched} />
          </Card>
        </div>
        {catalogueOpen ? (
          <div id="faults">
            <Card
              title="Fault catalogue"
              testId="catalogue-panel"
              right={
                <button type="button" onClick={() => setCatalogueOpen(false)} className="text-xs text-slate-400 hover:text-slate-200" data-testid="catalogue-close">
                  Close
                </button>
              }
            >
              <FaultCatalogue picked={picked} onClearPick={() => setPicked(null)} onUse={takeFault} />
            </Card>
          </div>
        ) : null}
        <Card title={active ? "Current run" : "Latest run"} testId="current-run">
          <RunDetails view={view} actions={abortButton} />
        </Card>
        <Card title="History" testId="history-panel">
          <History runs={runs} error={runsError} />
        </Card>
      </main>
    </>
  );
}

function Legend() {
  const items: [string, string][] = [
    [HEALTH_COLOR.ok, "≥ 99 % success"],
    [HEALTH_COLOR.degraded, "≥ 95 %"],
    [HEALTH_COLOR.down, "< 95 % or no instance up"],
    [HEALTH_COLOR.unknown, "no traffic"],
  ];
  return (
    <div className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-500">
      {items.map(([c, t]) => (
        <span key={t} className="inline-flex items-center gap-1.5">
          <span className="h-2.5 w-2.5 rounded-full" style={{ background: c }} />
          {t}
        </span>
      ))}
      <span className="inline-flex items-center gap-1.5">
        <span className="h-2.5 w-4 rounded-sm border-2 border-red-500" />
        faults in place
      </span>
      <span className="inline-flex items-center gap-1.5">
        <span className="h-2.5 w-4 rounded-sm border-2 border-dashed border-sky-400" />
        picked (click a node): the fault catalogue aims at it
      </span>
    </div>
  );
}
