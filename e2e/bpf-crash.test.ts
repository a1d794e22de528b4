// A worker SIGKILLed while connect-error and syscall-error hold real running
// processes: its reaper and the helpers' own deaths leave no BPF program
// attached (bpftool cgroup tree / prog), no tracer (TracerPid 0) and no
// process in a gameday cgroup; the processes run on, and the next worker
// start closes the run with both changes verified reverted. The run record
// carries the mechanism each fault used. The read fault is scoped to the
// data file: every read() failing would also fail libuv's own eventfd reads,
// and Node aborts on those (SIGABRT), which is the fault working, not the
// crash this test is about.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import type { RunRecord } from "../lib/contract";
import { readProc } from "../lib/procfs";
import { v2Hierarchy } from "../injectors/bpf/cgroup";
import { bpfObjectAvailable, ptraceAvailable } from "../injectors/bpf/detect";
import { cgroupOf } from "../injectors/cgroup/hierarchy";
import { attachedIds, loadedIds } from "../injectors/bpf/testdata/bpftool";
import { apiCall, EXIT_WITH_PARENT, startWorkerProcess, tempDir, tempHome, waitFor, type WorkerProc } from "./kit";

const TESTDATA = path.join(import.meta.dirname, "../injectors/bpf/testdata");
const connectOk = await bpfObjectAvailable("connect.bpf.o");
const ptraceOk = ptraceAvailable();
const skip = !connectOk.ok ? connectOk.reason : !ptraceOk.ok ? ptraceOk.reason : false;

const children: ChildProcess[] = [];
let worker: WorkerProc | undefined;
const probe = http.createServer((_q, s) => s.end("ok"));
const tcp = net.createServer((c) => c.destroy());
after(async () => {
  await worker?.stop();
  for (const c of children) c.kill("SIGKILL");
  probe.close();
  tcp.close();
});

function node(script: string, args: string[]): { child: ChildProcess; out: string[] } {
  const child = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(TESTDATA, script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const out: string[] = [];
  child.stdout!.on("data", (d: Buffer) => out.push(...d.toString().split("\n").filter(Boolean)));
  return { child, out };
}
const listen = (s: net.Server) => new Promise<number>((r) => s.listen(0, "127.0.0.1", () => r((s.address() as net.AddressInfo).port)));
const tail = (out: string[], n = 5) => out.slice(-n);

test("worker SIGKILL mid-fault: nothing attached, nothing traced, nobody left in a gameday cgroup", { skip, timeout: 120_000 }, async () => {
  const [probePort, port] = [await listen(probe), await listen(tcp)];
  const file = path.join(tempDir("gameday-bpf-crash-"), "data");
  fs.writeFileSync(file, "d");
  const client = node("connect-client.mjs", [String(port)]);
  const reader = node("reader.mjs", [file]);
  const h = v2Hierarchy()!;
  const original = cgroupOf(client.child.pid!, h)!;
  const home = tempHome();
  worker = await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
  const yaml = `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: bpf-crash }
spec:
  hypothesis: a worker crash leaves no BPF program or tracer behind
  targets:
    client: { process: { pids: [${client.child.pid}] } }
    reader: { process: { pids: [${reader.child.pid}] } }
  steadyState: { probes: [ { name: up, type: http, url: "http://127.0.0.1:${probePort}/", interval: 100ms, tolerance: { min: 0.5 } } ] }
  method:
    - { fault: connect-error, target: client, params: { port: ${port}, errno: EHOSTUNREACH }, duration: 10m }
    - { fault: syscall-error, target: reader, params: { syscall: read, errno: EIO, path: "${path.dirname(file)}/*" }, duration: 10m }
`;
  const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await waitFor("connects failing with EHOSTUNREACH", () => tail(client.out).every((l) => l.includes("EHOSTUNREACH")), 20_000);
  await waitFor("reads failing with EIO", () => tail(reader.out).every((l) => l.includes("EIO")), 20_000);
  const folder = cgroupOf(client.child.pid!, h)!;
  assert.notEqual(folder, original);
  const ids = await attachedIds(folder);
  assert.equal(ids.length, 2, "connect4 and connect6 attached to the client's folder");
  const ev = await apiCall<{ events: { kind: string; message: string; data?: string }[] }>(worker, "GET", `/api/v1/runs/${r.body.run.id}/events`);
  const text = JSON.stringify(ev.body.events);
  assert.match(text, /cgroup\/connect4\+connect6 \(bpf_set_retval EHOSTUNREACH\)/, "the run record names the BPF mechanism");
  assert.match(text, /ptrace \(auto: bpf_override_return: /, "and the syscall-error mechanism with why");

  await worker.stop("SIGKILL");
  await waitFor("the client back in its own cgroup", () => cgroupOf(client.child.pid!, h) === original, 10_000);
  await waitFor("the reader untraced", () => /^TracerPid:\s*0$/m.test(fs.readFileSync(`/proc/${reader.child.pid}/status`, "utf8")), 10_000);
  await waitFor("bpftool prog: its programs unloaded", async () => {
    const loaded = await loadedIds();
    return !ids.some((id) => loaded.has(id));
  }, 10_000);
  assert.ok(!fs.existsSync(folder), "its cgroup is gone (and with it every attachment: bpftool cgroup tree)");
  assert.ok(!fs.readdirSync(original).some((n) => n.startsWith(`gameday-connect-error-${client.child.pid}-`)), "no gameday cgroup left");
  await waitFor("connects succeed again", () => tail(client.out, 3).every((l) => l.includes('"ok":true')), 10_000);
  await waitFor("reads succeed again", () => tail(reader.out, 3).every((l) => l.includes('"ok":true')), 10_000);
  assert.ok(readProc(client.child.pid!) && readProc(reader.child.pid!), "both processes ran on");

  worker = await startWorkerProcess(home);
  const { body } = await apiCall<{ run: RunRecord }>(worker, "GET", `/api/v1/runs/${r.body.run.id}`);
  assert.equal(body.run.faults.length, 2);
  for (const f of body.run.faults) assert.equal(f.state, "reverted", `${f.fault}: ${f.state}`);
});
