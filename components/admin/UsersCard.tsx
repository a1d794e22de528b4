"use client";
import { useState, type FormEvent } from "react";
import { API, ROLES, type Role, type UserRecord } from "@/lib/contract";
import { apiCall } from "@/lib/web/api";
import { time } from "@/lib/web/format";
import { Card } from "@/components/Card";
import { ErrorNote, INPUT, SUBMIT, Table } from "./parts";
import { useApiList } from "./use-list";

/** Users with their roles; an admin resets a password, disables a user (kept for the history that names them) or enables them again. */
export function UsersCard({ me, onChange }: { me: string; onChange: () => void }) {
  const { items: users, error, act } = useApiList<UserRecord>(API.users, "users", onChange);
  const [resetFor, setResetFor] = useState<string | null>(null);

  function reset(e: FormEvent<HTMLFormElement>, username: string) {
    e.preventDefault();
    const password = String(new FormData(e.currentTarget).get("password"));
    void act(async () => {
      await apiCall(API.userPassword(username), { body: { password } });
      setResetFor(null);
    });
  }

  function disable(username: string) {
    if (!window.confirm(`Disable ${username}? Their sessions end and their API tokens are revoked at once.`)) return;
    void act(() => apiCall(API.userDisable(username), { method: "POST" }));
  }

  function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const form = e.currentTarget;
    void act(async () => {
      await apiCall(API.users, { body: { username: String(f.get("username")), password: String(f.get("password")), role: String(f.get("role")) } });
      form.reset();
    });
  }

  return (
    <Card title="Users" testId="users">
      <Table columns={["user", "role", "since", "status", ""]}>
          {users.map((u) => (
            <tr key={u.username} className="border-t border-slate-800" data-testid={`user-${u.username}`}>
              <td className="py-1 font-mono">{u.username}</td>
              <td>
                <select
                  aria-label={`role of ${u.username}`}
                  data-testid={`role-${u.username}`}
                  className={INPUT}
                  value={u.role}
                  onChange={(e) => void act(() => apiCall(API.user(u.username), { method: "PATCH", body: { role: e.target.value as Role } }))}
                >
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </td>
              <td className="text-slate-400">{time(u.createdAt)}</td>
              <td className={u.disabledAt ? "text-red-300" : "text-emerald-300"} data-testid={`status-${u.username}`}>
                {u.disabledAt ? `disabled ${time(u.disabledAt)}` : "active"}
              </td>
              <td className="space-x-3 whitespace-nowrap text-xs">
                {u.username === me ? (
                  <span className="text-slate-500">you (change your password above)</span>
                ) : resetFor === u.username ? (
                  <form onSubmit={(e) => reset(e, u.username)} className="inline-flex items-center gap-2" data-testid={`reset-${u.username}`}>
                    <input name="password" type="password" placeholder="new password (10+ characters)" autoComplete="new-password" required className={INPUT} />
                    <button type="submit" className={SUBMIT}>
                      Set
                    </button>
                    <button type="button" className="text-slate-400 hover:text-slate-200" onClick={() => setResetFor(null)}>
                      Cancel
                    </button>
                  </form>
                ) : (
                  <>
                    <button type="button" className="text-sky-300 hover:text-sky-200" data-testid={`reset-open-${u.username}`} onClick={() => setResetFor(u.username)}>
                      Reset password
                    </button>
                    {u.disabledAt ? (
                      <button type="button" className="text-emerald-300 hover:text-emerald-200" data-testid={`enable-${u.username}`} onClick={() => void act(() => apiCall(API.userEnable(u.username), { method: "POST" }))}>
                        Enable
                      </button>
                    ) : (
                      <button type="button" className="text-red-300 hover:text-red-200" data-testid={`disable-${u.username}`} onClick={() => disable(u.username)}>
                        Disable
                      </button>
                    )}
                  </>
                )}
              </td>
            </tr>
          ))}
      </Table>
      <form onSubmit={create} className="mt-3 flex flex-wrap items-center gap-2" data-testid="user-create">
        <input name="username" placeholder="user name" required className={INPUT} />
        <input name="password" type="password" placeholder="password (10+ characters)" autoComplete="new-password" required className={INPUT} />
        <select name="role" defaultValue="viewer" className={INPUT}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <button type="submit" className={SUBMIT}>
          Create user
        </button>
      </form>
      <ErrorNote error={error} />
    </Card>
  );
}
