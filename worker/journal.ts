// The write-ahead journal of changes. A row is written (and on disk, see
// lib/db.ts) before its change is applied, and updated after it is applied
// and after it is reverted; start-up replays every row not yet reverted.
import crypto from "node:crypto";
import os from "node:os";
import type { Db } from "../lib/db";
import type { FaultRecord, FaultState } from "../lib/contract";
import type { Target } from "../injectors/types";
import { targetId, targetLabel } from "../injectors/types";
import { getInjector } from "../injectors/registry";

export interface JournalEntry {
  id: string;
  runId: string;
  step: number;
  fault: string;
  targetName: string;
  target: Target;
  node?: string;
  params: unknown;
  undo: unknown;
  revertAt: Date;
}

export const HOST = os.hostname();

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
  };
}

/** The injector's one-line account of how the change is made, from the journaled undo. */
function detailOf(fault: string, targetJson: string, undoJson: string | null): string | undefined {
  const describe = getInjector(fault)?.describe;
  if (!describe || !undoJson) return undefined;
  try {
    return describe(JSON.parse(targetJson), JSON.parse(undoJson));
  } catch {
    return undefined;
  }
}

export class Journal {
  constructor(private readonly db: Db) {}

  /** Record intent; resolves once the row is durable. */
  async begin(e: Omit<JournalEntry, "id">): Promise<FaultRecord> {
    const row = await this.db.fault.create({
      data: {
        id: crypto.randomUUID(),
        runId: e.runId,
        step: e.step,
        fault: e.fault,
        targetName: e.targetName,
        targetKind: e.target.kind,
        targetId: targetId(e.target),
        targetLabel: targetLabel(e.target),
        targetJson: JSON.stringify(e.target),
        node: e.node ?? null,
        params: JSON.stringify(e.params),
        undo: JSON.stringify(e.undo),
        state: "pending",
        revertAt: e.revertAt,
        host: HOST,
      },
    });
    return faultRecordFromRow(row);
  }

  async injected(id: string, at: Date): Promise<void> {
    await this.db.fault.update({ where: { id }, data: { state: "injected", injectedAt: at } });
  }

  /** After revert: verified → reverted; not verified → still injected (start-up retries it). */
  async reverted(id: string, verified: boolean, detail: string | null): Promise<void> {
    await this.db.fault.update({
      where: { id },
      data: verified
        ? { state: "reverted", revertedAt: new Date(), verified: true, error: null }
        : { state: "injected", verified: false, error: `revert not verified: ${detail}` },
    });
  }

  async failed(id: string, error: string): Promise<void> {
    await this.db.fault.update({ where: { id }, data: { state: "failed", error } });
  }

  /** Rows of this host whose change may still be in place. */
  async unfinished(): Promise<(Row & { target: Target; undoValue: unknown })[]> {
    const rows = await this.db.fault.findMany({ where: { host: HOST, state: { in: ["pending", "injected"] } }, orderBy: { step: "asc" } });
    return rows.map((r) => ({ ...r, target: JSON.parse(r.targetJson) as Target, undoValue: r.undo ? JSON.parse(r.undo) : null }));
  }
}
