// One run of one experiment: steady state before → method (inject, hold,
// revert) under a running monitor → steady state after → completed, or an
// abort at any point; then a lead-out in which the probes keep sampling for
// the post-mortem while the next run may already start. This is the
// lifecycle only: every change is made, journaled, reverted and verified by
// the executor, step rounds are driven by agent/step.ts; every blocking wait is interruptible by abort; the abort
// path needs no UI, socket or database round trip to revert.
import type { AbortInfo, AbortReason, BudgetInfo, FaultRecord, ProbeSampleMsg, RunRecord, RunState, TimelineEvent } from "../lib/contract";
import { effectiveMaxDuration, percentOf, type Experiment, type MethodStep } from "../lib/experiment";
import type { Topology } from "../lib/topology";
import type { Logger } from "../lib/log";
import { isIrreversible, targetId, targetLabel } from "../injectors";
import type { ExecutorEvent, ExecutorPort } from "../agent/executor";
import { describeChange } from "./mirror";
import { NoTargetsError, RunBudget, StepRunner, type StepEvent } from "../agent/step";
import { limitsOf, maxDownOf } from "../agent/plan";
import type { EvidenceQueue } from "./store";
import type { WorkerMetrics } from "./metrics";
import { createProbe } from "./probes";
import { SteadyStateMonitor, type Breach, type Reading } from "./monitor";
import { seedFrom, seededRandom } from "../injectors/targets/resolve";

export interface RunSinks {
  runUpdate(run: RunRecord): void;
  event(e: TimelineEvent): void;
  sample(s: ProbeSampleMsg): void;
}

export interface RunDeps {
  /** makes, journals, reverts and verifies every change on this host */
  executor: ExecutorPort;
  evidence: EvidenceQueue;
  log: Logger;
  topology: Topology | null;
  metrics: WorkerMetrics;
  sinks: RunSinks;
  /** PIDs of Game Day's own processes (web app, agents) that are never targets */
  protectedPids: () => ReadonlySet<number>;
  /** Steady-state warm-up before injecting (tests shorten it). */
  warmupMs?: number;
  /** How long the probes keep sampling after the run ended (the report's lead-out); 0: none. */
  leadOutMs?: number;
}

const DEFAULT_WARMUP_MS = 2000;
const BEFORE_DATA_TIMEOUT_MS = 15_000;

function fmt(v: number | null): string {
  return v === null ? "n/a" : Number.isInteger(v) ? String(v) : v.toFixed(3);
}

export class RunController {
  state: RunState = "pending";
  hypothesisHeld: boolean | null = null;
  abortInfo: AbortInfo | null = null;
  error: string | null = null;
  inconclusive: string | null = null;
  startedAt: Date | null = null;
  endedAt: Date | null = null;
  readonly createdAt = new Date();
  readonly faults: FaultRecord[] = [];
  /** the SLO probes' error budgets before the run, and after it what the run burned */
  budgets: BudgetInfo[] | undefined;

  private readonly t0 = performance.now();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private monitor: SteadyStateMonitor | null = null;
  private leadOutTimer: NodeJS.Timeout | null = null;
  private leadOutDone = false;
  private phase: "before" | "method" | "after" | "ending" | "done" = "before";
  private deviated = false;
  /** aborted when the run starts ending: no new round or change, in-flight injects cancelled */
  private readonly stop = new AbortController();
  private readonly unsubscribe: () => void;
  private ending: Promise<void> | null = null;
  private readonly rnd: () => number;
  /** spec.safety.maxTotal / maxTotalShare, shared by the steps */
  private readonly budget: RunBudget;
  private resolveEnded!: () => void;
  /** resolves when the run reached a final state */
  readonly ended = new Promise<void>((r) => (this.resolveEnded = r));
  private resolveSettled!: () => void;
  /** resolves when the run is final and none of its changes is still in place */
  readonly settled = new Promise<void>((r) => (this.resolveSettled = r));
  readonly log: Logger;

