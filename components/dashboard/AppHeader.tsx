"use client";
import Link from "next/link";
import type { ReactNode } from "react";
import { API, type UserInfo } from "@/lib/contract";
import { apiCall } from "@/lib/web/api";

export function LiveStatus({ connected, error }: { connected: boolean; error?: string | null }) {
  return (
    <span
      className={`inline-flex items-center gap-1.5 rounded-full px-2.5 py-0.5 text-xs font-medium ${connected ? "bg-emerald-950 text-emerald-300" : "bg-slate-800 text-slate-400"}`}
      title={connected ? "live updates from the worker" : `no live connection to the worker${error ? `: ${error}` : ""}`}
    >
      <span className={`h-2 w-2 rounded-full ${connected ? "bg-emerald-400" : "bg-slate-500"}`} />
      <span data-testid="live-status">{connected ? "live" : "offline"}</span>
    </span>
  );
}

async function logout() {
  try {
    await apiCall(API.logout, { method: "POST", body: {}, redirectOn401: false });
  } finally {
    window.location.assign("/login");
  }
}

/** faults: on the dashboard, the catalogue panel's toggle; elsewhere the link opens the dashboard with it. */
export function AppHeader({
  user,
  connected,
  liveError,
  faults,
  children,
}: {
  user: UserInfo | null;
  connected: boolean;
  liveError?: string | null;
  faults?: { open: boolean; toggle: () => void };
  children?: ReactNode;
}) {
  return (
    <header className="sticky top-0 z-10 border-b border-slate-800 bg-slate-950/90 backdrop-blur">
      <div className="mx-auto flex max-w-[1600px] items-center gap-4 px-4 py-3">
        <Link href="/" className="text-xl font-bold tracking-tight text-slate-100">
          Game Day
        </Link>
        <LiveStatus connected={connected} error={liveError} />
        {faults ? (
          <button
            type="button"
            onClick={faults.toggle}
            aria-expanded={faults.open}
            className={`text-sm hover:text-slate-200 ${faults.open ? "text-sky-300" : "text-slate-400"}`}
            data-testid="nav-faults"
            title="Every fault, what it takes and whether this host can run it"
          >
            Faults
          </button>
        ) : (
          <Link href="/#faults" className="text-sm text-slate-400 hover:text-slate-200" data-testid="nav-faults">
            Faults
          </Link>
        )}
        <Link href="/schedules" className="text-sm text-slate-400 hover:text-slate-200" data-testid="nav-schedules">
          Schedules
        </Link>
        <div className="ml-auto flex items-center gap-4">
          {user ? (
            <span className="text-sm text-slate-300" data-testid="user">
              {user.username} <span className="rounded bg-slate-800 px-1.5 py-0.5 text-xs text-slate-400">{user.role}</span>
            </span>
          ) : null}
          {user ? (
            <Link href="/admin" className="text-sm text-slate-400 hover:text-slate-200" data-testid="admin-link" title="Your password and API tokens; for admins also users, roles and the audit log">
              {user.role === "admin" ? "Users & audit" : "Account"}
            </Link>
          ) : null}
          {user ? (
            <button type="button" onClick={() => void logout()} className="text-sm text-slate-400 hover:text-slate-200" data-testid="logout">
              Log out
            </button>
          ) : null}
          {children}
        </div>
      </div>
    </header>
  );
}
