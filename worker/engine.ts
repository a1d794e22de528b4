// The engine owns the runs of this worker: it validates and starts them (one
// at a time), aborts and halts them, replays the journal at start-up, and
// answers run records from memory or from the database.
import crypto from "node:crypto";
import type { Db } from "../lib/db";
import type { Logger } from "../lib/log";
import type { AbortInfo, BudgetInfo, Effect, FaultRecord, RunRecord, RunState } from "../lib/contract";
import { parseExperiment, type Experiment } from "../lib/experiment";
import type { Topology } from "../lib/topology";
import { ApiErr } from "../lib/errors";
import { getInjector } from "../injectors";
import { Executor, type Change } from "../agent/executor";
import { FaultMirror, faultRecordFromRow } from "./mirror";
import { EvidenceQueue } from "./store";
import type { WorkerMetrics } from "./metrics";
import { RunController, type RunSinks } from "./runner";
import { planExperiment, safetyRefusals, type ExperimentPlan } from "../agent/plan";
import { budgetRefusal, budgetsOf, burnOf, sloProbes } from "./budget";

export interface EngineOptions {
  db: Db;
  log: Logger;
  topology: Topology | null;
  metrics: WorkerMetrics;
  sinks: RunSinks;
  protectedPids?: () => ReadonlySet<number>;
  warmupMs?: number;
  /** probes keep sampling this long after a run ends (the post-mortem's lead-out) */
  leadOutMs?: number;
  /** the executor this worker embeds (default: one journaling under $GAMEDAY_HOME/journal, watched by a reaper) */
  executor?: Executor;
  /** told of every HALT (the kill switch) */
  onHalt?: (by: string, runs: string[]) => void;
}

/** Who launches a run: a person (default) or a schedule. */
export interface RunOrigin {
  launchedBy: "person" | "schedule";
  scheduleId?: string;
}

function newRunId(): string {
  const d = new Date();
  const stamp = d.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  return `${stamp}-${crypto.randomBytes(3).toString("hex")}`;
}

type RunRow = Awaited<ReturnType<Db["run"]["findFirstOrThrow"]>> & { faults: Parameters<typeof faultRecordFromRow>[0][]; events?: { kind: string; data: string | null }[] };

/** The run's events that carry evidence the run and fault rows have no column for (effects, inconclusive). */
const EVIDENCE_EVENTS = { where: { kind: { in: ["reverted", "recovered", "run-ended"] } }, select: { kind: true as const, data: true as const } };

function evidenceOf(events: RunRow["events"]): { effects: Map<string, Effect>; inconclusive: string | null } {
  const effects = new Map<string, Effect>();
  let inconclusive: string | null = null;
  for (const e of events ?? []) {
    const d = e.data ? (JSON.parse(e.data) as { faultId?: string; effect?: Effect; inconclusive?: string }) : {};
    // recovered: a revert at start-up or by the reaper read the evidence the same way
    if ((e.kind === "reverted" || e.kind === "recovered") && d.faultId && d.effect) effects.set(d.faultId, d.effect);
    if (e.kind === "run-ended" && d.inconclusive) inconclusive = d.inconclusive;
  }
  return { effects, inconclusive };
}

export function runRecordFromRow(r: RunRow): RunRecord {
  const { effects, inconclusive } = evidenceOf(r.events);
  return {
    id: r.id,
    name: r.name,
    hypothesis: (JSON.parse(r.experimentJson) as { spec: { hypothesis: string } }).spec.hypothesis,
    state: r.state as RunState,
    hypothesisHeld: r.hypothesisHeld,
    startedBy: r.startedBy,
    launchedBy: r.launchedBy === "schedule" ? "schedule" : "person",
    scheduleId: r.scheduleId,
    ...(r.budgetJson ? { budgets: JSON.parse(r.budgetJson) as BudgetInfo[] } : {}),
    createdAt: r.createdAt.toISOString(),
    startedAt: r.startedAt?.toISOString() ?? null,
    endedAt: r.endedAt?.toISOString() ?? null,
    abort: r.abortDetail ? (JSON.parse(r.abortDetail) as AbortInfo) : null,
    error: r.error,
    inconclusive,
    faults: r.faults
      .sort((a, b) => a.step - b.step)
      .map(faultRecordFromRow)
      .map((f) => (effects.has(f.id) ? { ...f, effect: effects.get(f.id) } : f)),
  };
}

