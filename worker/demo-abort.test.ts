// The walking skeleton's acceptance test against the real demo system: SIGSTOP
// every api instance; the frontend's success rate collapses; the monitor must
// abort within 2 s of the breach and leave no api process stopped.
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
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run = await waitFor(
      "the run to end",
      async () => {
        const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${r.body.run.id}`);
        return ["completed", "aborted", "failed"].includes(body.run.state) ? body.run : null;
      },
      40_000,
      100,
    );
    assert.equal(run.state, "aborted", JSON.stringify(run));
    assert.equal(run.abort?.reason, "steady-state");
    assert.equal(run.abort?.probe, "frontend-success");
    assert.ok(run.abort!.observed! < 0.95, `observed ${run.abort!.observed}`);
    assert.deepEqual(run.abort?.threshold, { min: 0.95 });
    const breachToAbort = Date.parse(run.abort!.at) - Date.parse(run.abort!.breachStartedAt!);
    assert.ok(breachToAbort >= 500 - 50, `held for the 500 ms 'for' window first (${breachToAbort} ms)`);
    assert.ok(breachToAbort <= 2000, `aborted ${breachToAbort} ms after the success rate fell below tolerance`);
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
