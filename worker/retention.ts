// The audit log's retention: rows older than GAMEDAY_AUDIT_RETENTION_DAYS are
// deleted at the worker's start and once a day. In batches, each its own short
// statement, yielding to the event loop between them: better-sqlite3 runs a
// statement on the thread of the monitor, so one delete of a year of rows (or
// one transaction over them) would hold the monitor's timers back for as long
// as it takes. Every trim that deleted something is itself an audit row.
import type { Db } from "../lib/db";
import type { Logger } from "../lib/log";
import type { Audit } from "./audit";

const DAY_MS = 24 * 3_600_000;
/** rows per statement: on a loaded 2-core machine the longest event-loop delay was 87-110 ms with 500, 61-249 ms with 200 (most runs under 110) */
export const TRIM_BATCH = 200;

export interface TrimResult {
  deleted: number;
  /** rows before this time were deleted */
  cutoff: Date;
}

const nextTick = () => new Promise<void>((r) => setImmediate(r));

/**
 * Delete audit rows older than `days` days before `now`, oldest first, one
 * batch at a time; `stopped` ends it between batches (worker shutdown).
 */
export async function trimAudit(db: Db, days: number, now = Date.now(), stopped: () => boolean = () => false, batch = TRIM_BATCH): Promise<TrimResult> {
  const cutoff = new Date(now - days * DAY_MS);
  let deleted = 0;
  while (!stopped()) {
    // the batch is found through the index on at and deleted by its id range
    // (the primary key), so each statement touches about `batch` rows whatever
    // the table holds: deleting by at, or by a list of ids, took longer with
    // every batch (60000 rows: seconds, most of them with the loop held)
    const rows = await db.auditEvent.findMany({ where: { at: { lt: cutoff } }, select: { id: true }, orderBy: [{ at: "asc" }, { id: "asc" }], take: batch });
    if (!rows.length) break;
    const ids = rows.map((x) => x.id);
    const r = await db.auditEvent.deleteMany({ where: { id: { gte: Math.min(...ids), lte: Math.max(...ids) }, at: { lt: cutoff } } });
    deleted += r.count;
    if (rows.length < batch) break;
    await nextTick();
  }
  return { deleted, cutoff };
}

/** The daily trim of a running worker; `days` null keeps every row. */
export class AuditRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(
    private readonly db: Db,
    private readonly audit: Audit,
    private readonly log: Logger,
    readonly days: number | null,
  ) {}

  /** Trim now (never awaited by the caller's start-up) and then every day. */
  start(): void {
    if (this.days === null) {
      this.log.info("audit retention: every row is kept (GAMEDAY_AUDIT_RETENTION_DAYS)");
      return;
    }
    void this.trim();
    this.timer = setInterval(() => void this.trim(), DAY_MS);
    // a pending daily trim never keeps the process alive
    this.timer.unref();
  }

  /** One trim; a trim still running is joined, not doubled. */
  trim(): Promise<void> {
    if (this.days === null || this.stopping) return Promise.resolve();
    const days = this.days;
    this.running ??= (async () => {
      try {
        const r = await trimAudit(this.db, days, Date.now(), () => this.stopping);
        if (r.deleted) this.audit.record(null, { actor: "worker", action: "audit-trim", ok: true, detail: { deleted: r.deleted, before: r.cutoff.toISOString(), retentionDays: days } });
        else this.log.debug("audit retention: nothing to trim", { before: r.cutoff.toISOString() });
      } catch (e) {
        this.log.error("audit trim failed", { error: (e as Error).message });
        this.audit.record(null, { actor: "worker", action: "audit-trim", ok: false, detail: { error: (e as Error).message, retentionDays: days } });
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** No more trims; waits for one in flight to finish its batch. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
