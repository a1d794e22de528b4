// The BPF and ptrace faults against real running processes: a Node client's
// connect() failing with the chosen errno and recovering after detach, a UDP
// sender losing a share of its datagrams within binomial bounds, a reader's
// read() returning EIO via ptrace and recovering, refusals naming the field,
// and a SIGKILLed CLI leaving no program, tracer or cgroup behind.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Effect } from "../lib/contract";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { Executor } from "../agent/executor";
import { readProc } from "../lib/procfs";
import { EXIT_WITH_PARENT, ROOT, sleep, tempDir, waitFor, waitForLine } from "../e2e/kit";
import { getInjector, type ProcessTarget } from ".";
import { chooseMechanism, kprobeOverrideAvailable } from "./syscall-error";
import { v2Hierarchy } from "./bpf/cgroup";
import { bpfLsmProblem, bpfObjectAvailable, kprobeOverrideProblem, ptraceAvailable } from "./bpf/detect";
import { countersOf } from "./bpf/helper";
import { attachedIds, loadedIds } from "./bpf/testdata/bpftool";
import { cgroupOf, moveProcess, procsIn, removeFolder } from "./cgroup/hierarchy";

const run = promisify(execFile);
const TESTDATA = path.join(import.meta.dirname, "bpf/testdata");
const children: ChildProcess[] = [];
const servers: (net.Server | dgram.Socket)[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const ex of executors) await ex.revertAll();
  for (const c of children) c.kill("SIGKILL");
  for (const s of servers) s.close();
  for (const f of cleanups) await f().catch(() => undefined);
});

/** A test target: node SCRIPT args, exiting with us; its stdout's JSON lines collected. */
function target(script: string, args: string[]): { child: ChildProcess; target: ProcessTarget; lines: Record<string, unknown>[] } {
  const child = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(TESTDATA, script), ...args], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  const p = readProc(child.pid!)!;
  return { child, lines, target: { kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline } };
}

async function tcpServer(): Promise<number> {
  const s = net.createServer((c) => c.destroy());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as net.AddressInfo).port;
}

/** Lines that arrive from now on, once n of them match. */
type Line = Record<string, unknown>;
async function next(lines: Line[], n: number, match: (l: Line) => boolean, what: string): Promise<Line[]> {
  const from = lines.length;
  await waitFor(what, () => lines.slice(from).filter(match).length >= n, 10_000);
  return lines.slice(from);
}

const executors: Executor[] = [];
/** An executor without a reaper; what a failed test leaves applied is reverted in after() */
const executor = () => {
  const ex = new Executor({ command: "bpf-test", dir: tempDir("gameday-bpf-journal-"), reaper: false });
  executors.push(ex);
  return ex;
};
const apply = (ex: Executor, fault: string, t: ProcessTarget, params: unknown) =>
  ex.apply({ runId: "bpf", step: 0, targetName: "t", fault, target: t, params: getInjector(fault)!.params.parse(params) }, new AbortController().signal);

const bpfTree = async () => (await run("bpftool", ["cgroup", "tree", v2Hierarchy()!.mount])).stdout;

const connectOk = await bpfObjectAvailable("connect.bpf.o");
const skbOk = await bpfObjectAvailable("skb.bpf.o");
const ptraceOk = ptraceAvailable();

