"use client";
import { useState, type FormEvent } from "react";
import { API, type TokenInfo, type UserInfo } from "@/lib/contract";
import { apiCall } from "@/lib/web/api";
import { time } from "@/lib/web/format";
import { Card } from "@/components/Card";
import { ErrorNote, INPUT, SUBMIT, Table } from "./parts";
import { useApiList } from "./use-list";

export function TokensCard({ user, onChange }: { user: UserInfo; onChange: () => void }) {
  const { items: tokens, error, act } = useApiList<TokenInfo>(API.tokens, "tokens", onChange);
  const [secret, setSecret] = useState<string | null>(null);
  const canCreate = user.role !== "viewer";

  function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    void act(async () => {
      const r = await apiCall<{ token: string }>(API.tokens, { body: { name: String(f.get("name")), expiresIn: String(f.get("expiresIn")) } });
      setSecret(r.token);
    });
  }

  return (
    <Card title="API tokens" testId="tokens">
      <Table columns={["id", "name", "user", "status", "expires", "last used", ""]}>
          {tokens.map((t) => (
            <tr key={t.id} className="border-t border-slate-800" data-testid={`token-${t.name}`}>
              <td className="py-1 font-mono text-xs">{t.id}</td>
              <td>{t.name}</td>
              <td>{t.username}</td>
              <td className={t.status === "active" ? "text-emerald-300" : "text-slate-500"}>{t.status}</td>
              <td className="text-slate-400">{t.expiresAt ? time(t.expiresAt) : "never"}</td>
              <td className="text-slate-400">{t.lastUsedAt ? time(t.lastUsedAt) : "never"}</td>
              <td>
                {t.status === "active" && canCreate ? (
                  <button type="button" className="text-xs text-red-300 hover:text-red-200" onClick={() => void act(() => apiCall(API.token(t.id), { method: "DELETE" }))}>
                    Revoke
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
      </Table>
      {canCreate ? (
        <form onSubmit={create} className="mt-3 flex flex-wrap items-center gap-2" data-testid="token-create">
          <input name="name" placeholder="token name" required className={INPUT} />
          <select name="expiresIn" defaultValue="90d" className={INPUT} aria-label="expires in">
            {["1h", "1d", "7d", "30d", "90d", "366d"].map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
          <button type="submit" className={SUBMIT}>
            Create token
          </button>
        </form>
      ) : null}
      {secret ? (
        <p className="mt-2 text-sm text-amber-200">
          New token (shown once; store it now): <code className="select-all break-all font-mono" data-testid="token-secret">{secret}</code>
        </p>
      ) : null}
      <ErrorNote error={error} />
    </Card>
  );
}
