// The redirect faults over IPv6, against real servers and clients inside a
// namespace this file creates (gdt-<pid>v-a, lo only): a server on ::1
// only and a dual-stack one (::), clients over ::1 and 127.0.0.1. latency
// (proxy), http-fault and proxy-toxic without listen, and dns: faulted while
// on, untouched after, ip6tables-save and iptables-save exactly as before,
// the counters of what they touched above 0; existing: reset on an open
// keep-alive connection; a SIGKILLed CLI whose reaper leaves no ip6tables
// rule; target resolution of a listener on ::1 and on ::.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import { EXIT_WITH_PARENT, killHard, ROOT, runCli, tempDir, waitFor, waitForLine } from "../e2e/kit";
import { sh, sweepStaleTestNets, WATCH_PARENT } from "../e2e/netns";
import type { NetworkSelector } from "../lib/experiment";
import { networkSelectorSchema } from "../lib/experiment";
import { dns } from "./dns";
import { httpFault } from "./http-fault";
import { latency } from "./latency";
import type { NetUndo } from "./net-fault";
import { redirectFamilies } from "./net/redirect";
import { keyText, overlaps, parseKey } from "./net/select";
import { packetLoss } from "./packet-loss";
import type { ProxyFaultUndo } from "./proxy/fault";
import { proxyToxic } from "./proxy-toxic";
import { resolveNetwork } from "./targets/resolve";
import type { AnyInjector, NetworkTarget } from "./types";

const NS = `gdt-${process.pid}v-a`;
const P = { echo6: 17501, echoDual: 17502, web6: 17503, dns6: 17505 } as const;
const home = tempDir("gameday-redirect6-");
const ac = new AbortController();
const children: ChildProcess[] = [];
const inPlace: { inj: AnyInjector; t: NetworkTarget; u: unknown }[] = [];

// echo on ::1 only and on :: (dual-stack); HTTP (keep-alive) on ::1 only; a DNS answering every A query with 198.51.100.7 on [::1] and 127.0.0.1
const SERVERS = `${WATCH_PARENT}setInterval(()=>{},1e9);
const net=require("net"),http=require("http"),dgram=require("dgram");let up=0;const ready=()=>{if(++up===5)console.log("ready")};
const echo=()=>net.createServer(s=>{s.on("error",()=>{});s.pipe(s)});
echo().listen(${P.echo6},"::1",ready);echo().listen(${P.echoDual},"::",ready);
http.createServer((q,r)=>{r.end("ok")}).listen(${P.web6},"::1",ready);
const dnsd=(type,host)=>{const u=dgram.createSocket(type);u.on("message",(m,ri)=>{let i=12;while(m[i])i+=m[i]+1;const q=m.subarray(12,i+5);
const h=Buffer.from([m[0],m[1],0x81,0x80,0,1,0,1,0,0,0,0]);const a=Buffer.from([0xc0,0x0c,0,1,0,1,0,0,0,60,0,4,198,51,100,7]);u.send(Buffer.concat([h,q,a]),ri.port,ri.address)});u.bind(${P.dns6},host,ready)};
dnsd("udp6","::1");dnsd("udp4","127.0.0.1");`;

/** Median round trip of n pings on one fresh connection to HOST:PORT, in ms. */
const RTT = `${WATCH_PARENT}const [ip,port,n]=[process.argv[1],Number(process.argv[2]),Number(process.argv[3])];
const s=require("net").connect(port,ip,async()=>{const t=[];for(let i=0;i<n;i++){const t0=performance.now();s.write("x");await new Promise(r=>s.once("data",r));t.push(performance.now()-t0)}
t.sort((a,b)=>a-b);console.log(JSON.stringify({median:t[Math.floor(n/2)]}));process.exit(0)});
s.on("error",e=>{console.log(JSON.stringify({error:e.code}));process.exit(0)});setTimeout(()=>{console.log(JSON.stringify({error:"timeout"}));process.exit(0)},20000);`;

