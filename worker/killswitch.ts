// The kill switch other tools subscribe to: every abort and HALT (the
// monitor's abort is the same path) bumps a sequence number, wakes the
// long-polls of GET /api/v1/abort-signal and posts to the configured
// webhooks. Webhooks are fire-and-forget with a timeout: the abort never
// waits on them.
import type { AbortSignalInfo } from "../lib/contract";
import type { Logger } from "../lib/log";

type Signal = NonNullable<AbortSignalInfo["last"]>;

export const WEBHOOK_TIMEOUT_MS = 3000;

export class KillSwitch {
  private seq = 0;
  private last: Signal | null = null;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly webhooks: readonly URL[],
    private readonly log: Logger,
  ) {}

  info(): AbortSignalInfo {
    return { seq: this.seq, last: this.last };
  }

  fire(s: Omit<Signal, "at">): void {
    this.seq++;
    this.last = { ...s, at: new Date().toISOString() };
    for (const wake of [...this.waiters]) wake();
    const body = JSON.stringify({ seq: this.seq, ...this.last });
    for (const url of this.webhooks) {
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) })
        .then((res) => {
          if (!res.ok) this.log.warn("kill-switch webhook answered an error", { url: url.href, status: res.status });
          return res.arrayBuffer();
        })
        .catch((e: Error) => this.log.warn("kill-switch webhook failed", { url: url.href, error: e.message }));
    }
  }

  /** The current signal once seq is past `after`, or when waitMs runs out (or the caller goes away). */
  wait(after: number, waitMs: number, gone?: AbortSignal): Promise<AbortSignalInfo> {
    if (this.seq > after || waitMs <= 0) return Promise.resolve(this.info());
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        gone?.removeEventListener("abort", done);
        resolve(this.info());
      };
      const t = setTimeout(done, waitMs);
      this.waiters.add(done);
      gone?.addEventListener("abort", done);
    });
  }

  /** End every long-poll now (shutdown). */
  close(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