export class Engine {
  readonly executor: Executor;
  readonly mirror: FaultMirror;
  readonly evidence: EvidenceQueue;
  private readonly live = new Map<string, RunController>();
  /** runs whose changes have a row in the database (the live ones and those met at start-up) */
  private readonly mirroredRuns = new Set<string>();
  /** the run being admitted (between the synchronous checks and its controller going live) */
  private admitting: string | null = null;
  /** runs whose probes may still sample their lead-out (ended or not) */
  private readonly leadingOut = new Set<RunController>();

  constructor(private readonly o: EngineOptions) {
    this.executor = o.executor ?? new Executor({ command: "worker", mirrored: true, log: o.log.child({ component: "executor" }) });
    this.mirror = new FaultMirror(o.db, (e) => o.log.error("fault mirror write failed", { error: e.message }));
    this.evidence = new EvidenceQueue(o.db, o.log);
    this.executor.on((e) => {
      if (this.mirroredRuns.has(e.change.runId)) this.mirror.change(e.change);
    });
  }

  get topology(): Topology | null {
    return this.o.topology;
  }

  /**
   * Start-up: revert every change a previous worker (or a standalone CLI)
   * left in place, from the journals on this host; bring the database's
   * fault rows in line; close the runs a previous worker left open. A
   * change that cannot be verified reverted stays with our executor and
   * blocks new runs. Returns how many changes were reverted.
   */
  async recover(): Promise<{ reverted: number; failed: number; runs: string[]; blocking: string[] }> {
    const runIds = new Set((await this.o.db.run.findMany({ select: { id: true } })).map((r) => r.id));
    for (const id of runIds) this.mirroredRuns.add(id);
    const report = await this.executor.start();
    // what the reaper reverted while no worker ran: the database still shows it in place
    const stale = new Set((await this.mirror.unfinished()).map((r) => r.id));
    const justNow = new Set(report.reverted.map((c) => c.id));
    // a change made just before the crash may not have reached the database at all: the reaper reverted it all the same
    const inDb = new Set((await this.o.db.fault.findMany({ where: { id: { in: report.mirror.map((c) => c.id) } }, select: { id: true } })).map((r) => r.id));
    for (const c of report.mirror) {
      if (!runIds.has(c.runId)) continue;
      if (c.state === "reverted" && (stale.has(c.id) || !inDb.has(c.id)) && !justNow.has(c.id))
        await this.recoveryEvent(c, true, `reverted by the dead man's switch (reaper) at ${c.revertedAt}, while no worker ran: ${c.detail ?? "verified"}`, runIds);
      this.mirror.change(c);
    }
    for (const c of report.reverted) await this.recoveryEvent(c, true, c.detail ?? "reverted", runIds);
    for (const c of report.failed) await this.recoveryEvent(c, false, c.detail, runIds);
    for (const p of report.problems) this.o.log.error("start-up recovery", { problem: p });
    let reverted = report.reverted.length;
    let failed = report.failed.length;
    // rows the database still shows in place that no journal on this host knows (written before the host
    // journal existed, or a journal lost): take them into our journal and revert them; revert is idempotent
    const known = new Set([...report.mirror.map((c) => c.id), ...this.executor.journal.doc.entries.map((e) => e.id)]);
    const orphans = (await this.mirror.unfinished()).filter((r) => !known.has(r.id) && getInjector(r.fault));
    await this.executor.adopt(
      orphans.map((r) => ({
        id: r.id,
        runId: r.runId,
        step: r.step,
        fault: r.fault,
        targetName: r.targetName,
        node: r.node ?? undefined,
        target: r.target,
        params: JSON.parse(r.params) as unknown,
        undo: r.undoValue,
        state: "to-revert" as const,
        journaledAt: new Date().toISOString(),
        revertAttempts: 0,
      })),
    );
    for (const r of orphans) {
      const v = await this.executor.revert(r.id);
      const c = this.executor.get(r.id)!;
      await this.recoveryEvent(c, v.ok, v.detail, runIds);
      if (v.ok) reverted++;
      else failed++;
    }
    await this.mirror.flush();
    await this.executor.prune(this.executor.journal.doc.entries.filter((e) => e.state === "reverted").map((e) => e.id));
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
    const blocking = this.executor.blocking().map((c) => `${c.fault} on ${c.targetLabel}: ${c.error ?? "not verified reverted"}`);
    for (const b of blocking) this.o.log.error("a change could not be reverted at start-up; new runs are refused until it is (HALT or gameday recover retries)", { change: b });
    return { reverted, failed, runs: open.map((r) => r.id), blocking };
  }

