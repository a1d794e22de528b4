// Network fault accuracy and overhead, between two namespaces this script
// creates (never anything else): how close the proxy's added round trip is to
// the configured latency, how wide its jitter is, what the proxy costs in
// throughput, and how close iptables loss is to the configured percentage.
// Reported, never pass/fail. Results: bench/results/net-<timestamp>.json.
//   node --import tsx bench/net.ts
import fs from "node:fs";
import path from "node:path";
import { createTestNet, PORTS, RTT_CLIENT, UDP_CLIENT, UPLOAD_CLIENT, type TestNet } from "../e2e/netns";
import { latency } from "../injectors/latency";
import { revertNet, type NetUndo } from "../injectors/net-fault";
import { packetLoss } from "../injectors/packet-loss";
import type { AnyInjector, NetworkTarget } from "../injectors/types";

const ROUND_TRIPS = 60;

async function hold<T>(inj: AnyInjector, t: NetworkTarget, raw: unknown, fn: () => Promise<T>): Promise<T> {
  const params = inj.params.parse(raw);
  const undo = await inj.plan(t, params) as NetUndo;
  try {
    await inj.inject(t, params, { runId: "bench", signal: new AbortController().signal, undo });
    return await fn();
  } finally {
    await revertNet(undo);
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const sd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
};
const r2 = (x: number) => Math.round(x * 100) / 100;

async function rtts(net: TestNet): Promise<number[]> {
  const r = await net.runJson<{ all: number[] }>(net.a, RTT_CLIENT.replace("t.map(Math.round)", "t"), [net.ipB, ROUND_TRIPS]);
  return r.all;
}

async function main() {
  const net = await createTestNet("bench");
  const out: Record<string, unknown> = { at: new Date().toISOString(), roundTrips: ROUND_TRIPS };
  try {
    const echo: NetworkTarget = { kind: "network", netns: net.a, direction: "egress", protocol: "tcp", dst: net.ipB, dstPort: PORTS.echo };
    const base = await rtts(net);
    out.baseline = { medianMs: r2(pct(base, 0.5)), p95Ms: r2(pct(base, 0.95)) };
    const accuracy = [];
    for (const ms of [10, 50, 200]) {
      const xs = await hold(latency, echo, { latency: `${ms}ms` }, () => rtts(net));
      accuracy.push({ latencyMs: ms, medianMs: r2(pct(xs, 0.5)), p95Ms: r2(pct(xs, 0.95)), addedMedianErrorMs: r2(pct(xs, 0.5) - pct(base, 0.5) - ms) });
    }
    out.latencyProxy = accuracy;
    const jit = await hold(latency, echo, { latency: "100ms", jitter: "20ms", distribution: "normal" }, () => rtts(net));
    out.jitterProxy = { latencyMs: 100, jitterMs: 20, distribution: "normal", medianMs: r2(pct(jit, 0.5)), sdMs: r2(sd(jit)) };

    const BYTES = 20_000_000;
    const sink: NetworkTarget = { ...echo, dstPort: PORTS.sink };
    const upload = () => net.runJson<{ ms: number }>(net.a, UPLOAD_CLIENT, [net.ipB, BYTES]);
    const direct = await upload();
    const proxied = await hold(latency, sink, { latency: "1ms" }, upload);
    out.proxyThroughput = {
      bytes: BYTES,
      directMBps: r2(BYTES / 1e6 / (direct.ms / 1000)),
      through1msProxyMBps: r2(BYTES / 1e6 / (proxied.ms / 1000)),
      ratio: r2(direct.ms / proxied.ms),
    };

    // several rounds, each under a fault of its own: one round's spread is binomial (± 0.7 points at 10 % of 2000)
    const N = 2000;
    const ROUNDS_LOSS = 5;
    const observed: number[] = [];
    for (let i = 0; i < ROUNDS_LOSS; i++) {
      const loss = await hold(packetLoss, { ...echo, protocol: "udp", dstPort: PORTS.udp }, { percent: 10 }, () =>
        net.runJson<{ received: number }>(net.a, UDP_CLIENT, [net.ipB, N]),
      );
      observed.push(r2((100 * (N - loss.received)) / N));
    }
    out.lossIptables = { configuredPercent: 10, datagrams: N, rounds: ROUNDS_LOSS, observedPercent: observed, meanPercent: r2(observed.reduce((a, b) => a + b, 0) / observed.length) };
  } finally {
    await net.destroy();
  }
  const dir = path.join(import.meta.dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `net-${(out.at as string).replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  process.stdout.write(JSON.stringify(out, null, 2) + `\nwritten to ${file}\n`);
}

await main();
