// The engine owns the runs of this worker: it validates and starts them (one
// at a time), aborts and halts them, replays the journal at start-up, and
// answers run records from memory or from the database.
import crypto from "node:crypto";
import type { Db } from "../lib/db";
import type { Logger } from "../lib/log";
import type { AbortInfo, FaultRecord, RunRecord, RunState } from "../lib/contract";
import { parseExperiment } from "../lib/experiment";
import type { Topology } from "../lib/topology";
import { ApiErr } from "../lib/errors";
import { getInjector, targetLabel } from "../injectors";
import { recoverLocalJournals } from "../lib/local-journal";
import { Journal, faultRecordFromRow } from "./journal";
import { EvidenceQueue } from "./store";
import type { WorkerMetrics } from "./metrics";
import { RunController, type RunSinks } from "./runner";

export interface EngineOptions {
  db: Db;
  log: Logger;
  topology: Topology | null;
  metrics: WorkerMetrics;
  sinks: RunSinks;
  protectedPids?: () => ReadonlySet<number>;
  warmupMs?: number;
}

function newRunId(): string {
  const d = new Date();
  const stamp = d.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  return `${stamp}-${crypto.randomBytes(3).toString("hex")}`;
}

type RunRow = Awaited<ReturnType<Db["run"]["findFirstOrThrow"]>> & { faults: Parameters<typeof faultRecordFromRow>[0][] };

export function runRecordFromRow(r: RunRow): RunRecord {
  return {
    id: r.id,
    name: r.name,
    hypothesis: (JSON.parse(r.experimentJson) as { spec: { hypothesis: string } }).spec.hypothesis,
    state: r.state as RunState,
    hypothesisHeld: r.hypothesisHeld,
    startedBy: r.startedBy,
    createdAt: r.createdAt.toISOString(),
    startedAt: r.startedAt?.toISOString() ?? null,
    endedAt: r.endedAt?.toISOString() ?? null,
    abort: r.abortDetail ? (JSON.parse(r.abortDetail) as AbortInfo) : null,
    error: r.error,
    faults: r.faults.sort((a, b) => a.step - b.step).map(faultRecordFromRow),
  };
}

export class Engine {
  readonly journal: Journal;
  readonly evidence: EvidenceQueue;
  private readonly live = new Map<string, RunController>();

  constructor(private readonly o: EngineOptions) {
    this.journal = new Journal(o.db);
    this.evidence = new EvidenceQueue(o.db, o.log);
  }

  get topology(): Topology | null {
    return this.o.topology;
  }

  /**
   * Start-up: revert every change a previous worker left in place, and close
   * the runs it left open. Returns how many changes were reverted.
   */
  async recover(): Promise<{ reverted: number; failed: number; runs: string[] }> {
    const rows = await this.journal.unfinished();
    let reverted = 0;
    let failed = 0;
    for (const r of rows) {
      const injector = getInjector(r.fault);
      if (!injector) {
        failed++;
        this.o.log.error("journal entry names an unknown fault; cannot revert", { faultId: r.id, fault: r.fault });
        continue;
      }
      let verdict = { ok: false, detail: "" };
      try {
        await injector.revert(r.target, r.undoValue);
        verdict = await injector.verify(r.target, r.undoValue);
      } catch (e) {
        verdict = { ok: false, detail: (e as Error).message };
      }
      await this.journal.reverted(r.id, verdict.ok, verdict.detail);
      if (verdict.ok) reverted++;
      else failed++;
      await this.o.db.runEvent.create({
        data: {
          runId: r.runId,
          at: new Date(),
          monoMs: -1,
          kind: verdict.ok ? "recovered" : "revert-failed",
          message: `start-up recovery: ${r.fault} on ${targetLabel(r.target)} ${verdict.ok ? "reverted" : "NOT reverted"}: ${verdict.detail}`,
        },
      });
      this.o.log.info("start-up recovery", { faultId: r.id, fault: r.fault, target: targetLabel(r.target), ok: verdict.ok, detail: verdict.detail });
    }
    // Standalone CLIs on this host that died keep their own journals.
    const local = await recoverLocalJournals();
    for (const x of local.reverted) this.o.log.info("start-up recovery of a standalone CLI's change", { ...x, ok: true });
    for (const x of local.failed) this.o.log.error("start-up recovery of a standalone CLI's change failed", { ...x, ok: false });
    reverted += local.reverted.length;
    failed += local.failed.length;
    const open = await this.o.db.run.findMany({ where: { state: { in: ["pending", "running"] } } });
    for (const run of open) {
      await this.o.db.run.update({
        where: { id: run.id },
        data: {
          state: "failed",
          endedAt: new Date(),
          error: "the worker stopped during this run (crash or restart); its changes were reverted at the next start",
        },
      });
    }
    return { reverted, failed, runs: open.map((r) => r.id) };
  }

