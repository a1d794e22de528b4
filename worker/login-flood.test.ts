// A login flood does not starve the safety loop: while a run holds a real
// `sleep` victim stopped (until the test aborts it), 40 clients at a time send wrong passwords from 200
// addresses (as the web app's proxy reports them), so the per-address limit
// does not shield the worker and argon2 really runs. The monitor's 250 ms
// ticks are read from the worker's own record of the run. It floods for at
// least 6 s (so there are enough ticks to judge, however fast the host
// turns logins away) and is bounded: at most 12000 logins or 8 s.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { API, type RunRecord } from "../lib/contract";
import { apiCall, freezeExperiment, spawnVictims, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";

const TICK_MS = 250;
// safety bounds, not timings (see cadence.test.ts): a stall of a second is a blocked event loop
const STALL_MS = 1000;
const MEDIAN_MS = 400; // 734 ms before argon2 and the limits (bcryptjs on the main thread), 299 ms after, on a loaded host
const FLOOD_MAX = 12_000;
const FLOOD_MIN_MS = 6000;
const FLOOD_MS = 8000;
const CONCURRENCY = 40;

describe("login flood against the monitor", { timeout: 120_000 }, () => {
  let w: WorkerProc;
  let probe: http.Server;
  let probeUrl = "";
  const victims = spawnVictims(1);

  before(async () => {
    probe = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
    w = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "500" } });
  });

  after(async () => {
    await w?.stop();
    await victims.stop();
    probe?.closeAllConnections();
    probe?.close();
  });

  test("the 250 ms tick keeps its cadence while logins flood in; the flood is hashed or turned away with 429", async () => {
    const yaml = freezeExperiment("login-flood", `{ process: { cmdline: '${victims.regex}' }, mode: all }`, probeUrl);
    const started = await apiCall<{ run: RunRecord }>(w, "POST", API.runs, { yaml });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const id = started.body.run.id;
    await waitFor("the fault to be injected", async () => (await apiCall<{ run: RunRecord }>(w, "GET", API.run(id))).body.run.faults.some((f) => f.state === "injected"), 15_000);

    const counts = new Map<number, number>();
    let sent = 0;
    const end = Date.now() + FLOOD_MS;
    const minEnd = Date.now() + FLOOD_MIN_MS;
    const client = async () => {
      while (sent < FLOOD_MAX && Date.now() < end && (sent < 600 || Date.now() < minEnd)) {
        const n = sent++;
        const r = await fetch(w.url + API.login, {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": `10.77.0.${n % 200}` },
          body: JSON.stringify({ username: `user${n}`, password: `guess-${n}` }),
          signal: AbortSignal.timeout(20_000),
        });
        await r.arrayBuffer();
        counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    const floodMs = Date.now() - t0;

    // the fault lasts 60 s: end it now, so the window measured is the flood's
    const ended = await apiCall<{ run: RunRecord }>(w, "POST", API.runAbort(id));
    assert.equal(ended.status, 200, JSON.stringify(ended.body));
    const run = ended.body.run;
    const ev = await apiCall<{ events: { kind: string; monoMs: number }[] }>(w, "GET", API.runEvents(id));
    const from = ev.body.events.find((e) => e.kind === "targets-resolved")!.monoMs;
    const to = Math.max(...ev.body.events.filter((e) => e.kind === "reverted").map((e) => e.monoMs));
    const { body } = await apiCall<{ samples: { probe: string; monoMs: number }[] }>(w, "GET", API.runSamples(id));
    const ticks = body.samples.filter((s) => s.probe === "up").map((s) => s.monoMs).filter((t) => t >= from - TICK_MS && t <= to + TICK_MS);
    const gaps = ticks.slice(1).map((t, i) => Math.round(t - ticks[i]));
    const worst = Math.max(...gaps);
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
    const summary = `${sent} logins in ${floodMs} ms (${[...counts].map(([s, n]) => `${n}×${s}`).join(", ")}); ${gaps.length} tick gaps, worst ${worst} ms, median ${median} ms`;
    console.log(`login flood: ${summary}`);

    assert.ok((counts.get(401) ?? 0) >= 20, `argon2 ran for too few logins to be a flood: ${summary}`);
    assert.deepEqual([...counts.keys()].filter((s) => s !== 401 && s !== 429), [], `only 401 and 429: ${summary}`);
    assert.ok(gaps.length >= 20, `too few ticks: ${summary}`);
    assert.ok(worst < STALL_MS, `a tick stalled: ${summary} (gaps: ${gaps.join(" ")})`);
    assert.ok(median <= MEDIAN_MS, `the ticks slowed down: ${summary}`);
    assert.equal(run.abort?.reason, "manual", `the run did not hold until the abort: ${JSON.stringify(run.abort ?? run.error)}`);
  });
});
