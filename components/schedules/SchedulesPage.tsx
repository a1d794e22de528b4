"use client";
// Schedules: every schedule with its next fire time, pause/resume/remove for
// operators, the slots each one recorded (launched, queued, skipped, missed,
// with why), and a form that previews the next ten fire times before saving.
import { useCallback, useEffect, useState } from "react";
import Link from "next/link";
import { API, type ScheduleInfo, type ScheduleSlotInfo, type UserInfo } from "@/lib/contract";
import { apiCall, errorLines } from "@/lib/web/api";
import { dateTime } from "@/lib/web/format";
import { Card } from "@/components/Card";
import { AppHeader } from "@/components/dashboard/AppHeader";
import { ScheduleForm, type Editing } from "./ScheduleForm";

function Slots({ id }: { id: string }) {
  const [slots, setSlots] = useState<ScheduleSlotInfo[] | null>(null);
  useEffect(() => {
    const ctrl = new AbortController();
    apiCall<{ slots: ScheduleSlotInfo[] }>(API.schedule(id), { signal: ctrl.signal }).then((r) => setSlots(r.slots), () => setSlots([]));
    return () => ctrl.abort();
  }, [id]);
  if (!slots) return <p className="text-xs text-slate-500">loading…</p>;
  if (!slots.length) return <p className="text-xs text-slate-500">No slot recorded yet.</p>;
  return (
    <ul className="space-y-0.5 text-xs" data-testid={`slots-${id}`}>
      {slots.slice(0, 30).map((s) => (
        <li key={s.id} className="tabular-nums text-slate-400">
          {dateTime(s.slotAt)} <span className={s.outcome === "launched" ? "text-emerald-400" : "text-amber-400"}>{s.outcome}</span>
          {s.runId ? (
            <>
              {" "}
              <Link className="text-sky-400 hover:underline" href={`/runs/${encodeURIComponent(s.runId)}`}>
                {s.runId}
              </Link>
            </>
          ) : null}
          {s.reason ? <span className="text-slate-500"> — {s.reason}</span> : null}
        </li>
      ))}
    </ul>
  );
}

export function SchedulesPage() {
  const [user, setUser] = useState<UserInfo | null>(null);
  const [list, setList] = useState<ScheduleInfo[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing | null>(null);
  const edit = async (id: string) => {
    try {
      const r = await apiCall<{ schedule: ScheduleInfo; yaml: string }>(API.schedule(id));
      setEditing({ schedule: r.schedule, yaml: r.yaml });
    } catch (e) {
      setError(errorLines(e).join("; "));
    }
  };
  const load = useCallback(() => {
    apiCall<{ schedules: ScheduleInfo[] }>(API.schedules).then(
      (r) => (setList(r.schedules), setError(null)),
      (e: unknown) => setError(errorLines(e).join("; ")),
    );
  }, []);
  useEffect(() => {
    apiCall<{ user: UserInfo }>(API.me).then((r) => setUser(r.user), () => undefined);
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [load]);
  const canEdit = user ? user.role !== "viewer" : false;
  const act = async (path: string) => {
    try {
      await apiCall(path, { method: "POST", body: {} });
      load();
    } catch (e) {
      setError(errorLines(e).join("; "));
    }
  };
  return (
    <>
      <AppHeader user={user} connected={false} />
      <main className="mx-auto max-w-[1600px] space-y-4 p-4">
        <Card title="Schedules" testId="schedules">
          {error ? <p className="mb-2 text-sm text-amber-400">{error}</p> : null}
          {!list.length ? <p className="text-sm text-slate-500">No schedules yet.</p> : null}
          <table className="w-full text-left text-sm">
            <tbody className="divide-y divide-slate-800">
              {list.map((s) => (
                <tr key={s.id} data-testid={`schedule-${s.name}`} className="align-top">
                  <td className="py-2 pr-3">
                    <button type="button" className="font-medium text-sky-400 hover:underline" onClick={() => setOpen(open === s.id ? null : s.id)}>
                      {s.name}
                    </button>
                    <div className="text-xs text-slate-500">
                      {s.experimentName} · by {s.createdBy}
                    </div>
                    {open === s.id ? <Slots id={s.id} /> : null}
                  </td>
                  <td className="py-2 pr-3 font-mono text-xs text-slate-300">
                    {s.cron} <span className="text-slate-500">{s.timezone}</span>
                    <div className="text-slate-500">
                      {s.window ? `window ${[s.window.days?.join(","), s.window.hours].filter(Boolean).join(" ")}` : "any time"}
                      {s.blackout.length ? ` · blackout ${s.blackout.join(", ")}` : ""} · {s.policy}
                    </div>
                  </td>
                  <td className="py-2 pr-3 text-xs tabular-nums text-slate-400">{s.paused ? <span className="text-amber-400">paused</span> : s.next[0] ? `next ${dateTime(s.next[0])}` : "no fire time ahead"}</td>
                  <td className="py-2 text-right">
                    <button type="button" disabled={!canEdit} className="mr-2 rounded bg-slate-700 px-2 py-0.5 text-xs disabled:opacity-50" onClick={() => void edit(s.id)}>
                      Edit
                    </button>
                    <button type="button" disabled={!canEdit} className="mr-2 rounded bg-slate-700 px-2 py-0.5 text-xs disabled:opacity-50" onClick={() => void act(s.paused ? API.scheduleResume(s.id) : API.schedulePause(s.id))}>
                      {s.paused ? "Resume" : "Pause"}
                    </button>
                    <button type="button" disabled={!canEdit} className="rounded bg-red-900 px-2 py-0.5 text-xs disabled:opacity-50" onClick={() => window.confirm(`Remove schedule ${s.name}?`) && void act(API.scheduleDelete(s.id))}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
        <Card
          title={editing ? `Edit ${editing.schedule.name}` : "New schedule"}
          right={
            editing ? (
              <button type="button" className="text-xs text-slate-400 hover:text-slate-200" onClick={() => setEditing(null)}>
                new schedule instead
              </button>
            ) : null
          }
        >
          <ScheduleForm key={editing?.schedule.id ?? "new"} canEdit={canEdit} editing={editing} onSaved={() => (setEditing(null), load())} />
        </Card>
      </main>
    </>
  );
}
