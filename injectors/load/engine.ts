// Load generators shared by cpu-stress and memory-stress: which engine runs
// them (node children, or stress-ng when installed), starting and stopping a
// tagged set of them, and how much CPU they used.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { config } from "../../lib/config";
import type { VerifyResult } from "../types";
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
  await killTagged(undo.tag);
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
