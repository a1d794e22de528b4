// Network faults say what they touched, from the kernel's own counters: the
// datagrams a packet-loss rule dropped are exactly those that did not come
// back; a partition nobody sent through touched nothing (so its run is
// inconclusive, not a held hypothesis); the delaying proxy counts the
// connections redirected into it; a bandwidth cap counts what its class sent.
// Real namespaces (e2e/netns.ts), real iptables and tc.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { tempHome } from "../e2e/kit";
import { CONNECT_CLIENT, createTestNet, PORTS, UDP_CLIENT, UPLOAD_CLIENT, type TestNet } from "../e2e/netns";
import { bandwidth } from "./bandwidth";
import { latency } from "./latency";
import { revertNet, type NetUndo } from "./net-fault";
import { packetLoss } from "./packet-loss";
import { partition } from "./partition";
import type { AnyInjector, Effect, NetworkTarget } from "./types";

let net: TestNet;
const inPlace: NetUndo[] = [];
const prevHome = process.env.GAMEDAY_HOME;
const home = tempHome("gameday-evidence-");

before(async () => {
  process.env.GAMEDAY_HOME = home;
  net = await createTestNet("ev");
});
after(async () => {
  for (const u of inPlace) await revertNet(u).catch(() => undefined);
  await net?.destroy();
  if (prevHome === undefined) delete process.env.GAMEDAY_HOME;
  else process.env.GAMEDAY_HOME = prevHome;
});

const ac = new AbortController();
const tgt = (over: Partial<NetworkTarget>): NetworkTarget => ({ kind: "network", netns: net.a, direction: "egress", protocol: "tcp", dst: net.ipB, ...over });

/** Apply, run `during`, revert, verify, then read the evidence the way the executor does. */
async function evidence(inj: AnyInjector, target: NetworkTarget, raw: unknown, during: () => Promise<unknown>): Promise<{ effect: Effect | null; out: unknown; undo: NetUndo }> {
  const params = inj.params.parse(raw);
  const undo = (await inj.plan(target, params)) as NetUndo;
  inPlace.push(undo);
  let out: unknown;
  try {
    await inj.inject(target, params, { runId: "test", signal: ac.signal, undo });
    out = await during();
  } finally {
    await inj.revert(target, undo);
    const v = await inj.verify(target, undo);
    assert.ok(v.ok, v.detail);
    inPlace.splice(inPlace.indexOf(undo), 1);
  }
  return { effect: await inj.effect!(target, undo), out, undo };
}

describe("network faults' evidence of effect", { timeout: 120_000 }, () => {
  test("packet loss: the packets its rule dropped are exactly the datagrams that did not come back", async () => {
    const N = 200;
    const { effect, out } = await evidence(packetLoss, tgt({ protocol: "udp", dstPort: PORTS.udp }), { percent: 40 }, () => net.runJson<{ received: number }>(net.a, UDP_CLIENT, [net.ipB, N]));
    const lost = N - (out as { received: number }).received;
    assert.ok(lost > 0, "some datagrams were lost");
    assert.equal(effect?.touched, lost, effect?.summary);
    assert.match(effect!.summary, new RegExp(`^${lost} packets \\(\\d+ bytes\\) dropped, counted by iptables chain GAMEDAY-`));
  });

  test("a partition from an address nobody talks to touched nothing; one a client tried to cross counts its dropped SYNs", async () => {
    const quiet = await evidence(partition, tgt({ src: net.ipA, dst: "192.0.2.1", protocol: "all", direction: "both" }), { action: "drop" }, async () => undefined);
    assert.equal(quiet.effect?.touched, 0, quiet.effect?.summary);
    assert.match(quiet.effect!.summary, /^0 packets \(0 bytes\) blocked/);

    const tried = await evidence(partition, tgt({ src: net.ipA, dst: net.ipB, protocol: "all", direction: "both" }), { action: "drop" }, () => net.run(net.a, CONNECT_CLIENT, [net.ipB, 1500]));
    assert.equal(tried.out, "fail:timeout");
    assert.ok((tried.effect?.touched ?? 0) >= 1, tried.effect?.summary);
  });

  test("latency through the delaying proxy counts the connections redirected into it", async () => {
    const { effect, undo } = await evidence(latency, tgt({ dstPort: PORTS.echo }), { latency: "20ms" }, async () => {
      for (let i = 0; i < 3; i++) assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 3000]), "ok");
    });
    assert.equal(undo.mechanism, "proxy", "no netem here: the proxy path");
    assert.equal(effect?.touched, 3, effect?.summary);
    assert.match(effect!.summary, /^3 connections redirected through the delaying proxy/);
  });

  test("a bandwidth cap counts what its class sent; the evidence file is gone once read", async () => {
    const bytes = 200_000;
    const { effect, undo } = await evidence(bandwidth, tgt({ dstPort: PORTS.sink }), { rate: "8mbit" }, () => net.runJson<{ bytes: number }>(net.a, UPLOAD_CLIENT, [net.ipB, bytes]));
    assert.ok((effect?.counters as { bytes: number }).bytes >= bytes, effect?.summary);
    assert.match(effect!.summary, /packets \(\d+ bytes\) shaped, counted by tc class 6764:/);
    assert.equal(fs.existsSync(path.join(home, "evidence", `net-${undo.tag}.json`)), false);
  });
});
