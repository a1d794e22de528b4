// Network plumbing for the network faults: commands as data (so a dry run and
// the tests can see exactly what would run), run with argument arrays,
// optionally inside `ip netns exec NS`; netem detection; iptables rules kept
// in a chain of their own per fault, so revert deletes exactly what it added;
// tc faults as classes under one shared htb root of a recognisable handle,
// added only over a default root qdisc and removed with the last class.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { isIPv4 } from "node:net";
import type { NetworkTarget } from "../injectors/types";

/** One command: argv[0] is ip, tc or iptables; run inside netns when given. */
export interface Cmd {
  netns?: string;
  argv: string[];
}

export function cmdText(c: Cmd): string {
  const argv = c.netns ? ["ip", "netns", "exec", c.netns, ...c.argv] : c.argv;
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCmd(c: Cmd): CmdResult {
  const [file, ...args] = c.netns ? ["ip", "netns", "exec", c.netns, ...c.argv] : c.argv;
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 15_000 });
  if (r.error) return { code: 127, stdout: "", stderr: r.error.message };
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Run and throw with the command and its stderr on failure. */
export function must(c: Cmd): string {
  const r = runCmd(c);
  if (r.code !== 0) throw new Error(`\`${cmdText(c)}\` failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** Short random id for chain names, handles and comments. */
export function shortTag(): string {
  return crypto.randomBytes(4).toString("hex");
}

// ---------------------------------------------------------------- detection

let netemCache: { ok: boolean; detail: string } | null = null;

/**
 * Is sch_netem usable? Tried for real on lo of a throwaway namespace (a
 * module list can lie: built-in, not loadable, blocked), once per process.
 */
export function detectNetem(refresh = false): { ok: boolean; detail: string } {
  if (netemCache && !refresh) return netemCache;
  const ns = `gd-probe-${process.pid}-${shortTag()}`;
  const add = runCmd({ argv: ["ip", "netns", "add", ns] });
  if (add.code !== 0) return (netemCache = { ok: false, detail: `cannot create a network namespace to probe netem: ${add.stderr.trim()}` });
  try {
    const r = runCmd({ netns: ns, argv: ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"] });
    netemCache = r.code === 0 ? { ok: true, detail: "sch_netem works (probed in a throwaway namespace)" } : { ok: false, detail: `no sch_netem: ${r.stderr.trim() || `tc exit ${r.code}`}` };
  } finally {
    runCmd({ argv: ["ip", "netns", "del", ns] });
  }
  return netemCache;
}

export function toolsMissing(tools = ["ip", "tc", "iptables", "iptables-save"]): string | null {
  for (const t of tools) {
    const r = spawnSync(t, t === "ip" ? ["-V"] : t === "tc" ? ["-V"] : ["--version"], { encoding: "utf8", timeout: 5000 });
    if (r.error) return `${t} is not installed (package ${t === "ip" || t === "tc" ? "iproute2" : "iptables"})`;
  }
  if (process.getuid?.() !== 0) return "network faults need root (CAP_NET_ADMIN)";
  return null;
}

// -------------------------------------------------------------- selections

export const PROTO_NUM = { tcp: 6, udp: 17, icmp: 1 } as const;

/** Refusals that depend on the target, with the field named. */
export function targetProblem(t: NetworkTarget): string | null {
  if ((t.dstPort || t.srcPort) && t.protocol !== "tcp" && t.protocol !== "udp") return `target.protocol: ports need tcp or udp (got ${t.protocol})`;
  if (t.netns && !runCmd({ argv: ["ip", "netns", "list"] }).stdout.split("\n").some((l) => l.split(" ")[0] === t.netns))
    return `target.netns: no network namespace named "${t.netns}" (see ip netns list)`;
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

const cidr = (a: string) => (a.includes("/") ? a : `${a}/32`);

function ipRange(a: string): [number, number] {
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
    const [a0, a1] = ipRange(x);
    const [b0, b1] = ipRange(y);
    return a0 <= b1 && b0 <= a1;
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

/** The selection as it is written into rule comments (read back by overlap checks); " cgroup=PATH" only when there is one. */
export function keyText(fault: string, k: SelectionKey): string {
  return `${fault} ${k.direction} ${k.protocol} ${k.src ?? "*"}:${k.srcPort ?? "*"}>${k.dst ?? "*"}:${k.dstPort ?? "*"}${k.cgroup ? ` cgroup=${k.cgroup}` : ""}`;
}

/** Reads keyText's output, also as written before the cgroup suffix existed. */
export function parseKey(text: string): { fault: string; key: SelectionKey } | null {
  const m = /^(\S+) (egress|ingress|both) (tcp|udp|icmp|all) (\S+?):(\S+?)>(\S+?):(\S+?)(?: cgroup=(\S+))?$/.exec(text);
  if (!m) return null;
  const opt = (s: string) => (s === "*" ? undefined : s);
  const num = (s: string) => (s === "*" ? undefined : Number(s));
  const key: SelectionKey = { direction: m[2] as SelectionKey["direction"], protocol: m[3] as SelectionKey["protocol"], src: opt(m[4]), srcPort: num(m[5]), dst: opt(m[6]), dstPort: num(m[7]) };
  if (m[8]) key.cgroup = m[8];
  return { fault: m[1], key };
}

// ---------------------------------------------------------------- iptables

/** One fault's rules: its own chain, jumped to from built-in hooks. */
export interface ChainPlan {
  netns?: string;
  table: "filter" | "nat";
  chain: string;
  hooks: string[];
  /** "gameday:<tag> <fault> <selection>" on every jump rule */
  comment: string;
  rules: string[][];
}

export function newChainName(tag: string): string {
  return `GAMEDAY-${tag}`;
}

const ipt = (p: ChainPlan, ...args: string[]): Cmd => ({ netns: p.netns, argv: ["iptables", "-w", "5", "-t", p.table, ...args] });
const jumpSpec = (p: ChainPlan) => ["-m", "comment", "--comment", p.comment, "-j", p.chain];

/** The commands that put the chain in place (chain first, jumps last). */
export function chainCommands(p: ChainPlan): Cmd[] {
  return [ipt(p, "-N", p.chain), ...p.rules.map((r) => ipt(p, "-A", p.chain, ...r)), ...p.hooks.map((h) => ipt(p, "-I", h, "1", ...jumpSpec(p)))];
}

export function applyChain(p: ChainPlan): void {
  for (const c of chainCommands(p)) must(c);
}

/** Remove exactly the jumps and chain this plan created; idempotent. */
export function removeChain(p: ChainPlan): void {
  for (const h of p.hooks) {
    // bounded: one jump per hook is added; a few more only after a double apply
    for (let i = 0; i < 8 && runCmd(ipt(p, "-C", h, ...jumpSpec(p))).code === 0; i++) must(ipt(p, "-D", h, ...jumpSpec(p)));
  }
  if (chainExists(p)) {
    must(ipt(p, "-F", p.chain));
    must(ipt(p, "-X", p.chain));
  }
}

export function chainExists(p: ChainPlan): boolean {
  return runCmd(ipt(p, "-S", p.chain)).code === 0;
}

/** Gameday comments on rules in a namespace's filter and nat tables. */
export function gamedayRules(netns?: string): { tag: string; fault: string; key: SelectionKey | null; line: string }[] {
  const r = runCmd({ netns, argv: ["iptables-save"] });
  const out: { tag: string; fault: string; key: SelectionKey | null; line: string }[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = /--comment "?gameday:(\w+) ([^"]*)"?/.exec(line);
    if (!m) continue;
    const k = parseKey(m[2].trim());
    out.push({ tag: m[1], fault: k?.fault ?? "?", key: k?.key ?? null, line });
  }
  return out;
}

/** iptables tables present in a namespace (iptables-nft creates one on first use). */
export function iptTables(netns?: string): string[] {
  return [...runCmd({ netns, argv: ["iptables-save"] }).stdout.matchAll(/^\*(\w+)$/gm)].map((m) => m[1]);
}

/**
 * Delete a table we brought into being, once it holds nothing but its empty
 * built-in chains, so iptables-save reads as before. iptables itself cannot
 * delete a table; nft (package nftables) can. Without nft it stays, empty.
 */
export function dropTableIfPristine(table: string, netns?: string): "deleted" | "kept" | "no-nft" {
  const r = runCmd({ netns, argv: ["iptables-save", "-t", table] });
  const body = r.stdout.split("\n").filter((l) => l && !l.startsWith("#"));
  const pristine = body.every((l) => l === `*${table}` || l === "COMMIT" || /^:(PREROUTING|INPUT|OUTPUT|FORWARD|POSTROUTING) ACCEPT \[0:0\]$/.test(l));
  if (!pristine || body.length === 0) return "kept";
  const d = runCmd({ netns, argv: ["nft", "delete", "table", "ip", table] });
  return d.code === 0 ? "deleted" : d.code === 127 ? "no-nft" : "kept";
}

// -------------------------------------------------------------------- tc

/** Handle major of the one htb root qdisc gameday adds per device ("gd" in ASCII). */
export const TC_HANDLE = "6764";
/** The root's unthrottled default class (6764:1): all traffic no fault selects. */
export const TC_DEFAULT_MINOR = 1;
/** Rate of the unthrottled classes (the default class and netem faults' classes). */
export const TC_UNTHROTTLED = "100gbit";

/** The device carrying the target's traffic: given, else lo for the namespace's own addresses, else the route towards dst, else the default route's, else lo. */
export function pickInterface(t: NetworkTarget): string {
  if (t.interface) return t.interface;
  if (t.dstLocal && !t.dst) return "lo";
  const dst = t.dst?.split("/")[0];
  if (dst && isIPv4(dst)) {
    const r = runCmd({ netns: t.netns, argv: ["ip", "-o", "route", "get", dst] });
    const m = / dev (\S+)/.exec(r.stdout);
    if (r.code !== 0 || !m) throw new Error(`target.interface: no route to ${dst}${t.netns ? ` in netns ${t.netns}` : ""} (${(r.stderr || r.stdout).trim()}); name the device`);
    return m[1];
  }
  const d = runCmd({ netns: t.netns, argv: ["ip", "-o", "route", "show", "default"] });
  return / dev (\S+)/.exec(d.stdout)?.[1] ?? "lo";
}

export function qdiscShow(dev: string, netns?: string): string {
  return must({ netns, argv: ["tc", "qdisc", "show", "dev", dev] });
}

/**
 * One tc fault's pieces under the shared root: class 6764:<minor> (hex), a
 * u32 filter of its own priority (deleted alone by that priority), and for
 * netem a leaf qdisc <leaf>: under the class. The key is the selection the
 * filter matches: overlap checks and revert's ownership check compare it.
 */
export interface TcSlot {
  minor: number;
  prio: number;
  leaf?: number;
  key: SelectionKey;
}

const hex = (n: number) => n.toString(16);
export const classId = (minor: number) => `${TC_HANDLE}:${hex(minor)}`;

/** A u32 filter under the gameday root, read back from `tc filter show`. */
export interface TcFilter {
  prio: number;
  /** minor of the class it sends to (flowid 6764:<minor>), NaN if elsewhere */
  minor: number;
  /** the selection its keys encode; null when they are not what gameday writes */
  key: SelectionKey | null;
}

/**
 * What gameday's tc side sees on a device:
 * - default: the kernel's default root (handle 0:) or none: a root may be added;
 * - shared: gameday's htb root (default class 6764:1): classes are added under it;
 * - old: a gameday root of the root-per-fault layout (a fault of an older version);
 * - foreign: somebody's configured root.
 */
export interface TcState {
  root: "default" | "shared" | "old" | "foreign";
  rootLine: string;
  qdiscs: string;
  /** class minors under 6764: (shared root only) */
  classes: number[];
  /** majors of every qdisc handle on the device */
  majors: number[];
  filters: TcFilter[];
}

/** The device's tc state, or a message when the device is not there. */
export function tcState(dev: string, netns?: string): TcState | string {
  const r = runCmd({ netns, argv: ["tc", "qdisc", "show", "dev", dev] });
  if (r.code !== 0) return `no device ${dev}${netns ? ` in netns ${netns}` : ""}: ${r.stderr.trim()}`;
  const rootLine = r.stdout.split("\n").find((l) => / root( |$)/.test(l)) ?? "";
  const m = /^qdisc (\S+) ([0-9a-f]+):/.exec(rootLine);
  const majors = [...r.stdout.matchAll(/^qdisc \S+ ([0-9a-f]+):/gm)].map((x) => parseInt(x[1], 16));
  const st: TcState = { root: "default", rootLine: rootLine.trim(), qdiscs: r.stdout, classes: [], majors, filters: [] };
  if (!m || m[2] === "0") return st;
  if (m[2] !== TC_HANDLE) return { ...st, root: "foreign" };
  if (m[1] !== "htb" || !new RegExp(`\\bdefault (?:0x)?0*${hex(TC_DEFAULT_MINOR)}\\b`).test(rootLine)) return { ...st, root: "old" };
  const classes = runCmd({ netns, argv: ["tc", "class", "show", "dev", dev] }).stdout;
  st.classes = [...classes.matchAll(new RegExp(`^class \\S+ ${TC_HANDLE}:([0-9a-f]+) `, "gm"))].map((x) => parseInt(x[1], 16));
  st.filters = parseFilters(runCmd({ netns, argv: ["tc", "filter", "show", "dev", dev, "parent", `${TC_HANDLE}:`] }).stdout);
  return { ...st, root: "shared" };
}

/** u32 filters as `tc filter show` prints them: one entry per filter (fh X::Y) with its match lines. */
export function parseFilters(text: string): TcFilter[] {
  const out: { prio: number; minor: number; matches: [number, number, number][] }[] = [];
  for (const line of text.split("\n")) {
    const f = /pref (\d+) u32 .*fh [0-9a-f]+::[0-9a-f]+ .*flowid (\S+)/.exec(line);
    if (f) {
      const c = new RegExp(`^${TC_HANDLE}:([0-9a-f]+)$`).exec(f[2]);
      out.push({ prio: Number(f[1]), minor: c ? parseInt(c[1], 16) : NaN, matches: [] });
      continue;
    }
    const k = /^\s+match ([0-9a-f]{8})\/([0-9a-f]{8}) at (\d+)/.exec(line);
    if (k && out.length) out.at(-1)!.matches.push([parseInt(k[1], 16), parseInt(k[2], 16), Number(k[3])]);
  }
  return out.map(({ prio, minor, matches }) => ({ prio, minor, key: keyOfU32(matches) }));
}

const PROTO_NAME: Record<number, SelectionKey["protocol"]> = { 6: "tcp", 17: "udp", 1: "icmp" };
const ipText = (v: number) => [24, 16, 8, 0].map((s) => (v >>> s) & 0xff).join(".");
const prefixLen = (mask: number) => (mask === 0 ? 0 : 32 - Math.log2((~mask >>> 0) + 1));

/** The selection u32Match wrote, from the kernel's (value, mask, offset) keys; null for anything else. */
function keyOfU32(matches: [number, number, number][]): SelectionKey | null {
  const key: SelectionKey = { direction: "egress", protocol: "all" };
  for (const [v, mask, off] of matches) {
    if (mask === 0 && off === 0) continue; // match u32 0 0: everything
    if (off === 8 && mask === 0x00ff0000) {
      const p = PROTO_NAME[(v >>> 16) & 0xff];
      if (!p) return null;
      key.protocol = p;
    } else if ((off === 12 || off === 16) && Number.isInteger(prefixLen(mask))) key[off === 12 ? "src" : "dst"] = `${ipText((v & mask) >>> 0)}/${prefixLen(mask)}`;
    else if (off === 20 && (mask === 0xffff0000 || mask === 0x0000ffff || mask === 0xffffffff)) {
      if (mask & 0xffff0000) key.srcPort = v >>> 16;
      if (mask & 0xffff) key.dstPort = v & 0xffff;
    } else return null;
  }
  return key;
}

/** A selection as a tc filter encodes it: egress, addresses as network/length. */
export function tcKey(t: Pick<NetworkTarget, "protocol" | "src" | "dst" | "srcPort" | "dstPort">): SelectionKey {
  const net = (a?: string) => (a ? `${ipText(ipRange(a)[0])}/${cidr(a).split("/")[1]}` : undefined);
  const k: SelectionKey = { direction: "egress", protocol: t.protocol };
  if (t.src) k.src = net(t.src);
  if (t.dst) k.dst = net(t.dst);
  if (t.srcPort) k.srcPort = t.srcPort;
  if (t.dstPort) k.dstPort = t.dstPort;
  return k;
}

const sameKey = (a: SelectionKey, b: SelectionKey) => keyText("tc", a) === keyText("tc", b);

/**
 * Before adding a fault's class: the device must exist and carry either the
 * kernel's default root (handle 0:; our root goes on top, and deleting it
 * brings the default back as it was) or gameday's shared htb root. Anything
 * else is somebody's configuration (or an older gameday's fault): refused.
 */
export function rootQdiscProblem(dev: string, netns?: string, st: TcState | string = tcState(dev, netns)): string | null {
  if (typeof st === "string") return st;
  if (st.root === "old")
    return `another gameday network fault already shapes ${dev}${netns ? ` in netns ${netns}` : ""} (root qdisc ${st.rootLine.split(" ")[1]} ${TC_HANDLE}: of the one-fault-per-device layout); wait for it to end`;
  if (st.root === "foreign") return `${dev} already has a configured root qdisc (${st.rootLine}); gameday does not replace qdiscs it did not add`;
  return null;
}

/**
 * Refuse a tc fault whose selection overlaps another gameday tc fault's on
 * the device: a packet is sent to one class only, so the second fault would
 * silently shadow the first, or be shadowed (any kinds: netem and htb alike).
 */
export function tcOverlapProblem(dev: string, netns: string | undefined, key: SelectionKey, st: TcState | string, ownMinor?: number): string | null {
  if (typeof st === "string" || st.root !== "shared") return null;
  for (const f of st.filters) {
    if (f.minor === ownMinor) continue;
    if (!f.key || overlaps(f.key, key))
      return `another gameday network fault (class ${TC_HANDLE}:${Number.isNaN(f.minor) ? "?" : hex(f.minor)}) already shapes overlapping traffic on ${dev}${netns ? ` in netns ${netns}` : ""}: ${f.key ? keyText("tc", f.key).split(" ").slice(2).join(" ") : "(a filter gameday did not write)"}; a packet takes one tc class, so overlapping tc faults on one device are refused, not merged`;
  }
  return null;
}

/** A class minor (= filter priority = leaf handle major) for a new fault, derived from its tag, free on the device. */
export function pickMinor(tag: string, st: TcState | string): number {
  const used = new Set<number>([0, TC_DEFAULT_MINOR, parseInt(TC_HANDLE, 16)]);
  if (typeof st !== "string") for (const n of [...st.classes, ...st.majors, ...st.filters.map((f) => f.prio)]) used.add(n);
  const span = 0xfff0;
  const start = parseInt(tag.slice(0, 8), 16) % span;
  for (let i = 0; i < span; i++) {
    const m = ((start + i) % span) + 2;
    if (!used.has(m)) return m;
  }
  throw new Error("no free tc class minor on the device");
}

/** The shared root: htb, unselected traffic to the unthrottled default class. */
export function tcRootCommands(dev: string, netns?: string): Cmd[] {
  const tc = (...a: string[]): Cmd => ({ netns, argv: ["tc", ...a] });
  return [
    tc("qdisc", "add", "dev", dev, "root", "handle", `${TC_HANDLE}:`, "htb", "default", hex(TC_DEFAULT_MINOR)),
    tc("class", "add", "dev", dev, "parent", `${TC_HANDLE}:`, "classid", classId(TC_DEFAULT_MINOR), "htb", "rate", TC_UNTHROTTLED),
  ];
}

export type TcShape = { netem: NetemSpec } | { rate: string; burst?: string };

/** One fault's class (capped for htb, unthrottled with a netem leaf for netem) and its filter, under the root. */
export function tcFaultCommands(dev: string, t: NetworkTarget, slot: TcSlot, shape: TcShape): Cmd[] {
  const tc = (...a: string[]): Cmd => ({ netns: t.netns, argv: ["tc", ...a] });
  const cls = classId(slot.minor);
  const rate = "rate" in shape ? ["rate", shape.rate, "ceil", shape.rate, ...(shape.burst ? ["burst", shape.burst] : [])] : ["rate", TC_UNTHROTTLED];
  return [
    tc("class", "add", "dev", dev, "parent", `${TC_HANDLE}:`, "classid", cls, "htb", ...rate),
    ...("netem" in shape ? [tc("qdisc", "add", "dev", dev, "parent", cls, "handle", `${hex(slot.leaf ?? slot.minor)}:`, "netem", ...netemArgs(shape.netem))] : []),
    tc("filter", "add", "dev", dev, "parent", `${TC_HANDLE}:`, "protocol", "ip", "prio", String(slot.prio), "u32", ...u32Match(t), "flowid", cls),
  ];
}

/** Put the shared root in place unless it is there; tolerant of another process adding it meanwhile. */
export function ensureRoot(dev: string, netns?: string): void {
  const st = tcState(dev, netns);
  const why = rootQdiscProblem(dev, netns, st);
  if (why) throw new Error(why);
  const s = st as TcState;
  if (s.root === "shared" && s.classes.includes(TC_DEFAULT_MINOR)) return;
  const [root, dflt] = tcRootCommands(dev, netns);
  const failed = (c: Cmd, r: CmdResult) => new Error(`\`${cmdText(c)}\` failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
  if (s.root === "default") {
    const r = runCmd(root);
    // another process (a worker and a CLI) may have added it first: ours, so go on
    if (r.code !== 0 && rootOf(dev, netns) !== "shared") throw failed(root, r);
  }
  const d = runCmd(dflt);
  if (d.code !== 0) {
    const now = tcState(dev, netns);
    if (typeof now === "string" || !now.classes.includes(TC_DEFAULT_MINOR)) throw failed(dflt, d);
  }
}

/** What revert runs for one fault (the root only when no other gameday class is left). */
export function tcRevertCommands(dev: string, netns: string | undefined, slot: TcSlot): Cmd[] {
  const tc = (...a: string[]): Cmd => ({ netns, argv: ["tc", ...a] });
  return [
    tc("filter", "del", "dev", dev, "parent", `${TC_HANDLE}:`, "protocol", "ip", "prio", String(slot.prio)),
    ...(slot.leaf !== undefined ? [tc("qdisc", "del", "dev", dev, "parent", classId(slot.minor), "handle", `${hex(slot.leaf)}:`)] : []),
    tc("class", "del", "dev", dev, "classid", classId(slot.minor)),
  ];
}

/**
 * Remove one fault's filter, leaf and class (those still there), then the
 * root once no fault class is left under it; idempotent. A filter at our
 * priority that selects other traffic is another fault's (a class minor
 * taken between plan and inject): it is left alone.
 */
export function removeTcFault(dev: string, netns: string | undefined, slot: TcSlot): void {
  const st = tcState(dev, netns);
  if (typeof st === "string" || st.root !== "shared") return; // device or root gone: its classes went with it
  const f = st.filters.find((x) => x.prio === slot.prio);
  if (f && (f.minor !== slot.minor || (f.key && !sameKey(f.key, slot.key)))) return;
  const [delFilter, ...rest] = tcRevertCommands(dev, netns, slot);
  if (f) must(delFilter);
  const leafThere = slot.leaf !== undefined && new RegExp(`^qdisc \\S+ ${hex(slot.leaf)}: parent ${classId(slot.minor)} `, "m").test(st.qdiscs);
  for (const c of rest) {
    if (c.argv[1] === "qdisc" ? leafThere : st.classes.includes(slot.minor)) must(c);
  }
  removeRootIfUnused(dev, netns);
}

/** Delete the shared root when only its default class (and no filter) is left. */
export function removeRootIfUnused(dev: string, netns?: string): void {
  const st = tcState(dev, netns);
  if (typeof st === "string" || st.root !== "shared") return;
  if (st.classes.some((m) => m !== TC_DEFAULT_MINOR) || st.filters.length) return;
  const r = runCmd(tcRevertCommand(dev, netns));
  // another process may have deleted it first
  if (r.code !== 0 && rootOf(dev, netns) === "shared") throw new Error(`\`${cmdText(tcRevertCommand(dev, netns))}\` failed: ${(r.stderr || r.stdout).trim()}`);
}

