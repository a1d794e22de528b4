// The monitor's cadence while a run plans, injects and reverts 20 network
// faults (issue #7: no tick later than 100 ms). The rig is e2e/cadence.ts,
// the one worker/cadence.test.ts holds to safety bounds. Side by side in one
// run: the tick gaps before the method started (the same worker, the same
// probe, idle) and the gaps while the faults were planned, injected and
// reverted. Lateness = gap − 250 ms. Bounded: ROUNDS runs of 20 faults each.
// Results go to bench/results/<timestamp>-cadence.json.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCadenceRig, TICK_MS } from "../e2e/cadence";

const ROUNDS = 3;
const FAULTS = 20;
const ROOT = path.resolve(import.meta.dirname, "..");
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const late = (gaps: number[]) => gaps.map((g) => g - TICK_MS);
const stats = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 50), p95: pct(xs, 95), max: Math.max(...xs) });

const rig = await startCadenceRig(FAULTS, 7300, "cb");
const before: number[] = [];
const during: number[] = [];
const spans: number[] = [];
const loads: number[] = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    loads.push(os.loadavg()[0]);
    const r = await rig.measure({ steadyMs: 3000 });
    if (r.run.state !== "completed") throw new Error(`round ${i}: the run ended ${r.run.state}: ${JSON.stringify(r.run.abort ?? r.run.error)}`);
    before.push(...late(r.before));
    during.push(...late(r.during));
    spans.push(r.spanMs);
  }
} finally {
  await rig.stop();
}
const r = {
  rounds: ROUNDS,
  faultsPerRound: FAULTS,
  tickMs: TICK_MS,
  loadavg1: loads.map((l) => Math.round(l * 100) / 100),
  /** ms from the targets being resolved to the last verified revert, per round */
  injectAndRevertMs: spans,
  /** how late each tick came (gap − 250 ms) while idle before the method, then while the faults were planned, injected and reverted */
  lateIdleMs: stats(before),
  lateUnderFaultsMs: stats(during),
  target: "no tick later than 100 ms under the faults",
};
const out = path.join(ROOT, "bench/results", `${new Date().toISOString().replace(/[:.]/g, "-")}-cadence.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(r, null, 2));
process.stdout.write(`${JSON.stringify(r, null, 2)}\nwritten to ${out}\n`);
