// README promises that had no test, each against a real worker process, real
// `sleep` victims and a real local HTTP server (health, slow and Prometheus
// endpoints) as the steady-state probe target: rollback deviated and never,
// maxDuration, abort.onViolation false, a steady state that fails or gives no
// data before injecting, `gameday run --wait` exiting 2 on a refuted
// hypothesis, the metrics probe and the latency measures, and process-kill's
// signals, blast radius, probability and startAfter.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { ChildProcess } from "node:child_process";
import type { RunRecord, TimelineEvent } from "../lib/contract";
import { apiCall, procState, runCli, spawnVictims, startWorkerProcess, tempDir, tempHome, waitFor, type WorkerProc } from "../e2e/kit";
import { seededRandom, seedFrom } from "../injectors/targets/blast";

/** What the probe target serves; each test that changes it puts it back in a finally. */
const target = {
  healthy: true,
  /** /slow answers after this many ms */
  delayMs: 0,
  /** /metrics: requests served per second, by code (counted at each scrape from the time since the last one) */
  perSecond: { ok: 100, err: 0 },
  totals: { ok: 0, err: 0, at: performance.now() },
};
function resetTarget(): void {
  target.healthy = true;
  target.delayMs = 0;
  target.perSecond = { ok: 100, err: 0 };
}

interface ExpOpts {
  name: string;
  regex: string;
  mode?: string;
  signal?: string;
  duration?: string;
  startAfter?: string;
  probability?: number;
  /** YAML flow mappings, one per probe; default: /health successRate ≥ 0.9 */
  probes?: string[];
  rollback?: string;
  abort?: string;
}

let base = "";
const healthProbe = (extra = "") => `{ name: up, type: http, url: "${base}/health", interval: 100ms, window: 1s, tolerance: { min: 0.9 }${extra} }`;

function experiment(o: ExpOpts): string {
  const step = [
    "fault: process-kill",
    "target: victims",
    `params: { signal: ${o.signal ?? "STOP"} }`,
    `duration: ${o.duration ?? "1s"}`,
    ...(o.startAfter ? [`startAfter: ${o.startAfter}`] : []),
    ...(o.probability !== undefined ? [`probability: ${o.probability}`] : []),
  ].join(", ");
  return `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${o.name} }
spec:
  hypothesis: the probe target does not care about the victims
  targets:
    victims: { process: { cmdline: '${o.regex}' }, mode: ${o.mode ?? "all"} }
  steadyState:
    probes:
${(o.probes ?? [healthProbe()]).map((p) => `      - ${p}`).join("\n")}
  method:
    - { ${step} }
  rollback: ${o.rollback ?? "always"}
${o.abort ? `  abort: ${o.abort}\n` : ""}`;
}

/** The PID in a process target's label, `sleep[1234]`. */
const pidOf = (label: string) => Number(/\[(\d+)\]/.exec(label)?.[1]);
const pids = (cs: ChildProcess[]) => cs.map((c) => c.pid!);

/** Samples the victims' states every few ms: which PIDs were ever seen stopped. */
function watchStopped(ps: number[]): { seen: Set<number>; stop: () => void } {
  const seen = new Set<number>();
  const t = setInterval(() => {
    for (const p of ps) if (procState(p) === "T") seen.add(p);
  }, 5);
  return { seen, stop: () => clearInterval(t) };
}

