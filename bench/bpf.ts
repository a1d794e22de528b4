// BPF and ptrace fault overhead, side by side in one run (reported, never
// pass/fail). Results: bench/results/bpf-<timestamp>.json.
//   node --import tsx bench/bpf.ts
// - connect(): one process doing CONNECTS loopback connects per round, rounds
//   alternating between outside any program and under the connect-error
//   program with a rule that matches nothing (port 1): the program's cost.
// - reads: one process doing READS 4 KiB preads per round, untraced vs traced
//   by the syscall-error tracer aiming at an unrelated syscall (fsync), beside
//   strace attached the same way and strace --seccomp-bpf on a process it
//   starts (what a seccomp filter would save, which a running process cannot
//   be given reversibly: see bpf/README.md), and the tracer at its best
//   scheduling (SCHED_FIFO, it and the workload pinned to one CPU): what
//   placement alone could save.
// The machine is shared: the load average before and after goes with the result.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { promisify } from "node:util";
import { getInjector, type ProcessTarget } from "../injectors";
import { syscallTable } from "../injectors/bpf/errno";
import { tool } from "../injectors/bpf/helper";
import { readProc } from "../lib/procfs";

const CONNECTS = 10_000;
const READS = 100_000;
const ROUNDS = 5;
const DIR = path.join(import.meta.dirname, "bpf");
const run = promisify(execFile);
const PY = (await run("python3", ["-c", "import sys; print(sys.executable)"])).stdout.trim();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r2 = (x: number) => Math.round(x * 100) / 100;

/** A workload process: each round() writes a line and resolves with the milliseconds it printed. */
function workload(argv: string[]): { child: ChildProcess; target: () => ProcessTarget; round: () => Promise<number> } {
  const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: ((ms: number) => void)[] = [];
  lines.on("line", (l) => waiting.shift()?.(Number(l)));
  return {
    child,
    target: () => {
      const p = readProc(child.pid!)!;
      return { kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline };
    },
    round: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin!.write("go\n");
      }),
  };
}

/** Hold a fault on the workload for fn (plan, inject, revert through the injector itself). */
async function under<T>(fault: string, t: ProcessTarget, raw: unknown, fn: () => Promise<T>): Promise<T> {
  const inj = getInjector(fault)!;
  const a = await inj.available();
  if (!a.ok) throw new Error(`${fault} unavailable: ${a.reason}`);
  const params = inj.params.parse(raw);
  const undo = await inj.plan(t, params);
  try {
    await inj.inject(t, params, { runId: "bench", signal: new AbortController().signal, undo });
    return await fn();
  } finally {
    await inj.revert(t, undo);
  }
}

/** Run a tracer attached to the workload for fn; `ready` resolves once it is attached. */
async function beside(argv: string[], ready: (t: ChildProcess) => Promise<unknown>, fn: () => Promise<number>): Promise<number> {
  const t = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "ignore"] });
  await ready(t);
  try {
    return await fn();
  } finally {
    t.kill("SIGTERM");
    if (t.exitCode === null) await new Promise((r) => t.once("exit", r));
  }
}

/** strace attached the way our tracer attaches (it says nothing when ready: give it half a second). */
const strace = (pid: number, fn: () => Promise<number>) =>
  beside(["strace", "-qq", "-p", String(pid), "-e", "trace=fsync", "-o", "/dev/null"], () => new Promise((r) => setTimeout(r, 500)), fn);

/** gameday-ptrace aimed at fsync under SCHED_FIFO, it and every thread of the workload on CPU 0 for
 * the round (a cross-CPU wake-up per stop is what costs most in a VM), the workload's mask restored. */
async function pinnedTracer(pid: number, fn: () => Promise<number>): Promise<number> {
  const mask = (await run("taskset", ["-p", String(pid)])).stdout.trim().split(/\s+/).pop()!;
  await run("taskset", ["-a", "-p", "1", String(pid)]);
  try {
    const argv = ["chrt", "-f", "1", "taskset", "-c", "0", tool("gameday-ptrace"), String(pid), String(syscallTable().fsync), "5", "1000000", "0"];
    const attached = (t: ChildProcess) =>
      new Promise((resolve, reject) => {
        readline.createInterface({ input: t.stdout! }).once("line", resolve);
        t.once("exit", (code) => reject(new Error(`gameday-ptrace exited (${code}) before attaching`)));
      });
    return await beside(argv, attached, fn);
  } finally {
    await run("taskset", ["-a", "-p", mask, String(pid)]);
  }
}

