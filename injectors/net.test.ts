// Network faults against real traffic between two namespaces this file
// creates (veth pair, 10.213.x.0/24): latency through the delaying proxy,
// packet loss, partition, bandwidth; exact restore of iptables-save and tc
// qdisc show, also after a worker SIGKILL; the netem path's exact commands
// and detection (this kernel has no sch_netem).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { spawnSync } from "node:child_process";
import type { RunRecord } from "../lib/contract";
import { apiCall, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";
import { addForeignRules, CONNECT_CLIENT, LONG_CLIENT, createTestNet, PORTS, RTT_CLIENT, sh, UDP_CLIENT, UPLOAD_CLIENT, type TestNet } from "../e2e/netns";
import { cmdText, detectNetem, htbCommands, netemArgs, netemCommands, overlaps, u32Match } from "../lib/net";
import { bandwidth, rateBytesPerSec } from "./bandwidth";
import { chooseMechanism, latency, planLatency, proxyProblem } from "./latency";
import { revertNet, type NetUndo } from "./net-fault";
import { packetLoss } from "./packet-loss";
import { partition } from "./partition";
import { onPath } from "./cpu-stress";
import type { AnyInjector, NetworkTarget } from "./types";

let net: TestNet;
const inPlace: NetUndo[] = [];
let worker: WorkerProc | undefined;

before(async () => {
  net = await createTestNet();
  addForeignRules(net.a);
});

after(async () => {
  await worker?.stop("SIGKILL");
  // a failed assertion may leave a fault in place: undo it before the namespaces go
  for (const u of inPlace) await revertNet(u).catch(() => undefined);
  await net?.destroy();
});

const ac = new AbortController();
const tgt = (over: Partial<NetworkTarget>): NetworkTarget => ({ kind: "network", netns: net.a, direction: "egress", protocol: "tcp", dst: net.ipB, ...over });

async function hold<T>(inj: AnyInjector, target: NetworkTarget, raw: unknown, during: (undo: NetUndo) => Promise<T>): Promise<T> {
  const params = inj.params.parse(raw);
  const undo = inj.plan(target, params) as NetUndo;
  inPlace.push(undo);
  try {
    await inj.inject(target, params, { runId: "test", signal: ac.signal, undo });
    return await during(undo);
  } finally {
    await inj.revert(target, undo);
    const v = await inj.verify(target, undo);
    assert.ok(v.ok, v.detail);
    inPlace.splice(inPlace.indexOf(undo), 1);
  }
}

const rtt = () => net.runJson<{ median: number; all: number[]; error?: string }>(net.a, RTT_CLIENT, [net.ipB, 9]);

describe("netem path (not in this kernel): exact commands and detection", () => {
  const t: NetworkTarget = { kind: "network", netns: "ns1", direction: "egress", protocol: "tcp", dst: "10.0.0.2", dstPort: 5432 };

  test("detection tries netem for real (missing on the CI kernel); the result is cached; no probe namespace is left", () => {
    const d = detectNetem(true);
    if (d.ok) assert.match(d.detail, /sch_netem works/);
    else assert.match(d.detail, /no sch_netem: .*(unknown|not found|No such)/i);
    assert.equal(detectNetem(), d, "cached");
    assert.doesNotMatch(sh("ip", "netns", "list"), /gd-probe-/);
  });

  test("auto picks netem when detected, the proxy when not; forcing netem without it is refused", () => {
    assert.deepEqual(chooseMechanism("auto", { ok: true, detail: "" }).mechanism, "netem");
    assert.deepEqual(chooseMechanism("auto", { ok: false, detail: "no sch_netem: x" }), { mechanism: "proxy", why: "auto: no sch_netem: x" });
    assert.equal(chooseMechanism("proxy", { ok: true, detail: "" }).mechanism, "proxy");
    assert.throws(() => chooseMechanism("netem", { ok: false, detail: "no sch_netem: x" }), /mechanism: netem was asked for, but no sch_netem/);
  });

  test("latency + jitter + correlation + distribution: prio root, netem on band 4, u32 filter for the selection only", () => {
    assert.deepEqual(
      netemCommands("eth0", t, { delayMs: 500, jitterMs: 50, correlationPct: 25, distribution: "pareto" }).map(cmdText),
      [
        "ip netns exec ns1 tc qdisc add dev eth0 root handle 6764: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1",
        "ip netns exec ns1 tc qdisc add dev eth0 parent 6764:4 handle 6765: netem delay 500ms 50ms 25% distribution pareto",
        "ip netns exec ns1 tc filter add dev eth0 parent 6764: protocol ip prio 1 u32 match ip protocol 6 0xff match ip dst 10.0.0.2/32 match ip dport 5432 0xffff flowid 6764:4",
      ],
    );
    assert.deepEqual(netemArgs({ delayMs: 100 }), ["delay", "100ms"]);
    assert.deepEqual(netemArgs({ delayMs: 100, jitterMs: 10, distribution: "uniform" }), ["delay", "100ms", "10ms"]);
    assert.deepEqual(netemArgs({ lossPct: 5, lossCorrelationPct: 30 }), ["loss", "random", "5%", "30%"]);
    assert.deepEqual(u32Match({ protocol: "all" }), ["match", "u32", "0", "0"]);
    assert.deepEqual(u32Match({ protocol: "udp", src: "10.1.0.0/16", srcPort: 53 }), ["match", "ip", "protocol", "17", "0xff", "match", "ip", "src", "10.1.0.0/16", "match", "ip", "sport", "53", "0xffff"]);
  });

  test("a netem plan (mechanism forced, detection says yes) records the device, its qdiscs before, and the commands", () => {
    const target: NetworkTarget = { kind: "network", netns: net.a, direction: "egress", protocol: "tcp", dst: net.ipB, dstPort: 5432 };
    const u = planLatency(target, latency.params.parse({ latency: "100ms", mechanism: "netem" }), { ok: true, detail: "pretend" });
    assert.equal(u.mechanism, "netem");
    assert.equal(u.dev, net.vethA, "the route towards dst picks the veth");
    assert.equal(u.qdiscBefore, sh("ip", "netns", "exec", net.a, "tc", "qdisc", "show", "dev", net.vethA));
    assert.equal(u.commands.length, 3);
    assert.match(u.commands[1], new RegExp(`^ip netns exec ${net.a} tc qdisc add dev ${net.vethA} parent 6764:4 handle 6765: netem delay 100ms$`));
    assert.throws(() => planLatency({ ...target, direction: "ingress" }, latency.params.parse({ latency: "1s", mechanism: "netem" }), { ok: true, detail: "" }), /target.direction: netem delays egress/);
  });

  test("htb for bandwidth: capped class for the selection, unthrottled default for the rest", () => {
    assert.deepEqual(htbCommands("lo", { ...t, netns: undefined }, "1mbit").map(cmdText), [
      "tc qdisc add dev lo root handle 6764: htb default 2",
      "tc class add dev lo parent 6764: classid 6764:1 htb rate 1mbit ceil 1mbit",
      "tc class add dev lo parent 6764: classid 6764:2 htb rate 100gbit",
      "tc filter add dev lo parent 6764: protocol ip prio 1 u32 match ip protocol 6 0xff match ip dst 10.0.0.2/32 match ip dport 5432 0xffff flowid 6764:1",
    ]);
    assert.equal(rateBytesPerSec("1mbit"), 125_000);
    assert.equal(rateBytesPerSec("2mbps"), 2_000_000);
  });
});

describe("parameters and targets are refused with the field named", () => {
  const bad = (inj: AnyInjector, raw: unknown, field: string, msg: RegExp) => {
    const r = inj.params.safeParse(raw);
    assert.equal(r.success, false, JSON.stringify(raw));
    const issue = r.error!.issues.find((i) => i.path.join(".") === field);
    assert.ok(issue, `no issue for ${field}: ${JSON.stringify(r.error!.issues)}`);
    assert.match(issue.message, msg);
  };
  test("params", () => {
    bad(latency, {}, "latency", /duration/);
    bad(latency, { latency: "fast" }, "latency", /expected a duration like 500ms/);
    bad(latency, { latency: "10ms", jitter: "20ms" }, "jitter", /must not exceed latency/);
    bad(latency, { latency: "10ms", correlation: 150 }, "correlation", /percentage 0-100/);
    bad(latency, { latency: "10ms", distribution: "gauss" }, "distribution", /normal, pareto, paretonormal, uniform/);
    bad(latency, { latency: "10ms", mechanism: "ebpf" }, "mechanism", /auto, netem or proxy/);
    bad(latency, { latency: "10ms", targetPort: 1 }, "", /targetPort/);
    bad(packetLoss, { percent: 0 }, "percent", /greater than 0/);
    bad(packetLoss, { percent: 101 }, "percent", /percentage 0-100/);
    bad(bandwidth, { rate: "fast" }, "rate", /tc rate like 1mbit/);
    bad(bandwidth, { rate: "1bit" }, "rate", /at least 8kbit/);
    bad(partition, { action: "nuke" }, "action", /drop or reject/);
  });
  test("targets the mechanism cannot serve", () => {
    const t = (o: Partial<NetworkTarget>): NetworkTarget => ({ kind: "network", direction: "egress", protocol: "tcp", dst: "10.0.0.2", dstPort: 1, ...o });
    assert.match(proxyProblem(t({ protocol: "udp" }))!, /^target.protocol: the proxy mechanism delays TCP only/);
    assert.match(proxyProblem(t({ dst: "10.0.0.0/24" }))!, /^target.dst: the proxy mechanism needs one destination/);
    assert.match(proxyProblem(t({ dstPort: undefined }))!, /^target.dstPort/);
    assert.equal(proxyProblem(t({ dst: "10.0.0.2/32" })), null);
    assert.throws(() => partition.plan(t({ netns: net.a, src: undefined }), { action: "drop" }), /target.src: a partition is between two sides/);
    assert.throws(() => packetLoss.plan(t({ netns: "gdt-no-such-ns" }), { percent: 5, correlation: 0, mechanism: "auto" }), /target.netns: no network namespace named "gdt-no-such-ns"/);
    assert.throws(() => packetLoss.plan(t({ netns: net.a }), { percent: 5, correlation: 10, mechanism: "auto" }), /correlation: correlated loss needs netem/);
  });
  test("overlap logic: absent fields match all, CIDRs intersect, directions share a hook", () => {
    const k = { direction: "egress", protocol: "tcp", dst: "10.0.0.0/24", dstPort: 80 } as const;
    assert.ok(overlaps(k, { direction: "both", protocol: "all", dst: "10.0.0.7" }));
    assert.ok(!overlaps(k, { direction: "egress", protocol: "tcp", dst: "10.0.1.7" }));
    assert.ok(!overlaps(k, { direction: "egress", protocol: "tcp", dstPort: 81 }));
    assert.ok(!overlaps(k, { direction: "ingress", protocol: "tcp" }));
    assert.ok(!overlaps(k, { direction: "egress", protocol: "udp" }));
  });
});

describe("in namespaces, real traffic", { timeout: 120_000 }, () => {
  test("latency (proxy): a TCP round trip A→B rises by the latency during the fault and returns after; rules exactly restored", async () => {
    const LAT = 150;
    const before = net.snapshot();
    const base = await rtt();
    assert.ok(base.median < 20, `baseline round trip ${JSON.stringify(base)}`);
    const t = tgt({ dstPort: PORTS.echo });
    await hold(latency, t, { latency: `${LAT}ms`, mechanism: "proxy" }, async (undo) => {
      assert.equal(undo.mechanism, "proxy");
      assert.match(sh("ip", "netns", "exec", net.a, "iptables-save", "-t", "nat"), new RegExp(`--comment "gameday:${undo.tag} latency egress tcp \\*:\\*>${net.ipB}:${PORTS.echo}" -j GAMEDAY-${undo.tag}`));
      const during = await rtt();
      // stated tolerance: −10 % (timer granularity) to +100 ms (scheduling on 2 busy cores)
      assert.ok(during.median >= LAT * 0.9 && during.median <= LAT + 100, `round trip during the fault ${JSON.stringify(during)}`);
      // another latency fault on the same flow is refused; another port is not
      assert.throws(() => latency.plan(t, latency.params.parse({ latency: "1s" })), /another gameday latency fault \(gameday:\w+\) already acts on overlapping traffic in netns/);
      assert.doesNotThrow(() => latency.plan(tgt({ dstPort: PORTS.sink }), latency.params.parse({ latency: "1s" })));
      // other traffic is not delayed: UDP to B still echoes at once
      const u = await net.runJson<{ received: number }>(net.a, UDP_CLIENT, [net.ipB, 20]);
      assert.equal(u.received, 20);
    });
    const afterward = await rtt();
    assert.ok(afterward.median < 20, `round trip after the revert ${JSON.stringify(afterward)}`);
    assert.deepEqual(net.snapshot(), before);
  });

  test("latency (proxy) and connections open before the fault: keep leaves them undelayed, reset aborts them", async () => {
    const t = tgt({ dstPort: PORTS.echo });
    for (const existing of ["keep", "reset"] as const) {
      const long = net.runStaged(net.a, LONG_CLIENT, [net.ipB, 2000]);
      assert.equal(await long.first, "connected");
      const r = await hold(latency, t, { latency: "300ms", existing, mechanism: "proxy" }, async () => JSON.parse(await long.done) as { max?: number; error?: string });
      if (existing === "keep") assert.ok(r.max !== undefined && r.max < 100, `an old connection is not redirected: ${JSON.stringify(r)}`);
      else assert.match(r.error ?? "", /^(ECONNABORTED|ECONNRESET)$/, JSON.stringify(r));
    }
  });

  test("latency with jitter (proxy, uniform 100 ± 40 ms): round trips spread over the band, centred on the latency", async () => {
    const r = await hold(latency, tgt({ dstPort: PORTS.echo }), { latency: "100ms", jitter: "40ms", distribution: "uniform", mechanism: "proxy" }, () =>
      net.runJson<{ median: number; all: number[] }>(net.a, RTT_CLIENT, [net.ipB, 31]),
    );
    const mean = r.all.reduce((a, b) => a + b, 0) / r.all.length;
    const sd = Math.sqrt(r.all.reduce((a, b) => a + (b - mean) ** 2, 0) / r.all.length);
    // uniform ±40 has sd 23 ms; 31 samples: generous bounds against scheduling noise
    assert.ok(sd > 8 && sd < 45, `spread ${sd.toFixed(1)} ms: ${r.all.join(" ")}`);
    assert.ok(Math.min(...r.all) >= 55 && r.median >= 75 && r.median <= 150, r.all.join(" "));
  });

  test("latency (netem) with real traffic", { skip: !detectNetem().ok && "this kernel has no sch_netem" }, async () => {
    const before = net.snapshot();
    await hold(latency, tgt({ dstPort: PORTS.echo }), { latency: "150ms", mechanism: "netem" }, async (undo) => {
      assert.equal(undo.dev, net.vethA);
      const during = await rtt();
      assert.ok(during.median >= 135 && during.median <= 250, JSON.stringify(during));
      const u = await net.runJson<{ received: number }>(net.a, UDP_CLIENT, [net.ipB, 20]);
      assert.equal(u.received, 20);
    });
    assert.ok((await rtt()).median < 20);
    assert.deepEqual(net.snapshot(), before);
  });

  test("packet loss 30 %: the loss observed over 400 UDP datagrams is within 30 ± 12 %", async () => {
    const before = net.snapshot();
    const N = 400;
    const r = await hold(packetLoss, tgt({ protocol: "udp", dstPort: PORTS.udp }), { percent: 30 }, async (undo) => {
      assert.equal(undo.mechanism, "iptables");
      return net.runJson<{ sent: number; received: number }>(net.a, UDP_CLIENT, [net.ipB, N]);
    });
    // binomial sd over 400 at p=0.3 is 2.3 %; ±12 % is over 5 sd
    const loss = 1 - r.received / N;
    assert.ok(loss > 0.18 && loss < 0.42, `observed loss ${(loss * 100).toFixed(1)} % (${r.received}/${N} echoed)`);
    const clean = await net.runJson<{ received: number }>(net.a, UDP_CLIENT, [net.ipB, 100]);
    assert.equal(clean.received, 100, "no loss after the revert");
    assert.deepEqual(net.snapshot(), before);
  });

  test("partition: A cannot reach B during the fault (both ways), and can after; rules exactly restored", async () => {
    const before = net.snapshot();
    assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 2000]), "ok");
    await hold(partition, tgt({ src: net.ipA, dst: net.ipB, protocol: "all", direction: "both" }), { action: "drop" }, async (undo) => {
      assert.deepEqual(undo.chains.map((c) => c.hooks[0]), ["OUTPUT", "INPUT", "FORWARD"]);
      assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 400]), "fail:timeout");
      // B → A is cut too: B's SYNs are dropped on A's INPUT
      assert.equal(await net.run(net.b, CONNECT_CLIENT, [net.ipA, 400]), "fail:timeout");
    });
    assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 2000]), "ok");
    assert.deepEqual(net.snapshot(), before);
  });

  test("bandwidth 2mbit: an upload A→B is capped during the fault, and fast after; qdiscs exactly restored", async () => {
    const before = net.snapshot();
    const RATE = rateBytesPerSec("2mbit");
    const BYTES = 400_000;
    const t = tgt({ dstPort: PORTS.sink });
    const during = await hold(bandwidth, t, { rate: "2mbit" }, async (undo) => {
      assert.equal(undo.dev, net.vethA);
      assert.match(sh("ip", "netns", "exec", net.a, "tc", "qdisc", "show", "dev", net.vethA), /qdisc htb 6764: root/);
      assert.throws(() => bandwidth.plan(t, { rate: "1mbit" }), /another gameday network fault already shapes/);
      return net.runJson<{ ms: number; bytes: number }>(net.a, UPLOAD_CLIENT, [net.ipB, BYTES]);
    });
    assert.equal(during.bytes, BYTES);
    const rateDuring = BYTES / (during.ms / 1000);
    assert.ok(rateDuring < RATE * 1.5, `throughput during the cap ${Math.round(rateDuring)} B/s (cap ${RATE})`);
    const fast = await net.runJson<{ ms: number; bytes: number }>(net.a, UPLOAD_CLIENT, [net.ipB, BYTES]);
    assert.ok(BYTES / (fast.ms / 1000) > RATE * 4, `throughput after ${Math.round(BYTES / (fast.ms / 1000))} B/s`);
    assert.deepEqual(net.snapshot(), before);
  });

  test("a table the fault brought into being is deleted again, so iptables-save is as empty as before (needs nft)", { skip: !onPath("nft") && "nft (package nftables) is not installed" }, async () => {
    assert.equal(net.snapshot().iptables[net.b].trim(), "", "B starts without any iptables table");
    await hold(packetLoss, { kind: "network", netns: net.b, direction: "egress", protocol: "udp", dst: net.ipA, dstPort: 9 }, { percent: 10 }, async (undo) => {
      assert.deepEqual(undo.tablesBefore, []);
      assert.match(net.snapshot().iptables[net.b], /^\*filter$/m);
    });
    assert.equal(net.snapshot().iptables[net.b].trim(), "");
  });

  test("a root qdisc somebody configured is refused, never replaced", () => {
    sh("ip", "netns", "exec", net.b, "tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb");
    try {
      assert.throws(() => bandwidth.plan({ kind: "network", netns: net.b, interface: "lo", direction: "egress", protocol: "tcp", dstPort: 1 }, { rate: "1mbit" }), /lo already has a configured root qdisc \(qdisc htb 1: root/);
    } finally {
      sh("ip", "netns", "exec", net.b, "tc", "qdisc", "del", "dev", "lo", "root");
    }
  });
});

