// One run at a time, by construction: 20 concurrent POST /api/v1/runs to a
// real worker start exactly one run; two starts in the same tick cannot
// both pass the in-process reservation; a run the database shows in
// progress (another worker on the same database) refuses a new one.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import Database from "better-sqlite3";
import { createLogger } from "../lib/log";
import { apiCall, freezeExperiment, ROOT, spawnVictims, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";
import { startWorker, type RunningWorker } from "./app";

let probe: http.Server;
let probeUrl = "";
const victims = spawnVictims(2);
const experiment = (name: string) => freezeExperiment(name, `{ process: { cmdline: "${victims.regex.replace(/\\/g, "\\\\")}" }, mode: one }`, probeUrl);

before(async () => {
  probe = http.createServer((_q, r) => r.end("ok"));
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
});
after(async () => {
  await victims.stop();
  probe.close();
});

describe("admission against a real worker process", { timeout: 90_000 }, () => {
  let w: WorkerProc;
  before(async () => {
    w = await startWorkerProcess(tempHome("gameday-admit-"), { env: { GAMEDAY_WARMUP_MS: "200" } });
  });
  after(async () => {
    await apiCall(w, "POST", "/api/v1/halt").catch(() => undefined);
    await w?.stop();
  });

  test("20 concurrent POST /api/v1/runs: exactly one 201, nineteen 409 with the reason", async () => {
    const yaml = experiment("admit-twenty");
    const answers = await Promise.all(Array.from({ length: 20 }, () => apiCall<{ run?: { id: string }; error?: string }>(w, "POST", "/api/v1/runs", { yaml })));
    const created = answers.filter((a) => a.status === 201);
    const refused = answers.filter((a) => a.status === 409);
    assert.equal(created.length, 1, `statuses: ${answers.map((a) => a.status).join(",")}`);
    assert.equal(refused.length, 19);
    for (const r of refused) assert.match(r.body.error!, /one experiment at a time/);
    const runs = await apiCall<{ runs: { id: string }[] }>(w, "GET", "/api/v1/runs");
    assert.deepEqual(runs.body.runs.map((r) => r.id), [created[0].body.run!.id], "one run row in the database");
  });
});

describe("admission in process", { timeout: 60_000 }, () => {
  let w: RunningWorker;
  let home = "";
  const prevHome = process.env.GAMEDAY_HOME;
  before(async () => {
    home = tempHome("gameday-admit-");
    process.env.GAMEDAY_HOME = home;
    w = await startWorker({ port: 0, host: "127.0.0.1", topologyFile: null, examplesDir: path.join(ROOT, "examples"), warmupMs: 200, log: createLogger({}, () => undefined) });
  });
  after(async () => {
    await w?.close();
    process.env.GAMEDAY_HOME = prevHome;
  });

  test("two starts in the same tick: the second is refused before any await (the in-process reservation)", async () => {
    const first = w.engine.start(experiment("same-tick-a"), "a");
    const second = w.engine.start(experiment("same-tick-b"), "b");
    const [a, b] = await Promise.allSettled([first, second]);
    assert.equal(a.status, "fulfilled");
    assert.equal(b.status, "rejected");
    assert.match((b as PromiseRejectedResult).reason.message, /is being started; one experiment at a time/);
    await w.engine.halt("test");
    await w.engine.flush();
  });

  test("the worker's validate API returns the plan; a run that spec.safety refuses gets 422 naming the field, nothing starts", async () => {
    const token = (JSON.parse((await import("node:fs")).readFileSync(path.join(home, "cli.json"), "utf8")) as { token: string }).token;
    const api = { url: w.url, token };
    const broad = experiment("too-broad").replace(/victims: .*/, `victims: { process: { cmdline: "." } }`);
    const v = await apiCall<{ ok: boolean; plan: { refusals: { path: string; message: string }[]; steps: { matched: string[] }[] } }>(api, "POST", "/api/v1/experiments/validate", { yaml: broad });
    assert.equal(v.status, 200);
    assert.ok(v.body.plan.refusals.some((r) => r.path === "spec.targets.victims" && /matches most of the host/.test(r.message)), JSON.stringify(v.body.plan.refusals));
    const good = await apiCall<{ plan: { refusals: unknown[]; steps: { matched: string[] }[] } }>(api, "POST", "/api/v1/experiments/validate", { yaml: experiment("fine") });
    assert.deepEqual(good.body.plan.refusals, []);
    assert.equal(good.body.plan.steps[0].matched.length, 2, "both victims listed");
    const run = await apiCall<{ issues?: { path: string }[] }>(api, "POST", "/api/v1/runs", { yaml: broad });
    assert.equal(run.status, 422);
    assert.ok(run.body.issues?.some((i) => i.path === "spec.targets.victims"));
    assert.equal(w.engine.activeRunId(), null);
  });

  test("a run that lifts a guard records who lifted it and why in its timeline", async () => {
    const yaml = experiment("lifted").replace("  rollback: always", `  rollback: always\n  safety: { allowControlPlane: true, reason: "a drill with the console at hand" }`);
    const run = await w.engine.start(yaml, "ops");
    try {
      const ev = await waitFor("the safety event", async () => (await w.db.runEvent.findMany({ where: { runId: run.id, kind: "safety" } }))[0], 10_000);
      assert.equal(ev.message, "spec.safety lifted by ops: allowControlPlane (reason: a drill with the console at hand)");
    } finally {
      await w.engine.halt("test");
      await w.engine.flush();
    }
  });

  test("a run the database shows in progress (another worker) refuses a new one: the DB-level guard", async () => {
    const other = new Database(path.join(home, "gameday.db"));
    other
      .prepare(`INSERT INTO "Run" ("id", "name", "state", "experimentYaml", "experimentJson", "startedBy", "createdAt") VALUES (?, ?, 'running', '', '{}', 'other-worker', ?)`)
      .run("other-worker-run", "elsewhere", new Date().toISOString());
    try {
      await assert.rejects(w.engine.start(experiment("db-guard"), "me"), (e: Error & { code?: string }) => {
        assert.match(e.message, /run other-worker-run \(elsewhere\) is in progress according to the database/);
        return true;
      });
      assert.equal(w.engine.activeRunId(), null, "nothing started here");
    } finally {
      other.prepare(`DELETE FROM "Run" WHERE "id" = ?`).run("other-worker-run");
      other.close();
    }
  });
});
