// Selectors that match most of the host: refused unless the experiment says
// spec.safety.allowBroad with a reason. Judged on this host's processes (a
// selector matching more than half of them) and by shape (root's every
// process, any command line, every address), so a quiet host does not let
// `user: 0` through just because few processes run right now.
import type { TargetSpec } from "../../lib/experiment";
import { isKernelThread, listProcesses } from "../../lib/procfs";
import type { ProcessSelector, Topology } from "../../lib/topology";
import { compileSelector, describeSelector, selectorFor } from "./process";

/** Command lines no real selector should match all of at once. */
const ANY_CMDLINE = ["a", "Z9", "/usr/bin/zzz --q=1", "-"];
const ANY_CGROUP = ["0::/", "1:cpu:/x.slice/y.scope\n0::/x.slice/y.scope"];

/** More than this share of the host's processes is "most of the host". */
export const BROAD_SHARE = 0.5;

function matchesAll(re: string, samples: string[], flags = ""): boolean {
  try {
    const r = new RegExp(re, flags);
    return samples.every((s) => r.test(s));
  } catch {
    return false;
  }
}

/** Why a process selector is broad by its shape alone, or null. */
export function broadShape(sel: ProcessSelector): string | null {
  if (sel.cmdline !== undefined && matchesAll(sel.cmdline, ANY_CMDLINE)) return `cmdline /${sel.cmdline}/ matches any command line`;
  if (sel.cgroup !== undefined && matchesAll(sel.cgroup, ANY_CGROUP, "m")) return `cgroup /${sel.cgroup}/ matches any cgroup`;
  const narrowing = [sel.name, sel.program, sel.cmdline, sel.cgroup, sel.pids].filter((x) => x !== undefined);
  if (sel.user !== undefined && (sel.user === 0 || sel.user === "0" || sel.user === "root") && narrowing.length === 0) return "user root alone selects every process root runs";
  return null;
}

/** Why this process selector matches most of the host, or null. */
export function broadProcesses(sel: ProcessSelector): string | null {
  const shape = broadShape(sel);
  if (shape) return shape;
  const all = listProcesses().filter((p) => p.state !== "Z" && p.state !== "X" && !isKernelThread(p));
  let matches: (p: (typeof all)[number]) => boolean;
  try {
    matches = compileSelector(sel);
  } catch {
    return null; // an unknown user: resolving reports it
  }
  const n = all.filter(matches).length;
  if (all.length >= 4 && n > BROAD_SHARE * all.length) return `${describeSelector(sel)} matches ${n} of the host's ${all.length} processes (more than ${BROAD_SHARE * 100} %)`;
  return null;
}

const prefixOf = (a?: string) => (a === undefined ? 128 : a.includes("/") ? Number(a.split("/")[1]) : 128);
/** Shorter prefixes than these cover most addresses in use: an IPv4 /8, an IPv6 /16 (2000::/3 is every global address). */
const broadPrefix = (a: string) => (a.includes(":") ? 16 : 8);

/** Why a target spec selects most of the host, or null. */
export function broadReason(spec: TargetSpec, topology: Topology | null): string | null {
  const net = spec.network;
  if (net) {
    for (const f of ["dst", "src"] as const) if (net[f] !== undefined && prefixOf(net[f]) < broadPrefix(net[f]!)) return `network.${f} ${net[f]} covers every address (or most of them)`;
    if (net.node || net.process) return broadProcesses(selectorFor({ node: net.node, process: net.process, mode: "all" }, topology).selector);
    // a container's traffic is its own namespace's, or its cgroup's
    const narrowed = [net.dst, net.src, net.dstPort, net.srcPort, net.cgroup, net.container].some((x) => x !== undefined);
    if (!narrowed) return `network selects every address${net.interface ? ` on ${net.interface}` : ""}: give dst, src, a port or a cgroup`;
    return null;
  }
  if (spec.process || spec.node) {
    let sel: ProcessSelector;
    try {
      sel = selectorFor(spec, topology).selector;
    } catch {
      return null; // resolving reports it
    }
    return broadProcesses(sel);
  }
  return null;
}
