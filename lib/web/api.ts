// The browser's REST client: same-origin calls through the /api/v1 proxy, JSON
// in and out, every non-2xx turned into an ApiCallError carrying the worker's
// ApiError body. A 401 sends the user to the login page.
import type { ApiError, ValidationIssue } from "@/lib/contract";

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError,
  ) {
    super(body.error);
  }
  get issues(): ValidationIssue[] {
    return this.body.issues ?? [];
  }
}

export interface CallOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  body?: unknown;
  signal?: AbortSignal;
  /** Set false where a 401 is an answer, not an expired session (login, me-check). */
  redirectOn401?: boolean;
}

function asApiError(status: number, parsed: unknown): ApiError {
  if (parsed && typeof parsed === "object" && typeof (parsed as ApiError).error === "string") {
    const p = parsed as ApiError;
    return { error: p.error, code: typeof p.code === "string" ? p.code : "unknown", issues: Array.isArray(p.issues) ? p.issues : undefined };
  }
  return { error: `HTTP ${status}`, code: "http_error" };
}

export function loginUrl(): string {
  const here = window.location.pathname + window.location.search;
  return here === "/" || here.startsWith("/login") ? "/login" : `/login?next=${encodeURIComponent(here)}`;
}

export async function apiCall<T>(path: string, opts: CallOptions = {}): Promise<T> {
  const init: RequestInit = {
    method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
    credentials: "same-origin",
    cache: "no-store",
    signal: opts.signal,
    headers: { accept: "application/json" },
  };
  if (opts.body !== undefined) {
    init.headers = { accept: "application/json", "content-type": "application/json" };
    init.body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiCallError(0, { error: `cannot reach the web server: ${(e as Error).message}`, code: "network" });
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.ok) return parsed as T;
  if (res.status === 401 && opts.redirectOn401 !== false) window.location.assign(loginUrl());
  throw new ApiCallError(res.status, asApiError(res.status, parsed));
}

/** "path: message" for each issue, or the error itself when there are none. */
export function errorLines(e: unknown): string[] {
  if (e instanceof ApiCallError) {
    if (e.issues.length) return e.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    return [e.status === 403 ? `forbidden: ${e.message}` : e.message];
  }
  return [(e as Error)?.message ?? String(e)];
}
