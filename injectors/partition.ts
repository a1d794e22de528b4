// partition: cut the traffic between two hosts (target src and dst) both
// ways, in the target's namespace: DROP (silent, connections time out) or
// REJECT (refused at once). One chain per hook — OUTPUT, INPUT and FORWARD,
// so a namespace routing between the two is cut as well. One side may be a
// cgroup instead of src: then what its processes send is cut, in OUTPUT only
// (the cgroup match knows the sending socket on the way out), which stops
// every TCP connection of theirs to the other side. Or one side may be a
// container's own namespace (the rules sit inside it): all it exchanges with
// the other side is cut.
import { z } from "zod";
import { shortTag } from "./net/cmd";
import { applyChain, chainCommands, overlapProblem } from "./net/iptables";
import { cgroupMatch, iptMatch } from "./net/select";
import { commonChecks, netInjector, texts, type NetUndo } from "./net-fault";
import { hookChains } from "./packet-loss";
import { register } from "./registry";
import type { NetworkTarget } from "./types";

export const partitionParams = z
  .object({
    action: z.enum(["drop", "reject"], { error: "expected drop or reject" }).default("drop"),
  })
  .strict();
export type PartitionParams = z.infer<typeof partitionParams>;

export async function planPartition(t: NetworkTarget, p: PartitionParams): Promise<NetUndo> {
  await commonChecks(t);
  // two sides: src (or a cgroup, or a container's own namespace) and dst (or the port of a process listening on every address)
  const side1 = !!(t.src || t.cgroup || (t.container && t.netns));
  const side2 = !!(t.dst || t.dstLocal || t.dstPort);
  if (!side1 || !side2)
    throw new Error(`target.${side1 ? "dst" : "src"}: a partition is between two sides: give src (or cgroup) and dst (addresses or CIDRs; or a node or process, whose listening ports are the other side)`);
  const both: NetworkTarget = { ...t, direction: "both" };
  const overlap = await overlapProblem(t.netns, "partition", both);
  if (overlap) throw new Error(overlap);
  const tag = shortTag();
  const jump = p.action === "drop" ? ["-j", "DROP"] : ["-j", "REJECT"];
  if (t.cgroup) {
    const chains = hookChains(both, tag, "partition", ["OUTPUT"], () => [[...iptMatch(t), ...cgroupMatch(t), ...jump]]);
    return { tag, mechanism: "iptables", why: `iptables ${p.action.toUpperCase()} of what cgroup ${t.cgroup} sends`, netns: t.netns, chains, commands: texts(chains.flatMap(chainCommands)) };
  }
  // the way back: addresses and ports swapped (a local-address side becomes the source)
  const back = { ...t, src: t.dst, dst: t.src, srcPort: t.dstPort, dstPort: t.srcPort, dstLocal: false };
  const backLocal = t.dstLocal && !t.dst ? ["-m", "addrtype", "--src-type", "LOCAL"] : [];
  const chains = hookChains(both, tag, "partition", ["OUTPUT", "INPUT", "FORWARD"], () => [
    [...iptMatch(t), ...jump],
    [...iptMatch(back), ...backLocal, ...jump],
  ]);
  return { tag, mechanism: "iptables", why: `iptables ${p.action.toUpperCase()} both ways`, netns: t.netns, chains, commands: texts(chains.flatMap(chainCommands)) };
}

export const partition = netInjector<PartitionParams>({
  name: "partition",
  touches: "blocked",
  description: "Cut the traffic between two hosts (target src and dst) both ways with iptables DROP or REJECT.",
  params: partitionParams,
  plan: planPartition,
  async apply(_t, _p, undo) {
    for (const c of undo.chains) await applyChain(c);
  },
});

register(partition);
