// The monitor judges each sample as it arrives: a value outside its
// tolerance becomes a breach when its `for` window ends (its own timer, not a
// tick), a value back inside cancels it, NaN/±Inf never hold, and a probe
// without data meets its onMissing policy after its grace. Fake probes feed
// the values so the verdicts, not the sampling, are under test.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { probeSchema, type ProbeSpec } from "../lib/experiment";
import { SteadyStateMonitor, type Breach } from "./monitor";
import { aggregateSeries, withinTolerance, type Probe } from "./probes";

class FedProbe implements Probe {
  readonly measure = "value";
  onSample: (() => void) | null = null;
  private value: number | null = null;
  private at: number | null = null;
  private count = 0;
  constructor(readonly spec: ProbeSpec) {}
  start(): void {}
  stop(): void {}
  push(v: number): void {
    this.value = v;
    this.at = performance.now();
    this.count++;
    this.onSample?.();
  }
  read(t = performance.now()): number | null {
    // like the real probes: no value once the data is older than the grace
    return this.at !== null && t - this.at <= (this.spec.missingGrace ?? 2000) ? this.value : null;
  }
  sampleCount(): number {
    return this.count;
  }
  lastDataAt(): number | null {
    return this.at;
  }
}

const spec = (extra: Record<string, unknown>) =>
  probeSchema.parse({ name: "p", type: "prometheus", url: "http://127.0.0.1:1", query: "up", interval: "100ms", tolerance: { min: 0.9 }, ...extra });

