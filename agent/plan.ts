// The plan of an experiment on this host, before anything runs: what each
// step's target resolves to now, how many the blast radius would hit, and
// what spec.safety refuses (selectors matching most of the host, more
// instances than its limits allow, a network fault aimed at the control
// plane). The worker refuses a run whose plan has refusals; `gameday
// validate --plan` prints it.
import type { ValidationIssue } from "../lib/contract";
import { percentOf, type Experiment, type Safety } from "../lib/experiment";
import type { Topology } from "../lib/topology";
import { getInjector, isIrreversible, targetLabel, type Target } from "../injectors";
import { broadReason } from "../injectors/targets/broad";
import { blastCount, resolveTargets } from "../injectors/targets/resolve";
import { allowedDown, type MaxDown, type TargetLimits } from "./step";

export interface PlannedStep {
  index: number;
  fault: string;
  target: string;
  selector: string;
  /** every instance the selector matches now */
  matched: string[];
  /** how many of them one round hits (blast radius, then spec.safety's and maxDown's caps) */
  hits: number;
  /** the blast radius picks at random among matched when hits < matched */
  random: boolean;
  protected: { pid: number; comm: string; reason: string }[];
  /** the control-plane ports a network target spares */
  spare?: number[];
  problem?: string;
  /** its changes cannot be undone (the injector says so for these parameters): nothing comes back on revert */
  irreversible?: boolean;
}

export interface ExperimentPlan {
  steps: PlannedStep[];
  refusals: ValidationIssue[];
}

export function maxDownOf(v: number | string | undefined): MaxDown | undefined {
  if (v === undefined) return undefined;
  return typeof v === "number" ? { count: v } : { percent: percentOf(v) };
}

export function limitsOf(s: Safety): TargetLimits {
  return { count: s.maxPerTarget, percent: percentOf(s.maxSharePerTarget) };
}

const asTargets = (xs: unknown[]) => xs as Target[];

/** The most changes the experiment's steps have in place at one moment (steps overlap by startAfter and duration). */
function peakTotal(steps: { startAfter: number; duration: number; hits: number }[]): number {
  let peak = 0;
  for (const s of steps) {
    const at = s.startAfter;
    peak = Math.max(peak, steps.filter((o) => o.startAfter <= at && at < o.startAfter + o.duration).reduce((a, o) => a + o.hits, 0));
  }
  return peak;
}

