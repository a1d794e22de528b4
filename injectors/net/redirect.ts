// The redirect that puts a proxy (the latency fault's delaying one, the
// chaos proxy of proxy-toxic and http-fault without listen) in the path of a
// target's new TCP connections: iptables nat OUTPUT REDIRECT, and the same
// in ip6tables for the IPv6 half of the target. A client that reaches a
// server on localhost over ::1 (Node ≥ 17 resolves localhost to ::1 first)
// would otherwise go around the fault. REDIRECT sends a locally sent IPv6
// connection to [::1]:PORT, so the proxy listens there too, and connects on
// over the family the client used: a listener on :: or ::1 only may not take
// IPv4 at all.
import path from "node:path";
import { cgroup2Root } from "../net-fault";
import type { Listening } from "../proxy/spawn";
import type { NetworkTarget } from "../types";
import { runCmd, type Cmd } from "./cmd";
import { applyChain, type ChainPlan } from "./iptables";
import { cgroupMatch, familyOf, iptMatch } from "./select";

export type Family = 4 | 6;

/**
 * The families the redirect covers: dst's; for a listener on every address
 * (dstLocal), IPv4, and IPv6 too when it takes IPv6 (dstLocal6); a src
 * narrows to its own family.
 */
export function redirectFamilies(t: Pick<NetworkTarget, "dst" | "src" | "dstLocal" | "dstLocal6">): Family[] {
  const all: Family[] = t.dst ? [familyOf(t.dst)] : t.dstLocal && t.dstLocal6 ? [4, 6] : [4];
  return t.src ? all.filter((f) => f === familyOf(t.src!)) : all;
}

/** Where the proxy connects on to for a connection of this family: dst, or that family's loopback address for a listener on every address. */
export function upstreamFor(t: Pick<NetworkTarget, "dst" | "dstLocal">, family: Family): string | undefined {
  if (t.dst) return t.dst.replace(/\/(32|128)$/, "");
  return t.dstLocal ? (family === 6 ? "::1" : "127.0.0.1") : undefined;
}

/** host:port, an IPv6 host in brackets. */
export const hostPort = (host: string, port: number | string) => `${host.includes(":") ? `[${host}]` : host}:${port}`;

/** One nat chain per family, both of one name (ip6tables keeps its own tables). */
export function familyChains(chain: ChainPlan, families: Family[]): ChainPlan[] {
  return families.map((f) => (f === 6 ? { ...chain, family: 6 as const } : chain));
}

/** The nat rule: the selection (from the target's cgroup, if any), minus the proxy's own cgroup, to the proxy's port. */
export function withRedirect(chain: ChainPlan, t: NetworkTarget, cgroup: string, port: string): ChainPlan {
  const rel = path.relative(cgroup2Root(), cgroup);
  // --syn: a connection that predates the rule and that conntrack first sees
  // mid-stream must not be bent to the proxy (which would answer with a RST)
  return { ...chain, rules: [[...iptMatch(t), "--syn", ...(t.interface ? ["-o", t.interface] : []), ...cgroupMatch(t), "-m", "cgroup", "!", "--path", rel, "-j", "REDIRECT", "--to-ports", port]] };
}

/** The chains with their rule, each to the port its family's proxy listens on. */
export function redirectPlans(chains: ChainPlan[], t: NetworkTarget, cgroup: string, l: Listening | "PORT"): ChainPlan[] {
  return chains.map((c) => {
    const port = l === "PORT" ? (c.family === 6 ? "PORT6" : "PORT") : c.family === 6 ? l.port6 : l.port;
    if (port === undefined) throw new Error("the proxy did not listen on [::1]: the IPv6 redirect has nowhere to go");
    return withRedirect(c, t, cgroup, String(port));
  });
}

export async function applyRedirect(chains: ChainPlan[], t: NetworkTarget, cgroup: string, l: Listening): Promise<void> {
  for (const p of redirectPlans(chains, t, cgroup, l)) await applyChain(p);
}

/**
 * existing: reset. NAT binds at connect time, so a connection open before
 * the rule never reaches the proxy; aborting it once (ss -K, needs
 * CONFIG_INET_DIAG_DESTROY) makes a keep-alive client reconnect through it.
 */
export function resetCommands(t: NetworkTarget): Cmd[] {
  return redirectFamilies(t).map((f) => ({ netns: t.netns, argv: ["ss", "-K", "dst", f === 6 ? `[${upstreamFor(t, 6)}]` : upstreamFor(t, 4)!, "dport", "=", `:${t.dstPort}`] }));
}

/** Why the namespace cannot take the IPv6 half of a redirect (no ip6tables, no ::1), or null. */
export async function ipv6Problem(netns: string | undefined, field: string): Promise<string | null> {
  const [ipt, lo] = await Promise.all([runCmd({ netns, argv: ["ip6tables", "-w", "5", "-t", "nat", "-S", "OUTPUT"] }), runCmd({ netns, argv: ["ip", "-6", "addr", "show", "dev", "lo"] })]);
  if (ipt.code !== 0) return `${field}: the target takes IPv6, and its redirect needs ip6tables nat: ${(ipt.stderr || ipt.stdout).trim() || `exit ${ipt.code}`}`;
  if (!/inet6 ::1\/128/.test(lo.stdout)) return `${field}: the target takes IPv6, but lo${netns ? ` in netns ${netns}` : ""} has no ::1 for the redirected connections to reach the proxy on`;
  return null;
}
