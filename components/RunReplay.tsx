"use client";
// One run replayed from the API (record, faults, timeline, probe charts). While
// the run is still going it also follows the live stream; participants' notes
// (from the page, another browser or `gameday note`) arrive live at any time.
import Link from "next/link";
import { useEffect, useState } from "react";
import { API, type RunNote, type UserInfo } from "@/lib/contract";
import { apiCall } from "@/lib/web/api";
import { isActive } from "@/lib/web/format";
import { useLive } from "@/lib/web/live";
import { mergeNotes, useRunView } from "@/lib/web/run-view";
import { Card } from "@/components/Card";
import { AppHeader } from "@/components/dashboard/AppHeader";
import { RunDetails } from "@/components/run/RunDetails";
import { PostMortemPanel } from "@/components/report/PostMortemPanel";

export function RunReplay({ id }: { id: string }) {
  const [user, setUser] = useState<UserInfo | null>(null);
  const { state: view, dispatch } = useRunView(id);
  const [liveNotes, setLiveNotes] = useState<RunNote[]>([]);

  useEffect(() => {
    const ctrl = new AbortController();
    apiCall<{ user: UserInfo }>(API.me, { signal: ctrl.signal }).then(
      (r) => setUser(r.user),
      () => undefined,
    );
    return () => ctrl.abort();
  }, []);

  const live = useLive({
    hello: () => dispatch({ type: "reload" }),
    runUpdate: (run) => dispatch({ type: "run", run, follow: false }),
    runEvent: (event) => dispatch({ type: "event", event }),
    runSample: (sample) => dispatch({ type: "sample", sample }),
    runNote: (note) => {
      if (note.runId === id) setLiveNotes((prev) => mergeNotes(prev, [note]));
    },
  });

  return (
    <>
      <AppHeader user={user} connected={live.connected} liveError={live.error} />
      <main className="mx-auto max-w-[1600px] space-y-4 p-4">
        <Link href="/" className="text-sm text-sky-400 hover:underline">
          ← Dashboard
        </Link>
        <Card title={view.run && isActive(view.run) ? "Run (live)" : "Run replay"} testId="run-replay">
          <RunDetails view={view} timelineHeight="max-h-[640px]" />
        </Card>
        {view.run ? (
          <Card title="Post-mortem" testId="post-mortem-card">
            <PostMortemPanel runId={id} user={user} ended={!isActive(view.run)} liveNotes={liveNotes} reloads={view.reloads} />
          </Card>
        ) : null}
      </main>
    </>
  );
}
