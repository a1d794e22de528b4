// CPU and memory pressure, against real processes and real cgroups: the load
// is measured from /proc, limits are read back from the cgroup files, and a
// SIGKILLed worker must leave no load generator and no limit behind once it
// is restarted. Load stays small: one worker, at most 64 MiB, short holds.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { planConfine, release, type ConfineUndo } from "./cgroup/confine";
import { cgroupOf, findHierarchy } from "./cgroup/hierarchy";
import { parseExperiment } from "../lib/experiment";
import { listProcesses, readProc } from "../lib/procfs";
import type { RunRecord } from "../lib/contract";
import { apiCall, startWorkerProcess, tempDir, tempHome, waitFor, type WorkerProc } from "../e2e/kit";
import { killTagged, tagged } from "./load/children";
import { cpuTimeMs, stressNgMissing } from "./load/engine";
import { cpuStress } from "./cpu-stress";
import { memoryStress } from "./memory-stress";
import { cpuLimit } from "./cpu-limit";
import { memoryLimit } from "./memory-limit";
import { getInjector, type HostTarget, type ProcessTarget } from ".";

// the evidence files (injectors/evidence.ts) go to a home of this test's own
process.env.GAMEDAY_HOME = tempDir("gameday-stress-home-");

const host: HostTarget = { kind: "host", hostname: os.hostname() };
const ctx = <U>(undo: U) => ({ runId: "t", signal: new AbortController().signal, undo });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU used by the processes over ms, in percent of one core. */
async function cpuPercent(pids: () => number[], ms = 1000): Promise<number> {
  const a = cpuTimeMs(pids());
  const t0 = performance.now();
  await sleep(ms);
  return ((cpuTimeMs(pids()) - a) / (performance.now() - t0)) * 100;
}

/**
 * CPU % of pids beside a plain busy loop over the same window: on a loaded host (other
 * suites, other people's builds on 2 cores) both drop alike, so "burns like a busy loop"
 * holds where "burns 40 % of a core" would not.
 */
async function cpuBeside(pids: () => number[], ms = 1500): Promise<{ used: number; ref: number; busy: boolean; text: string }> {
  const spin = spawn(process.execPath, ["-e", "const p=process.ppid;setInterval(()=>{if(process.ppid!==p)process.exit(0)},250);setImmediate(function s(){const t=Date.now();while(Date.now()-t<50);setImmediate(s)})"], { stdio: "ignore" });
  try {
    await sleep(200);
    const [used, ref] = await Promise.all([cpuPercent(pids, ms), cpuPercent(() => [spin.pid!], ms)]);
    return { used, ref, busy: used > 40 || used > ref / 2, text: `${used.toFixed(0)} % of a core (a busy loop beside it: ${ref.toFixed(0)} %)` };
  } finally {
    spin.kill("SIGKILL");
  }
}

function vmRssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

const toTarget = (pid: number): ProcessTarget => {
  const p = readProc(pid)!;
  return { kind: "process", pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline };
};

/**
 * Victims in their own process group, killed with it. Detached, they would outlive a killed test process:
 * loops run while their parent (this process, $PPID) does and then end their group (`kill 0`); sleeps carry
 * the kit's marker (`sleep 3600.<tag>`) so the next `make test` sweeps them.
 */
const MARK = `3600.${process.pid}${Math.floor(Math.random() * 1e6)}`;
const victims: ChildProcess[] = [];
function victim(script: string, stdin: "ignore" | "pipe" = "ignore"): { child: ChildProcess; target: ProcessTarget } {
  const child = spawn("sh", ["-c", script], { stdio: [stdin, "ignore", "ignore"], detached: true });
  victims.push(child);
  return { child, target: toTarget(child.pid!) };
}
const descendants = (pid: number) => {
  const all = listProcesses().filter((p) => p.state !== "Z");
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const p of all) if (p.ppid === out[i]) out.push(p.pid);
  return out;
};