  constructor(
    readonly id: string,
    readonly exp: Experiment,
    readonly startedBy: string,
    private readonly deps: RunDeps,
    /** who launched it: a person, or a schedule (and which) */
    readonly origin: { launchedBy: "person" | "schedule"; scheduleId?: string | null } = { launchedBy: "person" },
  ) {
    this.rnd = seededRandom(seedFrom(id));
    this.budget = new RunBudget(exp.spec.safety.maxTotal, percentOf(exp.spec.safety.maxTotalShare));
    this.log = deps.log.child({ runId: id });
    this.unsubscribe = deps.executor.on((e) => this.onChange(e));
    void this.settled.then(() => this.unsubscribe());
  }

  // ---- records and evidence -------------------------------------------------

  record(): RunRecord {
    return {
      id: this.id,
      name: this.exp.metadata.name,
      hypothesis: this.exp.spec.hypothesis,
      state: this.state,
      hypothesisHeld: this.hypothesisHeld,
      startedBy: this.startedBy,
      launchedBy: this.origin.launchedBy,
      scheduleId: this.origin.scheduleId ?? null,
      ...(this.budgets ? { budgets: this.budgets } : {}),
      createdAt: this.createdAt.toISOString(),
      startedAt: this.startedAt?.toISOString() ?? null,
      endedAt: this.endedAt?.toISOString() ?? null,
      abort: this.abortInfo,
      error: this.error,
      inconclusive: this.inconclusive,
      faults: this.faults.map((f) => ({ ...f })),
    };
  }

  /** The budgets after the run: what it burned (the engine reads them once the run ended). */
  noteBudgets(after: BudgetInfo[]): void {
    this.budgets = after;
    this.event("budget", after.map((b) => `error budget of ${b.probe}: the run burned ${((b.burned ?? 0) * 100).toFixed(2)} % of it (${(b.left * 100).toFixed(1)} % was left before)`).join("; "), after);
    this.publish();
  }

  /** Changes of this run that may be in place (injected, being injected, or not verified reverted). */
  activeFaults(): FaultRecord[] {
    return this.faults.filter((f) => f.state !== "reverted" && f.state !== "failed");
  }

  private mono(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000;
  }

  private event(kind: string, message: string, data?: unknown): void {
    const e: TimelineEvent = { runId: this.id, at: new Date().toISOString(), monoMs: this.mono(), kind, message, data };
    this.deps.evidence.event(e);
    try {
      this.deps.sinks.event(e);
    } catch (err) {
      this.log.warn("event listener failed", { error: (err as Error).message });
    }
  }

  private publish(): void {
    try {
      this.deps.sinks.runUpdate(this.record());
    } catch (err) {
      this.log.warn("run listener failed", { error: (err as Error).message });
    }
  }

