// Crash safety: SIGKILL the worker while a SIGSTOP fault is in place. Its
// reaper (the dead man's switch) reverts from the journal within 2 s with no
// worker running; if the reaper is gone too, the next worker start reverts.
// Either way the next start closes the run and its record says what happened.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RunRecord } from "../lib/contract";
import { apiCall, procState, spawnVictims, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";
import { listProcesses } from "../lib/procfs";

const victims = spawnVictims(2);
let worker: WorkerProc | undefined;
const server = http.createServer((_q, s) => s.end("ok"));

after(async () => {
  await worker?.stop();
  await victims.stop();
  server.close();
});

/** The reaper processes watching holders whose journals live in home. */
const reapersOf = (home: string) => listProcesses().filter((p) => p.cmdline.includes("agent/reaper.ts") && p.cmdline.includes(home));

async function crashRun(home: string, url: string, name: string): Promise<string> {
  await worker?.stop();
  worker = await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
  const yaml = `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: a crash of the worker does not leave processes frozen
  targets: { v: { process: { cmdline: '${victims.regex}' } } }
  steadyState: { probes: [ { name: up, type: http, url: "${url}", interval: 100ms, tolerance: { min: 0.5 } } ] }
  method: [ { fault: process-kill, target: v, params: { signal: STOP }, duration: 10m } ]
`;
  const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await waitFor("victims to be stopped", () => victims.children.every((c) => procState(c.pid!) === "T"), 10_000);
  return r.body.run.id;
}

async function assertClosed(runId: string, how: RegExp): Promise<void> {
  const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${runId}`);
  assert.equal(body.run.state, "failed");
  assert.match(body.run.error ?? "", /worker stopped during this run/);
  assert.equal(body.run.faults.length, 2);
  for (const f of body.run.faults) {
    assert.equal(f.state, "reverted");
    assert.equal(f.verified, true);
  }
  const ev = await apiCall<{ events: { kind: string; message: string }[] }>(worker!, "GET", `/api/v1/runs/${runId}/events`);
  const recovered = ev.body.events.filter((e) => e.kind === "recovered");
  assert.equal(recovered.length, 2);
  for (const e of recovered) assert.match(e.message, how);
}

test("after a worker SIGKILL mid-fault, its reaper resumes the processes within 2 s with no worker running", { timeout: 90_000 }, async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const home = tempHome();
  const runId = await crashRun(home, url, "crash");
  assert.equal(reapersOf(home).length, 1, "one reaper watches the worker");
  const t0 = performance.now();
  await worker!.stop("SIGKILL");
  for (const c of victims.children) await waitFor(`victim ${c.pid} to run again`, () => procState(c.pid!) !== "T", 2000, 10);
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `reverted ${ms.toFixed(0)} ms after the SIGKILL`);
  await waitFor("the reaper to exit", () => reapersOf(home).length === 0, 5000);

  worker = await startWorkerProcess(home);
  await assertClosed(runId, /reverted by the dead man's switch \(reaper\)/);
});

test("when the reaper died too, the next worker start reverts from the journal", { timeout: 90_000 }, async () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const home = tempHome();
  const runId = await crashRun(home, url, "crash-twice");
  for (const r of reapersOf(home)) process.kill(r.pid, "SIGKILL");
  await worker!.stop("SIGKILL");
  // nobody reverts: they stay stopped while neither a worker nor a reaper runs
  await new Promise((res) => setTimeout(res, 500));
  for (const c of victims.children) assert.equal(procState(c.pid!), "T", "victim should still be stopped after the crash");

  worker = await startWorkerProcess(home);
  for (const c of victims.children) {
    await waitFor(`victim ${c.pid} to run again`, () => procState(c.pid!) !== "T", 5000);
  }
  await assertClosed(runId, /start-up recovery: process-kill on .* reverted/);
});
