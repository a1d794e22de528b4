import type { RunState } from "@/lib/contract";
import { STATE_CLASS } from "@/lib/web/format";

export function StateBadge({ state, testId }: { state: RunState; testId?: string }) {
  return (
    <span className={`inline-block rounded px-2 py-0.5 font-mono text-xs font-semibold ${STATE_CLASS[state] ?? "bg-slate-700"}`} data-testid={testId}>
      {state}
    </span>
  );
}

export function HeldBadge({ held, inconclusive }: { held: boolean | null; inconclusive?: boolean }) {
  if (inconclusive) return <span className="text-xs font-semibold text-amber-300">inconclusive</span>;
  if (held === null) return <span className="text-xs text-slate-500">hypothesis: open</span>;
  return held ? (
    <span className="text-xs font-semibold text-emerald-400">hypothesis held</span>
  ) : (
    <span className="text-xs font-semibold text-red-400">hypothesis refuted</span>
  );
}