const undos: ConfineUndo[] = [];
const tags: string[] = [];
after(async () => {
  for (const u of undos) await release(u).catch(() => undefined);
  for (const t of tags) await killTagged(t).catch(() => undefined);
  for (const v of victims) {
    try {
      process.kill(-v.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

describe("parameters", () => {
  test("bad params are refused with a message naming the field", () => {
    const cases: [string, unknown, RegExp][] = [
      ["cpu-stress", { workers: 0 }, /^workers: must be at least 1/],
      ["cpu-stress", { workers: 1.5 }, /^workers: expected a whole number/],
      ["cpu-stress", { load: 150 }, /^load: must be at most 100/],
      ["cpu-stress", { engine: "turbo" }, /^engine: expected one of auto, node, stress-ng/],
      ["cpu-stress", { loads: 50 }, /loads/],
      ["memory-stress", { size: "12Q" }, /^size: expected a size like 512M/],
      ["memory-stress", {}, /^size: expected a size/],
      ["memory-stress", { size: "1M", force: "yes" }, /^force: expected true or false/],
      ["cpu-limit", { cpus: 0 }, /^cpus: must be at least 0.01/],
      ["cpu-limit", {}, /^cpus: expected a number of cores/],
      ["memory-limit", { limit: "12 apples" }, /^limit: expected a size/],
      ["memory-limit", { limit: "512K" }, /^limit: must be at least 1 MiB/],
    ];
    for (const [fault, raw, re] of cases) {
      const r = getInjector(fault)!.params.safeParse(raw);
      assert.equal(r.success, false, `${fault} ${JSON.stringify(raw)} should be refused`);
      const msgs = r.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
      assert.ok(msgs.some((m) => re.test(m)), `${fault} ${JSON.stringify(raw)}: ${msgs.join(" | ")}`);
    }
    const ok = getInjector("memory-stress")!.params.parse({ size: "1.5G" }) as { size: number; workers: number; engine: string };
    assert.deepEqual(ok, { size: 1.5 * 1024 ** 3, workers: 1, engine: "auto", force: false });
    assert.equal((getInjector("cpu-stress")!.params.parse({}) as { workers: number }).workers, os.availableParallelism());
  });

  test("an experiment names the params field, and a host fault refuses a process target", () => {
    const exp = (target: string, params: string) => `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: p }
spec:
  hypothesis: h
  targets: { h: { host: local }, v: { process: { name: nothing } } }
  steadyState: { probes: [ { name: up, type: http, url: "http://127.0.0.1:1/", tolerance: { min: 1 } } ] }
  method: [ { fault: cpu-stress, target: ${target}, params: ${params}, duration: 1s } ]
`;
    const bad = parseExperiment(exp("h", "{ workers: 0, load: 101 }"));
    assert.equal(bad.ok, false);
    const text = !bad.ok ? bad.issues.map((i) => `${i.path}: ${i.message}`).join("\n") : "";
    assert.match(text, /spec\.method\[0\]\.params\.workers: must be at least 1/);
    assert.match(text, /spec\.method\[0\]\.params\.load: must be at most 100/);
    const wrongKind = parseExperiment(exp("v", "{ workers: 1 }"));
    assert.equal(wrongKind.ok, false);
    assert.ok(parseExperiment(exp("h", "{ workers: 1, load: 50, engine: node }")).ok);
  });

  test("memory-stress refuses more than the safety share of MemAvailable unless forced, naming size and force", async () => {
    const params = memoryStress.params.parse({ size: "64T" });
    const undo = await memoryStress.plan(host, params);
    tags.push(undo.tag);
    await assert.rejects(memoryStress.inject(host, params, ctx(undo)), /^Error: size: 64 TiB is more than 80 % of MemAvailable .*force: true/);
    assert.equal(tagged(undo.tag).length, 0, "nothing may be started");
  });

  test("cgroup faults never touch PID 1, ourselves or our ancestors", async () => {
    for (const pid of [1, process.pid, process.ppid]) {
      const t = toTarget(pid);
      const undo = await cpuLimit.plan(t, { cpus: 0.5 });
      undos.push(undo);
      await assert.rejects(cpuLimit.inject(t, { cpus: 0.5 }, ctx(undo)), /refusing to limit PID \d+: .*never/);
      assert.ok((await cpuLimit.verify(t, undo)).ok);
    }
  });
});

describe("cpu-stress and memory-stress", () => {
  test("cpu-stress burns a core in a tagged child; revert kills it; revert is idempotent", async () => {
    const params = cpuStress.params.parse({ workers: 1, load: 100, engine: "node" });
    const undo = await cpuStress.plan(host, params);
    tags.push(undo.tag);
    assert.equal(undo.engine, "node");
    await cpuStress.inject(host, params, ctx(undo));
    const kids = tagged(undo.tag);
    assert.equal(kids.length, 1);
    assert.match(kids[0].cmdline, new RegExp(`cpu-burn\\.mjs --tag ${undo.tag} --parent ${process.pid} --load 100`));
    const r = await cpuBeside(() => tagged(undo.tag).map((p) => p.pid));
    assert.ok(r.busy, `a 100 % burner used only ${r.text}`);
    assert.equal((await cpuStress.verify(host, undo)).ok, false, "verify must fail while the load runs");
    const burned = cpuTimeMs(tagged(undo.tag).map((p) => p.pid));
    await cpuStress.revert(host, undo);
    assert.equal(tagged(undo.tag).length, 0);
    const v = await cpuStress.verify(host, undo);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /engine node/);
    await cpuStress.revert(host, undo);
    // the evidence: the burner's CPU time, read before the kill (at least what it had burned before it), not lost to the idempotent second revert
    const e = await cpuStress.effect!(host, undo);
    assert.ok(e && e.touched >= burned && burned > 0, `${JSON.stringify(e)} (burned ${burned} ms before the revert)`);
    assert.equal((e.counters as { processes: number }).processes, 1);
    assert.match(e.summary, /^1 load process \(node\) burned \d+\.\d CPU-seconds over \d+\.\d s$/);
  });

  test("cpu-stress load 20 keeps its burner well under a full core", async () => {
    const params = cpuStress.params.parse({ workers: 1, load: 20, engine: "node" });
    const undo = await cpuStress.plan(host, params);
    tags.push(undo.tag);
    try {
      await cpuStress.inject(host, params, ctx(undo));
      const used = await cpuPercent(() => tagged(undo.tag).map((p) => p.pid), 1500);
      assert.ok(used > 5 && used < 70, `a 20 % burner used ${used.toFixed(0)} % of a core`);
    } finally {
      await cpuStress.revert(host, undo);
    }
  });

  test("memory-stress makes 64 MiB resident in a child; revert frees it", async () => {
    const params = memoryStress.params.parse({ size: "64M", engine: "node" });
    const undo = await memoryStress.plan(host, params);
    tags.push(undo.tag);
    try {
      await memoryStress.inject(host, params, ctx(undo));
      const [kid] = tagged(undo.tag);
      assert.ok(kid, "a memory hog must run");
      const rss = await waitFor("64 MiB resident", () => (vmRssBytes(kid.pid) >= 60 * 1024 * 1024 ? vmRssBytes(kid.pid) : 0), 10_000);
      assert.ok(rss < 200 * 1024 * 1024, `RSS ${rss} is far beyond the size`);
    } finally {
      await memoryStress.revert(host, undo);
    }
    assert.equal(tagged(undo.tag).length, 0);
    assert.ok((await memoryStress.verify(host, undo)).ok);
    const e = await memoryStress.effect!(host, undo);
    assert.ok(e && e.touched >= 60 * 1024 * 1024 && e.touched < 200 * 1024 * 1024, JSON.stringify(e));
    assert.match(e.summary, /^1 load process \(node\) held \d+(\.\d+)? MiB resident over \d+\.\d s$/);
  });

  test("stress-ng engine, when installed: its workers burn and all die on revert", { skip: stressNgMissing() ?? false }, async () => {
    const params = cpuStress.params.parse({ workers: 1, load: 100, engine: "stress-ng" });
    const undo = await cpuStress.plan(host, params);
    tags.push(undo.tag);
    assert.equal(undo.engine, "stress-ng");
    await cpuStress.inject(host, params, ctx(undo));
    const [watcher] = tagged(undo.tag);
    const group = () => listProcesses().filter((p) => p.pgid === watcher.pid && p.state !== "Z").map((p) => p.pid);
    await waitFor("stress-ng workers", () => group().length >= 3, 5000);
    const r = await cpuBeside(group, 2000);
    const members = group().length;
    await cpuStress.revert(host, undo);
    assert.ok(r.busy, `stress-ng used only ${r.text}`);
    assert.deepEqual(group(), []);
    // the renamed workers count: their CPU time is the evidence, not the idle wrapper's
    const e = await cpuStress.effect!(host, undo);
    assert.ok(e && e.touched > 500 && (e.counters as { processes: number }).processes >= members, JSON.stringify(e));
    assert.ok((await cpuStress.verify(host, undo)).ok);
  });

  test("load children exit by themselves when their parent is SIGKILLed", async () => {
    // a small parent that injects and then hangs; we kill it without any revert
    const script = `
      import { cpuStress } from "./injectors/cpu-stress.ts";
      import { memoryStress } from "./injectors/memory-stress.ts";
      const h = { kind: "host", hostname: "x" };
      const c = cpuStress.params.parse({ workers: 1, load: 50, engine: "node" });
      const m = memoryStress.params.parse({ size: "16M", engine: "node" });
      const cu = await cpuStress.plan(h, c);
      const mu = await memoryStress.plan(h, m);
      const tags = [cu.tag, mu.tag];
      await cpuStress.inject(h, c, { undo: cu });
      await memoryStress.inject(h, m, { undo: mu });
      process.stdout.write(JSON.stringify(tags) + "\\n");
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: path.resolve(import.meta.dirname, ".."), stdio: ["ignore", "pipe", "inherit"] });
    victims.push(parent);
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      parent.stdout!.on("data", (d) => {
        buf += d;
        if (buf.includes("\n")) resolve(buf.split("\n")[0]);
      });
      parent.once("exit", (c) => reject(new Error(`parent exited ${c}: ${buf}`)));
    });
    const childTags = JSON.parse(line) as string[];
    tags.push(...childTags);
    for (const t of childTags) assert.equal(tagged(t).length, 1, `${t} runs`);
    parent.kill("SIGKILL");
    await waitFor("orphaned load generators to exit", () => childTags.every((t) => tagged(t).length === 0), 5000);
  });
});

describe("cpu-limit and memory-limit", () => {
  test("hierarchy detection: a v1 mount of the controller wins, else a cgroup2 mount listing it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-cg2-"));
    try {
      fs.writeFileSync(path.join(dir, "cgroup.controllers"), "cpuset cpu io memory pids\n");
      const v2 = `41 31 0:38 / ${dir} rw,relatime - cgroup2 cgroup2 rw\n`;
      const v1 = `32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n`;
      assert.deepEqual(findHierarchy("memory", v2 + v1), { controller: "memory", version: 2, mount: dir, root: "/" });
      assert.deepEqual(findHierarchy("cpu", v2 + v1), { controller: "cpu", version: 1, mount: "/sys/fs/cgroup/cpu,cpuacct", root: "/" });
      fs.writeFileSync(path.join(dir, "cgroup.controllers"), "pids\n");
      assert.equal(findHierarchy("memory", v2), null);
      // v2 paths come from the "0::" line of /proc/PID/cgroup
      const own = fs.readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => l.startsWith("0::"))!.slice(3);
      assert.equal(cgroupOf(process.pid, { controller: "cpu", version: 2, mount: dir, root: "/" }), path.join(dir, own).replace(/(.)\/+$/, "$1"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const cpuH = findHierarchy("cpu");
  const memH = findHierarchy("memory");

  test("cpu-limit throttles a busy process and its child, and revert restores cgroup and speed", { skip: cpuH ? false : "no cpu controller" }, async () => {
    const v = victim(`sleep ${MARK} & while kill -0 $PPID; do :; done; kill 0`);
    await waitFor("the victim's child", () => descendants(v.target.pid).length === 2, 5000);
    const tree = () => descendants(v.target.pid);
    const original = cgroupOf(v.target.pid, cpuH!)!;
    const filesBefore = Object.fromEntries(["cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.max"].map((n) => [n, fs.existsSync(path.join(original, n)) ? fs.readFileSync(path.join(original, n), "utf8") : null]));
    const free = await cpuBeside(tree);
    assert.ok(free.busy, `the busy victim used only ${free.text} before the limit`);

    const params = cpuLimit.params.parse({ cpus: 0.2 });
    const undo = await cpuLimit.plan(v.target, params);
    undos.push(undo);
    assert.equal(undo.original, original);
    assert.deepEqual(undo.tree.map((t) => t.pid).sort(), tree().sort());
    await cpuLimit.inject(v.target, params, ctx(undo));
    assert.ok(undo.folder && fs.existsSync(undo.folder));
    for (const pid of tree()) assert.equal(cgroupOf(pid, cpuH!), undo.folder, `PID ${pid} must be inside the limit`);
    if (cpuH!.version === 1) assert.equal(fs.readFileSync(path.join(undo.folder, "cpu.cfs_quota_us"), "utf8").trim(), "20000");
    else assert.equal(fs.readFileSync(path.join(undo.folder, "cpu.max"), "utf8").trim(), "20000 100000");
    const limited = await cpuPercent(tree);
    assert.ok(limited < 45, `limited to 20 % of a core, the victim used ${limited.toFixed(0)} %`);
    assert.equal((await cpuLimit.verify(v.target, undo)).ok, false, "verify must fail while limited");

    await cpuLimit.revert(v.target, undo);
    const verdict = await cpuLimit.verify(v.target, undo);
    assert.ok(verdict.ok, verdict.detail);
    assert.equal(fs.existsSync(undo.folder), false);
    // the evidence: the child cgroup's cpu.stat, read before it went
    const e = await cpuLimit.effect!(v.target, undo);
    const c = e?.counters as { throttled: number; periods: number; throttledUs: number };
    assert.ok(e && e.touched > 0 && e.touched === c.throttled, JSON.stringify(e));
    assert.ok(c.periods >= c.throttled && c.throttledUs > 0, JSON.stringify(c));
    assert.match(e.summary, new RegExp(`^throttled in ${c.throttled} of ${c.periods} CFS periods \\(\\d+ ms held back\\), counted by ${undo.folder}/cpu.stat$`));
    for (const pid of tree()) assert.equal(cgroupOf(pid, cpuH!), original);
    for (const [n, text] of Object.entries(filesBefore)) if (text !== null) assert.equal(fs.readFileSync(path.join(original, n), "utf8"), text);
    // back to full speed: up to three samples beside a busy loop, so a burst of other load on a 2-core CI machine cannot fake a failed revert
    const samples: Awaited<ReturnType<typeof cpuBeside>>[] = [];
    while (samples.length < 3 && !samples.at(-1)?.busy) samples.push(await cpuBeside(tree));
    assert.ok(samples.at(-1)!.busy, `after revert the victim used only ${samples.map((x) => x.text).join("; ")}`);
    await cpuLimit.revert(v.target, undo);
    assert.ok((await cpuLimit.verify(v.target, undo)).ok);
  });

  test("cpu-limit on a sleeping process touched nothing: no throttled period (its run would be inconclusive)", { skip: cpuH ? false : "no cpu controller" }, async () => {
    const v = victim(`exec sleep ${MARK}`);
    await waitFor("exec", () => readProc(v.target.pid)?.comm === "sleep", 5000);
    const target = toTarget(v.target.pid);
    const params = cpuLimit.params.parse({ cpus: 0.05 });
    const undo = await cpuLimit.plan(target, params);
    undos.push(undo);
    await cpuLimit.inject(target, params, ctx(undo));
    await sleep(500);
    await cpuLimit.revert(target, undo);
    assert.ok((await cpuLimit.verify(target, undo)).ok);
    const e = await cpuLimit.effect!(target, undo);
    assert.equal(e?.touched, 0, JSON.stringify(e));
    assert.match(e!.summary, /^throttled in 0 of \d+ CFS periods \(0 ms held back\)/);
    assert.equal(await cpuLimit.effect!(target, undo), null, "taken once");
  });

  test("memory-limit sets the limit file on a child cgroup, refuses a second limit, and revert restores", { skip: memH ? false : "no memory controller" }, async () => {
    const v = victim(`exec sleep ${MARK}`);
    await waitFor("exec", () => readProc(v.target.pid)?.comm === "sleep", 5000);
    const original = cgroupOf(v.target.pid, memH!)!;
    const limitFile = memH!.version === 1 ? "memory.limit_in_bytes" : "memory.max";
    const before = fs.existsSync(path.join(original, limitFile)) ? fs.readFileSync(path.join(original, limitFile), "utf8") : null;
    const params = memoryLimit.params.parse({ limit: "256M" });
    const undo = await memoryLimit.plan(v.target, params);
    undos.push(undo);
    assert.equal(undo.files[path.join(original, limitFile)], before);
    await memoryLimit.inject(v.target, params, ctx(undo));
    assert.equal(fs.readFileSync(path.join(undo.folder!, limitFile), "utf8").trim(), String(256 * 1024 * 1024));
    assert.equal(cgroupOf(v.target.pid, memH!), undo.folder);
    // a second memory limit on a limited process is refused, not nested
    const second = { ...v.target };
    await assert.rejects(memoryLimit.inject(second, params, ctx(await memoryLimit.plan(second, params))), /already in .*gameday-memory-limit/);

    await memoryLimit.revert(v.target, undo);
    const verdict = await memoryLimit.verify(v.target, undo);
    assert.ok(verdict.ok, verdict.detail);
    assert.equal(cgroupOf(v.target.pid, memH!), original);
    assert.equal(fs.existsSync(undo.folder!), false);
    if (before !== null) assert.equal(fs.readFileSync(path.join(original, limitFile), "utf8"), before);
    // a sleeping process far under 256M never met the limit
    const e = await memoryLimit.effect!(v.target, undo);
    assert.equal(e?.touched, 0, JSON.stringify(e));
    assert.match(e!.summary, /^memory limit hit 0 time\(s\), 0 OOM kill\(s\)/);
  });

  test("memory-limit bites: a process allocating beyond it is OOM-killed inside the child cgroup only", { skip: memH ? false : "no memory controller" }, async () => {
    const v = victim(`exec ${process.execPath} -e "process.stdin.once('end', () => process.exit(0)); process.stdin.once('data', () => { globalThis.b = Buffer.allocUnsafeSlow(96 << 20).fill(1); setInterval(() => {}, 1000); })"`, "pipe");
    await waitFor("node to start", () => readProc(v.target.pid)?.comm === "node", 5000);
    const target = toTarget(v.target.pid);
    const params = memoryLimit.params.parse({ limit: "32M" });
    const undo = await memoryLimit.plan(target, params);
    undos.push(undo);
    await memoryLimit.inject(target, params, ctx(undo));
    const exited = new Promise<NodeJS.Signals | null>((r) => v.child.once("exit", (_c, s) => r(s)));
    v.child.stdin!.write("go\n");
    const sig = await Promise.race([exited, sleep(15_000).then(() => "timeout" as const)]);
    assert.equal(sig, "SIGKILL", "the OOM killer should end the process that outgrew its limit");
    await memoryLimit.revert(target, undo);
    const verdict = await memoryLimit.verify(target, undo);
    assert.ok(verdict.ok, verdict.detail);
    assert.equal(fs.existsSync(undo.folder!), false);
    const e = await memoryLimit.effect!(target, undo);
    const c = e?.counters as { limitHits: number; oomKills: number };
    assert.ok(e && e.touched > 0 && c.limitHits > 0 && c.oomKills >= 1, JSON.stringify(e));
    assert.match(e.summary, new RegExp(`^memory limit hit ${c.limitHits} time\\(s\\), ${c.oomKills} OOM kill\\(s\\)`));
  });
});

describe("a worker SIGKILLed mid-fault", () => {
  let worker: WorkerProc | undefined;
  const server = http.createServer((_q, s) => s.end("ok"));
  after(async () => {
    await worker?.stop("SIGKILL");
    server.close();
  });

  test("leaves no load behind, and its reaper lifts the cgroup limits within 2 s; the restart records it", { timeout: 120_000, skip: findHierarchy("cpu") && findHierarchy("memory") ? false : "needs cpu and memory controllers" }, async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const marker = `gdv${process.pid}x${Math.floor(Math.random() * 1e6)}`;
    const v = victim(`: ${marker}; while kill -0 $PPID; do sleep 1; done`);
    const cpuPlan = planConfine("cpu-limit", "cpu", v.target.pid, v.target.startTime);
    const memPlan = planConfine("memory-limit", "memory", v.target.pid, v.target.startTime);
    undos.push(cpuPlan, memPlan);
    const home = tempHome();
    worker = await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
    const workerPid = worker.child.pid!;
    const yaml = `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: pressure-crash }
spec:
  hypothesis: a worker crash leaves no load and no limit behind once restarted
  targets:
    h: { host: local }
    v: { process: { cmdline: '${marker}' } }
  steadyState: { probes: [ { name: up, type: http, url: "${url}", interval: 100ms, tolerance: { min: 0.5 } } ] }
  method:
    - { fault: cpu-stress, target: h, params: { workers: 1, load: 50, engine: node }, duration: 10m }
    - { fault: cpu-limit, target: v, params: { cpus: 0.5 }, duration: 10m }
    - { fault: memory-limit, target: v, params: { limit: 128M }, duration: 10m }
`;
    const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const burners = () => listProcesses().filter((p) => p.state !== "Z" && p.cmdline.includes("gameday-load:cpu-stress:") && p.cmdline.includes(`--parent ${workerPid} `));
    await waitFor("the cpu-stress burner", () => burners().length === 1, 15_000);
    const tag = /--tag (\S+)/.exec(burners()[0].cmdline)![1];
    tags.push(tag);
    await waitFor("both limits in place", () => fs.existsSync(cpuPlan.folder!) && fs.existsSync(memPlan.folder!) && cgroupOf(v.target.pid, findHierarchy("memory")!) === memPlan.folder, 15_000);
    assert.equal(cgroupOf(v.target.pid, findHierarchy("cpu")!), cpuPlan.folder);

    const t0 = performance.now();
    await worker.stop("SIGKILL");
    // the worker's reaper (dead man's switch) reverts from the journal with no worker running
    await waitFor(
      "the reaper to lift both limits",
      () => cgroupOf(v.target.pid, findHierarchy("cpu")!) === cpuPlan.original && cgroupOf(v.target.pid, findHierarchy("memory")!) === memPlan.original,
      2000,
      10,
    );
    assert.ok(performance.now() - t0 < 2000);
    await waitFor("the orphaned burner to be gone", () => tagged(tag).length === 0, 5000);

    worker = await startWorkerProcess(home);
    assert.equal(cgroupOf(v.target.pid, findHierarchy("cpu")!), cpuPlan.original);
    assert.equal(cgroupOf(v.target.pid, findHierarchy("memory")!), memPlan.original);
    assert.equal(fs.existsSync(cpuPlan.folder!), false);
    assert.equal(fs.existsSync(memPlan.folder!), false);
    const { body } = await apiCall<{ run: RunRecord }>(worker, "GET", `/api/v1/runs/${r.body.run.id}`);
    assert.equal(body.run.faults.length, 3);
    for (const f of body.run.faults) {
      assert.equal(f.state, "reverted", `${f.fault}: ${f.error ?? ""}`);
      assert.equal(f.verified, true, f.fault);
    }
    // the reaper read the limits' evidence before it removed their cgroups, and the restart recorded it: the sleeping victim met neither cap
    for (const name of ["cpu-limit", "memory-limit"]) {
      const f = body.run.faults.find((x) => x.fault === name)!;
      assert.equal(f.effect?.touched, 0, `${name}: ${JSON.stringify(f.effect)}`);
    }
  });
});

describe("a run's evidence on a worker", () => {
  let worker: WorkerProc | undefined;
  after(async () => {
    await worker?.stop();
  });
  const exp = (name: string, marker: string) => `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: the service keeps up under a CPU cap
  targets: { v: { process: { cmdline: '${marker}' } } }
  steadyState: { probes: [ { name: up, type: metrics, url: "${worker!.url}/metrics", window: 1s, query: { metric: gameday_worker_breach_to_revert_seconds_count }, tolerance: { min: 0 } } ] }
  method: [ { fault: cpu-limit, target: v, params: { cpus: 0.1 }, duration: 2s } ]
`;
  async function runToEnd(yaml: string): Promise<RunRecord> {
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const get = async () => (await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${r.body.run.id}`)).body.run;
    return waitFor("the run to end", async () => {
      const run = await get();
      return ["completed", "aborted", "failed"].includes(run.state) ? run : null;
    }, 30_000, 200);
  }

  test("a cpu-limit on a sleeping process throttled nothing: the run is inconclusive; on a spinning one it holds, with the throttled periods recorded", { timeout: 90_000, skip: findHierarchy("cpu") ? false : "no cpu controller" }, async () => {
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "300" } });
    const idleMark = `gdi${process.pid}x${Math.floor(Math.random() * 1e6)}`;
    victim(`: ${idleMark}; while kill -0 $PPID; do sleep 1; done`);
    const idle = await runToEnd(exp("cap-idle", idleMark));
    assert.equal(idle.state, "completed", JSON.stringify(idle.abort ?? idle.error));
    assert.equal(idle.hypothesisHeld, null);
    assert.match(idle.inconclusive ?? "", /^inconclusive: cpu-limit on .* touched nothing \(throttled in 0 of \d+ CFS periods/);
    assert.equal(idle.faults[0].effect?.touched, 0);

    const busyMark = `gdb${process.pid}x${Math.floor(Math.random() * 1e6)}`;
    victim(`: ${busyMark}; while kill -0 $PPID; do :; done`);
    const busy = await runToEnd(exp("cap-busy", busyMark));
    assert.equal(busy.state, "completed", JSON.stringify(busy.abort ?? busy.error));
    assert.ok((busy.faults[0].effect?.touched ?? 0) > 0, JSON.stringify(busy.faults[0]));
    assert.match(busy.faults[0].effect!.summary, /^throttled in \d+ of \d+ CFS periods/);
    assert.equal(busy.inconclusive, null);
    assert.equal(busy.hypothesisHeld, true);
  });
});
