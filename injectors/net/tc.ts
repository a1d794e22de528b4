// tc faults as classes under one shared htb root of a recognisable handle,
// added only over a default root qdisc and removed with the last class; the
// netem and htb shapes.
import { isIPv4 } from "node:net";
import type { NetworkTarget } from "../types";
import { cmdText, must, runCmd, type Cmd, type CmdResult } from "./cmd";
import { cidr, ipRange, keyText, overlaps, u32Match, type SelectionKey } from "./select";

/** Handle major of the one htb root qdisc gameday adds per device ("gd" in ASCII). */
export const TC_HANDLE = "6764";
/** The root's unthrottled default class (6764:1): all traffic no fault selects. */
export const TC_DEFAULT_MINOR = 1;
/** Rate of the unthrottled classes (the default class and netem faults' classes). */
export const TC_UNTHROTTLED = "100gbit";

/** The device carrying the target's traffic: given, else lo for the namespace's own addresses, else the route towards dst, else the default route's, else lo. */
export async function pickInterface(t: NetworkTarget): Promise<string> {
  if (t.interface) return t.interface;
  if (t.dstLocal && !t.dst) return "lo";
  const dst = t.dst?.split("/")[0];
  if (dst && isIPv4(dst)) {
    const r = await runCmd({ netns: t.netns, argv: ["ip", "-o", "route", "get", dst] });
    const m = / dev (\S+)/.exec(r.stdout);
    if (r.code !== 0 || !m) throw new Error(`target.interface: no route to ${dst}${t.netns ? ` in netns ${t.netns}` : ""} (${(r.stderr || r.stdout).trim()}); name the device`);
    return m[1];
  }
  const d = await runCmd({ netns: t.netns, argv: ["ip", "-o", "route", "show", "default"] });
  return / dev (\S+)/.exec(d.stdout)?.[1] ?? "lo";
}

export function qdiscShow(dev: string, netns?: string): Promise<string> {
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
export async function tcState(dev: string, netns?: string): Promise<TcState | string> {
  const r = await runCmd({ netns, argv: ["tc", "qdisc", "show", "dev", dev] });
  if (r.code !== 0) return `no device ${dev}${netns ? ` in netns ${netns}` : ""}: ${r.stderr.trim()}`;
  const rootLine = r.stdout.split("\n").find((l) => / root( |$)/.test(l)) ?? "";
  const m = /^qdisc (\S+) ([0-9a-f]+):/.exec(rootLine);
  const majors = [...r.stdout.matchAll(/^qdisc \S+ ([0-9a-f]+):/gm)].map((x) => parseInt(x[1], 16));
  const st: TcState = { root: "default", rootLine: rootLine.trim(), qdiscs: r.stdout, classes: [], majors, filters: [] };
  if (!m || m[2] === "0") return st;
  if (m[2] !== TC_HANDLE) return { ...st, root: "foreign" };
  if (m[1] !== "htb" || !new RegExp(`\\bdefault (?:0x)?0*${hex(TC_DEFAULT_MINOR)}\\b`).test(rootLine)) return { ...st, root: "old" };
  const classes = (await runCmd({ netns, argv: ["tc", "class", "show", "dev", dev] })).stdout;
  st.classes = [...classes.matchAll(new RegExp(`^class \\S+ ${TC_HANDLE}:([0-9a-f]+) `, "gm"))].map((x) => parseInt(x[1], 16));
  st.filters = parseFilters((await runCmd({ netns, argv: ["tc", "filter", "show", "dev", dev, "parent", `${TC_HANDLE}:`] })).stdout);
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
export function rootQdiscProblem(dev: string, netns: string | undefined, st: TcState | string): string | null {
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
export async function ensureRoot(dev: string, netns?: string): Promise<void> {
  const st = await tcState(dev, netns);
  const why = rootQdiscProblem(dev, netns, st);
  if (why) throw new Error(why);
  const s = st as TcState;
  if (s.root === "shared" && s.classes.includes(TC_DEFAULT_MINOR)) return;
  const [root, dflt] = tcRootCommands(dev, netns);
  const failed = (c: Cmd, r: CmdResult) => new Error(`\`${cmdText(c)}\` failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
  if (s.root === "default") {
    const r = await runCmd(root);
    // another process (a worker and a CLI) may have added it first: ours, so go on
    if (r.code !== 0 && (await rootOf(dev, netns)) !== "shared") throw failed(root, r);
  }
  const d = await runCmd(dflt);
  if (d.code !== 0) {
    const now = await tcState(dev, netns);
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
export async function removeTcFault(dev: string, netns: string | undefined, slot: TcSlot): Promise<void> {
  const st = await tcState(dev, netns);
  if (typeof st === "string" || st.root !== "shared") return; // device or root gone: its classes went with it
  const f = st.filters.find((x) => x.prio === slot.prio);
  if (f && (f.minor !== slot.minor || (f.key && !sameKey(f.key, slot.key)))) return;
  const [delFilter, ...rest] = tcRevertCommands(dev, netns, slot);
  if (f) await must(delFilter);
  const leafThere = slot.leaf !== undefined && new RegExp(`^qdisc \\S+ ${hex(slot.leaf)}: parent ${classId(slot.minor)} `, "m").test(st.qdiscs);
  for (const c of rest) {
    if (c.argv[1] === "qdisc" ? leafThere : st.classes.includes(slot.minor)) await must(c);
  }
  await removeRootIfUnused(dev, netns);
}

/** Delete the shared root when only its default class (and no filter) is left. */
export async function removeRootIfUnused(dev: string, netns?: string): Promise<void> {
  const st = await tcState(dev, netns);
  if (typeof st === "string" || st.root !== "shared") return;
  if (st.classes.some((m) => m !== TC_DEFAULT_MINOR) || st.filters.length) return;
  const r = await runCmd(tcRevertCommand(dev, netns));
  // another process may have deleted it first
  if (r.code !== 0 && (await rootOf(dev, netns)) === "shared") throw new Error(`\`${cmdText(tcRevertCommand(dev, netns))}\` failed: ${(r.stderr || r.stdout).trim()}`);
}

const rootOf = async (dev: string, netns?: string) => {
  const s = await tcState(dev, netns);
  return typeof s === "string" ? "gone" : s.root;
};

/** Is the fault's class, filter or leaf still on the device? (what verify lists) */
export async function tcLeftovers(dev: string, netns: string | undefined, slot: TcSlot): Promise<{ left: string[]; st: TcState | string }> {
  const st = await tcState(dev, netns);
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
export async function removeRootQdisc(dev: string, netns?: string): Promise<void> {
  const st = await tcState(dev, netns);
  if (typeof st === "string" || st.root !== "old") return; // device gone, or no root of that layout
  await must(tcRevertCommand(dev, netns));
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
