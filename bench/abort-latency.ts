// Abort on the sample, not on the tick: how late after a probe's `for`
// window ends does the breach (and so the abort, the same in-process call)
// land? A local HTTP server turns unhealthy; an http probe (100 ms interval)
// feeds the monitor, whose breach is timed from the first bad sample + for.
// Side by side on the same probe and trial: the previous design, a 250 ms
// tick that reads the probe and starts the window when it first sees the bad
// value. Bounded: TRIALS trials, each with a random tick phase. Results go to
// bench/results/<timestamp>-abort-latency.json.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { probeSchema } from "../lib/experiment";
import { HttpProbe, withinTolerance } from "../worker/probes";
import { SteadyStateMonitor, type Breach } from "../worker/monitor";

const TRIALS = 50;
const FOR_MS = 1000;
const TICK_MS = 250;
const ROOT = path.resolve(import.meta.dirname, "..");
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let healthy = true;
const server = http.createServer((_req, res) => {
  res.writeHead(healthy ? 200 : 500);
  res.end();
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
const spec = probeSchema.parse({ name: "bench", type: "http", url, interval: "100ms", window: "300ms", for: `${FOR_MS}ms`, tolerance: { min: 0.9 }, missingGrace: "1h" });

const onSample: number[] = [];
const onTick: number[] = [];
try {
  for (let i = 0; i < TRIALS; i++) {
    const probe = new HttpProbe(spec as Extract<typeof spec, { type: "http" }>);
    let breach: Breach | null = null;
    const monitor = new SteadyStateMonitor([probe], { onBreach: (b) => (breach ??= b) }, 60_000);
    monitor.start();
    await sleep(400 + Math.random() * TICK_MS); // a fresh window, and a random tick phase
    // the previous design: a tick reads the probe; the window starts at the tick that first sees the value outside
    let tickSince: number | null = null;
    let tickBreach: number | null = null;
    const tick = setInterval(() => {
      const t = performance.now();
      const v = probe.read(t);
      if (v === null || withinTolerance(v, spec.tolerance)) tickSince = null;
      else if (tickSince === null) tickSince = t;
      if (tickSince !== null && tickBreach === null && t - tickSince >= FOR_MS) tickBreach = t;
    }, TICK_MS);
    healthy = false;
    const end = performance.now() + 5000;
    while ((breach === null || tickBreach === null) && performance.now() < end) await sleep(5);
    clearInterval(tick);
    monitor.stop();
    healthy = true;
    if (!breach || tickBreach === null) throw new Error(`trial ${i}: no breach within 5 s`);
    const b = breach as Breach;
    const windowEnd = b.since + FOR_MS;
    onSample.push(b.t - windowEnd);
    onTick.push(tickBreach - windowEnd);
  }
} finally {
  server.close();
}

const stats = (xs: number[]) => ({ p50: pct(xs, 50), p95: pct(xs, 95), p99: pct(xs, 99), max: Math.max(...xs) });
const r = {
  trials: TRIALS,
  forMs: FOR_MS,
  probeIntervalMs: 100,
  /** ms from the for window's end (first bad sample + for) to the breach that aborts */
  onSampleMs: stats(onSample),
  /** the same, had a 250 ms tick judged the probe (the previous monitor) */
  tick250Ms: stats(onTick),
};
const out = path.join(ROOT, "bench/results", `${new Date().toISOString().replace(/[:.]/g, "-")}-abort-latency.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(r, null, 2));
process.stdout.write(`${JSON.stringify(r, null, 2)}\nwritten to ${out}\n`);
