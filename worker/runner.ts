// One run of one experiment: steady state before → method (inject, hold,
// revert) under a running monitor → steady state after → completed, or an
// abort at any point. Every change goes through the journal first; every
// blocking wait is interruptible by abort; the abort path needs no UI, socket
// or database round trip to revert.
import type { AbortInfo, AbortReason, FaultRecord, ProbeSampleMsg, RunRecord, RunState, TimelineEvent } from "../lib/contract";
import { effectiveMaxDuration, type Experiment, type MethodStep } from "../lib/experiment";
import type { Topology } from "../lib/topology";
import type { Logger } from "../lib/log";
import { getInjector, targetLabel, type AnyInjector, type Target } from "../injectors";
import type { Journal } from "./journal";
import type { EvidenceQueue } from "./store";
import type { WorkerMetrics } from "./metrics";
import { createProbe } from "./probes";
import { SteadyStateMonitor, type Breach, type Reading } from "./monitor";
import { applyBlastRadius, resolveTargets, seedFrom, seededRandom } from "../injectors/targets/resolve";

export interface RunSinks {
  runUpdate(run: RunRecord): void;
  event(e: TimelineEvent): void;
  sample(s: ProbeSampleMsg): void;
}

export interface RunDeps {
  journal: Journal;
  evidence: EvidenceQueue;
  log: Logger;
  topology: Topology | null;
  metrics: WorkerMetrics;
  sinks: RunSinks;
  /** PIDs of Game Day's own processes (web app, agents) that are never targets */
  protectedPids: () => ReadonlySet<number>;
  /** Steady-state warm-up before injecting (tests shorten it). */
  warmupMs?: number;
}

interface ActiveFault {
  record: FaultRecord;
  injector: AnyInjector;
  target: Target;
  undo: unknown;
  timer: NodeJS.Timeout | null;
}

