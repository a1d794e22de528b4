// gameday schedule: experiments on a calendar, kept by the worker. Every
// add shows the next ten fire times first (--dry-run stops there).
import fs from "node:fs";
import { parseArgs } from "node:util";
import { API, type ScheduleInfo, type ScheduleSlotInfo } from "../lib/contract";
import { api, CliError, connection } from "./client";

const USAGE = `gameday schedule — experiments on a calendar (at most one run at a time)

  gameday schedule add NAME --file EXPERIMENT.yaml --cron "0 14 * * 2" [--tz Europe/Berlin]
                       [--days mon,tue,wed,thu,fri] [--hours 09:00-17:00] [--blackout 2026-12-24,2026-12-31]
                       [--min-gap 1h] [--random 30m] [--policy skip|queue] [--paused] [--dry-run] [--json]
  gameday schedule edit NAME [any add flag]   change what is given; shows the next ten fire times
  gameday schedule list [--json]            every schedule and its next fire time
  gameday schedule show NAME [--json]       one schedule, its next ten fire times and its recent slots
  gameday schedule pause NAME | resume NAME | rm NAME

  --cron      five fields (minute hour day month weekday), or six with seconds first
  --tz        IANA time zone of the cron, the hours and the blackout dates (default UTC)
  --days      --hours   the allowed window; a slot outside it is skipped (and recorded)
  --blackout  local dates on which nothing fires
  --min-gap   skip a slot sooner than this after the schedule's last run
  --random    fire at a random moment up to this long after the slot, inside the window
  --policy    when another run is in progress: skip the slot (default) or queue it until the run ends

Options: --url URL --token TOKEN (as for gameday run)`;

const out = (s: string) => process.stdout.write(s + "\n");
const list = (v: string | undefined) => (v ? v.split(",").map((x) => x.trim()).filter(Boolean) : undefined);

function describe(s: ScheduleInfo): string {
  const w = s.window ? ` window ${[s.window.days?.join(","), s.window.hours].filter(Boolean).join(" ")}` : "";
  const extra = [w, s.blackout.length ? ` blackout ${s.blackout.join(",")}` : "", s.minGapMs ? ` min-gap ${s.minGapMs} ms` : "", s.randomDelayMs ? ` random ≤ ${s.randomDelayMs} ms` : ""].join("");
  return `${s.name}  "${s.cron}" ${s.timezone}  policy ${s.policy}${s.paused ? "  PAUSED" : ""}  experiment ${s.experimentName}${extra}`;
}

function nextTen(next: string[], tz: string): string[] {
  if (!next.length) return ["  no fire time ahead (paused, or the window and blackouts leave none)"];
  const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz, dateStyle: "full", timeStyle: "long" });
  return next.map((t, i) => `  ${String(i + 1).padStart(2)}. ${t}  (${fmt.format(new Date(t))})`);
}

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values: f, positionals: pos } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      file: { type: "string" },
      cron: { type: "string" },
      tz: { type: "string" },
      days: { type: "string" },
      hours: { type: "string" },
      blackout: { type: "string" },
      "min-gap": { type: "string" },
      random: { type: "string" },
      policy: { type: "string" },
      paused: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      url: { type: "string" },
      token: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (!sub || f.help || sub === "help") {
    out(USAGE);
    return sub ? 0 : 1;
  }
  const conn = connection(f);
  const name = pos[0];
  if (sub !== "list" && !name) throw new CliError(`name the schedule (gameday schedule ${sub} NAME)`);
  switch (sub) {
    case "add":
    case "edit": {
      if (sub === "add" && !f.file) throw new CliError("--file: name the experiment file to schedule");
      if (sub === "add" && !f.cron) throw new CliError('--cron: give a cron pattern like "0 14 * * 2"');
      let yaml: string | undefined;
      if (f.file) {
        try {
          yaml = fs.readFileSync(f.file, "utf8");
        } catch (e) {
          throw new CliError(`--file: cannot read ${f.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      }
      const window = f.days || f.hours ? { ...(f.days ? { days: list(f.days) } : {}), ...(f.hours ? { hours: f.hours } : {}) } : undefined;
      // only what was given: an edit keeps the rest
      const body = {
        ...(sub === "add" ? { name, paused: f.paused } : {}),
        ...(yaml !== undefined ? { yaml } : {}),
        ...(f.cron ? { cron: f.cron } : {}),
        ...(f.tz ? { timezone: f.tz } : {}),
        ...(window ? { window } : {}),
        ...(f.blackout ? { blackout: list(f.blackout) } : {}),
        ...(f["min-gap"] ? { minGap: f["min-gap"] } : {}),
        ...(f.random ? { randomDelay: f.random } : {}),
        ...(f.policy ? { policy: f.policy } : {}),
      };
      if (sub === "edit") {
        const { schedule } = await api<{ schedule: ScheduleInfo }>(conn, "POST", API.schedule(name!), body);
        out(f.json ? JSON.stringify(schedule, null, 2) : [`changed schedule ${describe(schedule)}`, `next ten fire times:`, ...nextTen(schedule.next, schedule.timezone)].join("\n"));
        return 0;
      }
      const { next } = await api<{ next: string[] }>(conn, "POST", API.schedulePreview, body);
      if (f["dry-run"]) {
        out(f.json ? JSON.stringify({ next }, null, 2) : [`next ten fire times of ${name} (dry run, nothing saved):`, ...nextTen(next, f.tz ?? "UTC")].join("\n"));
        return 0;
      }
      const { schedule } = await api<{ schedule: ScheduleInfo }>(conn, "POST", API.schedules, body);
      out(f.json ? JSON.stringify(schedule, null, 2) : [`saved schedule ${describe(schedule)}`, `next ten fire times:`, ...nextTen(next, schedule.timezone)].join("\n"));
      return 0;
    }
    case "list": {
      const { schedules } = await api<{ schedules: ScheduleInfo[] }>(conn, "GET", API.schedules);
      if (f.json) out(JSON.stringify(schedules, null, 2));
      else if (!schedules.length) out("no schedules");
      else for (const s of schedules) out(`${describe(s)}\n  next: ${s.next[0] ?? "none"}`);
      return 0;
    }
    case "show": {
      const r = await api<{ schedule: ScheduleInfo; slots: ScheduleSlotInfo[] }>(conn, "GET", API.schedule(name!));
      if (f.json) return out(JSON.stringify(r, null, 2)), 0;
      out(describe(r.schedule));
      out("next ten fire times:");
      for (const l of nextTen(r.schedule.next, r.schedule.timezone)) out(l);
      out(r.slots.length ? "recent slots:" : "no slot recorded yet");
      for (const s of r.slots.slice(0, 20)) out(`  ${s.slotAt}  ${s.outcome}${s.runId ? ` run ${s.runId}` : ""}${s.reason ? `: ${s.reason}` : ""}`);
      return 0;
    }
    case "pause":
    case "resume": {
      const { schedule } = await api<{ schedule: ScheduleInfo }>(conn, "POST", sub === "pause" ? API.schedulePause(name!) : API.scheduleResume(name!));
      out(f.json ? JSON.stringify(schedule, null, 2) : `${sub === "pause" ? "paused" : "resumed"} ${describe(schedule)}`);
      return 0;
    }
    case "rm":
      await api(conn, "POST", API.scheduleDelete(name!));
      out(`removed schedule ${name}`);
      return 0;
    default:
      throw new CliError(`unknown schedule command "${sub}"\n\n${USAGE}`);
  }
}
