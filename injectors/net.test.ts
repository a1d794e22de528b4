// Network faults against real traffic between two namespaces this file
// creates (veth pair, 10.213.x.0/24): latency through the delaying proxy,
// packet loss, partition, bandwidth; exact restore of iptables-save and tc
// qdisc show, also after a worker SIGKILL; the netem path's exact commands
// and detection (this kernel has no sch_netem).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { RunRecord } from "../lib/contract";
import { apiCall, killHard, sleep, startWorkerProcess, tempHome, waitFor, waitForLine, type WorkerProc } from "../e2e/kit";
import { addForeignRules, CONNECT_CLIENT, LONG_CLIENT, createTestNet, PORTS, RTT_CLIENT, sh, tcClasses, UDP_CLIENT, UPLOAD_CLIENT, type TestNet } from "../e2e/netns";
import { cmdText } from "./net/cmd";
import { detectNetem } from "./net/detect";
import { keyText, overlaps, parseKey, u32Match } from "./net/select";
import { ensureRoot, htbCommands, netemArgs, netemCommands, parseFilters, removeRootIfUnused, tcKey, tcRevertCommands, type TcSlot } from "./net/tc";
import type { NetworkSelector } from "../lib/experiment";
import { readProc } from "../lib/procfs";
import { parseTopology } from "../lib/topology";
import { resolveNetwork, resolveTargets } from "./targets/resolve";
import { bandwidth, rateBytesPerSec } from "./bandwidth";
import { chooseMechanism, latency, planLatency, proxyProblem } from "./latency";
import { cgroup2Root, revertNet, verifyNet, type NetUndo } from "./net-fault";
import { packetLoss } from "./packet-loss";
import { partition } from "./partition";
import { onPath } from "./load/engine";
import { targetId, targetLabel, type AnyInjector, type NetworkTarget } from "./types";

// the evidence the faults keep (counters read before revert) goes to a home of this file's own, not to ~/.gameday
process.env.GAMEDAY_HOME = tempHome();