const REVERT_ATTEMPTS = 3;
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
  startedAt: Date | null = null;
  endedAt: Date | null = null;
  readonly createdAt = new Date();
  readonly faults: FaultRecord[] = [];

  private readonly t0 = performance.now();
  private readonly active = new Map<string, ActiveFault>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private monitor: SteadyStateMonitor | null = null;
  private phase: "before" | "method" | "after" | "ending" | "done" = "before";
  private deviated = false;
  private lock: Promise<unknown> = Promise.resolve();
  private ending: Promise<void> | null = null;
  private readonly rnd: () => number;
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
  ) {
    this.rnd = seededRandom(seedFrom(id));
    this.log = deps.log.child({ runId: id });
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
      createdAt: this.createdAt.toISOString(),
      startedAt: this.startedAt?.toISOString() ?? null,
      endedAt: this.endedAt?.toISOString() ?? null,
      abort: this.abortInfo,
      error: this.error,
      faults: this.faults.map((f) => ({ ...f })),
    };
  }

  activeFaults(): FaultRecord[] {
    return [...this.active.values()].map((f) => f.record);
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

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
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
    this.event("run-started", `run of "${this.exp.metadata.name}" started by ${this.startedBy}`, { hypothesis: this.exp.spec.hypothesis, seed: seedFrom(this.id) });
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
              .catch((e: Error) => (this.ending ? undefined : this.abort("error", { message: `step ${i} (${step.fault} on ${step.target}): ${e.message}` })))
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
    const warmup = Math.min(Math.max(...probes.map((p) => p.window)), this.deps.warmupMs ?? DEFAULT_WARMUP_MS);
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
    if (this.phase === "done") return;
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
    const message = `${b.probe} ${b.measure}=${fmt(b.observed)} outside tolerance ${JSON.stringify(b.threshold)} since ${since.toISOString()}`;
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
    });
  }

  // ---- method steps --------------------------------------------------------------

  private async runStep(step: MethodStep, index: number): Promise<void> {
    const stepEnd = Date.now() + step.duration;
    for (let round = 0; !this.ending; round++) {
      const length = step.every === undefined ? step.duration : step.every + (step.jitter ? (this.rnd() * 2 - 1) * step.jitter : 0);
      const roundEnd = Math.min(stepEnd, Date.now() + length);
      const go = await this.runRound(step, index, round, roundEnd);
      if (!go || step.every === undefined || Date.now() >= stepEnd) return;
    }
  }

  /** One round of a step: resolve, choose, inject, hold until roundEnd, revert. False: stop the step. */
  private async runRound(step: MethodStep, index: number, round: number, roundEnd: number): Promise<boolean> {
    if (this.ending) return false;
    const injector = getInjector(step.fault);
    if (!injector) throw new Error(`unknown fault ${step.fault}`);
    const spec = this.exp.spec.targets[step.target];
    const res = resolveTargets(spec, this.deps.topology, this.deps.protectedPids());
    const node = res.node;
    const chosen = applyBlastRadius(res.matched, spec.mode, spec.value, this.rnd);
    const label = step.every === undefined ? `step ${index}` : `step ${index} round ${round + 1}`;
    this.event(
      "targets-resolved",
      `${label} (${step.fault} on ${step.target}): ${res.matched.length} matched [${res.matched.map(targetLabel).join(", ")}], ${chosen.length} chosen by blast radius ${spec.mode}${spec.value !== undefined ? ` ${spec.value}` : ""}`,
      { selector: res.selector, matched: res.matched.map(targetLabel), chosen: chosen.map(targetLabel), protected: res.protected, round },
    );
    if (!chosen.length) {
      const message = res.problem
        ? `target "${step.target}": ${res.problem}`
        : `target "${step.target}" (${res.selector}) matched no ${spec.network ? "traffic" : "process"}${res.protected.length ? ` (${res.protected.length} protected process(es) excluded)` : ""}`;
      // later rounds may find the fleet still respawning: wait for the next round
      if (round > 0) return this.sleep(Math.max(0, roundEnd - Date.now()));
      await this.abort("error", { message });
      return false;
    }
    const hits = chosen.filter((t) => {
      if (step.probability >= 1) return true;
      const roll = this.rnd();
      const hit = roll < step.probability;
      this.event("dice", `dice roll ${roll.toFixed(2)} ${hit ? "<" : "≥"} ${step.probability.toFixed(2)}: ${hit ? "hitting" : "sparing"} ${targetLabel(t)}`);
      return hit;
    });
    const injected: ActiveFault[] = [];
    for (const target of hits) {
      const f = await this.exclusive(() => this.injectOne(step, index, injector, target, node, roundEnd));
      if (f) injected.push(f);
    }
    if (hits.length && !injected.length && !this.ending) {
      await this.abort("error", { message: `${label}: every injection failed` });
      return false;
    }
    if (!injected.length) return this.sleep(Math.max(0, roundEnd - Date.now()));
    // hold until the round ends, then revert this round's changes
    await new Promise<void>((resolve) => {
      let left = injected.length;
      const done = () => {
        if (--left <= 0) resolve();
      };
      for (const f of injected) {
        f.timer = setTimeout(
          () => void this.exclusive(() => this.revertOne(f)).then((r) => r.written).then(done, done),
          Math.max(0, roundEnd - Date.now()),
        );
      }
    });
    return !this.ending;
  }

  private async injectOne(step: MethodStep, index: number, injector: AnyInjector, target: Target, node: string | undefined, revertAt: number): Promise<ActiveFault | null> {
    if (this.ending) return null;
    if (target.kind !== injector.targetKind) throw new Error(`${injector.name} acts on ${injector.targetKind} targets, not ${target.kind}`);
    const undo = await injector.plan(target, step.params);
    const record = await this.deps.journal.begin({
      runId: this.id,
      step: index,
      fault: injector.name,
      targetName: step.target,
      target,
      node,
      params: step.params,
      undo,
      revertAt: new Date(revertAt),
    });
    this.faults.push(record);
    const f: ActiveFault = { record, injector, target, undo, timer: null };
    try {
      await injector.inject(target, step.params, { runId: this.id, signal: AbortSignal.timeout(30_000), undo });
    } catch (e) {
      record.state = "failed";
      record.error = (e as Error).message;
      // the change may be half-applied: revert is idempotent, so try it
      await injector.revert(target, undo).catch(() => undefined);
      await this.deps.journal.failed(record.id, record.error).catch((err: Error) => this.log.error("journal write failed", { error: err.message }));
      this.event("inject-failed", `${injector.name} on ${record.targetLabel} failed: ${record.error}`);
      this.publish();
      return null;
    }
    record.state = "injected";
    record.injectedAt = new Date().toISOString();
    this.active.set(record.id, f);
    this.deps.metrics.activeFaults.inc();
    this.deps.metrics.injections.inc({ fault: injector.name });
    this.event("injected", `${injector.name} ${JSON.stringify(step.params)} → ${record.targetLabel}${node ? ` (node ${node})` : ""}${record.detail ? `: ${record.detail}` : ""}`, { faultId: record.id, targetId: record.targetId });
    this.publish();
    await this.deps.journal.injected(record.id, new Date()).catch((err: Error) => this.log.error("journal write failed", { error: err.message }));
    return f;
  }

  /** Revert one change, verify it, and journal the outcome (the journal write is not awaited by aborts). */
  private async revertOne(f: ActiveFault): Promise<{ written: Promise<void> }> {
    if (!this.active.has(f.record.id)) return { written: Promise.resolve() };
    if (f.timer) clearTimeout(f.timer);
    let verdict = { ok: false, detail: "not attempted" };
    for (let attempt = 1; attempt <= REVERT_ATTEMPTS && !verdict.ok; attempt++) {
      try {
        await f.injector.revert(f.target, f.undo);
        verdict = await f.injector.verify(f.target, f.undo);
      } catch (e) {
        verdict = { ok: false, detail: (e as Error).message };
      }
    }
    this.active.delete(f.record.id);
    this.deps.metrics.activeFaults.dec();
    f.record.verified = verdict.ok;
    if (verdict.ok) {
      f.record.state = "reverted";
      f.record.revertedAt = new Date().toISOString();
      this.event("reverted", `${f.injector.name} on ${f.record.targetLabel} reverted: ${verdict.detail}`, { faultId: f.record.id });
    } else {
      f.record.error = `revert not verified: ${verdict.detail}`;
      this.error ??= `a change could not be verified as reverted: ${f.record.targetLabel}: ${verdict.detail}`;
      this.event("revert-failed", `${f.injector.name} on ${f.record.targetLabel}: ${verdict.detail}`, { faultId: f.record.id });
    }
    this.publish();
    if (this.phase === "done" && this.active.size === 0) this.resolveSettled();
    return {
      written: this.deps.journal
        .reverted(f.record.id, verdict.ok, verdict.detail)
        .catch((err: Error) => this.log.error("journal write failed", { error: err.message })),
    };
  }

  /** Revert every change still in place, in parallel; resolves when all reverts (not their journal writes) are done. */
  private async revertAll(): Promise<{ written: Promise<unknown> }> {
    const faults = [...this.active.values()];
    for (const f of faults) if (f.timer) clearTimeout(f.timer);
    const results = await this.exclusive(() => Promise.all(faults.map((f) => this.revertOne(f))));
    return { written: Promise.all(results.map((r) => r.written)) };
  }

  /** Stop the run now. Idempotent: a second call returns the first one's promise. */
  abort(reason: AbortReason, info: Partial<AbortInfo> & { message: string; breachMono?: number }): Promise<void> {
    if (this.ending) return this.ending;
    if (this.phase === "done") return Promise.resolve();
    this.ending = (async () => {
      const tAbort = performance.now();
      this.phase = "ending";
      for (const wake of [...this.sleepers]) wake();
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      this.monitor?.stop();
      const { breachMono, ...rest } = info;
      this.abortInfo = { reason, at: new Date().toISOString(), ...rest };
      if (reason === "error") this.error ??= info.message;
      this.event("abort", `aborting (${reason}): ${info.message}`, this.abortInfo);
      const policy = this.exp.spec.rollback;
      const revertNow = reason === "halt" || policy === "always" || (policy === "deviated" && this.deviated);
      let journalWrites: Promise<unknown> = Promise.resolve();
      if (revertNow) journalWrites = (await this.revertAll()).written;
      else if (this.active.size) this.event("rollback", `rollback: ${policy}: ${this.active.size} change(s) stay until their duration ends`);
      const revertMs = performance.now() - tAbort;
      if (revertNow) {
        this.abortInfo.revertMs = Math.round(revertMs * 10) / 10;
        this.deps.metrics.abortLatency.observe({ reason }, revertMs / 1000);
        if (breachMono !== undefined) this.deps.metrics.breachToRevert.observe((performance.now() - breachMono) / 1000);
      }
      await journalWrites;
      await this.finish("aborted");
    })();
    return this.ending;
  }

  /** HALT: abort and revert everything regardless of the rollback policy. */
  async halt(by: string): Promise<void> {
    if (this.phase === "done" || this.ending) {
      // already ending or ended: changes left by rollback never/deviated go now
      await this.ending;
      await (await this.revertAll()).written;
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
    this.monitor?.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.state = state;
    this.endedAt = new Date();
    if (state === "completed") this.hypothesisHeld = !this.deviated;
    else if (this.deviated) this.hypothesisHeld = false;
    this.deps.evidence.runUpdate(this.id, {
      state,
      endedAt: this.endedAt,
      hypothesisHeld: this.hypothesisHeld,
      abortReason: this.abortInfo?.reason ?? null,
      abortDetail: this.abortInfo ? JSON.stringify(this.abortInfo) : null,
      error: this.error,
    });
    this.deps.metrics.runs.inc({ state });
    this.event("run-ended", `run ${state}${this.hypothesisHeld === null ? "" : this.hypothesisHeld ? "; hypothesis held" : "; hypothesis refuted"}`);
    this.publish();
    this.resolveEnded();
    if (this.active.size === 0) this.resolveSettled();
  }
}
