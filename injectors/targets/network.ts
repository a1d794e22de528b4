// Network traffic: a slice of packets, given outright (addresses, ports,
// interface, cgroup), aimed at a node's or processes' listening TCP sockets,
// or sent by a node's or processes' (`from`: their namespace and cgroup).
import fs from "node:fs";
import path from "node:path";
import type { NetworkSelector } from "../../lib/experiment";
import { controlPlanePorts } from "../../lib/procfs";
import { ipv4Of, listeningTcp, netnsInode } from "../../lib/sockets";
import type { Topology } from "../../lib/topology";
import type { NetworkTarget, ProcessTarget } from "../types";
import { resolveProcesses, selectorFor, type Resolution } from "./process";
import { registerTargetKind, targetId, targetLabel } from "./registry";

export interface NetworkResolution {
  /** "node api", "process cmdline=~/x/" or "network" */
  who: string;
  node?: string;
  processes: ProcessTarget[];
  protected: Resolution["protected"];
  /** what the processes listen on, as "ADDRESS:PORT" (0.0.0.0 for every address; an IPv6-only one as [ADDRESS]:PORT, for faults that take IPv6) */
  listeners: string[];
  targets: NetworkTarget[];
  /** set when processes matched but yield no target */
  problem?: string;
}

const nsInodeOf = (netns?: string) => netnsInode(netns ? `/run/netns/${netns}` : "/proc/self/ns/net");

