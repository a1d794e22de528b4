// dns: poison the DNS answers a slice of traffic gets. A poisoner (a UDP and
// TCP DNS server, injectors/dns/) is started in the target's namespace, in a
// cgroup of its own, forwarding to the upstream the target would have asked;
// the target's DNS queries are REDIRECTed to it (iptables nat, a chain owned
// by the fault) and a named namespace's resolv.conf is pointed at it. Revert
// removes the chain, puts resolv.conf back byte for byte, stops the poisoner
// (which writes its last counters: the fault's evidence) and removes its
// cgroup; a killed holder's reaper does the same from the journal.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { gamedayHome } from "../lib/paths";
import { netnsPrefix, shortTag, toolsMissing } from "./net/cmd";
import { applyChain, iptBin, newChainName, overlapProblem, tablesBefore, type ChainPlan } from "./net/iptables";
import { familyChains, ipv6Problem, type Family } from "./net/redirect";
import { familyOf, keyText, targetProblem, type SelectionKey } from "./net/select";
import { newTag, terminateTagged } from "./load/children";
import { cgroup2Root, cgroupProblem, revertNet, startListener, verifyNet, type NetUndo } from "./net-fault";
import { ruleSchema, ruleText, upstreamSchema, type Upstream } from "./dns/rules";
import type { PoisonerStats } from "./dns/server";
import { applyResolv, DNS_PORT, defaultUpstream, planResolv, redirectDst, resolvProblem, revertResolv, withRedirect, type ResolvChange } from "./dns/redirect";
import { register } from "./registry";
import type { Availability, Effect, Injector, NetworkTarget } from "./types";

export const dnsParams = z
  .object({
    /** first match wins; queries no rule poisons are forwarded untouched */
    rules: z.array(ruleSchema).min(1, { error: "give at least one rule" }).max(64, { error: "at most 64 rules" }),
    /** resolver to forward to, IP or IP:PORT; default: the first nameserver of the namespace's resolv.conf */
    upstream: upstreamSchema.optional(),
    /** the port the target's resolver queries (the redirect's --dport) */
    port: z.number().int().min(1).max(65535).default(DNS_PORT),
    /** named namespace and container targets: also point its resolv.conf (/etc/netns/NAME/resolv.conf, a container's own) at the poisoner (auto), or leave it (keep) */
    resolvConf: z.enum(["auto", "keep"], { error: "expected auto or keep" }).default("auto"),
  })
  .strict();
export type DnsParams = z.infer<typeof dnsParams>;

export interface DnsUndo extends NetUndo {
  upstream: Upstream;
  port: number;
  /** where the poisoner writes its counters (read by effect()) */
  statsFile: string;
  resolv?: ResolvChange;
  rules: string[];
  /** the redirect's destination when the target named none: loopback, for a container on Docker's embedded resolver (redirectDst) */
  dst?: string;
}

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "dns", "child.ts");

const key = (t: NetworkTarget, port: number): SelectionKey => ({ direction: "egress", protocol: "all", dst: t.dst, dstPort: port, cgroup: t.cgroup });

/** Refusals that depend on the target, naming the field. */
async function dnsTargetProblem(t: NetworkTarget, port: number): Promise<string | null> {
  if (t.direction !== "egress") return `target.direction: the dns fault redirects the queries a target sends: direction must be egress (got ${t.direction})`;
  if (t.dstPort && t.dstPort !== port)
    return `target.dstPort: the dns fault redirects DNS queries to port ${port} (got ${t.dstPort}: a node or process selector picks the ports a service listens on, not its DNS traffic; select what it sends with from: { node: ... }, or its netns or cgroup, or set params.port)`;
  if (t.src || t.srcPort || t.interface) return "target: the dns fault selects by netns, cgroup and dst (the resolver address) only";
  return (await targetProblem({ ...t, protocol: "udp" }, { ipv6: true })) ?? cgroupProblem(t);
}

/**
 * The families whose queries are redirected: the resolver address's; with
 * none named, IPv4 and, where the namespace has IPv6 and ip6tables, IPv6 (a
 * resolv.conf may name ::1 or another IPv6 resolver).
 */
