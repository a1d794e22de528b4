// The steady-state monitor: it judges each probe's value the moment a sample
// arrives and reports a breach once the value has stayed outside its
// tolerance for the probe's `for` window. The window's end has its own timer,
// so a breach lands when the window ends, not at the next tick; a probe that
// gives no data for its grace meets its onMissing policy. The monitor owns
// its timers, so an abort never waits on the UI, the socket or the database.
// A slow tick only publishes readings (the evidence stream).
import type { BreachEvidence, Threshold } from "../lib/contract";
import { missingGraceMs } from "../lib/experiment";
import { withinTolerance, type Probe } from "./probes";

export { withinTolerance };

/** How often readings are published for the evidence stream and the charts (verdicts do not wait for it). */
export const MONITOR_TICK_MS = 250;

export interface Reading {
  probe: string;
  measure: string;
  value: number | null;
  ok: boolean;
  /** performance.now() of the reading */
  t: number;
  /** the probe gives no data beyond its grace (and onMissing says what that means) */
  missing?: boolean;
}

export interface Breach {
  probe: string;
  /** tolerance: the value stayed outside for `for`; missing: no data for the grace under onMissing: abort */
  kind: "tolerance" | "missing";
  measure: string;
  observed: number | null;
  threshold: Threshold;
  /** performance.now() when the value first left its tolerance (missing: the last data) */
  since: number;
  /** performance.now() when the breach was confirmed */
  t: number;
  message: string;
  evidence?: BreachEvidence;
}

interface ProbeState {
  /** performance.now() since when the value has been outside, null while inside */
  outsideSince: number | null;
  windowTimer: NodeJS.Timeout | null;
  missingTimer: NodeJS.Timeout | null;
  /** last time read() gave a value */
  lastValueAt: number;
  last: { value: number; ok: boolean } | null;
  reported: boolean;
  /** the breach reported was for missing data (new data clears it) */
  reportedMissing: boolean;
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : Number.isFinite(v) ? v.toFixed(3) : String(v));

export class SteadyStateMonitor {
  private timer: NodeJS.Timeout | null = null;
  private readonly states: ProbeState[];
  private running = false;

  constructor(
    readonly probes: Probe[],
    private readonly handlers: { onReading?: (r: Reading) => void; onBreach: (b: Breach) => void },
    private readonly tickMs = MONITOR_TICK_MS,
  ) {
    const t = performance.now();
    this.states = probes.map(() => ({ outsideSince: null, windowTimer: null, missingTimer: null, lastValueAt: t, last: null, reported: false, reportedMissing: false }));
  }

