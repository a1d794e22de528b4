// What moved: every node's SLIs from the topology graph (not only the run's
// own probes) from a run's first fault until its lead-out ends (effects lag
// the fault by the SLI window), against the last quiet reading before it. Fed each graph:state the worker's poller publishes;
// take() hands a run's account to the report once its lead-out ends.
import type { GraphState, NodeStatus } from "../lib/contract";

export interface NodeSli {
  successRate: number | null;
  requestsPerSec: number | null;
  p95LatencyMs: number | null;
  instancesUp: number;
  instancesTotal: number;
}

export interface NodeMovement {
  node: string;
  targeted: boolean;
  before: NodeSli | null;
  /** lowest success rate, highest p95 and fewest instances up seen while the run's faults were in place */
  worst: NodeSli;
  moved: boolean;
}

const sli = (s: NodeStatus): NodeSli => ({ successRate: s.successRate, requestsPerSec: s.requestsPerSec, p95LatencyMs: s.p95LatencyMs, instancesUp: s.instancesUp, instancesTotal: s.instancesTotal });
const lower = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const higher = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/** A node moved when it lost 2 points of success rate, doubled its p95 (by more than 20 ms) or lost an instance. */
export function moved(before: NodeSli | null, worst: NodeSli): boolean {
  if (!before) return false;
  if (before.successRate !== null && worst.successRate !== null && before.successRate - worst.successRate > 0.02) return true;
  if (before.p95LatencyMs !== null && worst.p95LatencyMs !== null && worst.p95LatencyMs > 2 * before.p95LatencyMs && worst.p95LatencyMs - before.p95LatencyMs > 20) return true;
  return worst.instancesUp < before.instancesUp;
}

export class NodeWatch {
  private quiet: Record<string, NodeStatus> | null = null;
  private readonly runs = new Map<string, { before: Record<string, NodeStatus> | null; worst: Record<string, NodeSli>; targeted: Set<string> }>();

  observe(state: GraphState): void {
    const faulted = new Map<string, Set<string>>();
    for (const [node, s] of Object.entries(state.nodes)) for (const f of s.faults) (faulted.get(f.runId) ?? faulted.set(f.runId, new Set()).get(f.runId)!).add(node);
    if (!faulted.size) this.quiet = state.nodes;
    for (const [runId, nodes] of faulted) {
      let r = this.runs.get(runId);
      if (!r) this.runs.set(runId, (r = { before: this.quiet, worst: {}, targeted: new Set() }));
      for (const n of nodes) r.targeted.add(n);
    }
    for (const r of this.runs.values()) {
      for (const [node, s] of Object.entries(state.nodes)) {
        const w = r.worst[node];
        r.worst[node] = w
          ? { successRate: lower(w.successRate, s.successRate), requestsPerSec: s.requestsPerSec ?? w.requestsPerSec, p95LatencyMs: higher(w.p95LatencyMs, s.p95LatencyMs), instancesUp: Math.min(w.instancesUp, s.instancesUp), instancesTotal: s.instancesTotal }
          : sli(s);
      }
    }
    // bounded: a run whose account nobody takes (no report service) is forgotten after a while
    while (this.runs.size > 20) this.runs.delete(this.runs.keys().next().value!);
  }

  /** The run's account, once; null when its faults never showed on the graph. */
  take(runId: string): NodeMovement[] | null {
    const r = this.runs.get(runId);
    this.runs.delete(runId);
    if (!r) return null;
    return Object.entries(r.worst).map(([node, worst]) => {
      const before = r.before?.[node] ? sli(r.before[node]) : null;
      return { node, targeted: r.targeted.has(node), before, worst, moved: moved(before, worst) };
    });
  }
}
