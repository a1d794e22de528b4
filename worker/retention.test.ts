// The audit log's retention on a real SQLite database: only rows older than
// the retention go, in batches (the event loop keeps turning between them),
// a worker process trims at its start and records the trim, "forever" and 0
// keep everything, and a bad GAMEDAY_AUDIT_RETENTION_DAYS stops the worker at
// start with the variable's name.
import { after, before, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { configSchema } from "../lib/config";
import { API, type AuditEntry } from "../lib/contract";
import { openDb, type Db } from "../lib/db";
import { createLogger } from "../lib/log";
import { apiCall, EXIT_WITH_PARENT, ROOT, sleep, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";
import { Audit } from "./audit";
import { AuditRetention, trimAudit } from "./retention";

const DAY = 24 * 3_600_000;
const dbOf = (home: string) => openDb(`file:${path.join(home, "gameday.db")}`);

/** `n` audit rows at `at`, written straight into the table. */
async function insertRows(db: Db, n: number, at: Date, action = "old-thing"): Promise<void> {
  for (let i = 0; i < n; i += 5000) {
    const data = Array.from({ length: Math.min(5000, n - i) }, (_v, k) => ({ at, actor: "someone", action, target: `t${i + k}`, ok: true }));
    await db.auditEvent.createMany({ data });
  }
}

describe("GAMEDAY_AUDIT_RETENTION_DAYS", () => {
  test("days, 0 or forever (keep all), default 365; anything else names the variable", () => {
    const parse = (v: string | undefined) => configSchema.shape.GAMEDAY_AUDIT_RETENTION_DAYS.safeParse(v);
    assert.equal(parse(undefined).data, 365);
    assert.equal(parse("").data, 365);
    assert.equal(parse("30").data, 30);
    assert.equal(parse(" 7 ").data, 7);
    assert.equal(parse("0").data, null);
    assert.equal(parse("forever").data, null);
    for (const bad of ["1y", "-1", "3.5", "never", "1e3"]) assert.equal(parse(bad).success, false, bad);
  });
});

describe("audit trim (in process, SQLite)", () => {
  let db: Db;
  before(async () => {
    db = await dbOf(tempHome());
  });
  after(() => db?.$disconnect());

  test("only rows older than the retention go, oldest first, a batch at a time; stopping ends it between batches", async () => {
    const now = Date.now();
    await insertRows(db, 20, new Date(now - 400 * DAY));
    await insertRows(db, 1, new Date(now - 365 * DAY), "at-the-cutoff");
    await insertRows(db, 3, new Date(now - 10 * DAY), "recent");

    let batches = 0;
    const stopped = await trimAudit(db, 365, now, () => batches++ >= 1, 7);
    assert.equal(stopped.deleted, 7, "one batch, then it stopped");
    assert.equal(stopped.cutoff.getTime(), now - 365 * DAY);
    const oldest = await db.auditEvent.findFirst({ where: { action: "old-thing" }, orderBy: { id: "asc" } });
    assert.equal(oldest?.target, "t7", "the oldest rows went first");

    const r = await trimAudit(db, 365, now, () => false, 7);
    assert.equal(r.deleted, 13);
    const left = await db.auditEvent.groupBy({ by: ["action"], _count: true, orderBy: { action: "asc" } });
    assert.deepEqual(left.map((g) => [g.action, g._count]), [["at-the-cutoff", 1], ["recent", 3]], "a row exactly at the cutoff is kept");
    assert.equal((await trimAudit(db, 365, now)).deleted, 0);
  });

  test("a trim of 60000 rows leaves the event loop turning (measured), and records itself once; a second trim joins the first", async (t) => {
    await db.auditEvent.deleteMany({});
    await insertRows(db, 60_000, new Date(Date.now() - 800 * DAY));
    await insertRows(db, 2, new Date(), "recent");
    const audit = new Audit(db, createLogger({}, () => undefined));
    const retention = new AuditRetention(db, audit, createLogger({}, () => undefined), 365);
    const lag = monitorEventLoopDelay({ resolution: 5 });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    lag.enable();
    const started = performance.now();
    const a = retention.trim();
    const b = retention.trim();
    assert.equal(a, b, "a trim in flight is joined, not doubled");
    await a;
    const ms = performance.now() - started;
    lag.disable();
    clearInterval(ticker);
    await audit.flush();
    t.diagnostic(`60000 rows in ${ms.toFixed(0)} ms; event loop delay max ${(lag.max / 1e6).toFixed(1)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms; ${ticks} ticks of a 10 ms timer ran meanwhile`);
    assert.equal(await db.auditEvent.count({ where: { action: "old-thing" } }), 0);
    assert.equal(await db.auditEvent.count({ where: { action: "recent" } }), 2);
    const trims = await db.auditEvent.findMany({ where: { action: "audit-trim" } });
    assert.equal(trims.length, 1);
    assert.deepEqual({ ...JSON.parse(trims[0].detail!), before: undefined }, { deleted: 60_000, retentionDays: 365, before: undefined });
    assert.equal(trims[0].actor, "worker");
    // generous: a 10 ms timer ran while the rows went, so no single statement held the loop for the whole trim
    assert.ok(ms < 20 || ticks >= 1, `no timer ran during a ${ms.toFixed(0)} ms trim`);
    assert.ok(lag.max / 1e6 < 2000, `the event loop stalled ${(lag.max / 1e6).toFixed(0)} ms`);
    await retention.stop();
  });
});

describe("the daily trim", () => {
  test("start() trims at once and then every 24 h on a timer; stop() ends it", async () => {
    const db = await dbOf(tempHome());
    mock.timers.enable({ apis: ["setInterval"] });
    try {
      await insertRows(db, 3, new Date(Date.now() - 40 * DAY));
      const audit = new Audit(db, createLogger({}, () => undefined));
      const retention = new AuditRetention(db, audit, createLogger({}, () => undefined), 30);
      retention.start();
      await retention.trim(); // joins the trim start() began
      assert.equal(await db.auditEvent.count({ where: { action: "old-thing" } }), 0, "the trim at start");
      await insertRows(db, 4, new Date(Date.now() - 31 * DAY), "second-day");
      mock.timers.tick(DAY - 1000);
      await sleep(200);
      assert.equal(await db.auditEvent.count({ where: { action: "second-day" } }), 4, "no trim before the day is over");
      mock.timers.tick(1000);
      // only the timer can trim these: nothing here calls trim()
      await waitFor("the daily trim", async () => (await db.auditEvent.count({ where: { action: "second-day" } })) === 0, 10_000);
      await retention.stop();
      await insertRows(db, 1, new Date(Date.now() - 31 * DAY), "after-stop");
      mock.timers.tick(DAY);
      await audit.flush();
      assert.equal(await db.auditEvent.count({ where: { action: "after-stop" } }), 1, "no trim after stop()");
      const trims = await db.auditEvent.findMany({ where: { action: "audit-trim" }, orderBy: { id: "asc" } });
      assert.ok(trims.length >= 2, `${trims.length} trims recorded`);
      assert.equal(trims[0].detail && JSON.parse(trims[0].detail).deleted, 3);
    } finally {
      mock.timers.reset();
      await db.$disconnect();
    }
  });
});

describe("audit retention in a worker process", { timeout: 120_000 }, () => {
  const workers: WorkerProc[] = [];
  after(async () => {
    for (const w of workers) await w.stop();
  });

  async function homeWithOldRows(): Promise<string> {
    const home = tempHome();
    const db = await dbOf(home);
    await insertRows(db, 1200, new Date(Date.now() - 400 * DAY));
    await insertRows(db, 5, new Date(Date.now() - 30 * DAY), "recent");
    await db.$disconnect();
    return home;
  }

  test("the worker trims at its start (default 365 days) and the trim is in the audit log", async () => {
    const home = await homeWithOldRows();
    const w = await startWorkerProcess(home);
    workers.push(w);
    const trims = await waitFor(
      "the audit-trim event",
      async () => {
        const r = await apiCall<{ events: AuditEntry[] }>(w, "GET", `${API.audit}?action=audit-trim`);
        return r.body.events.length ? r.body.events : null;
      },
      30_000,
      200,
    );
    assert.equal(trims.length, 1);
    assert.equal(trims[0].actor, "worker");
    assert.equal(trims[0].ok, true);
    assert.equal(trims[0].detail?.deleted, 1200);
    assert.equal(trims[0].detail?.retentionDays, 365);
    const cutoff = Date.parse(String(trims[0].detail?.before));
    assert.ok(Math.abs(cutoff - (Date.now() - 365 * DAY)) < 120_000, `before ${trims[0].detail?.before}`);
    const db = await dbOf(home);
    try {
      assert.equal(await db.auditEvent.count({ where: { action: "old-thing" } }), 0);
      assert.equal(await db.auditEvent.count({ where: { action: "recent" } }), 5, "rows inside the retention stay");
    } finally {
      await db.$disconnect();
    }
  });

  test("forever keeps every row", async () => {
    const home = await homeWithOldRows();
    const w = await startWorkerProcess(home, { env: { GAMEDAY_AUDIT_RETENTION_DAYS: "forever" } });
    workers.push(w);
    // the worker is up and has answered: a trim at start would have begun before it was ready
    const r = await apiCall<{ events: AuditEntry[] }>(w, "GET", `${API.audit}?limit=1000`);
    assert.equal(r.status, 200);
    assert.ok(!r.body.events.some((e) => e.action === "audit-trim"));
    const db = await dbOf(home);
    try {
      assert.equal(await db.auditEvent.count({ where: { action: "old-thing" } }), 1200);
    } finally {
      await db.$disconnect();
    }
  });

  test("a bad value stops the worker at start with the variable's name", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", ...EXIT_WITH_PARENT, path.join(ROOT, "worker/main.ts"), "--port", "0"], {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_HOME: tempHome(), GAMEDAY_AUDIT_RETENTION_DAYS: "1y", GAMEDAY_LOG: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.on("exit", (c) => (clearTimeout(t), resolve(c)));
    });
    assert.equal(code, 1, `stdout: ${stdout}\nstderr: ${stderr}`);
    assert.match(stderr, /gameday worker: GAMEDAY_AUDIT_RETENTION_DAYS must be a whole number of days \(0 or "forever" keeps every row\) \(got "1y"\)/);
    assert.doesNotMatch(stdout, /"ready"/);
  });
});