describe("README promises against a worker process", { timeout: 180_000 }, () => {
  let server: http.Server;
  let worker: WorkerProc | undefined;
  const fleets: { stop: () => Promise<void> }[] = [];
  const watchers: { stop: () => void }[] = [];

  function victims(n: number) {
    const v = spawnVictims(n);
    fleets.push(v);
    return v;
  }
  function watch(ps: number[]) {
    const w = watchStopped(ps);
    watchers.push(w);
    return w;
  }

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/metrics") {
        const now = performance.now();
        const s = (now - target.totals.at) / 1000;
        target.totals = { ok: target.totals.ok + s * target.perSecond.ok, err: target.totals.err + s * target.perSecond.err, at: now };
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.end(
          [
            "# HELP t_requests_total Requests served.",
            "# TYPE t_requests_total counter",
            `t_requests_total{service="shop",code="200"} ${target.totals.ok}`,
            `t_requests_total{service="shop",code="500"} ${target.totals.err}`,
            `t_requests_total{service="other",code="500"} ${target.totals.ok * 3}`,
            "",
          ].join("\n"),
        );
      } else if (req.url === "/slow") {
        setTimeout(() => res.end("ok"), target.delayMs);
      } else {
        res.writeHead(target.healthy ? 200 : 503);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "300" } });
  });

  afterEach(async () => {
    resetTarget();
    for (const w of watchers.splice(0)) w.stop();
    // a test that failed half-way must not leave its run (or its changes) to the next one
    const h = await apiCall<{ activeRunId: string | null }>(worker!, "GET", "/api/v1/health");
    if (h.body.activeRunId) await apiCall(worker!, "POST", "/api/v1/halt");
  });

  after(async () => {
    for (const w of watchers) w.stop();
    await worker?.stop();
    await Promise.all(fleets.map((f) => f.stop()));
    server.closeAllConnections();
    server.close();
  });

  const getRun = async (id: string) => (await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${id}`)).body.run;
  const events = async (id: string) => (await apiCall<{ events: TimelineEvent[] }>(worker!, "GET", `/api/v1/runs/${id}/events`)).body.events;
  const start = async (yaml: string) => {
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.run.id;
  };
  const waitFinal = (id: string, timeoutMs = 15_000) =>
    waitFor(`run ${id} to end`, async () => {
      const run = await getRun(id);
      return ["completed", "aborted", "failed"].includes(run.state) ? run : null;
    }, timeoutMs, 100);
  /** Final, and every change verified reverted. */
  const waitSettled = (id: string, timeoutMs = 15_000) =>
    waitFor(`run ${id} to end with every change reverted`, async () => {
      const run = await getRun(id);
      return ["completed", "aborted", "failed"].includes(run.state) && run.faults.every((f) => f.state === "reverted") ? run : null;
    }, timeoutMs, 100);
  const allStopped = (cs: ChildProcess[]) => waitFor("the victims to be stopped", () => cs.every((c) => procState(c.pid!) === "T"), 10_000, 10);
  const ms = (iso: string | null | undefined) => Date.parse(iso ?? "");
  const monoOf = (evs: TimelineEvent[], kind: string) => {
    const e = evs.find((x) => x.kind === kind);
    assert.ok(e, `no ${kind} event: ${evs.map((x) => x.kind).join(", ")}`);
    return e.monoMs;
  };

  // ---- rollback -----------------------------------------------------------------

  test("rollback deviated: an abort after the steady state deviated reverts at once", async () => {
    const v = victims(2);
    const id = await start(experiment({ name: "deviated-breach", regex: v.regex, duration: "60s", rollback: "deviated" }));
    await allStopped(v.children);
    target.healthy = false;
    const run = await waitFinal(id);
    assert.equal(run.state, "aborted");
    assert.equal(run.abort?.reason, "steady-state");
    assert.equal(run.hypothesisHeld, false);
    assert.ok(typeof run.abort?.revertMs === "number", "an abort that reverts at once says how long it took");
    for (const c of v.children) assert.notEqual(procState(c.pid!), "T", `victim ${c.pid} still stopped after the abort`);
    assert.equal(run.faults.length, 2);
    for (const f of run.faults) {
      assert.equal(f.state, "reverted");
      assert.equal(f.verified, true);
      // at once: seconds after the abort, not at the end of the 60 s step
      assert.ok(ms(f.revertedAt) - ms(run.abort!.at) < 3000, `reverted ${ms(f.revertedAt) - ms(run.abort!.at)} ms after the abort`);
    }
  });

  /** Abort by hand right after the injection: the change stays until the step's duration ends, then it is reverted and verified. */
  async function keptUntilDurationEnds(policy: "deviated" | "never"): Promise<void> {
    const v = victims(2);
    const durationMs = 2500;
    const id = await start(experiment({ name: `${policy}-manual`, regex: v.regex, duration: `${durationMs}ms`, rollback: policy }));
    await allStopped(v.children);
    const ab = await apiCall<{ run: RunRecord }>(worker!, "POST", `/api/v1/runs/${id}/abort`);
    assert.equal(ab.status, 200, JSON.stringify(ab.body));
    assert.equal(ab.body.run.state, "aborted");
    assert.equal(ab.body.run.abort?.reason, "manual");
    assert.equal(ab.body.run.abort?.revertMs, undefined, "nothing was reverted at the abort");
    for (const c of v.children) assert.equal(procState(c.pid!), "T", `victim ${c.pid} should still be stopped right after the abort`);
    assert.ok(ab.body.run.faults.every((f) => f.state === "injected"), JSON.stringify(ab.body.run.faults));
    const blocked = await apiCall<{ error: string }>(worker!, "POST", "/api/v1/runs", { yaml: experiment({ name: "blocked", regex: v.regex }) });
    assert.equal(blocked.status, 409);
    assert.match(blocked.body.error, /still has changes in place until their durations end/);
    const evs = await events(id);
    assert.ok(evs.some((e) => e.kind === "rollback" && e.message === `rollback: ${policy}: 2 change(s) stay until their duration ends`), evs.map((e) => e.message).join("\n"));

    for (const c of v.children) await waitFor(`victim ${c.pid} to run again`, () => procState(c.pid!) !== "T", durationMs + 5000, 10);
    const run = await waitSettled(id);
    assert.equal(run.state, "aborted");
    assert.equal(run.faults.length, 2);
    for (const f of run.faults) {
      assert.equal(f.state, "reverted");
      assert.equal(f.verified, true);
      // the step's clock starts just before the injections (the journal's fsyncs take a moment under load)
      const held = ms(f.revertedAt) - ms(f.injectedAt);
      assert.ok(held >= durationMs - 300, `reverted ${held} ms after the injection, before the step's ${durationMs} ms ended`);
      assert.ok(ms(f.revertedAt) - ms(run.abort!.at) >= 1000, `reverted ${ms(f.revertedAt) - ms(run.abort!.at)} ms after the abort`);
    }
    // the host is free again
    await waitFor("the worker to be idle", async () => (await apiCall<{ activeRunId: string | null }>(worker!, "GET", "/api/v1/health")).body.activeRunId === null, 5000);
  }

  test("rollback deviated: a manual abort without deviation keeps the change until the step's duration ends, then reverts and verifies it", async () => {
    await keptUntilDurationEnds("deviated");
  });

  test("rollback never: after an abort the change stays in place and is reverted when the step's own duration ends", async () => {
    await keptUntilDurationEnds("never");
  });

  // ---- abort ----------------------------------------------------------------------

  test("maxDuration: a method still running at maxDuration aborts the run with reason max-duration", async () => {
    // A file cannot schedule the method past maxDuration...
    const tooShort = await apiCall<{ issues: { path: string; message: string }[] }>(worker!, "POST", "/api/v1/runs", {
      yaml: experiment({ name: "too-short", regex: "^x$", duration: "2s", abort: "{ maxDuration: 1s }" }),
    });
    assert.equal(tooShort.status, 422);
    assert.ok(
      tooShort.body.issues.some((i) => i.path === "spec.abort.maxDuration" && i.message === "the method runs for 2000 ms, longer than maxDuration (1000 ms)"),
      JSON.stringify(tooShort.body.issues),
    );
    // ...so the step is scheduled to end exactly at maxDuration, and the work of stopping ten
    // victims (each journaled with an fsync before its signal) carries it past that.
    const v = victims(10);
    const id = await start(experiment({ name: "max-duration", regex: v.regex, startAfter: "999ms", duration: "1ms", abort: "{ maxDuration: 1s }" }));
    const run = await waitSettled(id);
    assert.equal(run.state, "aborted", JSON.stringify(run));
    assert.equal(run.abort?.reason, "max-duration");
    assert.equal(run.abort?.message, "run exceeded its maximum duration of 1000 ms");
    assert.equal(run.hypothesisHeld, null, "no probe deviated: the hypothesis is neither held nor refuted");
    assert.ok(run.faults.length <= 10);
    for (const f of run.faults) assert.ok(f.state === "reverted" && f.verified, JSON.stringify(f));
    for (const c of v.children) assert.notEqual(procState(c.pid!), "T");
    const evs = await events(id);
    const after = monoOf(evs, "abort") - monoOf(evs, "method-started");
    assert.ok(after >= 995 && after < 3000, `aborted ${after} ms after the method started`);
  });

  test("abort.onViolation false: a breach is recorded but the run goes on to completion", async () => {
    const v = victims(2);
    const durationMs = 3000;
    const id = await start(experiment({ name: "no-abort", regex: v.regex, duration: `${durationMs}ms`, abort: "{ onViolation: false }" }));
    await allStopped(v.children);
    target.healthy = false;
    const breach = await waitFor("a breach event", async () => (await events(id)).find((e) => e.kind === "breach"), 5000, 100);
    target.healthy = true;
    assert.match(breach.message, /^up successRate=[\d.]+ outside tolerance \{"min":0\.9\} since /);
    // the run goes on: still running, the victims still stopped
    const mid = await getRun(id);
    assert.equal(mid.state, "running");
    assert.equal(mid.hypothesisHeld, false);
    for (const c of v.children) assert.equal(procState(c.pid!), "T");
    const run = await waitSettled(id);
    assert.equal(run.state, "completed");
    assert.equal(run.hypothesisHeld, false);
    assert.equal(run.abort, null);
    for (const f of run.faults) {
      assert.equal(f.state, "reverted");
      assert.equal(f.verified, true);
      assert.ok(ms(f.revertedAt) - ms(f.injectedAt) >= durationMs - 300, "the step ran its whole duration");
    }
    const evs = await events(id);
    assert.ok(!evs.some((e) => e.kind === "abort"));
    // the probe recovered before the method ended: refuted by the breach alone
    assert.ok(evs.some((e) => e.kind === "steady-state-after" && e.message === "steady state holds after the method"), evs.map((e) => e.message).join("\n"));
    assert.ok(evs.some((e) => e.kind === "run-ended" && e.message === "run completed; hypothesis refuted"));
  });

  // ---- steady state before --------------------------------------------------------

  async function assertUntouched(id: string, seen: Set<number>): Promise<RunRecord> {
    const run = await waitSettled(id, 25_000);
    assert.equal(run.state, "failed");
    assert.equal(run.faults.length, 0, "no fault rows");
    assert.equal(seen.size, 0, `victims stopped: ${[...seen]}`);
    const kinds = (await events(id)).map((e) => e.kind);
    for (const k of ["method-started", "targets-resolved", "injected"]) assert.ok(!kinds.includes(k), `unexpected ${k}: ${kinds}`);
    return run;
  }

  test("a steady state that does not hold before injecting fails the run and touches nothing", async () => {
    const v = victims(2);
    const w = watch(pids(v.children));
    target.healthy = false;
    const id = await start(experiment({ name: "unsteady", regex: v.regex }));
    const run = await assertUntouched(id, w.seen);
    assert.equal(run.error, 'steady state not met before injection: up successRate=0 outside {"min":0.9}');
    assert.equal(run.hypothesisHeld, null);
  });

  /** A loopback port that was free a moment ago and that nothing listens on now. */
  async function closedPort(): Promise<number> {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    return port;
  }

  test("an http probe whose port nothing listens on measures 0 % success: failed before injecting", async () => {
    const port = await closedPort();
    const v = victims(1);
    const w = watch(pids(v.children));
    const probe = `{ name: refused, type: http, url: "http://127.0.0.1:${port}/", interval: 100ms, window: 1s, tolerance: { min: 0.9 } }`;
    const id = await start(experiment({ name: "refused", regex: v.regex, probes: [probe] }));
    const run = await assertUntouched(id, w.seen);
    assert.equal(run.error, 'steady state not met before injection: refused successRate=0 outside {"min":0.9}');
  });

  test("probes that give no data (a metrics endpoint nobody serves): failed, steady state unknown, nothing touched", async () => {
    const port = await closedPort();
    const v = victims(1);
    const w = watch(pids(v.children));
    const probe = `{ name: nodata, type: metrics, url: "http://127.0.0.1:${port}/metrics", interval: 100ms, window: 1s, query: { metric: t_requests_total }, tolerance: { min: 0 } }`;
    const t0 = performance.now();
    const id = await start(experiment({ name: "no-data", regex: v.regex, probes: [probe] }));
    const run = await assertUntouched(id, w.seen);
    const took = performance.now() - t0;
    assert.equal(run.error, "steady state unknown before injection: no data from probe(s) nodata");
    // the worker waits 15 s for data after the warm-up
    assert.ok(took >= 15_000 && took < 22_000, `failed after ${took.toFixed(0)} ms`);
  });

  // ---- the CLI ----------------------------------------------------------------------

  test("gameday run --wait exits 2 when a run completes with its hypothesis refuted", async () => {
    const v = victims(2);
    // `for: 30s`: the probe never breaches during the method; it is still outside when the method ends
    const file = path.join(tempDir(), "refuted.yaml");
    fs.writeFileSync(file, experiment({ name: "refuted", regex: v.regex, duration: "2s", probes: [healthProbe(", for: 30s")] }));
    const cli = runCli(["run", file, "--wait"], { GAMEDAY_HOME: worker!.home }, 60_000);
    await allStopped(v.children);
    target.healthy = false;
    const r = await cli;
    assert.equal(r.code, 2, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /^run \S+ \(refuted\): completed, hypothesis refuted$/m);
    const id = /started run (\S+) \(refuted\)/.exec(r.stderr)?.[1];
    assert.ok(id, r.stderr);
    const run = await waitSettled(id);
    assert.equal(run.state, "completed");
    assert.equal(run.hypothesisHeld, false);
    assert.equal(run.abort, null);
    const evs = await events(id);
    assert.ok(evs.some((e) => e.kind === "steady-state-after" && /^steady state not restored after the method: up successRate=/.test(e.message)));
    assert.ok(!evs.some((e) => e.kind === "breach"));
  });

  // ---- probes ------------------------------------------------------------------------

  test("the metrics probe: a Prometheus counter's ratio of increases and rate; a falling ratio breaches and aborts", async () => {
    const v = victims(1);
    const ratio = `{ name: shop-2xx, type: metrics, url: "${base}/metrics", interval: 100ms, window: 1s, query: { metric: t_requests_total, match: { service: shop }, ratioOf: { code: "2.." } }, tolerance: { min: 0.9 } }`;
    const rate = `{ name: shop-rate, type: metrics, url: "${base}/metrics", interval: 100ms, window: 1s, query: { metric: t_requests_total, match: { service: shop } }, tolerance: { min: 1 } }`;
    const id = await start(experiment({ name: "metrics", regex: v.regex, duration: "60s", probes: [ratio, rate] }));
    await allStopped(v.children);
    const holds = (await events(id)).find((e) => e.kind === "steady-state-before" && e.message === "steady state holds; injecting");
    assert.ok(holds, "no steady-state-before reading");
    const readings = (holds.data as { readings: { probe: string; measure: string; value: number }[] }).readings;
    const r = readings.find((x) => x.probe === "shop-2xx");
    assert.deepEqual([r?.measure, r?.value], ["ratio", 1], JSON.stringify(readings));
    const q = readings.find((x) => x.probe === "shop-rate");
    assert.equal(q?.measure, "rate");
    // 100 requests a second (the series of service "other" is not selected)
    assert.ok(q!.value > 80 && q!.value < 120, `rate ${q!.value}/s`);

    target.perSecond = { ok: 20, err: 80 };
    const run = await waitFinal(id);
    assert.equal(run.state, "aborted");
    assert.equal(run.abort?.reason, "steady-state");
    assert.equal(run.abort?.probe, "shop-2xx");
    assert.equal(run.abort?.measure, "ratio");
    assert.ok(typeof run.abort?.observed === "number" && run.abort.observed < 0.9 && run.abort.observed >= 0.2, `observed ${run.abort?.observed}`);
    assert.deepEqual(run.abort?.threshold, { min: 0.9 });
    for (const c of v.children) assert.notEqual(procState(c.pid!), "T");
  });

  for (const measure of ["p95LatencyMs", "meanLatencyMs"] as const) {
    test(`the http probe's ${measure}: a latency raised mid-run breaches with the observed value in the abort record`, async () => {
      const v = victims(1);
      const probe = `{ name: lat, type: http, url: "${base}/slow", interval: 100ms, window: 1s, timeout: 3s, measure: ${measure}, tolerance: { max: 150 } }`;
      const id = await start(experiment({ name: `latency-${measure.toLowerCase()}`, regex: v.regex, duration: "60s", probes: [probe] }));
      await allStopped(v.children);
      const before = ((await events(id)).find((e) => e.message === "steady state holds; injecting")?.data as { readings: { measure: string; value: number }[] }).readings[0];
      assert.equal(before.measure, measure);
      assert.ok(before.value < 150, `latency before: ${before.value} ms`);
      target.delayMs = 400;
      const run = await waitFinal(id);
      assert.equal(run.state, "aborted");
      assert.equal(run.abort?.reason, "steady-state");
      assert.equal(run.abort?.probe, "lat");
      assert.equal(run.abort?.measure, measure);
      assert.deepEqual(run.abort?.threshold, { max: 150 });
      const observed = run.abort?.observed;
      assert.ok(typeof observed === "number" && observed > 150 && observed < 1000, `observed ${observed}`);
      // p95 is the slowest answer of the window here: at least the delay
      if (measure === "p95LatencyMs") assert.ok(observed >= 395, `p95 ${observed} ms with a 400 ms delay`);
      assert.match(run.abort!.message, new RegExp(`^steady state violated: lat ${measure}=[\\d.]+ outside tolerance \\{"max":150\\} since `));
      for (const c of v.children) assert.notEqual(procState(c.pid!), "T");
    });
  }

  // ---- process-kill ---------------------------------------------------------------------

  for (const signal of ["TERM", "INT"] as const) {
    test(`process-kill ${signal} in a real run: the victims die of SIG${signal}`, async () => {
      const v = victims(2);
      const id = await start(experiment({ name: `kill-${signal.toLowerCase()}`, regex: v.regex, signal, duration: "500ms" }));
      for (const c of v.children) await waitFor(`victim ${c.pid} to die`, () => c.exitCode !== null || c.signalCode !== null, 10_000, 10);
      for (const c of v.children) assert.equal(c.signalCode, `SIG${signal}`);
      const run = await waitSettled(id);
      assert.equal(run.state, "completed");
      assert.equal(run.hypothesisHeld, true);
      assert.deepEqual(run.faults.map((f) => pidOf(f.targetLabel)).sort(), pids(v.children).sort());
      for (const f of run.faults) assert.ok(f.state === "reverted" && f.verified);
      const reverted = (await events(id)).filter((e) => e.kind === "reverted");
      assert.equal(reverted.length, 2);
      // verify() says what it checked: the signal cannot be undone, and the victim is gone
      for (const e of reverted) assert.match(e.message, new RegExp(`nothing to revert: SIG${signal} cannot be undone; PID \\d+ (is gone|has exited)`));
    });
  }

  for (const [mode, value, n, hit] of [["count", 2, 5, 2], ["percent", 60, 5, 3]] as const) {
    test(`blast radius ${mode} ${value}: exactly ${hit} of ${n} victims are hit`, async () => {
      const v = victims(n);
      const w = watch(pids(v.children));
      const id = await start(experiment({ name: `blast-${mode}`, regex: v.regex, mode: `${mode}, value: ${value}`, duration: "1s" }));
      await waitFor(`${hit} victims to be stopped`, () => v.children.filter((c) => procState(c.pid!) === "T").length === hit, 10_000, 10);
      const run = await waitSettled(id);
      w.stop();
      assert.equal(run.state, "completed");
      assert.equal(run.faults.length, hit);
      const hitPids = run.faults.map((f) => pidOf(f.targetLabel));
      assert.deepEqual([...w.seen].sort(), [...hitPids].sort(), "the victims seen stopped are exactly those in the record");
      for (const p of hitPids) assert.ok(pids(v.children).includes(p));
      const resolved = (await events(id)).find((e) => e.kind === "targets-resolved");
      assert.match(resolved?.message ?? "", new RegExp(`: ${n} matched \\[.*\\], ${hit} chosen by blast radius ${mode} ${value}$`));
      for (const c of v.children) assert.notEqual(procState(c.pid!), "T");
    });
  }

  test("probability < 1 in a real run: seeded dice per chosen victim; hits + spares = chosen; spared victims untouched", async () => {
    const n = 6;
    const v = victims(n);
    const w = watch(pids(v.children));
    const id = await start(experiment({ name: "dice", regex: v.regex, probability: 0.5, duration: "1s" }));
    const run = await waitSettled(id);
    w.stop();
    assert.equal(run.state, "completed");
    const evs = await events(id);
    assert.match(evs.find((e) => e.kind === "targets-resolved")?.message ?? "", new RegExp(`: ${n} matched \\[.*\\], ${n} chosen by blast radius all$`));
    const dice = evs.filter((e) => e.kind === "dice").map((e) => {
      const m = /^dice roll (\d\.\d\d) (<|≥) 0\.50: (hitting|sparing) \S+\[(\d+)\]$/.exec(e.message);
      assert.ok(m, e.message);
      return { roll: m[1], hit: m[3] === "hitting", pid: Number(m[4]) };
    });
    const hits = dice.filter((d) => d.hit).map((d) => d.pid);
    const spared = dice.filter((d) => !d.hit).map((d) => d.pid);
    assert.equal(hits.length + spared.length, n, "one roll per chosen victim");
    assert.deepEqual([...hits, ...spared].sort(), pids(v.children).sort());
    // seeded by the run id: the same rolls, in PID order
    const rnd = seededRandom(seedFrom(id));
    assert.deepEqual(dice.map((d) => d.roll), dice.map(() => rnd().toFixed(2)));
    assert.deepEqual(dice.map((d) => d.pid), [...pids(v.children)].sort((a, b) => a - b));
    assert.deepEqual(run.faults.map((f) => pidOf(f.targetLabel)).sort(), [...hits].sort());
    for (const p of hits) assert.ok(w.seen.has(p), `hit victim ${p} never seen stopped`);
    for (const p of spared) assert.ok(!w.seen.has(p), `spared victim ${p} was stopped`);
    for (const f of run.faults) assert.ok(f.state === "reverted" && f.verified);
  });

  test("startAfter: the targets are resolved and the fault injected no earlier than startAfter after the method starts", async () => {
    const v = victims(2);
    const w = watch(pids(v.children));
    const id = await start(experiment({ name: "start-after", regex: v.regex, startAfter: "800ms", duration: "1s" }));
    const run = await waitSettled(id);
    w.stop();
    assert.equal(run.state, "completed");
    assert.equal(w.seen.size, 2, "both victims were stopped");
    const evs = await events(id);
    const method = monoOf(evs, "method-started");
    const resolved = monoOf(evs, "targets-resolved") - method;
    const injected = evs.filter((e) => e.kind === "injected").map((e) => e.monoMs - method);
    assert.equal(injected.length, 2);
    assert.ok(resolved >= 799, `targets resolved ${resolved} ms after the method started`);
    for (const t of injected) assert.ok(t >= 799 && t < 3000, `injected ${t} ms after the method started`);
    // a safety bound, not a timing: the record's stamps may trail the change by a loaded event loop's delay
    for (const f of run.faults) assert.ok(ms(f.revertedAt) - ms(f.injectedAt) >= 850, `held for its duration: ${ms(f.revertedAt) - ms(f.injectedAt)} ms of 1000`);
  });
});
