// cpu-stress: load N cores to P % with child processes — node burners
// (injectors/load/cpu-burn.mjs), or stress-ng when it is installed and the
// experiment did not ask for engine "node". Every child carries a tag chosen
// in plan(), so revert (here or in a worker restarted after a crash) kills
// exactly these; the children also exit by themselves when we die.
// The load helpers below are shared with memory-stress.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { killTagged, newTag, spawnTagged, tagged } from "./children";
import { register } from "./registry";
import type { HostTarget, Injector, VerifyResult } from "./types";

export const cores = os.availableParallelism();

export const ENGINES = ["auto", "node", "stress-ng"] as const;
export type EngineChoice = (typeof ENGINES)[number];
export type Engine = Exclude<EngineChoice, "auto">;

export const engineParam = z.enum(ENGINES, { error: `expected one of ${ENGINES.join(", ")}` }).default("auto");

/** Full path of an executable on PATH, or null. */
export function onPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
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

export const cpuStressParams = z
  .object({
    /**
     * burner processes, each loading one core; default: every core of the
     * host. The bound and default depend on the host, so they live in a
     * refinement and a transform, out of the published (host-independent) schema.
     */
    workers: z
      .number({ error: "expected a whole number of workers" })
      .int({ error: "expected a whole number of workers" })
      .min(1, { error: "must be at least 1" })
      .optional()
      .refine((w) => w === undefined || w <= 4 * cores, { error: `must be at most ${4 * cores} (4 × the ${cores} cores of this host)` })
      .transform((w) => w ?? cores),
    /** percent of each worker's core kept busy */
    load: z.number({ error: "expected a percentage 1..100" }).min(1, { error: "must be at least 1 (percent)" }).max(100, { error: "must be at most 100 (percent)" }).default(100),
    engine: engineParam,
  })
  .strict();
export type CpuStressParams = z.infer<typeof cpuStressParams>;

export interface CpuStressUndo extends LoadUndo {
  workers: number;
  load: number;
}

export const cpuStress: Injector<CpuStressParams, CpuStressUndo, HostTarget> = {
  name: "cpu-stress",
  description: "Load CPU cores on the host to a percentage with child processes (node burners, or stress-ng when installed).",
  targetKind: "host",
  params: cpuStressParams,

  async available() {
    const missing = stressNgMissing();
    return { ok: true, detail: `${cores} cores; engine auto = ${missing ? `node (${missing})` : "stress-ng"}` };
  },

  async plan(target, params) {
    return { tag: newTag("cpu-stress"), engine: chooseEngine(params.engine), workers: params.workers, load: params.load };
  },

  async inject(_target, _params, { undo }) {
    const children =
      undo.engine === "stress-ng"
        ? [{ script: "stress-ng.mjs", args: ["--", "--cpu", String(undo.workers), "--cpu-load", String(undo.load), "--timeout", "0", "--quiet"] }]
        : Array.from({ length: undo.workers }, () => ({ script: "cpu-burn.mjs", args: ["--load", String(undo.load)] }));
    await startLoad(undo, children);
  },

  async revert(_target, undo) {
    await stopLoad(undo);
  },

  async verify(_target, undo) {
    return verifyStopped("cpu-stress", undo);
  },
};

register(cpuStress);
