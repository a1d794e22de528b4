// Turning a target spec (a topology node or a process selector, plus a blast
// radius) into concrete targets with a stable identity. Injectors never see
// selectors; they get one concrete target at a time. A network target aimed
// at a node or processes becomes one target per TCP address and port they
// listen on.
import type { NetworkSelector, TargetSpec } from "../../lib/experiment";
import type { ProcessSelector, Topology } from "../../lib/topology";
import { listProcesses, protectionContext, protectionReason, readCgroupText, uidOf, type ProcInfo } from "../../lib/procfs";
import { ipv4Of, listeningTcp, netnsInode } from "../../lib/sockets";
import os from "node:os";
import path from "node:path";
import { targetId, targetLabel, type NetworkTarget, type ProcessTarget, type Target } from "../types";

export interface Resolution {
  selector: string;
  matched: ProcessTarget[];
  /** processes that matched but are never allowed as targets, with why */
  protected: { pid: number; comm: string; reason: string }[];
}

export function selectorFor(spec: TargetSpec, topology: Topology | null): { selector: ProcessSelector; node?: string } {
  if (spec.process) return { selector: spec.process };
  const node = topology?.spec.nodes.find((n) => n.id === spec.node);
  if (!node) throw new Error(`unknown topology node "${spec.node}"`);
  if (!node.selector?.process) throw new Error(`topology node "${node.id}" has no process selector`);
  return { selector: node.selector.process, node: node.id };
}

export function describeSelector(sel: ProcessSelector): string {
  const parts: string[] = [];
  if (sel.name) parts.push(`name=${sel.name}`);
  if (sel.program) parts.push(`program=${sel.program}`);
  if (sel.cmdline) parts.push(`cmdline=~/${sel.cmdline}/`);
  if (sel.user !== undefined) parts.push(`user=${sel.user}`);
  if (sel.cgroup) parts.push(`cgroup=~/${sel.cgroup}/`);
  if (sel.pids) parts.push(`pids=${sel.pids.join(",")}`);
  return parts.join(" ");
}

const INTERPRETERS = /^(node|nodejs|python[0-9.]*|ruby|perl|java|bash|sh|dash)$/;

/** Does the process run this program (see processSelectorSchema.program)? */
export function runsProgram(p: ProcInfo, program: string): boolean {
  if (p.comm === program) return true;
  const argv = p.cmdline.split(" ");
  const exe = path.basename(argv[0] ?? "");
  if (exe === program) return true;
  if (!INTERPRETERS.test(exe)) return false;
  // first argument that is not an option: the script
  const script = argv.slice(1).find((a) => a && !a.startsWith("-"));
  if (!script) return false;
  const base = path.basename(script);
  return base === program || base.replace(/\.[^.]+$/, "") === program;
}

/** A compiled selector: regexes built once, the user name resolved once. */
export interface ProcessMatcher {
  (p: ProcInfo): boolean;
}

export function compileSelector(sel: ProcessSelector): ProcessMatcher {
  const re = sel.cmdline ? new RegExp(sel.cmdline) : null;
  const cg = sel.cgroup ? new RegExp(sel.cgroup, "m") : null;
  const uid = sel.user === undefined ? undefined : uidOf(sel.user);
  return (p) => {
    if (sel.pids && !sel.pids.includes(p.pid)) return false;
    if (sel.name && p.comm !== sel.name) return false;
    if (sel.program && !runsProgram(p, sel.program)) return false;
    if (uid !== undefined && p.uid !== uid) return false;
    if (re && !re.test(p.cmdline)) return false;
    if (cg && !cg.test(readCgroupText(p.pid))) return false;
    return true;
  };
}

export function resolveProcesses(sel: ProcessSelector, extraProtected: ReadonlySet<number> = new Set()): Resolution {
  const matches = compileSelector(sel);
  const out: Resolution = { selector: describeSelector(sel), matched: [], protected: [] };
  const ctx = protectionContext();
  for (const p of listProcesses()) {
    if (p.state === "Z" || p.state === "X") continue;
    if (!matches(p)) continue;
    const why = protectionReason(p, extraProtected, ctx);
    if (why) {
      out.protected.push({ pid: p.pid, comm: p.comm, reason: why });
      continue;
    }
    out.matched.push({ kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline });
  }
  out.matched.sort((a, b) => a.pid - b.pid);
  return out;
}

export interface TargetResolution {
  selector: string;
  matched: Target[];
  protected: Resolution["protected"];
  node?: string;
  /** why nothing matched when processes did (e.g. they listen on no TCP port) */
  problem?: string;
}

export interface NetworkResolution {
  /** "node api", "process cmdline=~/x/" or "network" */
  who: string;
  node?: string;
  processes: ProcessTarget[];
  protected: Resolution["protected"];
  /** what the processes listen on, as "ADDRESS:PORT" (IPv4; 0.0.0.0 for every address) */
  listeners: string[];
  targets: NetworkTarget[];
  /** set when processes matched but yield no target */
  problem?: string;
}

