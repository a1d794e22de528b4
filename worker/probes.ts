// Steady-state probes. Each samples on its own timer and answers read() with
// its SLI over a sliding window; the monitor decides what a value means.
import type { HttpProbeSpec, MetricsProbeSpec, ProbeSpec } from "../lib/experiment";
import { CounterWindow, compileMatchers, matches, parsePromText, seriesKey } from "../lib/promtext";

export interface Probe {
  readonly spec: ProbeSpec;
  /** the name of what read() returns, e.g. successRate, ratio, rate */
  readonly measure: string;
  start(): void;
  stop(): void;
  /** SLI over the window, null while there is not enough data */
  read(now?: number): number | null;
  /** samples taken so far (for readiness checks) */
  sampleCount(): number;
}

const now = () => performance.now();

interface HttpResult {
  t: number;
  ok: boolean;
  latencyMs: number;
}

function statusOk(spec: HttpProbeSpec, status: number): boolean {
  if (spec.expectStatus === undefined) return status >= 200 && status < 400;
  return Array.isArray(spec.expectStatus) ? spec.expectStatus.includes(status) : spec.expectStatus === status;
}

export class HttpProbe implements Probe {
  readonly measure: string;
  private results: HttpResult[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inflight = new Set<AbortController>();
  private count = 0;
  private readonly maxInflight: number;

  constructor(readonly spec: HttpProbeSpec) {
    this.measure = spec.measure;
    // bounded concurrency: enough to keep sampling while a target hangs until the timeout
    this.maxInflight = Math.ceil(spec.timeout / spec.interval) + 1;
  }

  start(): void {
    if (this.timer) return;
    this.fire();
    this.timer = setInterval(() => this.fire(), this.spec.interval);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.inflight) c.abort();
    this.inflight.clear();
  }

  private fire(): void {
    if (this.inflight.size >= this.maxInflight) return;
    const ctl = new AbortController();
    this.inflight.add(ctl);
    const t0 = now();
    const timeout = setTimeout(() => ctl.abort(new Error("timeout")), this.spec.timeout);
    fetch(this.spec.url, { method: this.spec.method, signal: ctl.signal, redirect: "manual", cache: "no-store" })
      .then(async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        return statusOk(this.spec, res.status);
      })
      .catch(() => false)
      .then((ok) => {
        clearTimeout(timeout);
        // a probe stopped mid-request records nothing
        if (!this.inflight.delete(ctl)) return;
        const t = now();
        this.results.push({ t, ok, latencyMs: ok ? t - t0 : Math.max(t - t0, 0) });
        this.count++;
        this.prune(t);
      });
  }

  private prune(t: number): void {
    const from = t - this.spec.window;
    let i = 0;
    while (i < this.results.length && this.results[i].t < from) i++;
    if (i) this.results.splice(0, i);
  }

  read(t = now()): number | null {
    this.prune(t);
    const r = this.results;
    if (!r.length) return null;
    switch (this.spec.measure) {
      case "successRate":
        return r.filter((x) => x.ok).length / r.length;
      case "meanLatencyMs":
        return r.reduce((a, x) => a + x.latencyMs, 0) / r.length;
      case "p95LatencyMs": {
        const sorted = r.map((x) => x.latencyMs).sort((a, b) => a - b);
        return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
      }
    }
  }

  sampleCount(): number {
    return this.count;
  }
}

export class MetricsProbe implements Probe {
  readonly measure: string;
  private readonly window: CounterWindow;
  private readonly match;
  private readonly ratioOf;
  private readonly numeratorKeys = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private ctl: AbortController | null = null;
  private count = 0;

  constructor(readonly spec: MetricsProbeSpec) {
    this.measure = spec.query.ratioOf ? "ratio" : "rate";
    this.window = new CounterWindow(spec.window);
    this.match = compileMatchers(spec.query.match);
    this.ratioOf = spec.query.ratioOf ? compileMatchers(spec.query.ratioOf) : null;
  }

  start(): void {
    if (this.timer) return;
    void this.scrape();
    this.timer = setInterval(() => void this.scrape(), this.spec.interval);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.ctl?.abort();
  }

  private async scrape(): Promise<void> {
    if (this.ctl) return; // previous scrape still running
    const ctl = (this.ctl = new AbortController());
    const timeout = setTimeout(() => ctl.abort(), this.spec.timeout);
    try {
      const res = await fetch(this.spec.url, { signal: ctl.signal, cache: "no-store" });
      if (!res.ok) return;
      const text = await res.text();
      const values = new Map<string, number>();
      for (const s of parsePromText(text)) {
        if (s.name !== this.spec.query.metric || !matches(s.labels, this.match)) continue;
        const key = seriesKey(s, "0");
        values.set(key, s.value);
        if (this.ratioOf && matches(s.labels, this.ratioOf)) this.numeratorKeys.add(key);
      }
      if (this.timer) {
        this.window.add(now(), values, ["0"]);
        this.count++;
      }
    } catch {
      // an unreachable endpoint yields no snapshot; the value goes stale → null
    } finally {
      clearTimeout(timeout);
      this.ctl = null;
    }
  }

  read(): number | null {
    const total = this.window.increase();
    if (total === null) return null;
    if (this.ratioOf) return total > 0 ? this.window.increase((k) => this.numeratorKeys.has(k))! / total : null;
    const span = this.window.spanMs();
    return span > 0 ? total / (span / 1000) : null;
  }

  sampleCount(): number {
    return this.count;
  }
}

export function createProbe(spec: ProbeSpec): Probe {
  return spec.type === "http" ? new HttpProbe(spec) : new MetricsProbe(spec);
}
