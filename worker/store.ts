// Evidence writes that must not slow the abort path: timeline events, probe
// samples and run updates go through one ordered queue. The journal (which
// must be durable before a change) does not use this queue.
import type { Db } from "../lib/db";
import type { Logger } from "../lib/log";
import type { ProbeSampleMsg, TimelineEvent } from "../lib/contract";

export class EvidenceQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  private push(what: string, job: () => Promise<unknown>): void {
    this.pending++;
    this.tail = this.tail
      .then(job)
      .then(
        () => undefined,
        (e: Error) => this.log.error("evidence write failed", { what, error: e.message }),
      )
      .finally(() => this.pending--);
  }

  event(e: TimelineEvent): void {
    this.push("event", () =>
      this.db.runEvent.create({
        data: { runId: e.runId, at: new Date(e.at), monoMs: e.monoMs, kind: e.kind, message: e.message, data: e.data === undefined ? null : JSON.stringify(e.data) },
      }),
    );
  }

  sample(s: ProbeSampleMsg): void {
    this.push("sample", () =>
      this.db.probeSample.create({
        data: { runId: s.runId, probe: s.probe, at: new Date(s.at), monoMs: s.monoMs, value: s.value, ok: s.ok, detail: s.measure },
      }),
    );
  }

  runUpdate(id: string, data: Parameters<Db["run"]["update"]>[0]["data"]): void {
    this.push("run", () => this.db.run.update({ where: { id }, data }));
  }

  /** Resolves when everything queued so far is written (or failed). */
  async flush(): Promise<void> {
    while (this.pending > 0) await this.tail;
  }
}
