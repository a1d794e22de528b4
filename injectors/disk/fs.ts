// Filesystem facts for the disk faults: the real directory behind a path,
// its filesystem's size, usage and mount, what Game Day itself keeps there
// (/, $GAMEDAY_HOME, the database, /var/log, /tmp), and the reserve rule with
// its floor that protects those; a tmpfs fill is RAM, so it meets the memory
// floor too.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { config } from "../../lib/config";
import { databaseUrl, gamedayHome } from "../../lib/paths";
import { memAvailable } from "../load/memory";
import { formatSize } from "../../lib/size";
import type { Availability } from "../types";

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

/** Where Game Day's own state lives, by what it is: a filesystem holding any of these keeps the floor. */
export function statePlaces(): { what: string; path: string }[] {
  const db = databaseUrl();
  const places = [
    { what: "/", path: "/" },
    { what: `$GAMEDAY_HOME (${gamedayHome()})`, path: gamedayHome() },
    { what: "/var/log", path: "/var/log" },
    { what: "/tmp", path: "/tmp" },
    { what: `the temporary folder (${os.tmpdir()})`, path: os.tmpdir() },
  ];
  if (db.startsWith("file:")) places.push({ what: `the database's folder (${path.dirname(db.slice(5))})`, path: path.dirname(path.resolve(db.slice(5))) });
  return places;
}

function stateHeldOn(dev: number): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const p of statePlaces()) {
    const where = path.resolve(p.path);
    if (seen.has(where) || deviceOf(where) !== dev) continue;
    seen.add(where);
    out.push(p.what);
  }
  return out;
}

export function fsInfo(dir: string): FsInfo {
  const s = fs.statfsSync(dir);
  const dev = fs.statSync(dir).dev;
  const totalBytes = s.blocks * s.bsize;
  const usedBytes = (s.blocks - s.bfree) * s.bsize;
  const freeBytes = s.bavail * s.bsize;
  const holds = stateHeldOn(dev);
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

/** No request goes below this on a filesystem holding Game Day's state without force: 512 MiB or 5 % of its size, whichever is more. */
export const FLOOR_BYTES = 512 * 1024 ** 2;
export const FLOOR_SHARE = 0.05;

export function hardFloor(totalBytes: number): number {
  return Math.max(FLOOR_BYTES, Math.ceil(totalBytes * FLOOR_SHARE));
}

/** What must stay free on this filesystem: the request's reserve, never below the floor; 0 with force or where no state lives. */
export function keepFree(info: FsInfo, reserve: number, force: boolean): number {
  if (force || info.holds.length === 0) return 0;
  return Math.max(reserve, hardFloor(info.totalBytes));
}

const TMPFS = new Set(["tmpfs", "ramfs"]);

/** A tmpfs fill takes RAM: keep the same floor of memory (512 MiB or 5 % of MemTotal) available. */
export function memoryFloor(): number {
  const m = /^MemTotal:\s+(\d+) kB$/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
  return hardFloor(m ? Number(m[1]) * 1024 : 0);
}

export const isTmpfs = (info: FsInfo) => !!info.mount && TMPFS.has(info.mount.type);

/** The reserve and memory rules, or null when `bytes` more may be taken. */
export function reserveRefusal(info: FsInfo, bytes: number, reserve: number, force: boolean): string | null {
  if (force) return null;
  if (isTmpfs(info)) {
    const avail = memAvailable();
    const floor = memoryFloor();
    if (avail - bytes < floor)
      return `refusing: ${info.mount!.point} is a ${info.mount!.type} (its files are RAM): writing ${formatSize(bytes)} would leave ${formatSize(Math.max(0, avail - bytes))} of memory available, under the memory floor of ${formatSize(floor)}; set force: true (--force) to go below it`;
  }
  const keep = keepFree(info, reserve, force);
  if (keep === 0) return null;
  const left = info.freeBytes - bytes;
  if (left >= keep) return null;
  const floorNote = keep > reserve ? ` (the floor: ${formatSize(FLOOR_BYTES)} or ${FLOOR_SHARE * 100} % of the filesystem, whichever is more; a smaller reserve cannot lower it)` : "";
  return `refusing: writing ${formatSize(bytes)} would leave ${formatSize(Math.max(0, left))} free on the filesystem holding ${info.holds.join(" and ")}${info.mount ? ` (${info.mount.point})` : ""}, under the reserve of ${formatSize(keep)}${floorNote}; set force: true (--force) to go below it`;
}

export function fallocateBinary(): string | null {
  for (const d of (config().PATH || "/usr/bin:/bin").split(":")) {
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
