"use client";
import type { FormEvent } from "react";
import { API, ROLES, type Role, type UserRecord } from "@/lib/contract";
import { apiCall } from "@/lib/web/api";
import { time } from "@/lib/web/format";
import { Card } from "@/components/Card";
import { useApiList } from "./use-list";

const input = "rounded-md border border-slate-700 bg-slate-950 px-2 py-1 text-sm text-slate-100";

export function UsersCard({ onChange }: { onChange: () => void }) {
  const { items: users, error, act } = useApiList<UserRecord>(API.users, "users", onChange);

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
      <table className="w-full text-left text-sm">
        <thead className="text-xs uppercase text-slate-500">
          <tr>
            <th className="py-1">user</th>
            <th>role</th>
            <th>since</th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.username} className="border-t border-slate-800" data-testid={`user-${u.username}`}>
              <td className="py-1 font-mono">{u.username}</td>
              <td>
                <select
                  aria-label={`role of ${u.username}`}
                  data-testid={`role-${u.username}`}
                  className={input}
                  value={u.role}
                  onChange={(e) => void act(() => apiCall(API.user(u.username), { method: "PATCH", body: { role: e.target.value as Role } }))}
                >
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </td>
              <td className="text-slate-400">{time(u.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form onSubmit={create} className="mt-3 flex flex-wrap items-center gap-2" data-testid="user-create">
        <input name="username" placeholder="user name" required className={input} />
        <input name="password" type="password" placeholder="password (10+ characters)" autoComplete="new-password" required className={input} />
        <select name="role" defaultValue="viewer" className={input}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <button type="submit" className="rounded-md bg-sky-700 px-3 py-1 text-sm font-semibold text-white hover:bg-sky-600">
          Create user
        </button>
      </form>
      {error ? (
        <p className="mt-2 text-sm text-red-300" role="alert">
          {error}
        </p>
      ) : null}
    </Card>
  );
}
