// The dns fault against a container that resolves through Docker's embedded
// resolver (127.0.0.11, on user-defined networks). The tests' usual engine
// has no bridge and no iptables, so this file starts a second private
// dockerd inside a network namespace of its own (gdd-<pid>) with both on:
// its bridges and rules stay in that namespace. The embedded resolver's
// upstream is a dnsmasq on an address of that namespace (not loopback: the
// engine forwards to it from inside the container's namespace, as it does to
// a real network's resolver). Nothing is pulled: the busybox image is built
// as e2e/docker.ts builds it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import "../index";
import { Executor } from "../../agent/executor";
import { getInjector } from "../registry";
import { targetSchema } from "../../lib/experiment";
import { resolveTargets } from "../targets/resolve";
import { dockerSkipReason, startDockerd, TEST_LABEL, type TestDocker } from "../../e2e/docker";
import { startDnsmasq, ZONE, type Upstream } from "../../e2e/dnsmasq";
import { tempDir } from "../../e2e/kit";
import { sh } from "../../e2e/netns";
import type { Effect } from "../../lib/contract";
import type { NetworkTarget } from "../types";

const skip = dockerSkipReason() ?? (spawnSync("dnsmasq", ["--version"]).status !== 0 ? "dnsmasq is not installed (apt-get install dnsmasq)" : undefined);
/** the embedded resolver's upstream: dnsmasq on port 53 of this address, in the dockerd's namespace */
const UPSTREAM = "10.232.0.53";
const POISONED = "db.test.internal";
const OTHER = "other.example.test";

/** The rules of a namespace's iptables-save, counters aside (they count packets, not rules). */
const rulesOf = (argv: string[]) =>
  sh(...argv, "iptables-save")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/, "[n:n]"))
    .join("\n");
/**
 * The host's rules, other people's faults aside: their GAMEDAY chains come and go while
 * this runs, and a table one of them brought can go with its last rule (built-in chains' lines too).
 */
const hostRules = () =>
  rulesOf([])
    .split("\n")
    .filter((l) => !/gameday/i.test(l) && !/^(\*|COMMIT|:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) )/.test(l))
    .join("\n");
const hostBridges = () => sh("ip", "-o", "link", "show").split("\n").map((l) => l.split(": ")[1]?.split("@")[0]).filter((n) => n && /^(docker\d|br-)/.test(n)).sort();

/** busybox nslookup's A answer for name (at server, else the container's resolv.conf): "ok ADDR", "NXDOMAIN", or what it said. */
function answerOf(out: string): string {
  const addr = /^Name:\s+\S+\nAddress:\s+(\S+)/m.exec(out);
  if (addr) return `ok ${addr[1]}`;
  return /server can't find .*: NXDOMAIN/.test(out) ? "NXDOMAIN" : out.trim();
}