describe("connect-error", { skip: connectOk.ok ? false : connectOk.reason }, () => {
  test("a running client's connects fail with the chosen errno for the chosen port only, and succeed after detach", async () => {
    const [hit, spared] = [await tcpServer(), await tcpServer()];
    const c = target("connect-client.mjs", [String(hit), String(spared)]);
    await next(c.lines, 4, (l) => l.ok === true, "connects before the fault");
    const h = v2Hierarchy()!;
    const original = cgroupOf(c.target.pid, h);
    const ex = executor();
    const change = await apply(ex, "connect-error", c.target, { errno: "ENETUNREACH", port: hit });
    const undo = change.undo as { tag: string; move: { folder: string } };
    assert.equal(cgroupOf(c.target.pid, h), undo.move.folder, "the client runs in the fault's own cgroup");
    assert.match(await bpfTree(), /gd_connect4/);
    const ids = await attachedIds(undo.move.folder);
    assert.equal(ids.length, 2, "connect4 and connect6 attached to the fault's folder");
    const during = await next(c.lines, 5, (l) => l.port === hit && l.code === "ENETUNREACH", "ENETUNREACH on the chosen port");
    const first = during.findIndex((l) => l.port === hit && l.code);
    assert.ok(!during.slice(first).some((l) => l.port === hit && l.ok), "no connect to the chosen port succeeded once the first failed");
    assert.ok(during.some((l) => l.port === spared && l.ok), "the other port still connects");
    const reverted = new Promise<Effect | undefined>((r) => ex.on((e) => e.type === "reverted" && e.change.id === change.id && r(e.change.effect)));
    const v = await ex.revert(change.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /[1-9]\d* failed/);
    assert.equal(cgroupOf(c.target.pid, h), original, "back in its own cgroup");
    assert.ok(!fs.existsSync(undo.move.folder));
    const loaded = await loadedIds();
    assert.ok(!ids.some((id) => loaded.has(id)), "its programs are unloaded");
    await next(c.lines, 4, (l) => l.port === hit && l.ok === true, "connects after detach");
    assert.ok(countersOf(undo.tag)!.injected >= 5);
    const effect = await reverted;
    assert.equal(effect?.touched, countersOf(undo.tag)!.injected, "the run's evidence: the connects it failed");
    assert.match(effect!.summary, /^\d+ connect\(\)\/sendmsg\(\) calls seen, \d+ matched, [1-9]\d* failed$/);
  });

  test("probability and after: the first N matching connects pass, then about the share fail", async () => {
    const port = await tcpServer();
    const c = target("connect-client.mjs", [String(port)]);
    await next(c.lines, 2, (l) => l.ok === true, "connects before the fault");
    const ex = executor();
    const change = await apply(ex, "connect-error", c.target, { errno: "ETIMEDOUT", port, after: 3, probability: 0.5, dst: "127.0.0.0/8" });
    const tag = (change.undo as { tag: string }).tag;
    await waitFor("40 matching connects", () => (countersOf(tag)?.matched ?? 0) >= 40, 10_000);
    await ex.revert(change.id);
    const k = countersOf(tag)!;
    // the first 3 pass; of the rest, binomial(n, 0.5) within 5 sigma
    const n = k.matched - 3;
    assert.ok(Math.abs(k.injected - n / 2) <= 5 * Math.sqrt(n / 4), `${k.injected} of ${n} failed`);
    const failures = c.lines.filter((l) => l.code === "ETIMEDOUT").length;
    assert.ok(failures >= k.injected - 1 && failures <= k.injected, `client saw ${failures} ETIMEDOUT, the map counted ${k.injected}`);
  });

  test("a destination filter that matches nothing touches nothing and says so", async () => {
    const port = await tcpServer();
    const c = target("connect-client.mjs", [String(port)]);
    await next(c.lines, 1, (l) => l.ok === true, "a connect");
    const ex = executor();
    const change = await apply(ex, "connect-error", c.target, { dst: "10.255.255.0/24" });
    await next(c.lines, 3, (l) => l.ok === true, "connects while attached");
    const reverted = new Promise<Effect | undefined>((r) => ex.on((e) => e.type === "reverted" && e.change.id === change.id && r(e.change.effect)));
    const v = await ex.revert(change.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /0 failed: touched nothing, inconclusive/);
    assert.equal((await reverted)?.touched, 0, "touched nothing: the run is inconclusive");
  });
});

