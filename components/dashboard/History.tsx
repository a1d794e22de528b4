import Link from "next/link";
import { API, type RunRecord } from "@/lib/contract";
import { dateTime, duration } from "@/lib/web/format";
import { HeldBadge, StateBadge } from "@/components/run/StateBadge";

export function History({ runs, error }: { runs: RunRecord[]; error: string | null }) {
  if (error) return <p className="text-sm text-amber-400">Could not load the history: {error}</p>;
  if (!runs.length) return <p className="text-sm text-slate-500">No runs yet.</p>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm" data-testid="history">
        <thead className="text-xs uppercase tracking-wide text-slate-500">
          <tr>
            <th className="py-1.5 pr-3 font-medium">Experiment</th>
            <th className="py-1.5 pr-3 font-medium">State</th>
            <th className="py-1.5 pr-3 font-medium">Hypothesis</th>
            <th className="py-1.5 pr-3 font-medium">Abort</th>
            <th className="py-1.5 pr-3 font-medium">Started by</th>
            <th className="py-1.5 pr-3 font-medium">Created</th>
            <th className="py-1.5 pr-3 font-medium">Duration</th>
            <th className="py-1.5 font-medium">Report</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-800">
          {runs.map((r) => (
            <tr key={r.id} className="hover:bg-slate-800/40" data-testid={`history-${r.id}`}>
              <td className="py-1.5 pr-3">
                <Link href={`/runs/${encodeURIComponent(r.id)}`} data-testid={`history-link-${r.id}`} className="font-medium text-sky-400 hover:underline">
                  {r.name}
                </Link>
                <span className="ml-2 font-mono text-xs text-slate-500">{r.id}</span>
              </td>
              <td className="py-1.5 pr-3">
                <StateBadge state={r.state} />
              </td>
              <td className="py-1.5 pr-3">
                <HeldBadge held={r.hypothesisHeld} inconclusive={!!r.inconclusive} />
              </td>
              <td className="max-w-xs truncate py-1.5 pr-3 text-xs text-slate-400" title={r.abort?.message}>
                {r.abort ? r.abort.reason : "—"}
              </td>
              <td className="py-1.5 pr-3 text-slate-300" data-testid={`launched-by-${r.id}`}>
                {r.launchedBy === "schedule" ? (
                  <span title="launched by a schedule">schedule {r.startedBy.replace(/^schedule:/, "")}</span>
                ) : (
                  r.startedBy
                )}
              </td>
              <td className="py-1.5 pr-3 tabular-nums text-slate-400">{dateTime(r.createdAt)}</td>
              <td className="py-1.5 pr-3 tabular-nums text-slate-400">{duration(r.startedAt, r.endedAt)}</td>
              <td className="py-1.5">
                <a href={API.runReport(r.id)} download={`gameday-${r.id}.pdf`} data-testid={`history-pdf-${r.id}`} className="text-sky-400 hover:underline">
                  PDF
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="mt-2 text-xs text-slate-500">
        <Link href="/runs/replay" className="text-sky-400 hover:underline" data-testid="open-bundle">
          Open a replay bundle…
        </Link>
      </p>
    </div>
  );
}
