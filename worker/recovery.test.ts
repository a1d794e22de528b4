// Crash safety: SIGKILL the worker while a SIGSTOP fault is in place; the next
// worker start must revert it from the journal and close the run.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RunRecord } from "../lib/contract";
import { apiCall, procState, spawnVictims, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";

const victims = spawnVictims(2);
let worker: WorkerProc | undefined;
const server = http.createServer((_q, s) => s.end("ok"));

after(async () => {
  await worker?.stop();
  await victims.stop();
  server.close();
});

test("after a worker SIGKILL mid-fault, the next start leaves no process stopped", { timeout: 90_000 }, async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const home = tempHome();
  worker = await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
  const yaml = `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: crash }
spec:
  hypothesis: a crash of the worker does not leave processes frozen
  targets: { v: { process: { cmdline: '${victims.regex}' } } }
  steadyState: { probes: [ { name: up, type: http, url: "${url}", interval: 100ms, tolerance: { min: 0.5 } } ] }
  method: [ { fault: process-kill, target: v, params: { signal: STOP }, duration: 10m } ]
`;
  const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await waitFor("victims to be stopped", () => victims.children.every((c) => procState(c.pid!) === "T"), 10_000);

  await worker.stop("SIGKILL");
  // nobody reverts: they stay stopped while no worker runs
  await new Promise((res) => setTimeout(res, 300));
  for (const c of victims.children) assert.equal(procState(c.pid!), "T", "victim should still be stopped after the crash");

  worker = await startWorkerProcess(home);
  for (const c of victims.children) {
    await waitFor(`victim ${c.pid} to run again`, () => procState(c.pid!) !== "T", 5000);
  }
  const { body } = await apiCall<{ run: RunRecord }>(worker, "GET", `/api/v1/runs/${r.body.run.id}`);
  assert.equal(body.run.state, "failed");
  assert.match(body.run.error ?? "", /worker stopped during this run/);
  assert.equal(body.run.faults.length, 2);
  for (const f of body.run.faults) {
    assert.equal(f.state, "reverted");
    assert.equal(f.verified, true);
  }
  const ev = await apiCall<{ events: { kind: string }[] }>(worker, "GET", `/api/v1/runs/${r.body.run.id}/events`);
  assert.equal(ev.body.events.filter((e) => e.kind === "recovered").length, 2);
});
