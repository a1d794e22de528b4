// disk-fill: take free space away from the filesystem holding a directory,
// to a usage percentage, by a size, or until only N bytes are left — at once
// (fallocate, or zeros where the filesystem has none) or at a rate (a tagged
// child, so the fill goes on without blocking the worker). Files are created
// only directly in the resolved directory, named .gameday-disk-fill-<id>-<n>,
// and revert deletes exactly those names and kills the tagged child, using
// only the journaled undo. The filesystem holding / or $GAMEDAY_HOME keeps a
// reserve unless forced: a full root filesystem takes the worker down too.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { gamedayHome } from "../lib/paths";
import { formatSize, parseSize, sizeString } from "../lib/size";
import { killTagged, newTag, spawnTagged, tagged } from "./children";
import { register } from "./registry";
import type { Availability, Injector, PathTarget, VerifyResult } from "./types";

export const DEFAULT_RESERVE_BYTES = 512 * 1024 ** 2;
const RATE_HINT = "expected a rate like 50M/s, 1G/s or 4096 (bytes per second)";

/** zod type: bytes per second from "50M/s", "50M", "1.5GiB/s" or a number. */
export const rateString = z.union([z.string(), z.number()], { error: RATE_HINT }).transform((v, ctx) => {
  let bytes = NaN;
  try {
    bytes = typeof v === "number" ? v : parseSize(v.trim().replace(/\/s(ec)?$/i, ""));
  } catch {
    /* reported below */
  }
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    ctx.addIssue({ code: "custom", message: `${RATE_HINT} (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return bytes;
});

/** Shared by disk-fill and io-stress: the safety floor and its override. */
export const reserveParam = sizeString.default(DEFAULT_RESERVE_BYTES);
export const forceParam = z.boolean({ error: "expected true or false" }).default(false);

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
    /** on the filesystem holding / or $GAMEDAY_HOME, never leave less than this available */
    reserve: reserveParam,
    /** allow going below the reserve */
    force: forceParam,
  })
  .strict()
  .superRefine((p, ctx) => {
    const given = FILL_MODES.filter((m) => p[m] !== undefined);
    if (given.length === 0) ctx.addIssue({ code: "custom", message: "give one of fillPercent, size or leaveFree" });
    if (given.length > 1) ctx.addIssue({ code: "custom", path: [given[1]], message: `give only one of fillPercent, size or leaveFree (got ${given.join(" and ")})` });
  });
export type DiskFillParams = z.infer<typeof diskFillParams>;

/** What revert needs: where, which file names, which child. */
export interface DiskUndo {
  /** the directory, symlinks resolved at plan time */
  dir: string;
  /** process tag of the child writers */
  tag: string;
  /** every file we create is dir/<prefix><n> */
  prefix: string;
}

// ---- shared by disk-fill and io-stress ------------------------------------------

const PREFIX_RE = /^\.gameday-(disk-fill|io-stress)-[0-9a-f-]{36}-$/;

export function undoFor(fault: "disk-fill" | "io-stress", target: PathTarget): DiskUndo {
  const tag = newTag(fault);
  let dir = target.path;
  try {
    dir = fs.realpathSync(target.path);
  } catch {
    // inject refuses it with the reason; revert finds nothing of ours there
  }
  return { dir, tag, prefix: `.gameday-${fault}-${tag.split(":").pop()}-` };
}

/** The real directory behind an absolute path; refuses anything else. */
export function resolveDir(p: string): string {
  if (!path.isAbsolute(p)) throw new Error(`path must be absolute (got "${p}")`);
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch (e) {
    throw new Error(`${p} does not exist (${(e as NodeJS.ErrnoException).code})`);
  }
  if (!fs.statSync(real).isDirectory()) throw new Error(`${p}${real !== p ? ` (→ ${real})` : ""} is not a directory`);
  return real;
}

export interface FsInfo {
  dir: string;
  mount: { point: string; type: string; source: string } | null;
  totalBytes: number;
  usedBytes: number;
  /** available to writers, as df's "Avail" */
  freeBytes: number;
  /** df's Use%: used / (used + available) */
  usedPercent: number;
  blockSize: number;
  /** what Game Day needs on this filesystem: "/" and/or "$GAMEDAY_HOME (...)" */
  holds: string[];
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function mountOf(dir: string): FsInfo["mount"] {
  let best: FsInfo["mount"] = null;
  let text = "";
  try {
    text = fs.readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (sep < 0) continue;
    const point = unescapeMount(f[4]);
    if (dir !== point && !dir.startsWith(point === "/" ? "/" : `${point}/`)) continue;
    // later lines are mounted on top of earlier ones at the same point
    if (!best || point.length >= best.point.length) best = { point, type: f[sep + 1], source: unescapeMount(f[sep + 2]) };
  }
  return best;
}

function deviceOf(p: string): number | null {
  // GAMEDAY_HOME may not exist yet: it will be created on its nearest existing ancestor
  for (let q = path.resolve(p), i = 0; i < 256; q = path.dirname(q), i++) {
    try {
      return fs.statSync(q).dev;
    } catch {
      if (q === "/") return null;
    }
  }
  return null;
}

export function fsInfo(dir: string): FsInfo {
  const s = fs.statfsSync(dir);
  const dev = fs.statSync(dir).dev;
  const totalBytes = s.blocks * s.bsize;
  const usedBytes = (s.blocks - s.bfree) * s.bsize;
  const freeBytes = s.bavail * s.bsize;
  const holds: string[] = [];
  if (deviceOf("/") === dev) holds.push("/");
  if (deviceOf(gamedayHome()) === dev) holds.push(`$GAMEDAY_HOME (${gamedayHome()})`);
  return {
    dir,
    mount: mountOf(dir),
    totalBytes,
    usedBytes,
    freeBytes,
    usedPercent: usedBytes + freeBytes > 0 ? (100 * usedBytes) / (usedBytes + freeBytes) : 100,
    blockSize: s.bsize,
    holds,
  };
}

export function describeFs(i: FsInfo): string {
  const where = i.mount ? `${i.mount.type} ${i.mount.source} on ${i.mount.point}` : i.dir;
  return `${where}: size ${formatSize(i.totalBytes)}, used ${formatSize(i.usedBytes)} (${i.usedPercent.toFixed(1)}%), free ${formatSize(i.freeBytes)}`;
}

/** The reserve rule, or null when `bytes` more may be taken. */
export function reserveRefusal(info: FsInfo, bytes: number, reserve: number, force: boolean): string | null {
  if (force || info.holds.length === 0) return null;
  const left = info.freeBytes - bytes;
  if (left >= reserve) return null;
  return `refusing: writing ${formatSize(bytes)} would leave ${formatSize(Math.max(0, left))} free on the filesystem holding ${info.holds.join(" and ")}${info.mount ? ` (${info.mount.point})` : ""}, under the reserve of ${formatSize(reserve)}; set force: true (--force) to go below it`;
}

/** Names of our files (anything but directories) directly in dir. */
export function ourFiles(dir: string, prefix: string): string[] {
  if (!path.isAbsolute(dir) || !PREFIX_RE.test(prefix)) return [];
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.name.startsWith(prefix) && /^\d+$/.test(e.name.slice(prefix.length)) && !e.isDirectory())
      .map((e) => e.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw e;
  }
}

/** Bytes our files occupy on disk (allocated blocks, not apparent size). */
export function ourBytes(dir: string, prefix: string): number {
  let sum = 0;
  for (const n of ourFiles(dir, prefix)) {
    try {
      sum += fs.lstatSync(path.join(dir, n)).blocks * 512;
    } catch {
      /* removed meanwhile */
    }
  }
  return sum;
}

/** Kill the tagged children, then delete our files (unlink: a symlink is removed, never followed). */
export async function revertDisk(undo: DiskUndo): Promise<void> {
  await killTagged(undo.tag);
  for (const n of ourFiles(undo.dir, undo.prefix)) {
    try {
      fs.unlinkSync(path.join(undo.dir, n));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
}

export function verifyDisk(undo: DiskUndo): VerifyResult {
  const files = ourFiles(undo.dir, undo.prefix);
  const procs = tagged(undo.tag);
  const problems: string[] = [];
  if (files.length) problems.push(`${files.length} file(s) ${undo.prefix}* still in ${undo.dir}`);
  if (procs.length) problems.push(`writer process(es) ${procs.map((p) => p.pid).join(", ")} still running`);
  if (problems.length) return { ok: false, detail: problems.join("; ") };
  let now = "";
  try {
    const i = fsInfo(undo.dir);
    now = `; now ${formatSize(i.freeBytes)} free (${i.usedPercent.toFixed(1)}% used)`;
  } catch {
    now = `; ${undo.dir} is gone`;
  }
  return { ok: true, detail: `no ${undo.prefix}* file and no writer left in ${undo.dir}${now}` };
}

export function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

export function fallocateBinary(): string | null {
  for (const d of (process.env.PATH || "/usr/bin:/bin").split(":")) {
    const p = path.join(d, "fallocate");
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

export function statfsAvailable(): Availability {
  return typeof fs.statfsSync === "function" ? { ok: true } : { ok: false, reason: "this Node has no fs.statfsSync (needs Node ≥ 18.15)" };
}

// ---- disk-fill ---------------------------------------------------------------------

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
  targetKind: "path",
  params: diskFillParams,

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
    const plan = planFill(fsInfo(dir), params);
    if (plan.refused) throw new Error(plan.refused);
    if (plan.bytes === 0) return;
    const first = path.join(dir, `${undo.prefix}0`);
    if (params.rate) {
      spawnTagged("disk-filler.mjs", undo.tag, ["--dir", dir, "--prefix", undo.prefix, "--bytes", String(plan.bytes), "--rate", String(params.rate)]);
      await waitUntil("the disk filler to start", () => fs.existsSync(first) || tagged(undo.tag).length === 0, 10_000, ctx.signal);
      if (!fs.existsSync(first)) throw new Error("the disk filler exited before writing anything");
      return;
    }
    const why = await fallocateNew(first, plan.bytes, ctx.signal);
    if (why === null) return;
    if (ctx.signal.aborted) throw new Error("interrupted during fallocate");
    // No fallocate here (or the last blocks went to metadata): write zeros instead.
    fs.rmSync(first, { force: true });
    spawnTagged("disk-filler.mjs", undo.tag, ["--dir", dir, "--prefix", undo.prefix, "--bytes", String(plan.bytes)]);
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
};

register(diskFill);

/** for messages: "90%", "1 GiB", "all but 100 MiB" */
export function describeFill(p: DiskFillParams): string {
  if (p.fillPercent !== undefined) return `fill to ${p.fillPercent}%`;
  if (p.size !== undefined) return `write ${formatSize(p.size)}`;
  return `fill until ${formatSize(p.leaveFree ?? 0)} is left`;
}
