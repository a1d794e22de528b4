import { test } from "node:test";
import assert from "node:assert/strict";
import { CounterWindow, histogramQuantile, parsePromText, seriesKey } from "./promtext";

test("the text format parses names, labels (with escapes) and special values", () => {
  const s = parsePromText(`# HELP x help
# TYPE x counter
x_total{service="api",code="200"} 12
x_total{path="a\\"b",code="500"} 3 1700000000000
h_bucket{le="+Inf"} +Inf
up 1
`);
  assert.equal(s.length, 4);
  assert.deepEqual(s[0], { name: "x_total", labels: { service: "api", code: "200" }, value: 12 });
  assert.equal(s[1].labels.path, 'a"b');
  assert.equal(s[2].value, Infinity);
  assert.deepEqual(s[3].labels, {});
});

test("increase over a window handles counter resets and series that appear later", () => {
  const w = new CounterWindow(10_000);
  const k = (code: string) => seriesKey({ name: "r", labels: { code }, value: 0 }, "0");
  w.add(0, new Map([[k("200"), 100]]), ["0"]);
  w.add(1000, new Map([[k("200"), 150], [k("504"), 7]]), ["0"]);
  assert.equal(w.increase(), 57);
  assert.equal(w.increase((key) => key.includes('"504"')), 7);
  // the process restarted: its counter starts again from zero
  w.add(2000, new Map([[k("200"), 20]]), ["0"]);
  assert.equal(w.increase((key) => key.includes('"200"')), 20);
  // old snapshots fall out of the window; the newest one at or before the
  // window start stays as the baseline (t=2000, value 20)
  w.add(20_000, new Map([[k("200"), 30]]), ["0"]);
  w.add(21_000, new Map([[k("200"), 35]]), ["0"]);
  assert.equal(w.increase(), 15);
  w.add(31_000, new Map([[k("200"), 36]]), ["0"]);
  assert.equal(w.increase(), 1, "baseline moves to t=21000");
});

test("a series from an endpoint that was down at the baseline is not counted from zero", () => {
  const w = new CounterWindow(10_000);
  w.add(0, new Map(), []);
  w.add(1000, new Map([["0|r{}", 5000]]), ["0"]);
  assert.equal(w.increase(), 0);
});

test("histogram_quantile interpolates inside the bucket", () => {
  const b: [number, number][] = [[0.01, 50], [0.1, 90], [1, 100], [Infinity, 100]];
  assert.equal(histogramQuantile(0.5, b), 0.01);
  assert.ok(Math.abs(histogramQuantile(0.95, b)! - 0.55) < 1e-9);
  assert.equal(histogramQuantile(0.95, [[1, 0], [Infinity, 0]]), null);
});
