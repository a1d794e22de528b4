// Which packets a network fault acts on: iptables and u32 matches for a
// target, and the selection key written into rule comments and compared by
// the overlap checks.
import { isIPv6 } from "node:net";
import type { NetworkTarget } from "../types";
import { netnsExists } from "./cmd";

export const PROTO_NUM = { tcp: 6, udp: 17, icmp: 1 } as const;

/** An address's IP family (a CIDR's too). */
export const familyOf = (a: string): 4 | 6 => (isIPv6(a.split("/")[0]) ? 6 : 4);

/**
 * Refusals that depend on the target, with the field named. ipv6: the fault
 * (its iptables redirect) can take IPv6 addresses; others are refused one.
 */
export async function targetProblem(t: NetworkTarget, o: { ipv6?: boolean } = {}): Promise<string | null> {
  if ((t.dstPort || t.srcPort) && t.protocol !== "tcp" && t.protocol !== "udp") return `target.protocol: ports need tcp or udp (got ${t.protocol})`;
  for (const f of ["dst", "src"] as const)
    if (t[f] && familyOf(t[f]) === 6 && !o.ipv6)
      return `target.${f}: ${t[f]} is an IPv6 address; this fault acts on IPv4 only (IPv6 works with the redirect of latency through its proxy, proxy-toxic and http-fault without listen, and dns)`;
  if (t.dst && t.src && familyOf(t.dst) !== familyOf(t.src)) return `target.src: ${t.src} and target.dst ${t.dst} are of different IP families: no packet has both`;
  if (t.netns && !(await netnsExists(t.netns, t.netnsInode)))
    return t.container
      ? `target.container: the network namespace of container ${t.container} (${t.netns}) is gone: it stopped or restarted since it was resolved`
      : `target.netns: no network namespace named "${t.netns}" (see ip netns list)`;
  return null;
}

/** iptables match arguments for the target's packets (its cgroup apart: see cgroupMatch). */
export function iptMatch(t: Pick<NetworkTarget, "protocol" | "src" | "dst" | "srcPort" | "dstPort" | "dstLocal">): string[] {
  const m: string[] = [];
  if (t.protocol !== "all") m.push("-p", t.protocol);
  if (t.src) m.push("-s", t.src);
  if (t.dst) m.push("-d", t.dst);
  if (t.srcPort) m.push("--sport", String(t.srcPort));
  if (t.dstPort) m.push("--dport", String(t.dstPort));
  // after the ports: --dport belongs to the protocol's match, loaded by -p
  if (t.dstLocal && !t.dst) m.push("-m", "addrtype", "--dst-type", "LOCAL");
  return m;
}

/**
 * The xt_cgroup match (cgroup v2 path, relative to the v2 root; it also
 * matches the folders below). Only for locally sent packets: OUTPUT, or nat
 * OUTPUT — the socket's cgroup is known on the way out.
 */
export function cgroupMatch(t: Pick<NetworkTarget, "cgroup">): string[] {
  return t.cgroup ? ["-m", "cgroup", "--path", t.cgroup] : [];
}

/** u32 matches for the target's packets (all IPv4 traffic when nothing narrows it). */
export function u32Match(t: Pick<NetworkTarget, "protocol" | "src" | "dst" | "srcPort" | "dstPort">): string[] {
  // dstLocal needs no match: traffic to the namespace's own addresses only ever crosses lo (see pickInterface)
  const m: string[] = [];
  if (t.protocol !== "all") m.push("match", "ip", "protocol", String(PROTO_NUM[t.protocol]), "0xff");
  if (t.src) m.push("match", "ip", "src", cidr(t.src));
  if (t.dst) m.push("match", "ip", "dst", cidr(t.dst));
  if (t.srcPort) m.push("match", "ip", "sport", String(t.srcPort), "0xffff");
  if (t.dstPort) m.push("match", "ip", "dport", String(t.dstPort), "0xffff");
  return m.length ? m : ["match", "u32", "0", "0"];
}

export const cidr = (a: string) => (a.includes("/") ? a : `${a}/${familyOf(a) === 6 ? 128 : 32}`);

