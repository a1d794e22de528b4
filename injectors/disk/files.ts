// The files a disk fault writes and how revert finds them: every file is
// created directly in the resolved directory as <prefix><n>, the prefix
// (.gameday-<fault>-<id>-) and the writers' process tag chosen in plan() and
// journaled, so revert deletes exactly those names and kills exactly those
// children, here or after a crash.
// Evidence: inject notes the free space before; revert, before it deletes
// the files, notes their allocated size, the free space at that peak and
// what the writers wrote (write() bytes and calls from /proc/PID/io).
import fs from "node:fs";
import path from "node:path";
import { formatSize } from "../../lib/size";
import { keepEvidence, plural, readEvidence, takeEvidence } from "../evidence";
import { ioOf, killTagged, newTag, tagged } from "../load/children";
import type { Effect, PathTarget, VerifyResult } from "../types";
import { fsInfo } from "./fs";

/** What revert needs: where, which file names, which child. */
export interface DiskUndo {
  /** the directory, symlinks resolved at plan time */
  dir: string;
  /** process tag of the child writers */
  tag: string;
  /** every file we create is dir/<prefix><n> */
  prefix: string;
}

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

/** Where the filler writes why it stopped early (a name ourFiles() never lists: it is not a fill file). */
export function floorNote(undo: DiskUndo): string {
  return path.join(undo.dir, `${undo.prefix}floor`);
}

/** The note, read and removed (verify reports it once); null when there is none. */
function takeFloorNote(undo: DiskUndo): string | null {
  const file = floorNote(undo);
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.size > 4096) return null;
    const text = fs.readFileSync(file, "utf8").trim();
    fs.unlinkSync(file);
    return text;
  } catch {
    return null;
  }
}

interface DiskEvidence {
  /** available bytes when inject began */
  freeBefore: number;
  /** read by revert while the files and writers were still there */
  peak?: { files: number; allocatedBytes: number; freeBytes: number; writtenBytes: number; writes: number; writers: number };
}

const diskKey = (undo: DiskUndo) => `disk-${undo.tag}`;

/** inject, before it writes: the free space the fault starts from. */
export function noteFreeBefore(undo: DiskUndo, freeBytes: number): void {
  keepEvidence(diskKey(undo), { freeBefore: freeBytes } satisfies DiskEvidence);
}

/** Once, before the writers die and the files go: what they took. */
function keepDiskPeak(undo: DiskUndo): void {
  const rec = readEvidence<DiskEvidence>(diskKey(undo));
  if (!rec || rec.peak) return;
  try {
    const writers = tagged(undo.tag);
    const io = ioOf(writers.map((p) => p.pid));
    const files = ourFiles(undo.dir, undo.prefix);
    keepEvidence(diskKey(undo), { ...rec, peak: { files: files.length, allocatedBytes: ourBytes(undo.dir, undo.prefix), freeBytes: fsInfo(undo.dir).freeBytes, writtenBytes: io.bytes, writes: io.calls, writers: writers.length } } satisfies DiskEvidence);
  } catch {
    // the directory went: no evidence either way
  }
}

/**
 * disk-fill: touched = bytes its files took on disk; io-stress: touched =
 * bytes its writers wrote (in their files, allocated at most fileSize each).
 */
export function diskEffect(undo: DiskUndo, fault: "disk-fill" | "io-stress"): Effect | null {
  const rec = takeEvidence<DiskEvidence>(diskKey(undo));
  const p = rec?.peak;
  if (!rec || !p) return null;
  const free = `free ${formatSize(rec.freeBefore)} before, ${formatSize(p.freeBytes)} at the peak`;
  if (fault === "disk-fill") return { touched: p.allocatedBytes, summary: `${formatSize(p.allocatedBytes)} allocated in ${plural(p.files, "file")} in ${undo.dir}; ${free}`, counters: { ...rec.peak, freeBefore: rec.freeBefore } };
  return {
    touched: p.writtenBytes,
    summary: `${plural(p.writers, "writer")} wrote ${formatSize(p.writtenBytes)} in ${plural(p.writes, "write() call")} to ${plural(p.files, "file")} (${formatSize(p.allocatedBytes)} allocated) in ${undo.dir}; ${free}`,
    counters: { ...rec.peak, freeBefore: rec.freeBefore },
  };
}

/** Kill the tagged children, then delete our files (unlink: a symlink is removed, never followed). */
export async function revertDisk(undo: DiskUndo): Promise<void> {
  keepDiskPeak(undo);
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
  const note = PREFIX_RE.test(undo.prefix) ? takeFloorNote(undo) : null;
  let now = note ? `; the filler had stopped early: ${note}` : "";
  try {
    const i = fsInfo(undo.dir);
    now += `; now ${formatSize(i.freeBytes)} free (${i.usedPercent.toFixed(1)}% used)`;
  } catch {
    now += `; ${undo.dir} is gone`;
  }
  return { ok: true, detail: `no ${undo.prefix}* file and no writer left in ${undo.dir}${now}` };
}
