// Network plumbing for the network faults: commands as data (so a dry run and
// the tests can see exactly what would run), run with argument arrays,
// optionally inside `ip netns exec NS`; netem detection; iptables rules kept
// in a chain of their own per fault, so revert deletes exactly what it added;
// tc qdiscs under one recognisable handle, only over a default root qdisc.
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

/** Handle major of every root qdisc gameday adds ("gd" in ASCII). */
export const TC_HANDLE = "6764";

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
 * Before adding a root qdisc: the device must exist and carry only the
 * kernel's default root (handle 0:), which deleting ours brings back as it
 * was. Anything else is somebody's configuration, or another fault: refused.
 */
export function rootQdiscProblem(dev: string, netns?: string): string | null {
  const r = runCmd({ netns, argv: ["tc", "qdisc", "show", "dev", dev] });
  if (r.code !== 0) return `no device ${dev}${netns ? ` in netns ${netns}` : ""}: ${r.stderr.trim()}`;
  const root = r.stdout.split("\n").find((l) => / root /.test(l) || / root$/.test(l));
  if (!root) return null;
  const m = /^qdisc (\S+) ([0-9a-f]+):/.exec(root);
  if (!m || m[2] === "0") return null;
  if (m[2] === TC_HANDLE) return `another gameday network fault already shapes ${dev}${netns ? ` in netns ${netns}` : ""} (root qdisc ${m[1]} ${TC_HANDLE}:); two overlapping faults on one device are refused`;
  return `${dev} already has a configured root qdisc (${root.trim()}); gameday does not replace qdiscs it did not add`;
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
 * netem for the selected packets only: a 4-band prio root whose priomap
 * never uses band 4, netem on band 4, a u32 filter steering the selection
 * there. Everything else keeps the default prio behaviour.
 */
export function netemCommands(dev: string, t: NetworkTarget, s: NetemSpec): Cmd[] {
  const tc = (...a: string[]): Cmd => ({ netns: t.netns, argv: ["tc", ...a] });
  return [
    tc("qdisc", "add", "dev", dev, "root", "handle", `${TC_HANDLE}:`, "prio", "bands", "4", "priomap", ..."1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1".split(" ")),
    tc("qdisc", "add", "dev", dev, "parent", `${TC_HANDLE}:4`, "handle", "6765:", "netem", ...netemArgs(s)),
    tc("filter", "add", "dev", dev, "parent", `${TC_HANDLE}:`, "protocol", "ip", "prio", "1", "u32", ...u32Match(t), "flowid", `${TC_HANDLE}:4`),
  ];
}

/** An htb root: the selection gets a class capped at rate, the rest an unthrottled default. */
export function htbCommands(dev: string, t: NetworkTarget, rate: string, burst?: string): Cmd[] {
  const tc = (...a: string[]): Cmd => ({ netns: t.netns, argv: ["tc", ...a] });
  return [
    tc("qdisc", "add", "dev", dev, "root", "handle", `${TC_HANDLE}:`, "htb", "default", "2"),
    tc("class", "add", "dev", dev, "parent", `${TC_HANDLE}:`, "classid", `${TC_HANDLE}:1`, "htb", "rate", rate, "ceil", rate, ...(burst ? ["burst", burst] : [])),
    tc("class", "add", "dev", dev, "parent", `${TC_HANDLE}:`, "classid", `${TC_HANDLE}:2`, "htb", "rate", "100gbit"),
    tc("filter", "add", "dev", dev, "parent", `${TC_HANDLE}:`, "protocol", "ip", "prio", "1", "u32", ...u32Match(t), "flowid", `${TC_HANDLE}:1`),
  ];
}

/** Deleting our root brings the kernel's default qdisc back. */
export function tcRevertCommand(dev: string, netns?: string): Cmd {
  return { netns, argv: ["tc", "qdisc", "del", "dev", dev, "root", "handle", `${TC_HANDLE}:`] };
}

/** Remove our root qdisc if it is there (and only ours); idempotent. */
export function removeRootQdisc(dev: string, netns?: string): void {
  const r = runCmd({ netns, argv: ["tc", "qdisc", "show", "dev", dev] });
  if (r.code !== 0) return; // device gone (its namespace deleted): nothing left to undo
  if (!new RegExp(`^qdisc \\S+ ${TC_HANDLE}: .*root`, "m").test(r.stdout)) return;
  must(tcRevertCommand(dev, netns));
}
