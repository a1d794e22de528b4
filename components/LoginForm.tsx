"use client";
import { useEffect, useState, type FormEvent } from "react";
import { useRouter } from "next/navigation";
import { API, type UserInfo } from "@/lib/contract";
import { apiCall, ApiCallError } from "@/lib/web/api";
import { safeNextPath } from "@/lib/web/next-path";

/** Only same-origin paths: ?next= must not turn the login page into an open redirect. */
function nextPath(): string {
  return safeNextPath(new URLSearchParams(window.location.search).get("next"), window.location.origin);
}

export function LoginForm() {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The button stays disabled until hydration, so an early click can never
  // fall through to a native form submission.
  const [ready, setReady] = useState(false);

  // Already logged in: nothing to do here.
  useEffect(() => {
    setReady(true);
    const ctrl = new AbortController();
    apiCall<{ user: UserInfo }>(API.me, { signal: ctrl.signal, redirectOn401: false }).then(
      () => router.replace(nextPath()),
      () => undefined,
    );
    return () => ctrl.abort();
  }, [router]);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    // Uncontrolled inputs: whatever was typed before hydration still counts.
    const form = new FormData(e.currentTarget);
    const username = String(form.get("username") ?? "");
    const password = String(form.get("password") ?? "");
    setBusy(true);
    setError(null);
    try {
      await apiCall<{ user: UserInfo }>(API.login, { body: { username, password }, redirectOn401: false });
      router.replace(nextPath());
    } catch (err) {
      if (err instanceof ApiCallError && err.status === 401) setError("Wrong username or password.");
      else if (err instanceof ApiCallError && err.status === 429) setError(err.message);
      else if (err instanceof ApiCallError && err.issues.length) setError(err.issues.map((i) => `${i.path || "input"}: ${i.message}`).join("; "));
      else setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  }

  return (
    <form method="post" onSubmit={(e) => void submit(e)} className="w-full max-w-sm space-y-4 rounded-xl border border-slate-800 bg-slate-900/80 p-6 shadow-xl">
      <div>
        <h1 className="text-2xl font-bold tracking-tight text-slate-100">Game Day</h1>
        <p className="mt-1 text-sm text-slate-400">Sign in to break things on purpose.</p>
      </div>
      <label className="block text-sm text-slate-300">
        Username
        <input
          name="username"
          autoComplete="username"
          required
          className="mt-1 block w-full rounded-md border border-slate-700 bg-slate-950 px-3 py-2 text-slate-100 focus:border-sky-500 focus:outline-none"
        />
      </label>
      <label className="block text-sm text-slate-300">
        Password
        <input
          name="password"
          type="password"
          autoComplete="current-password"
          required
          className="mt-1 block w-full rounded-md border border-slate-700 bg-slate-950 px-3 py-2 text-slate-100 focus:border-sky-500 focus:outline-none"
        />
      </label>
      {error ? (
        <p className="rounded-md border border-red-800 bg-red-950/50 px-3 py-2 text-sm text-red-300" data-testid="login-error" role="alert">
          {error}
        </p>
      ) : null}
      <button
        type="submit"
        data-testid="login-submit"
        disabled={busy || !ready}
        className="w-full rounded-md bg-sky-600 px-4 py-2 font-semibold text-white hover:bg-sky-500 disabled:opacity-50"
      >
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
