// Benchmarks: timings measured side by side in one run and reported as ratios,
// never as pass/fail tests. Results go to bench/results/<timestamp>.json.
//
// proc-scan: how long one sniper/worker scan of /proc takes with N extra
// processes, next to `ps -eo pid,ppid,stat,lstart,comm,args` (procps) reading
// the same table. Bounded: N sleeps, each killed at the end.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { config } from "../lib/config";
import { listProcesses } from "../lib/procfs";
import { resolveProcesses } from "../injectors/targets/resolve";

const N = config().BENCH_PROCS;
const ROUNDS = 7;

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.floor(a.length / 2)];
}

function time(fn: () => unknown): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

async function procScan(): Promise<Record<string, unknown>> {
  const kids: ChildProcess[] = [];
  try {
    for (let i = 0; i < N; i++) kids.push(spawn("sleep", [`600.${i}`], { stdio: "ignore" }));
    await new Promise((r) => setTimeout(r, 500));
    const total = listProcesses().length;
    const ours: number[] = [];
    const resolve: number[] = [];
    const ps: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      ours.push(time(() => listProcesses()));
      resolve.push(time(() => resolveProcesses({ cmdline: "^sleep 600\\.1\\d\\d$" })));
      ps.push(time(() => execFileSync("ps", ["-eo", "pid,ppid,stat,lstart,comm,args"], { maxBuffer: 64 << 20 })));
    }
    const matched = resolveProcesses({ cmdline: "^sleep 600\\.1\\d\\d$" }).matched.length;
    return {
      processes: total,
      matched,
      listProcessesMs: +median(ours).toFixed(2),
      resolveProcessesMs: +median(resolve).toFixed(2),
      psMs: +median(ps).toFixed(2),
      ratioScanToPs: +(median(ours) / median(ps)).toFixed(2),
    };
  } finally {
    for (const k of kids) k.kill("SIGKILL");
  }
}

const results = { at: new Date().toISOString(), node: process.version, procScan: await procScan() };
const dir = path.join(import.meta.dirname, "results");
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${results.at.replace(/[:.]/g, "-")}.json`);
fs.writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
console.log(JSON.stringify(results, null, 2));
console.log(`written to ${path.relative(process.cwd(), file)}`);