  private async recoveryEvent(c: Change, ok: boolean, detail: string, runIds: Set<string>): Promise<void> {
    this.o.log[ok ? "info" : "error"]("start-up recovery", { faultId: c.id, fault: c.fault, target: c.targetLabel, ok, detail });
    if (!runIds.has(c.runId)) return;
    await this.o.db.runEvent.create({
      data: {
        runId: c.runId,
        at: new Date(),
        monoMs: -1,
        kind: ok ? "recovered" : "revert-failed",
        message: `start-up recovery: ${c.fault} on ${c.targetLabel} ${ok ? "reverted" : "NOT reverted"}: ${detail}${ok && c.effect ? `; effect: ${c.effect.summary}` : ""}`,
        ...(ok && c.effect ? { data: JSON.stringify({ faultId: c.id, effect: c.effect }) } : {}),
      },
    });
  }

  /** Retry every change on this host that is not verified reverted (ours and those of holders that died). */
  async retryUnreverted(): Promise<{ reverted: number; failed: string[] }> {
    const r = await this.executor.recover();
    await this.mirror.flush();
    return { reverted: r.reverted.length, failed: this.executor.blocking().map((c) => `${c.fault} on ${c.targetLabel}: ${c.error ?? "not verified reverted"}`) };
  }

  /** The run that blocks a new one: running, or ended with changes still in place. */
  busy(): RunController | null {
    for (const c of this.live.values()) return c;
    return null;
  }

  /**
   * Admit one run at a time, by construction: the synchronous part of
   * start() (validation, the busy check and taking `admitting`) runs before
   * any await, so two requests can never both pass it in this process; the
   * database row is then inserted only if no other run is pending or running
   * there (one statement: a second worker on the same database is refused too).
   */
  start(yaml: string, by: string, origin: RunOrigin = { launchedBy: "person" }): Promise<RunRecord> {
    let exp: Experiment;
    try {
      exp = this.admit(yaml);
    } catch (e) {
      return Promise.reject(e);
    }
    const id = newRunId();
    this.admitting = id;
    return this.launch(id, exp, yaml, by, origin).finally(() => {
      if (this.admitting === id) this.admitting = null;
    });
  }

  /** Synchronous admission: parse, check nothing else runs or is being admitted. Throws ApiErr. */
  private admit(yaml: string): Experiment {
    if (yaml.length > 256 * 1024) throw new ApiErr("payload_too_large", "experiment file larger than 256 KiB");
    const parsed = parseExperiment(yaml, this.o.topology ?? undefined);
    if (!parsed.ok) throw new ApiErr("invalid_input", "invalid experiment", parsed.issues);
    if (this.admitting) throw new ApiErr("conflict", `another run (${this.admitting}) is being started; one experiment at a time`);
    const blocking = this.busy();
    if (blocking) {
      throw new ApiErr(
        "conflict",
        blocking.state === "running" || blocking.state === "pending"
          ? `run ${blocking.id} (${blocking.exp.metadata.name}) is in progress; one experiment at a time`
          : `run ${blocking.id} still has changes in place until their durations end; HALT reverts them now`,
      );
    }
    const stuck = this.executor.blocking();
    if (stuck.length) {
      throw new ApiErr(
        "conflict",
        `${stuck.length} change(s) on this host are not verified reverted: ${stuck.map((c) => `${c.fault} on ${c.targetLabel} (run ${c.runId}): ${c.error ?? "not verified"}`).join("; ")}; HALT or \`gameday recover\` retries them`,
      );
    }
    return parsed.experiment;
  }

