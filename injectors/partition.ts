// partition: cut the traffic between two hosts (target src and dst) both
// ways, in the target's namespace: DROP (silent, connections time out) or
// REJECT (refused at once). One chain per hook — OUTPUT, INPUT and FORWARD,
// so a namespace routing between the two is cut as well.
import { z } from "zod";
import { applyChain, chainCommands, iptMatch, overlapProblem, shortTag } from "../lib/net";
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

export function planPartition(t: NetworkTarget, p: PartitionParams): NetUndo {
  commonChecks(t);
  if (!t.src || !t.dst) throw new Error(`target.${t.src ? "dst" : "src"}: a partition is between two sides: give src and dst (addresses or CIDRs)`);
  const both: NetworkTarget = { ...t, direction: "both" };
  const overlap = overlapProblem(t.netns, "partition", both);
  if (overlap) throw new Error(overlap);
  const tag = shortTag();
  const jump = p.action === "drop" ? ["-j", "DROP"] : ["-j", "REJECT"];
  // the way back: addresses and ports swapped
  const back = { ...t, src: t.dst, dst: t.src, srcPort: t.dstPort, dstPort: t.srcPort };
  const chains = hookChains(both, tag, "partition", ["OUTPUT", "INPUT", "FORWARD"], () => [
    [...iptMatch(t), ...jump],
    [...iptMatch(back), ...jump],
  ]);
  return { tag, mechanism: "iptables", why: `iptables ${p.action.toUpperCase()} both ways`, netns: t.netns, chains, commands: texts(chains.flatMap(chainCommands)) };
}

export const partition = netInjector<PartitionParams>({
  name: "partition",
  description: "Cut the traffic between two hosts (target src and dst) both ways with iptables DROP or REJECT.",
  params: partitionParams,
  plan: planPartition,
  async apply(_t, _p, undo) {
    for (const c of undo.chains) applyChain(c);
  },
});

register(partition);