/** One GET to URL: its status, or the error. */
const GET = `${WATCH_PARENT}fetch(process.argv[1]).then(r=>console.log(JSON.stringify({status:r.status})),e=>console.log(JSON.stringify({error:String(e.cause?.code??e)})));`;

/**
 * A keep-alive HTTP client: a GET every 50 ms on one agent (one socket while
 * it stays up); prints "first" after its first answer, then, when stdin
 * closes, the statuses, errors and sockets it used.
 */
const KEEPALIVE = `${WATCH_PARENT}const http=require("http");const agent=new http.Agent({keepAlive:true,maxSockets:1});const out={statuses:[],errors:[],sockets:new Set()};let first=true;
const one=()=>new Promise(res=>{const q=http.get(process.argv[1],{agent},r=>{out.sockets.add(r.socket.localPort);out.statuses.push(r.statusCode);r.resume();r.on("end",res)});q.on("error",e=>{out.errors.push(e.code);res()})});
let stop=false;process.stdin.on("end",()=>stop=true);process.stdin.resume();
(async()=>{const end=Date.now()+30000;while(!stop&&Date.now()<end){await one();if(first){first=false;console.log("first")}await new Promise(r=>setTimeout(r,50))}
console.log(JSON.stringify({...out,sockets:out.sockets.size}));process.exit(0)})();`;

/** Resolve NAME's A records at the resolver SERVER ([::1]:PORT or 127.0.0.1:PORT), one try. */
const LOOKUP = `${WATCH_PARENT}const {Resolver}=require("dns").promises;const r=new Resolver({timeout:2000,tries:1});r.setServers([process.argv[1]]);
r.resolve4(process.argv[2]).then(a=>console.log(JSON.stringify({a})),e=>console.log(JSON.stringify({error:e.code})));`;

function run(code: string, args: (string | number)[], timeoutMs = 40_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("ip", ["netns", "exec", NS, process.execPath, "-e", code, ...args.map(String)], { timeout: timeoutMs }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout.trim()))),
  );
}
const runJson = async <T>(code: string, args: (string | number)[]) => JSON.parse(await run(code, args)) as T;
const rtt = (ip: string, port: number) => runJson<{ median: number; error?: string }>(RTT, [ip, port, 5]);
const get = (url: string) => runJson<{ status?: number; error?: string }>(GET, [url]);
const lookup = (server: string) => runJson<{ a?: string[]; error?: string }>(LOOKUP, [server, "shop.test"]);