async function dnsFamilies(netns: string | undefined, dst: string | undefined): Promise<{ families: Family[]; v6?: string }> {
  if (dst && familyOf(dst) === 4) return { families: [4] };
  const bad = await ipv6Problem(netns, dst ? "target.dst" : "target");
  if (dst) {
    if (bad) throw new Error(bad);
    return { families: [6] };
  }
  return bad ? { families: [4], v6: `IPv6 queries not redirected: ${bad.replace(/^target: the target takes IPv6, and its redirect needs/, "that needs")}` } : { families: [4, 6] };
}

export async function planDns(target: NetworkTarget, params: DnsParams): Promise<DnsUndo> {
  const bad = await dnsTargetProblem(target, params.port);
  if (bad) throw new Error(bad);
  const overlap = await overlapProblem(target.netns, "dns", key(target, params.port));
  if (overlap) throw new Error(overlap);
  const upstream = params.upstream ?? defaultUpstream(target.netns, target.resolvConf);
  const tag = shortTag();
  const cgroup = path.join(cgroup2Root(), `gameday-${tag}`);
  const dst = redirectDst(target);
  const fam = await dnsFamilies(target.netns, dst);
  const chains = familyChains({ netns: target.netns, table: "nat", chain: newChainName(tag), hooks: ["OUTPUT"], comment: `gameday:${tag} ${keyText("dns", key(target, params.port))}`, rules: [] } satisfies ChainPlan, fam.families);
  const resolv = (target.netns || target.resolvConf) && params.resolvConf === "auto" ? (planResolv(target.netns, tag, target.resolvConf) ?? undefined) : undefined;
  const rel = path.relative(cgroup2Root(), cgroup);
  const up = `${upstream.host.includes(":") ? `[${upstream.host}]` : upstream.host}:${upstream.port}`;
  return {
    tag,
    mechanism: "iptables",
    why: `nat REDIRECT of the DNS port to the poisoner (${chains.map((c) => iptBin(c.family)).join(" and ")}${fam.v6 ? `; ${fam.v6}` : ""})`,
    netns: target.netns,
    ...(target.netnsInode !== undefined ? { netnsInode: target.netnsInode } : {}),
    chains,
    ...(await tablesBefore(target.netns, chains)),
    proxyTag: newTag(`dns-${tag}`),
    cgroup,
    upstream,
    port: params.port,
    statsFile: path.join(gamedayHome(), "dns", `${tag}.json`),
    ...(resolv ? { resolv } : {}),
    rules: params.rules.map(ruleText),
    ...(dst !== target.dst ? { dst } : {}),
    commands: [
      `mkdir ${cgroup}`,
      `${netnsPrefix(target.netns)}node --import tsx injectors/dns/child.ts --spec '{"upstream":"${up}",...}'${fam.families.includes(6) ? " --ipv6" : ""}  # listens on 127.0.0.1:PORT${fam.families.includes(6) ? " and [::1]:PORT6" : ""}; its PID goes to ${cgroup}/cgroup.procs`,
      ...chains.flatMap((c) => withRedirect(c, { ...target, dst }, params.port, rel, c.family === 6 ? "PORT6" : "PORT").rules.map((r) => `${netnsPrefix(target.netns)}${iptBin(c.family)} -t nat -A ${c.chain} ${r.join(" ")}`)),
      ...(resolv ? [`rewrite ${resolv.path} in place: nameserver 127.0.0.1 (restored byte for byte on revert)`] : []),
    ],
  };
}

/** Ask the poisoner to stop (it writes its last counters on SIGTERM), bounded; revertNet SIGKILLs what is left. */
const stopPoisoner = (tag: string) => terminateTagged(tag, 1500);

export function readStats(file: string): PoisonerStats | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as PoisonerStats;
  } catch {
    return null;
  }
}

export function effectOf(s: PoisonerStats): Effect {
  const poisoned = s.rules.reduce((n, r) => n + r.poisoned, 0);
  const rules = s.rules.map((r) => `${r.rule}: ${r.matched} matched, ${r.poisoned} poisoned`).join("; ");
  return { touched: poisoned, summary: `${s.queries} queries, ${poisoned} poisoned, ${s.forwarded} forwarded; ${rules}`, counters: s };
}

