// disk-fill: take free space away from the filesystem holding a directory,
// to a usage percentage, by a size, or until only N bytes are left — at once
// (fallocate, or zeros where the filesystem has none) or at a rate (a tagged
// child, so the fill goes on without blocking the worker). Files are created
// only directly in the resolved directory, named .gameday-disk-fill-<id>-<n>,
// and revert deletes exactly those names and kills the tagged child, using
// only the journaled undo. The filesystem holding / or $GAMEDAY_HOME keeps a
// reserve unless forced: a full root filesystem takes the worker down too.
// The reserve never goes below the floor (fs.ts), a tmpfs keeps the memory
// floor, and a filler at a rate checks both before every chunk: when one is
// reached it stops and leaves a note that verify() reports.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { sleepFor } from "../lib/sleep";
import { formatSize, sizeString } from "../lib/size";
import { diskEffect, floorNote, noteFreeBefore, revertDisk, undoFor, verifyDisk, type DiskUndo } from "./disk/files";
import { fallocateBinary, fsInfo, isTmpfs, keepFree, memoryFloor, reserveRefusal, resolveDir, statfsAvailable, type FsInfo } from "./disk/fs";
import { forceParam, rateString, reserveParam } from "./disk/params";
import { killTagged, spawnTagged, tagged } from "./load/children";
import { register } from "./registry";
import type { Injector, PathTarget } from "./types";
import { diskUndoShape } from "./undo-shapes";

export const FILL_MODES = ["fillPercent", "size", "leaveFree"] as const;

export const diskFillParams = z
  .object({
    /** fill until the filesystem is this full, as df counts it (used / (used + available)) */
    fillPercent: z.number({ error: "expected a percentage, 0 < p ≤ 100" }).gt(0, { error: "must be greater than 0" }).max(100, { error: "must be at most 100" }).optional(),
    /** write this many bytes */
    size: sizeString.refine((b) => b > 0, { error: "must be more than 0 bytes" }).optional(),
    /** fill until only this many bytes are available */
    leaveFree: sizeString.optional(),
    /** bytes per second; absent: all at once */
    rate: rateString.optional(),
    /** on a filesystem holding Game Day's state (/, $GAMEDAY_HOME, the database, /var/log, /tmp), never leave less than this available; never below the floor (512 MiB or 5 %) */
    reserve: reserveParam,
    /** allow going below the reserve */
    force: forceParam,
  })
  .strict()
  .superRefine((p, ctx) => {
    const given = FILL_MODES.filter((m) => p[m] !== undefined);
    if (given.length === 0) ctx.addIssue({ code: "custom", message: "give one of fillPercent, size or leaveFree" });
    if (given.length > 1) ctx.addIssue({ code: "custom", path: [given[1]], message: `give only one of fillPercent, size or leaveFree (got ${given.join(" and ")})` });
  })
  .meta({ examples: [{ size: "256M" }] });
export type DiskFillParams = z.infer<typeof diskFillParams>;

export interface FillPlan {
  bytes: number;
  /** usage once the bytes are written */
  after: { usedPercent: number; freeBytes: number };
  /** why it must not happen, or null */
  refused: string | null;
}

/** How much to write into this filesystem for these params. */
export function planFill(info: FsInfo, p: DiskFillParams): FillPlan {
  const roundUp = (b: number) => Math.ceil(b / info.blockSize) * info.blockSize;
  let bytes = 0;
  let refused: string | null = null;
  if (p.fillPercent !== undefined) {
    const want = (p.fillPercent / 100) * (info.usedBytes + info.freeBytes);
    bytes = Math.min(info.freeBytes, Math.max(0, roundUp(want - info.usedBytes)));
  } else if (p.leaveFree !== undefined) {
    bytes = Math.max(0, info.freeBytes - p.leaveFree);
  } else if (p.size !== undefined) {
    bytes = p.size;
    if (bytes > info.freeBytes) refused = `size ${formatSize(bytes)} is more than the ${formatSize(info.freeBytes)} free in ${info.dir}`;
  }
  refused ??= reserveRefusal(info, bytes, p.reserve, p.force);
  const used = info.usedBytes + bytes;
  const free = Math.max(0, info.freeBytes - bytes);
  return { bytes, after: { usedPercent: used + free > 0 ? (100 * used) / (used + free) : 100, freeBytes: free }, refused };
}