const rootOf = (dev: string, netns?: string) => {
  const s = tcState(dev, netns);
  return typeof s === "string" ? "gone" : s.root;
};

/** Is the fault's class, filter or leaf still on the device? (what verify lists) */
export function tcLeftovers(dev: string, netns: string | undefined, slot: TcSlot): { left: string[]; st: TcState | string } {
  const st = tcState(dev, netns);
  const left: string[] = [];
  if (typeof st === "string" || st.root !== "shared") return { left, st };
  if (st.classes.includes(slot.minor)) left.push(`class ${classId(slot.minor)} on ${dev}`);
  if (st.filters.some((f) => f.prio === slot.prio && f.minor === slot.minor)) left.push(`filter prio ${slot.prio} on ${dev}`);
  if (slot.leaf !== undefined && new RegExp(`^qdisc \\S+ ${hex(slot.leaf)}: parent ${classId(slot.minor)} `, "m").test(st.qdiscs)) left.push(`leaf qdisc ${hex(slot.leaf)}: on ${dev}`);
  if (!st.classes.some((m) => m !== TC_DEFAULT_MINOR) && !st.filters.length) left.push(`root qdisc ${TC_HANDLE}: on ${dev} with no fault class under it`);
  return { left, st };
}

/** Deleting our root brings the kernel's default qdisc back. */
export function tcRevertCommand(dev: string, netns?: string): Cmd {
  return { netns, argv: ["tc", "qdisc", "del", "dev", dev, "root", "handle", `${TC_HANDLE}:`] };
}