function watch(p: FedProbe): { breaches: Breach[]; stop: () => void } {
  const breaches: Breach[] = [];
  const m = new SteadyStateMonitor([p], { onBreach: (b) => breaches.push(b) }, 60_000);
  m.start();
  return { breaches, stop: () => m.stop() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** From now on performance.now() reads `ms` less than the timers' clock; returns the undo. */
function lagClock(ms: number): () => void {
  const real = performance.now.bind(performance);
  performance.now = () => real() - ms;
  return () => {
    performance.now = real;
  };
}

describe("steady-state monitor", { timeout: 20_000 }, () => {
  // libuv's timers run on a coarse clock that can be a millisecond or two ahead of performance.now(),
  // so a timer may call before performance.now() says it is due; lagClock(20) makes that 20 ms
  test("a grace timer that calls early, for a probe that never answered: armed again, and the missing breach lands", async () => {
    const p = new FedProbe(spec({ missingGrace: "300ms" }));
    const w = watch(p);
    const restore = lagClock(20);
    try {
      for (let i = 0; i < 40 && !w.breaches.length; i++) await sleep(50);
      assert.equal(w.breaches.length, 1, "one missing-data breach");
      assert.equal(w.breaches[0].kind, "missing");
    } finally {
      restore();
      w.stop();
    }
  });

  test("a grace timer that calls early, while the last data still stands: the grace runs from that data, not from the call", async () => {
    const p = new FedProbe(spec({ missingGrace: "300ms" }));
    const w = watch(p);
    p.push(1);
    const at = p.lastDataAt()!;
    const restore = lagClock(20);
    try {
      for (let i = 0; i < 40 && !w.breaches.length; i++) await sleep(50);
      assert.equal(w.breaches.length, 1, "one missing-data breach");
      const b = w.breaches[0];
      assert.equal(b.kind, "missing");
      assert.ok(Math.abs(b.since - at) < 1, `since: ${(b.since - at).toFixed(1)} ms after the last data`);
      assert.ok(b.t - at >= 300, "not before the grace");
    } finally {
      restore();
      w.stop();
    }
  });

  test("a window timer that calls early: the breach still lands when the window ends, with no sample after", async () => {
    const p = new FedProbe(spec({ for: "300ms", missingGrace: "5s" }));
    const w = watch(p);
    p.push(0.5);
    const restore = lagClock(20);
    try {
      for (let i = 0; i < 40 && !w.breaches.length; i++) await sleep(50);
      assert.equal(w.breaches.length, 1, "one breach");
      const b = w.breaches[0];
      assert.equal(b.kind, "tolerance");
      assert.ok(b.t - b.since >= 299.5, `outside for ${(b.t - b.since).toFixed(1)} ms of the 300 ms window`);
    } finally {
      restore();
      w.stop();
    }
  });

  test("one bad sample and silence: the breach lands when the for window ends, with no tick to wait for", async () => {
    const p = new FedProbe(spec({ for: "300ms", missingGrace: "5s" }));
    const w = watch(p);
    try {
      p.push(1);
      const t0 = performance.now();
      p.push(0.5);
      await sleep(450);
      assert.equal(w.breaches.length, 1);
      const b = w.breaches[0];
      assert.equal(b.kind, "tolerance");
      assert.equal(b.observed, 0.5);
      // the window is 300 ms; the reading tick is a minute: only the window timer can have fired it
      assert.ok(b.t - t0 >= 299 && b.t - t0 < 400, `breach ${b.t - t0} ms after the first bad sample`);
    } finally {
      w.stop();
    }
  });

  test("a value back inside before the window ends cancels the breach", async () => {
    const p = new FedProbe(spec({ for: "300ms", missingGrace: "5s" }));
    const w = watch(p);
    try {
      p.push(0.5);
      await sleep(150);
      p.push(0.95);
      await sleep(350);
      assert.equal(w.breaches.length, 0);
    } finally {
      w.stop();
    }
  });

  test("NaN and +Inf are violations, never silently 0 or fine", async () => {
    assert.equal(withinTolerance(NaN, { min: 0 }), false);
    assert.equal(withinTolerance(Infinity, { max: 10 }), false);
    assert.equal(withinTolerance(-Infinity, { min: 0, max: 1 }), false);
    const p = new FedProbe(spec({ for: 0, missingGrace: "5s", tolerance: { max: 100 } }));
    const w = watch(p);
    try {
      p.push(NaN);
      assert.equal(w.breaches.length, 1);
      assert.ok(Number.isNaN(w.breaches[0].observed));
    } finally {
      w.stop();
    }
  });

  test("comparators normalise to one bound each; eq is a single point; gt/lt exclude the bound", () => {
    const tol = (t: unknown) => probeSchema.parse({ name: "p", type: "prometheus", url: "http://127.0.0.1:1", query: "up", tolerance: t }).tolerance;
    assert.deepEqual(tol({ gt: 1 }), { min: 1, minExclusive: true });
    assert.deepEqual(tol({ gte: 1, lt: 5 }), { min: 1, max: 5, maxExclusive: true });
    assert.deepEqual(tol({ eq: 1 }), { min: 1, max: 1 });
    assert.equal(withinTolerance(1, tol({ gt: 1 })), false);
    assert.equal(withinTolerance(1, tol({ gte: 1 })), true);
    assert.equal(withinTolerance(5, tol({ min: 1, max: 5 })), true);
    assert.equal(withinTolerance(2, tol({ eq: 1 })), false);
    const bad = probeSchema.safeParse({ name: "p", type: "prometheus", url: "http://127.0.0.1:1", query: "up", tolerance: { gt: 1, min: 2 } });
    assert.equal(bad.success, false);
    assert.match(JSON.stringify(bad.error?.issues), /one lower bound, not min and gt/);
  });

  test("several series: min, max, avg, sum, or every one must hold", () => {
    const series = [1, 5, 3].map((value) => ({ labels: {}, value, raw: String(value) }));
    assert.equal(aggregateSeries(series, "min", { min: 2 }), 1);
    assert.equal(aggregateSeries(series, "max", { min: 2 }), 5);
    assert.equal(aggregateSeries(series, "avg", { min: 2 }), 3);
    assert.equal(aggregateSeries(series, "sum", { min: 2 }), 9);
    assert.equal(aggregateSeries(series, "all", { min: 2 }), 1, "the first series that does not hold");
    assert.equal(aggregateSeries(series, "all", { min: 0 }), 1, "all hold: the one nearest the lower bound");
    assert.ok(Number.isNaN(aggregateSeries([...series, { labels: {}, value: NaN, raw: "NaN" }], "max", { min: 0 })!));
    assert.equal(aggregateSeries([], "all", { min: 0 }), null, "no series is no data");
  });

  test("onMissing abort (the default): no data for the grace is a breach of its own", async () => {
    const p = new FedProbe(spec({ missingGrace: "200ms" }));
    const w = watch(p);
    try {
      p.push(1);
      await sleep(400);
      assert.equal(w.breaches.length, 1);
      assert.equal(w.breaches[0].kind, "missing");
      assert.equal(w.breaches[0].observed, null);
      assert.match(w.breaches[0].message, /gave no data for \d+ ms \(grace 200 ms, onMissing: abort\)/);
    } finally {
      w.stop();
    }
  });

  test("onMissing ignore: silence holds; onMissing hold: the last verdict stands (a bad last value still breaches)", async () => {
    const ignore = new FedProbe(spec({ missingGrace: "100ms", onMissing: "ignore", for: "300ms" }));
    const held = new FedProbe(spec({ missingGrace: "100ms", onMissing: "hold", for: "300ms" }));
    const w1 = watch(ignore);
    const w2 = watch(held);
    try {
      ignore.push(0.5);
      held.push(0.5);
      await sleep(500);
      assert.equal(w1.breaches.length, 0, "ignore: the bad value went stale and counts as holding");
      assert.equal(w2.breaches.length, 1, "hold: the bad value stood for the whole window");
      assert.equal(w2.breaches[0].observed, 0.5);
    } finally {
      w1.stop();
      w2.stop();
    }
  });
});