const OPEN_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** fallocate a fresh file; null when done, else why not. */
async function fallocateNew(file: string, bytes: number, signal: AbortSignal): Promise<string | null> {
  const bin = fallocateBinary();
  if (!bin) return "no fallocate binary";
  // The file is created here (O_EXCL, no symlink followed) and handed over as
  // fd 3, so fallocate works on exactly this inode.
  const fd = fs.openSync(file, OPEN_NEW, 0o600);
  try {
    return await new Promise<string | null>((resolve) => {
      const c = spawn(bin, ["-l", String(bytes), "/dev/fd/3"], { stdio: ["ignore", "ignore", "pipe", fd], signal });
      let err = "";
      c.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      c.on("error", (e) => resolve(e.message));
      c.on("close", (code) => resolve(code === 0 ? null : err.trim() || `fallocate exited with ${code}`));
    });
  } finally {
    fs.closeSync(fd);
  }
}

async function waitUntil(what: string, ok: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (signal.aborted) throw new Error(`interrupted while waiting for ${what}`);
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleepFor(25, signal);
  }
}

export const diskFill: Injector<DiskFillParams, DiskUndo, PathTarget> = {
  name: "disk-fill",
  description: "Fill the filesystem holding a directory to a percentage, by a size, or until N bytes are left, at once or at a rate.",
  family: "disk",
  targetKind: "path",
  params: diskFillParams,
  undoSchema: diskUndoShape,

  async available() {
    const s = statfsAvailable();
    if (!s.ok) return s;
    return fallocateBinary() ? { ok: true, detail: "fallocate: at-once fills allocate instantly" } : { ok: true, detail: "no fallocate binary: at-once fills write zeros" };
  },

  async plan(target) {
    return undoFor("disk-fill", target);
  },

  async inject(target, params, ctx) {
    const undo = ctx.undo;
    const dir = resolveDir(target.path);
    if (dir !== undo.dir) throw new Error(`${target.path} resolves to ${dir} now, not ${undo.dir} as planned; nothing written`);
    const info = fsInfo(dir);
    noteFreeBefore(undo, info.freeBytes);
    const plan = planFill(info, params);
    if (plan.refused) throw new Error(plan.refused);
    if (plan.bytes === 0) return;
    const first = path.join(dir, `${undo.prefix}0`);
    // the filler checks the floor again before every chunk: other writers (or the target) fill the disk too
    const floor = ["--keep-free", String(keepFree(info, params.reserve, params.force)), "--keep-mem", String(isTmpfs(info) && !params.force ? memoryFloor() : 0), "--note", floorNote(undo)];
    if (params.rate) {
      spawnTagged("disk-filler.mjs", undo.tag, ["--dir", dir, "--prefix", undo.prefix, "--bytes", String(plan.bytes), "--rate", String(params.rate), ...floor]);
      await waitUntil("the disk filler to start", () => fs.existsSync(first) || tagged(undo.tag).length === 0, 10_000, ctx.signal);
      if (!fs.existsSync(first)) throw new Error("the disk filler exited before writing anything");
      return;
    }
    const why = await fallocateNew(first, plan.bytes, ctx.signal);
    if (why === null) return;
    if (ctx.signal.aborted) throw new Error("interrupted during fallocate");
    // No fallocate here (or the last blocks went to metadata): write zeros instead.
    fs.rmSync(first, { force: true });
    spawnTagged("disk-filler.mjs", undo.tag, ["--dir", dir, "--prefix", undo.prefix, "--bytes", String(plan.bytes), ...floor]);
    try {
      await waitUntil("the zero fill to finish", () => tagged(undo.tag).length === 0, 24 * 3_600_000, ctx.signal);
    } catch (e) {
      await killTagged(undo.tag);
      throw e;
    }
  },

  async revert(_target, undo) {
    await revertDisk(undo);
  },

  async verify(_target, undo) {
    return verifyDisk(undo);
  },

  effect: async (_target, undo) => diskEffect(undo, "disk-fill"),
};

register(diskFill);

/** for messages: "90%", "1 GiB", "all but 100 MiB" */
export function describeFill(p: DiskFillParams): string {
  if (p.fillPercent !== undefined) return `fill to ${p.fillPercent}%`;
  if (p.size !== undefined) return `write ${formatSize(p.size)}`;
  return `fill until ${formatSize(p.leaveFree ?? 0)} is left`;
}
