"use client";
import type { FormEvent } from "react";
import { API, ROLES, type Role, type UserRecord } from "@/lib/contract";
import { apiCall } from "@/lib/web/api";
import { time } from "@/lib/web/format";
import { Card } from "@/components/Card";
import { ErrorNote, INPUT, SUBMIT, Table } from "./parts";
import { useApiList } from "./use-list";

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
      <Table columns={["user", "role", "since"]}>
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
