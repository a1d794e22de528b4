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

/**
 * Mark a process as one of Game Day's own; returns a function that unmarks
 * it. `ports`: TCP ports it serves (the worker's API, the web app), which
 * network faults then spare as control-plane traffic.
 */
export function registerSelf(pid = process.pid, ports: number[] = []): () => void {
  const p = readProc(pid);
  if (!p) return () => {};
  const dir = selfRegistryDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, `${p.pid}-${p.startTime}`);
  fs.writeFileSync(file, ports.length ? JSON.stringify({ ports }) : "");
  return () => fs.rmSync(file, { force: true });
}

/** Live registered PIDs; stale entries (process gone or PID reused) are removed. */
export function registeredSelfPids(): Set<number> {
  return new Set(registeredSelf().map((r) => r.pid));
}

/** Live registered processes with the ports they announced. */
export function registeredSelf(): { pid: number; ports: number[] }[] {
  const out: { pid: number; ports: number[] }[] = [];
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
    const file = path.join(dir, n);
    if (!sameProcess(Number(m[1]), Number(m[2]))) {
      fs.rmSync(file, { force: true });
      continue;
    }
    let ports: number[] = [];
    try {
      const text = fs.readFileSync(file, "utf8");
      const doc = text ? (JSON.parse(text) as { ports?: unknown }) : {};
      if (Array.isArray(doc.ports)) ports = doc.ports.filter((x): x is number => Number.isInteger(x) && x > 0 && x < 65536);
    } catch {
      /* an empty or foreign file: the PID is still ours, its ports unknown */
    }
    out.push({ pid: Number(m[1]), ports });
  }
  return out;
}

/** SSH: the way back in to a host whose network a fault went wrong on. */
export const SSH_PORT = 22;

/**
 * TCP ports of the control plane on this host, which network faults spare
 * unless spec.safety.allowControlPlane: SSH, the worker's and web app's
 * configured ports, and every port a running Game Day process announced.
 */
export function controlPlanePorts(): number[] {
  const c = config();
  const ports = new Set<number>([SSH_PORT, c.WORKER_PORT, c.PORT]);
  for (const r of registeredSelf()) for (const p of r.ports) ports.add(p);
  return [...ports].filter((p) => p > 0).sort((a, b) => a - b);
}

/**
 * The machine's services, by role: a fault on any of them takes down more
 * than the experiment means to (the way in, the init system, the bus, the
 * network, the container runtime, the shared databases). Matched on comm
 * (at most 15 characters), so a family of daemons is one pattern.
 */
export const PROTECTED_ROLES: readonly { role: string; comm: RegExp }[] = [
  { role: "remote access", comm: /^(sshd(-session|-auth)?|dropbear|mosh-server)$/ },
  { role: "init and service manager", comm: /^(init|systemd|systemd-.+|\(sd-pam\)|upstart|runit|runsvdir|s6-svscan|supervisord|launchd)$/ },
  { role: "message bus", comm: /^(dbus-daemon|dbus-broker.*|polkitd)$/ },
  { role: "network manager", comm: /^(NetworkManager|wpa_supplicant|dhclient|dhcpcd|networkd-dispat.*|connmand|iwd)$/ },
  { role: "login and terminals", comm: /^(agetty|getty|mingetty|login|tmux: server|screen|SCREEN)$/ },
  { role: "container runtime and orchestrator", comm: /^(kubelet|kube-proxy|kube-apiserver|etcd|k3s.*|containerd(-shim.*)?|dockerd|docker-proxy|crio|conmon|runc)$/ },
  { role: "shared database or cache", comm: /^(postgres|postmaster|mysqld|mariadbd|redis-server|memcached|mongod|valkey-server|etcd)$/ },
  { role: "message broker", comm: /^(mosquitto|nats-server|beam\.smp|epmd|erl_child_setup|rabbitmq-server|kafka|zookeeper)$/ },
  { role: "logging, audit and time", comm: /^(rsyslogd|syslog-ng|auditd|chronyd|ntpd|systemd-journal)$/ },
];

/** The role that protects a process name, or null. */
export function protectedRole(comm: string): string | null {
  return PROTECTED_ROLES.find((r) => r.comm.test(comm))?.role ?? null;
}

/** Game Day's own children that do not register: load generators and the delay proxy carry a tag, the reaper runs its script. */
const OWN_CHILD = /(^| )--tag gameday-load:|\/agent\/reaper\.(ts|js|mjs)( |$)/;

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
 * leader, Game Day's own processes and children, the machine's services by
 * role (PROTECTED_ROLES), the protected names. A scan passes one
 * context for all its processes; a single check reads a fresh one.
 */
export function protectionReason(p: ProcInfo, extraProtected: ReadonlySet<number> = new Set(), ctx: ProtectionContext = protectionContext()): string | null {
  if (p.pid <= 1) return "PID 1 (init) is never a target";
  if (isKernelThread(p)) return "kernel threads are never targets";
  if (ctx.ancestors.has(p.pid)) return "Game Day itself and its parents are never targets";
  if (p.pid === ctx.sid) return "Game Day's session leader is never a target";
  if (extraProtected.has(p.pid) || ctx.self.has(p.pid)) return "Game Day's own processes (worker, web app, CLIs, reaper) are never targets";
  if (OWN_CHILD.test(p.cmdline)) return "Game Day's own children (load generators, delay proxy, reaper) are never targets";
  const role = protectedRole(p.comm);
  if (role) return `"${p.comm}" is one of the machine's services (${role}) and is never a target`;
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