describe("packet-drop", { skip: skbOk.ok ? false : skbOk.reason }, () => {
  test("a share of a running sender's UDP datagrams is lost, within binomial bounds, and none after detach", async () => {
    const rx = dgram.createSocket("udp4");
    servers.push(rx);
    let received = 0;
    rx.on("message", () => received++);
    await new Promise<void>((r) => rx.bind(0, "127.0.0.1", r));
    rx.setRecvBufferSize(8 << 20);
    const port = rx.address().port;
    const N = 3000;
    const s = target("udp-sender.mjs", [String(port), String(N)]);
    const ex = executor();
    const change = await apply(ex, "packet-drop", s.target, { probability: 0.3, direction: "egress", protocol: "udp", port });
    s.child.stdin!.write("go\n");
    await next(s.lines, 1, (l) => l.sent === N, "the sends");
    await sleep(200);
    const v = await ex.revert(change.id);
    assert.ok(v.ok, v.detail);
    const k = countersOf((change.undo as { tag: string }).tag)!;
    const lost = N - received;
    const sigma = Math.sqrt(N * 0.3 * 0.7);
    assert.equal(k.matched, N, "every datagram to the port matched");
    assert.ok(Math.abs(k.injected - 0.3 * N) <= 5 * sigma, `dropped ${k.injected} of ${N}, expected ${0.3 * N} ± ${Math.round(5 * sigma)}`);
    assert.equal(s.lines.at(-1)!.errors, 0, "an egress drop is silent loss, not a send error");
    // the receiver sees the drops (a busy machine may lose a few more in socket buffers)
    assert.ok(lost >= k.injected - 2 && lost <= k.injected + N * 0.02, `the map counted ${k.injected} dropped, the receiver missed ${lost}`);
    assert.match(v.detail, new RegExp(`${k.injected} dropped`));
    received = 0;
    s.child.stdin!.write("go\n");
    await next(s.lines, 1, (l) => l.sent === N, "the sends after detach");
    await waitFor("every datagram after detach", () => received >= N * 0.99, 5000);
  });
});

describe("packet-drop ingress, connect-error over IPv6 and UDP", { skip: skbOk.ok && connectOk.ok ? false : `${skbOk.ok ? "" : skbOk.reason}${connectOk.ok ? "" : connectOk.reason}` }, () => {
  test("ingress, scope cgroup: a running receiver's socket opened before the fault loses about the share; nothing after detach", async () => {
    // the receiver runs in a cgroup of the test's own (scope cgroup is refused at the v2 root), from its start
    const dir = path.join(v2Hierarchy()!.mount, `bpf-test-pid${process.pid}-${Date.now()}`);
    fs.mkdirSync(dir);
    cleanups.push(async () => {
      for (const p of procsIn(dir)) moveProcess(v2Hierarchy()!.mount, p);
      await removeFolder(dir);
    });
    moveProcess(dir, process.pid);
    let s: ReturnType<typeof target>;
    try {
      s = target("udp-receiver.mjs", []);
    } finally {
      moveProcess(v2Hierarchy()!.mount, process.pid);
    }
    assert.equal(cgroupOf(s.target.pid, v2Hierarchy()!), dir);
    const port = (await next(s.lines, 1, (l) => typeof l.port === "number", "the receiver's port"))[0].port as number;
    const tx = dgram.createSocket("udp4");
    servers.push(tx);
    const N = 2000;
    const send = async () => {
      for (let i = 0; i < N; i++) {
        tx.send(String(i), port, "127.0.0.1");
        if (i % 25 === 24) await sleep(5);
      }
      await sleep(300);
    };
    const ex = executor();
    await assert.rejects(apply(ex, "packet-drop", { ...s.target, pid: process.pid, startTime: readProc(process.pid)!.startTime }, { probability: 0.5, scope: "cgroup" }), /scope: PID \d+ is in the cgroup v2 root/);
    const change = await apply(ex, "packet-drop", s.target, { probability: 0.5, direction: "ingress", protocol: "udp", scope: "cgroup" });
    assert.equal(cgroupOf(s.target.pid, v2Hierarchy()!), dir, "nothing moved");
    await send();
    s.child.stdin!.write("count\n");
    const during = (await next(s.lines, 1, (l) => typeof l.received === "number", "the count"))[0].received as number;
    await ex.revert(change.id);
    const k = countersOf((change.undo as { tag: string }).tag)!;
    const sigma = Math.sqrt(N * 0.25);
    assert.ok(Math.abs(k.injected - N / 2) <= 5 * sigma, `dropped ${k.injected} of ${k.matched}`);
    assert.ok(Math.abs(N - during - k.injected) <= N * 0.02, `received ${during}, the map dropped ${k.injected}`);
    await send();
    s.child.stdin!.write("count\n");
    const afterwards = (await next(s.lines, 1, (l) => typeof l.received === "number", "the count"))[0].received as number;
    assert.ok(afterwards >= N * 0.98, `received ${afterwards} of ${N} after detach`);
  });

  test("connect6 and UDP sendmsg: ::1 connects and UDP sends fail with the errno", async () => {
    const s6 = net.createServer((c) => c.destroy());
    servers.push(s6);
    await new Promise<void>((r) => s6.listen(0, "::1", r));
    const port = (s6.address() as net.AddressInfo).port;
    const c = target("connect-client.mjs", [`[::1]:${port}`, "udp:127.0.0.1:9"]);
    await next(c.lines, 2, (l) => l.ok === true, "IPv6 connects and UDP sends before the fault");
    const ex = executor();
    const change = await apply(ex, "connect-error", c.target, { errno: "ECONNRESET", protocol: "all", dst: ["::1", "127.0.0.1/32"] });
    const during = await next(c.lines, 6, (l) => l.code === "ECONNRESET", "errors on both");
    assert.ok(during.some((l) => l.port === `[::1]:${port}` && l.code === "ECONNRESET"), "connect6");
    assert.ok(during.some((l) => l.port === "udp:127.0.0.1:9" && l.code === "ECONNRESET"), "sendmsg4");
    await ex.revert(change.id);
    await next(c.lines, 4, (l) => l.ok === true, "both work after detach");
  });
});

