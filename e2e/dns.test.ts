// The dns fault in a target's path, inside a test namespace (nothing of the
// machine's own DNS changes): dnsmasq is the namespace's resolver on
// 127.0.0.1:53 (its /etc/netns/NS/resolv.conf), an application resolves its
// database's name and connects to it every 100 ms. The seed outcome: while
// the fault is on the application gets an unknown-host error, once it is off
// it recovers by itself. Reverts leave the namespace's iptables and
// resolv.conf byte for byte as before, also when the CLI or the worker
// holding the fault is SIGKILLed (its reaper reverts from the journal).
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { promisify } from "node:util";
import "../injectors";
import { Executor } from "../agent/executor";
import { dnsParams } from "../injectors/dns";
import { cgroup2Root } from "../injectors/net-fault";
import { resolveNetwork } from "../injectors/targets/resolve";
import type { NetworkTarget } from "../injectors/types";
import type { Effect, RunRecord } from "../lib/contract";
import { listProcesses } from "../lib/procfs";
import { haveDig, haveDnsmasq, startDnsmasq, ZONE, type Upstream } from "./dnsmasq";
import { apiCall, ROOT, startWorkerProcess, tempDir, tempHome, waitFor, waitForLine, type WorkerProc } from "./kit";
import { createTestNet, type TestNet } from "./netns";

const execFileP = promisify(execFile);
const skip =
  process.getuid?.() !== 0 ? "needs root (network namespaces, iptables)" : !haveDnsmasq() ? "dnsmasq is not installed (apt-get install dnsmasq)" : !haveDig() ? "dig is not installed (apt-get install bind9-dnsutils)" : false;

const WATCH = "const __p=process.ppid;setInterval(()=>{if(process.ppid!==__p)process.exit(0)},200).unref();";
const DB = `${WATCH}require("net").createServer(s=>s.destroy()).listen(5432,"0.0.0.0",()=>console.log("ready"));`;
/** Resolves its database's name with getaddrinfo (what most applications do) and connects, every 100 ms. */
const APP = `${WATCH}const dns=require("dns"),net=require("net");
setInterval(()=>{const t=Date.now();dns.lookup("db.test.internal",{family:4},(e,a)=>{
if(e)return console.log(JSON.stringify({t,err:e.code}));
const s=net.connect(5432,a,()=>{console.log(JSON.stringify({t,ok:a}));s.destroy()});s.on("error",e=>console.log(JSON.stringify({t,err:e.code})))})},100);`;

const RESOLV = "nameserver 127.0.0.1\noptions timeout:1 attempts:2\n";

