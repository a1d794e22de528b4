// The files a disk fault writes and how revert finds them: every file is
// created directly in the resolved directory as <prefix><n>, the prefix
// (.gameday-<fault>-<id>-) and the writers' process tag chosen in plan() and
// journaled, so revert deletes exactly those names and kills exactly those
// children, here or after a crash.
import fs from "node:fs";
import path from "node:path";
import { formatSize } from "../../lib/size";
import { killTagged, newTag, tagged } from "../load/children";
import type { PathTarget, VerifyResult } from "../types";
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