/** A process's cgroup v2 path relative to the v2 root ("/" for the root), or null. */
export function cgroupV2Of(pid: number): string | null {
  try {
    const m = /^0::(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/cgroup`, "utf8"));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

/** The `ip netns` name of a process's network namespace; undefined: ours; null: one with no name. */
export function netnsNameOf(pid: number): string | undefined | null {
  const mine = netnsInode(`/proc/${pid}/ns/net`);
  if (mine === nsInodeOf()) return undefined;
  let names: string[] = [];
  try {
    names = fs.readdirSync("/run/netns");
  } catch {
    // no named namespaces
  }
  return names.find((n) => netnsInode(path.join("/run/netns", n)) === mine) ?? null;
}

/**
 * What one process sends, as a network target: its namespace, and its
 * cgroup v2 folder unless that is the root (then the whole namespace). A
 * root-cgroup process in our own namespace cannot be told apart from every
 * other process: that is a problem, not a target.
 */
export function senderTarget(p: { pid: number; comm: string }, base: NetworkTarget): NetworkTarget | string {
  const netns = netnsNameOf(p.pid);
  if (netns === null) return `${p.comm}[${p.pid}] is in a network namespace with no ip netns name (ip netns attach NAME ${p.pid} names it)`;
  const cg = cgroupV2Of(p.pid);
  const cgroup = cg && cg !== "/" ? cg.replace(/^\//, "") : undefined;
  if (!cgroup && !netns) return `${p.comm}[${p.pid}] sits in the root cgroup v2 folder of this host's namespace: what it sends cannot be told from every other process's (move it into a cgroup folder, or run it in a network namespace)`;
  return { ...base, direction: "egress", ...(netns ? { netns } : {}), ...(cgroup ? { cgroup } : {}) };
}

/** `from`: one target per namespace and cgroup the selected processes send from. */
function resolveSenders(sel: NetworkSelector, topology: Topology | null, extraProtected: ReadonlySet<number>): NetworkResolution {
  const { from, container: _c, to: _to, ...fields } = sel;
  const { selector, node } = selectorFor({ ...from!, mode: "all" }, topology);
  const res = resolveProcesses(selector, extraProtected);
  const who = `traffic from ${node ? `node ${node}` : `process ${res.selector}`}`;
  const out: NetworkResolution = { who, node, processes: res.matched, protected: res.protected, listeners: [], targets: [] };
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const p of res.matched) {
    const t = senderTarget(p, { kind: "network", ...fields });
    if (typeof t === "string") {
      problems.push(t);
      continue;
    }
    const id = targetId(t);
    if (!seen.has(id)) out.targets.push(t);
    seen.add(id);
  }
  if (res.matched.length && !out.targets.length) out.problem = `${who}: ${problems.join("; ")}`;
  return out;
}

/**
 * A network selector to concrete targets. With node or process: the matched
 * processes' listening TCP sockets, one target per distinct address and port
 * (dstPort, when given, keeps only that port). dst is the listen address; for
 * a process listening on every address (0.0.0.0, ::) it is left open: when the
 * process shares the rules' network namespace the target says dstLocal (any
 * of the namespace's own addresses: iptables `addrtype LOCAL`, device lo, the
 * proxy forwards to 127.0.0.1), otherwise only the port selects; a listener
 * on :: takes IPv6 too (dstLocal6: the redirecting faults cover ::1 as
 * well). A listener on an IPv6 address only (::1: Node's listen on
 * localhost) is a target with that dst when o.ipv6 (the fault takes IPv6),
 * else left out. A dst given with node or process overrides the listen
 * address (how callers reach it).
 */
export function resolveNetwork(sel: NetworkSelector, topology: Topology | null, extraProtected: ReadonlySet<number> = new Set(), o: { ipv6?: boolean } = {}): NetworkResolution {
  if (sel.container) throw new Error("network.container resolves through the engine: use resolveTargets");
  if (sel.from) return resolveSenders(sel, topology, extraProtected);
  const { node: nodeId, process: proc, container: _c, to: _to, ...fields } = sel;
  const base: NetworkTarget = { kind: "network", ...fields };
  if (!nodeId && !proc) return { who: "network", processes: [], protected: [], listeners: [], targets: [base] };
  const { selector, node } = selectorFor({ node: nodeId, process: proc, mode: "all" }, topology);
  const res = resolveProcesses(selector, extraProtected);
  const who = node ? `node ${node}` : `process ${res.selector}`;
  const out: NetworkResolution = { who, node, processes: res.matched, protected: res.protected, listeners: [], targets: [] };
  if (!res.matched.length) return out;
  const rulesNs = nsInodeOf(fields.netns);
  const seen = new Map<string, NetworkTarget>();
  let ipv6Only = 0;
  for (const p of res.matched) {
    const sameNs = rulesNs !== null && netnsInode(`/proc/${p.pid}/ns/net`) === rulesNs;
    for (const l of listeningTcp(p.pid)) {
      if (fields.dstPort && l.port !== fields.dstPort) continue;
      const v4 = ipv4Of(l);
      const addr = v4 ?? compactIPv6(l.address);
      if (v4 === null && !o.ipv6) {
        ipv6Only++;
        continue;
      }
      const key = v4 === null ? `[${addr}]:${l.port}` : `${addr}:${l.port}`;
      if (!out.listeners.includes(key)) out.listeners.push(key);
      const t: NetworkTarget = { ...base, dstPort: l.port };
      if (!fields.dst) {
        if (addr !== "0.0.0.0") t.dst = addr;
        else if (sameNs) t.dstLocal = true;
      }
      // a listener on :: (dual-stack, or beside one on 0.0.0.0) takes IPv6 on the namespace's own addresses too
      const v6 = t.dstLocal && l.family === 6;
      const id = targetId(t);
      const had = seen.get(id);
      if (had) {
        if (v6) had.dstLocal6 = true;
        continue;
      }
      if (v6) t.dstLocal6 = true;
      seen.set(id, t);
      out.targets.push(t);
    }
  }
  if (!out.targets.length) {
    const n = res.matched.length;
    const port = fields.dstPort ? ` ${fields.dstPort}` : "";
    const v6 = ipv6Only ? ` (this fault takes IPv4 only: IPv6-only listeners found, ${ipv6Only} of them)` : "";
    out.problem = `${who}: ${n === 1 ? "its process listens" : `its ${n} processes listen`} on no TCP port${port}${v6}`;
  }
  return out;
}

/**
 * The control plane's ports, spared by a target in the host's own network
 * namespace (the worker, the web app and SSH live there; a namespace named
 * by netns is somebody else's network) whose protocol can carry TCP.
 */
export function withSpare(t: NetworkTarget): NetworkTarget {
  if (t.netns || (t.protocol !== "tcp" && t.protocol !== "all")) return t;
  return { ...t, spare: controlPlanePorts() };
}

/** "0:0:0:0:0:0:0:1" → "::1" (the URL parser writes IPv6 hosts in their shortest form). */
export const compactIPv6 = (a: string) => new URL(`http://[${a}]/`).hostname.slice(1, -1);

const endpoint = (ip?: string, port?: number) => (ip || port ? `${ip?.includes(":") ? `[${ip}]` : (ip ?? "*")}:${port ?? "*"}` : "*");

registerTargetKind({
  kind: "network",
  title: "network traffic",
  selectors: ["network"],
  example: { network: { dst: "127.0.0.1", dstPort: 8080 } },
  nodePath: ["network", "node"],
  id: (t) =>
    `net:${t.netns ?? "host"}/${t.interface ?? "*"}/${t.protocol}/${t.src ?? "*"}:${t.srcPort ?? "*"}>${t.dst ?? (t.dstLocal ? "local" : "*")}:${t.dstPort ?? "*"}/${t.direction}${t.cgroup ? `/cgroup=${t.cgroup}` : ""}`,
  label: (t) =>
    `${t.protocol} ${t.cgroup ? `cgroup ${t.cgroup}${t.src || t.srcPort ? ` ${endpoint(t.src, t.srcPort)}` : ""}` : endpoint(t.src, t.srcPort)} → ${endpoint(t.dst ?? (t.dstLocal ? "local" : undefined), t.dstPort)} (${t.direction}${t.interface ? ` on ${t.interface}` : ""}${t.container ? ` of container ${t.container}` : t.netns ? ` in netns ${t.netns}` : ""})`,
  async resolve(spec, ctx) {
    if (spec.network!.container) {
      // loaded on use: the Docker side registers the container kind, which must keep its place after this one
      const { resolveContainerTraffic } = await import("../docker/groups");
      const r = await resolveContainerTraffic(spec.network!, ctx.topology);
      return ctx.allowControlPlane ? r : { ...r, matched: (r.matched as NetworkTarget[]).map(withSpare) };
    }
    const r = resolveNetwork(spec.network!, ctx.topology, ctx.extraProtected, { ipv6: ctx.ipv6 });
    if (!ctx.allowControlPlane) r.targets = r.targets.map(withSpare);
    if (r.who === "network") return { selector: `network ${targetLabel(r.targets[0])}`, matched: r.targets, protected: [] };
    const selector = spec.network!.from
      ? `network ${r.who} (${r.processes.length} process(es))`
      : `network to ${r.who}${r.processes.length ? ` (${r.processes.length} process(es) listening on ${r.listeners.join(", ") || "no TCP port"})` : ""}`;
    return { selector, matched: r.targets, protected: r.protected, node: r.node, ...(r.problem ? { problem: r.problem } : {}) };
  },
});
