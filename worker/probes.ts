// Steady-state probes. Each samples on its own timer, answers read() with
// its SLI over a sliding window, and calls onSample as each sample arrives so
// the monitor judges it at once; the monitor decides what a value means.
import type { BreachEvidence, Threshold } from "../lib/contract";
import { missingGraceMs, type HttpProbeSpec, type MetricsProbeSpec, type PrometheusProbeSpec, type ProbeSpec } from "../lib/experiment";
import { CounterWindow, compileMatchers, matches, parsePromText, seriesKey } from "../lib/promtext";
import { graphLink, queryInstant, resolveConn, type PromSeries, type ResolvedConn } from "./promql";

export interface Probe {
  readonly spec: ProbeSpec;
  /** the name of what read() returns, e.g. successRate, ratio, rate */
  readonly measure: string;
  start(): void;
  stop(): void;
  /** SLI over the window, null while there is no data (none yet, or none for longer than the probe's missing grace) */
  read(now?: number): number | null;
  /** samples taken so far (for readiness checks) */
  sampleCount(): number;
  /** performance.now() of the last sample that carried data, null before the first */
  lastDataAt(): number | null;
  /** set by the monitor: called as each sample arrives */
  onSample: (() => void) | null;
  /** what the last samples saw, for a breach's evidence */
  evidence?(wallMs: number): BreachEvidence;
}

const now = () => performance.now();

/** Inside the tolerance? A value that is not a finite number (NaN, ±Inf) never is. */
export function withinTolerance(value: number, tol: Threshold): boolean {
  if (!Number.isFinite(value)) return false;
  if (tol.min !== undefined && (tol.minExclusive ? value <= tol.min : value < tol.min)) return false;
  if (tol.max !== undefined && (tol.maxExclusive ? value >= tol.max : value > tol.max)) return false;
  return true;
}

function notify(p: Probe): void {
  try {
    p.onSample?.();
  } catch {
    // the monitor guards its own handlers; a probe never dies of a listener
  }
}

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
  private lastData: number | null = null;
  private readonly maxInflight: number;
  onSample: (() => void) | null = null;

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
        this.lastData = t;
        this.prune(t);
        notify(this);
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

  lastDataAt(): number | null {
    return this.lastData;
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
  private lastData: number | null = null;
  private readonly graceMs: number;
  onSample: (() => void) | null = null;

  constructor(readonly spec: MetricsProbeSpec) {
    this.graceMs = missingGraceMs(spec);
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
        const t = now();
        this.window.add(t, values, ["0"]);
        this.count++;
        if (values.size) this.lastData = t;
        notify(this);
      }
    } catch {
      // an unreachable endpoint yields no snapshot; read() goes null once the grace has passed
    } finally {
      clearTimeout(timeout);
      this.ctl = null;
    }
  }

  read(t = now()): number | null {
    // an endpoint that stopped answering has no SLI: the last one would otherwise hold forever
    if (this.lastData === null || t - this.lastData > this.graceMs) return null;
    const total = this.window.increase();
    if (total === null) return null;
    if (this.ratioOf) return total > 0 ? this.window.increase((k) => this.numeratorKeys.has(k))! / total : null;
    const span = this.window.spanMs();
    return span > 0 ? total / (span / 1000) : null;
  }

  sampleCount(): number {
    return this.count;
  }

  lastDataAt(): number | null {
    return this.lastData;
  }
}

/** The series a verdict rests on (the first violating one for `all`), and the value that stands for them. */
export function aggregateSeries(series: PromSeries[], how: PrometheusProbeSpec["aggregate"], tol: Threshold): number | null {
  if (!series.length) return null;
  const vs = series.map((s) => s.value);
  switch (how) {
    case "min":
      return vs.some(Number.isNaN) ? NaN : Math.min(...vs);
    case "max":
      return vs.some(Number.isNaN) ? NaN : Math.max(...vs);
    case "sum":
      return vs.reduce((a, v) => a + v, 0);
    case "avg":
      return vs.reduce((a, v) => a + v, 0) / vs.length;
    case "all": {
      // every series must hold: the value shown is the first that does not, else the one nearest its bound
      const bad = vs.find((v) => !withinTolerance(v, tol));
      if (bad !== undefined) return bad;
      return tol.min !== undefined ? Math.min(...vs) : Math.max(...vs);
    }
  }
}

/** A PromQL instant query against a Prometheus server, every interval. */
export class PrometheusProbe implements Probe {
  readonly measure: string;
  private timer: NodeJS.Timeout | null = null;
  private ctl: AbortController | null = null;
  private conn: ResolvedConn | null = null;
  private count = 0;
  private lastData: number | null = null;
  private last: { t: number; series: PromSeries[]; value: number } | null = null;
  private lastError: string | null = null;
  private readonly graceMs: number;
  onSample: (() => void) | null = null;

  constructor(readonly spec: PrometheusProbeSpec) {
    this.measure = spec.aggregate === "all" ? "value" : spec.aggregate;
    this.graceMs = missingGraceMs(spec);
  }

  start(): void {
    if (this.timer) return;
    try {
      this.conn = resolveConn(this.spec);
    } catch (e) {
      // an unreadable secret is missing data from the first sample on: the policy decides
      this.lastError = (e as Error).message;
    }
    void this.query();
    this.timer = setInterval(() => void this.query(), this.spec.interval);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.ctl?.abort();
  }

  private async query(): Promise<void> {
    if (this.ctl || !this.conn) return; // the previous query is still running
    const ctl = (this.ctl = new AbortController());
    try {
      const series = await queryInstant(this.conn, this.spec.query, this.spec.timeout, ctl.signal);
      if (!this.timer) return;
      const t = now();
      this.count++;
      const value = aggregateSeries(series, this.spec.aggregate, this.spec.tolerance);
      if (value === null) this.lastError = "the query returned no series";
      else {
        this.last = { t, series, value };
        this.lastData = t;
        this.lastError = null;
      }
      notify(this);
    } catch (e) {
      if (!this.timer) return;
      this.lastError = (e as Error).message;
      notify(this);
    } finally {
      this.ctl = null;
    }
  }

  read(t = now()): number | null {
    if (!this.last || t - this.last.t > this.graceMs) return null;
    return this.last.value;
  }

  sampleCount(): number {
    return this.count;
  }

  lastDataAt(): number | null {
    return this.lastData;
  }

  evidence(wallMs: number): BreachEvidence {
    return {
      query: this.spec.query,
      link: graphLink(this.spec.url, this.spec.query, wallMs),
      series: this.last?.series.slice(0, 20).map((s) => ({ labels: s.labels, value: s.raw })),
      ...(this.lastError ? { error: this.lastError } : {}),
    };
  }
}

const PROBES: { [K in ProbeSpec["type"]]: (spec: Extract<ProbeSpec, { type: K }>) => Probe } = {
  http: (s) => new HttpProbe(s),
  metrics: (s) => new MetricsProbe(s),
  prometheus: (s) => new PrometheusProbe(s),
};

export function createProbe(spec: ProbeSpec): Probe {
  return (PROBES[spec.type] as (s: ProbeSpec) => Probe)(spec);
}