const nsInodeOf = (netns?: string) => netnsInode(netns ? `/run/netns/${netns}` : "/proc/self/ns/net");

/**
 * A network selector to concrete targets. With node or process: the matched
 * processes' listening TCP sockets, one target per distinct address and port
 * (dstPort, when given, keeps only that port). dst is the listen address; for
 * a process listening on every address (0.0.0.0, ::) it is left open: when the
 * process shares the rules' network namespace the target says dstLocal (any
 * of the namespace's own addresses: iptables `addrtype LOCAL`, device lo, the
 * proxy forwards to 127.0.0.1), otherwise only the port selects. A dst given
 * with node or process overrides the listen address (how callers reach it).
 */
export function resolveNetwork(sel: NetworkSelector, topology: Topology | null, extraProtected: ReadonlySet<number> = new Set()): NetworkResolution {
  const { node: nodeId, process: proc, ...fields } = sel;
  const base: NetworkTarget = { kind: "network", ...fields };
  if (!nodeId && !proc) return { who: "network", processes: [], protected: [], listeners: [], targets: [base] };
  const { selector, node } = selectorFor({ node: nodeId, process: proc, mode: "all" }, topology);
  const res = resolveProcesses(selector, extraProtected);
  const who = node ? `node ${node}` : `process ${res.selector}`;
  const out: NetworkResolution = { who, node, processes: res.matched, protected: res.protected, listeners: [], targets: [] };
  if (!res.matched.length) return out;
  const rulesNs = nsInodeOf(fields.netns);
  const seen = new Set<string>();
  let ipv6Only = 0;
  for (const p of res.matched) {
    const sameNs = rulesNs !== null && netnsInode(`/proc/${p.pid}/ns/net`) === rulesNs;
    for (const l of listeningTcp(p.pid)) {
      const addr = ipv4Of(l);
      if (addr === null) {
        ipv6Only++;
        continue;
      }
      if (fields.dstPort && l.port !== fields.dstPort) continue;
      const key = `${addr}:${l.port}`;
      if (!out.listeners.includes(key)) out.listeners.push(key);
      const t: NetworkTarget = { ...base, dstPort: l.port };
      if (!fields.dst) {
        if (addr !== "0.0.0.0") t.dst = addr;
        else if (sameNs) t.dstLocal = true;
      }
      const id = targetId(t);
      if (seen.has(id)) continue;
      seen.add(id);
      out.targets.push(t);
    }
  }
  if (!out.targets.length) {
    const n = res.matched.length;
    const port = fields.dstPort ? ` ${fields.dstPort}` : "";
    const v6 = ipv6Only ? ` (IPv4: only IPv6 listeners found, ${ipv6Only} of them)` : "";
    out.problem = `${who}: ${n === 1 ? "its process listens" : `its ${n} processes listen`} on no TCP port${port}${v6}`;
  }
  return out;
}

/** Resolve any target spec to concrete targets on this host. */
export function resolveTargets(spec: TargetSpec, topology: Topology | null, extraProtected: ReadonlySet<number>): TargetResolution {
  if (spec.path) return { selector: `path=${spec.path}`, matched: [{ kind: "path", path: spec.path }], protected: [] };
  if (spec.host) return { selector: "host=local", matched: [{ kind: "host", hostname: os.hostname() }], protected: [] };
  if (spec.network) {
    const r = resolveNetwork(spec.network, topology, extraProtected);
    if (r.who === "network") return { selector: `network ${targetLabel(r.targets[0])}`, matched: r.targets, protected: [] };
    const selector = `network to ${r.who}${r.processes.length ? ` (${r.processes.length} process(es) listening on ${r.listeners.join(", ") || "no TCP port"})` : ""}`;
    return { selector, matched: r.targets, protected: r.protected, node: r.node, ...(r.problem ? { problem: r.problem } : {}) };
  }
  const { selector, node } = selectorFor(spec, topology);
  return { ...resolveProcesses(selector, extraProtected), node };
}

/** Deterministic PRNG (mulberry32) so a run's choices can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedFrom(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** How many of n matched targets the blast radius allows. */
export function blastCount(n: number, mode: TargetSpec["mode"], value?: number): number {
  switch (mode) {
    case "all":
      return n;
    case "one":
      return Math.min(1, n);
    case "count":
      return Math.min(n, value ?? 1);
    case "percent":
      return Math.min(n, Math.max(1, Math.floor((n * (value ?? 100)) / 100)));
  }
}

/** Pick blastCount targets at random (Fisher–Yates on a copy). */
export function applyBlastRadius<T>(items: T[], mode: TargetSpec["mode"], value: number | undefined, rnd: () => number): T[] {
  const k = blastCount(items.length, mode, value);
  if (k >= items.length) return [...items];
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}
