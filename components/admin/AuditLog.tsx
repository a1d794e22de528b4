"use client";
import { useEffect, useState } from "react";
import { API, type AuditEntry } from "@/lib/contract";
import { apiCall, errorLines } from "@/lib/web/api";
import { time } from "@/lib/web/format";
import { Card } from "@/components/Card";
import { ErrorNote, Table } from "./parts";

const ACTIONS = ["", "login", "login-failed", "logout", "run-start", "run-abort", "halt", "recover", "token-create", "token-revoke", "user-create", "user-role", "password-change", "user-password-reset", "user-disable", "user-enable", "audit-trim"];

export function AuditLog({ refresh }: { refresh: number }) {
  const [events, setEvents] = useState<AuditEntry[]>([]);
  const [action, setAction] = useState("");
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const ctrl = new AbortController();
    const q = new URLSearchParams({ limit: "200", ...(action ? { action } : {}) });
    apiCall<{ events: AuditEntry[] }>(`${API.audit}?${q}`, { signal: ctrl.signal }).then(
      (r) => setEvents(r.events),
      (e: unknown) => !ctrl.signal.aborted && setError(errorLines(e).join("; ")),
    );
    return () => ctrl.abort();
  }, [action, refresh]);

  return (
    <Card
      title="Audit log"
      testId="audit"
      right={
        <select aria-label="action" value={action} onChange={(e) => setAction(e.target.value)} className="rounded-md border border-slate-700 bg-slate-950 px-2 py-1 text-xs">
          {ACTIONS.map((a) => (
            <option key={a} value={a}>
              {a || "every action"}
            </option>
          ))}
        </select>
      }
    >
      <ErrorNote error={error} />
      <Table columns={["when", "who", "what", "on", "from", "detail"]}>
          {events.map((e) => (
            <tr key={e.id} className={`border-t border-slate-800 ${e.ok ? "" : "text-red-300"}`} data-testid="audit-row">
              <td className="py-1 whitespace-nowrap text-slate-400">{time(e.at)}</td>
              <td className="font-mono">{e.actor}</td>
              <td>{e.action}</td>
              <td className="font-mono text-xs">{e.target ?? ""}</td>
              <td className="text-xs text-slate-400">
                {e.address ?? ""}
                {e.origin ? ` · ${e.origin}` : ""}
              </td>
              <td className="max-w-md truncate font-mono text-xs text-slate-500">{e.detail ? JSON.stringify(e.detail) : ""}</td>
            </tr>
          ))}
      </Table>
    </Card>
  );
}
