// The audit log: who logged in (or failed to), launched, aborted, halted,
// created or revoked a token, created, disabled or enabled a user, changed a
// role or a password — when, and from which address and page; and each trim
// of old rows (retention.ts). Written in order through one queue that is
// never awaited by the action itself (HALT must not wait on the database);
// readers flush it first.
import type { Db } from "../lib/db";
import type { Logger } from "../lib/log";
import type { AuditEntry } from "../lib/contract";

/** Where a request came from: the client address and the page's Origin. */
export interface RequestMeta {
  address: string;
  origin: string | null;
}

export interface AuditInput {
  actor: string;
  action: string;
  target?: string | null;
  ok: boolean;
  detail?: Record<string, unknown>;
}

export class Audit {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  record(meta: RequestMeta | null, e: AuditInput): void {
    const data = {
      at: new Date(),
      actor: e.actor.slice(0, 200),
      action: e.action,
      target: e.target ?? null,
      address: meta?.address ?? null,
      origin: meta?.origin ?? null,
      ok: e.ok,
      detail: e.detail ? JSON.stringify(e.detail) : null,
    };
    this.log.info("audit", { ...data, at: data.at.toISOString() });
    this.tail = this.tail
      .then(() => this.db.auditEvent.create({ data }))
      .then(
        () => undefined,
        (err: Error) => this.log.error("audit write failed", { action: e.action, error: err.message }),
      );
  }

  async list(q: { limit: number; actor?: string; action?: string; before?: number }): Promise<AuditEntry[]> {
    await this.tail;
    const rows = await this.db.auditEvent.findMany({
      where: { actor: q.actor, action: q.action, ...(q.before ? { id: { lt: q.before } } : {}) },
      orderBy: { id: "desc" },
      take: q.limit,
    });
    return rows.map((r) => ({
      id: r.id,
      at: r.at.toISOString(),
      actor: r.actor,
      action: r.action,
      target: r.target,
      address: r.address,
      origin: r.origin,
      ok: r.ok,
      detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
    }));
  }

  flush(): Promise<void> {
    return this.tail;
  }
}
