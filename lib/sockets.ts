// Which TCP ports a process listens on, read from /proc: its socket inodes
// (the /proc/PID/fd links `socket:[INODE]`) matched against the LISTEN rows
// of /proc/PID/net/tcp and tcp6. Those tables are the process's own network
// namespace's, so a process inside `ip netns exec` is read right.
import fs from "node:fs";

export interface Listener {
  /** IPv4 dotted quad, or an IPv6 address (lower-case, uncompressed groups) */
  address: string;
  port: number;
  family: 4 | 6;
}

const LISTEN = "0A";

/** "0100007F" (little-endian, as the kernel prints it) → "127.0.0.1". */
export function hexToIPv4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join(".");
}

/** 32 hex digits, four 32-bit words each in little-endian byte order → "0:0:0:0:0:ffff:7f00:1". */
export function hexToIPv6(hex: string): string {
  const bytes: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(word.slice(b * 2, b * 2 + 2));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(parseInt(bytes[i] + bytes[i + 1], 16).toString(16));
  return groups.join(":");
}

/** LISTEN rows of a /proc/net/tcp or tcp6 table: address, port and socket inode. */
export function parseListenRows(text: string, family: 4 | 6): (Listener & { inode: number })[] {
  const out: (Listener & { inode: number })[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const [addr, port] = f[1].split(":");
    out.push({ address: family === 4 ? hexToIPv4(addr) : hexToIPv6(addr), port: parseInt(port, 16), family, inode: Number(f[9]) });
  }
  return out;
}

/** Socket inodes among a process's open file descriptors (empty when it is gone or unreadable). */
export function socketInodes(pid: number): Set<number> {
  const out = new Set<number>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(Number(m[1]));
    } catch {
      // closed between readdir and readlink
    }
  }
  return out;
}

/** The TCP sockets the process itself listens on (not its namespace's others), sorted by port. */
export function listeningTcp(pid: number): Listener[] {
  const mine = socketInodes(pid);
  if (!mine.size) return [];
  const out: Listener[] = [];
  for (const [file, family] of [["tcp", 4], ["tcp6", 6]] as const) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${file}`, "utf8");
    } catch {
      continue; // no IPv6 in this kernel, or the process is gone
    }
    for (const r of parseListenRows(text, family)) if (mine.has(r.inode)) out.push({ address: r.address, port: r.port, family: r.family });
  }
  return out.sort((a, b) => a.port - b.port || a.address.localeCompare(b.address));
}

/**
 * The IPv4 address an IPv6 listener accepts, when it accepts IPv4 at all:
 * "::" (dual-stack) → "0.0.0.0", "::ffff:a.b.c.d" → that address; others → null.
 */
export function ipv4Of(l: Listener): string | null {
  if (l.family === 4) return l.address;
  if (l.address === "0:0:0:0:0:0:0:0") return "0.0.0.0";
  const m = /^0:0:0:0:0:ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(l.address);
  if (!m) return null;
  const hi = parseInt(m[1], 16);
  const lo = parseInt(m[2], 16);
  return [hi >>> 8, hi & 0xff, lo >>> 8, lo & 0xff].join(".");
}

/** Inode of a network namespace file (/proc/PID/ns/net, /run/netns/NAME), or null. */
export function netnsInode(file: string): number | null {
  try {
    return fs.statSync(file).ino;
  } catch {
    return null;
  }
}