/** An IPv6 address (or CIDR's network) as a 128-bit number. */
function v6Number(ip: string): bigint {
  const [head, tail] = ip.split("::");
  // a dotted IPv4 tail (::ffff:10.0.0.1) is the last two groups
  const groups4 = (g: string) => {
    const [a, b, c, d] = g.split(".").map(Number);
    return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  };
  const part = (x?: string) => (x ? x.split(":").flatMap((g) => (g.includes(".") ? groups4(g) : [g])) : []);
  const h = part(head);
  const t = part(tail);
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((n, g) => (n << 16n) + BigInt(parseInt(g, 16)), 0n);
}

/** The first and last address of an address or CIDR of either family (IPv6 as bigints). */
function anyRange(a: string): [bigint, bigint, 4 | 6] {
  if (familyOf(a) === 4) {
    const [lo, hi] = ipRange(a);
    return [BigInt(lo), BigInt(hi), 4];
  }
  const [ip, p] = cidr(a).split("/");
  const size = 1n << BigInt(128 - Number(p));
  const lo = (v6Number(ip) / size) * size;
  return [lo, lo + size - 1n, 6];
}

export function ipRange(a: string): [number, number] {
  const [ip, p] = cidr(a).split("/");
  const n = ip.split(".").reduce((x, o) => x * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(p));
  const lo = Math.floor(n / size) * size;
  return [lo, lo + size - 1];
}

/** Could two selections share a packet? Absent fields match everything. */
export function overlaps(a: SelectionKey, b: SelectionKey): boolean {
  const addr = (x?: string, y?: string) => {
    if (!x || !y) return true;
    const [a0, a1, af] = anyRange(x);
    const [b0, b1, bf] = anyRange(y);
    return af === bf && a0 <= b1 && b0 <= a1;
  };
  const port = (x?: number, y?: number) => !x || !y || x === y;
  // a cgroup match covers the folders below it: disjoint only when neither path contains the other
  const cg = (x?: string, y?: string) => !x || !y || x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`);
  const dir = a.direction === "both" || b.direction === "both" || a.direction === b.direction;
  const proto = a.protocol === "all" || b.protocol === "all" || a.protocol === b.protocol;
  return dir && proto && addr(a.src, b.src) && addr(a.dst, b.dst) && port(a.srcPort, b.srcPort) && port(a.dstPort, b.dstPort) && cg(a.cgroup, b.cgroup);
}

/** What overlap checks compare (a dstLocal selection is written as dst "*": it may meet any address). */
export type SelectionKey = Pick<NetworkTarget, "direction" | "protocol" | "src" | "dst" | "srcPort" | "dstPort" | "cgroup">;

/** An address in a key: an IPv6 one in brackets, as its colons would run into the port's. */
const keyAddr = (a?: string) => (a === undefined ? "*" : familyOf(a) === 6 ? `[${a}]` : a);

/** The selection as it is written into rule comments (read back by overlap checks); " cgroup=PATH" only when there is one. */
export function keyText(fault: string, k: SelectionKey): string {
  return `${fault} ${k.direction} ${k.protocol} ${keyAddr(k.src)}:${k.srcPort ?? "*"}>${keyAddr(k.dst)}:${k.dstPort ?? "*"}${k.cgroup ? ` cgroup=${k.cgroup}` : ""}`;
}

/** Reads keyText's output, also as written before the cgroup suffix existed. */
export function parseKey(text: string): { fault: string; key: SelectionKey } | null {
  const addr = String.raw`(\[[0-9a-fA-F:./]+\]|[^\s:>\[]+)`;
  const m = new RegExp(String.raw`^(\S+) (egress|ingress|both) (tcp|udp|icmp|all) ${addr}:(\S+?)>${addr}:(\S+?)(?: cgroup=(\S+))?$`).exec(text);
  if (!m) return null;
  const opt = (s: string) => (s === "*" ? undefined : s.replace(/^\[(.*)\]$/, "$1"));
  const num = (s: string) => (s === "*" ? undefined : Number(s));
  const key: SelectionKey = { direction: m[2] as SelectionKey["direction"], protocol: m[3] as SelectionKey["protocol"], src: opt(m[4]), srcPort: num(m[5]), dst: opt(m[6]), dstPort: num(m[7]) };
  if (m[8]) key.cgroup = m[8];
  return { fault: m[1], key };
}
