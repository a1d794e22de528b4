import type { FaultRecord } from "@/lib/contract";
import { time } from "@/lib/web/format";

const STATE_TEXT: Record<string, string> = {
  pending: "text-slate-400",
  injected: "text-red-400 font-semibold",
  reverted: "text-emerald-400",
  "to-revert": "text-red-500 font-semibold",
  failed: "text-amber-400 font-semibold",
};

function verified(v: boolean | null) {
  if (v === null) return <span className="text-slate-500">—</span>;
  return v ? <span className="text-emerald-400">✓ yes</span> : <span className="text-red-400">✗ no</span>;
}

export function FaultsTable({ faults }: { faults: FaultRecord[] }) {
  if (!faults.length) return <p className="text-sm text-slate-500">No faults injected yet.</p>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm" data-testid="faults">
        <thead className="text-xs uppercase tracking-wide text-slate-500">
          <tr>
            <th className="py-1 pr-3 font-medium">Target</th>
            <th className="py-1 pr-3 font-medium">Fault</th>
            <th className="py-1 pr-3 font-medium">State</th>
            <th className="py-1 pr-3 font-medium">Verified</th>
            <th className="py-1 pr-3 font-medium">Injected</th>
            <th className="py-1 font-medium">Reverted</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-800">
          {faults.map((f) => (
            <tr key={f.id} data-testid={`fault-${f.id}`} title={f.error ?? f.targetId}>
              <td className="py-1 pr-3">
                <span className="font-mono text-slate-200">{f.targetLabel}</span>
                {f.node ? <span className="ml-1 text-xs text-slate-500">({f.node})</span> : null}
              </td>
              <td className="py-1 pr-3">
                <span className="font-mono">{f.fault}</span>
                {f.irreversible ? (
                  <span data-testid="fault-irreversible" title="This change cannot be undone: its revert puts nothing back" className="ml-1 rounded bg-red-700 px-1.5 py-0.5 text-[10px] font-bold uppercase tracking-wide text-white">
                    IRREVERSIBLE
                  </span>
                ) : null}
                {f.detail ? <span className="block text-xs text-slate-500" data-testid="fault-detail">{f.detail}</span> : null}
                {f.effect ? (
                  <span className={`block text-xs ${f.effect.touched === 0 ? "text-amber-300" : "text-slate-400"}`} data-testid="fault-effect">
                    effect: {f.effect.summary}
                  </span>
                ) : null}
              </td>
              <td className={`py-1 pr-3 ${STATE_TEXT[f.state] ?? ""}`}>
                {f.state}
                {f.error ? <span className="ml-1 text-xs text-amber-300">{f.error}</span> : null}
              </td>
              <td className="py-1 pr-3">{verified(f.verified)}</td>
              <td className="py-1 pr-3 tabular-nums text-slate-400">{time(f.injectedAt)}</td>
              <td className="py-1 tabular-nums text-slate-400">{time(f.revertedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
