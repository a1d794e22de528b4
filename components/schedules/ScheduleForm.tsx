"use client";
// A new schedule, or an edit of one: the same body the API and `gameday
// schedule add|edit` take. The next ten fire times are previewed before it
// can be saved.
import { useState } from "react";
import { API, SCHEDULE_POLICIES, type ScheduleInfo } from "@/lib/contract";
import { apiCall, errorLines } from "@/lib/web/api";
import { dateTime } from "@/lib/web/format";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const input = "w-full rounded border border-slate-700 bg-slate-950 px-2 py-1 text-sm text-slate-200";

/** What the form edits: a saved schedule and its experiment YAML, or nothing (a new one). */
export interface Editing {
  schedule: ScheduleInfo;
  yaml: string;
}

const ms = (v: number) => (v ? `${v}ms` : "");

export function ScheduleForm({ canEdit, editing, onSaved }: { canEdit: boolean; editing: Editing | null; onSaved: (s: ScheduleInfo) => void }) {
  const e0 = editing?.schedule;
  const [f, setF] = useState({
    name: e0?.name ?? "",
    cron: e0?.cron ?? "0 14 * * 2",
    timezone: e0?.timezone ?? "UTC",
    hours: e0?.window?.hours ?? "",
    blackout: e0?.blackout.join(",") ?? "",
    minGap: ms(e0?.minGapMs ?? 0),
    randomDelay: ms(e0?.randomDelayMs ?? 0),
    policy: e0?.policy ?? "skip",
    yaml: editing?.yaml ?? "",
  });
  const [days, setDays] = useState<string[]>(e0?.window?.days ?? []);
  const [next, setNext] = useState<string[] | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => {
    setF({ ...f, [k]: e.target.value });
    setNext(null);
  };
  const body = () => ({
    name: f.name,
    yaml: f.yaml,
    cron: f.cron,
    timezone: f.timezone || "UTC",
    window: days.length || f.hours ? { ...(days.length ? { days } : {}), ...(f.hours ? { hours: f.hours } : {}) } : undefined,
    blackout: f.blackout.split(",").map((s) => s.trim()).filter(Boolean),
    ...(f.minGap ? { minGap: f.minGap } : {}),
    ...(f.randomDelay ? { randomDelay: f.randomDelay } : {}),
    policy: f.policy,
  });
  const call = async (save: boolean) => {
    setBusy(true);
    setErrors([]);
    try {
      if (save) {
        const b = body();
        // an edit sends window: null to remove one
        const r = e0
          ? await apiCall<{ schedule: ScheduleInfo }>(API.schedule(e0.id), { body: { ...b, window: b.window ?? null } })
          : await apiCall<{ schedule: ScheduleInfo }>(API.schedules, { body: b });
        onSaved(r.schedule);
        setNext(null);
      } else setNext((await apiCall<{ next: string[] }>(API.schedulePreview, { body: body() })).next);
    } catch (e) {
      setErrors(errorLines(e));
    } finally {
      setBusy(false);
    }
  };
  const field = (label: string, k: keyof typeof f, placeholder = "") => (
    <label className="block text-xs text-slate-400">
      {label}
      <input className={input} value={f[k]} placeholder={placeholder} onChange={set(k)} data-testid={`schedule-${k}`} disabled={!canEdit} />
    </label>
  );
  return (
    <form className="space-y-3" onSubmit={(e) => e.preventDefault()} data-testid="schedule-form">
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
        {field("Name", "name", "tuesday-network")}
        {field("Cron", "cron", "0 14 * * 2")}
        {field("Time zone", "timezone", "Europe/Berlin")}
        <label className="block text-xs text-slate-400">
          When a run is in progress
          <select className={input} value={f.policy} onChange={set("policy")} disabled={!canEdit} data-testid="schedule-policy">
            {SCHEDULE_POLICIES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        {field("Allowed hours", "hours", "09:00-17:00")}
        {field("Blackout dates", "blackout", "2026-12-24,2026-12-31")}
        {field("Minimum gap", "minGap", "1h")}
        {field("Random delay", "randomDelay", "30m")}
      </div>
      <div className="flex flex-wrap gap-2 text-xs text-slate-400">
        Allowed days:
        {DAYS.map((d) => (
          <label key={d} className="inline-flex items-center gap-1">
            <input type="checkbox" disabled={!canEdit} checked={days.includes(d)} onChange={(e) => (setDays(e.target.checked ? [...days, d] : days.filter((x) => x !== d)), setNext(null))} />
            {d}
          </label>
        ))}
        <span className="text-slate-500">(none checked: every day)</span>
      </div>
      <label className="block text-xs text-slate-400">
        Experiment YAML
        <textarea className={`${input} h-40 font-mono`} value={f.yaml} onChange={set("yaml")} disabled={!canEdit} data-testid="schedule-yaml" />
      </label>
      {errors.length ? (
        <ul className="rounded border border-red-800 bg-red-950/40 p-2 text-xs text-red-200" data-testid="schedule-errors">
          {errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      ) : null}
      {next ? (
        <div className="text-xs text-slate-300" data-testid="schedule-next">
          <p className="font-semibold">Next ten fire times</p>
          <ol className="ml-5 list-decimal tabular-nums">
            {next.map((t) => (
              <li key={t}>{dateTime(t)}</li>
            ))}
          </ol>
          {!next.length ? <p className="text-amber-400">No fire time ahead: the window and blackouts leave none.</p> : null}
        </div>
      ) : null}
      <div className="flex gap-2">
        <button type="button" className="rounded bg-slate-700 px-3 py-1 text-sm disabled:opacity-50" disabled={!canEdit || busy} onClick={() => void call(false)} data-testid="schedule-preview">
          Preview
        </button>
        <button type="button" className="rounded bg-sky-700 px-3 py-1 text-sm disabled:opacity-50" disabled={!canEdit || busy || !next} onClick={() => void call(true)} data-testid="schedule-save" title={next ? "" : "preview the fire times first"}>
          {e0 ? `Save changes to ${e0.name}` : "Save"}
        </button>
      </div>
    </form>
  );
}
