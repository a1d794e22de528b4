// Error budgets of the SLOs declared on prometheus probes: how much of the
// budget is left before a run (a run is refused under the probe's
// minBudgetLeft), and how much of it the run's own time burned after it.
import type { BudgetInfo } from "../lib/contract";
import type { Experiment, PrometheusProbeSpec, SloSpec } from "../lib/experiment";
import { queryInstant, resolveConn } from "./promql";

type SloProbe = PrometheusProbeSpec & { slo: SloSpec };

export function sloProbes(exp: Experiment): SloProbe[] {
  return exp.spec.steadyState.probes.filter((p): p is SloProbe => p.type === "prometheus" && p.slo !== undefined);
}

async function increase(p: SloProbe, selector: string, range: string, atMs: number): Promise<number> {
  const series = await queryInstant(resolveConn(p), `sum(increase(${selector}[${range}]))`, p.timeout, undefined, atMs);
  // no series: no events in the range
  const v = series[0]?.value ?? 0;
  if (!Number.isFinite(v)) throw new Error(`sum(increase(${selector}[${range}])) is ${series[0]?.raw}`);
  return v;
}

async function counts(p: SloProbe, range: string): Promise<{ good: number; total: number }> {
  // one evaluation time for both: increase() extrapolates, and two instants a few ms apart disagree
  const at = Date.now();
  const [good, total] = await Promise.all([increase(p, p.slo.good, range, at), increase(p, p.slo.total, range, at)]);
  return { good: Math.min(good, total), total };
}

/** Bad events the window allows: (1 - objective) of all events. */
const allowed = (slo: SloSpec, total: number) => (1 - slo.objective) * total;

/** The budget left of each SLO probe now; a Prometheus that cannot answer throws (the budget is unknown). */
export async function budgetsOf(exp: Experiment): Promise<BudgetInfo[]> {
  return Promise.all(
    sloProbes(exp).map(async (p) => {
      let c: { good: number; total: number };
      try {
        c = await counts(p, p.slo.window);
      } catch (e) {
        throw new Error(`the error budget of probe ${p.name} is unknown: ${(e as Error).message}`);
      }
      const bad = c.total - c.good;
      const a = allowed(p.slo, c.total);
      const left = a > 0 ? 1 - bad / a : bad > 0 ? 0 : 1;
      return { probe: p.name, objective: p.slo.objective, window: p.slo.window, good: c.good, total: c.total, left, minBudgetLeft: p.slo.minBudgetLeft, at: new Date().toISOString() };
    }),
  );
}

/** Why a run may not start, or null: a budget under its probe's minimum (an exhausted one always refuses). */
export function budgetRefusal(budgets: BudgetInfo[]): string | null {
  const low = budgets.filter((b) => b.left <= 0 || b.left < b.minBudgetLeft);
  if (!low.length) return null;
  return low
    .map((b) => `error budget of ${b.probe} (SLO ${(b.objective * 100).toFixed(2)} % over ${b.window}): ${(Math.max(b.left, 0) * 100).toFixed(1)} % left${b.left <= 0 ? " (exhausted)" : `, under the minimum of ${(b.minBudgetLeft * 100).toFixed(1)} %`}`)
    .join("; ");
}

/** After a run: the share of each whole budget the bad events during the run used up. */
export async function burnOf(exp: Experiment, before: BudgetInfo[], runMs: number): Promise<BudgetInfo[]> {
  const range = `${Math.max(1, Math.ceil(runMs / 1000))}s`;
  return Promise.all(
    sloProbes(exp).map(async (p) => {
      const b = before.find((x) => x.probe === p.name)!;
      const run = await counts(p, range);
      const a = allowed(p.slo, Math.max(b.total, run.total));
      const bad = run.total - run.good;
      return { ...b, burned: a > 0 ? bad / a : bad > 0 ? 1 : 0, at: new Date().toISOString() };
    }),
  );
}