describe("syscall-error (ptrace)", { skip: ptraceOk.ok ? false : ptraceOk.reason }, () => {
  const file = path.join(tempDir("gameday-bpf-data-"), "data.bin");
  fs.writeFileSync(file, "x".repeat(10_000));
  const tracer = (pid: number) => Number(/^TracerPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

  test("a running process's read() returns EIO while traced and recovers after revert", async () => {
    const r = target("reader.mjs", [file]);
    await next(r.lines, 2, (l) => l.ok === true, "reads before the fault");
    const ex = executor();
    const change = await apply(ex, "syscall-error", r.target, { syscall: "read", errno: "EIO", path: path.join(path.dirname(file), "*.bin") });
    assert.match(change.undo ? getInjector("syscall-error")!.describe!(r.target, change.undo) : "", /^ptrace \(auto: bpf_override_return: .*; BPF LSM: /);
    assert.notEqual(tracer(r.target.pid), 0);
    const during = await next(r.lines, 5, (l) => l.code === "EIO", "EIO on read");
    assert.ok(!during.slice(during.findIndex((l) => l.code === "EIO")).some((l) => l.ok), "every read fails once the first did");
    const v = await ex.revert(change.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /TracerPid 0\); \d+ chosen syscalls seen, \d+ matched, [1-9]\d* failed$/);
    assert.equal(tracer(r.target.pid), 0);
    await next(r.lines, 3, (l) => l.ok === true, "reads after revert");
    assert.equal(readProc(r.target.pid)?.startTime, r.target.startTime, "the same process runs on");
  });

  test("'the 3rd call on': after 2 lets exactly two matching calls through; another path is never failed", async () => {
    const other = path.join(path.dirname(file), "other.txt");
    fs.writeFileSync(other, "y");
    const r = target("reader.mjs", [other]);
    await next(r.lines, 1, (l) => l.ok === true, "a read");
    const ex = executor();
    const change = await apply(ex, "syscall-error", r.target, { syscall: ["read", "openat"], errno: "EACCES", after: 2, path: file });
    await next(r.lines, 3, (l) => l.ok === true, "reads of another path while traced");
    const v = await ex.revert(change.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /0 matched, 0 failed: touched nothing, inconclusive/);
    assert.ok(!r.lines.some((l) => l.code), "nothing failed");

    const r2 = target("reader.mjs", [file]);
    await next(r2.lines, 1, (l) => l.ok === true, "a read");
    const c2 = await apply(ex, "syscall-error", r2.target, { syscall: "openat", errno: "EACCES", after: 2, path: file });
    await next(r2.lines, 3, (l) => l.code === "EACCES", "EACCES from the 3rd open on");
    await ex.revert(c2.id);
    const k = countersOf((c2.undo as { tag: string }).tag)!;
    assert.equal(k.injected, k.matched - 2);
    const first = r2.lines.findIndex((l) => l.code === "EACCES");
    assert.ok(first >= 0);
  });
});

describe("refusals name the field", () => {
  const err = (fault: string, p: unknown) => {
    const r = getInjector(fault)!.params.safeParse(p);
    assert.ok(!r.success);
    return r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  };
  test("bad errno, port, address, probability, syscall, path", () => {
    assert.match(err("connect-error", { errno: "EWHAT" }), /^errno: expected an errno name/);
    assert.match(err("connect-error", { port: 70000 }), /^port: ports are 1-65535/);
    assert.match(err("connect-error", { dst: "300.1.1.1" }), /^dst: expected an IPv4 or IPv6 address/);
    assert.match(err("connect-error", { dst: ["10.0.0.0/33"] }), /^dst\.0: expected an IPv4 or IPv6 address/);
    assert.match(err("connect-error", { probability: 2 }), /^probability: must be between 0 and 1/);
    assert.match(err("connect-error", { bogus: 1 }), /bogus/);
    assert.match(err("packet-drop", {}), /^probability: /);
    assert.match(err("packet-drop", { probability: 0.1, direction: "up" }), /^direction: expected egress, ingress or both/);
    assert.match(err("syscall-error", { syscall: ["read", "nosuch"] }), /^syscall\.1: unknown syscall "nosuch"/);
    assert.match(err("syscall-error", { syscall: "read", path: "relative/*" }), /^path: expected an absolute path glob/);
    assert.match(err("syscall-error", { syscall: "read", after: -1 }), /^after: /);
  });

  test("a process that is gone is refused before anything is journaled", async () => {
    const ex = executor();
    const gone: ProcessTarget = { kind: "process", pid: 2 ** 22 - 3, startTime: 1, comm: "x", cmdline: "x" };
    await assert.rejects(apply(ex, "connect-error", gone, {}), /gone or its PID was reused/);
    assert.equal(ex.open().length, 0);
  });
});

describe("mechanism detection", () => {
  test("without bpf/out the faults are listed unavailable, with why, and Game Day still loads", async () => {
    const code = `const { getInjector } = await import("./injectors/index.ts");
      for (const f of ["connect-error", "packet-drop", "syscall-error"]) console.log(f, JSON.stringify(await getInjector(f).available()));`;
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: ROOT, env: { ...process.env, GAMEDAY_BPF_OUT: "/nonexistent/bpf-out" } });
    for (const f of ["connect-error", "packet-drop", "syscall-error"]) assert.match(stdout, new RegExp(`^${f} .*"ok":false.*(not built|needs root)`, "m"));
    if (process.getuid?.() === 0) assert.match(stdout, /syscall-error .*gameday-ptrace is not built \(bash bpf\/build.sh/);
  });

  test("bpf_override_return and BPF LSM: the reason they are not used, from the kernel's config", () => {
    assert.equal(kprobeOverrideProblem("CONFIG_KPROBES=y\nCONFIG_BPF_KPROBE_OVERRIDE=y\nCONFIG_FUNCTION_ERROR_INJECTION=y\n", true), null);
    assert.match(kprobeOverrideProblem("# CONFIG_KPROBES is not set\n", false)!, /CONFIG_KPROBES off/);
    assert.match(kprobeOverrideProblem("CONFIG_KPROBES=y\n", true)!, /CONFIG_BPF_KPROBE_OVERRIDE/);
    assert.equal(bpfLsmProblem("CONFIG_BPF_LSM=y\n", "lockdown,capability,bpf"), null);
    assert.match(bpfLsmProblem("CONFIG_BPF_LSM=y\n", "lockdown,capability")!, /not active/);
    assert.match(bpfLsmProblem("", "bpf")!, /lacks CONFIG_BPF_LSM/);
  });

  test("the choice: auto takes bpf_override_return when it loads and no path is asked for; a forced mechanism that cannot work names the field", async () => {
    const yes = { ok: true } as const;
    const no = { ok: false, reason: "the kernel has no kprobes" } as const;
    assert.equal((await chooseMechanism({ mechanism: "auto" }, yes)).use, "kprobe-override");
    assert.match((await chooseMechanism({ mechanism: "auto", path: "/x/*" }, yes)).text, /^ptrace \(auto: a path glob needs ptrace/);
    assert.match((await chooseMechanism({ mechanism: "auto" }, no)).text, /^ptrace \(auto: bpf_override_return: the kernel has no kprobes; BPF LSM: /);
    await assert.rejects(chooseMechanism({ mechanism: "kprobe-override" }, no), /^Error: mechanism: kprobe-override was asked for, but the kernel has no kprobes/);
    await assert.rejects(chooseMechanism({ mechanism: "kprobe-override", path: "/x" }, yes), /^Error: path: kprobe-override cannot match paths/);
  });

  test("this host: override.bpf.o reaches the verifier, which says why it cannot load here", { skip: kprobeOverrideProblem() === null ? "this kernel has bpf_override_return: the next test covers it" : false }, async () => {
    const a = await bpfObjectAvailable("override.bpf.o");
    assert.equal(a.ok, false);
    assert.match(!a.ok ? a.reason : "", /override\.bpf\.o does not load here: .*(cannot use helper bpf_override_return|Invalid argument)/);
    await assert.rejects(apply(executor(), "syscall-error", { kind: "process", pid: process.pid, startTime: readProc(process.pid)!.startTime, comm: "x", cmdline: "x" }, { syscall: "read", mechanism: "kprobe-override" }), /mechanism: kprobe-override was asked for, but the kernel has no kprobes/);
  });

  test("kprobe-override: a running process's read() returns EIO with nothing stopping it, and recovers", async (t) => {
    const o = await kprobeOverrideAvailable();
    if (!o.ok) return t.skip(`bpf_override_return unavailable: ${o.reason}`);
    const file = path.join(tempDir("gameday-bpf-data-"), "k");
    fs.writeFileSync(file, "k");
    const r = target("reader.mjs", [file]);
    await next(r.lines, 2, (l) => l.ok === true, "reads before the fault");
    const ex = executor();
    const change = await apply(ex, "syscall-error", r.target, { syscall: "read", errno: "EIO", mechanism: "kprobe-override" });
    await next(r.lines, 3, (l) => l.code === "EIO", "EIO on read");
    assert.match(fs.readFileSync(`/proc/${r.target.pid}/status`, "utf8"), /^TracerPid:\s*0$/m, "no tracer");
    const v = await ex.revert(change.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /[1-9]\d* failed$/);
    await next(r.lines, 3, (l) => l.ok === true, "reads after revert");
  });
});

describe("SIGKILL of the CLI mid-fault", { skip: connectOk.ok && ptraceOk.ok ? false : `${connectOk.ok ? "" : connectOk.reason} ${ptraceOk.ok ? "" : ptraceOk.reason}` }, () => {
  const home = tempDir("gameday-bpf-home-");
  const cli = (args: string[]) => {
    const c = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "bpf-injector", ...args, "--duration", "60s"], {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_HOME: home, GAMEDAY_LOG: "warn" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(c);
    return c;
  };

  test("connect-error: no program attached, no process left in a gameday cgroup, connects succeed", async () => {
    const port = await tcpServer();
    const c = target("connect-client.mjs", [String(port)]);
    const h = v2Hierarchy()!;
    const original = cgroupOf(c.target.pid, h);
    const x = cli(["connect-error", "--pid", String(c.target.pid), "--port", String(port)]);
    await waitForLine(x, (l) => l.includes("injected connect-error"), 30_000, "the inject");
    await next(c.lines, 2, (l) => l.code === "ECONNREFUSED", "refusals");
    const ids = await attachedIds(cgroupOf(c.target.pid, h)!);
    assert.equal(ids.length, 2);
    x.kill("SIGKILL");
    await waitFor("the reaper's revert", () => cgroupOf(c.target.pid, h) === original, 15_000, 100);
    await waitFor("bpftool prog: its programs unloaded", async () => {
      const loaded = await loadedIds();
      return !ids.some((id) => loaded.has(id));
    }, 5000);
    assert.ok(!fs.readdirSync(original!).some((n) => n.startsWith(`gameday-connect-error-${c.target.pid}-`)), "no gameday cgroup left");
    await next(c.lines, 3, (l) => l.ok === true, "connects after the CLI died");
  });

  test("syscall-error: the tracer is gone (TracerPid 0) and reads succeed", async () => {
    const file = path.join(tempDir("gameday-bpf-data-"), "d");
    fs.writeFileSync(file, "z");
    const r = target("reader.mjs", [file]);
    const x = cli(["syscall-error", "--pid", String(r.target.pid), "--syscall", "read"]);
    await waitForLine(x, (l) => l.includes("injected syscall-error"), 30_000, "the inject");
    await next(r.lines, 2, (l) => l.code === "EIO", "EIO");
    x.kill("SIGKILL");
    await waitFor("untraced", () => /^TracerPid:\s*0$/m.test(fs.readFileSync(`/proc/${r.target.pid}/status`, "utf8")), 10_000);
    await next(r.lines, 3, (l) => l.ok === true, "reads after the CLI died");
    assert.equal(readProc(r.target.pid)?.startTime, r.target.startTime, "the process ran on");
  });
});
