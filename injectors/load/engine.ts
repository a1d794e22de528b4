// Load generators shared by cpu-stress and memory-stress: which engine runs
// them (node children, or stress-ng when installed), starting and stopping a
// tagged set of them, and how much CPU they used.
// Evidence: just before revert kills them, the CPU time and resident memory of
// every load process (the tagged ones and the renamed stress-ng workers in
// their process groups), kept by tag until effect() takes it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { config } from "../../lib/config";
import { formatSize } from "../../lib/size";
import { listProcesses } from "../../lib/procfs";
import { keepEvidence, plural, takeEvidence } from "../evidence";
import type { Effect, VerifyResult } from "../types";
import { killTagged, spawnTagged, tagged } from "./children";

export const cores = os.availableParallelism();

export const ENGINES = ["auto", "node", "stress-ng"] as const;
export type EngineChoice = (typeof ENGINES)[number];
export type Engine = Exclude<EngineChoice, "auto">;

export const engineParam = z.enum(ENGINES, { error: `expected one of ${ENGINES.join(", ")}` }).default("auto");

/** Full path of an executable on PATH, or null. */
export function onPath(cmd: string): string | null {
  for (const dir of (config().PATH ?? "").split(":")) {
    if (!dir) continue;
    const file = path.join(dir, cmd);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** stress-ng runs only with setpriv, which ties its life to ours (PR_SET_PDEATHSIG). */
export function stressNgMissing(): string | null {
  if (!onPath("stress-ng")) return "stress-ng is not on PATH";
  if (!onPath("setpriv")) return "setpriv (util-linux) is not on PATH";
  return null;
}

/** "auto" picks stress-ng when it can run, else the node children. */
export function chooseEngine(wanted: EngineChoice): Engine {
  if (wanted === "node") return "node";
  if (wanted === "stress-ng") return "stress-ng";
  return stressNgMissing() ? "node" : "stress-ng";
}

export interface LoadUndo {
  tag: string;
  engine: Engine;
}

/** Start the children; fail if any of them dies at once (bad arguments, missing program). */
export async function startLoad(undo: LoadUndo, children: { script: string; args: string[] }[]): Promise<number[]> {
  if (undo.engine === "stress-ng") {
    const why = stressNgMissing();
    if (why) throw new Error(`engine: stress-ng was asked for but ${why}`);
  }
  const pids = children.map((c) => spawnTagged(c.script, undo.tag, c.args));
  await new Promise((r) => setTimeout(r, 300));
  const alive = new Set(tagged(undo.tag).map((p) => p.pid));
  const dead = pids.filter((p) => !alive.has(p));
  if (dead.length) throw new Error(`${dead.length} of ${pids.length} ${undo.engine} load generator(s) exited at once`);
  return pids;
}

/**
 * Kill the tagged children with their whole process groups (stress-ng's
 * renamed workers carry no tag but share the group), then any tagged straggler.
 */
export async function stopLoad(undo: LoadUndo): Promise<void> {
  keepLoadUsage(undo);
  await killTagged(undo.tag);
}

export interface LoadUsage {
  /** load processes alive when the revert came */
  processes: number;
  /** their user + system CPU time */
  cpuMs: number;
  /** their resident memory (VmRSS), the runtime's own included */
  rssBytes: number;
  /** since the oldest of them started */
  heldMs: number;
}

/** The tagged processes and the members of their process groups (stress-ng's renamed workers). */
function loadPids(tag: string): number[] {
  const mine = tagged(tag);
  const groups = new Set(mine.filter((p) => p.pgid === p.pid && p.pgid > 1).map((p) => p.pgid));
  const pids = new Set(mine.map((p) => p.pid));
  for (const p of listProcesses()) if (groups.has(p.pgid) && p.state !== "Z" && p.state !== "X") pids.add(p.pid);
  return [...pids];
}

/** Resident memory of a process (VmRSS), 0 once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Read once, before the kill: a retried revert finds nothing left to read and keeps the first reading. */
function keepLoadUsage(undo: LoadUndo): void {
  try {
    const pids = loadPids(undo.tag);
    if (!pids.length) return;
    const uptimeMs = Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
    const start = Math.min(...listProcesses().filter((p) => pids.includes(p.pid)).map((p) => p.startTime));
    // startTime is in clock ticks since boot (USER_HZ, 100)
    const heldMs = Number.isFinite(start) ? Math.max(0, Math.round(uptimeMs - start * 10)) : 0;
    const usage: LoadUsage = { processes: pids.length, cpuMs: cpuTimeMs(pids), rssBytes: pids.reduce((n, p) => n + rssBytes(p), 0), heldMs };
    keepEvidence(`load-${undo.tag}`, usage, { once: true });
  } catch {
    // evidence never stands in the way of the kill
  }
}

/** The usage revert kept: CPU burned (touched: CPU ms) or memory held (touched: bytes resident). */
export function loadEffect(undo: LoadUndo, what: "cpu" | "memory"): Effect | null {
  const u = takeEvidence<LoadUsage>(`load-${undo.tag}`);
  if (!u) return null;
  const who = `${plural(u.processes, "load process", "load processes")} (${undo.engine})`;
  const over = `over ${(u.heldMs / 1000).toFixed(1)} s`;
  return what === "cpu"
    ? { touched: u.cpuMs, summary: `${who} burned ${(u.cpuMs / 1000).toFixed(1)} CPU-seconds ${over}`, counters: { ...u } }
    : { touched: u.rssBytes, summary: `${who} held ${formatSize(u.rssBytes)} resident ${over}`, counters: { ...u } };
}

export function verifyStopped(fault: string, undo: LoadUndo): VerifyResult {
  const left = tagged(undo.tag);
  return left.length
    ? { ok: false, detail: `${left.length} ${fault} load generator(s) still running: ${left.map((p) => p.pid).join(", ")}` }
    : { ok: true, detail: `no ${fault} load generator left (engine ${undo.engine})` };
}

/**
 * CPU time (user + system) of processes in ms, from /proc/PID/stat fields 14
 * and 15; gone processes count 0. Clock ticks are USER_HZ, 100 on Linux.
 */
export function cpuTimeMs(pids: Iterable<number>): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited
    }
  }
  return ticks * 10;
}
