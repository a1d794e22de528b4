// How fast the dead man's switch acts: a holder (an executor with its
// reaper) SIGSTOPs a victim, is SIGKILLed, and we time how long until the
// victim runs again — the reaper reading the holder's journal and reverting
// with no command typed. Side by side: the same revert done in-process by a
// live executor (the floor). Bounded: TRIALS holders, one victim, all killed
// at the end. Results go to bench/results/<timestamp>-reaper.json.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import "../injectors";
import { readProc } from "../lib/procfs";
import { Executor } from "../agent/executor";

const TRIALS = 20;
const ROOT = path.resolve(import.meta.dirname, "..");
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const stopped = (pid: number) => readProc(pid)?.state === "T";

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 2));
  }
}

const victim = spawn("sleep", [`3600.${process.pid}7`], { stdio: "ignore" });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-bench-reaper-"));
try {
  const viaReaper: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const holder = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "agent/testdata/stop-holder.ts"), path.join(dir, "journal"), String(victim.pid)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on("data", (d: Buffer) => d.toString().includes("injected") && resolve());
      holder.once("exit", () => reject(new Error("holder exited early")));
    });
    holder.removeAllListeners("exit");
    const t0 = performance.now();
    holder.kill("SIGKILL");
    await until(() => !stopped(victim.pid!), 10_000);
    viaReaper.push(performance.now() - t0);
  }
  const inProcess: number[] = [];
  const ex = new Executor({ command: "bench", dir: path.join(dir, "journal-live"), reaper: false });
  await ex.start();
  const p = readProc(victim.pid!)!;
  for (let i = 0; i < TRIALS; i++) {
    const c = await ex.apply({ runId: "b", step: 0, targetName: "v", fault: "process-kill", target: { kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline }, params: { signal: "STOP" } }, new AbortController().signal);
    const t0 = performance.now();
    await ex.revert(c.id);
    inProcess.push(performance.now() - t0);
  }
  await ex.close();
  const r = {
    trials: TRIALS,
    reaperMs: { p50: pct(viaReaper, 50), p95: pct(viaReaper, 95), max: Math.max(...viaReaper) },
    inProcessRevertMs: { p50: pct(inProcess, 50), p95: pct(inProcess, 95), max: Math.max(...inProcess) },
  };
  const out = path.join(ROOT, "bench/results", `${new Date().toISOString().replace(/[:.]/g, "-")}-reaper.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(r, null, 2));
  const f = (x: { p50: number; p95: number; max: number }) => `p50 ${x.p50.toFixed(1)} ms, p95 ${x.p95.toFixed(1)} ms, max ${x.max.toFixed(1)} ms`;
  process.stdout.write(`reaper: SIGKILL of the holder → victim running again: ${f(r.reaperMs)} (${TRIALS} trials)\nin-process revert + verify by a live executor:        ${f(r.inProcessRevertMs)}\n${out}\n`);
} finally {
  victim.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
}
