// The seed's "retry spinner": a demo client that, when the service answers
// 503 (or 429), shows a spinner while it waits Retry-After seconds (or a
// backoff when there is none) and tries again, up to a bounded number of
// attempts — so an http-fault that fails a share of requests shows up as
// spinners and slower answers, not as errors, until the share is too high.
//   node --import tsx demo/retry-client.ts --url http://127.0.0.1:18080/ [--count 20] [--attempts 5]
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

export interface RetryEvent {
  attempt: number;
  status: number;
  waitMs: number;
}

export interface RetryResult {
  ok: boolean;
  status: number;
  attempts: number;
  body: string;
}

const RETRYABLE = new Set([429, 502, 503, 504]);

/** Retry-After in seconds (or an HTTP date) → ms; else exponential backoff from 100 ms, capped at 2 s. */
export function waitFor(retryAfter: string | null, attempt: number): number {
  if (retryAfter !== null) {
    const s = Number(retryAfter);
    if (Number.isFinite(s) && s >= 0) return Math.min(s * 1000, 30_000);
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at)) return Math.min(Math.max(0, at - Date.now()), 30_000);
  }
  return Math.min(100 * 2 ** (attempt - 1), 2000);
}

export async function fetchWithRetry(url: string, o: { attempts?: number; onRetry?: (e: RetryEvent) => void; signal?: AbortSignal } = {}): Promise<RetryResult> {
  const attempts = o.attempts ?? 5;
  let last = { status: 0, body: "" };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetch(url, { signal: o.signal ?? AbortSignal.timeout(10_000) });
      const body = await res.text();
      if (!RETRYABLE.has(res.status)) return { ok: res.ok, status: res.status, attempts: attempt, body };
      last = { status: res.status, body };
      if (attempt === attempts) break;
      const waitMs = waitFor(res.headers.get("retry-after"), attempt);
      o.onRetry?.({ attempt, status: res.status, waitMs });
      await new Promise((r) => setTimeout(r, waitMs));
    } catch (e) {
      last = { status: 0, body: (e as Error).message };
      if (attempt === attempts) break;
      const waitMs = waitFor(null, attempt);
      o.onRetry?.({ attempt, status: 0, waitMs });
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
  return { ok: false, status: last.status, attempts, body: last.body };
}

const SPIN = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

async function main(): Promise<void> {
  const { values: a } = parseArgs({ options: { url: { type: "string" }, count: { type: "string", default: "20" }, attempts: { type: "string", default: "5" } } });
  if (!a.url) {
    process.stderr.write("retry-client: --url is required\n");
    process.exit(2);
  }
  let failed = 0;
  for (let i = 1; i <= Number(a.count); i++) {
    let spinner: NodeJS.Timeout | undefined;
    const r = await fetchWithRetry(a.url, {
      attempts: Number(a.attempts),
      onRetry: (e) => {
        clearInterval(spinner);
        let k = 0;
        spinner = setInterval(() => process.stdout.write(`\r${SPIN[k++ % SPIN.length]} request ${i}: ${e.status || "error"}, retrying in ${(e.waitMs / 1000).toFixed(1)} s (attempt ${e.attempt + 1})   `), 80);
      },
    });
    clearInterval(spinner);
    if (!r.ok) failed++;
    process.stdout.write(`\rrequest ${i}: ${r.ok ? "ok" : `FAILED (${r.status})`}${r.attempts > 1 ? ` after ${r.attempts - 1} retr${r.attempts === 2 ? "y" : "ies"}` : ""}                    \n`);
  }
  process.stdout.write(`${Number(a.count) - failed} of ${a.count} requests succeeded\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
