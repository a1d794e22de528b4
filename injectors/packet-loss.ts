// packet-loss: drop a percentage of the selected packets. iptables `statistic
// --mode random` DROP rules in a chain of the fault's own (works on every
// kernel with iptables); netem's `loss random P% C%` when a correlation is
// asked for (iptables draws every packet independently) or netem is forced.
import { z } from "zod";
import { shortTag } from "./net/cmd";
import { detectNetem, type NetemDetection } from "./net/detect";
import { applyChain, chainCommands, newChainName, overlapProblem, type ChainPlan } from "./net/iptables";
import { cgroupMatch, iptMatch, keyText } from "./net/select";
import { applyTc, cgroupRefused, commonChecks, netemFaultAvailable, netInjector, percent, planTc, tcPlanCommands, texts, type NetUndo } from "./net-fault";
import { register } from "./registry";
import type { NetworkTarget } from "./types";

export const packetLossParams = z
  .object({
    percent: percent("percent").refine((v) => v > 0, { message: "must be greater than 0 (percent of packets dropped)" }).meta({ examples: [10] }),
    /** netem only: % dependence of each drop decision on the previous one */
    correlation: percent("correlation").default(0),
    mechanism: z.enum(["auto", "iptables", "netem"], { error: "expected auto, iptables or netem" }).default("auto"),
  })
  .strict();
export type PacketLossParams = z.infer<typeof packetLossParams>;

export const HOOKS = { egress: ["OUTPUT"], ingress: ["INPUT"], both: ["OUTPUT", "INPUT"] } as const;

/** One chain per hook, so an interface match fits its hook (-o out, -i in). */
export function hookChains(t: NetworkTarget, tag: string, fault: string, hooks: readonly string[], rules: (hook: string) => string[][]): ChainPlan[] {
  return hooks.map((h) => ({
    netns: t.netns,
    table: "filter" as const,
    chain: `${newChainName(tag)}-${h.slice(0, 3)}`,
    hooks: [h],
    comment: `gameday:${tag} ${keyText(fault, t)}`,
    rules: rules(h).map((r) => [...(t.interface ? [h === "INPUT" ? "-i" : "-o", t.interface] : []), ...r]),
  }));
}

/** netem: the detection (default: the one available() cached; awaited here only when netem is wanted). */
export async function planPacketLoss(t: NetworkTarget, p: PacketLossParams, netem: () => Promise<NetemDetection> = detectNetem): Promise<NetUndo> {
  await commonChecks(t);
  const tag = shortTag();
  const wantNetem = p.mechanism === "netem" || (p.mechanism === "auto" && p.correlation > 0);
  if (wantNetem) {
    cgroupRefused(t, p.mechanism === "netem" ? "packet-loss (netem)" : "correlated packet-loss (netem)");
    const n = await netem();
    if (!n.ok) throw new Error(p.mechanism === "netem" ? `mechanism: netem was asked for, but ${n.detail}` : `correlation: correlated loss needs netem, and ${n.detail}; use correlation 0 (independent drops, iptables)`);
    if (t.direction !== "egress") throw new Error(`target.direction: netem drops egress traffic only (got ${t.direction})`);
    const { root, ...tc } = await planTc(t, tag, true);
    const cmds = tcPlanCommands(t, tc.dev, tc.tc, root, { netem: lossSpec(p) });
    return { tag, mechanism: "netem", why: p.mechanism === "netem" ? "asked for" : "auto: correlation needs netem", netns: t.netns, ...tc, chains: [], commands: texts(cmds) };
  }
  const overlap = await overlapProblem(t.netns, "packet-loss", t);
  if (overlap) throw new Error(overlap);
  const prob = (p.percent / 100).toFixed(6).replace(/0+$/, "").replace(/\.$/, "");
  const chains = hookChains(t, tag, "packet-loss", HOOKS[t.direction], () => [[...iptMatch(t), ...cgroupMatch(t), "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"]]);
  return { tag, mechanism: "iptables", why: p.mechanism === "iptables" ? "asked for" : "auto: independent drops need no netem", netns: t.netns, chains, commands: texts(chains.flatMap(chainCommands)) };
}

const lossSpec = (p: PacketLossParams) => ({ lossPct: p.percent, lossCorrelationPct: p.correlation });

export const packetLoss = netInjector<PacketLossParams>({
  name: "packet-loss",
  touches: "dropped",
  description: "Drop a percentage of the selected packets (iptables statistic DROP; netem when a correlation is asked for).",
  params: packetLossParams,
  available: netemFaultAvailable,
  plan: (t, p) => planPacketLoss(t, p),
  async apply(t, p, undo) {
    if (undo.mechanism === "netem") return applyTc(t, undo, { netem: lossSpec(p) });
    for (const c of undo.chains) await applyChain(c);
  },
});

register(packetLoss);