  // ---- timers that abort can cancel ------------------------------------------

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  /** Sleep that returns early (false) when the run starts ending. */
  private sleep(ms: number): Promise<boolean> {
    if (this.ending) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        resolve(false);
      };
      const t = setTimeout(() => {
        this.sleepers.delete(wake);
        resolve(!this.ending);
      }, ms);
      this.sleepers.add(wake);
    });
  }

  // ---- lifecycle ---------------------------------------------------------------

  async execute(): Promise<void> {
    try {
      await this.run();
    } catch (e) {
      this.log.error("run failed", { error: e as Error });
      await this.abort("error", { message: (e as Error).message });
    }
  }

  private async run(): Promise<void> {
    this.state = "running";
    this.startedAt = new Date();
    this.deps.evidence.runUpdate(this.id, { state: "running", startedAt: this.startedAt });
    this.event("run-started", `run of "${this.exp.metadata.name}" started by ${this.startedBy}${this.origin.launchedBy === "schedule" ? " (schedule)" : ""}`, {
      hypothesis: this.exp.spec.hypothesis,
      seed: seedFrom(this.id),
      launchedBy: this.origin.launchedBy,
      scheduleId: this.origin.scheduleId,
    });
    if (this.budgets?.length)
      this.event("budget", this.budgets.map((b) => `error budget of ${b.probe}: ${(b.left * 100).toFixed(1)} % left (minimum ${(b.minBudgetLeft * 100).toFixed(1)} %)`).join("; "), this.budgets);
    const safety = this.exp.spec.safety;
    const lifted = (["allowBroad", "allowControlPlane"] as const).filter((k) => safety[k]);
    if (lifted.length) this.event("safety", `spec.safety lifted by ${this.startedBy}: ${lifted.join(", ")} (reason: ${safety.reason})`, { lifted, reason: safety.reason });
    this.publish();

    this.monitor = new SteadyStateMonitor(this.exp.spec.steadyState.probes.map(createProbe), {
      onReading: (r) => this.onReading(r),
      onBreach: (b) => this.onBreach(b),
    });
    this.monitor.start();

    if (!(await this.steadyStateBefore())) return;

    this.phase = "method";
    const maxMs = effectiveMaxDuration(this.exp);
    this.later(maxMs, () => void this.abort("max-duration", { message: `run exceeded its maximum duration of ${maxMs} ms` }));
    this.event("method-started", `method started: ${this.exp.spec.method.length} step(s)`);

    const steps = this.exp.spec.method.map(
      (step, i) =>
        new Promise<void>((resolve) => {
          this.later(step.startAfter, () =>
            void this.runStep(step, i)
              // a step that throws (a target that cannot be resolved, ...) ends the run, never silently skips the fault
              .catch((e: Error) =>
                this.ending ? undefined : this.abort("error", { message: e instanceof NoTargetsError ? e.message : `step ${i} (${step.fault} on ${step.target}): ${e.message}` }),
              )
              .then(resolve, resolve),
          );
        }),
    );
    const allDone = Promise.all(steps);
    await Promise.race([allDone, this.ended]);
    if (this.ending) return;

    this.phase = "after";
    const readings = this.monitor.snapshot();
    const outside = readings.filter((r) => !r.ok);
    if (outside.length) {
      this.deviated = true;
      this.event("steady-state-after", `steady state not restored after the method: ${outside.map((r) => `${r.probe} ${r.measure}=${fmt(r.value)}`).join(", ")}`);
    } else {
      this.event("steady-state-after", "steady state holds after the method", { readings });
    }
    await this.finish("completed");
  }

  private async steadyStateBefore(): Promise<boolean> {
    const probes = this.exp.spec.steadyState.probes;
    const warmup = Math.min(Math.max(...probes.map((p) => ("window" in p ? p.window : 2 * p.interval))), this.deps.warmupMs ?? DEFAULT_WARMUP_MS);
    this.event("steady-state-before", `checking the steady state before injecting (${warmup} ms warm-up)`);
    if (!(await this.sleep(warmup))) return false;
    const deadline = performance.now() + BEFORE_DATA_TIMEOUT_MS;
    for (;;) {
      const readings = this.monitor!.snapshot();
      const missing = readings.filter((r) => r.value === null);
      if (!missing.length) {
        const outside = readings.filter((r) => !r.ok);
        if (outside.length) {
          const msg = `steady state not met before injection: ${outside
            .map((r) => `${r.probe} ${r.measure}=${fmt(r.value)} outside ${JSON.stringify(probes.find((p) => p.name === r.probe)!.tolerance)}`)
            .join("; ")}`;
          await this.fail(msg);
          return false;
        }
        this.event("steady-state-before", "steady state holds; injecting", { readings });
        return true;
      }
      if (performance.now() > deadline) {
        await this.fail(`steady state unknown before injection: no data from probe(s) ${missing.map((r) => r.probe).join(", ")}`);
        return false;
      }
      if (!(await this.sleep(250))) return false;
    }
  }

  private onReading(r: Reading): void {
    if (this.phase === "done" && !this.leadOutTimer) return;
    const s: ProbeSampleMsg = {
      runId: this.id,
      probe: r.probe,
      measure: r.measure,
      at: new Date().toISOString(),
      monoMs: this.mono(),
      value: r.value,
      ok: r.ok,
    };
    this.deps.evidence.sample(s);
    this.deps.sinks.sample(s);
  }

  private onBreach(b: Breach): void {
    if (this.phase !== "method") return; // before: the before-check decides; after: handled there
    this.deviated = true;
    this.hypothesisHeld = false;
    const since = new Date(Date.now() - (performance.now() - b.since));
    const message = b.kind === "missing" ? `${b.message}; last data at ${since.toISOString()}` : `${b.message} since ${since.toISOString()}`;
    this.event("breach", message, b);
    if (!this.exp.spec.abort.onViolation) return;
    void this.abort("steady-state", {
      message: `steady state violated: ${message}`,
      probe: b.probe,
      measure: b.measure,
      observed: b.observed,
      threshold: b.threshold,
      breachStartedAt: since.toISOString(),
      breachMono: b.since,
      ...(b.evidence ? { evidence: b.evidence } : {}),
    });
  }

  // ---- method steps --------------------------------------------------------------

  private async runStep(step: MethodStep, index: number): Promise<void> {
    const runner = new StepRunner(
      {
        index,
        fault: step.fault,
        params: step.params,
        targetName: step.target,
        target: this.exp.spec.targets[step.target],
        duration: step.duration,
        every: step.every,
        jitter: step.jitter,
        hold: step.hold,
        probability: step.probability,
        maxDown: maxDownOf(step.maxDown),
        limits: limitsOf(this.exp.spec.safety),
        allowControlPlane: this.exp.spec.safety.allowControlPlane,
      },
      {
        executor: this.deps.executor,
        runId: this.id,
        topology: this.deps.topology,
        protectedPids: this.deps.protectedPids,
        rnd: this.rnd,
        signal: this.stop.signal,
        onEvent: (e) => this.onStepEvent(step, index, e),
        budget: this.budget,
      },
    );
    await runner.run();
  }

  private onStepEvent(step: MethodStep, index: number, e: StepEvent): void {
    const label = step.every === undefined ? `step ${index}` : `step ${index} round ${e.round + 1}`;
    if (e.type === "resolved") {
      const spec = this.exp.spec.targets[step.target];
      const { resolution: res, chosen } = e;
      this.event(
        "targets-resolved",
        `${label} (${step.fault} on ${step.target}): ${res.matched.length} matched [${res.matched.map(targetLabel).join(", ")}], ${chosen.length} chosen by blast radius ${spec.mode}${spec.value !== undefined ? ` ${spec.value}` : ""}`,
        { selector: res.selector, matched: res.matched.map(targetLabel), chosen: chosen.map(targetLabel), protected: res.protected, round: e.round },
      );
    } else if (e.type === "dice") {
      const who = e.target ? targetLabel(e.target) : e.chosen.map(targetLabel).join(", ");
      this.event("dice", `dice roll ${e.roll.toFixed(2)} ${e.hit ? "<" : "≥"} ${e.probability.toFixed(2)}: ${e.hit ? "hitting" : "sparing"} ${who}`);
    } else if (e.type === "refused") {
      this.event("refused", `${label}: not hitting ${targetLabel(e.target)}: ${e.down} of ${e.fleet} would be down or affected; ${e.limit} allows ${e.allowed}`, { target: targetLabel(e.target), down: e.down, fleet: e.fleet, allowed: e.allowed, limit: e.limit });
    } else if (e.type === "empty") {
      this.event("targets-resolved", `${label}: ${e.message}; waiting for the next round`);
    }
  }

  /** The executor's account of this run's changes: the run record, the timeline and the metrics (the engine mirrors them to the database). */
  private onChange(e: ExecutorEvent): void {
    if (e.change.runId !== this.id) return;
    const c = e.change;
    let record = this.faults.find((f) => f.id === c.id);
    if (!record) {
      record = {
        id: c.id,
        step: c.step,
        fault: c.fault,
        target: c.targetName,
        targetKind: c.target.kind,
        targetId: targetId(c.target),
        targetLabel: c.targetLabel,
        node: c.node,
        host: c.host,
        state: "pending",
        injectedAt: null,
        revertAt: c.revertAt ?? null,
        revertedAt: null,
        verified: null,
        error: null,
        detail: describeChange(c.fault, c.target, c.undo),
        ...(isIrreversible(c.fault, c.params) ? { irreversible: true } : {}),
      };
      this.faults.push(record);
    }
    switch (e.type) {
      case "journaled":
        break;
      case "injected": {
        record.state = "injected";
        record.injectedAt = c.injectedAt ?? new Date().toISOString();
        this.deps.metrics.activeFaults.inc();
        this.deps.metrics.injections.inc({ fault: c.fault });
        const step = this.exp.spec.method[c.step];
        this.event("injected", `${c.fault} ${JSON.stringify(step?.params ?? c.params)} → ${c.targetLabel}${c.node ? ` (node ${c.node})` : ""}${record.detail ? `: ${record.detail}` : ""}`, { faultId: c.id, targetId: record.targetId });
        break;
      }
      case "inject-failed":
        record.state = "to-revert";
        record.error = e.error;
        this.event("inject-failed", `${c.fault} on ${c.targetLabel} failed: ${e.error}; reverting what it may have done`, { faultId: c.id });
        break;
      case "reverted":
        if (record.state === "injected") this.deps.metrics.activeFaults.dec();
        record.state = "reverted";
        record.verified = true;
        record.revertedAt = c.revertedAt ?? new Date().toISOString();
        if (c.effect) record.effect = c.effect;
        this.event("reverted", `${c.fault} on ${c.targetLabel} reverted: ${e.detail}${c.effect ? `; effect: ${c.effect.summary}` : ""}`, { faultId: c.id, effect: c.effect });
        break;
      case "revert-failed":
        if (record.state === "injected") this.deps.metrics.activeFaults.dec();
        record.state = "to-revert";
        record.verified = false;
        record.error = `revert not verified: ${e.detail}`;
        this.error ??= `a change could not be verified as reverted: ${c.targetLabel}: ${e.detail}`;
        this.event("revert-failed", `${c.fault} on ${c.targetLabel}: ${e.detail} (it stays to revert and blocks new runs; HALT or gameday recover retries it)`, { faultId: c.id });
        break;
    }
    this.publish();
    this.checkSettled();
  }

  /** Settled: the run is final and the executor holds no unverified change of it. */
  private checkSettled(): void {
    // a change that is not verified reverted stays with the executor, which blocks new runs until it is
    if (this.phase === "done" && !this.deps.executor.open(this.id).some((c) => c.state !== "to-revert")) this.resolveSettled();
  }

  /** Stop the run now. Idempotent: a second call returns the first one's promise. */
  abort(reason: AbortReason, info: Partial<AbortInfo> & { message: string; breachMono?: number }): Promise<void> {
    if (this.ending) return this.ending;
    if (this.phase === "done") return Promise.resolve();
    this.ending = (async () => {
      const tAbort = performance.now();
      this.phase = "ending";
      // no new round or change; injects in flight are cancelled and the executor waits for them before reverting
      this.stop.abort();
      for (const wake of [...this.sleepers]) wake();
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      // the monitor keeps sampling (a breach now changes nothing): the revert and the recovery belong in the data
      const { breachMono, ...rest } = info;
      this.abortInfo = { reason, at: new Date().toISOString(), ...rest };
      if (reason === "error") this.error ??= info.message;
      this.event("abort", `aborting (${reason}): ${info.message}`, this.abortInfo);
      const policy = this.exp.spec.rollback;
      const revertNow = reason === "halt" || policy === "always" || (policy === "deviated" && this.deviated);
      if (revertNow) await this.deps.executor.revertRun(this.id);
      else {
        // what was being injected when the abort came is reverted by the executor (the signal cancelled it); what is in place stays
        await this.deps.executor.settle(this.id);
        const left = this.deps.executor.open(this.id).length;
        if (left) this.event("rollback", `rollback: ${policy}: ${left} change(s) stay until their duration ends`);
      }
      const revertMs = performance.now() - tAbort;
      if (revertNow) {
        this.abortInfo.revertMs = Math.round(revertMs * 10) / 10;
        this.deps.metrics.abortLatency.observe({ reason }, revertMs / 1000);
        if (breachMono !== undefined) this.deps.metrics.breachToRevert.observe((performance.now() - breachMono) / 1000);
      }
      await this.finish("aborted");
    })();
    return this.ending;
  }

  /** HALT: abort and revert everything regardless of the rollback policy. */
  async halt(by: string): Promise<void> {
    if (this.phase === "done" || this.ending) {
      // already ending or ended: changes left by rollback never/deviated go now
      await this.ending;
      await this.deps.executor.revertRun(this.id);
      return;
    }
    await this.abort("halt", { message: `HALT by ${by}`, by });
  }

  private async fail(message: string): Promise<void> {
    this.error = message;
    this.event("failed", message);
    await this.finish("failed");
  }

  private async finish(state: "completed" | "aborted" | "failed"): Promise<void> {
    if (this.phase === "done") return;
    this.phase = "done";
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.state = state;
    this.endedAt = new Date();
    if (state === "completed") this.hypothesisHeld = !this.deviated;
    else if (this.deviated) this.hypothesisHeld = false;
    // a fault that touched nothing did not test the hypothesis (a deviation all the same is still a refutation)
    const idle = this.faults.filter((f) => f.effect?.touched === 0);
    if (idle.length && !this.deviated) {
      this.inconclusive = `inconclusive: ${idle.map((f) => `${f.fault} on ${f.targetLabel} touched nothing (${f.effect!.summary})`).join("; ")}`;
      this.hypothesisHeld = null;
    }
    this.deps.evidence.runUpdate(this.id, {
      state,
      endedAt: this.endedAt,
      hypothesisHeld: this.hypothesisHeld,
      abortReason: this.abortInfo?.reason ?? null,
      abortDetail: this.abortInfo ? JSON.stringify(this.abortInfo) : null,
      error: this.error,
    });
    this.deps.metrics.runs.inc({ state });
    this.event("run-ended", `run ${state}${this.hypothesisHeld === null ? "" : this.hypothesisHeld ? "; hypothesis held" : "; hypothesis refuted"}${this.inconclusive ? `; ${this.inconclusive}` : ""}`, this.inconclusive ? { inconclusive: this.inconclusive } : undefined);
    this.publish();
    this.resolveEnded();
    this.checkSettled();
    this.leadOut();
  }

  /** Keep sampling the probes for the lead-out, off the run's path: the run has ended and new runs may start. */
  private leadOut(): void {
    const ms = this.deps.leadOutMs ?? 0;
    if (!this.monitor || ms <= 0) return this.stopLeadOut();
    this.leadOutTimer = setTimeout(() => this.stopLeadOut(), ms);
    this.leadOutTimer.unref();
  }

  /** End the lead-out now (at its time, or at worker shutdown); the event tells the report it can be written. */
  stopLeadOut(): void {
    if (this.phase !== "done") return; // still running: its monitor is the abort path's, not ours to stop
    if (this.leadOutTimer) clearTimeout(this.leadOutTimer);
    const sampled = this.leadOutTimer !== null;
    this.leadOutTimer = null;
    this.monitor?.stop();
    if (this.leadOutDone) return;
    this.leadOutDone = true;
    this.event("lead-out-ended", sampled ? `probes sampled for ${this.deps.leadOutMs} ms after the run ended` : "no lead-out sampling");
  }
}
