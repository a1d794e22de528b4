// One method step, run on this host through the executor: in rounds (one
// round unless `every` is set), each round resolves the targets again,
// applies the blast radius, the dice and the fleet valve (maxDown), applies
// the fault to each chosen target and reverts it when its hold ends. The
// worker's runner and the standalone CLIs both drive steps with this; they
// print or record from its events and the executor's.
import type { TargetSpec } from "../lib/experiment";
import type { Topology } from "../lib/topology";
import { getInjector, targetId, type Target } from "../injectors";
import { applyBlastRadius, resolveTargets, type TargetResolution } from "../injectors/targets/resolve";
import { ApplyError, type Change, type ExecutorPort } from "./executor";

/** The first round found nothing to act on: the message says why, naming the target. */
export class NoTargetsError extends Error {}

export type MaxDown = { count: number } | { percent: number };

/** spec.safety's limits on one target (each step's maxDown, when given, only lowers them). */
export interface TargetLimits {
  count: number;
  /** share of the target's largest fleet seen, 0 < p ≤ 100; at least one is always allowed */
  percent: number;
}

/**
 * The experiment-wide limit (spec.safety.maxTotal / maxTotalShare), shared by
 * every step of a run. take() is synchronous, so two steps choosing at the
 * same moment cannot both get the last slot.
 */
export class RunBudget {
  private inUse = 0;
  /** the largest fleet each step has seen, by step index */
  private readonly peaks = new Map<number, number>();
  constructor(
    readonly maxTotal: number,
    readonly maxTotalShare: number,
  ) {}

  /** Record a step's fleet size (its largest counts towards the share). */
  see(step: number, n: number): void {
    this.peaks.set(step, Math.max(this.peaks.get(step) ?? 0, n));
  }

  get allowed(): number {
    const fleet = [...this.peaks.values()].reduce((a, b) => a + b, 0);
    return Math.min(this.maxTotal, Math.max(1, Math.floor((fleet * this.maxTotalShare) / 100)));
  }

  get used(): number {
    return this.inUse;
  }

  /** Reserve up to n slots now; returns how many were granted. */
  take(n: number): number {
    const k = Math.max(0, Math.min(n, this.allowed - this.inUse));
    this.inUse += k;
    return k;
  }

  give(n: number): void {
    this.inUse = Math.max(0, this.inUse - n);
  }
}

export interface StepSpec {
  index: number;
  fault: string;
  /** validated by the injector's params schema */
  params: unknown;
  /** the experiment's name for the target */
  targetName: string;
  target: TargetSpec;
  duration: number;
  /** repeat in rounds of every ± jitter ms during the duration */
  every?: number;
  jitter?: number;
  /**
   * with every: how round lengths are drawn (default "fixed": every ± jitter).
   * "poisson": exponentially distributed with mean `every` (arrivals of a
   * Poisson process), never shorter than minGapMs. Both come from the seeded
   * rnd, so a seed replays the same schedule.
   */
  schedule?: { kind: "fixed" } | { kind: "poisson"; minGapMs: number };
  /** chance 0..1 of a hit */
  probability: number;
  /** roll once per chosen target (default), or once per round: fire at every chosen target or hold fire */
  probabilityPer?: "target" | "round";
  /** how long one round's changes stay (default: until the round ends) */
  hold?: number;
  /** never more than this many (or this share of the largest fleet seen) targets down or affected at once */
  maxDown?: MaxDown;
  /** spec.safety's per-target limits, applied with maxDown (the lower wins) */
  limits?: TargetLimits;
  /** spec.safety.allowControlPlane: network targets do not spare the control plane's ports */
  allowControlPlane?: boolean;
  /** with every: the first round comes after one period, not at once */
  firstRoundAfterPeriod?: boolean;
  /** the caller found targets before the first round (a standalone CLI's own scan): a first round that matches nothing waits for the next one, as later rounds do */
  firstRoundMayBeEmpty?: boolean;
  /** a round whose every injection failed (say, the targets died between the scan and the signal) is counted in stats.failed and the rounds go on, instead of ending the step */
  continueAfterFailedRound?: boolean;
}

export type StepEvent =
  | { type: "resolved"; round: number; resolution: TargetResolution; chosen: Target[]; candidates: Target[] }
  | { type: "dice"; round: number; roll: number; probability: number; hit: boolean; target?: Target; chosen: Target[] }
  | { type: "refused"; round: number; target: Target; down: number; fleet: number; allowed: number; maxDown?: MaxDown; limit: string }
  | { type: "would-apply"; round: number; targets: Target[] }
  | { type: "applied"; round: number; change: Change }
  | { type: "apply-failed"; round: number; target: Target; error: string; change: Change | null }
  | { type: "empty"; round: number; message: string };

export interface StepDeps {
  /** null only with dryRun: a dry run applies nothing */
  executor: ExecutorPort | null;
  runId: string;
  topology: Topology | null;
  protectedPids: () => ReadonlySet<number>;
  rnd: () => number;
  /** stop: no new round or change; in-flight injects are cancelled (what is in place stays until its hold ends or somebody reverts it) */
  signal: AbortSignal;
  onEvent(e: StepEvent): void;
  /** resolve, roll and choose; change nothing */
  dryRun?: boolean;
  /** the experiment-wide limit shared by the run's steps */
  budget?: RunBudget;
}

