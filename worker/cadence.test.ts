// The steady-state monitor keeps its 250 ms cadence while a run plans,
// injects and reverts 20 network faults (the rig: e2e/cadence.ts). The
// timing itself is bench/cadence.ts; this test holds safety bounds only.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startCadenceRig, TICK_MS, type CadenceRig } from "../e2e/cadence";

const FAULTS = 20;
// Safety bounds, not timings: one stalled tick of a whole second is what a
// synchronous iptables call or a blocked event loop looks like; ordinary
// scheduling noise on a loaded 2-core CI host stays well under it (363 ms
// seen), so it never fails a good build.
const STALL_MS = 1000;
const MEDIAN_MS = 300;

describe("monitor cadence under 20 network faults", { timeout: 240_000 }, () => {
  let rig: CadenceRig | undefined;
  before(async () => {
    rig = await startCadenceRig(FAULTS, 7100);
  });
  after(async () => {
    await rig?.stop();
  });

  test("no tick stalls for a second and the median gap stays near 250 ms while the faults are planned, injected and reverted", async () => {
    const { run, during: gaps, spanMs, worstAtMs, rulesAfter } = await rig!.measure();
    assert.ok(gaps.length >= 1, `tick gaps in the window: ${gaps.length}`);
    const worst = Math.max(...gaps);
    console.log(`cadence: ${FAULTS} faults injected and reverted in ${spanMs} ms; ${gaps.length} tick gaps, worst ${worst} ms (at +${worstAtMs} ms)`);
    assert.ok(worst < STALL_MS, `a tick came ${worst} ms after the one before, ${worstAtMs} ms after the targets were resolved (gaps: ${gaps.join(" ")})`);
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
    assert.ok(median <= MEDIAN_MS, `the median gap between ticks is ${median} ms, not ${TICK_MS} (gaps: ${gaps.join(" ")})`);

    // after the cadence: a stalled monitor also shows as probe timeouts, and a breach
    assert.equal(run.state, "completed", `${run.state}: ${JSON.stringify(run.abort ?? run.error)}`);
    assert.equal(run.faults.length, FAULTS, "one fault per port");
    for (const f of run.faults) {
      assert.equal(f.state, "reverted", JSON.stringify(f));
      assert.equal(f.verified, true);
    }
    assert.doesNotMatch(rulesAfter, /gameday/i, "nothing left behind in the namespace");
  });
});