/**
 * A root-per-fault undo (journaled by an older version): remove its root if
 * it is there and is not the shared root of the current layout; idempotent.
 */
export function removeRootQdisc(dev: string, netns?: string): void {
  const st = tcState(dev, netns);
  if (typeof st === "string" || st.root !== "old") return; // device gone, or no root of that layout
  must(tcRevertCommand(dev, netns));
}

/**
 * Refuse a fault when another gameday fault of the same kind already acts on
 * overlapping traffic in the namespace: a second REDIRECT or DROP on the same
 * packets would be silently shadowed or compounded. Different kinds (latency
 * plus loss on one flow) compose, and are allowed.
 */
export function overlapProblem(netns: string | undefined, fault: string, key: SelectionKey, ownTag?: string): string | null {
  for (const r of gamedayRules(netns)) {
    if (r.tag === ownTag || (r.key && r.fault !== fault)) continue;
    if (!r.key || overlaps(r.key, key))
      return `another gameday ${r.fault} fault (gameday:${r.tag}) already acts on overlapping traffic${netns ? ` in netns ${netns}` : ""}: ${keyText(r.fault, r.key ?? key).split(" ").slice(1).join(" ")}; overlapping faults are refused, not merged`;
  }
  return null;
}

// ------------------------------------------------------------------- netem

