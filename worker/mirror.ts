// The database mirror of the changes a run made: one fault row per change,
// copied from the executor's journal entries, so the run record, the
// dashboard and the post-mortem can show them. The journal on the host
// decides what is reverted; this is its copy.
import type { Db } from "../lib/db";
import { HOST, type Change } from "../agent/executor";
import type { FaultRecord, FaultState } from "../lib/contract";
import type { Target } from "../injectors/types";
import { targetId } from "../injectors/types";
import { getInjector, isIrreversible } from "../injectors/registry";

type Row = Awaited<ReturnType<Db["fault"]["findFirstOrThrow"]>>;

export function faultRecordFromRow(r: Row): FaultRecord {
  return {
    id: r.id,
    step: r.step,
    fault: r.fault,
    target: r.targetName,
    targetKind: r.targetKind,
    targetId: r.targetId,
    targetLabel: r.targetLabel,
    node: r.node ?? undefined,
    host: r.host,
    state: r.state as FaultState,
    injectedAt: r.injectedAt?.toISOString() ?? null,
    revertAt: r.revertAt?.toISOString() ?? null,
    revertedAt: r.revertedAt?.toISOString() ?? null,
    verified: r.verified,
    error: r.error,
    detail: detailOf(r.fault, r.targetJson, r.undo),
    ...(isIrreversible(r.fault, JSON.parse(r.params)) ? { irreversible: true } : {}),
  };
}

/** The injector's one-line account of how the change is made, from the journaled undo. */
export function describeChange(fault: string, target: Target, undo: unknown): string | undefined {
  const describe = getInjector(fault)?.describe;
  if (!describe || undo === null || undo === undefined) return undefined;
  try {
    return describe(target, undo);
  } catch {
    return undefined;
  }
}

function detailOf(fault: string, targetJson: string, undoJson: string | null): string | undefined {
  return undoJson ? describeChange(fault, JSON.parse(targetJson) as Target, JSON.parse(undoJson)) : undefined;
}

/**
 * Writes each change's journal entry (agent/journal.ts, the authority on
 * this host) into its fault row. Writes of one change are chained in order
 * and never awaited by an inject or a revert: the database may be slow or
 * gone, the journal on disk is what gets reverted.
 */
export class FaultMirror {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly created = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly onError: (e: Error) => void,
  ) {}

  change(c: Change): void {
    const prev = this.chains.get(c.id) ?? Promise.resolve();
    const next = prev.then(() => this.write(c)).catch((e: Error) => this.onError(e));
    this.chains.set(c.id, next);
    void next.then(() => {
      if (this.chains.get(c.id) === next) this.chains.delete(c.id);
    });
  }

  private async write(c: Change): Promise<void> {
    const data = {
      state: c.state,
      undo: JSON.stringify(c.undo),
      injectedAt: c.injectedAt ? new Date(c.injectedAt) : null,
      revertedAt: c.revertedAt ? new Date(c.revertedAt) : null,
      verified: c.state === "reverted" ? true : c.state === "to-revert" && c.revertAttempts > 0 ? false : null,
      error: c.state === "reverted" ? null : (c.error ?? null),
    };
    if (this.created.has(c.id)) {
      await this.db.fault.update({ where: { id: c.id }, data });
      return;
    }
    await this.db.fault.upsert({
      where: { id: c.id },
      update: data,
      create: {
        id: c.id,
        runId: c.runId,
        step: c.step,
        fault: c.fault,
        targetName: c.targetName,
        targetKind: c.target.kind,
        targetId: targetId(c.target),
        targetLabel: c.targetLabel,
        targetJson: JSON.stringify(c.target),
        node: c.node ?? null,
        params: JSON.stringify(c.params),
        revertAt: c.revertAt ? new Date(c.revertAt) : null,
        host: c.host,
        ...data,
      },
    });
    this.created.add(c.id);
  }

  /** Every write queued so far has reached the database (or failed and been reported). */
  async flush(): Promise<void> {
    while (this.chains.size) await Promise.all([...this.chains.values()]);
  }

  /** Rows of this host that the database still shows as possibly in place. */
  async unfinished(): Promise<(Row & { target: Target; undoValue: unknown })[]> {
    const rows = await this.db.fault.findMany({ where: { host: HOST, state: { in: ["pending", "injected", "to-revert"] } }, orderBy: { step: "asc" } });
    return rows.map((r) => ({ ...r, target: JSON.parse(r.targetJson) as Target, undoValue: r.undo ? JSON.parse(r.undo) : null }));
  }
}
