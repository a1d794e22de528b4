// Parsing the Prometheus text exposition format, and computing increases of
// counters over a sliding window the way PromQL's increase() does (a drop in a
// series is a counter reset: the new value is the increase since the reset).

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/g;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parseValue(v: string): number {
  if (v === "+Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  return Number(v);
}

export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = LINE_RE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const lm of m[2].matchAll(LABEL_RE)) labels[lm[1]] = unescape(lm[2]);
    out.push({ name: m[1], labels, value: parseValue(m[3]) });
  }
  return out;
}

export type LabelMatcher = Record<string, RegExp>;

/** Fully anchored regexes, like PromQL's =~. */
export function compileMatchers(match: Record<string, string>): LabelMatcher {
  const out: LabelMatcher = {};
  for (const [k, v] of Object.entries(match)) out[k] = new RegExp(`^(?:${v})$`);
  return out;
}

export function exactMatchers(match: Record<string, string>): LabelMatcher {
  const out: LabelMatcher = {};
  for (const [k, v] of Object.entries(match)) out[k] = new RegExp(`^${v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  return out;
}

export function matches(labels: Record<string, string>, m: LabelMatcher): boolean {
  for (const [k, re] of Object.entries(m)) if (!re.test(labels[k] ?? "")) return false;
  return true;
}

export function seriesKey(s: PromSample, source = ""): string {
  const keys = Object.keys(s.labels).sort();
  return `${source}|${s.name}{${keys.map((k) => `${k}=${JSON.stringify(s.labels[k])}`).join(",")}}`;
}

interface Snapshot {
  t: number;
  values: Map<string, number>;
  /** sources (endpoints) that answered for this snapshot */
  sources: Set<string>;
}

function sourceOf(key: string): string {
  return key.slice(0, key.indexOf("|"));
}

/**
 * Snapshots of counter series over time; increase() sums per-series growth
 * between the oldest snapshot inside the window and the newest.
 */
export class CounterWindow {
  private snaps: Snapshot[] = [];
  constructor(private readonly windowMs: number) {}

  add(t: number, values: Map<string, number>, sources: Iterable<string>): void {
    this.snaps.push({ t, values, sources: new Set(sources) });
    // keep one snapshot at or before the window start as the baseline
    while (this.snaps.length > 2 && this.snaps[1].t <= t - this.windowMs) this.snaps.shift();
  }

  /** Sum of increases of the series accepted by `keep`, or null with fewer than two snapshots. */
  increase(keep: (key: string) => boolean = () => true): number | null {
    if (this.snaps.length < 2) return null;
    const first = this.snaps[0];
    const last = this.snaps[this.snaps.length - 1];
    let total = 0;
    for (const [key, v] of last.values) {
      if (!keep(key)) continue;
      const before = first.values.get(key);
      if (before === undefined) {
        // A labelled series appears on its first increment: it grew from 0,
        // provided its endpoint was already answering at the baseline.
        if (first.sources.has(sourceOf(key))) total += v;
      } else total += v < before ? v : v - before;
    }
    return total;
  }

  /** Series keys of the newest snapshot. */
  keys(): string[] {
    return this.snaps.length ? [...this.snaps[this.snaps.length - 1].values.keys()] : [];
  }

  spanMs(): number {
    return this.snaps.length < 2 ? 0 : this.snaps[this.snaps.length - 1].t - this.snaps[0].t;
  }
}

/** histogram_quantile over bucket increases: [le, count] pairs, cumulative. */
export function histogramQuantile(q: number, buckets: [number, number][]): number | null {
  const b = [...buckets].sort((x, y) => x[0] - y[0]);
  if (!b.length) return null;
  const total = b[b.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of b) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