  /** The run that blocks a new one: running, or ended with changes still in place. */
  busy(): RunController | null {
    for (const c of this.live.values()) return c;
    return null;
  }

  async start(yaml: string, by: string): Promise<RunRecord> {
    if (yaml.length > 256 * 1024) throw new ApiErr("payload_too_large", "experiment file larger than 256 KiB");
    const parsed = parseExperiment(yaml, this.o.topology ?? undefined);
    if (!parsed.ok) throw new ApiErr("invalid_input", "invalid experiment", parsed.issues);
    const exp = parsed.experiment;
    const unavailable: { path: string; message: string }[] = [];
    for (const [i, step] of exp.spec.method.entries()) {
      const a = await getInjector(step.fault)!.available();
      if (!a.ok) unavailable.push({ path: `spec.method[${i}].fault`, message: `${step.fault} is not available on this host: ${a.reason}` });
    }
    if (unavailable.length) throw new ApiErr("unavailable", "a fault cannot run on this host", unavailable);
    const blocking = this.busy();
    if (blocking) {
      throw new ApiErr(
        "conflict",
        blocking.state === "running" || blocking.state === "pending"
          ? `run ${blocking.id} (${blocking.exp.metadata.name}) is in progress; one experiment at a time`
          : `run ${blocking.id} still has changes in place until their durations end; HALT reverts them now`,
      );
    }
    const id = newRunId();
    const controller = new RunController(id, exp, by, {
      journal: this.journal,
      evidence: this.evidence,
      log: this.o.log,
      topology: this.o.topology,
      metrics: this.o.metrics,
      sinks: this.o.sinks,
      protectedPids: this.o.protectedPids ?? (() => new Set()),
      warmupMs: this.o.warmupMs,
    });
    await this.o.db.run.create({
      data: { id, name: exp.metadata.name, state: "pending", experimentYaml: yaml, experimentJson: JSON.stringify(exp), startedBy: by },
    });
    this.live.set(id, controller);
    void controller.settled.then(() => this.live.delete(id));
    void controller.execute();
    return controller.record();
  }

  async abort(id: string, by: string): Promise<RunRecord> {
    const c = this.live.get(id);
    if (!c) {
      const rec = await this.get(id);
      if (!rec) throw new ApiErr("not_found", `no run ${id}`);
      throw new ApiErr("conflict", `run ${id} already ended (${rec.state})`);
    }
    await c.abort("manual", { message: `aborted by ${by}`, by });
    return c.record();
  }

  /** Abort every run and revert every change; works without the database. */
  async halt(by: string): Promise<string[]> {
    const ids = [...this.live.keys()];
    await Promise.all([...this.live.values()].map((c) => c.halt(by)));
    this.o.log.warn("HALT", { by, runs: ids });
    return ids;
  }

  async get(id: string): Promise<RunRecord | null> {
    const c = this.live.get(id);
    if (c) return c.record();
    const row = await this.o.db.run.findUnique({ where: { id }, include: { faults: true } });
    return row ? runRecordFromRow(row) : null;
  }

  async list(limit = 50): Promise<RunRecord[]> {
    const rows = await this.o.db.run.findMany({ orderBy: { createdAt: "desc" }, take: limit, include: { faults: true } });
    return rows.map((r) => this.live.get(r.id)?.record() ?? runRecordFromRow(r));
  }

  activeRunId(): string | null {
    return this.busy()?.id ?? null;
  }

  /** Changes in place now, across runs (for the graph's fault badges). */
  activeFaults(): (FaultRecord & { runId: string })[] {
    return [...this.live.values()].flatMap((c) => c.activeFaults().map((f) => ({ ...f, runId: c.id })));
  }

  /** Wait for queued evidence to reach the database (shutdown, tests). */
  async flush(): Promise<void> {
    await this.evidence.flush();
  }
}
