// packet-drop: drop a share of a running process's packets by direction,
// peer address and port, with cgroup_skb ingress/egress programs attached to
// a cgroup of its own (bpf/skb.bpf.c). Unlike packet-loss (tc/iptables on a
// device), only this process's traffic is touched, on any interface.
import { z } from "zod";
import { cgroupBpfInjector } from "./bpf/cgroup-fault";
import { after, dsts, filterArgs, filterText, ports, scope } from "./bpf/params";
import { register } from "./registry";

export const packetDropParams = z
  .object({
    /** share of the matching packets to drop, 0..1 */
    probability: z.number({ error: "expected a share between 0 and 1" }).gt(0, { error: "must be above 0 (0 drops nothing)" }).max(1, { error: "must be at most 1" }).meta({ examples: [0.3] }),
    direction: z.enum(["egress", "ingress", "both"], { error: "expected egress, ingress or both" }).default("both"),
    after,
    /** peer addresses: the destination of sent packets, the source of received ones */
    dst: dsts,
    /** either end's port (a server's port catches both directions of its connections) */
    port: ports,
    protocol: z.enum(["tcp", "udp", "all"], { error: "expected tcp, udp or all" }).default("all"),
    /** process (default): the target moves into a cgroup of its own, covering sockets it opens from now on; cgroup: its own cgroup in place, every socket of every process in it */
    scope,
  })
  .strict();
export type PacketDropParams = z.infer<typeof packetDropParams>;

const DIR_BITS = { egress: 1, ingress: 2, both: 3 } as const;

export const packetDrop = cgroupBpfInjector<PacketDropParams>({
  name: "packet-drop",
  description: "Drop a share of the target's packets by direction, peer address and port (cgroup_skb BPF on a cgroup of its own).",
  obj: "skb.bpf.o",
  params: packetDropParams,
  program(p) {
    const programs = [...(p.direction !== "ingress" ? ["gd_egress"] : []), ...(p.direction !== "egress" ? ["gd_ingress"] : [])];
    return {
      programs,
      mechanism: `cgroup_skb/${p.direction === "both" ? "ingress+egress" : p.direction}`,
      config: [`direction=${DIR_BITS[p.direction]}`, ...filterArgs(p)],
      selects: `${filterText({ ...p, probability: 1 })}, ${Math.round(p.probability * 1000) / 10}% dropped`,
    };
  },
  evidence: { seen: "packets", injected: "dropped" },
});

register(packetDrop);
