// The walking skeleton's acceptance test against the real demo system: SIGSTOP
// every api instance; the frontend's success rate collapses; the monitor must
// abort within 2 s of the breach (by the worker's timestamps and by the test's
// own clock and probe) and leave no api process stopped.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { GraphState, RunRecord } from "../lib/contract";
import { listProcesses } from "../lib/procfs";
import { apiCall, ROOT, startDemo, startWorkerProcess, tempDir, tempHome, waitFor, type DemoSystem, type WorkerProc } from "../e2e/kit";

const BASE = 15_700;

describe("api-freeze against the demo system", { timeout: 120_000 }, () => {
  let demo: DemoSystem | undefined;
  let worker: WorkerProc | undefined;

  before(async () => {
    const dir = tempDir("gameday-demo-");
    demo = await startDemo(BASE, dir);
    worker = await startWorkerProcess(tempHome(), { topology: demo.topologyFile });
  });
  after(async () => {
    await worker?.stop();
    await demo?.stop();
  });

  /**
   * The test's own success-rate probe of the frontend, on the test's clock: GET every 100 ms with a 1 s timeout
   * (the experiment's probe settings), each result at the moment it completes; breachAt() is the first moment the
   * success rate over the results of the last 3 s fell below 0.95, once `armed` (the fault is in place: a stray
   * failure before it is no breach of this experiment's).
   */
  function ownFrontendProbe(url: string, armed: () => boolean): { breachAt: () => number | null; stop: () => void } {
    const results: { t: number; ok: boolean }[] = [];
    let breach: number | null = null;
    let stopped = false;
    const fire = () => {
      fetch(url, { signal: AbortSignal.timeout(1000), cache: "no-store" })
        .then(async (res) => {
          await res.arrayBuffer().catch(() => undefined);
          return res.status >= 200 && res.status < 400;
        })
        .catch(() => false)
        .then((ok) => {
          if (stopped) return;
          const t = performance.now();
          results.push({ t, ok });
          const recent = results.filter((x) => x.t >= t - 3000);
          if (breach === null && armed() && recent.filter((x) => x.ok).length / recent.length < 0.95) breach = t;
        });
    };
    fire();
    const timer = setInterval(fire, 100);
    return {
      breachAt: () => breach,
      stop: () => {
        stopped = true;
        clearInterval(timer);
      },
    };
  }

  const apiProcs = () => listProcesses().filter((p) => new RegExp(`--cluster demo-${BASE} --node api( |$)`).test(p.cmdline));

  test("the graph shows every node with live SLIs", async () => {
    const g = await waitFor(
      "SLIs for every node",
      async () => {
        const { body } = await apiCall<GraphState>(worker!, "GET", "/api/v1/graph");
        return ["frontend", "api", "db"].every((n) => body.nodes[n]?.successRate !== null && body.nodes[n]?.instancesUp > 0) ? body : null;
      },
      20_000,
      250,
    );
    assert.deepEqual(g.topology.nodes.map((n) => n.id).sort(), ["api", "db", "frontend"]);
    assert.equal(g.nodes.api.instancesTotal, 3);
    assert.equal(g.nodes.api.instancesUp, 3);
    assert.ok(g.nodes.frontend.successRate! > 0.95);
    assert.ok(g.nodes.frontend.p95LatencyMs! > 0);
  });

  test("SIGSTOP of every api instance aborts within 2 s of the breach and is reverted", async () => {
    const yaml = fs.readFileSync(path.join(ROOT, "examples/api-freeze.yaml"), "utf8").replaceAll("127.0.0.1:4100", `127.0.0.1:${BASE}`);
    assert.equal(apiProcs().length, 3);
    // the test's own clock and its own probe, next to the worker's timestamps: when every api process is
    // seen stopped, and when the test's own requests to the frontend (same rule as the experiment's probe:
    // 1 s timeout, every 100 ms, success rate over the last 3 s below 0.95) first show the breach
    let frozenAt: number | null = null;
    const own = ownFrontendProbe(`http://127.0.0.1:${BASE}/`, () => frozenAt !== null);
    const watchFreeze = setInterval(() => {
      const procs = apiProcs();
      if (frozenAt === null && procs.length === 3 && procs.every((p) => p.state === "T")) frozenAt = performance.now();
    }, 20);
    let ended: { run: RunRecord; at: number; wall: number };
    try {
      const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      ended = await waitFor(
        "the run to end",
        async () => {
          const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${r.body.run.id}`);
          return ["completed", "aborted", "failed"].includes(body.run.state) ? { run: body.run, at: performance.now(), wall: Date.now() } : null;
        },
        40_000,
        20,
      );
    } finally {
      clearInterval(watchFreeze);
      own.stop();
    }
    const run = ended.run;
    assert.equal(run.state, "aborted", JSON.stringify(run));
    assert.equal(run.abort?.reason, "steady-state");
    assert.equal(run.abort?.probe, "frontend-success");
    assert.ok(run.abort!.observed! < 0.95, `observed ${run.abort!.observed}`);
    assert.deepEqual(run.abort?.threshold, { min: 0.95 });
    const breachToAbort = Date.parse(run.abort!.at) - Date.parse(run.abort!.breachStartedAt!);
    assert.ok(breachToAbort >= 500 - 50, `held for the 500 ms 'for' window first (${breachToAbort} ms)`);
    assert.ok(breachToAbort <= 2000, `aborted ${breachToAbort} ms after the success rate fell below tolerance`);
    // the same promise on the test's clock: from the breach its own probe saw to the abort it saw, with 250 ms
    // for the two probes being out of phase (100 ms apart at most) and for polling the run every 20 ms
    assert.ok(frozenAt !== null, "the test never saw every api process stopped");
    const breachSeen = own.breachAt();
    assert.ok(breachSeen !== null, "the test's own probe never saw the success rate fall below 0.95");
    const seenBreachToAbort = ended.at - breachSeen;
    assert.ok(seenBreachToAbort <= 2000 + 250, `the test saw the abort ${Math.round(seenBreachToAbort)} ms after its own probe saw the breach`);
    // and from the freeze the test saw: at most the probe timeout (the first failure cannot come sooner), one
    // more failed sample (100 ms), the 2 s and the same 250 ms
    const freezeToAbort = ended.at - frozenAt;
    assert.ok(freezeToAbort <= 1000 + 100 + 2000 + 250, `the test saw the abort ${Math.round(freezeToAbort)} ms after it saw every api process stopped`);
    // the worker's timestamps are on the same wall clock: its abort is no later than the test saw it
    assert.ok(Date.parse(run.abort!.at) <= ended.wall, `abort.at ${run.abort!.at} is after the test saw the run end (${new Date(ended.wall).toISOString()})`);
    assert.equal(run.faults.length, 3);
    for (const f of run.faults) {
      assert.equal(f.state, "reverted");
      assert.equal(f.verified, true);
      assert.equal(f.node, "api");
    }
    const stopped = apiProcs().filter((p) => p.state === "T");
    assert.deepEqual(stopped, [], "no api process may stay stopped");
    // the system recovers: the frontend answers again
    await waitFor("frontend to answer 200", async () => (await fetch(`http://127.0.0.1:${BASE}/`)).status === 200, 10_000, 200);
  });
});
