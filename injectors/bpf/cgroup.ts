// The dedicated cgroup v2 folder a BPF fault attaches to: a child
// `gameday-<fault>-<pid>-<starttime>` of the target's own v2 cgroup. The
// target and those of its descendants that share its cgroup move in for the
// fault and back out on revert (every process found in the folder goes back
// to the original), and the folder is removed, so membership is restored
// exactly and a process is never left in our cgroup. With no controllers
// enabled below the original (the usual leaf), v2's "no internal processes"
// rule does not apply and the move changes nothing but the BPF hooks.
//
// The kernel runs a cgroup's socket programs for the sockets created in it:
// a socket keeps the cgroup its process was in when it opened it. So a moved
// process's new sockets are covered, its existing ones (a listening server,
// keep-alive connections) are not. Scope "cgroup" attaches in place, to the
// target's own cgroup, covering every socket of every process in it (a
// service's or a container's cgroup) with nothing moved; it is refused at the
// v2 root, which would be the whole host.
import fs from "node:fs";
import path from "node:path";
import { protectionReason, readProc, sameProcess } from "../../lib/procfs";
import { cgroupOf, moveProcess, processTree, procsIn, removeFolder, type Hierarchy } from "../cgroup/hierarchy";

export interface MoveUndo {
  pid: number;
  startTime: number;
  /** the v2 mount, e.g. /sys/fs/cgroup/unified */
  mount: string;
  /** the target's v2 cgroup before the fault (absolute) */
  original: string;
  /** where the programs attach: our child folder, or the original itself (scope cgroup: nothing moves) */
  folder: string;
  inPlace?: boolean;
  /** processes that shared the target's cgroup when planned, to check they went back */
  tree: { pid: number; startTime: number }[];
}

export const FOLDER_PREFIX = "gameday-";
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup v2 mount (any controllers or none: BPF hooks need none). */
export function v2Hierarchy(mountinfo = fs.readFileSync("/proc/self/mountinfo", "utf8")): Hierarchy | null {
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right || right.split(" ")[0] !== "cgroup2") continue;
    const f = left.split(" ");
    // controller is unused for v2 lookups (cgroupOf reads the 0:: line)
    return { controller: "cpu", version: 2, mount: unescape(f[4]), root: unescape(f[3]) };
  }
  return null;
}

/** Read-only: where the target is and where it will go. */
export function planMove(fault: string, pid: number, startTime: number, scope: "process" | "cgroup" = "process"): MoveUndo {
  const h = v2Hierarchy();
  if (!h) throw new Error("no cgroup v2 hierarchy is mounted: cgroup BPF programs attach to a v2 folder");
  if (!sameProcess(pid, startTime)) throw new Error(`process ${pid} is gone or its PID was reused`);
  const original = cgroupOf(pid, h);
  if (!original) throw new Error(`process ${pid} has no cgroup v2 membership`);
  if (path.basename(original).startsWith(FOLDER_PREFIX)) throw new Error(`PID ${pid} is already in ${original}, a Game Day cgroup (one cgroup fault per process at a time)`);
  if (scope === "cgroup") {
    if (original === h.mount)
      throw new Error(`scope: PID ${pid} is in the cgroup v2 root (${original}); attaching there would act on every process of the host. Use scope: process, or a process in a cgroup of its own (a service, a container)`);
    return { pid, startTime, mount: h.mount, original, folder: original, inPlace: true, tree: [] };
  }
  const tree = processTree(pid)
    .filter((p) => p === pid || cgroupOf(p, h) === original)
    .map((p) => ({ pid: p, startTime: readProc(p)?.startTime ?? -1 }))
    .filter((p) => p.startTime >= 0);
  return { pid, startTime, mount: h.mount, original, folder: path.join(original, `${FOLDER_PREFIX}${fault}-${pid}-${startTime}`), tree };
}

/** Create the folder (the programs attach to it before anyone moves in). */
export function makeFolder(u: MoveUndo): void {
  if (!u.inPlace) fs.mkdirSync(u.folder, { mode: 0o755 });
}

/** Move the target and its same-cgroup descendants in; children forked meanwhile are caught by further passes. */
export function moveIn(u: MoveUndo): number {
  if (u.inPlace) return procsIn(u.folder).length;
  const target = sameProcess(u.pid, u.startTime);
  if (!target) throw new Error(`process ${u.pid} is gone or its PID was reused; nothing moved`);
  const why = protectionReason(target);
  if (why) throw new Error(`refusing to move PID ${u.pid}: ${why}`);
  const h = v2Hierarchy()!;
  const now = cgroupOf(u.pid, h);
  if (now !== u.original) throw new Error(`PID ${u.pid} moved from ${u.original} to ${now} since the fault was planned`);
  for (let pass = 0; pass < 3; pass++) {
    const left = processTree(u.pid).filter((p) => {
      if (cgroupOf(p, h) !== u.original) return false;
      const info = readProc(p);
      return info !== null && (p === u.pid || protectionReason(info) === null);
    });
    if (left.length === 0) break;
    for (const p of left) moveProcess(u.folder, p);
  }
  if (cgroupOf(u.pid, h) !== u.folder) throw new Error(`PID ${u.pid} did not move into ${u.folder}`);
  return procsIn(u.folder).length;
}

/** Everyone in the folder back to the original, then the folder gone. Idempotent. */
export async function moveBack(u: MoveUndo): Promise<void> {
  if (u.inPlace || !fs.existsSync(u.folder)) return;
  for (let pass = 0; pass < 20; pass++) {
    const pids = procsIn(u.folder);
    if (pids.length === 0) break;
    for (const p of pids) moveProcess(u.original, p);
  }
  await removeFolder(u.folder);
}

/** Problems left: the folder, or a planned process elsewhere than its original cgroup. */
export function moveProblems(u: MoveUndo): string[] {
  const problems: string[] = [];
  if (u.inPlace) return problems;
  if (fs.existsSync(u.folder)) problems.push(`${u.folder} still exists`);
  const h = v2Hierarchy();
  if (h)
    for (const t of u.tree) {
      if (!sameProcess(t.pid, t.startTime)) continue;
      const now = cgroupOf(t.pid, h);
      if (now !== null && now !== u.original) problems.push(`PID ${t.pid} is in ${now}, not ${u.original}`);
    }
  return problems;
}
