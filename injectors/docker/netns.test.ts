// Network faults inside containers' own network namespaces, against a real
// dockerd (e2e/docker.ts). The containers run with --network none; each gets
// a veth into a switch namespace this test creates (a bridge, 10.231.0.0/24),
// so every container has an address of its own and no traffic leaves the
// namespaces. Latency in one container's namespace, a group partition (A and
// B cut both ways, both still reach C), a latency matrix between groups, a
// restarted container's revert, DNS inside a container, and the reaper's
// revert after the group CLI or a worker running the experiment is
// SIGKILLed; iptables-save of every namespace compared before and after.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import "../index";
import { Executor } from "../../agent/executor";
import { getInjector } from "../registry";
import { targetSchema } from "../../lib/experiment";
import { resolveTargets } from "../targets/resolve";
import { tagged } from "../load/children";
import { dockerSkipReason, startDockerd, type TestDocker } from "../../e2e/docker";
import { EXIT_WITH_PARENT, ROOT, runCli, runCliBatch, sleep, tempDir, waitFor, waitForLine } from "../../e2e/kit";
import { sh, WATCH_PARENT } from "../../e2e/netns";
import type { NetworkTarget, Target } from "../types";

const skip = dockerSkipReason() ?? undefined;
// below the ephemeral range (32768-): a busy host's outgoing connections cannot hold it
const PORT = 17380;
const SUBNET = "10.231.0";

/** Median of n HTTP GETs (a fresh connection each), in ms. */
const HTTP_CLIENT = `${WATCH_PARENT}const [ip,port,n]=[process.argv[1],Number(process.argv[2]),Number(process.argv[3])];const http=require("http");
(async()=>{const t=[];for(let i=0;i<n;i++){const t0=performance.now();await new Promise((ok,no)=>{const q=http.get({host:ip,port,path:"/index.html",timeout:4000,agent:false},r=>{r.resume();r.on("end",ok)});q.on("timeout",()=>q.destroy(new Error("timeout")));q.on("error",no)});t.push(performance.now()-t0)}
t.sort((a,b)=>a-b);console.log(JSON.stringify({median:t[Math.floor(n/2)],all:t.map(Math.round)}));process.exit(0)})().catch(e=>{console.log(JSON.stringify({error:e.message}));process.exit(0)});`;
/** One DNS query for the name to server:53 (A record): the answer's code, or the error's. */
const DNS_CLIENT = `${WATCH_PARENT}const r=new (require("dns").promises.Resolver)({timeout:700,tries:1});r.setServers([process.argv[1]]);
r.resolve4(process.argv[2]).then(a=>console.log("ok "+a.join(",")),e=>console.log(e.code)).finally(()=>process.exit(0));`;

const inNs = (pid: number, ...argv: string[]) => sh("nsenter", `--net=/proc/${pid}/ns/net`, "--", ...argv);

/** A node script run inside a container's namespace (nsenter execs node in place: it is our child). */
function nodeIn(pid: number, script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn("nsenter", [`--net=/proc/${pid}/ns/net`, "--", process.execPath, ...EXIT_WITH_PARENT, "-e", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    const t = setTimeout(() => c.kill("SIGKILL"), 30_000);
    c.on("exit", () => (clearTimeout(t), resolve(out.trim())));
    c.on("error", reject);
  });
}

/** The namespace's iptables rules, counters aside (they count packets, not rules). */
const rules = (pid: number) =>
  inNs(pid, "iptables-save")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/, "[n:n]"))
    .join("\n");

interface Box {
  name: string;
  id: string;
  pid: number;
  ip: string;
}

