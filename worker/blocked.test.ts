// A change whose revert cannot be verified is not forgotten: the run ends,
// the change stays "to revert", new runs are refused naming it, `gameday
// status` shows it, and `gameday recover` reverts it once it can. Against an
// in-process worker on real SQLite, a real stopped process, and the real CLI.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createLogger } from "../lib/log";
import type { RunRecord } from "../lib/contract";
import { procState, ROOT, runCli, spawnVictims, tempHome, waitFor } from "../e2e/kit";
import { control, FLAKY } from "../e2e/flaky-injector";
import { startWorker, type RunningWorker } from "./app";

const victims = spawnVictims(1);
const server = http.createServer((_q, s) => s.end("ok"));
let w: RunningWorker;
let token = "";
let home = "";
const prev = { home: process.env.GAMEDAY_HOME, warm: process.env.GAMEDAY_WARMUP_MS };

before(async () => {
  home = tempHome();
  process.env.GAMEDAY_HOME = home;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  w = await startWorker({ port: 0, host: "127.0.0.1", topologyFile: null, examplesDir: path.join(ROOT, "examples"), warmupMs: 300, log: createLogger({}, () => undefined) });
  token = (JSON.parse((await import("node:fs")).readFileSync(path.join(home, "cli.json"), "utf8")) as { token: string }).token;
});
after(async () => {
  await w?.close();
  server.close();
  await victims.stop();
  process.env.GAMEDAY_HOME = prev.home;
});

const call = async <T>(method: string, p: string, body?: unknown) => {
  const r = await fetch(w.url + p, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: (await r.json()) as T };
};

test("an unverified revert blocks the next run with the reason until gameday recover reverts it", { timeout: 60_000 }, async () => {
  const ctl = path.join(home, "flaky.json");
  control(ctl, { revertFailures: -1 });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const yaml = (name: string) => `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: the victim copes with a pause
  targets: { v: { process: { cmdline: '${victims.regex}' } } }
  steadyState: { probes: [ { name: up, type: http, url: "${url}", interval: 100ms, window: 500ms, tolerance: { min: 0.5 } } ] }
  method: [ { fault: ${FLAKY}, target: v, params: { control: "${ctl}" }, duration: 600ms } ]
`;
  const first = await call<{ run: RunRecord }>("POST", "/api/v1/runs", { yaml: yaml("blocked") });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  const ended = await waitFor("the run to end", async () => {
    const r = await call<{ run: RunRecord }>("GET", `/api/v1/runs/${first.body.run.id}`);
    return r.body.run.endedAt && r.body.run.faults[0]?.state === "to-revert" ? r.body.run : null;
  }, 20_000);
  assert.match(ended.error ?? "", /could not be verified as reverted/);
  assert.equal(ended.faults[0].verified, false);
  const pid = victims.children[0].pid!;
  assert.equal(procState(pid), "T", "the change is still in place");

  const refused = await call<{ error: string }>("POST", "/api/v1/runs", { yaml: yaml("next") });
  assert.equal(refused.status, 409);
  assert.match(refused.body.error, new RegExp(`1 change\\(s\\) on this host are not verified reverted: ${FLAKY} on sleep\\[${pid}\\] \\(run ${ended.id}\\): revert not verified: simulated: the lock is still held; HALT or \`gameday recover\` retries them`));

  const status = await runCli(["status"], { GAMEDAY_HOME: home });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /NOT REVERTED: 1 change\(s\) on this host/);

  // still failing: recover says so and exits non-zero
  const stillStuck = await runCli(["recover"], { GAMEDAY_HOME: home });
  assert.equal(stillStuck.code, 1);
  assert.match(stillStuck.stderr, /STILL NOT REVERTED test-flaky-stop on sleep/);
  assert.equal(procState(pid), "T");

  control(ctl, {});
  const cleared = await runCli(["recover"], { GAMEDAY_HOME: home });
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.match(cleared.stdout, /reverted 1 change\(s\)/);
  assert.notEqual(procState(pid), "T");
  await w.engine.flush();
  const after = await call<{ run: RunRecord }>("GET", `/api/v1/runs/${ended.id}`);
  assert.equal(after.body.run.faults[0].state, "reverted");
  assert.equal(after.body.run.faults[0].verified, true);
  const next = await call<{ run: RunRecord }>("POST", "/api/v1/runs", { yaml: yaml("after-recover") });
  assert.equal(next.status, 201, JSON.stringify(next.body));
  await call("POST", "/api/v1/halt");
});