let net: TestNet;
// for the skip conditions, known when the tests are defined (cached: the tests below reuse it)
const netemHere = await detectNetem();
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
  const undo = await inj.plan(target, params) as NetUndo;
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

  test("detection tries netem for real (missing on the CI kernel); the result is cached; no probe namespace is left", async () => {
    const d = await detectNetem(true);
    if (d.ok) assert.match(d.detail, /sch_netem works/);
    else assert.match(d.detail, /no sch_netem: .*(unknown|not found|No such)/i);
    assert.equal(await detectNetem(), d, "cached");
    // other processes on the host may be probing right now: only ours must be gone
    assert.doesNotMatch(sh("ip", "netns", "list"), new RegExp(`gd-probe-${process.pid}-`));
  });

  test("a probe namespace whose prober was killed is removed by the next probe; a live prober's is kept", async () => {
    const dead = spawnSync("true").pid!;
    const stale = `gd-probe-${dead}-0badc0de`;
    const live = `gd-probe-${process.ppid}-0badc0de`;
    sh("ip", "netns", "add", stale);
    sh("ip", "netns", "add", live);
    try {
      await detectNetem(true);
      const list = sh("ip", "netns", "list");
      assert.doesNotMatch(list, new RegExp(stale), "the dead prober's namespace is gone");
      assert.match(list, new RegExp(live), "a live process's probe is not ours to remove");
    } finally {
      spawnSync("ip", ["netns", "del", stale]);
      spawnSync("ip", ["netns", "del", live]);
    }
  });

  test("auto picks netem when detected, the proxy when not; forcing netem without it is refused", () => {
    assert.deepEqual(chooseMechanism("auto", { ok: true, detail: "" }).mechanism, "netem");
    assert.deepEqual(chooseMechanism("auto", { ok: false, detail: "no sch_netem: x" }), { mechanism: "proxy", why: "auto: no sch_netem: x" });
    assert.equal(chooseMechanism("proxy", { ok: true, detail: "" }).mechanism, "proxy");
    assert.throws(() => chooseMechanism("netem", { ok: false, detail: "no sch_netem: x" }), /mechanism: netem was asked for, but no sch_netem/);
  });

  const slot = (minor: number, netem: boolean): TcSlot => ({ minor, prio: minor, ...(netem ? { leaf: minor } : {}), key: tcKey(t) });

  test("latency + jitter + correlation + distribution: shared htb root, a class of its own with a netem leaf, u32 filter of its own prio for the selection only", () => {
    assert.deepEqual(
      netemCommands("eth0", t, { delayMs: 500, jitterMs: 50, correlationPct: 25, distribution: "pareto" }, slot(0x1a2b, true)).map(cmdText),
      [
        "ip netns exec ns1 tc qdisc add dev eth0 root handle 6764: htb default 1",
        "ip netns exec ns1 tc class add dev eth0 parent 6764: classid 6764:1 htb rate 100gbit",
        "ip netns exec ns1 tc class add dev eth0 parent 6764: classid 6764:1a2b htb rate 100gbit",
        "ip netns exec ns1 tc qdisc add dev eth0 parent 6764:1a2b handle 1a2b: netem delay 500ms 50ms 25% distribution pareto",
        "ip netns exec ns1 tc filter add dev eth0 parent 6764: protocol ip prio 6699 u32 match ip protocol 6 0xff match ip dst 10.0.0.2/32 match ip dport 5432 0xffff flowid 6764:1a2b",
      ],
    );
    // a second fault on the device: the root is there already, only its class, leaf and filter
    assert.deepEqual(netemCommands("eth0", { ...t, dstPort: 5433 }, { delayMs: 100 }, slot(0x2c, true), false).map(cmdText), [
      "ip netns exec ns1 tc class add dev eth0 parent 6764: classid 6764:2c htb rate 100gbit",
      "ip netns exec ns1 tc qdisc add dev eth0 parent 6764:2c handle 2c: netem delay 100ms",
      "ip netns exec ns1 tc filter add dev eth0 parent 6764: protocol ip prio 44 u32 match ip protocol 6 0xff match ip dst 10.0.0.2/32 match ip dport 5433 0xffff flowid 6764:2c",
    ]);
    // revert: its own filter, leaf and class (the root goes with the last class)
    assert.deepEqual(tcRevertCommands("eth0", "ns1", slot(0x2c, true)).map(cmdText), [
      "ip netns exec ns1 tc filter del dev eth0 parent 6764: protocol ip prio 44",
      "ip netns exec ns1 tc qdisc del dev eth0 parent 6764:2c handle 2c:",
      "ip netns exec ns1 tc class del dev eth0 classid 6764:2c",
    ]);
    assert.deepEqual(netemArgs({ delayMs: 100 }), ["delay", "100ms"]);
    assert.deepEqual(netemArgs({ delayMs: 100, jitterMs: 10, distribution: "uniform" }), ["delay", "100ms", "10ms"]);
    assert.deepEqual(netemArgs({ lossPct: 5, lossCorrelationPct: 30 }), ["loss", "random", "5%", "30%"]);
    assert.deepEqual(u32Match({ protocol: "all" }), ["match", "u32", "0", "0"]);
    assert.deepEqual(u32Match({ protocol: "udp", src: "10.1.0.0/16", srcPort: 53 }), ["match", "ip", "protocol", "17", "0xff", "match", "ip", "src", "10.1.0.0/16", "match", "ip", "sport", "53", "0xffff"]);
  });

  test("correlated loss (netem): the same layout, netem loss on the fault's leaf", async () => {
    const u = { ...t, protocol: "udp" as const, dstPort: 53 };
    assert.deepEqual(netemCommands("eth0", u, { lossPct: 5, lossCorrelationPct: 30 }, { ...slot(0x3d, true), key: tcKey(u) }).map(cmdText), [
      "ip netns exec ns1 tc qdisc add dev eth0 root handle 6764: htb default 1",
      "ip netns exec ns1 tc class add dev eth0 parent 6764: classid 6764:1 htb rate 100gbit",
      "ip netns exec ns1 tc class add dev eth0 parent 6764: classid 6764:3d htb rate 100gbit",
      "ip netns exec ns1 tc qdisc add dev eth0 parent 6764:3d handle 3d: netem loss random 5% 30%",
      "ip netns exec ns1 tc filter add dev eth0 parent 6764: protocol ip prio 61 u32 match ip protocol 17 0xff match ip dst 10.0.0.2/32 match ip dport 53 0xffff flowid 6764:3d",
    ]);
  });

  test("correlated loss on this host: packet-loss plans netem loss on the fault's leaf", { skip: !netemHere.ok && "this kernel has no sch_netem (packet-loss refuses correlation without it: see the refusals below)" }, async () => {
    const pl = await packetLoss.plan({ kind: "network", netns: net.a, direction: "egress", protocol: "udp", dst: net.ipB, dstPort: PORTS.udp }, { percent: 5, correlation: 30, mechanism: "auto" }) as NetUndo;
    assert.match(pl.commands.join("\n"), /netem loss random 5% 30%/);
  });

  test("a netem plan (mechanism forced, detection says yes) records the device, its qdiscs before, its class, and the commands", async () => {
    const target: NetworkTarget = { kind: "network", netns: net.a, direction: "egress", protocol: "tcp", dst: net.ipB, dstPort: 5432 };
    const u = await planLatency(target, latency.params.parse({ latency: "100ms", mechanism: "netem" }), { ok: true, detail: "pretend" });
    assert.equal(u.mechanism, "netem");
    assert.equal(u.dev, net.vethA, "the route towards dst picks the veth");
    assert.equal(u.qdiscBefore, sh("ip", "netns", "exec", net.a, "tc", "qdisc", "show", "dev", net.vethA));
    const m = u.tc!.minor.toString(16);
    assert.deepEqual(u.tc, { minor: u.tc!.minor, prio: u.tc!.minor, leaf: u.tc!.minor, key: { direction: "egress", protocol: "tcp", dst: `${net.ipB}/32`, dstPort: 5432 } });
    assert.ok(u.tc!.minor >= 2 && u.tc!.minor !== 0x6764);
    assert.equal(u.commands.length, 5);
    assert.match(u.commands[0], new RegExp(`^ip netns exec ${net.a} tc qdisc add dev ${net.vethA} root handle 6764: htb default 1$`));
    assert.match(u.commands[3], new RegExp(`^ip netns exec ${net.a} tc qdisc add dev ${net.vethA} parent 6764:${m} handle ${m}: netem delay 100ms$`));
    await assert.rejects(() => planLatency({ ...target, direction: "ingress" }, latency.params.parse({ latency: "1s", mechanism: "netem" }), { ok: true, detail: "" }), /target.direction: netem delays egress/);
  });

  test("htb for bandwidth: capped class for the selection, unthrottled default for the rest", () => {
    assert.deepEqual(htbCommands("lo", { ...t, netns: undefined }, "1mbit", undefined, slot(0x2c, false)).map(cmdText), [
      "tc qdisc add dev lo root handle 6764: htb default 1",
      "tc class add dev lo parent 6764: classid 6764:1 htb rate 100gbit",
      "tc class add dev lo parent 6764: classid 6764:2c htb rate 1mbit ceil 1mbit",
      "tc filter add dev lo parent 6764: protocol ip prio 44 u32 match ip protocol 6 0xff match ip dst 10.0.0.2/32 match ip dport 5432 0xffff flowid 6764:2c",
    ]);
    assert.deepEqual(tcRevertCommands("lo", undefined, slot(0x2c, false)).map(cmdText), ["tc filter del dev lo parent 6764: protocol ip prio 44", "tc class del dev lo classid 6764:2c"]);
    assert.equal(rateBytesPerSec("1mbit"), 125_000);
    assert.equal(rateBytesPerSec("2mbps"), 2_000_000);
  });

  test("u32 filters read back from tc filter show: the selection gameday wrote, anything else unknown", () => {
    const text = `filter parent 6764: protocol ip pref 44 u32 chain 0 
filter parent 6764: protocol ip pref 44 u32 chain 0 fh 801: ht divisor 1 
filter parent 6764: protocol ip pref 44 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 *flowid 6764:2c not_in_hw 
  match 00000000/00000000 at 0
filter parent 6764: protocol ip pref 45 u32 chain 0 fh 802::800 order 2048 key ht 802 bkt 0 *flowid 6764:2d not_in_hw 
  match 0a010000/ffff0000 at 12
  match 00110000/00ff0000 at 8
filter parent 6764: protocol ip pref 6699 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid 6764:1a2b not_in_hw 
  match 00060000/00ff0000 at 8
  match 0a000002/ffffffff at 16
  match 00501538/ffffffff at 20
filter parent 6764: protocol ip pref 7 u32 chain 0 fh 803::800 order 2048 key ht 803 bkt 0 flowid 1:3 not_in_hw 
  match 00000040/000000ff at 0
`;
    assert.deepEqual(parseFilters(text), [
      { prio: 44, minor: 0x2c, key: { direction: "egress", protocol: "all" } },
      { prio: 45, minor: 0x2d, key: { direction: "egress", protocol: "udp", src: "10.1.0.0/16" } },
      { prio: 6699, minor: 0x1a2b, key: { direction: "egress", protocol: "tcp", dst: "10.0.0.2/32", srcPort: 80, dstPort: 5432 } },
      { prio: 7, minor: NaN, key: null },
    ]);
    assert.deepEqual(tcKey({ protocol: "tcp", dst: "10.0.0.2", srcPort: 80, dstPort: 5432 }), parseFilters(text)[2].key);
    assert.deepEqual(tcKey({ protocol: "udp", src: "10.1.2.3/16" }), parseFilters(text)[1].key);
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
  test("targets the mechanism cannot serve", async () => {
    const t = (o: Partial<NetworkTarget>): NetworkTarget => ({ kind: "network", direction: "egress", protocol: "tcp", dst: "10.0.0.2", dstPort: 1, ...o });
    assert.match(proxyProblem(t({ protocol: "udp" }))!, /^target.protocol: the proxy mechanism delays TCP only/);
    assert.match(proxyProblem(t({ dst: "10.0.0.0/24" }))!, /^target.dst: the proxy mechanism needs one destination/);
    assert.match(proxyProblem(t({ dstPort: undefined }))!, /^target.dstPort/);
    assert.equal(proxyProblem(t({ dst: "10.0.0.2/32" })), null);
    await assert.rejects(async () => await partition.plan(t({ netns: net.a, src: undefined }), { action: "drop" }), /target.src: a partition is between two sides/);
    await assert.rejects(async () => await packetLoss.plan(t({ netns: "gdt-no-such-ns" }), { percent: 5, correlation: 0, mechanism: "auto" }), /target.netns: no network namespace named "gdt-no-such-ns"/);
    await assert.rejects(async () => await packetLoss.plan(t({ netns: net.a }), { percent: 5, correlation: 10, mechanism: "auto" }), /correlation: correlated loss needs netem/);
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
      await assert.rejects(async () => await latency.plan(t, latency.params.parse({ latency: "1s" })), /another gameday latency fault \(gameday:\w+\) already acts on overlapping traffic in netns/);
      await assert.doesNotReject(async () => await latency.plan(tgt({ dstPort: PORTS.sink }), latency.params.parse({ latency: "1s" })));
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

  test("latency (netem) with real traffic", { skip: !netemHere.ok && "this kernel has no sch_netem" }, async () => {
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

  test("partition with action reject: A's connection to B is refused at once instead of timing out; rules exactly restored", async () => {
    const before = net.snapshot();
    await hold(partition, tgt({ src: net.ipA, dst: net.ipB, protocol: "all", direction: "both" }), { action: "reject" }, async () => {
      assert.match(sh("ip", "netns", "exec", net.a, "iptables-save", "-t", "filter"), /-j REJECT/);
      const t0 = performance.now();
      // REJECT answers with ICMP port unreachable: connect() fails with ECONNREFUSED, well before the 1.5 s timeout
      assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 1500]), "fail:ECONNREFUSED");
      assert.ok(performance.now() - t0 < 1500, "refused before the timeout");
    });
    assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 2000]), "ok");
    assert.deepEqual(net.snapshot(), before);
  });

  test("packet loss 100 % on ingress, in B for its echo port: A cannot connect to that port, can to another one, and B's rules sit in INPUT only", async () => {
    const before = net.snapshot();
    const inB = (over: Partial<NetworkTarget>) => tgt({ netns: net.b, direction: "ingress", src: net.ipA, dst: net.ipB, ...over });
    await hold(packetLoss, inB({ dstPort: PORTS.echo }), { percent: 100 }, async (undo) => {
      assert.deepEqual(undo.chains.map((c) => c.hooks), [["INPUT"]]);
      assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 400]), "fail:timeout");
      assert.equal(await net.runJson<{ ms: number; bytes: number }>(net.a, UPLOAD_CLIENT, [net.ipB, 1000, PORTS.sink]).then((r) => r.bytes), 1000, "another port of B is untouched");
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
      await assert.rejects(async () => await bandwidth.plan(t, { rate: "1mbit" }), /another gameday network fault \(class 6764:\w+\) already shapes overlapping traffic on \S+ in netns \S+: tcp \*:\*>[\d.]+\/32:7003; a packet takes one tc class/);
      return net.runJson<{ ms: number; bytes: number }>(net.a, UPLOAD_CLIENT, [net.ipB, BYTES]);
    });
    assert.equal(during.bytes, BYTES);
    const rateDuring = BYTES / (during.ms / 1000);
    assert.ok(rateDuring < RATE * 1.5, `throughput during the cap ${Math.round(rateDuring)} B/s (cap ${RATE})`);
    const fast = await net.runJson<{ ms: number; bytes: number }>(net.a, UPLOAD_CLIENT, [net.ipB, BYTES]);
    assert.ok(BYTES / (fast.ms / 1000) > RATE * 4, `throughput after ${Math.round(BYTES / (fast.ms / 1000))} B/s`);
    assert.deepEqual(net.snapshot(), before);
  });

  test("two bandwidth faults on two ports of one device share one root: both capped, other traffic not; revert one, the other stays; revert both, qdiscs and classes as before", async () => {
    const before = net.snapshot();
    const qdiscBefore = sh("ip", "netns", "exec", net.a, "tc", "qdisc", "show", "dev", net.vethA);
    const RATE = rateBytesPerSec("2mbit");
    const BYTES = 400_000;
    const upload = async (port: number) => {
      const r = await net.runJson<{ ms: number; bytes: number }>(net.a, UPLOAD_CLIENT, [net.ipB, BYTES, port]);
      assert.equal(r.bytes, BYTES, JSON.stringify(r));
      return BYTES / (r.ms / 1000);
    };
    const capped = (port: number, bps: number) => assert.ok(bps < RATE * 1.5, `throughput to ${port} during its cap ${Math.round(bps)} B/s (cap ${RATE})`);
    const free = (port: number, bps: number) => assert.ok(bps > RATE * 4, `throughput to ${port}, not capped: ${Math.round(bps)} B/s`);
    const params = bandwidth.params.parse({ rate: "2mbit" });
    const [t1, t2] = [tgt({ dstPort: PORTS.sink }), tgt({ dstPort: PORTS.sink2 })];
    const put = async (t: NetworkTarget) => {
      const u = await bandwidth.plan(t, params) as NetUndo;
      inPlace.push(u);
      await bandwidth.inject(t, params, { runId: "test", signal: ac.signal, undo: u });
      return u;
    };
    const off = async (t: NetworkTarget, u: NetUndo) => {
      await bandwidth.revert(t, u);
      const v = await bandwidth.verify(t, u);
      assert.ok(v.ok, v.detail);
      inPlace.splice(inPlace.indexOf(u), 1);
    };
    const u1 = await put(t1);
    const u2 = await put(t2);
    assert.notEqual(u1.tc!.minor, u2.tc!.minor);
    assert.equal(u1.qdiscBefore, qdiscBefore, "the first fault saw the default root");
    assert.equal(u2.qdiscBefore, undefined, "the second found gameday's root in place");
    assert.deepEqual(u2.commands.length, 2, "the second adds its class and filter only");
    const qd = sh("ip", "netns", "exec", net.a, "tc", "qdisc", "show", "dev", net.vethA);
    assert.equal((qd.match(/qdisc htb 6764: root/g) ?? []).length, 1, qd);
    const classes = () => [...tcClasses(net.a).matchAll(/class htb 6764:(\w+) /g)].map((m) => m[1]).sort();
    assert.deepEqual(classes(), ["1", u1.tc!.minor.toString(16), u2.tc!.minor.toString(16)].sort());
    // the same traffic again is refused (a packet takes one class), whatever the kind
    await assert.rejects(async () => await bandwidth.plan(t1, params), /another gameday network fault \(class 6764:\w+\) already shapes overlapping traffic/);
    await assert.rejects(() => planLatency(tgt({ protocol: "all" }), latency.params.parse({ latency: "10ms", mechanism: "netem" }), { ok: true, detail: "pretend" }), /already shapes overlapping traffic/);
    const [r1, r2, r3] = await Promise.all([upload(PORTS.sink), upload(PORTS.sink2), upload(PORTS.sink3)]);
    capped(PORTS.sink, r1);
    capped(PORTS.sink2, r2);
    free(PORTS.sink3, r3);
    assert.ok((await rtt()).median < 20, "other traffic undelayed");

    await off(t1, u1);
    assert.match(sh("ip", "netns", "exec", net.a, "tc", "qdisc", "show", "dev", net.vethA), /qdisc htb 6764: root/, "the root stays for the second fault");
    assert.deepEqual(classes(), ["1", u2.tc!.minor.toString(16)].sort());
    const [s1, s2] = await Promise.all([upload(PORTS.sink), upload(PORTS.sink2)]);
    free(PORTS.sink, s1);
    capped(PORTS.sink2, s2);

    await off(t2, u2);
    assert.deepEqual(net.snapshot(), before);
    free(PORTS.sink2, await upload(PORTS.sink2));
    // revert again (a recovery after the fact): a no-op
    await revertNet(u1);
    await revertNet(u2);
    assert.deepEqual(net.snapshot(), before);
  });

  test("an undo of the root-per-fault layout (journaled by an older version) still reverts: its root goes, a shared root does not", async () => {
    const before = net.snapshot();
    const dev = net.vethA;
    const inA = (...a: string[]) => sh("ip", "netns", "exec", net.a, "tc", ...a);
    const qdiscBefore = inA("qdisc", "show", "dev", dev);
    // what the older htbCommands ran
    inA("qdisc", "add", "dev", dev, "root", "handle", "6764:", "htb", "default", "2");
    inA("class", "add", "dev", dev, "parent", "6764:", "classid", "6764:1", "htb", "rate", "1mbit", "ceil", "1mbit");
    inA("class", "add", "dev", dev, "parent", "6764:", "classid", "6764:2", "htb", "rate", "100gbit");
    inA("filter", "add", "dev", dev, "parent", "6764:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "dport", String(PORTS.sink), "0xffff", "flowid", "6764:1");
    const old = { tag: "0ld0ld00", mechanism: "htb", why: "tc htb with a u32 filter", netns: net.a, dev, qdiscBefore, chains: [], commands: [] } as NetUndo;
    inPlace.push(old);
    // a new fault does not go under the old layout's root
    await assert.rejects(async () => await bandwidth.plan(tgt({ dstPort: PORTS.sink2 }), { rate: "1mbit" }), /another gameday network fault already shapes .* \(root qdisc htb 6764: of the one-fault-per-device layout\)/);
    await revertNet(old);
    assert.ok((await verifyNet(old)).ok);
    assert.deepEqual(net.snapshot(), before);
    // and an old undo replayed over the shared root of the new layout leaves it alone
    await hold(bandwidth, tgt({ dstPort: PORTS.sink2 }), { rate: "1mbit" }, async () => {
      await revertNet(old);
      assert.match(inA("qdisc", "show", "dev", dev), /qdisc htb 6764: root .*default 0x1/);
      assert.match(tcClasses(net.a), /class htb 6764:1 /);
    });
    inPlace.splice(inPlace.indexOf(old), 1);
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

  test("the shared root another process added (or is adding) is joined, not refused; removed once no fault class is left", async () => {
    const before = net.snapshot();
    const inB = (...a: string[]) => sh("ip", "netns", "exec", net.b, "tc", ...a);
    // another process got as far as the root, not yet its default class
    inB("qdisc", "add", "dev", "lo", "root", "handle", "6764:", "htb", "default", "1");
    try {
      await ensureRoot("lo", net.b);
      assert.match(inB("class", "show", "dev", "lo"), /^class htb 6764:1 root .*rate 100Gbit/m);
      await ensureRoot("lo", net.b); // all there: a no-op
      assert.equal((inB("class", "show", "dev", "lo").match(/^class /gm) ?? []).length, 1);
    } finally {
      await removeRootIfUnused("lo", net.b);
    }
    assert.deepEqual(net.snapshot(), before);
  });

  test("a root qdisc somebody configured is refused, never replaced", async () => {
    sh("ip", "netns", "exec", net.b, "tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb");
    try {
      await assert.rejects(async () => await bandwidth.plan({ kind: "network", netns: net.b, interface: "lo", direction: "egress", protocol: "tcp", dstPort: 1 }, { rate: "1mbit" }), /lo already has a configured root qdisc \(qdisc htb 1: root/);
    } finally {
      sh("ip", "netns", "exec", net.b, "tc", "qdisc", "del", "dev", "lo", "root");
    }
  });
});

// ------------------------------------------------- targets: processes, nodes, cgroups

/** Exit when the test process is gone, so nothing outlives a crashed run. */
const WATCH = "const __p=process.ppid;setInterval(()=>{if(process.ppid!==__p)process.exit(0)},250).unref();";
/** An echo server on IP:7111 and one on every address (0.0.0.0):7112; argv[2] only marks the command line. */
const TARGET_SERVER = `${WATCH}setInterval(()=>{},1e9);const net=require("net");let n=0;const up=()=>{if(++n===2)console.log("ready")};
const echo=()=>net.createServer(s=>{s.on("error",()=>{});s.pipe(s)});echo().listen(7111,process.argv[1],up);echo().listen(7112,"0.0.0.0",up);`;
/** Median of n ping-pongs to IP:PORT on one connection. */
const RTT_TO = `${WATCH}const [ip,port,n]=[process.argv[1],Number(process.argv[2]),Number(process.argv[3])];
const s=require("net").connect(port,ip,async()=>{const t=[];for(let i=0;i<n;i++){const t0=performance.now();s.write("x");await new Promise(r=>s.once("data",r));t.push(performance.now()-t0)}
t.sort((a,b)=>a-b);console.log(JSON.stringify({median:t[Math.floor(n/2)]}));process.exit(0)});
s.on("error",e=>{console.log(JSON.stringify({error:e.code}));process.exit(0)});setTimeout(()=>{console.log(JSON.stringify({error:"timeout"}));process.exit(0)},20000);`;
/** Can a TCP connection to IP:PORT be made within ms? */
const CONNECT_TO = `${WATCH}const [ip,port,ms]=[process.argv[1],Number(process.argv[2]),Number(process.argv[3])];
const s=require("net").connect(port,ip,()=>{console.log("ok");process.exit(0)});
s.on("error",e=>{console.log("fail:"+e.code);process.exit(0)});setTimeout(()=>{console.log("fail:timeout");process.exit(0)},ms);`;

const rttTo = async (ns: string, ip: string, port: number) => JSON.parse(await net.run(ns, RTT_TO, [ip, port, 7])) as { median: number; error?: string };
const connectTo = (ns: string, ip: string, port: number, ms: number) => net.run(ns, CONNECT_TO, [ip, port, ms]);

describe("network targets aimed at a process or a topology node", { timeout: 120_000 }, () => {
  const marker = `gdt-target-${process.pid}`;
  let srv: ChildProcess;
  let idle: ChildProcess;
  const sel = (o: Partial<NetworkSelector>): NetworkSelector => ({ direction: "egress", protocol: "tcp", ...o });
  const topo = () =>
    parseTopology(`apiVersion: gameday/v1
kind: Topology
metadata: { name: t }
spec:
  nodes:
    - { id: echo, selector: { process: { cmdline: "${marker}( |$)" } } }
    - { id: idle, selector: { process: { cmdline: "${marker}-idle" } } }`);

  before(async () => {
    srv = spawn("ip", ["netns", "exec", net.b, process.execPath, "-e", TARGET_SERVER, net.ipB, marker], { stdio: ["ignore", "pipe", "inherit"] });
    await waitForLine(srv, (l) => l === "ready", 10_000, "the target server");
    idle = spawn(process.execPath, ["-e", `${WATCH}setInterval(()=>{},1e9)`, `${marker}-idle`], { stdio: "ignore" });
    await waitFor("the idle process", () => readProc(idle.pid!)?.cmdline.includes(`${marker}-idle`), 5000);
  });
  after(async () => {
    await killHard(srv, "SIGKILL");
    await killHard(idle, "SIGKILL");
  });

  test("a process's listening sockets become targets: its address and port; a wildcard listener selects by port (other namespace) or by every local address (its own)", () => {
    const fromA = resolveNetwork(sel({ netns: net.a, process: { pids: [srv.pid!] } }), null);
    assert.equal(fromA.who, `process pids=${srv.pid}`);
    assert.deepEqual(fromA.listeners, [`${net.ipB}:7111`, "0.0.0.0:7112"]);
    const inA = { kind: "network", netns: net.a, direction: "egress", protocol: "tcp" } as const;
    assert.deepEqual(fromA.targets, [
      { ...inA, dst: net.ipB, dstPort: 7111 },
      { ...inA, dstPort: 7112 },
    ]);
    assert.equal(fromA.problem, undefined);
    // the same by command line; a dstPort keeps only that port
    assert.deepEqual(resolveNetwork(sel({ netns: net.a, process: { cmdline: `${marker}( |$)` } }), null).targets, fromA.targets);
    assert.deepEqual(resolveNetwork(sel({ netns: net.a, process: { pids: [srv.pid!] }, dstPort: 7112 }), null).targets, [{ ...inA, dstPort: 7112 }]);
    // rules in the server's own namespace: the wildcard listener is reached on any of its addresses
    const inB = resolveNetwork(sel({ netns: net.b, process: { pids: [srv.pid!] } }), null).targets;
    assert.deepEqual(inB[1], { kind: "network", netns: net.b, direction: "egress", protocol: "tcp", dstPort: 7112, dstLocal: true });
    assert.equal(targetLabel(inB[1]), `tcp * → local:7112 (egress in netns ${net.b})`);
  });

  test("a topology node resolves the same way and the resolution names the node; no listening port and protected processes are said plainly", async () => {
    const r = await resolveTargets({ network: sel({ node: "echo", netns: net.a }), mode: "all" }, topo(), new Set());
    assert.equal(r.node, "echo");
    assert.equal(r.selector, `network to node echo (1 process(es) listening on ${net.ipB}:7111, 0.0.0.0:7112)`);
    assert.equal(r.matched.length, 2);
    const none = await resolveTargets({ network: sel({ node: "idle" }), mode: "all" }, topo(), new Set());
    assert.deepEqual({ selector: none.selector, problem: none.problem, matched: none.matched, node: none.node }, {
      selector: "network to node idle (1 process(es) listening on no TCP port)",
      problem: "node idle: its process listens on no TCP port",
      matched: [],
      node: "idle",
    });
    assert.equal(resolveNetwork(sel({ node: "echo", dstPort: 9 }), topo()).problem, "node echo: its process listens on no TCP port 9");
    // Game Day itself is never a target, network faults included
    const self = resolveNetwork(sel({ process: { pids: [process.pid] } }), null);
    assert.deepEqual(self.targets, []);
    assert.equal(self.protected[0]?.pid, process.pid);
    assert.equal(self.problem, undefined, "no process matched: the runner says so (matched no traffic)");
  });

  test("latency (proxy) on the process's port: the round trip to it rises, to another port it does not; then everything is as before", async () => {
    const before = net.snapshot();
    const [t] = resolveNetwork(sel({ netns: net.a, process: { cmdline: `${marker}( |$)` } }), null).targets;
    assert.ok((await rttTo(net.a, net.ipB, 7111)).median < 20);
    await hold(latency, t, { latency: "150ms", mechanism: "proxy" }, async () => {
      const to = await rttTo(net.a, net.ipB, 7111);
      assert.ok(to.median >= 135 && to.median <= 250, `round trip to the process during the fault ${JSON.stringify(to)}`);
      const other = await rttTo(net.a, net.ipB, PORTS.echo);
      assert.ok(other.median < 20, `round trip to another port ${JSON.stringify(other)}`);
    });
    assert.ok((await rttTo(net.a, net.ipB, 7111)).median < 20);
    assert.deepEqual(net.snapshot(), before);
  });

  test("a wildcard listener in its own namespace: loss and latency reach it on every local address (addrtype LOCAL), and nothing else", async () => {
    // B has no iptables tables yet; one a fault brings into being stays (empty) unless nft can drop it:
    // make them exist first, so the comparison below is about our rules only
    for (const table of ["filter", "nat"]) {
      sh("ip", "netns", "exec", net.b, "iptables", "-t", table, "-N", "GDT-TOUCH");
      sh("ip", "netns", "exec", net.b, "iptables", "-t", table, "-X", "GDT-TOUCH");
    }
    const before = net.snapshot();
    const local = resolveNetwork(sel({ netns: net.b, process: { pids: [srv.pid!] }, dstPort: 7112 }), null).targets[0];
    assert.equal(local.dstLocal, true);
    await hold(packetLoss, local, { percent: 100 }, async (undo) => {
      assert.match(undo.commands.join("\n"), /-p tcp --dport 7112 -m addrtype --dst-type LOCAL -m statistic --mode random --probability 1 -j DROP/);
      assert.equal(await connectTo(net.b, "127.0.0.1", 7112, 400), "fail:timeout");
      assert.equal(await connectTo(net.b, net.ipB, 7112, 400), "fail:timeout");
      assert.equal(await connectTo(net.b, net.ipB, 7111, 2000), "ok");
    });
    await hold(latency, local, { latency: "150ms", mechanism: "proxy" }, async (undo) => {
      assert.match(undo.commands.join("\n"), /--upstream-host 127\.0\.0\.1 --upstream-port 7112 /);
      for (const ip of ["127.0.0.1", net.ipB]) {
        const r = await rttTo(net.b, ip, 7112);
        assert.ok(r.median >= 135 && r.median <= 250, `${ip}:7112 during the fault ${JSON.stringify(r)}`);
      }
      assert.ok((await rttTo(net.b, net.ipB, 7111)).median < 20);
    });
    assert.equal(await connectTo(net.b, "127.0.0.1", 7112, 2000), "ok");
    assert.deepEqual(net.snapshot(), before);
  });
});

describe("network targets from a cgroup (xt_cgroup, cgroup v2)", { timeout: 120_000 }, () => {
  const name = `gameday-test-${process.pid}`;
  const dir = path.join(cgroup2Root(), name);
  const clients: ChildProcess[] = [];
  const tc = (o: Partial<NetworkTarget> = {}): NetworkTarget => tgt({ dstPort: PORTS.echo, cgroup: name, ...o });

  before(() => fs.mkdirSync(dir));
  after(async () => {
    for (const c of clients) await killHard(c, "SIGKILL");
    for (let i = 0; i < 50 && fs.existsSync(dir); i++) {
      try {
        fs.rmdirSync(dir);
      } catch {
        await sleep(20);
      }
    }
  });

  /**
   * Run a client in namespace A that waits for "go" on stdin, so that it can
   * be moved into the cgroup first: a socket belongs to the cgroup its
   * process was in when it was created. (ip netns exec hides /sys/fs/cgroup,
   * so the move is made from here.)
   */
  async function inCgroup(code: string, args: (string | number)[]): Promise<string> {
    const gate = `process.stdin.once("data",()=>{${code}});console.log("waiting");`;
    const child = spawn("ip", ["netns", "exec", net.a, process.execPath, "-e", gate, ...args.map(String)], { stdio: ["pipe", "pipe", "inherit"] });
    clients.push(child);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    const closed = new Promise<void>((r) => child.once("close", () => r()));
    await waitFor("the cgroup client to wait", () => out.startsWith("waiting\n"), 10_000);
    fs.writeFileSync(path.join(dir, "cgroup.procs"), String(child.pid));
    assert.match(fs.readFileSync(`/proc/${child.pid}/cgroup`, "utf8"), new RegExp(`^0::/${name}$`, "m"));
    child.stdin!.end("go\n");
    await closed;
    return out.trim().split("\n").at(-1)!;
  }

  test("partition and 100 % loss for the cgroup: its client is cut off, a client outside is not; everything as before after", async () => {
    const before = net.snapshot();
    assert.equal(await inCgroup(CONNECT_TO, [net.ipB, PORTS.echo, 2000]), "ok");
    await hold(partition, tc({ protocol: "all", dstPort: undefined }), { action: "drop" }, async (undo) => {
      assert.deepEqual(undo.chains.map((c) => c.hooks[0]), ["OUTPUT"]);
      assert.match(undo.commands.join("\n"), new RegExp(`-A GAMEDAY-\\w+-OUT -d ${net.ipB.replace(/\./g, "\\.")} -m cgroup --path ${name} -j DROP`));
      assert.equal(await inCgroup(CONNECT_TO, [net.ipB, PORTS.echo, 400]), "fail:timeout");
      assert.equal(await connectTo(net.a, net.ipB, PORTS.echo, 2000), "ok");
    });
    await hold(packetLoss, tc(), { percent: 100 }, async (undo) => {
      assert.match(undo.commands.join("\n"), new RegExp(`gameday:${undo.tag} packet-loss egress tcp \\*:\\*>${net.ipB.replace(/\./g, "\\.")}:${PORTS.echo} cgroup=${name}`));
      assert.equal(await inCgroup(CONNECT_TO, [net.ipB, PORTS.echo, 400]), "fail:timeout");
      assert.equal(await connectTo(net.a, net.ipB, PORTS.echo, 2000), "ok");
      // the overlap check reads the cgroup back from the rule comment
      await assert.rejects(async () => await packetLoss.plan(tc({ cgroup: undefined }), { percent: 5, correlation: 0, mechanism: "auto" }), /another gameday packet-loss fault \(gameday:\w+\) already acts on overlapping traffic in netns .*cgroup=gameday-test-/);
    });
    assert.equal(await inCgroup(CONNECT_TO, [net.ipB, PORTS.echo, 2000]), "ok");
    assert.deepEqual(net.snapshot(), before);
  });

  test("latency (proxy) for the cgroup: its connections are delayed, others not; both cgroup matches in one REDIRECT rule", async () => {
    const before = net.snapshot();
    await hold(latency, tc(), { latency: "150ms" }, async (undo) => {
      assert.equal(undo.mechanism, "proxy");
      assert.match(undo.why, /cgroup selection needs iptables|no sch_netem/);
      assert.match(undo.commands.join("\n"), new RegExp(`--syn -m cgroup --path ${name} -m cgroup '!' --path gameday-${undo.tag} -j REDIRECT`));
      const inside = JSON.parse(await inCgroup(RTT_TO, [net.ipB, PORTS.echo, 7])) as { median: number };
      assert.ok(inside.median >= 135 && inside.median <= 250, `in the cgroup ${JSON.stringify(inside)}`);
      const outside = await rttTo(net.a, net.ipB, PORTS.echo);
      assert.ok(outside.median < 20, `outside the cgroup ${JSON.stringify(outside)}`);
    });
    assert.deepEqual(net.snapshot(), before);
  });

  test("refusals name the field: tc mechanisms, a missing folder, ingress", async () => {
    const TC = "cannot select by cgroup here; tc's cgroup classifier needs cgroup v1 net_cls class ids, not a v2 path. Select by address and port, or use an iptables fault (packet-loss, partition, latency through the proxy)";
    await assert.rejects(async () => await bandwidth.plan(tc(), { rate: "1mbit" }), { message: `target.cgroup: bandwidth (tc htb) ${TC}` });
    await assert.rejects(() => planLatency(tc(), latency.params.parse({ latency: "10ms", mechanism: "netem" }), { ok: true, detail: "pretend" }), { message: `target.cgroup: latency (netem) ${TC}` });
    await assert.rejects(async () => await packetLoss.plan(tc(), { percent: 5, correlation: 20, mechanism: "auto" }), { message: `target.cgroup: correlated packet-loss (netem) ${TC}` });
    assert.deepEqual(chooseMechanism("auto", { ok: true, detail: "" }, name), { mechanism: "proxy", why: "auto: a cgroup selection needs iptables (the proxy's REDIRECT)" });
    await assert.rejects(async () => await packetLoss.plan(tc({ cgroup: `${name}-none` }), { percent: 5, correlation: 0, mechanism: "auto" }), { message: `target.cgroup: no cgroup v2 folder ${name}-none under ${cgroup2Root()}` });
    await assert.rejects(async () => await packetLoss.plan(tc({ direction: "ingress" }), { percent: 5, correlation: 0, mechanism: "auto" }), { message: "target.direction: cgroup selects the traffic its processes send: direction must be egress (got ingress)" });
  });
});

describe("selection keys in rule comments", () => {
  test("the cgroup is written and read back; comments written before it existed still parse; nested cgroups overlap, siblings do not", () => {
    const k = { direction: "egress", protocol: "tcp", dst: "10.0.0.2", dstPort: 80, cgroup: "system.slice/a.service" } as const;
    assert.equal(keyText("packet-loss", k), "packet-loss egress tcp *:*>10.0.0.2:80 cgroup=system.slice/a.service");
    assert.deepEqual(parseKey(keyText("packet-loss", k)), { fault: "packet-loss", key: { ...k, src: undefined, srcPort: undefined } });
    assert.deepEqual(parseKey("latency egress tcp *:*>127.0.0.1:5432"), { fault: "latency", key: { direction: "egress", protocol: "tcp", src: undefined, srcPort: undefined, dst: "127.0.0.1", dstPort: 5432 } });
    assert.ok(overlaps(k, { ...k, cgroup: "system.slice" }), "a parent folder covers its children");
    assert.ok(overlaps(k, { ...k, cgroup: undefined }), "no cgroup: every sender");
    assert.ok(!overlaps(k, { ...k, cgroup: "system.slice/b.service" }), "siblings");
    assert.ok(!overlaps(k, { ...k, cgroup: "system.slice/a.service2" }), "a name prefix is not a parent");
    assert.notEqual(targetId(tgt({ cgroup: "x" })), targetId(tgt({})));
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

  test("after a worker SIGKILL, its reaper leaves iptables-save and tc qdisc show (namespaces and host) exactly as before within 2 s, and the restarted worker records it", async () => {
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
    sink2: ${target(`dstPort: ${PORTS.sink2}`)}
  steadyState: { probes: [ { name: up, type: http, url: "${url}", interval: 100ms, tolerance: { min: 0.5 } } ] }
  method:
    - { fault: latency, target: echo, params: { latency: 300ms, mechanism: proxy }, duration: 10m }
    - { fault: packet-loss, target: udp, params: { percent: 50 }, duration: 10m }
    - { fault: bandwidth, target: sink, params: { rate: 1mbit }, duration: 10m }
    - { fault: bandwidth, target: sink2, params: { rate: 1mbit }, duration: 10m }
`;
    const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await waitFor(
      "all four faults in place",
      () => {
        const s = net.snapshot();
        // two bandwidth classes beside the default class under the one shared root
        return (s.iptables[net.a].match(/gameday:/g) ?? []).length === 2 && /htb 6764:/.test(s.tc[net.a]) && (s.tcClass[net.a].match(/class htb 6764:/g) ?? []).length === 3 && s.cgroups.length > before.cgroups.length;
      },
      20_000,
    );
    const slow = await rtt();
    assert.ok(slow.median >= 270, `latency in place before the crash: ${JSON.stringify(slow)}`);

    await worker.stop("SIGKILL");
    worker = undefined;
    // the worker's reaper (dead man's switch) reverts from the journal with no worker running
    const t0 = performance.now();
    await waitFor("the reaper to restore everything", () => JSON.stringify(net.snapshot()) === JSON.stringify(before), 2000, 20);
    assert.ok(performance.now() - t0 < 2000);
    await waitFor("the delaying proxy to be gone", () => !proxies().length, 5000);

    worker = await startWorkerProcess(home);
    assert.deepEqual(net.snapshot(), before);
    const { body } = await apiCall<{ run: RunRecord }>(worker, "GET", `/api/v1/runs/${r.body.run.id}`);
    assert.equal(body.run.state, "failed");
    assert.equal(body.run.faults.length, 4);
    for (const f of body.run.faults) assert.equal(f.state, "reverted", JSON.stringify(f));
    // the run record says how each fault was made
    const ev = await apiCall<{ events: { kind: string; message: string }[] }>(worker, "GET", `/api/v1/runs/${r.body.run.id}/events`);
    const recovered = ev.body.events.filter((e) => e.kind === "recovered").map((e) => e.message);
    assert.equal(recovered.length, 4, JSON.stringify(ev.body.events));
    for (const [fault, mech] of [["latency", "proxy"], ["packet-loss", "iptables"], ["bandwidth", "htb"]])
      assert.ok(recovered.some((m) => m.includes(`${fault} on `) && m.includes(`mechanism ${mech} (`)), `${fault}/${mech}: ${recovered.join("\n")}`);
    assert.ok((await rtt()).median < 20);
  });
});

function proxies(): string[] {
  const r = spawnSync("pgrep", ["-f", `delay-proxy.mjs.*--upstream-host ${net.ipB.replace(/\./g, "\\.")} `], { encoding: "utf8" });
  return r.stdout.split("\n").filter(Boolean);
}
