// The Watchman against a real Prometheus server (Debian's, started here on
// loopback with a 1 s scrape of a small metrics server this test runs) and a
// real worker process: a PromQL breach aborts the run (with the query, the
// series and a graph link as evidence, the kill switch's long-poll and
// webhook told); Prometheus stopped mid-run aborts under onMissing: abort
// and is tolerated under ignore and hold; an SLO whose error budget is
// spent refuses the run, and a run the budget affords reports what it burned.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { AbortSignalInfo, BudgetInfo, RunRecord } from "../lib/contract";
import { apiCall, procState, spawnVictims, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";
import { prometheusMissing, startPrometheus, waitForQuery, type PromServer } from "../e2e/prometheus";

const skip = prometheusMissing() ?? undefined;
let nextPort = 16_310;

/** What the metrics server serves: a gauge per instance, and request counters growing per second by code. */
const target = { health: [1, 1, 1], perSecond: { ok: 50, err: 0 }, totals: { ok: 0, err: 0 }, at: performance.now() };

function metricsText(): string {
  const t = performance.now();
  const dt = (t - target.at) / 1000;
  target.at = t;
  target.totals.ok += target.perSecond.ok * dt;
  target.totals.err += target.perSecond.err * dt;
  return [
    "# TYPE t_health gauge",
    ...target.health.map((v, i) => `t_health{instance_id="i${i}"} ${v}`),
    "# TYPE t_requests_total counter",
    `t_requests_total{code="200"} ${Math.floor(target.totals.ok)}`,
    `t_requests_total{code="500"} ${Math.floor(target.totals.err)}`,
    "",
  ].join("\n");
}

function experiment(name: string, regex: string, probe: string, durationS = 6): string {
  return `apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: every instance stays healthy while the victims are frozen
  targets:
    victims: { process: { cmdline: '${regex}' } }
  steadyState:
    probes:
      - ${probe}
  method:
    - { fault: process-kill, target: victims, params: { signal: STOP }, duration: ${durationS}s }
`;
}

describe("prometheus probe against a real Prometheus", { skip, timeout: 240_000 }, () => {
  let metrics: http.Server;
  let metricsAddr = "";
  let worker: WorkerProc | undefined;
  let prom: PromServer | undefined;
  let hookCalls: unknown[] = [];
  let hook: http.Server;

  before(async () => {
    metrics = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(metricsText());
    });
    await new Promise<void>((r) => metrics.listen(0, "127.0.0.1", r));
    metricsAddr = `127.0.0.1:${(metrics.address() as AddressInfo).port}`;
    hook = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        hookCalls.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    worker = await startWorkerProcess(tempHome(), {
      env: { GAMEDAY_WARMUP_MS: "300", GAMEDAY_ABORT_WEBHOOKS: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/kill` },
    });
  });
  after(async () => {
    await worker?.stop();
    await prom?.stop();
    metrics?.close();
    hook?.close();
  });

  async function freshPrometheus(): Promise<PromServer> {
    await prom?.stop();
    prom = await startPrometheus(nextPort++, [metricsAddr]);
    await waitForQuery(prom.url, "t_health");
    return prom;
  }

  const run = async (id: string) => (await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${id}`)).body.run;
  const ended = (id: string, ms = 30_000) => waitFor(`run ${id} to end`, async () => ((r) => (["completed", "aborted", "failed"].includes(r.state) ? r : null))(await run(id)), ms, 100);
  const started = (id: string) => waitFor("the victims to be frozen", async () => ((await run(id)).faults.some((f) => f.state === "injected") ? true : null), 20_000, 50);

  test("a PromQL breach of one series among several aborts the run; evidence, kill switch long-poll and webhook", async () => {
    const p = await freshPrometheus();
    const v = spawnVictims(1);
    target.health = [1, 1, 1];
    hookCalls = [];
    try {
      const probe = `{ name: healthy, type: prometheus, url: "${p.url}", query: "t_health", aggregate: all, interval: 200ms, for: 1s, tolerance: { gte: 1 } }`;
      const { body: sig0 } = await apiCall<AbortSignalInfo>(worker!, "GET", "/api/v1/abort-signal");
      const res = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml: experiment("prom-breach", v.regex, probe, 60) });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const id = res.body.run.id;
      await started(id);
      const poll = apiCall<AbortSignalInfo>(worker!, "GET", `/api/v1/abort-signal?after=${sig0.seq}&wait=60000`);
      target.health = [1, 0, 1];
      const final = await ended(id);
      assert.equal(final.state, "aborted");
      assert.equal(final.abort?.reason, "steady-state");
      assert.equal(final.abort?.probe, "healthy");
      assert.equal(final.abort?.observed, 0);
      assert.equal(final.abort?.evidence?.query, "t_health");
      assert.ok(final.abort?.evidence?.link?.startsWith(`${p.url}/graph?g0.expr=t_health`), final.abort?.evidence?.link);
      assert.ok(final.abort?.evidence?.series?.some((s) => s.labels.instance_id === "i1" && s.value === "0"));
      assert.equal(procState(v.children[0].pid!) === "T", false, "the victim runs again");
      const { body: sig } = await poll;
      assert.equal(sig.seq, sig0.seq + 1);
      assert.equal(sig.last?.kind, "abort");
      assert.equal(sig.last?.runId, id);
      assert.equal(sig.last?.reason, "steady-state");
      await waitFor("the webhook call", () => hookCalls.length > 0, 5000);
      assert.equal((hookCalls[0] as { runId: string }).runId, id);
    } finally {
      target.health = [1, 1, 1];
      await v.stop();
    }
  });

  test("HALT goes through the kill switch too", async () => {
    const { body: sig0 } = await apiCall<AbortSignalInfo>(worker!, "GET", "/api/v1/abort-signal");
    hookCalls = [];
    await apiCall(worker!, "POST", "/api/v1/halt");
    const { body: sig } = await apiCall<AbortSignalInfo>(worker!, "GET", `/api/v1/abort-signal?after=${sig0.seq}&wait=5000`);
    assert.equal(sig.last?.kind, "halt");
    await waitFor("the webhook call", () => hookCalls.some((c) => (c as { kind: string }).kind === "halt"), 5000);
  });

  test("Prometheus stopped mid-run: onMissing abort (the default) aborts after the grace", async () => {
    const p = await freshPrometheus();
    const v = spawnVictims(1);
    try {
      const probe = `{ name: healthy, type: prometheus, url: "${p.url}", query: "min(t_health)", interval: 200ms, missingGrace: 1500ms, tolerance: { min: 1 } }`;
      const { body } = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml: experiment("prom-missing-abort", v.regex, probe, 60) });
      await started(body.run.id);
      const t0 = Date.now();
      await p.stop();
      const final = await ended(body.run.id);
      assert.equal(final.state, "aborted");
      assert.equal(final.abort?.reason, "steady-state");
      assert.match(final.abort?.message ?? "", /gave no data for \d+ ms \(grace 1500 ms, onMissing: abort\)/);
      assert.ok(final.abort?.evidence?.error, "the query's error is in the evidence");
      // generous bound: grace 1.5 s after the last answer, then the revert
      assert.ok(Date.parse(final.endedAt!) - t0 < 6000, `ended ${Date.parse(final.endedAt!) - t0} ms after Prometheus stopped`);
    } finally {
      await v.stop();
    }
  });

  for (const policy of ["ignore", "hold"] as const) {
    test(`Prometheus stopped mid-run: onMissing ${policy} lets the run complete`, async () => {
      const p = await freshPrometheus();
      const v = spawnVictims(1);
      try {
        const probe = `{ name: healthy, type: prometheus, url: "${p.url}", query: "min(t_health)", interval: 200ms, missingGrace: 500ms, onMissing: ${policy}, tolerance: { min: 1 } }`;
        const { body } = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml: experiment(`prom-missing-${policy}`, v.regex, probe, 4) });
        await started(body.run.id);
        await p.stop();
        const final = await ended(body.run.id);
        assert.equal(final.state, "completed", JSON.stringify(final.abort ?? final.error));
        assert.equal(final.hypothesisHeld, true);
      } finally {
        await v.stop();
      }
    });
  }

  test("error budget: a run the budget affords shows it and reports its burn; a spent budget refuses the run", async () => {
    const p = await freshPrometheus();
    const v = spawnVictims(1);
    const slo = (min: number) =>
      `{ name: shop, type: prometheus, url: "${p.url}", query: "min(t_health)", interval: 200ms, tolerance: { min: 1 }, slo: { objective: 0.99, window: 1m, good: 't_requests_total{code=~"2.."}', total: "t_requests_total", minBudgetLeft: ${min} } }`;
    try {
      target.perSecond = { ok: 50, err: 0 };
      await waitForQuery(p.url, "sum(increase(t_requests_total[1m]))", (x) => x > 0);
      const plan = await apiCall<{ budgets: BudgetInfo[]; budgetRefusal: string | null }>(worker!, "POST", "/api/v1/experiments/validate", { yaml: experiment("budget-ok", v.regex, slo(0.5), 3) });
      assert.equal(plan.status, 200, JSON.stringify(plan.body));
      assert.equal(plan.body.budgetRefusal, null);
      assert.ok(plan.body.budgets[0].left > 0.99 && plan.body.budgets[0].total > 0, JSON.stringify(plan.body.budgets));
      const ok = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml: experiment("budget-ok", v.regex, slo(0.5), 3) });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.ok(ok.body.run.budgets![0].left > 0.99, JSON.stringify(ok.body.run.budgets));
      const done = await ended(ok.body.run.id);
      assert.equal(done.state, "completed");
      const burn = await waitFor("the burn report", async () => ((await run(ok.body.run.id)).budgets?.[0]?.burned !== undefined ? await run(ok.body.run.id) : null), 10_000, 200);
      assert.equal(burn.budgets![0].burned, 0, "no bad events during the run");

      // half the requests fail: 1 % allowed, 50 % bad — the budget is spent
      target.perSecond = { ok: 50, err: 50 };
      await waitForQuery(p.url, 'sum(increase(t_requests_total{code="500"}[1m]))', (x) => x > 10);
      const plan2 = await apiCall<{ budgets: BudgetInfo[]; budgetRefusal: string | null }>(worker!, "POST", "/api/v1/experiments/validate", { yaml: experiment("budget-spent", v.regex, slo(0.25), 3) });
      assert.match(plan2.body.budgetRefusal ?? "", /exhausted/);
      const refused = await apiCall<{ error: string }>(worker!, "POST", "/api/v1/runs", { yaml: experiment("budget-spent", v.regex, slo(0.25), 3) });
      assert.equal(refused.status, 409);
      assert.match(refused.body.error, /refusing the run: error budget of shop \(SLO 99\.00 % over 1m\): 0\.0 % left \(exhausted\)/);
      assert.equal(procState(v.children[0].pid!) === "T", false, "nothing was touched");
    } finally {
      target.perSecond = { ok: 50, err: 0 };
      await v.stop();
    }
  });
});
