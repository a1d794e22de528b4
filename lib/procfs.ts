// Reading processes from /proc, and the safety rules every process fault obeys.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { config, DEFAULT_PROTECTED_NAMES } from "./config";

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

export { DEFAULT_PROTECTED_NAMES };

/** Process names (comm) never targeted: DEFAULT_PROTECTED_NAMES, or what GAMEDAY_PROTECT_NAMES says instead. */
export function protectedNames(): string[] {
  return config().GAMEDAY_PROTECT_NAMES;
}

/**
 * Game Day's own long-running processes (worker, web app) announce themselves
 * in a machine-wide folder so that any injector — a standalone CLI too, with
 * another GAMEDAY_HOME — refuses to hit them. One empty file per process,
 * named PID-STARTTIME, so a reused PID is not protected by mistake.
 */
export function selfRegistryDir(): string {
  return config().GAMEDAY_RUN_DIR || (fs.existsSync("/run") && isWritable("/run") ? "/run/gameday/self" : path.join(os.tmpdir(), "gameday-self"));
}

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Mark a process as one of Game Day's own; returns a function that unmarks it. */
export function registerSelf(pid = process.pid): () => void {
  const p = readProc(pid);
  if (!p) return () => {};
  const dir = selfRegistryDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, `${p.pid}-${p.startTime}`);
  fs.writeFileSync(file, "");
  return () => fs.rmSync(file, { force: true });
}

/** Live registered PIDs; stale entries (process gone or PID reused) are removed. */
export function registeredSelfPids(): Set<number> {
  const out = new Set<number>();
  const dir = selfRegistryDir();
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const m = /^(\d+)-(\d+)$/.exec(n);
    if (!m) continue;
    if (sameProcess(Number(m[1]), Number(m[2]))) out.add(Number(m[1]));
    else fs.rmSync(path.join(dir, n), { force: true });
  }
  return out;
}

/** What the protection rules compare against, read once per scan. */
export interface ProtectionContext {
  ancestors: Set<number>;
  sid: number | undefined;
  self: Set<number>;
  names: string[];
}

export function protectionContext(): ProtectionContext {
  return { ancestors: ancestorsOf(process.pid), sid: readProc(process.pid)?.sid, self: registeredSelfPids(), names: protectedNames() };
}

/**
 * Why this process must never be touched, or null when it may be. Checks, in
 * order: PID 1, kernel threads, ourselves and our ancestors, our session
 * leader, Game Day's own processes, the protected names. A scan passes one
 * context for all its processes; a single check reads a fresh one.
 */
export function protectionReason(p: ProcInfo, extraProtected: ReadonlySet<number> = new Set(), ctx: ProtectionContext = protectionContext()): string | null {
  if (p.pid <= 1) return "PID 1 (init) is never a target";
  if (isKernelThread(p)) return "kernel threads are never targets";
  if (ctx.ancestors.has(p.pid)) return "Game Day itself and its parents are never targets";
  if (p.pid === ctx.sid) return "Game Day's session leader is never a target";
  if (extraProtected.has(p.pid) || ctx.self.has(p.pid)) return "Game Day's own processes (worker, web app) are never targets";
  if (ctx.names.includes(p.comm)) return `"${p.comm}" is on the protect list (${ctx.names.join(", ")})`;
  return null;
}

/** Is this still the same process we selected (PID not reused)? */
export function sameProcess(pid: number, startTime: number): ProcInfo | null {
  const p = readProc(pid);
  return p && p.startTime === startTime ? p : null;
}

/** /proc/PID/cgroup as text ("" when gone): one "id:controllers:path" line per hierarchy. */
export function readCgroupText(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return "";
  }
}

/** A uid from a numeric value or a user name in /etc/passwd; unknown names are an error. */
export function uidOf(user: string | number): number {
  if (typeof user === "number") return user;
  if (/^\d+$/.test(user)) return Number(user);
  let passwd = "";
  try {
    passwd = fs.readFileSync("/etc/passwd", "utf8");
  } catch {
    /* no passwd file: every name is unknown */
  }
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === user && f[2] !== undefined) return Number(f[2]);
  }
  throw new Error(`no such user "${user}" in /etc/passwd`);
}
