// Network traffic: a slice of packets, given outright (addresses, ports,
// interface, cgroup) or aimed at a node's or processes' listening TCP sockets.
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

/**
 * The control plane's ports, spared by a target in the host's own network
 * namespace (the worker, the web app and SSH live there; a namespace named
 * by netns is somebody else's network) whose protocol can carry TCP.
 */
export function withSpare(t: NetworkTarget): NetworkTarget {
  if (t.netns || (t.protocol !== "tcp" && t.protocol !== "all")) return t;
  return { ...t, spare: controlPlanePorts() };
}

const endpoint = (ip?: string, port?: number) => (ip || port ? `${ip ?? "*"}:${port ?? "*"}` : "*");

registerTargetKind({
  kind: "network",
  title: "network traffic",
  selectors: ["network"],
  id: (t) =>
    `net:${t.netns ?? "host"}/${t.interface ?? "*"}/${t.protocol}/${t.src ?? "*"}:${t.srcPort ?? "*"}>${t.dst ?? (t.dstLocal ? "local" : "*")}:${t.dstPort ?? "*"}/${t.direction}${t.cgroup ? `/cgroup=${t.cgroup}` : ""}`,
  label: (t) =>
    `${t.protocol} ${t.cgroup ? `cgroup ${t.cgroup}${t.src || t.srcPort ? ` ${endpoint(t.src, t.srcPort)}` : ""}` : endpoint(t.src, t.srcPort)} → ${endpoint(t.dst ?? (t.dstLocal ? "local" : undefined), t.dstPort)} (${t.direction}${t.interface ? ` on ${t.interface}` : ""}${t.netns ? ` in netns ${t.netns}` : ""})`,
  resolve(spec, ctx) {
    const r = resolveNetwork(spec.network!, ctx.topology, ctx.extraProtected);
    if (!ctx.allowControlPlane) r.targets = r.targets.map(withSpare);
    if (r.who === "network") return { selector: `network ${targetLabel(r.targets[0])}`, matched: r.targets, protected: [] };
    const selector = `network to ${r.who}${r.processes.length ? ` (${r.processes.length} process(es) listening on ${r.listeners.join(", ") || "no TCP port"})` : ""}`;
    return { selector, matched: r.targets, protected: r.protected, node: r.node, ...(r.problem ? { problem: r.problem } : {}) };
  },
});
