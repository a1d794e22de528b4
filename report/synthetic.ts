// A synthetic run record for the report benchmark: `probes` probes sampled
// every `tickMs` for `durationMs`, `faults` faults spread over the run, each
// with its inject and revert events, and a dip of the first probe while the
// middle fault is in place. Deterministic (no randomness), no I/O.
import type { FaultRecord, ProbeSampleMsg, TimelineEvent } from "../lib/contract";
import type { ReportInput } from "./model";

export function syntheticRun(o: { durationMs: number; tickMs: number; probes: number; faults: number }): ReportInput {
  const id = "20260101-000000-synth";
  const t0 = Date.parse("2026-01-01T10:00:00.000Z");
  const iso = (ms: number) => new Date(t0 + ms).toISOString();
  const leadIn = 10_000;
  const end = leadIn + o.durationMs;
  const names = Array.from({ length: o.probes }, (_, i) => ["frontend-success", "api-latency", "db-success"][i] ?? `probe-${i}`);
  const measures = names.map((_, i) => (i === 1 ? "p95LatencyMs" : "successRate"));
  const events: TimelineEvent[] = [];
  const ev = (ms: number, kind: string, message: string, data?: unknown) => events.push({ runId: id, at: iso(ms), monoMs: ms, kind, message, data });
  ev(0, "run-started", `run of "synthetic-hour" started by bench`, { seed: 42 });
  ev(1, "steady-state-before", "checking the steady state before injecting");
  ev(leadIn - 1, "steady-state-before", "steady state holds; injecting");
  ev(leadIn, "method-started", `method started: ${o.faults} step(s)`);
  const faults: FaultRecord[] = [];
  const slot = o.durationMs / o.faults;
  for (let i = 0; i < o.faults; i++) {
    const from = leadIn + i * slot + slot * 0.1;
    const to = from + slot * 0.5;
    const node = ["frontend", "api", "db"][i % 3];
    faults.push({
      id: `f${i}`,
      step: i,
      fault: "process-kill",
      target: node,
      targetKind: "process",
      targetId: `pid:${1000 + i}@starttime:${i}`,
      targetLabel: `${node}-${i} (pid ${1000 + i})`,
      node,
      host: "bench",
      state: "reverted",
      injectedAt: iso(from),
      revertAt: iso(to),
      revertedAt: iso(to + 12),
      verified: true,
      error: null,
      detail: "SIGSTOP, SIGCONT to revert",
    });
    ev(from, "injected", `process-kill {"signal":"STOP"} → ${node}-${i} (node ${node})`);
    ev(to + 12, "reverted", `process-kill on ${node}-${i} reverted: running again (verified)`);
  }
  ev(end, "steady-state-after", "steady state holds after the method");
  ev(end + 1, "run-ended", "run completed; hypothesis held");
  const dip = faults[Math.floor(o.faults / 2)];
  const dipFrom = Date.parse(dip.injectedAt!) - t0;
  const dipTo = Date.parse(dip.revertedAt!) - t0;
  const samples: ProbeSampleMsg[] = [];
  for (let ms = 250; ms <= end + 10_000; ms += o.tickMs) {
    names.forEach((probe, i) => {
      const wave = Math.sin(ms / 7000 + i) * 0.002;
      const inDip = i === 0 && ms >= dipFrom && ms <= dipTo;
      const value = measures[i] === "p95LatencyMs" ? 12 + Math.abs(wave) * 4000 : inDip ? 0.97 : 0.998 + wave;
      samples.push({ runId: id, probe, measure: measures[i], at: iso(ms), monoMs: ms, value, ok: true });
    });
  }
  const yaml = `apiVersion: gameday/v1\nkind: Experiment\nmetadata: { name: synthetic-hour }\nspec:\n  hypothesis: a synthetic hour of faults\n`;
  return {
    run: {
      id,
      name: "synthetic-hour",
      hypothesis: "a synthetic hour of faults leaves every SLI within tolerance",
      state: "completed",
      hypothesisHeld: true,
      launchedBy: "schedule",
      startedBy: "bench",
      createdAt: iso(0),
      startedAt: iso(0),
      endedAt: iso(end + 1),
      abort: null,
      error: null,
      faults,
    },
    experimentYaml: yaml,
    experiment: {
      spec: {
        steadyState: { probes: names.map((name, i) => ({ name, type: "http", measure: measures[i], tolerance: measures[i] === "p95LatencyMs" ? { max: 200 } : { min: 0.95 } })) },
        method: faults.map(() => ({ fault: "process-kill", params: { signal: "STOP" } })),
      },
    },
    events,
    samples,
    notes: [{ id: 1, runId: id, at: iso(leadIn + 60_000), author: "bench", text: "a synthetic observation" }],
    review: null,
    topology: {
      name: "demo",
      nodes: [
        { id: "frontend", label: "frontend", kind: "service" },
        { id: "api", label: "api", kind: "service" },
        { id: "db", label: "db", kind: "database" },
      ],
      edges: [
        { from: "frontend", to: "api" },
        { from: "api", to: "db" },
      ],
    },
    versions: { "game day worker": "bench", node: process.version },
    seed: 42,
    generatedAt: iso(end + 20_000),
  };
}
