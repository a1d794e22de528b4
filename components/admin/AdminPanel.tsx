"use client";
// /admin: your own password and API tokens (everyone's own; an admin's reach
// every user), and for admins the users (roles, password resets, disabling)
// and the audit log. Every change goes through the worker's API, which checks
// the role and records it.
import { useEffect, useState } from "react";
import { API, type UserInfo } from "@/lib/contract";
import { apiCall, ApiCallError, errorLines } from "@/lib/web/api";
import { AppHeader } from "@/components/dashboard/AppHeader";
import { AuditLog } from "./AuditLog";
import { PasswordCard } from "./PasswordCard";
import { TokensCard } from "./TokensCard";
import { UsersCard } from "./UsersCard";

export function AdminPanel() {
  const [user, setUser] = useState<UserInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  // bumped after a change, so the audit log shows it
  const [changes, setChanges] = useState(0);

  useEffect(() => {
    const ctrl = new AbortController();
    apiCall<{ user: UserInfo }>(API.me, { signal: ctrl.signal }).then(
      (r) => setUser(r.user),
      (e: unknown) => !ctrl.signal.aborted && !(e instanceof ApiCallError && e.status === 401) && setError(errorLines(e).join("; ")),
    );
    return () => ctrl.abort();
  }, []);

  const changed = () => setChanges((n) => n + 1);
  return (
    <>
      <AppHeader user={user} connected={false} liveError="the access page has no live link" />
      <main className="mx-auto max-w-[1600px] space-y-4 p-4">
        {error ? <p className="text-sm text-red-300">{error}</p> : null}
        {user ? <PasswordCard onChange={changed} /> : null}
        {user ? <TokensCard user={user} onChange={changed} /> : null}
        {user?.role === "admin" ? (
          <>
            <UsersCard me={user.username} onChange={changed} />
            <AuditLog refresh={changes} />
          </>
        ) : user ? (
          <p className="text-sm text-slate-400" data-testid="not-admin">
            Users and the audit log need the admin role; you are {user.role}.
          </p>
        ) : null}
      </main>
    </>
  );
}