/** Both families' rules in the namespace (dated comments and counters apart). */
const rules = () => ["iptables-save", "ip6tables-save"].map((c) => sh("ip", "netns", "exec", NS, c).replace(/^#.*\n/gm, "").replace(/\[\d+:\d+\]/g, "[]")).join("---\n");

const tgt = (o: Partial<NetworkTarget>): NetworkTarget => ({ kind: "network", netns: NS, direction: "egress", protocol: "tcp", ...o });

/** Plan, inject, run `during`, revert and verify; the effect (evidence) read after the verified revert. */
async function hold<U>(inj: AnyInjector, t: NetworkTarget, raw: unknown, during: (u: U) => Promise<void>): Promise<{ summary: string; touched: number }> {
  const params = inj.params.parse(raw);
  const u = (await inj.plan(t, params)) as U;
  const entry = { inj, t, u };
  inPlace.push(entry);
  try {
    await inj.inject(t, params, { runId: "test", signal: ac.signal, undo: u });
    await during(u);
  } finally {
    await inj.revert(t, u);
    const v = await inj.verify(t, u);
    assert.ok(v.ok, v.detail);
    inPlace.splice(inPlace.indexOf(entry), 1);
  }
  const e = await inj.effect!(t, u);
  assert.ok(e, "an effect is reported");
  return { summary: e.summary, touched: e.touched };
}

/** Does ss -K abort a real established IPv6 connection in the namespace? (needs CONFIG_INET_DIAG_DESTROY) */
async function ssKillWorks(): Promise<string | null> {
  const code = `${WATCH_PARENT}const net=require("net");const {execFileSync}=require("child_process");
const s=net.connect(${P.echo6},"::1",()=>{try{execFileSync("ss",["-K","dst","[::1]","dport","=",":${P.echo6}"],{stdio:"ignore"})}catch(e){console.log("ss failed: "+e.message);process.exit(0)}});
s.on("error",e=>{console.log("aborted:"+e.code);process.exit(0)});setTimeout(()=>{console.log("not aborted");process.exit(0)},2000);`;
  const r = await run(code, []);
  return r.startsWith("aborted:") ? null : `ss -K did not abort an established connection here (${r}): the kernel lacks CONFIG_INET_DIAG_DESTROY`;
}

let srv: ChildProcess;
let ssProblem: string | null = "not probed";

before(async () => {
  sweepStaleTestNets();
  sh("ip", "netns", "add", NS);
  sh("ip", "-n", NS, "link", "set", "lo", "up");
  srv = spawn("ip", ["netns", "exec", NS, process.execPath, "-e", SERVERS, `gdt-redirect6-${process.pid}`], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(srv);
  await waitForLine(srv, (l) => l === "ready", 10_000, "the test servers");
  ssProblem = await ssKillWorks();
});

after(async () => {
  for (const e of inPlace) await e.inj.revert(e.t, e.u).catch(() => undefined);
  for (const c of children) await killHard(c, "SIGKILL");
  if (home) await runCli(["recover"], { GAMEDAY_HOME: home }, 30_000);
  spawnSync("ip", ["netns", "del", NS]);
});

describe("selection of IPv6 traffic", () => {
  test("the selector takes IPv6 addresses and CIDRs; keys bracket them and read back; families never overlap", () => {
    assert.equal(networkSelectorSchema.parse({ dst: "::1", dstPort: 80 }).dst, "::1");
    assert.equal(networkSelectorSchema.parse({ dst: "fd00::/64" }).dst, "fd00::/64");
    const bad = networkSelectorSchema.safeParse({ dst: "fd00::/129" });
    assert.ok(!bad.success && bad.error.issues[0].path.join(".") === "dst" && /IPv4 or IPv6 address or CIDR/.test(bad.error.issues[0].message));
    const k = { direction: "egress", protocol: "tcp", dst: "fd00::/64", dstPort: 80 } as const;
    assert.equal(keyText("latency", k), "latency egress tcp *:*>[fd00::/64]:80");
    assert.deepEqual(parseKey(keyText("latency", k))?.key, { ...k, src: undefined, srcPort: undefined });
    assert.ok(overlaps(k, { direction: "egress", protocol: "tcp", dst: "fd00::7" }));
    assert.ok(!overlaps(k, { direction: "egress", protocol: "tcp", dst: "fd01::7" }));
    assert.ok(overlaps({ direction: "egress", protocol: "tcp", dst: "::ffff:10.0.0.0/120" }, { direction: "egress", protocol: "tcp", dst: "::ffff:10.0.0.9" }));
    assert.ok(!overlaps({ direction: "egress", protocol: "tcp", dst: "::ffff:10.0.0.0/120" }, { direction: "egress", protocol: "tcp", dst: "::ffff:10.0.1.9" }));
    assert.ok(!overlaps({ direction: "egress", protocol: "tcp", dst: "0.0.0.0/0" }, { direction: "egress", protocol: "tcp", dst: "::/0" }));
    assert.deepEqual(redirectFamilies({ dstLocal: true, dstLocal6: true }), [4, 6]);
    assert.deepEqual(redirectFamilies({ dstLocal: true }), [4]);
    assert.deepEqual(redirectFamilies({ dst: "::1" }), [6]);
  });

  test("a fault that acts on IPv4 only refuses an IPv6 dst, naming the field; existing with listen is refused, naming the field", async () => {
    await assert.rejects(async () => await packetLoss.plan(tgt({ dst: "::1", dstPort: P.echo6 }), packetLoss.params.parse({ percent: 5 })), /^Error: target\.dst: ::1 is an IPv6 address; this fault acts on IPv4 only/);
    await assert.rejects(async () => await latency.plan(tgt({ dst: "::1", dstPort: P.echo6 }), latency.params.parse({ latency: "10ms", mechanism: "netem" })), /target\.dst: ::1 is IPv6; the netem mechanism/);
    const r = httpFault.params.safeParse({ listen: "127.0.0.1:17599", existing: "reset", toxics: [{ type: "http_status", attributes: { status: 503 } }] });
    assert.ok(!r.success);
    assert.equal(r.error.issues[0].path.join("."), "existing");
    assert.match(r.error.issues[0].message, /existing applies to the redirect \(no listen\)/);
  });

  test("resolution: a listener on ::1 only is a target (dst ::1) for a fault that takes IPv6, left out otherwise; one on :: takes IPv6 too (dstLocal6)", () => {
    const sel = (o: Partial<NetworkSelector>) => networkSelectorSchema.parse({ netns: NS, process: { pids: [srv.pid!] }, ...o });
    const v6 = resolveNetwork(sel({}), null, new Set(), { ipv6: true });
    assert.deepEqual(v6.listeners, [`[::1]:${P.echo6}`, `0.0.0.0:${P.echoDual}`, `[::1]:${P.web6}`]);
    assert.deepEqual(
      v6.targets.map((t) => [t.dst, t.dstPort, t.dstLocal, t.dstLocal6]),
      [
        ["::1", P.echo6, undefined, undefined],
        [undefined, P.echoDual, true, true],
        ["::1", P.web6, undefined, undefined],
      ],
    );
    const v4 = resolveNetwork(sel({}), null);
    assert.deepEqual(v4.targets.map((t) => t.dstPort), [P.echoDual]);
    assert.match(resolveNetwork(sel({ dstPort: P.echo6 }), null).problem!, /this fault takes IPv4 only: IPv6-only listeners found, 1 of them/);
  });
  test("a namespace without IPv6: an IPv6 dst is refused naming the field; a listener on :: keeps the IPv4 redirect and says why IPv6 is not covered", async () => {
    const ns = `gdt-${process.pid}w-a`;
    sh("ip", "netns", "add", ns);
    try {
      sh("ip", "-n", ns, "link", "set", "lo", "up");
      sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
      const t = (o: Partial<NetworkTarget>) => tgt({ netns: ns, ...o });
      await assert.rejects(async () => await latency.plan(t({ dst: "::1", dstPort: P.echo6 }), latency.params.parse({ latency: "10ms" })), /^Error: target\.dst: the target takes IPv6, but lo in netns \S+ has no ::1/);
      const u = (await latency.plan(t({ dstLocal: true, dstLocal6: true, dstPort: P.echoDual }), latency.params.parse({ latency: "10ms", mechanism: "proxy" }))) as NetUndo;
      assert.deepEqual(u.chains.map((c) => c.family ?? 4), [4]);
      assert.match(u.why, /IPv6 not redirected: the target takes IPv6, but lo in netns \S+ has no ::1/);
    } finally {
      spawnSync("ip", ["netns", "del", ns]);
    }
  });
});

describe("IPv6 redirect, real traffic in a namespace", { timeout: 180_000 }, () => {
  test("latency (proxy) to a server on ::1 only: the IPv6 round trip rises by the latency, is back after; both rule sets exactly as before; counted by the ip6tables chain", async (t) => {
    const LAT = 150;
    const before = rules();
    const base = await rtt("::1", P.echo6);
    assert.ok(base.median < 20, JSON.stringify(base));
    const e = await hold<NetUndo>(latency, tgt({ dst: "::1", dstPort: P.echo6 }), { latency: `${LAT}ms`, mechanism: "proxy" }, async (u) => {
      assert.deepEqual(u.chains.map((c) => c.family), [6]);
      assert.match(sh("ip", "netns", "exec", NS, "ip6tables-save", "-t", "nat"), new RegExp(`-A GAMEDAY-${u.tag} -d ::1/128 -p tcp -m tcp --dport ${P.echo6} --tcp-flags FIN,SYN,RST,ACK SYN -m cgroup ! --path gameday-${u.tag} -j REDIRECT --to-ports \\d+`));
      const during = await rtt("::1", P.echo6);
      t.diagnostic(`[::1] round trip: ${base.median.toFixed(2)} ms before, ${during.median.toFixed(1)} ms during (${LAT} ms asked)`);
      // stated tolerance: −10 % (timer granularity) to +150 ms (2 busy cores)
      assert.ok(during.median >= LAT * 0.9 && during.median <= LAT + 150, JSON.stringify(during));
    });
    assert.ok((await rtt("::1", P.echo6)).median < 20, "undelayed after the revert");
    assert.equal(rules(), before, "iptables-save and ip6tables-save as before");
    assert.ok(e.touched > 0, e.summary);
    assert.match(e.summary, /connections? redirected through the delaying proxy, counted by ip6tables chain GAMEDAY-\w+ \(nat\)$/);
  });

  test("latency (proxy) to a dual-stack listener (dstLocal, dstLocal6): clients over 127.0.0.1 and over ::1 both delayed, each proxied over its own family", async (t) => {
    const LAT = 150;
    const before = rules();
    const e = await hold<NetUndo>(latency, tgt({ dstLocal: true, dstLocal6: true, dstPort: P.echoDual }), { latency: `${LAT}ms`, mechanism: "proxy" }, async (u) => {
      assert.deepEqual(u.chains.map((c) => c.family ?? 4), [4, 6]);
      assert.match(u.commands.join("\n"), /--upstream-host 127\.0\.0\.1 --upstream-host6 ::1 /);
      for (const ip of ["127.0.0.1", "::1"]) {
        const d = await rtt(ip, P.echoDual);
        t.diagnostic(`${ip} round trip during: ${d.median.toFixed(1)} ms (${LAT} ms asked)`);
        assert.ok(d.median >= LAT * 0.9 && d.median <= LAT + 150, `${ip}: ${JSON.stringify(d)}`);
      }
    });
    for (const ip of ["127.0.0.1", "::1"]) assert.ok((await rtt(ip, P.echoDual)).median < 20, ip);
    assert.equal(rules(), before);
    assert.match(e.summary, /counted by iptables chain GAMEDAY-\w+ \(nat\) and ip6tables chain GAMEDAY-\w+ \(nat\)$/);
    assert.ok(e.touched >= 2, e.summary);
  });

  test("http-fault without listen, server on ::1 only: 503 over IPv6 while it holds, 200 after; rules exactly as before; requests faulted > 0", async () => {
    const url = `http://[::1]:${P.web6}/`;
    const before = rules();
    assert.deepEqual(await get(url), { status: 200 });
    const e = await hold<ProxyFaultUndo>(httpFault, tgt({ dst: "::1", dstPort: P.web6 }), { toxics: [{ type: "http_status", toxicity: 1, attributes: { status: 503 } }] }, async (u) => {
      assert.equal(u.upstream, `[::1]:${P.web6}`);
      assert.equal(u.spec.length, 0);
      assert.equal(u.spec6?.length, 1);
      assert.deepEqual(await get(url), { status: 503 });
    });
    assert.deepEqual(await get(url), { status: 200 });
    assert.equal(rules(), before);
    assert.ok(e.touched > 0, e.summary);
  });

  test("proxy-toxic without listen, dual-stack: the latency toxic on both families' connections", async () => {
    const before = rules();
    const e = await hold<ProxyFaultUndo>(proxyToxic, tgt({ dstLocal: true, dstLocal6: true, dstPort: P.echoDual }), { toxics: [{ type: "latency", attributes: { latency: 200 } }] }, async (u) => {
      assert.equal(u.upstream, `127.0.0.1:${P.echoDual} and [::1]:${P.echoDual}`);
      for (const ip of ["127.0.0.1", "::1"]) assert.ok((await rtt(ip, P.echoDual)).median >= 180, ip);
    });
    assert.equal(rules(), before);
    assert.match(e.summary, /IPv4 and IPv6: [1-9]\d* connection\(s\) to 127\.0\.0\.1:\d+, [1-9]\d* connection\(s\) to \[::1\]:\d+/);
    assert.ok(e.touched > 0, e.summary);
  });

  test("existing: keep leaves an open keep-alive connection unfaulted; reset aborts it once and its reconnection is faulted (IPv6)", async (t) => {
    if (ssProblem) return t.skip(ssProblem);
    const url = `http://[::1]:${P.web6}/`;
    for (const existing of ["keep", "reset"] as const) {
      const c = spawn("ip", ["netns", "exec", NS, process.execPath, "-e", KEEPALIVE, url], { stdio: ["pipe", "pipe", "inherit"] });
      children.push(c);
      await waitForLine(c, (l) => l === "first", 10_000, "the keep-alive client's first answer");
      let out = "";
      c.stdout!.on("data", (d: Buffer) => (out += d));
      const done = new Promise<void>((r) => c.on("exit", () => r()));
      const e = await hold<ProxyFaultUndo>(httpFault, tgt({ dst: "::1", dstPort: P.web6 }), { existing, toxics: [{ type: "http_status", toxicity: 1, attributes: { status: 503 } }] }, async (u) => {
        if (existing === "reset") assert.match(u.net!.commands.join("\n"), /ss -K dst '\[::1\]' dport = :17503/);
        // several requests while it holds (every 50 ms), bounded
        await new Promise((r) => setTimeout(r, 1000));
      });
      c.stdin!.end();
      await done;
      const r = JSON.parse(out.trim().split("\n").at(-1)!) as { statuses: number[]; errors: string[]; sockets: number };
      t.diagnostic(`existing ${existing}: ${r.statuses.filter((x) => x === 200).length}× 200, ${r.statuses.filter((x) => x === 503).length}× 503, errors ${JSON.stringify(r.errors)}, ${r.sockets} socket(s)`);
      if (existing === "keep") {
        assert.ok(!r.statuses.includes(503), `an old connection bypasses the redirect: ${JSON.stringify(r)}`);
        assert.equal(r.sockets, 1);
        assert.match(e.summary, /touched nothing: inconclusive/);
      } else {
        assert.ok(r.statuses.includes(503), `faulted after reconnecting: ${JSON.stringify(r)}`);
        assert.ok(r.sockets >= 2, `it reconnected: ${JSON.stringify(r)}`);
        assert.ok(r.errors.length <= 1, `one aborted request at most: ${JSON.stringify(r)}`);
        assert.ok(e.touched > 0, e.summary);
      }
    }
  });

  test("dns, resolver on ::1 (resolv.conf keep): the IPv6 queries poisoned while it holds, answered after; the IPv4 ones too; rules as before", async (t) => {
    const before = rules();
    const s6 = `[::1]:${P.dns6}`;
    const s4 = `127.0.0.1:${P.dns6}`;
    assert.deepEqual(await lookup(s6), { a: ["198.51.100.7"] });
    // a resolver address of one family: only that family's chain
    const only6 = (await dns.plan(tgt({ protocol: "all", dst: "::1" }), dns.params.parse({ rules: [{ name: "x.test", answer: "nxdomain" }], upstream: s6, port: P.dns6, resolvConf: "keep" }))) as NetUndo;
    assert.deepEqual(only6.chains.map((c) => c.family), [6]);
    const e = await hold<NetUndo>(dns, tgt({ protocol: "all" }), { rules: [{ name: "shop.test", answer: "nxdomain" }], upstream: s6, port: P.dns6, resolvConf: "keep" }, async (u) => {
      assert.deepEqual(u.chains.map((c) => c.family ?? 4), [4, 6]);
      assert.deepEqual(await lookup(s6), { error: "ENOTFOUND" });
      assert.deepEqual(await lookup(s4), { error: "ENOTFOUND" });
    });
    assert.deepEqual(await lookup(s6), { a: ["198.51.100.7"] });
    assert.equal(rules(), before);
    assert.ok(e.touched >= 2, e.summary);
    t.diagnostic(e.summary);
  });

  test("latency-monkey --dst ::1 SIGKILLed mid-fault: its reaper leaves no ip6tables rule and no proxy, within 2 s", async () => {
    const before = rules();
    const cli = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "latency-monkey", "--netns", NS, "--dst", "::1", "--target-port", String(P.echo6), "--latency", "300ms", "--mechanism", "proxy", "--duration", "60s"], {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(cli);
    let out = "";
    cli.stdout!.on("data", (d) => (out += d));
    cli.stderr!.on("data", (d) => (out += d));
    const exited = new Promise((r) => cli.on("exit", r));
    await waitFor("the ip6tables redirect", () => /gameday:/.test(sh("ip", "netns", "exec", NS, "ip6tables-save")), 15_000, 100).catch((e: Error) => assert.fail(`${e.message}: ${out}`));
    assert.ok((await rtt("::1", P.echo6)).median >= 270, "delayed while it holds");
    const t0 = performance.now();
    cli.kill("SIGKILL");
    await exited;
    await waitFor("the reaper", () => rules() === before, 2000, 20);
    assert.ok(performance.now() - t0 < 2000);
    assert.doesNotMatch(sh("ip", "netns", "exec", NS, "ip6tables-save"), /gameday/i);
    assert.ok((await rtt("::1", P.echo6)).median < 20, "undelayed after");
    const r = await runCli(["recover"], { GAMEDAY_HOME: home });
    assert.match(r.stdout, /nothing to recover/);
  });

  test("chaos-proxy --upstream [::1]:PORT, dry run: the ip6tables redirect and the reset, exactly; nothing changed", async () => {
    const hostBefore = sh("ip6tables-save").replace(/^#.*\n/gm, "");
    const r = await runCli(["chaos-proxy", "--http", "--upstream", `[::1]:${P.web6}`, "--existing", "reset", "--toxic", "http_status,status=503", "--dry-run"], { GAMEDAY_HOME: home });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`ip6tables -w 5 -t nat -A GAMEDAY-\\w+ -p tcp -d ::1 --dport ${P.web6} --syn -m cgroup '!' --path gameday-\\w+ -j REDIRECT --to-ports PORT6`));
    assert.match(r.stdout, new RegExp(`ss -K dst '\\[::1\\]' dport = :${P.web6}`));
    assert.doesNotMatch(r.stdout, /^\S*iptables -w 5 -t nat -A/m);
    assert.equal(sh("ip6tables-save").replace(/^#.*\n/gm, ""), hostBefore);
    const d = await runCli(["dns-poisoner", "--netns", NS, "--dst", "::1", "--port", String(P.dns6), "--upstream", `[::1]:${P.dns6}`, "--name", "shop.test", "--answer", "nxdomain", "--dry-run"], { GAMEDAY_HOME: home });
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.match(d.stdout, new RegExp(`ip6tables -t nat -A GAMEDAY-\\w+ -p udp -d ::1 --dport ${P.dns6} -m cgroup ! --path gameday-\\w+ -j REDIRECT --to-ports PORT6`));
    assert.doesNotMatch(d.stdout, / iptables -t nat -A/);
    const bad = await runCli(["chaos-proxy", "--upstream", "[::1::]:80", "--toxic", "latency,latency=1", "--dry-run"], { GAMEDAY_HOME: home });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr + bad.stdout, /--upstream: expected IPv4:PORT or \[IPv6\]:PORT/);
  });
});
