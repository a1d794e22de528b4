// The Orchestrator: experiments on a calendar. Cron slots (croner, in the
// schedule's time zone) are narrowed by an allowed window, blackout dates
// and a minimum gap, and may fire at a random moment inside the window. One
// experiment at a time: a slot that finds a run in progress queues or is
// skipped, per the schedule's policy. Every slot that did not simply fire is
// recorded with its reason, and slots that passed while no worker ran are
// recorded as missed at start. The clock is injectable so tests need not
// wait for Tuesday.
import crypto from "node:crypto";
import { Cron } from "croner";
import { z } from "zod";
import { SCHEDULE_POLICIES, type ScheduleInfo, type ScheduleSlotInfo, type SlotOutcome } from "../lib/contract";
import type { Db } from "../lib/db";
import { duration } from "../lib/duration";
import { ApiErr } from "../lib/errors";
import { parseExperiment } from "../lib/experiment";
import { zodIssues } from "../lib/issues";
import type { Logger } from "../lib/log";

export interface Clock {
  /** wall-clock ms */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const HOURS_RE = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;
/** Missed slots recorded one by one at start; beyond this, one record says how many more. */
export const MAX_MISSED_RECORDS = 50;
/** setTimeout cannot wait longer; a far slot is re-armed on the way. */
const MAX_TIMER_MS = 24 * 3_600_000;
/** How often a queued slot looks whether the run in progress is over. */
export const QUEUE_POLL_MS = 1000;

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const scheduleInputSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/, "lowercase letters, digits, '.', '_' and '-', at most 64 characters"),
    /** the experiment YAML */
    yaml: z.string().min(1, "the experiment YAML is empty").max(256 * 1024, "experiment file larger than 256 KiB"),
    /** five fields (minute hour day month weekday), or six with seconds first */
    cron: z.string().min(1, "give a cron pattern like '0 14 * * 2'"),
    timezone: z.string().default("UTC").refine(validTimezone, { message: "expected an IANA time zone like Europe/Berlin or UTC" }),
    window: z
      .object({
        days: z.array(z.enum(DAYS, { error: `expected days among ${DAYS.join(", ")}` })).min(1).optional(),
        /** local HH:MM-HH:MM, end exclusive; an end before the start spans midnight */
        hours: z.string().regex(HOURS_RE, "expected local hours like 09:00-17:00").optional(),
      })
      .strict()
      .optional(),
    blackout: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected a local date like 2026-12-24")).max(1000).default([]),
    minGap: duration({ max: 365 * 24 * 3_600_000 }).default(0),
    randomDelay: duration({ max: 7 * 24 * 3_600_000 }).default(0),
    policy: z.enum(SCHEDULE_POLICIES, { error: "expected queue or skip" }).default("skip"),
    paused: z.boolean().default(false),
  })
  .strict()
  .superRefine((s, ctx) => {
    try {
      new Cron(s.cron, { timezone: validTimezone(s.timezone) ? s.timezone : "UTC" });
    } catch (e) {
      ctx.addIssue({ code: "custom", path: ["cron"], message: (e as Error).message.replace(/^CronPattern: /, "") });
    }
    const parsed = parseExperiment(s.yaml);
    if (!parsed.ok) for (const i of parsed.issues) ctx.addIssue({ code: "custom", path: ["yaml"], message: `${i.path ? `${i.path}: ` : ""}${i.message}` });
  });
export type ScheduleInput = z.input<typeof scheduleInputSchema>;
type ScheduleParsed = z.output<typeof scheduleInputSchema>;

/** What the scheduler needs of a schedule (a database row, or a body not saved yet). */
export interface ScheduleRules {
  cron: string;
  timezone: string;
  window: { days?: string[]; hours?: string } | null;
  blackout: string[];
}

const formatters = new Map<string, Intl.DateTimeFormat>();
/** The local date, weekday and minute of the day of an instant in a time zone. */
export function localTime(ms: number, tz: string): { date: string; day: string; minute: number } {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", weekday: "short", hour: "2-digit", minute: "2-digit" });
    formatters.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, day: p.weekday.toLowerCase().slice(0, 3), minute: Number(p.hour) * 60 + Number(p.minute) };
}

function hoursOf(hours: string): { from: number; to: number } {
  const m = HOURS_RE.exec(hours)!;
  return { from: Number(m[1]) * 60 + Number(m[2]), to: Number(m[3]) * 60 + Number(m[4]) };
}

