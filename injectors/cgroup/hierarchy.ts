// Control groups, v1 or v2: where a controller's hierarchy is mounted, which
// cgroup a process is in, the limit files, and moving processes between
// cgroup folders. Reads and writes cgroupfs and /proc only (no programs).
import fs from "node:fs";
import path from "node:path";
import { listProcesses } from "../../lib/procfs";

export type Controller = "cpu" | "memory";

export interface Hierarchy {
  controller: Controller;
  version: 1 | 2;
  /** where the hierarchy is mounted, e.g. /sys/fs/cgroup/cpu or /sys/fs/cgroup */
  mount: string;
  /** the mount's root inside the hierarchy (not "/" in some containers) */
  root: string;
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The hierarchy that holds a controller, from /proc/self/mountinfo; a v1 mount wins (a controller lives in one hierarchy). */
export function findHierarchy(controller: Controller, mountinfo = fs.readFileSync("/proc/self/mountinfo", "utf8")): Hierarchy | null {
  let v2: Hierarchy | null = null;
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const f = left.split(" ");
    const [fstype, , superOpts] = right.split(" ");
    const root = unescape(f[3]);
    const mount = unescape(f[4]);
    if (fstype === "cgroup" && superOpts.split(",").includes(controller)) return { controller, version: 1, mount, root };
    if (fstype === "cgroup2" && !v2) {
      let enabled: string[] = [];
      try {
        enabled = fs.readFileSync(path.join(mount, "cgroup.controllers"), "utf8").trim().split(/\s+/);
      } catch {
        continue;
      }
      if (enabled.includes(controller)) v2 = { controller, version: 2, mount, root };
    }
  }
  return v2;
}

/** Why this host cannot limit the controller, or null when it can. */
export function unavailableReason(controller: Controller): string | null {
  const h = findHierarchy(controller);
  if (!h) return `no cgroup hierarchy (v1 or v2) offers the ${controller} controller`;
  try {
    fs.accessSync(path.join(h.mount, "cgroup.procs"), fs.constants.W_OK);
  } catch {
    return `cannot write ${h.mount}/cgroup.procs (cgroup v${h.version}): run as root`;
  }
  return null;
}

/** The process's cgroup path in that hierarchy (from /proc/PID/cgroup), or null when it is gone. */
export function cgroupOf(pid: number, h: Hierarchy): string | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const mine = h.version === 2 ? m[1] === "0" && m[2] === "" : m[2].split(",").includes(h.controller);
    if (!mine) continue;
    let rel = m[3];
    if (h.root !== "/" && (rel === h.root || rel.startsWith(h.root + "/"))) rel = rel.slice(h.root.length) || "/";
    return path.join(h.mount, rel).replace(/(.)\/+$/, "$1");
  }
  return null;
}

/** The files holding a controller's limit. */
export function limitFiles(h: Hierarchy): string[] {
  if (h.controller === "cpu") return h.version === 1 ? ["cpu.cfs_quota_us", "cpu.cfs_period_us"] : ["cpu.max"];
  return h.version === 1 ? ["memory.limit_in_bytes"] : ["memory.max"];
}

const CPU_PERIOD_US = 100_000;
/** The kernel refuses CFS quotas under 1 ms. */
export const MIN_CPUS = 0.01;

/** Write the limit: cpus (fraction of one core) for cpu, bytes for memory. */
export function setLimit(h: Hierarchy, dir: string, value: number): void {
  const w = (name: string, v: string) => fs.writeFileSync(path.join(dir, name), v);
  if (h.controller === "cpu") {
    const quota = Math.max(1000, Math.round(value * CPU_PERIOD_US));
    if (h.version === 1) {
      w("cpu.cfs_period_us", String(CPU_PERIOD_US));
      w("cpu.cfs_quota_us", String(quota));
    } else w("cpu.max", `${quota} ${CPU_PERIOD_US}`);
  } else w(h.version === 1 ? "memory.limit_in_bytes" : "memory.max", String(Math.floor(value)));
}

/** PIDs (thread-group leaders) in a cgroup folder; empty when it is gone. */
export function procsIn(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Move a whole process (all its threads) into a cgroup; false when it has exited. */
export function moveProcess(dir: string, pid: number): boolean {
  try {
    fs.writeFileSync(path.join(dir, "cgroup.procs"), String(pid));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw new Error(`cannot move PID ${pid} into ${dir}: ${(e as Error).message}`);
  }
}

/** rmdir a cgroup folder, waiting (bounded) while exiting tasks still pin it. */
export async function removeFolder(dir: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) throw new Error(`cannot remove ${dir}: ${(e as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The process and all its descendants (a snapshot of /proc), the process first. */
export function processTree(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const p of listProcesses()) {
    if (p.state === "Z" || p.state === "X") continue;
    const siblings = kids.get(p.ppid);
    if (siblings) siblings.push(p.pid);
    else kids.set(p.ppid, [p.pid]);
  }
  const out = [pid];
  for (let i = 0; i < out.length && out.length < 100_000; i++) out.push(...(kids.get(out[i]) ?? []));
  return out;
}
