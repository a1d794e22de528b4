// latency: add delay (± jitter) to a slice of traffic. Two mechanisms, chosen
// by detection unless the experiment forces one:
// - netem (kernels with sch_netem): a class of its own under gameday's shared
//   htb root on the device, with a netem leaf, and a u32 filter sending only
//   the selected packets there (other faults' classes may sit beside it);
// - proxy (kernels without it, like this one): the selected TCP connections
//   are REDIRECTed (iptables nat, in the client's namespace) to a delaying
//   forwarder that connects on to the one destination the target names and
//   holds every chunk back by latency ± jitter. The forwarder runs in a cgroup
//   of its own that the redirect rule excludes, so its upstream connections
//   are not redirected back to itself.
import path from "node:path";
import { isIP } from "node:net";
import { z } from "zod";
import { duration } from "../lib/duration";
import { cmdText, must, netnsPrefix, shortTag } from "./net/cmd";
import { detectNetem, type NetemDetection } from "./net/detect";
import { chainCommands, newChainName, overlapProblem, type ChainPlan } from "./net/iptables";
import { applyRedirect, familyChains, ipv6Problem, redirectFamilies, redirectPlans, resetCommands, upstreamFor } from "./net/redirect";
import { familyOf, keyText } from "./net/select";
import { DISTRIBUTIONS } from "./net/tc";
import { newTag } from "./load/children";
import { applyTc, cgroup2Root, cgroupRefused, commonChecks, netemFaultAvailable, netInjector, percent, planTc, startProxy, tcPlanCommands, texts, type NetUndo } from "./net-fault";
import { register } from "./registry";
import type { NetworkTarget } from "./types";

export const latencyParams = z
  .object({
    latency: duration({ min: 1, max: 60_000 }).meta({ examples: ["100ms"] }),
    jitter: duration({ max: 60_000 }).default(0),
    /** % dependence of each delay's deviation on the previous one (netem semantics) */
    correlation: percent("correlation").default(0),
    distribution: z.enum(DISTRIBUTIONS, { error: `expected one of ${DISTRIBUTIONS.join(", ")}` }).default("normal"),
    mechanism: z.enum(["auto", "netem", "proxy"], { error: "expected auto, netem or proxy" }).default("auto"),
    /**
     * proxy only: connections open before the fault bypass the redirect (NAT
     * binds at connect time). reset: kill them (ss -K) so keep-alive clients
     * reconnect through the proxy — each sees one aborted connection.
     */
    existing: z.enum(["keep", "reset"], { error: "expected keep or reset" }).default("keep"),
  })
  .strict()
  .refine((p) => p.jitter <= p.latency, { path: ["jitter"], message: "must not exceed latency (a delay cannot be negative)" });
export type LatencyParams = z.infer<typeof latencyParams>;

/** netem when forced or detected (and no cgroup is selected: a u32 filter cannot see it); the proxy otherwise. */
export function chooseMechanism(wanted: "auto" | "netem" | "proxy", netem: { ok: boolean; detail: string }, cgroup?: string): { mechanism: "netem" | "proxy"; why: string } {
  if (wanted === "netem") {
    if (!netem.ok) throw new Error(`mechanism: netem was asked for, but ${netem.detail}`);
    return { mechanism: "netem", why: "asked for" };
  }
  if (wanted === "proxy") return { mechanism: "proxy", why: "asked for" };
  if (cgroup) return { mechanism: "proxy", why: "auto: a cgroup selection needs iptables (the proxy's REDIRECT)" };
  return netem.ok ? { mechanism: "netem", why: "auto: sch_netem available" } : { mechanism: "proxy", why: `auto: ${netem.detail}` };
}

/** The proxy forwards to one destination: the target must name it. */
export function proxyProblem(t: NetworkTarget): string | null {
  if (t.protocol !== "tcp") return `target.protocol: the proxy mechanism delays TCP only (got ${t.protocol}); netem is needed for ${t.protocol}`;
  const ip = upstreamFor(t, 4);
  if (!ip || !isIP(ip)) return `target.dst: the proxy mechanism needs one destination address (got ${t.dst ?? "none"}); give dst and dstPort, or use netem`;
  if (!t.dstPort) return "target.dstPort: the proxy mechanism needs the destination port";
  if (!redirectFamilies(t).length) return `target.src: ${t.src} is of another IP family than the destinations the listener takes`;
  return null;
}

/**
 * The nat chain of each family the target takes. IPv6 is checked usable
 * first: an IPv6 dst is refused without it; a listener on :: (which takes
 * IPv4 too) keeps the IPv4 half, and `skipped` says why IPv6 is not covered.
 */
export async function redirectChains(t: NetworkTarget, chain: ChainPlan): Promise<{ chains: ChainPlan[]; skipped?: string }> {
  const families = redirectFamilies(t);
  if (families.includes(6)) {
    const bad = await ipv6Problem(t.netns, t.dst ? "target.dst" : "target");
    if (bad && t.dst) throw new Error(bad);
    if (bad) return { chains: familyChains(chain, families.filter((f) => f === 4)), skipped: `IPv6 not redirected: ${bad.replace(/^target: /, "")}` };
  }
  return { chains: familyChains(chain, families) };
}

