// The monitor-cadence rig shared by worker/cadence.test.ts (safety bounds)
// and bench/cadence.ts (the timing): a real worker process, a victim
// listening on N TCP ports in namespace B of a test net, one packet-loss
// target per port with the rules in namespace A, and an HTTP probe against a
// local server. Tick gaps come from the worker's own record of the run (GET
// /samples), so what is measured is the worker's event loop. No traffic
// leaves loopback and the rig's namespaces.
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RunRecord } from "../lib/contract";
import { apiCall, killHard, startWorkerProcess, tempHome, waitFor, waitForLine, type WorkerProc } from "./kit";
import { createTestNet, sh, type TestNet } from "./netns";

export const TICK_MS = 250;

export interface CadenceResult {
  run: RunRecord;
  /** gaps between consecutive ticks before the targets were resolved (the baseline of the same run) */
  before: number[];
  /** gaps from the targets being resolved until the last fault was reverted */
  during: number[];
  /** ms from the targets being resolved until the last revert */
  spanMs: number;
  /** where the worst gap of `during` ended, ms after the targets were resolved */
  worstAtMs: number;
  /** `iptables-save` in namespace A after the run */
  rulesAfter: string;
}

export interface CadenceRig {
  measure(opts?: { steadyMs?: number }): Promise<CadenceResult>;
  stop(): Promise<void>;
}

export async function startCadenceRig(faults: number, firstPort: number, netName = "c"): Promise<CadenceRig> {
  const tag = `cadence${process.pid}${netName}`;
  let net: TestNet | undefined;
  let victim: ChildProcess | undefined;
  let server: http.Server | undefined;
  let worker: WorkerProc | undefined;
  const stop = async () => {
    await worker?.stop();
    await killHard(victim, "SIGKILL");
    server?.closeAllConnections();
    server?.close();
    await net?.destroy();
  };
  try {
    net = await createTestNet(netName);
    const ports = Array.from({ length: faults }, (_, i) => firstPort + i);
    // `ip netns exec` execs node in place: the victim is our child and exits when we do
    const code = `const p=process.ppid;setInterval(()=>{if(process.ppid!==p)process.exit(0)},250);
const net=require("net");let up=0;for(const port of ${JSON.stringify(ports)})net.createServer(s=>s.on("error",()=>{})).listen(port,process.argv[1],()=>{if(++up===${faults})console.log("ready")});`;
    victim = spawn("ip", ["netns", "exec", net.b, process.execPath, "-e", code, net.ipB, tag], { stdio: ["ignore", "pipe", "inherit"] });
    await waitForLine(victim, (l) => l === "ready", 10_000, "the victim to listen");
    server = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const probeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "500" } });
    const w = worker;
    const netA = net.a;

    const measure = async ({ steadyMs = 1000 } = {}): Promise<CadenceResult> => {
      // the warm-up is the probe window (capped by GAMEDAY_WARMUP_MS); a longer
      // window before the method gives the same run a baseline to compare with
      const yaml = `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: cadence }
spec:
  hypothesis: the local server does not care about traffic between the test namespaces
  targets:
    ports: { network: { process: { cmdline: '${tag}$' }, netns: ${netA} }, mode: all }
  steadyState:
    probes:
      - { name: up, type: http, url: "${probeUrl}", interval: 100ms, window: 1s, tolerance: { min: 0.9 } }
  method:
    - { fault: packet-loss, target: ports, params: { percent: 1 }, duration: 2s, startAfter: ${steadyMs}ms }
  rollback: always
  safety: { maxPerTarget: ${faults} }
`;
      const r = await apiCall<{ run: RunRecord }>(w, "POST", "/api/v1/runs", { yaml });
      if (r.status !== 201) throw new Error(`POST /api/v1/runs answered ${r.status}: ${JSON.stringify(r.body)}`);
      const id = r.body.run.id;
      const run = await waitFor(
        `run ${id} to end`,
        async () => {
          const { body } = await apiCall<{ run: RunRecord }>(w, "GET", `/api/v1/runs/${id}`);
          return ["completed", "aborted", "failed"].includes(body.run.state) ? body.run : null;
        },
        180_000,
        250,
      );
      const ev = await apiCall<{ events: { kind: string; monoMs: number }[] }>(w, "GET", `/api/v1/runs/${id}/events`);
      const resolved = ev.body.events.find((e) => e.kind === "targets-resolved");
      const reverts = ev.body.events.filter((e) => e.kind === "reverted").map((e) => e.monoMs);
      if (!resolved || reverts.length === 0) throw new Error(`run ${id} (${run.state}) has no targets-resolved or reverted event: ${JSON.stringify(run.abort ?? run.error)}`);
      const from = resolved.monoMs;
      const to = Math.max(...reverts);
      const { body } = await apiCall<{ samples: { probe: string; monoMs: number }[] }>(w, "GET", `/api/v1/runs/${id}/samples`);
      const ticks = body.samples.filter((s) => s.probe === "up").map((s) => s.monoMs);
      const gapsOf = (xs: number[]) => xs.slice(1).map((t, i) => Math.round(t - xs[i]));
      // the ticks around the window, so a stall that starts before its first or ends after its last sample counts
      const inside = ticks.filter((t, i) => t >= from - TICK_MS && (ticks[i - 1] ?? -Infinity) <= to);
      const during = gapsOf(inside);
      const worst = during.indexOf(Math.max(...during));
      return {
        run,
        before: gapsOf(ticks.filter((t) => t < from - TICK_MS)),
        during,
        spanMs: Math.round(to - from),
        worstAtMs: worst < 0 ? 0 : Math.round(inside[worst + 1] - from),
        rulesAfter: sh("ip", "netns", "exec", netA, "iptables-save"),
      };
    };
    return { measure, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