export interface StepStats {
  rounds: number;
  rolls: number;
  hits: number;
  misses: number;
  applied: number;
  failed: number;
  refused: number;
}

/** Sleep until ms passed or the signal fires; true when the time ran out. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve(true);
    }, Math.max(0, ms));
    const stop = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener("abort", stop, { once: true });
  });
}

/** One round's length in ms under the step's schedule (see StepSpec.schedule). */
export function roundLength(s: Pick<StepSpec, "every" | "jitter" | "schedule">, rnd: () => number): number {
  const every = s.every ?? 0;
  if (s.schedule?.kind === "poisson") return Math.max(s.schedule.minGapMs, 1, Math.round(-Math.log(1 - rnd()) * every));
  return Math.max(1, every + (s.jitter ? (rnd() * 2 - 1) * s.jitter : 0));
}

export function allowedDown(maxDown: MaxDown, peak: number): number {
  return "count" in maxDown ? maxDown.count : Math.floor((peak * maxDown.percent) / 100);
}

export class StepRunner {
  readonly stats: StepStats = { rounds: 0, rolls: 0, hits: 0, misses: 0, applied: 0, failed: 0, refused: 0 };
  /** changes of this step still held, by target id */
  private readonly held = new Map<string, Change>();
  private readonly holds = new Set<Promise<void>>();
  private peak = 0;

  constructor(
    readonly spec: StepSpec,
    private readonly d: StepDeps,
  ) {
    if (!d.executor && !d.dryRun) throw new Error("StepRunner: only a dry run may go without an executor");
  }

  /** (the constructor made sure there is one whenever a change is applied) */
  private get executor(): ExecutorPort {
    return this.d.executor!;
  }

  /**
   * Run every round; resolves when the duration is over (or the signal
   * fired) and every change this step made is reverted or left by the
   * caller's rollback policy to its hold. Throws when the first round finds
   * no target, or when every injection of a round failed.
   */
  async run(): Promise<StepStats> {
    const s = this.spec;
    // one change held for the duration: from when it is applied (resolving the
    // targets takes time too); rounds: all within the duration from now
    const end = s.every === undefined ? Infinity : Date.now() + s.duration;
    const period = () => (s.every === undefined ? s.duration : roundLength(s, this.d.rnd));
    let at = s.every !== undefined && s.firstRoundAfterPeriod ? Date.now() + period() : Date.now();
    try {
      for (let round = 0; !this.d.signal.aborted; round++) {
        if (!(await sleep(at - Date.now(), this.d.signal))) break;
        if (Date.now() >= end) break;
        const length = period();
        const roundEnd = Math.min(end, Date.now() + length);
        // rounds with no hold of their own: the changes last until the round ends, so the rounds keep
        // their cadence (a kill per interval); a hold, or the one round of a step: from each change's apply
        const { held } = await this.round(round, s.hold ?? length, end, s.every !== undefined && s.hold === undefined ? roundEnd : undefined);
        if (s.every === undefined) break;
        // a round's changes are reverted before the next round chooses again, unless holds are set apart from rounds
        if (s.hold === undefined) await held;
        at = roundEnd;
      }
    } finally {
      await Promise.all([...this.holds]);
    }
    return this.stats;
  }

  /**
   * One round; resolves once its changes are made, with a promise of their
   * revert (wrapped: an async function's returned promise would be awaited).
   */
  private async round(round: number, holdFor: number, end: number, holdUntil?: number): Promise<{ held: Promise<void> }> {
    const s = this.spec;
    this.stats.rounds++;
    const res = await resolveTargets(s.target, this.d.topology, this.d.protectedPids(), { allowControlPlane: s.allowControlPlane, ipv6: getInjector(s.fault)?.ipv6 });
    const fleet = new Set(res.matched.map(targetId));
    this.peak = Math.max(this.peak, fleet.size);
    const candidates = res.matched.filter((t) => !this.held.has(targetId(t)));
    let chosen = applyBlastRadius(candidates, s.target.mode, s.target.value, this.d.rnd);
    this.d.onEvent({ type: "resolved", round, resolution: res, chosen, candidates });
    if (!res.matched.length) {
      const message = res.problem
        ? `target "${s.targetName}": ${res.problem}`
        : `target "${s.targetName}" (${res.selector}) matched no ${s.target.network ? "traffic" : s.target.container ? "container" : "process"}${res.protected.length ? ` (${res.protected.length} protected process(es) excluded)` : ""}`;
      // later rounds may find a fleet still respawning: wait for the next round
      if (round > 0 || s.firstRoundMayBeEmpty) {
        this.d.onEvent({ type: "empty", round, message });
        return { held: Promise.resolve() };
      }
      throw new NoTargetsError(message);
    }
    chosen = this.valve(round, this.dice(round, chosen), fleet);
    if (!chosen.length) return { held: Promise.resolve() };
    if (this.d.dryRun) {
      this.d.budget?.give(chosen.length);
      this.d.onEvent({ type: "would-apply", round, targets: chosen });
      return { held: Promise.resolve() };
    }
    // each change is held from when it is made (resolving the targets and
    // applying the ones before it take time too), or until the round's end
    const holdEnd = () => Math.min(end, holdUntil ?? Date.now() + holdFor);
    const changes: Change[] = [];
    const ends: number[] = [];
    let failed = 0;
    for (const target of chosen) {
      if (this.d.signal.aborted) {
        this.d.budget?.give(chosen.length - changes.length - failed);
        break;
      }
      try {
        const change = await this.executor.apply(
          { runId: this.d.runId, step: s.index, targetName: s.targetName, node: res.node, fault: s.fault, target, params: s.params, revertAt: new Date(holdEnd()) },
          this.d.signal,
        );
        this.stats.applied++;
        changes.push(change);
        ends.push(holdEnd());
        this.held.set(targetId(target), change);
        this.d.onEvent({ type: "applied", round, change });
      } catch (e) {
        failed++;
        this.stats.failed++;
        this.d.budget?.give(1);
        this.d.onEvent({ type: "apply-failed", round, target, error: (e as Error).message, change: e instanceof ApplyError ? e.change : null });
      }
    }
    if (failed && !changes.length && !this.d.signal.aborted && !s.continueAfterFailedRound) throw new Error(`round ${round + 1}: every injection failed`);
    return { held: changes.length ? Promise.all(changes.map((c, i) => this.hold(c, ends[i]))).then(() => undefined) : Promise.resolve() };
  }

