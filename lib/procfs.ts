// Reading processes from /proc, and the safety rules every process fault obeys.
import fs from "node:fs";

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  /** single-letter state: R S D T t Z X I ... */
  state: string;
  startTime: number;
  /** arguments joined by single spaces; empty for kernel threads */
  cmdline: string;
  pgid: number;
  sid: number;
  uid: number;
}

/** Parse /proc/PID/stat; comm may hold spaces and parentheses, so split at the last ')'. */
export function parseStat(text: string): Omit<ProcInfo, "cmdline" | "uid"> | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); field N is rest[N - 3]
  return {
    pid,
    comm,
    state: rest[0],
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    sid: Number(rest[3]),
    startTime: Number(rest[19]),
  };
}

export function readProc(pid: number): ProcInfo | null {
  try {
    const stat = parseStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
    if (!stat) return null;
    let cmdline = "";
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").split("\0").join(" ");
    } catch {
      // exited between reads; the stat we have is still useful
    }
    let uid = -1;
    try {
      uid = fs.statSync(`/proc/${pid}`).uid;
    } catch {
      /* gone */
    }
    return { ...stat, cmdline, uid };
  } catch {
    return null;
  }
}

export function listPids(): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(name));
  }
  return out;
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const pid of listPids()) {
    const p = readProc(pid);
    if (p) out.push(p);
  }
  return out;
}

/** PIDs from ours up to 1: killing any of them would kill us or our session. */
export function ancestorsOf(pid: number): Set<number> {
  const seen = new Set<number>();
  let cur: number | undefined = pid;
  for (let i = 0; i < 256 && cur && cur > 0 && !seen.has(cur); i++) {
    seen.add(cur);
    cur = readProc(cur)?.ppid;
  }
  return seen;
}

/** Kernel threads have no command line and descend from kthreadd (PID 2). */
export function isKernelThread(p: ProcInfo): boolean {
  return p.pid === 2 || p.ppid === 2 || (p.cmdline === "" && p.ppid === 0);
}

/**
 * Why this process must never be touched, or null when it may be.
 * `extraProtected` holds PIDs of our own helpers (e.g. the web app).
 */
export function protectionReason(p: ProcInfo, extraProtected: ReadonlySet<number> = new Set()): string | null {
  if (p.pid <= 1) return "PID 1 (init) is never a target";
  if (isKernelThread(p)) return "kernel threads are never targets";
  if (ancestorsOf(process.pid).has(p.pid)) return "the worker itself and its parents are never targets";
  if (p.pid === readProc(process.pid)?.sid) return "the worker's session leader is never a target";
  if (extraProtected.has(p.pid)) return "Game Day's own processes are never targets";
  return null;
}

/** Is this still the same process we selected (PID not reused)? */
export function sameProcess(pid: number, startTime: number): ProcInfo | null {
  const p = readProc(pid);
  return p && p.startTime === startTime ? p : null;
}
