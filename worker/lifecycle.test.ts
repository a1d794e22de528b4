// The run lifecycle against real processes: a worker process, `sleep`
// victims and a real local HTTP server as the steady-state probe target.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RunRecord, TimelineEvent } from "../lib/contract";
import { apiCall, procState, ROOT, spawnVictims, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function experiment(o: { regex: string; probeUrl: string; signal?: string; duration?: string; extra?: string; name?: string; rollback?: string }): string {
  return `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${o.name ?? "victims"} }
spec:
  hypothesis: the probe target does not care about the victims
  targets:
    victims: { process: { cmdline: '${o.regex}' }, mode: all }
  steadyState:
    probes:
      - { name: up, type: http, url: "${o.probeUrl}", interval: 100ms, window: 1s, tolerance: { min: 0.9 } }
  method:
    - { fault: process-kill, target: victims, params: { signal: ${o.signal ?? "STOP"} }, duration: ${o.duration ?? "2s"} }
  rollback: ${o.rollback ?? "always"}
${o.extra ?? ""}`;
}

describe("run lifecycle with a worker process", { timeout: 120_000 }, () => {
  let server: http.Server;
  let probeUrl: string;
  let healthy = true;
  let worker: WorkerProc | undefined;
  const victims = spawnVictims(3);

  before(async () => {
    server = http.createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 503);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    probeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "300" } });
  });

  after(async () => {
    await worker?.stop();
    await victims.stop();
    server.closeAllConnections();
    server.close();
  });

  const waitFinal = (id: string, timeoutMs = 30_000) =>
    waitFor(
      `run ${id} to end`,
      async () => {
        const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${id}`);
        return ["completed", "aborted", "failed"].includes(body.run.state) ? body.run : null;
      },
      timeoutMs,
      100,
    );

  test("a step with every: rounds re-resolve, re-roll and revert each round (the sniper's schedule)", async () => {
    const yaml = experiment({ regex: victims.regex, probeUrl, name: "rounds", duration: "1500ms" })
      .replace("mode: all }", "mode: one }")
      .replace("duration: 1500ms }", "duration: 1500ms, every: 300ms, probability: 1 }");
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run = await waitFinal(r.body.run.id);
    assert.equal(run.state, "completed", JSON.stringify(run));
    // 1.5 s in 300 ms rounds: five rounds, one victim each; a round that overruns (inject and
    // revert on a loaded 2-core host) delays the next, so three is the floor, and never more than six
    assert.ok(run.faults.length >= 3 && run.faults.length <= 6, `rounds: ${run.faults.length}`);
    for (const f of run.faults) assert.equal(f.state, "reverted");
    const ev = await apiCall<{ events: { kind: string; message: string }[] }>(worker!, "GET", `/api/v1/runs/${r.body.run.id}/events`);
    assert.ok(ev.body.events.some((e) => e.kind === "targets-resolved" && /round 3 /.test(e.message)));
    for (const c of victims.children) assert.notEqual(procState(c.pid!), "T", `victim ${c.pid} still stopped`);
  });

  test("every must be shorter than the step and jitter shorter than every", async () => {
    const yaml = experiment({ regex: victims.regex, probeUrl, name: "bad-rounds", duration: "1s" }).replace("duration: 1s }", "duration: 1s, every: 2s, jitter: 3s }");
    const r = await apiCall<{ issues: { path: string; message: string }[] }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 422);
    const msgs = r.body.issues.map((i) => `${i.path}: ${i.message}`);
    assert.ok(msgs.includes("spec.method[0].every: must not exceed the step's duration"), msgs.join("\n"));
    assert.ok(msgs.includes("spec.method[0].jitter: must be shorter than every"), msgs.join("\n"));
  });

  test("STOP is applied to every victim, held for its duration, then reverted and verified", async () => {
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml: experiment({ regex: victims.regex, probeUrl }) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.run.id;
    await waitFor("victims to be stopped", () => victims.children.every((c) => procState(c.pid!) === "T"), 10_000);
    const run = await waitFinal(id);
    assert.equal(run.state, "completed");
    assert.equal(run.hypothesisHeld, true);
    assert.equal(run.faults.length, 3);
    for (const f of run.faults) {
      assert.equal(f.state, "reverted");
      assert.equal(f.verified, true);
      assert.match(f.targetId, /^pid:\d+@\d+$/);
    }
    for (const c of victims.children) assert.notEqual(procState(c.pid!), "T", `victim ${c.pid} still stopped`);
    const ev = await apiCall<{ events: { kind: string }[] }>(worker!, "GET", `/api/v1/runs/${id}/events`);
    const kinds = ev.body.events.map((e) => e.kind);
    for (const k of ["run-started", "steady-state-before", "targets-resolved", "injected", "reverted", "steady-state-after", "run-ended"]) assert.ok(kinds.includes(k), `missing event ${k}: ${kinds}`);
  });

  test("a breach aborts the run with evidence and reverts at once", async () => {
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", {
      yaml: experiment({ regex: victims.regex, probeUrl, duration: "60s", name: "breach" }),
    });
    assert.equal(r.status, 201);
    await waitFor("victims to be stopped", () => victims.children.every((c) => procState(c.pid!) === "T"), 10_000);
    healthy = false;
    try {
      const run = await waitFinal(r.body.run.id, 15_000);
      assert.equal(run.state, "aborted");
      assert.equal(run.hypothesisHeld, false);
      assert.equal(run.abort?.reason, "steady-state");
      assert.equal(run.abort?.probe, "up");
      assert.equal(run.abort?.measure, "successRate");
      assert.ok(typeof run.abort?.observed === "number" && run.abort.observed < 0.9, `observed ${run.abort?.observed}`);
      assert.deepEqual(run.abort?.threshold, { min: 0.9 });
      assert.ok(run.faults.every((f) => f.state === "reverted" && f.verified));
    } finally {
      healthy = true;
    }
    for (const c of victims.children) assert.notEqual(procState(c.pid!), "T");
  });

  test("one experiment at a time: a second start gets 409; manual abort reverts", async () => {
    const first = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", {
      yaml: experiment({ regex: victims.regex, probeUrl, duration: "60s", name: "first" }),
    });
    assert.equal(first.status, 201);
    const second = await apiCall<{ error: string; code: string }>(worker!, "POST", "/api/v1/runs", {
      yaml: experiment({ regex: victims.regex, probeUrl, name: "second" }),
    });
    assert.equal(second.status, 409);
    assert.match(second.body.error, /one experiment at a time/);
    await waitFor("victims to be stopped", () => victims.children.every((c) => procState(c.pid!) === "T"), 10_000);
    const ab = await apiCall<{ run: RunRecord }>(worker!, "POST", `/api/v1/runs/${first.body.run.id}/abort`);
    assert.equal(ab.status, 200);
    assert.equal(ab.body.run.state, "aborted");
    assert.equal(ab.body.run.abort?.reason, "manual");
    for (const c of victims.children) assert.notEqual(procState(c.pid!), "T");
  });

  test("HALT reverts changes that rollback: never left in place", async () => {
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", {
      yaml: experiment({ regex: victims.regex, probeUrl, duration: "60s", name: "never", rollback: "never" }),
    });
    await waitFor("victims to be stopped", () => victims.children.every((c) => procState(c.pid!) === "T"), 10_000);
    const ab = await apiCall<{ run: RunRecord }>(worker!, "POST", `/api/v1/runs/${r.body.run.id}/abort`);
    assert.equal(ab.body.run.state, "aborted");
    // rollback never: the changes stay until their duration ends...
    assert.ok(victims.children.every((c) => procState(c.pid!) === "T"));
    const blocked = await apiCall<{ error: string }>(worker!, "POST", "/api/v1/runs", { yaml: experiment({ regex: victims.regex, probeUrl, name: "blocked" }) });
    assert.equal(blocked.status, 409);
    // ...unless HALT
    const h = await apiCall<{ aborted: string[] }>(worker!, "POST", "/api/v1/halt");
    assert.equal(h.status, 200);
    assert.deepEqual(h.body.aborted, [r.body.run.id]);
    for (const c of victims.children) assert.notEqual(procState(c.pid!), "T");
  });

  test("a target that matches nothing fails the run cleanly", async () => {
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", {
      yaml: experiment({ regex: "^no-such-process-anywhere-\\d+$", probeUrl, name: "nomatch" }),
    });
    const run = await waitFinal(r.body.run.id);
    assert.equal(run.state, "aborted");
    assert.equal(run.abort?.reason, "error");
    assert.match(run.abort!.message, /matched no process/);
    assert.equal(run.faults.length, 0);
  });

  test("the run record and the injected event say how a network fault is made (mechanism and why)", async () => {
    // a port nobody uses on loopback: the drop rules touch no real traffic
    const yaml = experiment({ regex: victims.regex, probeUrl, name: "howto", duration: "1s" })
      .replace(/victims: \{ process: \{ cmdline: '[^']*' \}, mode: all \}/, "victims: { network: { dst: 127.0.0.1, dstPort: 9, protocol: udp } }")
      .replace("fault: process-kill, target: victims, params: { signal: STOP }", "fault: packet-loss, target: victims, params: { percent: 50 }");
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run = await waitFinal(r.body.run.id);
    assert.equal(run.state, "completed", JSON.stringify(run.abort));
    assert.equal(run.faults.length, 1);
    assert.equal(run.faults[0].state, "reverted");
    assert.equal(run.faults[0].verified, true);
    assert.match(run.faults[0].detail ?? "", /^iptables \(auto: independent drops need no netem\): chain GAMEDAY-[0-9a-f]+-OUT \(OUTPUT\)$/);
    const ev = await apiCall<{ events: TimelineEvent[] }>(worker!, "GET", `/api/v1/runs/${run.id}/events`);
    const injected = ev.body.events.find((e) => e.kind === "injected");
    assert.ok(injected?.message.endsWith(`: ${run.faults[0].detail}`), injected?.message);
  });

  test("a network fault aimed at processes that listen on no port ends the run with that reason, nothing injected", async () => {
    const yaml = experiment({ regex: victims.regex, probeUrl, name: "noport" })
      .replace(/victims: \{ process: \{ cmdline: '([^']*)' \}, mode: all \}/, "victims: { network: { process: { cmdline: '$1' } }, mode: all }")
      .replace("fault: process-kill, target: victims, params: { signal: STOP }", "fault: packet-loss, target: victims, params: { percent: 50 }");
    assert.match(yaml, /network: \{ process:/);
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run = await waitFinal(r.body.run.id);
    assert.equal(run.state, "aborted");
    assert.equal(run.abort?.reason, "error");
    assert.match(run.abort!.message, /^target "victims": process .*: its 3 processes listen on no TCP port$/);
    assert.equal(run.faults.length, 0);
  });

  test("the worker never targets itself or its parents", async () => {
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", {
      // only this checkout's worker (the kit's absolute path and port 0) and this test file: a KILL
      // aimed at every "worker/main.ts" would hit anyone else's worker on the machine, and their shells
      yaml: experiment({ regex: `${reEscape(ROOT)}/worker/(main\\.ts --port 0|lifecycle\\.test\\.ts)`, probeUrl, name: "self", signal: "KILL" }),
    });
    const run = await waitFinal(r.body.run.id);
    assert.equal(run.state, "aborted");
    // the regex does find them, the worker and this test: both protected
    assert.match(run.abort!.message, /matched no process \(([2-9]|\d\d+) protected/);
    assert.equal(worker!.child.exitCode, null, "worker must still be alive");
  });
});