  private dice(round: number, chosen: Target[]): Target[] {
    if (!chosen.length) return chosen;
    const p = this.spec.probability;
    if (this.spec.probabilityPer === "round") {
      this.stats.rolls++;
      const roll = this.d.rnd();
      const hit = roll < p;
      if (hit) this.stats.hits++;
      else this.stats.misses++;
      this.d.onEvent({ type: "dice", round, roll, probability: p, hit, chosen });
      return hit ? chosen : [];
    }
    if (p >= 1) return chosen;
    return chosen.filter((target) => {
      this.stats.rolls++;
      const roll = this.d.rnd();
      const hit = roll < p;
      if (hit) this.stats.hits++;
      else this.stats.misses++;
      this.d.onEvent({ type: "dice", round, roll, probability: p, hit, target, chosen });
      return hit;
    });
  }

  /**
   * The fleet valve: down = instances gone since the largest fleet seen +
   * ours still held on live ones; the step's maxDown, spec.safety's
   * per-target limits and the run's budget each cap it (the lowest wins).
   */
  private valve(round: number, chosen: Target[], fleet: Set<string>): Target[] {
    const { maxDown, limits } = this.spec;
    const budget = this.d.budget;
    budget?.see(this.spec.index, this.peak);
    if (!chosen.length || (!maxDown && !limits && !budget)) return chosen;
    const heldLive = [...this.held.keys()].filter((id) => fleet.has(id)).length;
    const down = Math.max(0, this.peak - fleet.size) + heldLive;
    const caps: { allowed: number; limit: string }[] = [];
    if (maxDown) caps.push({ allowed: allowedDown(maxDown, this.peak), limit: `maxDown ${"count" in maxDown ? maxDown.count : `${maxDown.percent}%`}` });
    if (limits) {
      caps.push({ allowed: limits.count, limit: `spec.safety.maxPerTarget ${limits.count}` });
      caps.push({ allowed: Math.max(1, Math.floor((this.peak * limits.percent) / 100)), limit: `spec.safety.maxSharePerTarget ${limits.percent}%` });
    }
    const cap = caps.reduce((a, b) => (b.allowed < a.allowed ? b : a), { allowed: Infinity, limit: "" });
    let fire = chosen.slice(0, Math.max(0, cap.allowed - down));
    let limit = cap.limit;
    if (budget) {
      const granted = budget.take(fire.length);
      if (granted < fire.length) limit = `spec.safety.maxTotal/maxTotalShare (${budget.allowed} change(s) of the experiment at once, ${budget.used} in place)`;
      fire = fire.slice(0, granted);
    }
    const allowed = Number.isFinite(cap.allowed) ? cap.allowed : down + fire.length;
    for (const target of chosen.slice(fire.length)) {
      this.stats.refused++;
      this.d.onEvent({ type: "refused", round, target, down: down + fire.length, fleet: this.peak, allowed, maxDown, limit });
    }
    return fire;
  }

  /** Keep the change until holdEnd (or until somebody else reverts it), then revert it. */
  private hold(change: Change, holdEnd: number): Promise<void> {
    const p = (async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, holdEnd - Date.now())))), this.executor.whenReverted([change.id])]);
      clearTimeout(timer);
      const verified = await this.executor.revert(change.id);
      // a change not verified reverted is still in place: it keeps its slot
      if (verified.ok) this.d.budget?.give(1);
      if (this.held.get(targetId(change.target))?.id === change.id) this.held.delete(targetId(change.target));
    })();
    this.holds.add(p);
    void p.finally(() => this.holds.delete(p));
    return p;
  }
}