describe("after a worker SIGKILL mid-fault", { timeout: 120_000 }, () => {
  const probe = http.createServer((_q, s) => s.end("ok"));
  const home = tempHome();
  after(async () => {
    await worker?.stop("SIGKILL");
    probe.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  test("the restarted worker leaves iptables-save and tc qdisc show (namespaces and host) exactly as before", async () => {
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
    const before = net.snapshot();
    worker = await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
    const target = (o: string) => `{ network: { netns: ${net.a}, dst: ${net.ipB}, ${o} } }`;
    const yaml = `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: net-crash }
spec:
  hypothesis: a crash of the worker leaves no network fault behind
  targets:
    echo: ${target(`dstPort: ${PORTS.echo}`)}
    udp: ${target(`protocol: udp, dstPort: ${PORTS.udp}`)}
    sink: ${target(`dstPort: ${PORTS.sink}`)}
  steadyState: { probes: [ { name: up, type: http, url: "${url}", interval: 100ms, tolerance: { min: 0.5 } } ] }
  method:
    - { fault: latency, target: echo, params: { latency: 300ms, mechanism: proxy }, duration: 10m }
    - { fault: packet-loss, target: udp, params: { percent: 50 }, duration: 10m }
    - { fault: bandwidth, target: sink, params: { rate: 1mbit }, duration: 10m }
`;
    const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await waitFor(
      "all three faults in place",
      () => {
        const s = net.snapshot();
        return (s.iptables[net.a].match(/gameday:/g) ?? []).length === 2 && /htb 6764:/.test(s.tc[net.a]) && s.cgroups.length > before.cgroups.length;
      },
      20_000,
    );
    const slow = await rtt();
    assert.ok(slow.median >= 270, `latency in place before the crash: ${JSON.stringify(slow)}`);

    await worker.stop("SIGKILL");
    worker = undefined;
    // the proxy notices its parent is gone and exits; the rules stay until recovery
    await waitFor("the delaying proxy to exit with its worker", () => !proxies().length, 5000);
    assert.match(net.snapshot().iptables[net.a], /gameday:/);

    worker = await startWorkerProcess(home);
    await waitFor("recovery to restore everything", () => JSON.stringify(net.snapshot()) === JSON.stringify(before), 15_000);
    assert.deepEqual(net.snapshot(), before);
    const { body } = await apiCall<{ run: RunRecord }>(worker, "GET", `/api/v1/runs/${r.body.run.id}`);
    assert.equal(body.run.state, "failed");
    assert.equal(body.run.faults.length, 3);
    for (const f of body.run.faults) assert.equal(f.state, "reverted", JSON.stringify(f));
    // the run record says how each fault was made
    const ev = await apiCall<{ events: { kind: string; message: string }[] }>(worker, "GET", `/api/v1/runs/${r.body.run.id}/events`);
    const recovered = ev.body.events.filter((e) => e.kind === "recovered").map((e) => e.message);
    assert.equal(recovered.length, 3, JSON.stringify(ev.body.events));
    for (const [fault, mech] of [["latency", "proxy"], ["packet-loss", "iptables"], ["bandwidth", "htb"]])
      assert.ok(recovered.some((m) => m.includes(`${fault} on `) && m.includes(`mechanism ${mech} (`)), `${fault}/${mech}: ${recovered.join("\n")}`);
    assert.ok((await rtt()).median < 20);
  });
});

function proxies(): string[] {
  const r = spawnSync("pgrep", ["-f", `delay-proxy.mjs.*--upstream-host ${net.ipB.replace(/\./g, "\\.")} `], { encoding: "utf8" });
  return r.stdout.split("\n").filter(Boolean);
}
