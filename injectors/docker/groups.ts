// A container's traffic as network targets, and group faults between
// containers (pumba#73, #104). A container with a network namespace of its
// own is acted on inside it (nsenter --net=/proc/PID/ns/net, the inode
// pinned so a restarted container's new namespace is never mistaken for the
// old); one on the host's network by what its cgroup sends. `to` another
// group gives one target per address and TCP port the other group listens
// on, so partition, latency or packet-loss apply per pair: group A cut from
// B both ways while both still reach C, or a latency matrix with its own
// delay per pair of groups.
import fs from "node:fs";
import type { NetworkSelector } from "../../lib/experiment";
import { ipv4Of, listeningTcp } from "../../lib/sockets";
import type { Topology } from "../../lib/topology";
import { runCmd } from "../net/cmd";
import { resolveContainers, type ContainerTarget } from "../targets/container";
import { netnsNameOf } from "../targets/network";
import { targetId, type TargetResolution } from "../targets/registry";
import type { NetworkTarget } from "../types";
import { internals } from "./containers";

/** Where one container's traffic is selected, and where the others reach it. */
export interface Side {
  container: ContainerTarget;
  /** the fields of NetworkTarget that select its traffic: netns (+ inode) or cgroup */
  select: Pick<NetworkTarget, "netns" | "netnsInode" | "cgroup" | "container" | "resolvConf">;
  /** its IPv4 addresses outside loopback (own namespace only) */
  addrs: string[];
  pids: number[];
}

const labelOf = (t: ContainerTarget) => `${t.name} (${t.id.slice(0, 12)})`;

/** IPv4 addresses of a namespace's interfaces, loopback apart. */
async function addressesIn(netns: string): Promise<string[]> {
  const r = await runCmd({ netns, argv: ["ip", "-4", "-o", "addr", "show", "scope", "global"] });
  return [...r.stdout.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]);
}

export async function sideOf(t: ContainerTarget): Promise<Side> {
  const inside = await internals(t);
  const container = labelOf(t);
  const resolvConf = inside.resolvConf ? { resolvConf: inside.resolvConf } : {};
  const named = netnsNameOf(inside.pid);
  if (named === undefined) {
    // the host's network: only its cgroup tells its packets from everyone else's
    if (!inside.cgroupV2) throw new Error(`container ${container} shares the host's network and has no cgroup v2 path: its traffic cannot be selected`);
    return { container: t, select: { cgroup: inside.cgroupV2, container, ...resolvConf }, addrs: [], pids: inside.pids };
  }
  const netns = named ?? inside.netns;
  const select = { netns, container, ...resolvConf, ...(named ? {} : { netnsInode: fs.statSync(inside.netns).ino }) };
  return { container: t, select, addrs: await addressesIn(netns), pids: inside.pids };
}

type Endpoint = Pick<NetworkTarget, "dst" | "dstPort" | "dstLocal">;

/** How `from` reaches `to`'s listeners: per address and TCP port, or per address for other protocols. */
function endpoints(from: Side, to: Side, protocol: NetworkTarget["protocol"]): Endpoint[] {
  const own = to.select.netns !== undefined;
  if (protocol !== "tcp") {
    if (!own) throw new Error(`container ${to.select.container} shares the host's network: only its TCP ports tell it apart (protocol tcp), not its addresses`);
    return to.addrs.map((dst) => ({ dst }));
  }
  const out: Endpoint[] = [];
  const seen = new Set<string>();
  const add = (e: Endpoint) => {
    const k = JSON.stringify(e);
    if (!seen.has(k)) out.push(e), seen.add(k);
  };
  for (const pid of to.pids)
    for (const l of listeningTcp(pid)) {
      const addr = ipv4Of(l);
      if (addr === null) continue;
      if (own) {
        // loopback listeners are out of the others' reach
        if (addr === "0.0.0.0") for (const dst of to.addrs) add({ dst, dstPort: l.port });
        else if (!addr.startsWith("127.")) add({ dst: addr, dstPort: l.port });
      } else if (addr !== "0.0.0.0") add({ dst: addr, dstPort: l.port });
      // a host-network listener on every address: the same namespace says LOCAL, another one only knows the port
      else add(from.select.netns === undefined ? { dstLocal: true, dstPort: l.port } : { dstPort: l.port });
    }
  return out;
}

/** Egress targets from every container of `from` to every endpoint of `to` (a container in both groups is not cut from itself). */
export async function cutTargets(from: Side[], to: Side[], base: Omit<NetworkTarget, "direction"> = { kind: "network", protocol: "tcp" }): Promise<NetworkTarget[]> {
  const out: NetworkTarget[] = [];
  for (const a of from)
    for (const b of to) {
      if (a.container.id === b.container.id) continue;
      for (const e of endpoints(a, b, base.protocol)) if (!base.dstPort || !e.dstPort || e.dstPort === base.dstPort) out.push({ ...base, direction: "egress", ...a.select, ...e });
    }
  return out;
}

/** Both directions: A cannot reach B, B cannot reach A; traffic to any third party flows. */
export async function partitionTargets(a: ContainerTarget[], b: ContainerTarget[]): Promise<NetworkTarget[]> {
  const [sa, sb] = [await Promise.all(a.map(sideOf)), await Promise.all(b.map(sideOf))];
  return [...(await cutTargets(sa, sb)), ...(await cutTargets(sb, sa))];
}

/**
 * `network: { container, to?, ... }` to targets: each container's own
 * traffic (narrowed by the other fields), or with `to` its traffic to the
 * other group's listeners, and with direction both the other group's back.
 */
export async function resolveContainerTraffic(sel: NetworkSelector, topology: Topology | null): Promise<TargetResolution> {
  const { container, to, ...fields } = sel;
  const from = await resolveContainers(container!, topology);
  const other = to ? await resolveContainers(to.container, topology) : null;
  const selector = `network of ${from.selector}${other ? ` to ${other.selector}` : ""}`;
  if (!from.matched.length) return { selector, matched: [], protected: [], ...(from.problem ? { problem: from.problem } : {}) };
  const sides = await Promise.all((from.matched as ContainerTarget[]).map(sideOf));
  let targets: NetworkTarget[];
  if (!other) targets = sides.map((s) => ({ kind: "network", ...fields, ...s.select }));
  else {
    if (!other.matched.length) return { selector, matched: [], protected: [], problem: other.problem ?? `to: no running container matches ${other.selector}` };
    const others = await Promise.all((other.matched as ContainerTarget[]).map(sideOf));
    const base = { kind: "network" as const, ...fields };
    targets = [...(await cutTargets(sides, others, base)), ...(fields.direction === "both" ? await cutTargets(others, sides, base) : [])];
    if (!targets.length) return { selector, matched: [], protected: [], problem: `${other.selector}: its containers listen on no TCP port the others can reach (or have no address outside loopback)` };
  }
  const seen = new Set<string>();
  const matched = targets.filter((t) => !seen.has(targetId(t)) && !!seen.add(targetId(t)));
  return { selector, matched, protected: [] };
}