  private async launch(id: string, exp: Experiment, yaml: string, by: string, origin: RunOrigin): Promise<RunRecord> {
    const unavailable: { path: string; message: string }[] = [];
    for (const [i, step] of exp.spec.method.entries()) {
      const a = await getInjector(step.fault)!.available();
      if (!a.ok) unavailable.push({ path: `spec.method[${i}].fault`, message: `${step.fault} is not available on this host: ${a.reason}` });
    }
    if (unavailable.length) throw new ApiErr("unavailable", "a fault cannot run on this host", unavailable);
    const refusals = await safetyRefusals(exp, this.o.topology, this.o.protectedPids?.() ?? new Set());
    if (refusals.length) throw new ApiErr("invalid_input", "the experiment would hit more than spec.safety allows", refusals);
    // the plan's error budgets: a run the budget cannot afford is refused before anything is touched
    // (read while this run holds the admission, so nothing else can start meanwhile)
    let budgets: BudgetInfo[] | undefined;
    if (sloProbes(exp).length) {
      try {
        budgets = await budgetsOf(exp);
      } catch (e) {
        throw new ApiErr("conflict", `refusing the run: ${(e as Error).message}`);
      }
      const why = budgetRefusal(budgets);
      if (why) throw new ApiErr("conflict", `refusing the run: ${why}`);
    }
    // the previous run's final state must be in the database before the guard below reads it
    await this.evidence.flush();
    const inserted = await this.o.db.$executeRaw`INSERT INTO "Run" ("id", "name", "state", "experimentYaml", "experimentJson", "startedBy", "launchedBy", "scheduleId", "budgetJson", "createdAt")
      SELECT ${id}, ${exp.metadata.name}, 'pending', ${yaml}, ${JSON.stringify(exp)}, ${by}, ${origin.launchedBy}, ${origin.scheduleId ?? null}, ${budgets ? JSON.stringify(budgets) : null}, ${new Date()}
      WHERE NOT EXISTS (SELECT 1 FROM "Run" WHERE "state" IN ('pending', 'running'))`;
    if (inserted !== 1) {
      const other = await this.o.db.run.findFirst({ where: { state: { in: ["pending", "running"] } }, select: { id: true, name: true } });
      throw new ApiErr("conflict", `run ${other?.id ?? "?"} (${other?.name ?? "?"}) is in progress according to the database (another worker?); one experiment at a time`);
    }
    this.mirroredRuns.add(id);
    const controller = new RunController(id, exp, by, {
      executor: this.executor,
      evidence: this.evidence,
      log: this.o.log,
      topology: this.o.topology,
      metrics: this.o.metrics,
      sinks: this.o.sinks,
      protectedPids: this.o.protectedPids ?? (() => new Set()),
      warmupMs: this.o.warmupMs,
      leadOutMs: this.o.leadOutMs,
    }, origin);
    controller.budgets = budgets;
    this.live.set(id, controller);
    this.leadingOut.add(controller);
    void controller.ended.then(() => setTimeout(() => this.leadingOut.delete(controller), (this.o.leadOutMs ?? 0) + 1000).unref());
    void controller.settled.then(async () => {
      this.live.delete(id);
      // the database has the run's verified reverts: the journal need not keep them
      await this.mirror.flush();
      await this.executor.prune(this.executor.journal.doc.entries.filter((e) => e.runId === id && e.state === "reverted").map((e) => e.id));
    });
    if (budgets) void controller.ended.then(() => this.recordBurn(controller, budgets));
    void controller.execute();
    return controller.record();
  }

  /** After a run with SLO probes: how much of each budget its time burned (best effort: Prometheus may be gone). */
  private async recordBurn(c: RunController, before: BudgetInfo[]): Promise<void> {
    const runMs = (c.endedAt?.getTime() ?? Date.now()) - (c.startedAt ?? c.createdAt).getTime();
    try {
      const after = await burnOf(c.exp, before, runMs);
      c.noteBudgets(after);
      this.evidence.runUpdate(c.id, { budgetJson: JSON.stringify(after) });
    } catch (e) {
      this.o.log.warn("the error budget burn of a run could not be read", { runId: c.id, error: (e as Error).message });
    }
  }

  /** What the experiment would hit on this host now, and what spec.safety refuses (POST /experiments/validate shows it). */
  plan(exp: Experiment): Promise<ExperimentPlan> {
    return planExperiment(exp, this.o.topology, this.o.protectedPids?.() ?? new Set());
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

  /** Abort every run and revert every change, retrying those not verified reverted; works without the database. */
  async halt(by: string): Promise<string[]> {
    const ids = [...this.live.keys()];
    // the kill switch first: other chaos tools stop while we revert
    try {
      this.o.onHalt?.(by, ids);
    } catch (e) {
      this.o.log.warn("HALT listener failed", { error: (e as Error).message });
    }
    await Promise.all([...this.live.values()].map((c) => c.halt(by)));
    await this.executor.revertAll();
    await this.executor.recover();
    this.o.log.warn("HALT", { by, runs: ids });
    return ids;
  }

  async get(id: string): Promise<RunRecord | null> {
    const c = this.live.get(id);
    if (c) return c.record();
    const row = await this.o.db.run.findUnique({ where: { id }, include: { faults: true, events: EVIDENCE_EVENTS } });
    return row ? runRecordFromRow(row) : null;
  }

  async list(limit = 50): Promise<RunRecord[]> {
    const rows = await this.o.db.run.findMany({ orderBy: { createdAt: "desc" }, take: limit, include: { faults: true, events: EVIDENCE_EVENTS } });
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
    await this.mirror.flush();
  }

  /** Changes on this host not verified reverted (they block new runs). */
  unreverted(): Change[] {
    return this.executor.blocking();
  }

  /** Stop the reaper: call after a clean shutdown (HALT done). */
  async close(): Promise<void> {
    for (const c of this.leadingOut) c.stopLeadOut();
    await this.evidence.flush();
    await this.mirror.flush();
    await this.executor.close();
  }
}
