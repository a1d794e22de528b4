// Group faults between containers (pumba#73, #104): the network targets that
// cut group A off from group B in both directions while both keep talking to
// everyone else. Each target is the egress of one container's cgroup to one
// TCP address and port a container of the other group listens on, so the
// existing partition (or latency, packet-loss) fault applies it; a latency
// matrix is the same targets with latency per pair.
import { ipv4Of, listeningTcp } from "../../lib/sockets";
import type { ContainerTarget } from "../targets/container";
import type { NetworkTarget } from "../types";
import { internals } from "./containers";
import { docker } from "./engine";

/** Where the others reach a container's listeners: its own IP on a bridge network, else the listen address. */
async function endpoints(t: ContainerTarget): Promise<{ dst?: string; dstLocal?: boolean; dstPort: number }[]> {
  const info = await (await docker(t.engine)).getContainer(t.id).inspect();
  const ip = Object.values(info.NetworkSettings.Networks ?? {}).map((n) => n.IPAddress).find(Boolean);
  const seen = new Set<string>();
  const out: { dst?: string; dstLocal?: boolean; dstPort: number }[] = [];
  for (const pid of (await internals(t)).pids)
    for (const l of listeningTcp(pid)) {
      const addr = ipv4Of(l);
      if (addr === null) continue;
      const e = ip ? { dst: ip, dstPort: l.port } : addr === "0.0.0.0" ? { dstLocal: true, dstPort: l.port } : { dst: addr, dstPort: l.port };
      const key = JSON.stringify(e);
      if (!seen.has(key)) out.push(e), seen.add(key);
    }
  return out;
}

/** Egress targets from every container of `from` to every listener of `to`. */
export async function cutTargets(from: ContainerTarget[], to: ContainerTarget[]): Promise<NetworkTarget[]> {
  const dsts = (await Promise.all(to.map(endpoints))).flat();
  const out: NetworkTarget[] = [];
  for (const a of from) {
    const { cgroupV2 } = await internals(a);
    if (!cgroupV2) throw new Error(`container ${a.name} has no cgroup v2 path: its traffic cannot be selected`);
    for (const d of dsts) out.push({ kind: "network", direction: "egress", protocol: "tcp", cgroup: cgroupV2, ...d });
  }
  return out;
}

/** Both directions: A cannot reach B, B cannot reach A; traffic to any third party flows. */
export async function partitionTargets(a: ContainerTarget[], b: ContainerTarget[]): Promise<NetworkTarget[]> {
  return [...(await cutTargets(a, b)), ...(await cutTargets(b, a))];
}