export const dns: Injector<DnsParams, DnsUndo, NetworkTarget> = {
  name: "dns",
  description:
    "Poison DNS answers (NXDOMAIN, SERVFAIL, REFUSED, a wrong record, empty, truncated, delayed or none) for names matching the rules, through a forwarding poisoner the target's DNS queries are redirected to (iptables nat; a namespace's resolv.conf too).",
  family: "network",
  ipv6: true,
  targetKind: "network",
  params: dnsParams,
  async available(): Promise<Availability> {
    const why = await toolsMissing(["ip", "iptables", "iptables-save"]);
    if (why) return { ok: false, reason: why };
    if (!fs.existsSync(path.join(cgroup2Root(), "cgroup.procs"))) return { ok: false, reason: `no cgroup v2 hierarchy at ${cgroup2Root()}: the poisoner's own queries are kept out of the redirect by its cgroup` };
    return { ok: true };
  },
  plan: planDns,
  async inject(target, params, ctx) {
    const u = ctx.undo;
    // checked again right before the change: another dns fault may have started since plan()
    const clash = await overlapProblem(u.netns, "dns", key(target, u.port), u.tag);
    if (clash) throw new Error(clash);
    fs.mkdirSync(path.dirname(u.statsFile), { recursive: true, mode: 0o700 });
    const spec = JSON.stringify({ rules: params.rules, upstream: `${u.upstream.host.includes(":") ? `[${u.upstream.host}]` : u.upstream.host}:${u.upstream.port}` });
    // tsx by absolute URL: the child may start in any working directory (and inside ip netns exec)
    const v6 = u.chains.some((c) => c.family === 6);
    const argv = [process.execPath, "--import", import.meta.resolve("tsx"), CHILD, "--tag", u.proxyTag!, "--parent", String(process.pid), "--stats", u.statsFile, "--spec", spec, ...(v6 ? ["--ipv6"] : [])];
    const l = await startListener("the DNS poisoner", argv, u.netns, u.cgroup!, ctx.signal);
    for (const c of u.chains) await applyChain(withRedirect(c, { ...target, dst: u.dst ?? target.dst }, u.port, path.relative(cgroup2Root(), u.cgroup!), c.family === 6 ? l.port6! : l.port));
    if (u.resolv) applyResolv(u.resolv);
  },
  async revert(_t, u) {
    // the redirect first: no query reaches a poisoner that is going away
    await revertNet({ ...u, proxyTag: undefined, cgroup: undefined });
    if (u.resolv) revertResolv(u.resolv);
    await stopPoisoner(u.proxyTag!);
    await revertNet({ ...u, chains: [] });
  },
  async verify(_t, u) {
    const net = await verifyNet(u);
    // verifyNet speaks of the latency fault's proxy; ours is the poisoner
    const v = { ...net, detail: net.detail.replace("proxy stopped", "poisoner stopped").replace("the delaying proxy is still running", "the poisoner is still running") };
    const bad = u.resolv ? resolvProblem(u.resolv) : null;
    if (bad) return { ok: false, detail: `${bad}${v.ok ? "" : `; ${v.detail}`}` };
    return v.ok && u.resolv ? { ok: true, detail: `${v.detail}; ${u.resolv.path} restored byte for byte` } : v;
  },
  describe(t, u) {
    const from = t.cgroup ? ` from cgroup ${t.cgroup}` : "";
    const dst = u.dst ?? t.dst;
    const to = dst ? ` to ${dst}${u.dst ? " (the container's resolver: Docker's embedded one forwards from its namespace, untouched)" : ""}` : "";
    return `iptables nat REDIRECT of DNS queries (UDP and TCP port ${u.port}${u.chains.some((c) => c.family === 6) ? `, ${u.chains.length > 1 ? "IPv4 and " : ""}IPv6 through ip6tables` : ""})${from}${to}${u.netns ? ` in netns ${u.netns}` : ""} to a poisoner forwarding to ${u.upstream.host}:${u.upstream.port}${u.resolv ? `; ${u.resolv.path} points at it` : ""}; rules: ${u.rules.join("; ")}`;
  },
  async effect(_t, u) {
    const s = readStats(u.statsFile);
    fs.rmSync(u.statsFile, { force: true });
    return s ? effectOf(s) : null;
  },
};

register(dns);