/** Why an instant may not fire (blackout date, outside the window), or null. */
export function slotRefusal(s: ScheduleRules, ms: number): string | null {
  const lt = localTime(ms, s.timezone);
  if (s.blackout.includes(lt.date)) return `blackout date ${lt.date} (${s.timezone})`;
  const w = s.window;
  if (w?.days && !w.days.includes(lt.day)) return `outside the allowed window: ${lt.day} is not one of ${w.days.join(", ")} (${s.timezone})`;
  if (w?.hours) {
    const { from, to } = hoursOf(w.hours);
    const inside = from <= to ? lt.minute >= from && lt.minute < to : lt.minute >= from || lt.minute < to;
    if (!inside) return `outside the allowed window: ${String(Math.floor(lt.minute / 60)).padStart(2, "0")}:${String(lt.minute % 60).padStart(2, "0")} is not within ${w.hours} (${s.timezone})`;
  }
  return null;
}

/** ms from an instant inside the window until the window's hours end (Infinity without hours). */
function windowLeftMs(s: ScheduleRules, ms: number): number {
  if (!s.window?.hours) return Infinity;
  const { from, to } = hoursOf(s.window.hours);
  const m = localTime(ms, s.timezone).minute;
  const left = from <= to ? to - m : m >= from ? 24 * 60 - m + to : to - m;
  return Math.max(0, left * 60_000 - (ms % 60_000));
}

const cronOf = (s: ScheduleRules) => new Cron(s.cron, { timezone: s.timezone });

/** The next `n` slots after `from` that would fire (window and blackout applied; bounded search). */
export function nextFires(s: ScheduleRules, from: number, n = 10): number[] {
  const cron = cronOf(s);
  const out: number[] = [];
  let at = new Date(from);
  for (let i = 0; i < 5000 && out.length < n; i++) {
    const next = cron.nextRun(at);
    if (!next) break;
    if (!slotRefusal(s, next.getTime())) out.push(next.getTime());
    at = next;
  }
  return out;
}

type Row = Awaited<ReturnType<Db["schedule"]["findFirstOrThrow"]>>;

const rulesOf = (r: Row): ScheduleRules => ({
  cron: r.cron,
  timezone: r.timezone,
  window: r.windowJson ? (JSON.parse(r.windowJson) as ScheduleRules["window"]) : null,
  blackout: JSON.parse(r.blackoutJson) as string[],
});

export interface SchedulerDeps {
  db: Db;
  log: Logger;
  clock?: Clock;
  /** 0..1, for the random time inside the window */
  rnd?: () => number;
  /** start a run; throws (ApiErr) when it may not start */
  launch(yaml: string, by: string, scheduleId: string): Promise<{ id: string }>;
  /** the run in progress that blocks a new one, or null */
  busy(): { id: string; name: string } | null;
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly rnd: () => number;
  private readonly timers = new Map<string, unknown>();
  /** one queued slot per schedule, oldest first */
  private readonly queue = new Map<string, { slotId: number; slotAt: number }>();
  private queueTimer: unknown = null;
  private readonly inflight = new Set<Promise<unknown>>();
  /** slots waiting for their random time: stop() wakes them so they are recorded, not lost */
  private readonly delayed = new Set<() => void>();
  /** schedules with a slot being handled (waiting for its random time, or launching) */
  private readonly firing = new Set<string>();
  private running = false;

  constructor(private readonly d: SchedulerDeps) {
    this.clock = d.clock ?? realClock;
    this.rnd = d.rnd ?? Math.random;
  }

  /** Record the slots missed while no worker ran, then arm every active schedule. */
  async start(): Promise<void> {
    this.running = true;
    const now = this.clock.now();
    for (const r of await this.d.db.schedule.findMany()) {
      if (!r.paused) await this.recordMissed(r, now);
      this.arm(r);
    }
  }

  /** Stop firing. Slots waiting for their random time or queued are recorded as skipped (await idle() for the writes). */
  stop(): void {
    this.running = false;
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
    if (this.queueTimer) this.clock.clearTimeout(this.queueTimer);
    this.queueTimer = null;
    for (const wake of [...this.delayed]) wake();
    for (const q of this.queue.values())
      void this.track(this.d.db.scheduleSlot.update({ where: { id: q.slotId }, data: { outcome: "skipped", reason: "the worker stopped while the slot was queued" } }).catch(() => undefined));
    this.queue.clear();
  }