describe("network faults inside containers' network namespaces (real dockerd, veths into a switch namespace)", { skip, timeout: 300_000 }, () => {
  let dk: TestDocker;
  let ex: Executor;
  const sw = `gdsw-${process.pid}`;
  let n = 0;
  let host = 0;
  const uniq = () => `gdn${process.pid}-${++n}`;

  before(async () => {
    dk = await startDockerd();
    ex = new Executor({ command: "docker-netns-test", dir: path.join(tempDir("gameday-docker-netns-journal-"), "journal"), reaper: false, revertDeadlineMs: 5000 });
    await ex.start();
    sh("ip", "netns", "add", sw);
    sh("ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge");
    sh("ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up");
  });
  after(async () => {
    await ex?.revertAll();
    await ex?.close();
    if (dk) {
      for (const c of await dk.testContainers()) await dk.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      await dk.stop();
    }
    spawnSync("ip", ["netns", "del", sw]);
  });

  /** A container with its own namespace, an address on the switch, httpd on PORT, calling `peers` in a loop (logged to /tmp/reach). */
  async function box(name: string, labels: Record<string, string>, peers: string[] = []): Promise<Box> {
    const ip = `${SUBNET}.${++host}`;
    const loop = peers.length
      ? `; while true; do for ip in ${peers.join(" ")}; do nc -w 1 $ip ${PORT} </dev/null && echo ok $ip >> /tmp/reach || echo fail $ip >> /tmp/reach; done; sleep 0.2; done`
      : "; sleep 3600";
    const id = await dk.run(name, ["sh", "-c", `httpd -p ${PORT} -h /www${loop}`], { labels, hostConfig: { NetworkMode: "none" } });
    const pid = (await dk.docker.getContainer(id).inspect()).State.Pid;
    const [v, c] = [`v${host}`, `c${host}`];
    sh("ip", "netns", "exec", sw, "ip", "link", "add", v, "type", "veth", "peer", "name", c);
    sh("ip", "netns", "exec", sw, "ip", "link", "set", c, "netns", String(pid));
    inNs(pid, "ip", "addr", "add", `${ip}/24`, "dev", c);
    inNs(pid, "ip", "link", "set", c, "up");
    sh("ip", "netns", "exec", sw, "ip", "link", "set", v, "master", "br0", "up");
    return { name, id, pid, ip };
  }
  /** Three boxes a, b, c labelled grp=TAG-a …, each calling the other two. */
  async function trio(tag: string): Promise<[Box, Box, Box]> {
    const ips = [1, 2, 3].map((i) => `${SUBNET}.${host + i}`);
    const out: Box[] = [];
    for (const [i, g] of ["a", "b", "c"].entries()) out.push(await box(`${tag}-${g}`, { grp: `${tag}-${g}` }, ips.filter((_, j) => j !== i)));
    for (const b of out) await waitFor(`${b.name} to serve`, async () => !(await rtt(out[0].pid, b.ip, 1)).error, 15_000, 200);
    return out as [Box, Box, Box];
  }
  const rtt = async (pid: number, ip: string, count = 5): Promise<{ median?: number; error?: string; all?: number[] }> => JSON.parse((await nodeIn(pid, HTTP_CLIENT, [ip, String(PORT), String(count)])) || '{"error":"no output"}');
  const resolve = async (network: Record<string, unknown>) => (await resolveTargets(targetSchema.parse({ network, mode: "all" }), null, new Set())).matched as NetworkTarget[];
  const apply = (fault: string, t: Target, params: unknown = {}) =>
    ex.apply({ runId: "netns", step: 0, targetName: "t", fault, target: t, params: getInjector(fault)!.params.parse(params) }, new AbortController().signal);
  const reach = async (b: Box) => {
    const e = await (await dk.docker.getContainer(b.id).exec({ Cmd: ["cat", "/tmp/reach"], AttachStdout: true })).start({});
    const text = await new Promise<string>((r) => {
      let out = "";
      e.on("data", (d: Buffer) => (out += d.toString("latin1")));
      e.on("end", () => r(out));
    });
    return text.split("\n").map((l) => l.replace(/^[^a-z]*/, "")).filter((l) => /^(ok|fail) [\d.]+$/.test(l));
  };

  test("latency inside one container's namespace slows its round trip to a server; another container is unaffected; reverted exactly; a restarted container's revert reports the namespace gone", async (tc) => {
    const tag = uniq();
    const server = await box(`${tag}-srv`, {});
    const a = await box(`${tag}-a`, {});
    const b = await box(`${tag}-b`, {});
    await waitFor("the server from a", async () => !(await rtt(a.pid, server.ip, 1)).error, 15_000, 200);
    const base = await rtt(a.pid, server.ip);
    assert.ok(base.median! < 100, JSON.stringify(base));
    const before = rules(a.pid);
    const [t, ...more] = await resolve({ container: { name: `^${tag}-a$`, engine: dk.engine }, dst: server.ip, dstPort: PORT });
    assert.equal(more.length, 0);
    assert.equal(t.netns, `/proc/${a.pid}/ns/net`);
    assert.equal(t.netnsInode, fs.statSync(`/proc/${a.pid}/ns/net`).ino);
    assert.equal(t.container, `${a.name} (${a.id.slice(0, 12)})`);
    assert.equal(t.cgroup, undefined, "its own namespace: no cgroup needed");

    const c = await apply("latency", t, { latency: "300ms" });
    const mech = (c.undo as { mechanism: string }).mechanism;
    const slow = await rtt(a.pid, server.ip);
    const other = await rtt(b.pid, server.ip);
    tc.diagnostic(`mechanism ${mech}: a → server median ${base.median!.toFixed(1)} ms before, ${slow.median!.toFixed(1)} ms with 300 ms; b → server ${other.median!.toFixed(1)} ms`);
    assert.ok(slow.median! >= 290 && slow.median! < 600, `a → server ${JSON.stringify(slow)} (${mech})`);
    assert.ok(other.median! < 100, `b → server unaffected: ${JSON.stringify(other)}`);
    assert.notEqual(rules(a.pid), before, "the redirect sits in a's namespace");
    assert.equal(rules(b.pid), rules(server.pid), "nothing in b's");
    const v = await ex.revert(c.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, new RegExp(`netns /proc/${a.pid}/ns/net`));
    assert.ok((await rtt(a.pid, server.ip)).median! < 100);
    assert.equal(rules(a.pid), before, "iptables-save as before");

    // the container restarts: a new namespace; the old one went with our rules in it
    const c2 = await apply("latency", t, { latency: "300ms" });
    const proxyTag = (c2.undo as { proxyTag: string }).proxyTag;
    assert.equal(tagged(proxyTag).length, 1);
    await dk.docker.getContainer(a.id).restart({ t: 0 });
    const v2 = await ex.revert(c2.id);
    assert.ok(v2.ok, v2.detail);
    assert.match(v2.detail, /is gone \(its container stopped or restarted/);
    assert.equal(tagged(proxyTag).length, 0, "the proxy that kept the old namespace alive is stopped");
    const fresh = (await dk.docker.getContainer(a.id).inspect()).State.Pid;
    assert.doesNotMatch(inNs(fresh, "iptables-save"), /gameday/, "the new namespace was never touched");
    await assert.rejects(apply("latency", t, { latency: "300ms" }), /target.container: the network namespace of container .* is gone/);
  });

  test("group partition: A and B cut off from each other both ways while both still reach C; iptables-save of every namespace as before after the revert", async () => {
    const tag = uniq();
    const [a, b, c] = await trio(tag);
    const before = [a, b, c].map((x) => rules(x.pid));
    const targets = await resolve({ container: { labels: { grp: `${tag}-a` }, engine: dk.engine }, to: { container: { labels: { grp: `${tag}-b` }, engine: dk.engine } }, direction: "both" });
    assert.deepEqual(targets.map((t) => `${t.netns}>${t.dst}:${t.dstPort}`).sort(), [`/proc/${a.pid}/ns/net>${b.ip}:${PORT}`, `/proc/${b.pid}/ns/net>${a.ip}:${PORT}`].sort());
    const cuts = [];
    for (const t of targets) cuts.push(await apply("partition", t));
    const [fromA, fromB] = [(await reach(a)).length, (await reach(b)).length];
    await sleep(3500);
    // two lines of slack: a connection under way when the rules came in
    const aDuring = (await reach(a)).slice(fromA + 2);
    const bDuring = (await reach(b)).slice(fromB + 2);
    for (const x of cuts) {
      const v = await ex.revert(x.id);
      assert.ok(v.ok, v.detail);
    }
    assert.ok(aDuring.includes(`ok ${c.ip}`) && bDuring.includes(`ok ${c.ip}`), `both still reach C: ${aDuring} | ${bDuring}`);
    assert.ok(!aDuring.includes(`ok ${b.ip}`) && aDuring.includes(`fail ${b.ip}`), `A cannot reach B: ${aDuring}`);
    assert.ok(!bDuring.includes(`ok ${a.ip}`) && bDuring.includes(`fail ${a.ip}`), `B cannot reach A: ${bDuring}`);
    assert.deepEqual([a, b, c].map((x) => rules(x.pid)), before, "iptables-save in each namespace as before");
    const len = (await reach(a)).length;
    await waitFor("A reaches B again", async () => (await reach(a)).slice(len).includes(`ok ${b.ip}`), 10_000, 200);
  });

  test("latency matrix: A→B 200 ms, A→C 50 ms, B→C untouched, each pair within tolerance; reverted", async (tc) => {
    const tag = uniq();
    const [a, b, c] = await trio(tag);
    const sel = (g: string) => ({ labels: { grp: `${tag}-${g}` }, engine: dk.engine });
    const before = rules(a.pid);
    const changes = [];
    for (const [to, ms] of [["b", 200], ["c", 50]] as const) {
      const ts = await resolve({ container: sel("a"), to: { container: sel(to) } });
      assert.equal(ts.length, 1, `a → ${to}: one address and port: ${JSON.stringify(ts)}`);
      changes.push(await apply("latency", ts[0], { latency: `${ms}ms` }));
    }
    const [ab, ac, bc] = [await rtt(a.pid, b.ip), await rtt(a.pid, c.ip), await rtt(b.pid, c.ip)];
    const mech = changes.map((x) => (x.undo as { mechanism: string }).mechanism);
    tc.diagnostic(`mechanism ${mech.join(", ")}: A→B median ${ab.median!.toFixed(1)} ms (200 asked), A→C ${ac.median!.toFixed(1)} ms (50 asked), B→C ${bc.median!.toFixed(1)} ms (none)`);
    // in parallel, as a run's revert goes: whichever comes last drops the nat table the two brought
    for (const v of await Promise.all(changes.map((x) => ex.revert(x.id)))) assert.ok(v.ok, v.detail);
    assert.ok(ab.median! >= 195 && ab.median! < 200 + 150, `A→B ${JSON.stringify(ab)} (${mech})`);
    assert.ok(ac.median! >= 48 && ac.median! < 50 + 150, `A→C ${JSON.stringify(ac)}`);
    assert.ok(bc.median! < 45, `B→C untouched: ${JSON.stringify(bc)}`);
    assert.equal(rules(a.pid), before);
    assert.ok((await rtt(a.pid, b.ip)).median! < 45);
  });

  test("dns inside a container: its resolv.conf names the poisoner and its DNS queries are redirected in its namespace; both restored byte for byte", async () => {
    const tag = uniq();
    const a = await box(`${tag}-a`, {});
    const info = await dk.docker.getContainer(a.id).inspect();
    const conf = fs.readFileSync(info.ResolvConfPath);
    const before = rules(a.pid);
    const nowhere = `${SUBNET}.250`;
    assert.match(await nodeIn(a.pid, DNS_CLIENT, [nowhere, "db.gameday.test"]), /ETIMEOUT|ECONNREFUSED/, "no resolver there");
    const [t] = await resolve({ container: { name: `^${tag}-a$`, engine: dk.engine } });
    assert.equal(t.resolvConf, info.ResolvConfPath);
    const c = await apply("dns", t, { rules: [{ name: "db.gameday.test", answer: "nxdomain" }], upstream: nowhere });
    assert.match(fs.readFileSync(info.ResolvConfPath, "utf8"), /^nameserver 127\.0\.0\.1$/m, "the container's resolv.conf names the poisoner");
    assert.equal(await nodeIn(a.pid, DNS_CLIENT, [nowhere, "db.gameday.test"]), "ENOTFOUND", "the query to port 53 is answered by the poisoner");
    const v = await ex.revert(c.id);
    assert.ok(v.ok, v.detail);
    assert.ok(fs.readFileSync(info.ResolvConfPath).equals(conf), "resolv.conf byte for byte");
    assert.equal(rules(a.pid), before);
    assert.match(await nodeIn(a.pid, DNS_CLIENT, [nowhere, "db.gameday.test"]), /ETIMEOUT|ECONNREFUSED/);
  });

  test("docker-monkey latency-matrix: SIGKILLed mid-fault, its reaper removes the rules and proxies from the containers' namespaces", async () => {
    const tag = uniq();
    const [a, b] = await trio(tag);
    const before = [rules(a.pid), rules(b.pid)];
    const home = tempDir("gameday-docker-netns-home-");
    const cli = spawn(
      process.execPath,
      [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "docker-monkey", "latency-matrix", "--group-a", `label:grp=${tag}-a`, "--group-b", `label:grp=${tag}-b`, "--delay", "a:b=300ms", "--delay", "b:a=300ms", "--duration", "2m"],
      { cwd: ROOT, env: { ...process.env, GAMEDAY_HOME: home, DOCKER_HOST: dk.engine, GAMEDAY_LOG: "warn" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    cli.stdout!.on("data", (d) => (out += d));
    cli.stderr!.on("data", (d) => (out += d));
    await waitForLine(cli, () => out.split("Injected latency").length > 2, 60_000, "both latencies");
    const slow = await rtt(a.pid, b.ip, 3);
    assert.ok(slow.median! >= 290, `A→B during: ${JSON.stringify(slow)}\n${out}`);
    cli.kill("SIGKILL");
    await waitFor("the reaper to revert both namespaces", () => rules(a.pid) === before[0] && rules(b.pid) === before[1], 20_000, 100);
    assert.ok((await rtt(a.pid, b.ip)).median! < 100);
    assert.ok((await rtt(b.pid, a.ip)).median! < 100);
    assert.match(out, /latency 300ms on .* → /);
  });

  test("a worker run partitions two groups selected in the experiment; after the worker's SIGKILL its reaper reverts inside both namespaces", async () => {
    const { apiCall, startWorkerProcess, tempHome } = await import("../../e2e/kit");
    const tag = uniq();
    const [a, b, c] = await trio(tag);
    const before = [a, b, c].map((x) => rules(x.pid));
    const probe = http.createServer((_q, r) => r.end("ok")).listen(0, "127.0.0.1");
    await new Promise((r) => probe.once("listening", r));
    const url = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
    const worker = await startWorkerProcess(tempHome(), { env: { DOCKER_HOST: dk.engine, GAMEDAY_WARMUP_MS: "300" } });
    try {
      const yaml = `apiVersion: gameday/v1
kind: Experiment
metadata: { name: groups }
spec:
  hypothesis: a and b cope with losing each other
  targets:
    ab: { network: { container: { labels: { grp: "${tag}-a" } }, to: { container: { labels: { grp: "${tag}-b" } } }, direction: both } }
  steadyState: { probes: [{ name: up, type: http, url: "${url}", interval: 100ms, window: 1s, tolerance: { min: 0.5 } }] }
  method:
    - { fault: partition, target: ab, duration: 60s }
`;
      const r = await apiCall<{ run: { id: string } }>(worker, "POST", "/api/v1/runs", { yaml });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await waitFor("the partition in both namespaces", () => /gameday:/.test(rules(a.pid)) && /gameday:/.test(rules(b.pid)), 30_000, 100);
      assert.equal(rules(c.pid), before[2], "nothing in c's namespace");
      await worker.stop("SIGKILL");
      await waitFor("the reaper to revert both namespaces", () => rules(a.pid) === before[0] && rules(b.pid) === before[1], 20_000, 100);
    } finally {
      await worker.stop("SIGKILL");
      probe.close();
    }
  });

  test("the CLIs: latency-monkey and dns-poisoner --container dry runs show nsenter into the container; bad group flags name the flag and change nothing; docker-monkey partition runs and reverts", async () => {
    const tag = uniq();
    const a = await box(`${tag}-a`, { grp: `${tag}-a` });
    const env = { DOCKER_HOST: dk.engine, GAMEDAY_HOME: tempDir("gameday-docker-netns-home-") };
    const conf = (await dk.docker.getContainer(a.id).inspect()).ResolvConfPath;
    // the dry runs and refusals in one process; the real partition below is its own CLI
    const [dry, dns, part, bad, noGroup, badDelay] = await runCliBatch(
      [
        ["latency-monkey", "--container", a.name, "--dst", `${SUBNET}.250`, "--target-port", String(PORT), "--latency", "100ms", "--dry-run"],
        ["dns-poisoner", "--container", `label:grp=${tag}-a`, "--name", "db.gameday.test", "--answer", "nxdomain", "--upstream", `${SUBNET}.250`, "--dry-run"],
        ["docker-monkey", "partition", "--group-a", `label:grp=${tag}-a`, "--group-b", "label:grp=nobody", "--dry-run"],
        ["docker-monkey", "partition", "--group-a", "tier=web", "--group-b", "label:x=y"],
        ["docker-monkey", "latency-matrix", "--group-a", "label:x=y", "--delay", "a:c=10ms"],
        ["docker-monkey", "latency-matrix", "--group-a", "label:x=y", "--group-b", "label:x=z", "--delay", "a:b=fast"],
      ],
      env,
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`nsenter --net=/proc/${a.pid}/ns/net -- iptables -w 5 -t nat -N GAMEDAY-`));
    assert.match(dry.stdout, new RegExp(`of container ${a.name}`));
    assert.equal(dns.code, 0, dns.stderr);
    assert.match(dns.stdout, new RegExp(`nsenter --net=/proc/${a.pid}/ns/net -- iptables -t nat -A GAMEDAY-\\w+ -p udp --dport 53`));
    assert.ok(dns.stdout.includes(`rewrite ${conf} in place: nameserver 127.0.0.1`), dns.stdout);
    assert.equal(part.code, 1);
    assert.match(part.stdout + part.stderr, /no running container matches .*grp=nobody/);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--group-a: expected FIELD:VALUE/);
    assert.equal(noGroup.code, 1);
    assert.match(noGroup.stderr, /--delay a:c=10ms: no group "c"/);
    assert.equal(badDelay.code, 1);
    assert.match(badDelay.stderr, /--delay a:b/);
    assert.doesNotMatch(inNs(a.pid, "iptables-save"), /gameday/);
    // a real partition run, held briefly: both ways injected, reverted and verified
    const b = await box(`${tag}-b`, { grp: `${tag}-b` });
    const run = await runCli(["docker-monkey", "partition", "--group-a", `label:grp=${tag}-a`, "--group-b", `label:grp=${tag}-b`, "--duration", "1s"], env);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout.split("Injected partition").length - 1, 2, run.stdout);
    assert.equal(run.stdout.split("Reverted partition").length - 1, 2, run.stdout);
    for (const x of [a, b]) assert.doesNotMatch(inNs(x.pid, "iptables-save"), /gameday/);
  });

  test("no container labelled gameday.test is left", async () => {
    for (const c of await dk.testContainers()) await dk.docker.getContainer(c.Id).remove({ force: true });
    assert.equal((await dk.testContainers()).length, 0);
  });
});