export async function planExperiment(exp: Experiment, topology: Topology | null, protectedPids: ReadonlySet<number>): Promise<ExperimentPlan> {
  const safety = exp.spec.safety;
  const limits = limitsOf(safety);
  const refusals: ValidationIssue[] = [];
  const steps: PlannedStep[] = [];
  /** matched instances per step: two faults on one target (disk-fill and io-stress on a folder) are two changes of one instance */
  const fleets = new Map<number, number>();
  const broadSeen = new Set<string>();
  for (const [index, step] of exp.spec.method.entries()) {
    const irreversible = isIrreversible(step.fault, step.params);
    const spec = exp.spec.targets[step.target];
    const at = `spec.targets.${step.target}`;
    if (!safety.allowBroad && !broadSeen.has(step.target)) {
      broadSeen.add(step.target);
      const why = broadReason(spec, topology);
      if (why) refusals.push({ path: at, message: `matches most of the host: ${why}; narrow it, or set spec.safety.allowBroad: true with a reason` });
    }
    let res;
    try {
      res = await resolveTargets(spec, topology, protectedPids, { allowControlPlane: safety.allowControlPlane, ipv6: getInjector(step.fault)?.ipv6 });
    } catch (e) {
      refusals.push({ path: at, message: (e as Error).message });
      continue;
    }
    const n = res.matched.length;
    fleets.set(index, n);
    const blast = blastCount(n, spec.mode, spec.value);
    const caps = [limits.count, Math.max(1, Math.floor((n * limits.percent) / 100))];
    const md = maxDownOf(step.maxDown);
    if (md) caps.push(allowedDown(md, n));
    const cap = Math.min(...caps);
    if (blast > Math.min(limits.count, Math.max(1, Math.floor((n * limits.percent) / 100))))
      refusals.push({
        path: `spec.method[${index}]`,
        message: `${step.fault} on "${step.target}" would hit ${blast} of ${n} instances at once (blast radius ${spec.mode}${spec.value !== undefined ? ` ${spec.value}` : ""}); spec.safety allows ${Math.min(limits.count, Math.max(1, Math.floor((n * limits.percent) / 100)))} (maxPerTarget ${limits.count}, maxSharePerTarget ${safety.maxSharePerTarget}): narrow the selector, use mode count or percent, or raise spec.safety`,
      });
    const spare = asTargets(res.matched).find((t) => t.kind === "network" && t.spare?.length);
    steps.push({
      index,
      fault: step.fault,
      target: step.target,
      selector: res.selector,
      matched: res.matched.map(targetLabel),
      hits: Math.min(blast, cap),
      random: Math.min(blast, cap) < n,
      protected: res.protected,
      ...(spare && spare.kind === "network" ? { spare: spare.spare } : {}),
      ...(res.problem ? { problem: res.problem } : {}),
      ...(irreversible ? { irreversible } : {}),
    });
    for (const t of asTargets(res.matched)) {
      if (t.kind !== "network" || !t.spare) continue;
      for (const f of ["dstPort", "srcPort"] as const)
        if (t[f] !== undefined && t.spare.includes(t[f]!))
          refusals.push({ path: `${at}.network`, message: `${targetLabel(t)}: port ${t[f]} is the control plane's (SSH, the worker, the web app: ${t.spare.join(", ")}); set spec.safety.allowControlPlane: true with a reason to cut it` });
    }
  }
  const total = peakTotal(exp.spec.method.map((s, i) => ({ startAfter: s.startAfter, duration: s.duration, hits: steps.find((p) => p.index === i)?.hits ?? 0 })));
  const fleet = [...fleets.values()].reduce((a, b) => a + b, 0);
  const totalAllowed = Math.min(safety.maxTotal, Math.max(1, Math.floor((fleet * percentOf(safety.maxTotalShare)) / 100)));
  if (total > totalAllowed)
    refusals.push({
      path: "spec.safety.maxTotal",
      message: `the steps would have ${total} changes in place at once (of ${fleet} matched instances); spec.safety allows ${totalAllowed} (maxTotal ${safety.maxTotal}, maxTotalShare ${safety.maxTotalShare})`,
    });
  return { steps, refusals };
}

/** Only the refusals (the worker's admission). */
export async function safetyRefusals(exp: Experiment, topology: Topology | null, protectedPids: ReadonlySet<number>): Promise<ValidationIssue[]> {
  return (await planExperiment(exp, topology, protectedPids)).refusals;
}

/** The plan as text lines, for the CLI. */
export function planText(exp: Experiment, plan: ExperimentPlan): string[] {
  const out: string[] = [`Plan of "${exp.metadata.name}" on this host (what would be hit if it started now):`];
  for (const s of plan.steps) {
    const step = exp.spec.method[s.index];
    out.push(`  step ${s.index}: ${s.fault} on "${s.target}" (${s.selector}) for ${step.duration} ms${step.every ? `, every ${step.every} ms` : ""}${step.hold ? `, each held ${step.hold} ms` : ""}`);
    if (s.irreversible) out.push(`    IRREVERSIBLE: ${s.fault} cannot be undone: the ${s.hits} target(s) it hits are not put back on revert`);
    if (s.problem) out.push(`    ${s.problem}`);
    out.push(`    matched ${s.matched.length}: ${s.matched.join(", ") || "none"}`);
    out.push(`    hits ${s.hits}${s.random ? ` (chosen at random from the ${s.matched.length} matched, each round)` : ""}`);
    const kernel = s.protected.filter((p) => p.reason.startsWith("kernel threads"));
    const shown = s.protected.filter((p) => !kernel.includes(p));
    if (shown.length) out.push(`    spared (protected): ${shown.map((p) => `${p.comm}[${p.pid}]: ${p.reason}`).join("; ")}`);
    if (kernel.length) out.push(`    spared: ${kernel.length} kernel thread(s)`);
    if (s.spare?.length) out.push(`    control-plane TCP ports left alone: ${s.spare.join(", ")}`);
  }
  if (plan.refusals.length) {
    out.push("Refused by spec.safety:");
    for (const r of plan.refusals) out.push(`  ${r.path}: ${r.message}`);
  } else out.push("spec.safety: nothing refused.");
  return out;
}
