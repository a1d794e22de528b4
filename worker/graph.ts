// Live status of every topology node: success rate, p95 latency and request
// rate from each instance's /metrics over a sliding window, instances up, and
// the faults in place on the node's targets. Pushed to dashboards each tick.
import type { GraphState, NodeStatus } from "../lib/contract";
import type { Topology, TopologyNode } from "../lib/topology";
import { CounterWindow, exactMatchers, histogramQuantile, matches, parsePromText, seriesKey } from "../lib/promtext";
import type { FaultRecord } from "../lib/contract";

export const GRAPH_WINDOW_MS = 10_000;
const SCRAPE_TIMEOUT_MS = 600;

interface NodeTracker {
  node: TopologyNode;
  requests: CounterWindow;
  buckets: CounterWindow;
  successKeys: Set<string>;
  up: number;
}

async function scrape(url: string): Promise<string | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS), cache: "no-store" });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

export class GraphPoller {
  private readonly trackers: NodeTracker[];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private last: GraphState;

  constructor(
    private readonly topology: Topology,
    private readonly activeFaults: () => (FaultRecord & { runId: string })[],
    private readonly onState: (s: GraphState) => void,
    private readonly tickMs = 1000,
  ) {
    this.trackers = topology.spec.nodes.map((node) => ({
      node,
      requests: new CounterWindow(GRAPH_WINDOW_MS),
      buckets: new CounterWindow(GRAPH_WINDOW_MS),
      successKeys: new Set(),
      up: 0,
    }));
    this.last = this.compose();
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  state(): GraphState {
    return this.last;
  }

  /** Re-send the last state with fresh fault badges (after an injection or revert). */
  refreshFaults(): void {
    this.last = { ...this.last, nodes: this.compose().nodes, at: new Date().toISOString() };
    this.onState(this.last);
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await Promise.all(this.trackers.map((t) => this.scrapeNode(t)));
      this.last = this.compose();
      this.onState(this.last);
    } finally {
      this.busy = false;
    }
  }

  private async scrapeNode(t: NodeTracker): Promise<void> {
    const sli = t.node.sli;
    const texts = await Promise.all(t.node.metrics.map(scrape));
    t.up = texts.filter((x) => x !== null).length;
    if (!sli) return;
    const match = exactMatchers(sli.match);
    const successRe = new RegExp(sli.successCode);
    const req = new Map<string, number>();
    const buckets = new Map<string, number>();
    const sources: string[] = [];
    texts.forEach((text, i) => {
      if (text === null) return;
      sources.push(String(i));
      for (const s of parsePromText(text)) {
        if (!matches(s.labels, match)) continue;
        if (s.name === sli.requests || s.name === `${sli.requests}_total`) {
          const key = seriesKey(s, String(i));
          req.set(key, s.value);
          if (successRe.test(s.labels[sli.codeLabel] ?? "")) t.successKeys.add(key);
        } else if (sli.latency && s.name === `${sli.latency}_bucket`) {
          buckets.set(seriesKey(s, String(i)), s.value);
        }
      }
    });
    const now = performance.now();
    t.requests.add(now, req, sources);
    t.buckets.add(now, buckets, sources);
  }

  private status(t: NodeTracker, faults: (FaultRecord & { runId: string })[]): NodeStatus {
    const total = t.requests.increase();
    const ok = t.requests.increase((k) => t.successKeys.has(k));
    const span = t.requests.spanMs() / 1000;
    // p95: sum bucket increases per `le` across instances
    let p95: number | null = null;
    const perLe = new Map<number, number>();
    for (const le of this.bucketBounds(t)) {
      const inc = t.buckets.increase((k) => k.includes(`le=${JSON.stringify(le)}`));
      if (inc !== null) perLe.set(le === "+Inf" ? Infinity : Number(le), inc);
    }
    const q = histogramQuantile(0.95, [...perLe.entries()]);
    if (q !== null) p95 = Math.round(q * 1000 * 10) / 10;
    const byFault = new Map<string, { runId: string; fault: string; count: number }>();
    for (const f of faults) {
      if (f.node !== t.node.id) continue;
      const k = `${f.runId}|${f.fault}`;
      const cur = byFault.get(k) ?? { runId: f.runId, fault: f.fault, count: 0 };
      cur.count++;
      byFault.set(k, cur);
    }
    return {
      successRate: total && total > 0 && ok !== null ? ok / total : null,
      p95LatencyMs: p95,
      requestsPerSec: total !== null && span > 0 ? Math.round((total / span) * 10) / 10 : null,
      instancesUp: t.up,
      instancesTotal: t.node.metrics.length,
      faults: [...byFault.values()],
    };
  }

  private bucketBounds(t: NodeTracker): string[] {
    const les = new Set<string>();
    for (const k of t.buckets.keys()) {
      const m = /le="([^"]*)"/.exec(k);
      if (m) les.add(m[1]);
    }
    return [...les];
  }

  private compose(): GraphState {
    const faults = this.activeFaults();
    const nodes: Record<string, NodeStatus> = {};
    for (const t of this.trackers) nodes[t.node.id] = this.status(t, faults);
    return {
      topology: {
        name: this.topology.metadata.name,
        nodes: this.topology.spec.nodes.map((n) => ({ id: n.id, label: n.label ?? n.id, kind: n.kind })),
        edges: this.topology.spec.edges,
      },
      nodes,
      at: new Date().toISOString(),
    };
  }
}
