// The gameday CLI as a user runs it: a separate process, talking to a real
// worker process found through the local state file.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { procState, runCli, spawnVictims, startWorkerProcess, tempDir, tempHome, waitFor, type WorkerProc } from "../e2e/kit";

describe("gameday CLI", { timeout: 120_000 }, () => {
  let worker: WorkerProc | undefined;
  let healthy = true;
  const victims = spawnVictims(2);
  const server = http.createServer((_q, s) => {
    s.writeHead(healthy ? 200 : 500);
    s.end();
  });
  const dir = tempDir("gameday-cli-");
  let env: Record<string, string>;
  let url = "";

  const write = (name: string, body: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, body);
    return f;
  };
  const exp = (duration: string, name: string) => `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: the service shrugs off frozen victims
  targets: { v: { process: { cmdline: '${victims.regex}' } } }
  steadyState: { probes: [ { name: up, type: http, url: "${url}", interval: 100ms, window: 1s, tolerance: { min: 0.9 } } ] }
  method: [ { fault: process-kill, target: v, params: { signal: STOP }, duration: ${duration} } ]
`;

  before(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const home = tempHome();
    worker = await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
    env = { GAMEDAY_HOME: home };
  });
  after(async () => {
    await worker?.stop();
    await victims.stop();
    server.close();
  });

  test("the local token file is private (mode 0600)", () => {
    const st = fs.statSync(path.join(env.GAMEDAY_HOME, "cli.json"));
    assert.equal(st.mode & 0o777, 0o600);
  });

  test("validate: a good file exits 0, a bad one exits 1 naming each field", async () => {
    const ok = await runCli(["validate", write("ok.yaml", exp("1s", "ok"))], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /valid/);
    const bad = await runCli(["validate", write("bad.yaml", exp("-3s", "bad").replace("signal: STOP", "signal: NOPE"))], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /spec\.method\[0\]\.duration: must not be negative/);
    assert.match(bad.stderr, /spec\.method\[0\]\.params\.signal: expected one of/);
    const missing = await runCli(["validate", path.join(dir, "nope.yaml")], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file/);
  });

  test("run of an invalid file starts nothing and exits 1", async () => {
    const r = await runCli(["run", write("unknown.yaml", exp("1s", "x").replace("process-kill", "meteor")), "--wait"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nothing started/);
    assert.match(r.stderr, /unknown fault "meteor"/);
    for (const c of victims.children) assert.notEqual(procState(c.pid!), "T");
  });

  test("run --wait --json: completed with the hypothesis held exits 0", async () => {
    const r = await runCli(["run", write("short.yaml", exp("1s", "short")), "--wait", "--json"], env);
    assert.equal(r.code, 0, r.stderr);
    const run = JSON.parse(r.stdout);
    assert.equal(run.state, "completed");
    assert.equal(run.hypothesisHeld, true);
    assert.equal(run.faults.length, 2);
    for (const f of run.faults) assert.equal(f.state, "reverted");
  });

  test("run --wait --json: a steady-state abort exits 2 with the reason", async () => {
    const pending = runCli(["run", write("long.yaml", exp("60s", "long")), "--wait", "--json"], env);
    await waitFor("victims to be stopped", () => victims.children.every((c) => procState(c.pid!) === "T"), 15_000);
    healthy = false;
    const r = await pending;
    healthy = true;
    assert.equal(r.code, 2, r.stderr);
    const run = JSON.parse(r.stdout);
    assert.equal(run.state, "aborted");
    assert.equal(run.abort.reason, "steady-state");
    assert.equal(typeof run.abort.observed, "number");
    for (const f of run.faults) assert.equal(f.state, "reverted");
    for (const c of victims.children) assert.notEqual(procState(c.pid!), "T");
  });

  test("halt and abort through the CLI revert everything", async () => {
    const started = await runCli(["run", write("h.yaml", exp("60s", "h")), "--json"], env);
    assert.equal(started.code, 0, started.stderr);
    const id = JSON.parse(started.stdout).id as string;
    await waitFor("victims to be stopped", () => victims.children.every((c) => procState(c.pid!) === "T"), 15_000);
    const status = await runCli(["status"], env);
    assert.match(status.stdout, new RegExp(`active run: ${id}`));
    const h = await runCli(["halt"], env);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`aborted ${id}`));
    for (const c of victims.children) assert.notEqual(procState(c.pid!), "T");
    const again = await runCli(["abort", id], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already ended \(aborted\)/);
  });

  test("a wrong token is refused", async () => {
    const r = await runCli(["halt", "--token", "not-a-token"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /check your token/);
  });
});
