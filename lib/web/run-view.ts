"use client";
// One run as the browser sees it: the record, its timeline and probe samples,
// loaded from the API and kept current by live socket messages. The REST load
// and the live stream overlap, so both are merged in time order without
// duplicates. Used by the dashboard's current-run panel and the run page.
import { useCallback, useEffect, useReducer } from "react";
import { API, type ProbeSampleMsg, type RunNote, type RunRecord, type TimelineEvent } from "@/lib/contract";
import { apiCall, ApiCallError } from "./api";
import { isActive } from "./format";

/** Bound the browser's memory on long runs (10 samples/s per probe add up). */
const MAX_SAMPLES = 20_000;
const MAX_EVENTS = 5_000;

export interface RunViewState {
  runId: string | null;
  run: RunRecord | null;
  events: TimelineEvent[];
  samples: ProbeSampleMsg[];
  loading: boolean;
  error: string | null;
  /** Bumped to ask for a fresh REST load (after a reconnect, or while polling). */
  reloads: number;
}

export type RunViewAction =
  /** ifNone: only when no run is shown yet (the initial pick of the newest run). */
  | { type: "select"; runId: string | null; run?: RunRecord | null; ifNone?: boolean }
  | { type: "reload" }
  | { type: "loaded"; runId: string; run: RunRecord; events: TimelineEvent[]; samples: ProbeSampleMsg[] }
  | { type: "load-failed"; runId: string; error: string }
  | { type: "run"; run: RunRecord; follow: boolean }
  | { type: "event"; event: TimelineEvent }
  | { type: "sample"; sample: ProbeSampleMsg };

const eventKey = (e: TimelineEvent) => `${e.monoMs}|${e.kind}|${e.message}`;
const sampleKey = (s: ProbeSampleMsg) => `${s.monoMs}|${s.probe}`;

/** Insert keeping monoMs order; items are nearly always appended at the end. */
function insert<T extends { monoMs: number }>(list: T[], item: T, key: (t: T) => string, cap: number): T[] {
  let i = list.length;
  while (i > 0 && list[i - 1].monoMs > item.monoMs) i--;
  const k = key(item);
  for (let j = i - 1; j >= 0 && list[j].monoMs === item.monoMs; j--) if (key(list[j]) === k) return list;
  const next = i === list.length ? [...list, item] : [...list.slice(0, i), item, ...list.slice(i)];
  return next.length > cap ? next.slice(next.length - cap) : next;
}

function merge<T extends { monoMs: number }>(a: T[], b: T[], key: (t: T) => string, cap: number): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const x of [...a, ...b]) {
    const k = key(x);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(x);
  }
  out.sort((x, y) => x.monoMs - y.monoMs);
  return out.length > cap ? out.slice(out.length - cap) : out;
}

/** The record to keep when two versions of one run meet: an end is never undone. */
function fresher(cur: RunRecord | null, next: RunRecord): RunRecord {
  return cur && cur.id === next.id && !isActive(cur) && isActive(next) ? cur : next;
}

const empty = (runId: string | null, run: RunRecord | null = null): RunViewState => ({
  runId,
  run,
  events: [],
  samples: [],
  loading: runId !== null,
  error: null,
  reloads: 0,
});

export function runViewReducer(s: RunViewState, a: RunViewAction): RunViewState {
  switch (a.type) {
    case "select":
      if (a.ifNone && s.runId) return s;
      if (a.runId === s.runId) return a.run ? { ...s, run: fresher(s.run, a.run) } : s;
      return empty(a.runId, a.run ?? null);
    case "reload":
      return s.runId ? { ...s, reloads: s.reloads + 1 } : s;
    case "loaded":
      if (a.runId !== s.runId) return s;
      return {
        ...s,
        // a live update may have reported the end while the load was in flight
        run: fresher(s.run, a.run),
        events: merge(a.events, s.events, eventKey, MAX_EVENTS),
        samples: merge(a.samples, s.samples, sampleKey, MAX_SAMPLES),
        loading: false,
        error: null,
      };
    case "load-failed":
      return a.runId === s.runId ? { ...s, loading: false, error: a.error } : s;
    case "run":
      if (a.run.id === s.runId) return { ...s, run: fresher(s.run, a.run) };
      // A run started elsewhere (CLI, another browser) takes over the panel,
      // unless the panel is watching one that is still going.
      if (a.follow && isActive(a.run) && !isActive(s.run)) return empty(a.run.id, a.run);
      return s;
    case "event":
      return a.event.runId === s.runId ? { ...s, events: insert(s.events, a.event, eventKey, MAX_EVENTS) } : s;
    case "sample":
      return a.sample.runId === s.runId ? { ...s, samples: insert(s.samples, a.sample, sampleKey, MAX_SAMPLES) } : s;
  }
}

/** Notes loaded from the API and notes pushed live, once each (by id), in time order. */
export function mergeNotes(a: readonly RunNote[], b: readonly RunNote[]): RunNote[] {
  const byId = new Map<number, RunNote>();
  for (const n of [...a, ...b]) byId.set(n.id, n);
  return [...byId.values()].sort((x, y) => x.at.localeCompare(y.at) || x.id - y.id);
}

/** The state plus a dispatch; loads from the API whenever the run or `reloads` changes. */
export function useRunView(initialRunId: string | null = null) {
  const [state, dispatch] = useReducer(runViewReducer, initialRunId, (id) => empty(id));
  const { runId, reloads } = state;

  useEffect(() => {
    if (!runId) return;
    const ctrl = new AbortController();
    const opts = { signal: ctrl.signal };
    Promise.all([
      apiCall<{ run: RunRecord }>(API.run(runId), opts),
      apiCall<{ events: TimelineEvent[] }>(API.runEvents(runId), opts),
      apiCall<{ samples: ProbeSampleMsg[] }>(API.runSamples(runId), opts),
    ]).then(
      ([r, e, x]) => dispatch({ type: "loaded", runId, run: r.run, events: e.events ?? [], samples: x.samples ?? [] }),
      (err: unknown) => {
        if (ctrl.signal.aborted) return;
        const msg = err instanceof ApiCallError ? `${err.message} (HTTP ${err.status})` : String((err as Error)?.message ?? err);
        dispatch({ type: "load-failed", runId, error: msg });
      },
    );
    return () => ctrl.abort();
  }, [runId, reloads]);

  const select = useCallback((id: string | null, run?: RunRecord | null) => dispatch({ type: "select", runId: id, run }), []);
  return { state, dispatch, select };
}
