// The scheduler on an injectable clock (no waiting for Tuesday) over a real
// SQLite database: cron slots in a time zone across a DST change, allowed
// windows and blackout dates, the minimum gap, a random time inside the
// window, queue and skip when a run is in progress, every slot that did not
// simply fire recorded with its reason, slots passed while no worker ran
// recorded as missed at start, pause and resume, and precise input errors.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
// the injectors fill lib/catalog, which validates the experiment of a schedule
import "../injectors";
import { openDb, type Db } from "../lib/db";
import { createLogger } from "../lib/log";
import { ApiErr } from "../lib/errors";
import { inertExperiment, tempHome } from "../e2e/kit";
import { nextFires, Scheduler, slotRefusal, type Clock } from "./scheduler";

const log = createLogger({ component: "scheduler-test" });
const realSleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class FakeClock implements Clock {
  private timers = new Map<number, { at: number; fn: () => void }>();
  private seq = 0;
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Run every timer due up to now + ms in order, letting the scheduler's database work finish after each. */
  async advance(ms: number, s: Scheduler): Promise<void> {
    const end = this.t + ms;
    for (let i = 0; i < 10_000; i++) {
      await Promise.race([s.idle(), realSleep(200)]);
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
    await Promise.race([s.idle(), realSleep(200)]);
  }
}

const EXP = inertExperiment("sched-exp");

describe("scheduler (injectable clock)", { timeout: 60_000 }, () => {
  let db: Db;
  before(async () => {
    db = await openDb(`file:${path.join(tempHome("gameday-sched-"), "gameday.db")}`);
  });
  after(async () => db?.$disconnect());

  /** A scheduler on a fresh calendar (the schedules of earlier tests removed). */
  async function harness(start: string, opts: { rnd?: () => number } = {}) {
    await db.schedule.deleteMany();
    const clock = new FakeClock(Date.parse(start));
    const launched: { by: string; at: number; scheduleId: string }[] = [];
    const state = { busy: null as { id: string; name: string } | null, refuse: null as string | null };
    const s = new Scheduler({
      db,
      log,
      clock,
      rnd: opts.rnd,
      launch: async (_yaml, by, scheduleId) => {
        if (state.refuse) throw new ApiErr("conflict", state.refuse);
        launched.push({ by, at: clock.now(), scheduleId });
        return { id: `run-${launched.length}` };
      },
      busy: () => state.busy,
    });
    return { clock, launched, state, s };
  }

  const slots = async (scheduleId: string) => (await db.scheduleSlot.findMany({ where: { scheduleId }, orderBy: { id: "asc" } })).map((x) => ({ at: x.slotAt.toISOString(), outcome: x.outcome, reason: x.reason, runId: x.runId }));

  test("'every Tuesday at 14:00 Europe/Berlin': the next ten fire times follow the zone across the DST change", () => {
    const next = nextFires({ cron: "0 14 * * 2", timezone: "Europe/Berlin", window: null, blackout: [] }, Date.parse("2026-03-20T00:00:00Z"));
    assert.equal(next.length, 10);
    assert.equal(new Date(next[0]).toISOString(), "2026-03-24T13:00:00.000Z", "CET: UTC+1");
    assert.equal(new Date(next[1]).toISOString(), "2026-03-31T12:00:00.000Z", "CEST: UTC+2");
    assert.ok(next.every((t) => new Date(t).getUTCDay() === 2));
  });

  test("windows and blackouts narrow the slots; overnight hours span midnight", () => {
    const rules = { cron: "0 * * * *", timezone: "Europe/Berlin", window: { days: ["mon", "tue", "wed", "thu", "fri"], hours: "09:00-17:00" }, blackout: ["2026-12-24"] };
    assert.equal(slotRefusal(rules, Date.parse("2026-12-01T09:00:00Z")), null, "10:00 Berlin on a Tuesday");
    assert.match(slotRefusal(rules, Date.parse("2026-12-01T16:00:00Z"))!, /17:00 is not within 09:00-17:00/);
    assert.match(slotRefusal(rules, Date.parse("2026-12-05T10:00:00Z"))!, /sat is not one of mon, tue/);
    assert.match(slotRefusal(rules, Date.parse("2026-12-24T10:00:00Z"))!, /blackout date 2026-12-24/);
    const night = { ...rules, window: { hours: "22:00-02:00" }, blackout: [] };
    assert.equal(slotRefusal(night, Date.parse("2026-12-01T23:30:00Z")), null, "00:30 Berlin");
    assert.match(slotRefusal(night, Date.parse("2026-12-01T12:00:00Z"))!, /outside the allowed window/);
    const next = nextFires(rules, Date.parse("2026-12-23T15:30:00Z"));
    assert.equal(new Date(next[0]).toISOString(), "2026-12-25T08:00:00.000Z", "23rd after 16:30 is out; the 24th is blacked out");
  });

  test("a day of hourly slots inside business hours: launched inside, skipped outside, each recorded with why", async () => {
    const h = await harness("2026-12-01T06:30:00Z"); // Tuesday 07:30 Berlin
    await h.s.start();
    const sch = await h.s.create({ name: "hourly", yaml: EXP, cron: "0 * * * *", timezone: "Europe/Berlin", window: { hours: "09:00-12:00" } }, "alice");
    assert.equal(sch.next[0], "2026-12-01T08:00:00.000Z");
    assert.equal(sch.next.length, 10);
    await h.clock.advance(6 * 3_600_000, h.s);
    h.s.stop();
    const rec = await slots(sch.id);
    const launched = rec.filter((r) => r.outcome === "launched");
    assert.deepEqual(launched.map((r) => r.at), ["2026-12-01T08:00:00.000Z", "2026-12-01T09:00:00.000Z", "2026-12-01T10:00:00.000Z"]);
    assert.deepEqual(launched.map((r) => r.runId), ["run-1", "run-2", "run-3"]);
    assert.ok(h.launched.every((l) => l.by === "schedule:hourly" && l.scheduleId === sch.id));
    const skipped = rec.filter((r) => r.outcome === "skipped");
    assert.equal(skipped.length, 3, JSON.stringify(rec)); // 07:00 is before the schedule; 08:00 Berlin → 12..14 Berlin: 12:00 13:00 14:00
    assert.ok(skipped.every((r) => /outside the allowed window/.test(r.reason!)));
  });

  test("a run in progress: policy skip records the slot skipped; policy queue launches it when the run ends", async () => {
    const h = await harness("2026-12-02T10:00:30Z");
    await h.s.start();
    const skip = await h.s.create({ name: "busy-skip", yaml: EXP, cron: "*/10 * * * *", policy: "skip" }, "alice");
    const queue = await h.s.create({ name: "busy-queue", yaml: EXP, cron: "*/10 * * * *", policy: "queue" }, "alice");
    h.state.busy = { id: "run-x", name: "other" };
    await h.clock.advance(10 * 60_000, h.s); // 10:10 slot: busy
    assert.deepEqual((await slots(skip.id)).map((r) => [r.outcome, r.reason]), [["skipped", "run run-x (other) was in progress (policy skip)"]]);
    assert.deepEqual((await slots(queue.id)).map((r) => r.outcome), ["queued"]);
    assert.equal(h.launched.length, 0);
    await h.clock.advance(3 * 60_000, h.s); // still busy: the queued slot waits
    assert.equal(h.launched.length, 0);
    h.state.busy = null;
    await h.clock.advance(2000, h.s);
    h.s.stop();
    assert.equal(h.launched.length, 1);
    assert.equal(h.launched[0].scheduleId, queue.id);
    const q = await slots(queue.id);
    assert.equal(q.length, 1);
    assert.equal(q[0].outcome, "launched");
    assert.equal(q[0].runId, "run-1");
    assert.match(q[0].reason!, /after waiting in the queue/);
  });

  test("minimum gap, a refused launch and a random time inside the window", async () => {
    const h = await harness("2026-12-03T10:00:30Z", { rnd: () => 0.5 });
    await h.s.start();
    const gap = await h.s.create({ name: "gap", yaml: EXP, cron: "*/10 * * * *", minGap: "25m" }, "alice");
    await h.clock.advance(40 * 60_000, h.s);
    assert.deepEqual((await slots(gap.id)).map((r) => r.outcome), ["launched", "skipped", "skipped", "launched"]);
    assert.match((await slots(gap.id))[1].reason!, /minimum gap of 1500000 ms/);
    await h.s.remove(gap.id);

    h.state.refuse = "refusing the run: error budget of shop: 0.0 % left (exhausted)";
    const refused = await h.s.create({ name: "refused", yaml: EXP, cron: "0 * * * *" }, "alice");
    await h.clock.advance(60 * 60_000, h.s);
    assert.deepEqual((await slots(refused.id)).map((r) => [r.outcome, r.reason]), [["skipped", `the run was refused: ${h.state.refuse}`]]);
    await h.s.remove(refused.id);
    h.state.refuse = null;

    // a worker that stops while a slot waits for its random time records the slot, never drops it
    const cut = await h.s.create({ name: "cut", yaml: EXP, cron: "0 * * * *", randomDelay: "30m" }, "alice");
    await h.clock.advance(20 * 60_000, h.s); // 12:00 fires, waiting for 12:15
    h.s.stop();
    await h.s.idle();
    assert.deepEqual((await slots(cut.id)).map((r) => [r.outcome, r.reason]), [["skipped", "the worker stopped before the slot's random time (900000 ms after it) came"]]);
    await h.s.remove(cut.id);
    await h.s.start();

    const before = h.launched.length;
    const rnd = await h.s.create({ name: "random", yaml: EXP, cron: "0 12 * * *", timezone: "UTC", window: { hours: "12:00-13:00" }, randomDelay: "2h" }, "alice");
    await h.clock.advance(25 * 3_600_000, h.s);
    h.s.stop();
    const l = h.launched.slice(before);
    assert.equal(l.length, 1);
    // the next 12:00 is tomorrow's (created at 12:00:30): 0.5 of the delay, capped at the 60 minutes left in the window
    assert.equal(new Date(l[0].at).toISOString(), "2026-12-04T12:30:00.000Z");
    assert.equal((await slots(rnd.id))[0].at, "2026-12-04T12:00:00.000Z");
  });

  test("a slot still waiting for its random time: the slots after it are recorded, not hidden", async () => {
    const h = await harness("2026-12-04T10:00:30Z", { rnd: () => 0.9 });
    await h.s.start();
    const sch = await h.s.create({ name: "slow", yaml: EXP, cron: "*/10 * * * *", randomDelay: "30m" }, "alice");
    await h.clock.advance(38 * 60_000, h.s); // 10:10 waits 27 min; 10:20 and 10:30 come meanwhile
    h.s.stop();
    await h.s.idle();
    const rec = await slots(sch.id);
    assert.deepEqual(rec.map((r) => [r.at.slice(11, 16), r.outcome]), [["10:20", "skipped"], ["10:30", "skipped"], ["10:10", "launched"]]);
    assert.match(rec[0].reason!, /previous slot of this schedule was still waiting for its random time/);
    assert.equal(new Date(h.launched[0].at).toISOString(), "2026-12-04T10:37:00.000Z");
  });

  test("slots passed while no worker ran are recorded as missed at the next start; a paused schedule records none", async () => {
    const h = await harness("2026-12-05T10:00:30Z");
    await h.s.start();
    const sch = await h.s.create({ name: "down", yaml: EXP, cron: "0 * * * *" }, "alice");
    const paused = await h.s.create({ name: "paused", yaml: EXP, cron: "0 * * * *", paused: true }, "alice");
    h.s.stop(); // the worker goes down
    const clock2 = new FakeClock(h.clock.t + 3 * 3_600_000); // and comes back three hours later
    const s2 = new Scheduler({ db, log, clock: clock2, launch: async () => ({ id: "never" }), busy: () => null });
    await s2.start();
    const rec = await slots(sch.id);
    assert.deepEqual(rec.map((r) => [r.at, r.outcome, r.reason]), [
      ["2026-12-05T11:00:00.000Z", "missed", "the worker was not running at this time"],
      ["2026-12-05T12:00:00.000Z", "missed", "the worker was not running at this time"],
      ["2026-12-05T13:00:00.000Z", "missed", "the worker was not running at this time"],
    ]);
    assert.deepEqual(await slots(paused.id), []);
    // resuming starts from now: the paused hours are no missed slots either
    const resumed = await s2.setPaused("paused", false);
    assert.equal(resumed.paused, false);
    assert.equal(resumed.next[0], "2026-12-05T14:00:00.000Z");
    s2.stop();
    assert.deepEqual(await slots(paused.id), []);
  });

  test("edit: given fields replace the saved ones, window null removes it, names stay unique", async () => {
    const h = await harness("2026-12-07T10:00:00Z");
    await h.s.start();
    await h.s.create({ name: "one", yaml: EXP, cron: "0 14 * * 2", timezone: "Europe/Berlin", window: { hours: "09:00-17:00" } }, "alice");
    await h.s.create({ name: "two", yaml: EXP, cron: "0 * * * *" }, "alice");
    const e = await h.s.update("one", { cron: "0 15 * * 3", window: null, policy: "queue" });
    assert.deepEqual([e.cron, e.timezone, e.window, e.policy], ["0 15 * * 3", "Europe/Berlin", null, "queue"]);
    assert.equal(e.next[0], "2026-12-09T14:00:00.000Z");
    await assert.rejects(h.s.update("one", { name: "two" }), /a schedule named two exists/);
    await assert.rejects(h.s.update("one", { cron: "nope" }), (err: ApiErr) => err.issues?.[0].path === "cron");
    h.s.stop();
  });

  test("bad input names the field", async () => {
    const h = await harness("2026-12-06T10:00:00Z");
    const issues = (body: unknown) => {
      try {
        h.s.preview(body);
        return [];
      } catch (e) {
        return (e as ApiErr).issues!.map((i) => `${i.path}: ${i.message}`);
      }
    };
    assert.ok(issues({ name: "x", yaml: EXP, cron: "61 * * * *" }).some((i) => i.startsWith("cron: ")), String(issues({ name: "x", yaml: EXP, cron: "61 * * * *" })));
    assert.deepEqual(issues({ name: "x", yaml: EXP, cron: "0 * * * *", timezone: "Mars/Olympus" }), ["timezone: expected an IANA time zone like Europe/Berlin or UTC"]);
    assert.deepEqual(issues({ name: "x", yaml: EXP, cron: "0 * * * *", window: { hours: "9-17" } }), ["window.hours: expected local hours like 09:00-17:00"]);
    assert.deepEqual(issues({ name: "x", yaml: EXP, cron: "0 * * * *", policy: "later" }), ["policy: expected queue or skip"]);
    assert.ok(issues({ name: "x", yaml: "kind: nope", cron: "0 * * * *" }).some((i) => i.startsWith("yaml: ")));
    await assert.rejects(h.s.get("nope"), /no schedule nope/);
  });
});
