// The steady-state monitor keeps its 250 ms cadence while a run plans,
// injects and reverts 20 network faults: a real worker process, a victim
// listening on 20 TCP ports in namespace B of the test kit, one packet-loss
// target per port with the rules in namespace A, and an HTTP probe against a
// local server. The gaps between consecutive samples come from the worker's
// own record of the run (GET /samples), so what is measured is the worker's
// event loop. No traffic leaves loopback and the kit's namespaces.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RunRecord } from "../lib/contract";
import { apiCall, killHard, startWorkerProcess, tempHome, waitFor, waitForLine, type WorkerProc } from "../e2e/kit";
import { createTestNet, sh, type TestNet } from "../e2e/netns";

const FAULTS = 20;
const TICK_MS = 250;
// Safety bounds, not timings (bench/ measures those): one stalled tick of a
// whole second is what a synchronous iptables call or a blocked event loop
// looks like; ordinary scheduling noise on a loaded 2-core CI host stays well
// under it (363 ms seen), so it never fails a good build.
const STALL_MS = 1000;
const MEDIAN_MS = 300;
const FIRST_PORT = 7100;

describe("monitor cadence under 20 network faults", { timeout: 240_000 }, () => {
  let net: TestNet | undefined;
  let worker: WorkerProc | undefined;
  let victim: ChildProcess | undefined;
  let server: http.Server | undefined;
  let probeUrl = "";
  const tag = `cadence${process.pid}`;

  before(async () => {
    net = await createTestNet("c");
    const ports = Array.from({ length: FAULTS }, (_, i) => FIRST_PORT + i);
    // `ip netns exec` execs node in place: the victim is our child and exits when we do
    const code = `const p=process.ppid;setInterval(()=>{if(process.ppid!==p)process.exit(0)},250);
const net=require("net");let up=0;for(const port of ${JSON.stringify(ports)})net.createServer(s=>s.on("error",()=>{})).listen(port,process.argv[1],()=>{if(++up===${FAULTS})console.log("ready")});`;
    victim = spawn("ip", ["netns", "exec", net.b, process.execPath, "-e", code, net.ipB, tag], { stdio: ["ignore", "pipe", "inherit"] });
    await waitForLine(victim, (l) => l === "ready", 10_000, "the victim to listen");
    server = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    probeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "500" } });
  });

  after(async () => {
    await worker?.stop();
    await killHard(victim, "SIGKILL");
    server?.closeAllConnections();
    server?.close();
    await net?.destroy();
  });

  test("no tick stalls for a second and the median gap stays near 250 ms while the faults are planned, injected and reverted", async () => {
    const yaml = `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: cadence }
spec:
  hypothesis: the local server does not care about traffic between the test namespaces
  targets:
    ports: { network: { process: { cmdline: '${tag}$' }, netns: ${net!.a} }, mode: all }
  steadyState:
    probes:
      - { name: up, type: http, url: "${probeUrl}", interval: 100ms, window: 1s, tolerance: { min: 0.9 } }
  method:
    - { fault: packet-loss, target: ports, params: { percent: 1 }, duration: 2s }
  rollback: always
  safety: { maxPerTarget: ${FAULTS} }
`;
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.run.id;
    const run = await waitFor(
      `run ${id} to end`,
      async () => {
        const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${id}`);
        return ["completed", "aborted", "failed"].includes(body.run.state) ? body.run : null;
      },
      180_000,
      250,
    );
    const ev = await apiCall<{ events: { kind: string; monoMs: number }[] }>(worker!, "GET", `/api/v1/runs/${id}/events`);
    const from = ev.body.events.find((e) => e.kind === "targets-resolved")!.monoMs;
    const to = Math.max(...ev.body.events.filter((e) => e.kind === "reverted").map((e) => e.monoMs));
    const { body } = await apiCall<{ samples: { probe: string; monoMs: number }[] }>(worker!, "GET", `/api/v1/runs/${id}/samples`);
    const ticks = body.samples.filter((s) => s.probe === "up").map((s) => s.monoMs);
    // the ticks around the window, so a stall that starts before its first or ends after its last sample counts
    const inside = ticks.filter((t, i) => t >= from - TICK_MS && (ticks[i - 1] ?? -Infinity) <= to);
    assert.ok(inside.length >= 2, `samples in the window: ${inside.length}`);
    const gaps = inside.slice(1).map((t, i) => Math.round(t - inside[i]));
    const worst = Math.max(...gaps);
    const at = Math.round(inside[gaps.indexOf(worst)] - from);
    console.log(`cadence: ${FAULTS} faults planned, injected and reverted in ${Math.round(to - from)} ms; ${gaps.length} tick gaps, worst ${worst} ms (at +${at} ms), mean ${Math.round(gaps.reduce((a, b) => a + b, 0) / gaps.length)} ms`);
    assert.ok(worst < STALL_MS, `a tick came ${worst} ms after the one before, ${at} ms after the targets were resolved (gaps: ${gaps.join(" ")})`);
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
    assert.ok(median <= MEDIAN_MS, `the median gap between ticks is ${median} ms, not ${TICK_MS} (gaps: ${gaps.join(" ")})`);

    // after the cadence: a stalled monitor also shows as probe timeouts, and a breach
    assert.equal(run.state, "completed", `${run.state}: ${JSON.stringify(run.abort ?? run.error)}`);
    assert.equal(run.faults.length, FAULTS, "one fault per port");
    for (const f of run.faults) {
      assert.equal(f.state, "reverted", JSON.stringify(f));
      assert.equal(f.verified, true);
    }

    // nothing left behind in the namespaces
    assert.doesNotMatch(sh("ip", "netns", "exec", net!.a, "iptables-save"), /gameday/i);
  });
});
