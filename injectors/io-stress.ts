// io-stress: sustained write pressure on the filesystem holding a directory.
// Each of `workers` tagged children (injectors/load/io-writer.mjs) owns one
// file of `fileSize` bytes in the directory and writes `blockSize` blocks into
// it, sequentially (wrapping) or at random offsets, at its share of
// `bandwidth`, with an fsync every `fsyncEvery` writes. Revert kills the
// tagged children and deletes their files; the children also exit on their
// own when their parent dies.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { formatSize, sizeString } from "../lib/size";
import { sleepFor } from "../lib/sleep";
import { diskEffect, noteFreeBefore, revertDisk, undoFor, verifyDisk, type DiskUndo } from "./disk/files";
import { fsInfo, reserveRefusal, resolveDir, statfsAvailable } from "./disk/fs";
import { forceParam, rateString, reserveParam } from "./disk/params";
import { spawnTagged, tagged } from "./load/children";
import { register } from "./registry";
import type { Injector, PathTarget } from "./types";
import { diskUndoShape } from "./undo-shapes";

export const IO_PATTERNS = ["sequential", "random"] as const;
const MIB = 1024 ** 2;

export const ioStressParams = z
  .object({
    /** total write rate of all workers, bytes per second */
    bandwidth: rateString.default(20 * MIB),
    /** bytes per write() */
    blockSize: sizeString
      .refine((b) => b >= 512 && b <= 64 * MIB, { error: "must be between 512 bytes and 64M" })
      .default(64 * 1024),
    pattern: z.enum(IO_PATTERNS, { error: `expected one of ${IO_PATTERNS.join(", ")}` }).default("sequential"),
    /** fsync after every N writes; 0: never (the page cache absorbs the writes) */
    fsyncEvery: z.number({ error: "expected a whole number ≥ 0" }).int({ error: "expected a whole number ≥ 0" }).min(0, { error: "expected a whole number ≥ 0" }).default(16),
    /** each worker's file: writes wrap around (sequential) or land anywhere (random) within it */
    fileSize: sizeString.refine((b) => b > 0, { error: "must be more than 0 bytes" }).default(64 * MIB),
    workers: z.number({ error: "expected a whole number from 1 to 16" }).int({ error: "expected a whole number from 1 to 16" }).min(1, { error: "expected a whole number from 1 to 16" }).max(16, { error: "expected a whole number from 1 to 16" }).default(1),
    /** on the filesystem holding / or $GAMEDAY_HOME, never leave less than this available */
    reserve: reserveParam,
    force: forceParam,
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.fileSize < p.blockSize) ctx.addIssue({ code: "custom", path: ["fileSize"], message: `must be at least blockSize (${formatSize(p.blockSize)})` });
  });
export type IoStressParams = z.infer<typeof ioStressParams>;

/** Bytes the workers' files may take in all. */
export function ioFootprint(p: IoStressParams): number {
  return p.workers * Math.floor(p.fileSize / p.blockSize) * p.blockSize;
}

export const ioStress: Injector<IoStressParams, DiskUndo, PathTarget> = {
  name: "io-stress",
  description: "Sustained writes and fsyncs below a directory, at a bandwidth, sequential or random, from 1 to 16 writer processes.",
  family: "disk",
  targetKind: "path",
  params: ioStressParams,
  undoSchema: diskUndoShape,

  async available() {
    const s = statfsAvailable();
    if (!s.ok) return s;
    try {
      fs.readFileSync(`/proc/${process.pid}/io`);
    } catch {
      return { ok: true, detail: "/proc/PID/io is not readable: written bytes cannot be reported" };
    }
    return { ok: true };
  },

  async plan(target) {
    return undoFor("io-stress", target);
  },

  async inject(target, params, ctx) {
    const undo = ctx.undo;
    const dir = resolveDir(target.path);
    if (dir !== undo.dir) throw new Error(`${target.path} resolves to ${dir} now, not ${undo.dir} as planned; nothing written`);
    const info = fsInfo(dir);
    noteFreeBefore(undo, info.freeBytes);
    const need = ioFootprint(params);
    if (need > info.freeBytes && !params.force)
      throw new Error(`the writers' files need up to ${formatSize(need)}, more than the ${formatSize(info.freeBytes)} free in ${dir}; use smaller fileSize or fewer workers (or force: true)`);
    const refused = reserveRefusal(info, need, params.reserve, params.force);
    if (refused) throw new Error(refused);
    const perWorker = Math.max(1, Math.floor(params.bandwidth / params.workers));
    const files = Array.from({ length: params.workers }, (_, i) => path.join(dir, `${undo.prefix}${i}`));
    for (const file of files) {
      spawnTagged("io-writer.mjs", undo.tag, [
        "--file", file,
        "--file-size", String(params.fileSize),
        "--block-size", String(params.blockSize),
        "--rate", String(perWorker),
        "--pattern", params.pattern,
        "--fsync-every", String(params.fsyncEvery),
      ]);
    }
    const end = Date.now() + 10_000;
    while (!files.every((f) => fs.existsSync(f)) || tagged(undo.tag).length < params.workers) {
      if (ctx.signal.aborted) throw new Error("interrupted while starting the writers");
      if (Date.now() > end) throw new Error(`only ${tagged(undo.tag).length} of ${params.workers} writer(s) started within 10 s`);
      await sleepFor(25, ctx.signal);
    }
  },

  async revert(_target, undo) {
    await revertDisk(undo);
  },

  async verify(_target, undo) {
    return verifyDisk(undo);
  },

  effect: async (_target, undo) => diskEffect(undo, "io-stress"),
};

register(ioStress);

