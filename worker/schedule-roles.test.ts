// The routes #12 added, by role, against an in-process worker: a viewer
// reads schedules, previews fire times and subscribes to the kill switch,
// but every change to a schedule is a 403 naming the role and changes
// nothing; without credentials everything is a 401.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { API, type ScheduleInfo } from "../lib/contract";
import { createLogger } from "../lib/log";
import { startWorker, type RunningWorker } from "./app";
import { inertExperiment, ROOT, tempHome } from "../e2e/kit";

const EXP = inertExperiment("roles-exp");

describe("schedule and kill-switch routes by role", { timeout: 60_000 }, () => {
  let w: RunningWorker;
  let viewer = "";
  let operator = "";
  const prevHome = process.env.GAMEDAY_HOME;

  before(async () => {
    process.env.GAMEDAY_HOME = tempHome();
    w = await startWorker({ port: 0, host: "127.0.0.1", topologyFile: null, examplesDir: path.join(ROOT, "examples"), log: createLogger({ component: "test" }) });
    const vera = await w.auth.createUser("vera", "viewer-password", "viewer");
    viewer = await w.auth.createToken(vera.id, "vera");
    const olga = await w.auth.createUser("olga", "operator-password", "operator");
    operator = await w.auth.createToken(olga.id, "olga");
  });
  after(async () => {
    await w?.close();
    process.env.GAMEDAY_HOME = prevHome;
  });

  const call = async (token: string | null, method: string, p: string, body?: unknown) => {
    const res = await fetch(w.url + p, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error?: string } & Record<string, unknown> };
  };

  test("a viewer reads and previews; every change is a 403 that changes nothing", async () => {
    const created = await call(operator, "POST", API.schedules, { name: "roles", yaml: EXP, cron: "0 14 * * 2" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = (created.body.schedule as ScheduleInfo).id;
    assert.equal((await call(viewer, "GET", API.schedules)).status, 200);
    assert.equal((await call(viewer, "GET", API.schedule(id))).status, 200);
    assert.equal((await call(viewer, "POST", API.schedulePreview, { name: "x", yaml: EXP, cron: "0 * * * *" })).status, 200);
    assert.equal((await call(viewer, "GET", API.abortSignal)).status, 200);
    for (const [p, body] of [
      [API.schedules, { name: "nope", yaml: EXP, cron: "0 14 * * 2" }],
      [API.schedule(id), { cron: "0 15 * * 2" }],
      [API.schedulePause(id), {}],
      [API.scheduleResume(id), {}],
      [API.scheduleDelete(id), {}],
    ] as const) {
      const r = await call(viewer, "POST", p, body);
      assert.equal(r.status, 403, p);
      assert.equal(r.body.error, "this needs the operator role; vera is viewer");
    }
    const after = (await call(viewer, "GET", API.schedule(id))).body.schedule as ScheduleInfo;
    assert.deepEqual([after.cron, after.paused], ["0 14 * * 2", false]);
    assert.equal(((await call(viewer, "GET", API.schedules)).body.schedules as ScheduleInfo[]).length, 1);
  });

  test("without credentials: 401", async () => {
    for (const [m, p] of [["GET", API.schedules], ["GET", API.abortSignal], ["POST", API.schedulePreview]] as const) assert.equal((await call(null, m, p, m === "POST" ? {} : undefined)).status, 401, p);
  });
});
