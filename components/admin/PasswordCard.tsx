"use client";
// Your own password, for every role: the current one is required (the worker
// counts a wrong one against the login limits); your other sessions end, this
// one and your API tokens stay.
import { useState, type FormEvent } from "react";
import { API } from "@/lib/contract";
import { apiCall, errorLines } from "@/lib/web/api";
import { Card } from "@/components/Card";
import { ErrorNote, INPUT, SUBMIT } from "./parts";

export function PasswordCard({ onChange }: { onChange: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  async function change(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    setError(null);
    setDone(null);
    if (f.get("newPassword") !== f.get("repeat")) return setError("repeat: the two new passwords differ");
    try {
      const r = await apiCall<{ sessionsEnded: number; tokensKept: number }>(API.password, {
        body: { currentPassword: String(f.get("currentPassword")), newPassword: String(f.get("newPassword")) },
      });
      form.reset();
      setDone(`Password changed. ${r.sessionsEnded} other session(s) ended; ${r.tokensKept} API token(s) kept (revoke them below if they may be known).`);
      onChange();
    } catch (err) {
      setError(errorLines(err).join("; "));
    }
  }

  return (
    <Card title="Your password" testId="password">
      <form onSubmit={(e) => void change(e)} className="flex flex-wrap items-center gap-2" data-testid="password-change">
        <input name="currentPassword" type="password" placeholder="current password" autoComplete="current-password" required className={INPUT} />
        <input name="newPassword" type="password" placeholder="new password (10+ characters)" autoComplete="new-password" required className={INPUT} />
        <input name="repeat" type="password" placeholder="new password again" autoComplete="new-password" required className={INPUT} />
        <button type="submit" className={SUBMIT}>
          Change password
        </button>
      </form>
      {done ? (
        <p className="mt-2 text-sm text-emerald-300" data-testid="password-done">
          {done}
        </p>
      ) : null}
      <ErrorNote error={error} />
    </Card>
  );
}