/**
 * netem: the detection result; absent, the cached one from available() (a
 * plan reached without available() awaits the same probe, which then runs
 * here, once per process).
 */
export async function planLatency(target: NetworkTarget, params: LatencyParams, netem?: NetemDetection): Promise<NetUndo> {
  await commonChecks(target, { ipv6: true });
  const v6 = [target.dst, target.src].find((a) => a && familyOf(a) === 6);
  // netem's u32 filter matches IPv4 headers only: an IPv6 selection takes the proxy
  if (v6 && params.mechanism === "netem") throw new Error(`target.${v6 === target.dst ? "dst" : "src"}: ${v6} is IPv6; the netem mechanism's u32 filter selects IPv4 only: use mechanism proxy (or auto)`);
  const { mechanism, why } = v6 ? { mechanism: "proxy" as const, why: `${params.mechanism === "auto" ? "auto: " : ""}${v6} is IPv6, which the proxy's ip6tables REDIRECT covers` } : chooseMechanism(params.mechanism, netem ?? (await detectNetem()), target.cgroup);
  const tag = shortTag();
  if (mechanism === "netem") {
    cgroupRefused(target, "latency (netem)");
    if (target.direction !== "egress") throw new Error(`target.direction: netem delays egress traffic only (got ${target.direction}); delay the other side's egress instead`);
    const { root, ...tc } = await planTc(target, tag, true);
    return { tag, mechanism, why, netns: target.netns, ...tc, chains: [], commands: texts(tcPlanCommands(target, tc.dev, tc.tc, root, { netem: netemSpec(params) })) };
  }
  const bad = proxyProblem(target);
  if (bad) throw new Error(bad);
  const overlap = await overlapProblem(target.netns, "latency", target);
  if (overlap) throw new Error(overlap);
  const { chains, skipped } = await redirectChains(target, { netns: target.netns, table: "nat", chain: newChainName(tag), hooks: ["OUTPUT"], comment: `gameday:${tag} ${keyText("latency", target)}`, rules: [] });
  const cgroup = path.join(cgroup2Root(), `gameday-${tag}`);
  return {
    tag,
    mechanism,
    why: skipped ? `${why}; ${skipped}` : why,
    netns: target.netns,
    chains,
    proxyTag: newTag(`latency-${tag}`),
    cgroup,
    commands: [
      `mkdir ${cgroup}`,
      `${netnsPrefix(target.netns)}node injectors/load/delay-proxy.mjs ${proxyArgs(target, params, chains).join(" ")}  # listens on ${listensOn(chains)}; its PID goes to ${cgroup}/cgroup.procs`,
      ...texts(redirectPlans(chains, target, cgroup, "PORT").flatMap(chainCommands)),
      ...(params.existing === "reset" ? resetCommands(target).map(cmdText) : []),
    ],
  };
}

/** Where the proxy listens, as a dry run shows it. */
export const listensOn = (chains: ChainPlan[]) => chains.map((c) => (c.family === 6 ? "[::1]:PORT6" : "127.0.0.1:PORT")).join(" and ");

const netemSpec = (p: LatencyParams) => ({ delayMs: p.latency, jitterMs: p.jitter, correlationPct: p.correlation, distribution: p.distribution });

/** The delaying proxy's arguments: its upstream per family of the redirected connections (an IPv4 one, an IPv6 one on [::1], or both). */
function proxyArgs(t: NetworkTarget, p: LatencyParams, chains: ChainPlan[]): string[] {
  const up = t.direction === "ingress" ? 0 : p.latency;
  const down = t.direction === "egress" ? 0 : p.latency;
  const hosts = chains.flatMap((c) => (c.family === 6 ? ["--upstream-host6", upstreamFor(t, 6)!] : ["--upstream-host", upstreamFor(t, 4)!]));
  // prettier-ignore
  return [...hosts, "--upstream-port", String(t.dstPort), "--up-ms", String(up), "--down-ms", String(down),
    "--jitter-ms", String(p.jitter), "--correlation", String(p.correlation / 100), "--distribution", p.distribution];
}

export const latency = netInjector<LatencyParams>({
  name: "latency",
  touches: "delayed",
  ipv6: true,
  description: "Delay the selected traffic by latency ± jitter (netem where the kernel has it, else a delaying TCP proxy that iptables REDIRECTs the connections to).",
  params: latencyParams,
  available: netemFaultAvailable,
  plan: (t, p) => planLatency(t, p),
  async apply(t, p, undo, signal) {
    if (undo.mechanism === "netem") return applyTc(t, undo, { netem: netemSpec(p) });
    const l = await startProxy(t, undo, proxyArgs(t, p, undo.chains), signal);
    await applyRedirect(undo.chains, t, undo.cgroup!, l);
    if (p.existing === "reset") for (const c of resetCommands(t)) await must(c);
  },
});

register(latency);