describe("dns fault on a container behind Docker's embedded resolver (127.0.0.11; a second dockerd with bridge and iptables inside a namespace of its own)", { skip, timeout: 120_000 }, () => {
  const ns = `gdd-${process.pid}`;
  let dk: TestDocker;
  let up: Upstream;
  let ex: Executor;
  let hostBefore: { rules: string; bridges: string[] };
  const effects = new Map<string, Effect>();
  const boxes: Record<string, { id: string; pid: number; ip: string }> = {};

  before(async () => {
    hostBefore = { rules: hostRules(), bridges: hostBridges() };
    sh("ip", "netns", "add", ns);
    sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
    sh("ip", "netns", "exec", ns, "ip", "addr", "add", `${UPSTREAM}/32`, "dev", "lo");
    up = await startDnsmasq({ port: 53, host: UPSTREAM, netns: ns });
    dk = await startDockerd({ netns: ns, dns: [UPSTREAM] });
    await dk.docker.createNetwork({ Name: `gdnet-${process.pid}`, Driver: "bridge", Labels: { [TEST_LABEL]: String(process.pid) } });
    for (const name of ["a", "b"]) {
      const id = await dk.run(`gde${process.pid}-${name}`, ["sleep", "3600"], { hostConfig: { NetworkMode: `gdnet-${process.pid}` } });
      const info = await dk.docker.getContainer(id).inspect();
      boxes[name] = { id, pid: info.State.Pid, ip: info.NetworkSettings.Networks[`gdnet-${process.pid}`].IPAddress };
    }
    ex = new Executor({ command: "embedded-dns-test", dir: path.join(tempDir("gameday-embedded-dns-journal-"), "journal"), reaper: false, revertDeadlineMs: 5000 });
    ex.on((e) => {
      if (e.type === "reverted" && e.change.effect) effects.set(e.change.id, e.change.effect);
    });
    await ex.start();
  });
  after(async () => {
    await ex?.revertAll();
    await ex?.close();
    // the containers first, then the engine (its networks and folders go with it), its upstream, its namespace
    await dk?.stop();
    await up?.stop();
    spawnSync("ip", ["netns", "del", ns]);
  });

  const lookup = async (box: string, name: string, server?: string) => answerOf(await dk.exec(boxes[box].id, ["nslookup", "-type=a", name, ...(server ? [server] : [])]));
  const inContainer = (box: string) => rulesOf(["nsenter", `--net=/proc/${boxes[box].pid}/ns/net`, "--"]);

  test("NXDOMAIN for the poisoned name at 127.0.0.11 and through resolv.conf; other names and container names pass through; Docker's rules and resolv.conf as before after the revert", async (tc) => {
    const t0 = performance.now();
    const conf = (await dk.docker.getContainer(boxes.a.id).inspect()).ResolvConfPath;
    const confBefore = fs.readFileSync(conf);
    assert.match(confBefore.toString(), /^nameserver 127\.0\.0\.11$/m, "a user-defined network: the embedded resolver");
    const rulesBefore = inContainer("a");
    assert.match(rulesBefore, /-A OUTPUT -d 127\.0\.0\.11\/32 -j DOCKER_OUTPUT/, "Docker's DNAT to its resolver");
    assert.equal(await lookup("a", POISONED, "127.0.0.11"), `ok ${ZONE.hosts[POISONED]}`, "resolved by the upstream through 127.0.0.11");
    assert.equal(await lookup("a", OTHER), `ok ${ZONE.hosts[OTHER]}`);

    const [t, ...more] = (await resolveTargets(targetSchema.parse({ network: { container: { name: `^gde${process.pid}-a$`, engine: dk.engine } }, mode: "all" }), null, new Set())).matched as NetworkTarget[];
    assert.equal(more.length, 0);
    assert.equal(t.resolvConf, conf);
    const inj = getInjector("dns")!;
    const c = await ex.apply({ runId: "embedded-dns", step: 0, targetName: "a", fault: "dns", target: t, params: inj.params.parse({ rules: [{ name: POISONED, answer: "nxdomain" }] }) }, new AbortController().signal);
    const undo = c.undo as { upstream: { host: string; port: number }; dst?: string };
    assert.deepEqual(undo.upstream, { host: "127.0.0.11", port: 53 }, "the poisoner forwards to the embedded resolver");
    assert.equal(undo.dst, "127.0.0.0/8", "only what the container's resolver sends");
    const during = inContainer("a");
    const output = during.split("\n").filter((l) => l.startsWith("-A OUTPUT"));
    assert.match(output[0], /gameday:/, `our jump comes before Docker's DNAT: ${output.join(" | ")}`);
    assert.match(during, /-A GAMEDAY-\w+ -d 127\.0\.0\.0\/8 -p udp -m udp --dport 53 .*-j REDIRECT/);

    const got = {
      poisonedAt11: await lookup("a", POISONED, "127.0.0.11"),
      poisonedResolv: await lookup("a", POISONED),
      otherAt11: await lookup("a", OTHER, "127.0.0.11"),
      otherResolv: await lookup("a", OTHER),
      container: await lookup("a", `gde${process.pid}-b`),
      untouchedBox: await lookup("b", POISONED),
    };
    const v = await ex.revert(c.id);
    assert.ok(v.ok, v.detail);
    tc.diagnostic(`during the fault: ${JSON.stringify(got)}`);
    assert.equal(got.poisonedAt11, "NXDOMAIN", "asked at 127.0.0.11: the redirect comes before Docker's DNAT");
    assert.equal(got.poisonedResolv, "NXDOMAIN", "through resolv.conf (nameserver 127.0.0.1 during the fault)");
    assert.equal(got.otherAt11, `ok ${ZONE.hosts[OTHER]}`, "forwarded: the engine's upstream query is not bent back to the poisoner");
    assert.equal(got.otherResolv, `ok ${ZONE.hosts[OTHER]}`);
    assert.equal(got.container, `ok ${boxes.b.ip}`, "a container name: the embedded resolver answers it");
    assert.equal(got.untouchedBox, `ok ${ZONE.hosts[POISONED]}`, "another container on the network is not poisoned");

    const effect = effects.get(c.id);
    assert.ok(effect, "the revert read the counters");
    const s = effect.counters as { queries: number; forwarded: number; upstreamFailures: number };
    tc.diagnostic(`effect: ${effect.summary}`);
    assert.equal(effect.touched, 2);
    // a forwarding loop would show hundreds of queries and upstream timeouts
    assert.ok(s.queries <= 8 && s.upstreamFailures === 0, effect.summary);

    assert.equal(inContainer("a"), rulesBefore, "iptables-save of the container's namespace exactly as before");
    assert.ok(fs.readFileSync(conf).equals(confBefore), "resolv.conf byte for byte");
    assert.equal(await lookup("a", POISONED, "127.0.0.11"), `ok ${ZONE.hosts[POISONED]}`);
    assert.equal(await lookup("a", POISONED), `ok ${ZONE.hosts[POISONED]}`);
    tc.diagnostic(`test body ${Math.round(performance.now() - t0)} ms`);
  });

  test("the host is untouched: its iptables rules (other faults' aside) and links as before, while the dockerd has bridges and rules in its namespace", () => {
    assert.match(rulesOf(["ip", "netns", "exec", ns]), /-A POSTROUTING -s 172\.\d+\.0\.0\/16 ! -o br-\w+ -j MASQUERADE/, "the engine's own rules, in its namespace");
    assert.equal(hostRules(), hostBefore.rules);
    assert.deepEqual(hostBridges(), hostBefore.bridges);
  });
});
