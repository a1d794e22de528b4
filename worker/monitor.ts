// The steady-state monitor: every tick it reads each probe, compares it with
// its tolerance, and reports a breach once a value has stayed outside for the
// probe's `for` window. It owns its timer, so an abort never waits on the UI,
// the socket or the database.
import type { Threshold } from "../lib/contract";
import type { Probe } from "./probes";

export const MONITOR_TICK_MS = 250;

export interface Reading {
  probe: string;
  measure: string;
  value: number | null;
  ok: boolean;
  /** performance.now() of the reading */
  t: number;
}

export interface Breach {
  probe: string;
  measure: string;
  observed: number;
  threshold: Threshold;
  /** performance.now() when the value first left its tolerance */
  since: number;
  /** performance.now() when the breach was confirmed */
  t: number;
}

export function withinTolerance(value: number, tol: Threshold): boolean {
  if (tol.min !== undefined && value < tol.min) return false;
  if (tol.max !== undefined && value > tol.max) return false;
  return true;
}

export class SteadyStateMonitor {
  private timer: NodeJS.Timeout | null = null;
  private outsideSince = new Map<string, number>();
  private reported = new Set<string>();

  constructor(
    readonly probes: Probe[],
    private readonly handlers: { onReading?: (r: Reading) => void; onBreach: (b: Breach) => void },
    private readonly tickMs = MONITOR_TICK_MS,
  ) {}

  start(): void {
    for (const p of this.probes) p.start();
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const p of this.probes) p.stop();
  }

  /** Current readings without side effects (used for the before/after checks). */
  snapshot(t = performance.now()): Reading[] {
    return this.probes.map((p) => {
      const value = p.read(t);
      return { probe: p.spec.name, measure: p.measure, value, ok: value === null || withinTolerance(value, p.spec.tolerance), t };
    });
  }

  tick(t = performance.now()): void {
    for (const [i, r] of this.snapshot(t).entries()) {
      const spec = this.probes[i].spec;
      try {
        this.handlers.onReading?.(r);
      } catch {
        // a failing listener must never stop the monitor
      }
      if (r.ok) {
        this.outsideSince.delete(r.probe);
        this.reported.delete(r.probe);
        continue;
      }
      const since = this.outsideSince.get(r.probe) ?? t;
      this.outsideSince.set(r.probe, since);
      if (t - since >= spec.for && !this.reported.has(r.probe)) {
        this.reported.add(r.probe);
        this.handlers.onBreach({ probe: r.probe, measure: r.measure, observed: r.value!, threshold: spec.tolerance, since, t });
      }
    }
  }
}
