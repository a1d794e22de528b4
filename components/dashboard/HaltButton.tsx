"use client";
import { useEffect, useState } from "react";
import { API } from "@/lib/contract";
import { apiCall, errorLines } from "@/lib/web/api";

/** An unconfirmed HALT falls back to the plain button after this long. */
const CONFIRM_WINDOW_MS = 6000;

/** Two steps, both inline (no window.confirm): HALT → Confirm HALT. */
export function HaltButton({ disabled }: { disabled?: boolean }) {
  const [arming, setArming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);

  useEffect(() => {
    if (!arming) return;
    const t = setTimeout(() => setArming(false), CONFIRM_WINDOW_MS);
    return () => clearTimeout(t);
  }, [arming]);

  useEffect(() => {
    if (!result) return;
    const t = setTimeout(() => setResult(null), 8000);
    return () => clearTimeout(t);
  }, [result]);

  async function halt() {
    setBusy(true);
    try {
      const r = await apiCall<{ aborted: string[] }>(API.halt, { method: "POST", body: {} });
      setResult({ ok: true, text: r.aborted.length ? `halted: aborted ${r.aborted.join(", ")}` : "halted: nothing was running" });
    } catch (e) {
      setResult({ ok: false, text: errorLines(e).join("; ") });
    } finally {
      setBusy(false);
      setArming(false);
    }
  }

  return (
    <div className="flex items-center gap-2">
      {result ? (
        <span className={`max-w-xs truncate text-xs ${result.ok ? "text-amber-300" : "text-red-400"}`} data-testid="halt-result" title={result.text}>
          {result.text}
        </span>
      ) : null}
      {arming ? (
        <>
          <button
            type="button"
            data-testid="halt-confirm"
            disabled={busy}
            onClick={() => void halt()}
            className="animate-pulse rounded-md bg-red-600 px-4 py-2 text-sm font-extrabold tracking-wider text-white ring-2 ring-red-300 hover:bg-red-500 disabled:opacity-60"
          >
            {busy ? "Halting…" : "Confirm HALT"}
          </button>
          <button type="button" onClick={() => setArming(false)} className="rounded-md px-2 py-2 text-sm text-slate-400 hover:text-slate-200" data-testid="halt-cancel">
            Cancel
          </button>
        </>
      ) : (
        <button
          type="button"
          data-testid="halt"
          disabled={disabled}
          title={disabled ? "HALT needs the operator role" : "Abort every run and revert every fault"}
          onClick={() => setArming(true)}
          className="rounded-md bg-red-700 px-5 py-2 text-sm font-extrabold tracking-widest text-white shadow-lg shadow-red-950 hover:bg-red-600 disabled:cursor-not-allowed disabled:opacity-40"
        >
          HALT
        </button>
      )}
    </div>
  );
}