  start(): void {
    this.running = true;
    const t = performance.now();
    this.probes.forEach((p, i) => {
      this.states[i].lastValueAt = t;
      p.onSample = () => this.judge(i);
      this.armMissing(i, t);
      p.start();
    });
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const s of this.states) {
      if (s.windowTimer) clearTimeout(s.windowTimer);
      if (s.missingTimer) clearTimeout(s.missingTimer);
      s.windowTimer = s.missingTimer = null;
    }
    for (const p of this.probes) {
      p.onSample = null;
      p.stop();
    }
  }

  private reading(i: number, t: number): Reading {
    const p = this.probes[i];
    const s = this.states[i];
    const value = p.read(t);
    const base = { probe: p.spec.name, measure: p.measure, t };
    if (value !== null) return { ...base, value, ok: withinTolerance(value, p.spec.tolerance) };
    const missing = t - s.lastValueAt >= missingGraceMs(p.spec);
    // hold: the last value and its verdict stand in for the missing data
    if (missing && p.spec.onMissing === "hold" && s.last) return { ...base, value: s.last.value, ok: s.last.ok, missing };
    return { ...base, value: null, ok: true, missing };
  }

  /** Current readings without side effects (used for the before/after checks). */
  snapshot(t = performance.now()): Reading[] {
    return this.probes.map((_, i) => this.reading(i, t));
  }

  /** Publish the readings (evidence); verdicts are made as samples arrive. */
  tick(t = performance.now()): void {
    for (const r of this.snapshot(t)) {
      try {
        this.handlers.onReading?.(r);
      } catch {
        // a failing listener must never stop the monitor
      }
    }
  }

  private armMissing(i: number, from: number): void {
    const s = this.states[i];
    if (s.missingTimer) clearTimeout(s.missingTimer);
    const due = from + missingGraceMs(this.probes[i].spec) - performance.now();
    s.missingTimer = setTimeout(() => {
      s.missingTimer = null;
      this.judge(i);
    }, Math.max(0, due) + 1);
  }

  /** Judge probe i now: called as each of its samples arrives, when its window ends, and when its grace runs out. */
  judge(i: number, t = performance.now()): void {
    if (!this.running) return;
    const p = this.probes[i];
    const s = this.states[i];
    const r = this.reading(i, t);
    if (p.read(t) !== null) {
      // the grace counts from the probe's last data, not from this call: a
      // timer may call before any new sample came
      s.lastValueAt = p.lastDataAt() ?? t;
      s.last = { value: r.value!, ok: r.ok };
      this.armMissing(i, s.lastValueAt);
      if (s.reportedMissing) s.reported = s.reportedMissing = false;
    } else if (r.missing) {
      if (p.spec.onMissing === "abort") {
        this.clearOutside(s);
        if (!s.reported) {
          s.reported = s.reportedMissing = true;
          const forMs = Math.round(t - s.lastValueAt);
          this.report({
            probe: p.spec.name,
            kind: "missing",
            measure: p.measure,
            observed: null,
            threshold: p.spec.tolerance,
            since: s.lastValueAt,
            t,
            message: `${p.spec.name} gave no data for ${forMs} ms (grace ${missingGraceMs(p.spec)} ms, onMissing: abort)`,
            evidence: { ...p.evidence?.(Date.now()), missingForMs: forMs },
          });
        }
        return;
      }
      if (p.spec.onMissing === "ignore") {
        this.clearOutside(s);
        s.reported = false;
        return;
      }
      // hold: the held verdict goes on below
    } else {
      // no data, within the grace: nothing to judge yet. The grace timer may
      // be what called: libuv's timers keep whole milliseconds of a
      // coarse clock, and here fire up to 0.7 ms before performance.now()
      // says they are due (more under load). Armed again, or a silent probe is never judged.
      this.armMissing(i, s.lastValueAt);
      return;
    }

    if (r.ok) {
      this.clearOutside(s);
      s.reported = false;
      return;
    }
    if (s.outsideSince === null) s.outsideSince = t;
    this.confirm(i, t);
  }

  private clearOutside(s: ProbeState): void {
    s.outsideSince = null;
    if (s.windowTimer) clearTimeout(s.windowTimer);
    s.windowTimer = null;
  }

  /** A breach when the value has been outside for the whole window (and was not reported yet); else a timer for the rest of the window. */
  private confirm(i: number, t: number): void {
    const p = this.probes[i];
    const s = this.states[i];
    if (s.outsideSince === null || s.reported || !s.last) return;
    const left = p.spec.for - (t - s.outsideSince);
    if (left > 0.5) {
      // the window has just begun, or its timer came early (the timers' coarse clock)
      if (!s.windowTimer)
        s.windowTimer = setTimeout(() => {
          s.windowTimer = null;
          this.confirm(i, performance.now());
        }, left);
      return;
    }
    s.reported = true;
    const since = s.outsideSince;
    this.report({
      probe: p.spec.name,
      kind: "tolerance",
      measure: p.measure,
      observed: s.last.value,
      threshold: p.spec.tolerance,
      since,
      t,
      message: `${p.spec.name} ${p.measure}=${fmt(s.last.value)} outside tolerance ${JSON.stringify(p.spec.tolerance)}`,
      evidence: p.evidence?.(Date.now()),
    });
  }

  private report(b: Breach): void {
    try {
      this.handlers.onBreach(b);
    } catch {
      // the run's handler guards itself; the monitor keeps watching
    }
  }
}
