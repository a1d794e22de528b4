"use client";
// Opens a replay bundle (gameday report RUN --bundle, or the run page's
// download) in the browser: every file is checked against its sha256 in the
// manifest, then the run is replayed with the same components as /runs/<id>.
// Nothing is sent anywhere; the file never leaves the browser.
import Link from "next/link";
import { useState } from "react";
import type { ProbeSampleMsg, RunRecord, TimelineEvent } from "@/lib/contract";
import type { RunViewState } from "@/lib/web/run-view";
import { Card } from "@/components/Card";
import { RunDetails } from "@/components/run/RunDetails";

interface Bundle {
  format: string;
  manifest: Record<string, { sha256: string }>;
  files: Record<string, string>;
}

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The bundle's run as a replay view; throws naming the file that does not match its manifest. */
export async function openBundle(text: string): Promise<RunViewState> {
  let b: Bundle;
  try {
    b = JSON.parse(text) as Bundle;
  } catch {
    throw new Error("not a replay bundle: the file is not JSON");
  }
  if (b?.format !== "gameday-replay/v1" || !b.files || !b.manifest) throw new Error(`not a replay bundle (format ${JSON.stringify(b?.format)}, expected gameday-replay/v1)`);
  for (const name of ["run.json", "events.json", "samples.json"]) if (typeof b.files[name] !== "string") throw new Error(`the bundle has no ${name}`);
  for (const [name, file] of Object.entries(b.files)) {
    if ((await sha256(file)) !== b.manifest[name]?.sha256) throw new Error(`${name} does not match its sha256 in the manifest: the bundle was changed`);
  }
  const run = JSON.parse(b.files["run.json"]) as RunRecord;
  return {
    runId: run.id,
    run,
    events: (JSON.parse(b.files["events.json"]) as TimelineEvent[]).filter((e) => e.monoMs >= 0),
    samples: JSON.parse(b.files["samples.json"]) as ProbeSampleMsg[],
    loading: false,
    error: null,
    reloads: 0,
  };
}

export function BundleViewer() {
  const [view, setView] = useState<RunViewState | null>(null);
  const [error, setError] = useState<string | null>(null);
  return (
    <main className="mx-auto max-w-[1600px] space-y-4 p-4">
      <Link href="/" className="text-sm text-sky-400 hover:underline">
        ← Dashboard
      </Link>
      <Card title="Open a replay bundle" testId="bundle-open">
        <input
          type="file"
          accept=".json,application/json"
          data-testid="bundle-file"
          className="text-sm text-slate-300"
          onChange={(e) => {
            const f = e.target.files?.[0];
            // cleared, so choosing the same file again reopens it
            e.target.value = "";
            if (!f) return;
            void f
              .text()
              .then(openBundle)
              .then(
                (v) => {
                  setView(v);
                  setError(null);
                },
                (err: Error) => {
                  setView(null);
                  setError(err.message);
                },
              );
          }}
        />
        {error ? (
          <p className="mt-2 text-sm text-red-400" data-testid="bundle-error">
            {error}
          </p>
        ) : null}
      </Card>
      {view ? (
        <Card title="Run replay (from a bundle)" testId="run-replay">
          <RunDetails view={view} timelineHeight="max-h-[640px]" />
        </Card>
      ) : null}
    </main>
  );
}
