"use client";
// The run page's post-mortem controls: download the report (PDF, HTML) and the
// replay bundle, add participants' notes, and edit "what we learned / actions"
// before exporting. Operators edit; viewers read. Notes pushed over the live
// socket (liveNotes) show at once; a reconnect (reloads) loads them again.
import { useCallback, useEffect, useState } from "react";
import { API, type RunNote, type RunReview, type UserInfo } from "@/lib/contract";
import { apiCall } from "@/lib/web/api";
import { time } from "@/lib/web/format";
import { mergeNotes } from "@/lib/web/run-view";

const link = "rounded-md border border-slate-700 bg-slate-800 px-3 py-1.5 text-sm font-medium text-sky-300 hover:bg-slate-700";
const input = "w-full rounded-md border border-slate-700 bg-slate-950 px-2 py-1.5 text-sm text-slate-100 placeholder:text-slate-600 disabled:opacity-60";

export function PostMortemPanel({ runId, user, ended, liveNotes = [], reloads = 0 }: { runId: string; user: UserInfo | null; ended: boolean; liveNotes?: RunNote[]; reloads?: number }) {
  const canEdit = !!user && user.role !== "viewer";
  const [notes, setNotes] = useState<RunNote[]>([]);
  const [text, setText] = useState("");
  const [review, setReview] = useState<RunReview | null>(null);
  const [learned, setLearned] = useState("");
  const [actions, setActions] = useState("");
  const [status, setStatus] = useState<string | null>(null);

  const loadNotes = useCallback(async (signal?: AbortSignal) => setNotes((await apiCall<{ notes: RunNote[] }>(API.runNotes(runId), { signal })).notes), [runId]);

  // the review once (a reload must not undo what is being typed); the notes again after every reconnect
  useEffect(() => {
    const ctrl = new AbortController();
    apiCall<{ review: RunReview }>(API.runReview(runId), { signal: ctrl.signal }).then(
      (r) => {
        setReview(r.review);
        setLearned(r.review.learned);
        setActions(r.review.actions);
      },
      (e: Error) => e.name !== "AbortError" && setStatus(`Could not load the review: ${e.message}`),
    );
    return () => ctrl.abort();
  }, [runId]);
  useEffect(() => {
    const ctrl = new AbortController();
    loadNotes(ctrl.signal).catch((e: Error) => e.name !== "AbortError" && setStatus(`Could not load notes: ${e.message}`));
    return () => ctrl.abort();
  }, [loadNotes, reloads]);
  const shown = mergeNotes(notes, liveNotes);

  const addNote = async () => {
    try {
      await apiCall(API.runNotes(runId), { body: { text } });
      setText("");
      setStatus(null);
      await loadNotes();
    } catch (e) {
      setStatus(`Note not added: ${(e as Error).message}`);
    }
  };
  const save = async () => {
    try {
      const r = await apiCall<{ review: RunReview }>(API.runReview(runId), { method: "PUT", body: { learned, actions } });
      setReview(r.review);
      setStatus("Saved: the next export includes it.");
    } catch (e) {
      setStatus(`Not saved: ${(e as Error).message}`);
    }
  };

  return (
    <div className="space-y-4" data-testid="post-mortem">
      <div className="flex flex-wrap items-center gap-2">
        <a className={link} href={API.runReport(runId)} download={`gameday-${runId}.pdf`} data-testid="download-pdf">
          Post-mortem PDF
        </a>
        <a className={link} href={API.runReport(runId, "html")} download={`gameday-${runId}.html`} data-testid="download-html">
          HTML
        </a>
        <a className={link} href={API.runBundle(runId)} download={`gameday-${runId}.replay.json`} data-testid="download-bundle">
          Replay bundle
        </a>
        {!ended ? <span className="text-xs text-slate-500">The run is still going: the report shows it so far.</span> : null}
      </div>
      <section>
        <h4 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-400">Participants&apos; notes</h4>
        <ul className="mb-2 space-y-0.5 text-sm" data-testid="notes">
          {shown.length === 0 ? <li className="text-slate-500">No notes yet.</li> : null}
          {shown.map((n) => (
            <li key={n.id} title={n.at}>
              <span className="font-mono text-xs text-slate-500">{time(n.at)}</span> <span className="font-medium text-slate-300">{n.author}</span>: <span className="text-slate-200">{n.text}</span>
            </li>
          ))}
        </ul>
        <form
          className="flex gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            void addNote();
          }}
        >
          <input className={input} value={text} onChange={(e) => setText(e.target.value)} placeholder={canEdit ? "What do you see? (timestamped)" : "Adding notes needs the operator role"} disabled={!canEdit} data-testid="note-text" maxLength={2000} />
          <button type="submit" className={`${link} shrink-0 whitespace-nowrap`} disabled={!canEdit || !text.trim()} data-testid="note-add">
            Add note
          </button>
        </form>
      </section>
      <section className="grid gap-3 md:grid-cols-2">
        <label className="block text-xs font-semibold uppercase tracking-wide text-slate-400">
          What we learned
          <textarea className={`${input} mt-1 h-28 font-normal normal-case tracking-normal`} value={learned} onChange={(e) => setLearned(e.target.value)} disabled={!canEdit} data-testid="review-learned" />
        </label>
        <label className="block text-xs font-semibold uppercase tracking-wide text-slate-400">
          Actions (one a line)
          <textarea className={`${input} mt-1 h-28 font-normal normal-case tracking-normal`} value={actions} onChange={(e) => setActions(e.target.value)} disabled={!canEdit} data-testid="review-actions" />
        </label>
      </section>
      <div className="flex items-center gap-3">
        <button type="button" className={link} onClick={() => void save()} disabled={!canEdit} data-testid="review-save">
          Save for the report
        </button>
        {review?.updatedBy ? <span className="text-xs text-slate-500">last edited by {review.updatedBy} at {time(review.updatedAt)}</span> : null}
        {status ? (
          <span className="text-xs text-amber-300" data-testid="post-mortem-status">
            {status}
          </span>
        ) : null}
      </div>
    </div>
  );
}