  /** Wait for slot handling under way (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  private async recordMissed(r: Row, now: number): Promise<void> {
    const from = (r.lastSlotAt ?? r.createdAt).getTime();
    const cron = cronOf(rulesOf(r));
    let at = new Date(from);
    let n = 0;
    let last: number | null = null;
    // bounded: a worker down for a year on a per-second cron must not record forever
    for (let i = 0; i < 100_000; i++) {
      const next = cron.nextRun(at);
      if (!next || next.getTime() > now) break;
      if (n < MAX_MISSED_RECORDS) await this.slot(r.id, next.getTime(), "missed", "the worker was not running at this time");
      n++;
      last = next.getTime();
      at = next;
    }
    if (n > MAX_MISSED_RECORDS) await this.slot(r.id, last!, "missed", `and ${n - MAX_MISSED_RECORDS} more slot(s) while the worker was not running`);
    if (n) this.d.log.warn("schedule slots missed while the worker was down", { schedule: r.name, missed: n });
    await this.d.db.schedule.update({ where: { id: r.id }, data: { lastSlotAt: new Date(now) } });
  }

  private slot(scheduleId: string, slotAt: number, outcome: SlotOutcome, reason: string | null, runId: string | null = null): Promise<{ id: number }> {
    return this.d.db.scheduleSlot.create({ data: { scheduleId, slotAt: new Date(slotAt), outcome, reason, runId, recordedAt: new Date(this.clock.now()) } });
  }

  private arm(r: Row): void {
    const old = this.timers.get(r.id);
    if (old) this.clock.clearTimeout(old);
    this.timers.delete(r.id);
    if (!this.running || r.paused) return;
    const now = this.clock.now();
    const next = cronOf(rulesOf(r)).nextRun(new Date(Math.max(now, r.lastSlotAt?.getTime() ?? 0)));
    if (!next) return;
    const wait = next.getTime() - now;
    this.timers.set(
      r.id,
      this.clock.setTimeout(() => {
        this.timers.delete(r.id);
        void this.track(this.reload(r.id).then((row) => row && (wait > MAX_TIMER_MS ? this.arm(row) : this.fire(row, next.getTime()))));
      }, Math.min(Math.max(wait, 0), MAX_TIMER_MS)),
    );
  }

  private reload(id: string): Promise<Row | null> {
    return this.d.db.schedule.findUnique({ where: { id } });
  }

  /** A slot is due: window, blackout and gap first, then a random time in the window, then launch. */
  private async fire(r: Row, slotAt: number): Promise<void> {
    // the next slot is armed at once: a slot that waits (random time, a slow launch) never hides the ones after it
    const row = await this.d.db.schedule.update({ where: { id: r.id }, data: { lastSlotAt: new Date(slotAt) } });
    this.arm(row);
    if (this.firing.has(r.id)) return void (await this.slot(r.id, slotAt, "skipped", "the previous slot of this schedule was still waiting for its random time or launching"));
    this.firing.add(r.id);
    try {
      const rules = rulesOf(r);
      const refused = slotRefusal(rules, slotAt);
      if (refused) return void (await this.slot(r.id, slotAt, "skipped", refused));
      if (r.minGapMs > 0 && r.lastRunAt && slotAt - r.lastRunAt.getTime() < r.minGapMs)
        return void (await this.slot(r.id, slotAt, "skipped", `minimum gap of ${r.minGapMs} ms: the last run of this schedule started at ${r.lastRunAt.toISOString()}`));
      const delay = r.randomDelayMs > 0 ? Math.floor(this.rnd() * Math.min(r.randomDelayMs, windowLeftMs(rules, slotAt))) : 0;
      if (delay > 0) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.delayed.delete(wake);
            this.clock.clearTimeout(t);
            resolve();
          };
          const t = this.clock.setTimeout(wake, delay);
          this.delayed.add(wake);
        });
        if (!this.running) return void (await this.slot(r.id, slotAt, "skipped", `the worker stopped before the slot's random time (${delay} ms after it) came`));
        const now = await this.reload(r.id);
        if (!now) return;
        if (now.paused) return void (await this.slot(r.id, slotAt, "skipped", `the schedule was paused before its random time (${delay} ms after the slot) came`));
      }
      await this.tryLaunch(r, slotAt, null);
    } catch (e) {
      this.d.log.error("schedule slot failed", { schedule: r.name, error: (e as Error).message });
    } finally {
      this.firing.delete(r.id);
    }
  }

  /** Launch now, or queue/skip when a run is in progress. `queued`: the queued slot's record. */
  private async tryLaunch(r: Row, slotAt: number, queued: number | null): Promise<void> {
    const busy = this.d.busy();
    if (busy) {
      if (queued !== null) return; // still waiting its turn
      const why = `run ${busy.id} (${busy.name}) was in progress`;
      if (r.policy === "queue" && !this.queue.has(r.id)) {
        const rec = await this.slot(r.id, slotAt, "queued", `${why}; queued until it ends`);
        this.queue.set(r.id, { slotId: rec.id, slotAt });
        this.pollQueue();
        return;
      }
      await this.slot(r.id, slotAt, "skipped", r.policy === "queue" ? `${why} and a slot of this schedule is already queued` : `${why} (policy skip)`);
      return;
    }
    const by = `schedule:${r.name}`;
    try {
      const run = await this.d.launch(r.experimentYaml, by, r.id);
      await this.d.db.schedule.update({ where: { id: r.id }, data: { lastRunAt: new Date(this.clock.now()) } });
      if (queued !== null) await this.d.db.scheduleSlot.update({ where: { id: queued }, data: { outcome: "launched", runId: run.id, reason: `launched after waiting in the queue` } });
      else await this.slot(r.id, slotAt, "launched", null, run.id);
      this.d.log.info("schedule launched a run", { schedule: r.name, runId: run.id });
    } catch (e) {
      const why = `the run was refused: ${(e as Error).message}`;
      if (queued !== null) await this.d.db.scheduleSlot.update({ where: { id: queued }, data: { outcome: "skipped", reason: why } });
      else await this.slot(r.id, slotAt, "skipped", why);
    }
  }

  private pollQueue(): void {
    if (this.queueTimer || !this.queue.size || !this.running) return;
    this.queueTimer = this.clock.setTimeout(() => {
      this.queueTimer = null;
      void this.track(this.drainQueue());
    }, QUEUE_POLL_MS);
  }

  private async drainQueue(): Promise<void> {
    const first = this.queue.entries().next();
    if (!first.done && !this.d.busy()) {
      const [id, q] = first.value;
      this.queue.delete(id);
      const row = await this.reload(id);
      if (row && !row.paused) await this.tryLaunch(row, q.slotAt, q.slotId);
      else await this.d.db.scheduleSlot.update({ where: { id: q.slotId }, data: { outcome: "skipped", reason: "the schedule was paused or removed while the slot was queued" } }).catch(() => undefined);
    }
    this.pollQueue();
  }

  // ---- the API's operations ------------------------------------------------------

  view(r: Row): ScheduleInfo {
    const rules = rulesOf(r);
    return {
      id: r.id,
      name: r.name,
      experimentName: r.experimentName,
      cron: r.cron,
      timezone: r.timezone,
      window: rules.window,
      blackout: rules.blackout,
      minGapMs: r.minGapMs,
      randomDelayMs: r.randomDelayMs,
      policy: r.policy === "queue" ? "queue" : "skip",
      paused: r.paused,
      createdBy: r.createdBy,
      createdAt: r.createdAt.toISOString(),
      lastRunAt: r.lastRunAt?.toISOString() ?? null,
      next: r.paused ? [] : nextFires(rules, this.clock.now()).map((t) => new Date(t).toISOString()),
    };
  }

  /** Validate a body; the next ten fire times it would have (nothing saved). */
  preview(body: unknown): { input: ScheduleParsed; next: string[] } {
    const r = scheduleInputSchema.safeParse(body);
    if (!r.success) throw new ApiErr("invalid_input", "invalid schedule", zodIssues(r.error));
    const rules: ScheduleRules = { cron: r.data.cron, timezone: r.data.timezone, window: r.data.window ?? null, blackout: r.data.blackout };
    return { input: r.data, next: nextFires(rules, this.clock.now()).map((t) => new Date(t).toISOString()) };
  }

  /** The columns a validated body sets (create and edit alike). */
  private columns(input: ScheduleParsed) {
    const exp = parseExperiment(input.yaml);
    return {
      name: input.name,
      experimentYaml: input.yaml,
      experimentName: exp.ok ? exp.experiment.metadata.name : input.name,
      cron: input.cron,
      timezone: input.timezone,
      windowJson: input.window ? JSON.stringify(input.window) : null,
      blackoutJson: JSON.stringify(input.blackout),
      minGapMs: input.minGap,
      randomDelayMs: input.randomDelay,
      policy: input.policy,
      paused: input.paused,
    };
  }

  async create(body: unknown, by: string): Promise<ScheduleInfo> {
    const { input } = this.preview(body);
    if (await this.d.db.schedule.findUnique({ where: { name: input.name } })) throw new ApiErr("conflict", `a schedule named ${input.name} exists`);
    const now = new Date(this.clock.now());
    const row = await this.d.db.schedule.create({ data: { id: crypto.randomUUID(), ...this.columns(input), createdBy: by, createdAt: now, lastSlotAt: now } });
    this.arm(row);
    return this.view(row);
  }

  /** The body a schedule was saved with (what an edit starts from). */
  bodyOf(r: Row): ScheduleInput {
    const rules = rulesOf(r);
    return {
      name: r.name,
      yaml: r.experimentYaml,
      cron: r.cron,
      timezone: r.timezone,
      ...(rules.window ? { window: rules.window as ScheduleInput["window"] } : {}),
      blackout: rules.blackout,
      minGap: r.minGapMs,
      randomDelay: r.randomDelayMs,
      policy: r.policy as "queue" | "skip",
      paused: r.paused,
    };
  }

  /** Edit: the fields given replace the saved ones (window: null removes it); validated like a new schedule. */
  async update(idOrName: string, patch: unknown): Promise<ScheduleInfo> {
    const r = await this.find(idOrName);
    if (!patch || typeof patch !== "object" || Array.isArray(patch)) throw new ApiErr("invalid_input", "expected a JSON object with the fields to change");
    const merged: Record<string, unknown> = { ...this.bodyOf(r), ...patch };
    if (merged.window === null) delete merged.window;
    const { input } = this.preview(merged);
    if (input.name !== r.name && (await this.d.db.schedule.findUnique({ where: { name: input.name } }))) throw new ApiErr("conflict", `a schedule named ${input.name} exists`);
    // from now on the new rules apply: slots before the edit are not missed ones
    const row = await this.d.db.schedule.update({ where: { id: r.id }, data: { ...this.columns(input), lastSlotAt: new Date(this.clock.now()) } });
    this.arm(row);
    return this.view(row);
  }

  async list(): Promise<ScheduleInfo[]> {
    return (await this.d.db.schedule.findMany({ orderBy: { createdAt: "asc" } })).map((r) => this.view(r));
  }

  /** By id or by name. */
  async find(idOrName: string): Promise<Row> {
    const r = (await this.d.db.schedule.findUnique({ where: { id: idOrName } })) ?? (await this.d.db.schedule.findUnique({ where: { name: idOrName } }));
    if (!r) throw new ApiErr("not_found", `no schedule ${idOrName}`);
    return r;
  }

  async get(idOrName: string, slots = 100): Promise<{ schedule: ScheduleInfo; yaml: string; slots: ScheduleSlotInfo[] }> {
    const r = await this.find(idOrName);
    const rows = await this.d.db.scheduleSlot.findMany({ where: { scheduleId: r.id }, orderBy: { id: "desc" }, take: slots });
    return {
      schedule: this.view(r),
      yaml: r.experimentYaml,
      slots: rows.map((s) => ({ id: s.id, scheduleId: s.scheduleId, slotAt: s.slotAt.toISOString(), outcome: s.outcome as SlotOutcome, reason: s.reason, runId: s.runId, recordedAt: s.recordedAt.toISOString() })),
    };
  }

  async setPaused(idOrName: string, paused: boolean): Promise<ScheduleInfo> {
    const r = await this.find(idOrName);
    // resuming starts from now: the paused time is a decision, not missed slots
    const row = await this.d.db.schedule.update({ where: { id: r.id }, data: { paused, ...(paused ? {} : { lastSlotAt: new Date(this.clock.now()) }) } });
    this.arm(row);
    return this.view(row);
  }

  async remove(idOrName: string): Promise<void> {
    const r = await this.find(idOrName);
    const t = this.timers.get(r.id);
    if (t) this.clock.clearTimeout(t);
    this.timers.delete(r.id);
    this.queue.delete(r.id);
    await this.d.db.schedule.delete({ where: { id: r.id } });
  }
}