async function connects(): Promise<Record<string, unknown>> {
  // the client resets each connection: the server never closes first, so neither side keeps a TIME_WAIT
  const server = net.createServer((c) => c.on("error", () => undefined));
  // a full accept queue drops the SYN, and the connect waits out a 1 s retransmit: room for a whole round
  await new Promise<void>((r) => server.listen({ port: 0, host: "127.0.0.1", backlog: CONNECTS * 2 }, r));
  const port = (server.address() as net.AddressInfo).port;
  const w = workload([PY, path.join(DIR, "connects.py"), String(port), String(CONNECTS)]);
  try {
    await w.round(); // warm-up
    const plain: number[] = [];
    const attached: number[] = [];
    // the order alternates, so a drift of the shared machine does not favour either side
    for (let i = 0; i < ROUNDS * 2; i++) {
      if (i % 2) attached.push(await under("connect-error", w.target(), { port: 1 }, () => w.round()));
      plain.push(await w.round());
      if (!(i % 2)) attached.push(await under("connect-error", w.target(), { port: 1 }, () => w.round()));
    }
    return {
      connectsPerRound: CONNECTS,
      rounds: ROUNDS * 2,
      outsideMedianMs: r2(median(plain)),
      underNonMatchingProgramMedianMs: r2(median(attached)),
      overheadPercent: r2((median(attached) / median(plain) - 1) * 100),
      roundsMs: { outside: plain.map(r2), underNonMatchingProgram: attached.map(r2) },
    };
  } finally {
    w.child.kill();
    server.close();
  }
}

async function reads(): Promise<Record<string, unknown>> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gameday-bench-bpf-")), "data");
  fs.writeFileSync(file, Buffer.alloc(4 << 20, 7));
  const w = workload([PY, path.join(DIR, "reads.py"), file, String(READS)]);
  try {
    await w.round();
    const plain: number[] = [];
    const ours: number[] = [];
    const straced: number[] = [];
    const pinned: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      plain.push(await w.round());
      ours.push(await under("syscall-error", w.target(), { syscall: "fsync" }, () => w.round()));
      straced.push(await strace(w.child.pid!, () => w.round()));
      pinned.push(await pinnedTracer(w.child.pid!, () => w.round()));
    }
    // strace starting the workload itself, so it can install a seccomp filter first
    const seccomp: number[] = [];
    const s = workload(["strace", "-qq", "-f", "--seccomp-bpf", "-e", "trace=fsync", "-o", "/dev/null", PY, path.join(DIR, "reads.py"), file, String(READS)]);
    try {
      await s.round();
      for (let i = 0; i < ROUNDS; i++) seccomp.push(await s.round());
    } finally {
      s.child.kill();
    }
    const ratio = (xs: number[]) => r2(median(xs) / median(plain));
    return {
      readsPerRound: READS,
      blockBytes: 4096,
      rounds: ROUNDS,
      untracedMedianMs: r2(median(plain)),
      gamedayPtraceAttachedMedianMs: r2(median(ours)),
      straceAttachedMedianMs: r2(median(straced)),
      gamedayPtraceFifoOneCpuMedianMs: r2(median(pinned)),
      straceSeccompLaunchedMedianMs: r2(median(seccomp)),
      slowdown: {
        gamedayPtraceAttached: ratio(ours),
        straceAttached: ratio(straced),
        gamedayPtraceFifoOneCpu: ratio(pinned),
        straceSeccompLaunched: ratio(seccomp),
      },
      roundsMs: { untraced: plain.map(r2), gamedayPtraceAttached: ours.map(r2), gamedayPtraceFifoOneCpu: pinned.map(r2) },
    };
  } finally {
    w.child.kill();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

const loadBefore = os.loadavg().map(r2);
// `bench/bpf.ts connect` or `… reads`: one half only
const only = process.argv[2];
const out = {
  at: new Date().toISOString(),
  kernel: os.release(),
  connect: only === "reads" ? null : await connects(),
  reads: only === "connect" ? null : await reads(),
  loadavg: { before: loadBefore, after: os.loadavg().map(r2) },
};
const dir = path.join(import.meta.dirname, "results");
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `bpf-${out.at.replace(/[:.]/g, "-")}.json`);
fs.writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
process.stdout.write(JSON.stringify(out, null, 2) + `\nwritten to ${file}\n`);
