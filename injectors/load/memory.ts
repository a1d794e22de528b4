// How much memory the host can spare, and the refusal that keeps a typo from
// sending it into the OOM killer (memory-stress, and the stress CLI's checks).
import fs from "node:fs";
import { formatSize } from "../../lib/size";

/** Without force, at most this share of MemAvailable. */
export const SAFE_SHARE = 0.8;

/** MemAvailable in bytes, from /proc/meminfo. */
export function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
  if (!m) throw new Error("no MemAvailable in /proc/meminfo");
  return Number(m[1]) * 1024;
}

/** Why this size is refused (the message names the fields), or null. */
export function sizeRefusal(bytes: number, force: boolean, field = "size", forceField = "force: true"): string | null {
  if (force) return null;
  const avail = memAvailable();
  if (bytes <= SAFE_SHARE * avail) return null;
  return `${field}: ${formatSize(bytes)} is more than ${SAFE_SHARE * 100} % of MemAvailable (${formatSize(avail)}); refusing (set ${forceField} to allocate it anyway)`;
}
