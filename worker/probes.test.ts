// The metrics probe against a real local endpoint that stops answering: its
// value goes away after the grace (it used to keep the last one forever, and
// the monitor took the silence for a steady state), and under the default
// onMissing: abort the monitor reports the missing data as a breach.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { probeSchema, type MetricsProbeSpec } from "../lib/experiment";
import { SteadyStateMonitor, type Breach } from "./monitor";
import { MetricsProbe } from "./probes";
import { waitFor } from "../e2e/kit";

test("a metrics endpoint that stops answering: no value after the grace, and a missing-data breach", { timeout: 20_000 }, async () => {
  let total = 0;
  let answering = true;
  const server = http.createServer((req, res) => {
    if (!answering) return req.socket.destroy();
    total += 10;
    res.end(`t_requests_total{code="200"} ${total}\n`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const spec = probeSchema.parse({
    name: "m",
    type: "metrics",
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`,
    interval: "100ms",
    window: "1s",
    missingGrace: "600ms",
    query: { metric: "t_requests_total" },
    tolerance: { min: 1 },
  }) as MetricsProbeSpec;
  const probe = new MetricsProbe(spec);
  const breaches: Breach[] = [];
  const monitor = new SteadyStateMonitor([probe], { onBreach: (b) => breaches.push(b) }, 60_000);
  monitor.start();
  try {
    const rate = await waitFor("a rate", () => probe.read(), 5000, 50);
    assert.ok(rate > 1, `rate ${rate}`);
    answering = false;
    const t0 = performance.now();
    await waitFor("the value to go", () => probe.read() === null, 5000, 20);
    assert.ok(performance.now() - t0 >= 500, "not before the grace");
    const b = await waitFor("a missing-data breach", () => breaches[0], 5000, 20);
    assert.equal(b.kind, "missing");
    assert.match(b.message, /^m gave no data for \d+ ms \(grace 600 ms, onMissing: abort\)$/);
  } finally {
    monitor.stop();
    server.close();
  }
});