export const DISTRIBUTIONS = ["normal", "pareto", "paretonormal", "uniform"] as const;
export type Distribution = (typeof DISTRIBUTIONS)[number];

export interface NetemSpec {
  delayMs?: number;
  jitterMs?: number;
  correlationPct?: number;
  distribution?: Distribution;
  lossPct?: number;
  lossCorrelationPct?: number;
}

export function netemArgs(s: NetemSpec): string[] {
  const a: string[] = [];
  if (s.delayMs !== undefined) {
    a.push("delay", `${s.delayMs}ms`);
    if (s.jitterMs) {
      a.push(`${s.jitterMs}ms`);
      if (s.correlationPct) a.push(`${s.correlationPct}%`);
      // uniform is netem's own jitter shape when no table is named
      if (s.distribution && s.distribution !== "uniform") a.push("distribution", s.distribution);
    }
  }
  if (s.lossPct !== undefined) {
    a.push("loss", "random", `${s.lossPct}%`);
    if (s.lossCorrelationPct) a.push(`${s.lossCorrelationPct}%`);
  }
  return a;
}

/**
 * netem for the selected packets only: under the shared htb root (added when
 * `root`), an unthrottled class with a netem leaf, and a u32 filter of the
 * fault's own priority steering the selection there. Everything else stays
 * in the unthrottled default class.
 */
export function netemCommands(dev: string, t: NetworkTarget, s: NetemSpec, slot: TcSlot, root = true): Cmd[] {
  return [...(root ? tcRootCommands(dev, t.netns) : []), ...tcFaultCommands(dev, t, slot, { netem: s })];
}

/** htb for bandwidth: the selection in a class capped at rate under the shared root (added when `root`); the rest unthrottled. */
export function htbCommands(dev: string, t: NetworkTarget, rate: string, burst: string | undefined, slot: TcSlot, root = true): Cmd[] {
  return [...(root ? tcRootCommands(dev, t.netns) : []), ...tcFaultCommands(dev, t, slot, { rate, burst })];
}