describe("the dns fault in a namespace's path", { skip }, () => {
  let tn: TestNet;
  let ns: string;
  let up: Upstream;
  let resolvFile: string;
  const children: ChildProcess[] = [];
  const lines: { t: number; ok?: string; err?: string }[] = [];

  before(async () => {
    // the counters files of the in-process executors go below it (config is read lazily)
    process.env.GAMEDAY_HOME = tempDir("gameday-dns-home-");
    tn = await createTestNet("dns");
    ns = tn.a;
    resolvFile = `/etc/netns/${ns}/resolv.conf`;
    fs.mkdirSync(path.dirname(resolvFile), { recursive: true });
    fs.writeFileSync(resolvFile, RESOLV);
    up = await startDnsmasq({ port: 53, netns: ns });
    const db = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", DB], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(db);
    await waitForLine(db, (l) => l === "ready", 10_000, "the database");
    const app = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", APP], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(app);
    let buf = "";
    app.stdout!.on("data", (d: Buffer) => {
      buf += d;
      const parts = buf.split("\n");
      buf = parts.pop()!;
      for (const p of parts) lines.push(JSON.parse(p) as (typeof lines)[number]);
    });
  });
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    await up?.stop();
    await tn?.destroy();
    fs.rmSync(path.dirname(resolvFile), { recursive: true, force: true });
  });

  /** what each revert read (a non-mirrored executor forgets a change once it is verified reverted) */
  const effects = new Map<string, Effect>();
  /** An executor of this test's own (no reaper: the test reverts), closed when the test ends, whatever happened. */
  async function executor(t: TestContext): Promise<Executor> {
    const ex = new Executor({ command: "dns test", dir: path.join(tempDir("gameday-dns-"), "journal"), reaper: false });
    ex.on((e) => {
      if (e.type === "reverted" && e.change.effect) effects.set(e.change.id, e.change.effect);
    });
    await ex.start();
    t.after(async () => {
      await ex.revertAll();
      await ex.close();
    });
    return ex;
  }
  const target = (): NetworkTarget => ({ kind: "network", netns: ns, direction: "egress", protocol: "all", dstPort: 53 });
  const since = (t: number) => lines.filter((l) => l.t >= t);
  const natRules = async () => (await execFileP("ip", ["netns", "exec", ns, "iptables-save"], { encoding: "utf8" })).stdout.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  const poisoners = () => listProcesses().filter((p) => p.cmdline.includes("injectors/dns/child.ts"));
  const gamedayCgroups = () => fs.readdirSync(cgroup2Root()).filter((d) => d.startsWith("gameday-"));
  const digIn = async (name: string) => (await execFileP("ip", ["netns", "exec", ns, "dig", "+time=1", "+tries=1", name], { encoding: "utf8" }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? "" }))).stdout;

  async function untouched(before: { nat: string; cgroups: string[] }): Promise<void> {
    assert.equal(await natRules(), before.nat, "iptables in the namespace as before");
    assert.equal(fs.readFileSync(resolvFile, "utf8"), RESOLV, "resolv.conf byte for byte as before");
    assert.equal(poisoners().length, 0, "no poisoner running");
    assert.deepEqual(gamedayCgroups(), before.cgroups, "no cgroup left");
  }

  test("seed outcome: unknown host while the fault is on, recovered by itself once it is off; exact revert and counters", { timeout: 60_000 }, async (t) => {
    await waitFor("the application to reach its database", () => lines.some((l) => l.ok === ZONE.hosts["db.test.internal"]), 10_000);
    const snap = { nat: await natRules(), cgroups: gamedayCgroups() };
    const ex = await executor(t);
    const change = await ex.apply({ runId: "dns-seed", step: 0, targetName: "app", fault: "dns", target: target(), params: dnsParams.parse({ rules: [{ name: "db.test.internal", answer: "nxdomain" }] }) }, new AbortController().signal);
    const on = Date.now();
    await waitFor("unknown-host errors", () => since(on + 300).filter((l) => l.err === "ENOTFOUND").length >= 5, 10_000);
    assert.equal(since(on + 300).filter((l) => l.ok).length, 0, "no lookup succeeds while the fault is on");
    assert.match(fs.readFileSync(resolvFile, "utf8"), /^# gameday:\w+ dns poisoner.*\nnameserver 127\.0\.0\.1\noptions timeout:1 attempts:2\n$/s);
    // other names pass through the redirect untouched, with the upstream's TTL
    assert.match(await digIn("other.example.test"), new RegExp(`other\\.example\\.test\\.\\s+${ZONE.ttl}\\s+IN\\s+A\\s+127\\.0\\.0\\.12`));
    assert.match(await natRules(), /-A GAMEDAY-\w+ -p udp -m udp --dport 53 -m cgroup ! --path gameday-\w+ -j REDIRECT/);

    const v = await ex.revert(change.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /restored byte for byte/);
    const off = Date.now();
    await waitFor("the application to recover by itself", () => since(off).filter((l) => l.ok).length >= 3, 10_000);
    const errs = lines.filter((l) => l.err === "ENOTFOUND").length;
    const effect = effects.get(change.id);
    assert.ok(effect, "the revert read the counters");
    const counters = effect.counters as { rules: { matched: number; poisoned: number }[]; forwarded: number };
    assert.ok(effect.touched >= errs, `${effect.touched} poisoned ≥ ${errs} unknown-host errors the application saw`);
    assert.equal(counters.rules[0].poisoned, counters.rules[0].matched);
    assert.ok(counters.forwarded >= 1, "the dig for another name went upstream");
    await untouched(snap);
    assert.equal(fs.existsSync((change.undo as { statsFile: string }).statsFile), false, "the counters file is gone");
  });

  test("a rule that matches nothing: zero touched (the evidence that makes a run inconclusive)", { timeout: 30_000 }, async (t) => {
    const ex = await executor(t);
    const c = await ex.apply({ runId: "dns-idle", step: 0, targetName: "app", fault: "dns", target: target(), params: dnsParams.parse({ rules: [{ name: "never.asked.internal", answer: "servfail" }] }) }, new AbortController().signal);
    const t0 = Date.now();
    await waitFor("lookups through the poisoner", () => since(t0 + 300).filter((l) => l.ok).length >= 3, 10_000);
    assert.ok((await ex.revert(c.id)).ok);
    const e = effects.get(c.id)!;
    assert.equal(e.touched, 0);
    assert.match(e.summary, /0 poisoned/);
    assert.ok((e.counters as { queries: number }).queries >= 3, "it saw the application's queries");
  });

  test("SIGKILL of gameday dns-poisoner mid-fault: the reaper removes the redirect, the poisoner and restores resolv.conf", { timeout: 60_000 }, async () => {
    const snap = { nat: await natRules(), cgroups: gamedayCgroups() };
    const home = tempDir("gameday-dns-cli-");
    const cli = spawn(process.execPath, [path.join(ROOT, "bin/gameday.mjs"), "dns-poisoner", "--netns", ns, "--name", "db.test.internal", "--answer", "servfail", "--duration", "5m"], {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_HOME: home, GAMEDAY_LOG: "warn" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(cli);
    await waitForLine(cli, (l) => l.startsWith("[INFO] injected dns"), 30_000, "the fault");
    const t = Date.now();
    await waitFor("lookups to fail", () => since(t + 300).filter((l) => l.err).length >= 3, 10_000);
    assert.equal(poisoners().length, 1);
    cli.kill("SIGKILL");
    await waitFor("the reaper to revert", async () => (await natRules()) === snap.nat && fs.readFileSync(resolvFile, "utf8") === RESOLV && poisoners().length === 0, 5000);
    await waitFor("the cgroup to go", () => gamedayCgroups().length === snap.cgroups.length, 5000);
    await untouched(snap);
    const k = Date.now();
    await waitFor("the application to recover", () => since(k).filter((l) => l.ok).length >= 3, 10_000);
  });

  test("from: a process's namespace, or its cgroup folder; a root-cgroup process of the host's namespace is refused", async (t) => {
    const app = children[1];
    const base = { direction: "egress", protocol: "all", dstPort: 53 } as const;
    const inNs = resolveNetwork({ ...base, from: { process: { pids: [app.pid!] } } }, null);
    assert.deepEqual(inNs.targets, [{ kind: "network", ...base, netns: ns }]);
    const sleeper = spawn("sleep", ["600"], { stdio: "ignore" });
    children.push(sleeper);
    const folder = path.join(cgroup2Root(), `gdtest-dns-${process.pid}`);
    fs.mkdirSync(folder);
    t.after(async () => {
      sleeper.kill("SIGKILL");
      await waitFor("the sleeper to leave its cgroup", () => {
        try {
          fs.rmdirSync(folder);
          return true;
        } catch {
          return false;
        }
      }, 5000);
    });
    const inRoot = resolveNetwork({ ...base, from: { process: { pids: [sleeper.pid!] } } }, null);
    assert.equal(inRoot.targets.length, 0);
    assert.match(inRoot.problem ?? "", /sleep\[\d+\] sits in the root cgroup v2 folder of this host's namespace/);
    fs.writeFileSync(path.join(folder, "cgroup.procs"), String(sleeper.pid));
    const inCg = resolveNetwork({ ...base, from: { process: { pids: [sleeper.pid!] } } }, null);
    assert.deepEqual(inCg.targets, [{ kind: "network", ...base, cgroup: `gdtest-dns-${process.pid}` }]);
  });

  describe("as an experiment step on a worker", () => {
    let worker: WorkerProc | undefined;
    const exp = (name: string, rule: string, duration: string, sel = `{ netns: ${ns}, dstPort: 53 }`) => `apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: the application survives its database's name not resolving
  targets: { app-dns: { network: ${sel} } }
  steadyState: { probes: [ { name: up, type: metrics, url: "${worker!.url}/metrics", window: 1s, query: { metric: gameday_worker_breach_to_revert_seconds_count }, tolerance: { min: 0 } } ] }
  method: [ { fault: dns, target: app-dns, params: { rules: [ ${rule} ] }, duration: ${duration} } ]
`;
    before(async () => {
      worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "300" } });
    });
    after(async () => {
      await worker?.stop();
    });

    async function start(yaml: string): Promise<string> {
      const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.run.id;
    }
    const get = async (id: string) => (await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${id}`)).body.run;

    test("a run whose rule matched nothing is inconclusive; one that poisoned records its counters", { timeout: 60_000 }, async () => {
      const idle = await start(exp("dns-idle", "{ name: never.asked.internal, answer: nxdomain }", "2s"));
      const r1 = await waitFor("the run to end", async () => { const r = await get(idle); return ["completed", "aborted", "failed"].includes(r.state) ? r : null; }, 30_000, 200);
      assert.equal(r1.state, "completed", JSON.stringify(r1.abort ?? r1.error));
      assert.equal(r1.hypothesisHeld, null);
      assert.match(r1.inconclusive ?? "", /dns on .* touched nothing/);
      assert.equal(r1.faults[0].effect?.touched, 0);
      // aimed at the application's process: what it sends, from its namespace
      const hit = await start(exp("dns-hit", "{ name: db.test.internal, answer: nxdomain }", "2s", `{ from: { process: { cmdline: 'dns\\.lookup\\("db\\.test' } }, dstPort: 53 }`));
      const r2 = await waitFor("the run to end", async () => ((await get(hit)).state === "completed" ? get(hit) : null), 30_000, 200);
      assert.ok((r2.faults[0].effect?.touched ?? 0) > 0, JSON.stringify(r2.faults[0]));
      assert.equal(r2.inconclusive, null);
      assert.equal(r2.hypothesisHeld, true);
      assert.match(r2.faults[0].detail ?? "", new RegExp(`iptables nat REDIRECT of DNS queries .* in netns ${ns}`));
      assert.equal(r2.faults.length, 1, "one namespace, one target");
    });

    test("SIGKILL of the worker mid-fault: its reaper reverts everything", { timeout: 60_000 }, async () => {
      const snap = { nat: await natRules(), cgroups: gamedayCgroups() };
      const id = await start(exp("dns-crash", "{ name: db.test.internal, answer: refused }", "5m"));
      await waitFor("the fault to be in place", async () => (await get(id)).faults.some((f) => f.state === "injected"), 30_000, 100);
      assert.equal(poisoners().length, 1);
      await worker!.stop("SIGKILL");
      worker = undefined;
      await waitFor("the reaper to revert", async () => (await natRules()) === snap.nat && fs.readFileSync(resolvFile, "utf8") === RESOLV && poisoners().length === 0, 5000);
      await waitFor("the cgroup to go", () => gamedayCgroups().length === snap.cgroups.length, 5000);
      await untouched(snap);
    });
  });
});
