// What the proxy-toxic and http-fault faults share: a proxy to the target
// (its dst:dstPort is the upstream) with its toxics in place before it
// listens, hosted by a tagged child (load/proxy-host.mjs) that exits with
// its parent. Two ways into the path:
// - listen given: the proxy listens there and the client is pointed at it;
// - no listen: like the latency fault's proxy path, the target's new TCP
//   connections are REDIRECTed (iptables nat OUTPUT, in the client's
//   namespace; ip6tables too for a target that takes IPv6, to a twin proxy
//   on [::1] that connects on over IPv6) to the proxy, which runs in a
//   cgroup of its own that the rule excludes — existing clients are faulted
//   without being reconfigured (existing: reset aborts their open
//   connections once, so they reconnect through it).
// Revert removes the redirect first, asks the child to stop (SIGTERM:
// in-flight data flushed, every connection ended), then kills what is left
// by tag; effect() reports what the proxy touched from the counts it kept and
// says "inconclusive" when no connection or request was faulted.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { killTagged, LOAD_DIR, newTag, tagged, terminateTagged } from "../load/children";
import { listensOn, redirectChains } from "../latency";
import { cgroup2Root, commonChecks, netAvailable, revertNet, startProxy, verifyNet, type NetUndo } from "../net-fault";
import { cmdText, must, netnsPrefix, shortTag } from "../net/cmd";
import { chainCommands, newChainName, overlapProblem, removeChain, tablesBefore } from "../net/iptables";
import { applyRedirect, hostPort, redirectFamilies, redirectPlans, resetCommands, upstreamFor } from "../net/redirect";
import { familyOf, keyText } from "../net/select";
import type { Injector, NetworkTarget, VerifyResult } from "../types";
import { parseProxy, type ProxyJson } from "./proxy";
import { ApiError } from "./errors";
import { RELAY_NODE_FLAGS, spawnListening } from "./spawn";
import { toxicDef } from "./toxic";

export interface ProxyFaultParams {
  listen?: string;
  existing?: "keep" | "reset";
  toxics: { name?: string; type: string; stream?: "upstream" | "downstream"; toxicity?: number; attributes?: Record<string, unknown>; ttl_ms?: number }[];
}

export interface ProxyFaultUndo {
  tag: string;
  /** where clients reach the proxy; absent: by redirect */
  listen?: string;
  upstream: string;
  protocol: "tcp" | "http";
  /** the /populate body the child gets */
  spec: unknown[];
  /** redirect mode, a target that takes IPv6: the twin proxy on [::1] the ip6tables rule sends to, connecting on over IPv6 */
  spec6?: unknown[];
  /** where the child keeps its counts */
  counts: string;
  /** redirect mode: the nat chain, the proxy's tag and cgroup (the latency fault's proxy path, reverted the same way) */
  net?: NetUndo;
}

/** The params schema of a proxy fault whose toxics belong to `layer`. */
export function proxyFaultParams(layer: "tcp" | "http") {
  return z
    .object({
      /** where the proxy listens (the application is pointed here): host:port; absent: the target's connections are redirected */
      listen: z
        .string({ error: "expected host:port, e.g. 127.0.0.1:16400" })
        .regex(/^(\[[0-9a-fA-F:]+\]|[a-zA-Z0-9.-]*):\d{1,5}$/, { error: "expected host:port, e.g. 127.0.0.1:16400" })
        .optional(),
      /**
       * without listen: connections open before the fault bypass the redirect
       * (NAT binds at connect time). keep (default) leaves them; reset aborts
       * them once (ss -K) so keep-alive clients reconnect through the proxy.
       */
      existing: z.enum(["keep", "reset"], { error: "expected keep or reset" }).optional(),
      toxics: z
        .array(
          z
            .object({
              name: z.string().min(1).optional(),
              type: z.string().refine((t) => toxicDef(t)?.layer === layer, { error: (i) => `unknown ${layer === "http" ? "HTTP" : "TCP"} toxic type ${JSON.stringify(i.input)}` }),
              stream: z.enum(["upstream", "downstream"], { error: "expected upstream or downstream" }).optional(),
              toxicity: z.number().min(0).max(1, { error: "expected 0 to 1" }).optional(),
              attributes: z.record(z.string(), z.unknown()).optional(),
              ttl_ms: z.number().positive().optional(),
            })
            .strict(),
        )
        .min(1, { error: "give at least one toxic" })
        .meta({ examples: [layer === "http" ? [{ type: "http_status", toxicity: 0.2, attributes: { status: 503 } }] : [{ type: "latency", attributes: { latency: 200 } }]] }),
    })
    .strict()
    .superRefine((p, ctx) => {
      if (p.listen !== undefined && p.existing !== undefined)
        ctx.addIssue({ code: "custom", path: ["existing"], message: "existing applies to the redirect (no listen): with listen the client is pointed at the proxy and its open connections are its own" });
      // the toxics' own checks (attributes, names), as the API would answer
      try {
        parseProxy({ name: "check", listen: p.listen ?? "127.0.0.1:0", upstream: "127.0.0.1:1", protocol: layer, toxics: p.toxics });
      } catch (e) {
        ctx.addIssue({ code: "custom", path: ["toxics"], message: e instanceof ApiError ? e.message : String(e) });
      }
    });
}

/** The upstream of a connection of this family (the listen mode's: IPv4 unless dst is IPv6). */
function upstreamOf(t: NetworkTarget, family: 4 | 6 = 4): string {
  const host = upstreamFor(t, family);
  if (!host || host.includes("/")) throw new Error(`target.dst: the proxy needs one destination address to connect on to (got ${t.dst ?? "none"})`);
  if (!t.dstPort) throw new Error("target.dstPort: the proxy needs the destination port");
  if (t.protocol !== "tcp") throw new Error(`target.protocol: the proxy relays TCP (got ${t.protocol})`);
  return hostPort(host, t.dstPort);
}

const HOST = path.join(LOAD_DIR, "proxy-host.mjs");
const hostArgs = (u: ProxyFaultUndo) => ["--spec", JSON.stringify(u.spec), ...(u.spec6 ? ["--spec6", JSON.stringify(u.spec6)] : []), "--counts", u.counts];

async function planRedirect(name: string, t: NetworkTarget, tag: string, existing: "keep" | "reset"): Promise<NetUndo> {
  const tools = await netAvailable();
  if (!tools.ok) throw new Error(`params.listen: without it the connections are redirected, which needs ${tools.reason}; or give listen and point the client there`);
  await commonChecks(t, { ipv6: true });
  if (t.direction !== "egress") throw new Error(`target.direction: the redirect catches connections this host opens: egress only (got ${t.direction})`);
  if (!redirectFamilies(t).length) throw new Error(`target.src: ${t.src} is of another IP family than the destinations the listener takes`);
  const overlap = await overlapProblem(t.netns, name, t);
  if (overlap) throw new Error(overlap);
  const short = shortTag();
  const { chains, skipped } = await redirectChains(t, { netns: t.netns, table: "nat" as const, chain: newChainName(short), hooks: ["OUTPUT"], comment: `gameday:${short} ${keyText(name, t)}`, rules: [] });
  const cgroup = path.join(cgroup2Root(), `gameday-${short}`);
  return {
    tag: short,
    mechanism: "proxy",
    why: `no listen given: the connections are redirected${skipped ? ` (${skipped})` : ""}`,
    netns: t.netns,
    ...(t.netnsInode !== undefined ? { netnsInode: t.netnsInode } : {}),
    chains,
    ...(await tablesBefore(t.netns, chains)),
    proxyTag: tag,
    cgroup,
    commands: [
      `mkdir ${cgroup}`,
      `${netnsPrefix(t.netns)}node injectors/load/proxy-host.mjs --spec ...  # listens on ${listensOn(chains)}; its PID goes to ${cgroup}/cgroup.procs`,
      ...redirectPlans(chains, t, cgroup, "PORT").flatMap(chainCommands).map(cmdText),
      ...(existing === "reset" ? resetCommands(t).map(cmdText) : []),
    ],
  };
}

const stopHost = (tag: string) => terminateTagged(tag, 2500);

export function proxyInjector(o: { name: string; description: string; layer: "tcp" | "http" }): Injector<ProxyFaultParams, ProxyFaultUndo, NetworkTarget> {
  return {
    name: o.name,
    description: o.description,
    family: "application",
    ipv6: true,
    targetKind: "network",
    params: proxyFaultParams(o.layer) as unknown as z.ZodType<ProxyFaultParams>,
    async available() {
      return { ok: true, detail: "listen: a child process; without listen, the redirect needs root and iptables nat" };
    },
    async plan(target, params) {
      const tag = newTag(o.name);
      const proxy = (name: string, listen: string, upstream: string) => ({ name, listen, upstream, protocol: o.layer, toxics: params.toxics });
      const counts = path.join(os.tmpdir(), `gameday-proxy-${tag.split(":").pop()}.json`);
      if (params.listen) {
        const upstream = upstreamOf(target, target.dst ? familyOf(target.dst) : 4);
        return { tag, listen: params.listen, upstream, protocol: o.layer, spec: [proxy(o.name, params.listen, upstream)], counts };
      }
      // the target must name one destination before anything is planned around it
      upstreamOf(target);
      const net = await planRedirect(o.name, target, tag, params.existing ?? "keep");
      const v4 = net.chains.some((c) => c.family !== 6);
      const v6 = net.chains.some((c) => c.family === 6);
      const spec = v4 ? [proxy(o.name, "127.0.0.1:0", upstreamOf(target, 4))] : [];
      const spec6 = v6 ? [proxy(`${o.name}-6`, "[::1]:0", upstreamOf(target, 6))] : undefined;
      const upstream = [...spec, ...(spec6 ?? [])].map((p) => p.upstream).join(" and ");
      return { tag, upstream, protocol: o.layer, spec, ...(spec6 ? { spec6 } : {}), counts, net };
    },
    async inject(t, p, ctx) {
      const u = ctx.undo;
      if (u.net) {
        // checked again right before the change: another fault may have started since plan()
        const clash = await overlapProblem(t.netns, o.name, t, u.net.tag);
        if (clash) throw new Error(clash);
        const l = await startProxy(t, u.net, hostArgs(u), ctx.signal, "proxy-host.mjs");
        await applyRedirect(u.net.chains, t, u.net.cgroup!, l);
        if (p.existing === "reset") for (const c of resetCommands(t)) await must(c);
        return;
      }
      const argv = [process.execPath, ...RELAY_NODE_FLAGS, HOST, "--tag", u.tag, "--parent", String(process.pid), ...hostArgs(u)];
      await spawnListening(argv, `the ${o.name} proxy on ${u.listen}`, ctx.signal);
    },
    async revert(_t, u) {
      // no new connection into the proxy first, then let it flush what it holds
      if (u.net) for (const c of u.net.chains) await removeChain(c);
      await stopHost(u.tag);
      if (u.net) await revertNet(u.net);
      else await killTagged(u.tag);
    },
    async verify(_t, u): Promise<VerifyResult> {
      const where = u.listen ?? `connections to ${u.upstream} (redirected)`;
      if (u.net) {
        const v = await verifyNet(u.net);
        if (!v.ok) return v;
      }
      if (tagged(u.tag).length) return { ok: false, detail: `the proxy for ${where} is still running` };
      return { ok: true, detail: `proxy ${u.listen ? `on ${u.listen} → ${u.upstream}` : `for ${where}`} stopped; ${effect(u).text}` };
    },
    // read once after the verified revert (by the worker, a CLI or the reaper): then the counts file can go
    async effect(_t, u) {
      const e = effect(u);
      fs.rmSync(u.counts, { force: true });
      return e.touched === undefined ? null : { touched: e.touched, summary: e.text, counters: e.counters };
    },
    describe: (t, u) => {
      const toxics = ([...u.spec, ...(u.spec6 ?? [])][0] as ProxyJson).toxics!.map((x) => x.type).join(", ");
      if (!u.net) return `a ${u.protocol} proxy on ${u.listen} → ${u.upstream} with ${toxics} (point the client at ${u.listen})`;
      return `a ${u.protocol} proxy with ${toxics}: new TCP connections${t.cgroup ? ` from cgroup ${t.cgroup}` : ""} to ${u.upstream} are redirected to it (iptables nat REDIRECT${u.net.chains.some((c) => c.family === 6) ? ", IPv6 through ip6tables" : ""}${t.netns ? ` in netns ${t.netns}` : ""})`;
    },
  };
}

/**
 * What the proxy touched, from its last counts (its IPv4 and IPv6 twins
 * added up: a toxic's counts under its name); "inconclusive" when it
 * faulted nothing.
 */
export function effect(u: ProxyFaultUndo): { text: string; touched?: number; counters?: unknown } {
  let list: ProxyJson[];
  try {
    list = JSON.parse(fs.readFileSync(u.counts, "utf8")) as ProxyJson[];
  } catch {
    return { text: "its counts are gone (reported by an earlier verify, or the host died before writing them)" };
  }
  const withCounts = list.filter((p) => p?.counts);
  if (!withCounts.length) return { text: "no counts" };
  const sum = (a: Record<string, number> = {}, b: Record<string, number> = {}) => Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, (a[k] ?? 0) + (b[k] ?? 0)]));
  const c = withCounts.reduce((acc, p) => sum(acc, p.counts as unknown as Record<string, number>), {} as Record<string, number>);
  const toxicCounts = new Map<string, Record<string, number>>();
  for (const p of withCounts) for (const t of p.toxics ?? []) toxicCounts.set(t.name!, sum(toxicCounts.get(t.name!), t.counts as unknown as Record<string, number>));
  const seen = u.protocol === "http" ? `${c.requests ?? 0} request(s) on ${c.connections ?? 0} connection(s)` : `${c.connections ?? 0} connection(s)`;
  const toxics = [...toxicCounts].map(([name, t]) => `${name}: seen ${t.seen ?? 0}, matched ${t.matched ?? 0}, faulted ${t.faulted ?? 0}`);
  const faulted = [...toxicCounts.values()].reduce((s, t) => s + (t.faulted ?? 0), 0);
  const v6 = withCounts.length > 1 ? ` (IPv4 and IPv6: ${withCounts.map((p) => `${p.counts!.connections} connection(s) to ${p.upstream}`).join(", ")})` : "";
  return { text: `it saw ${seen}${v6}; ${toxics.join("; ")}${faulted === 0 ? " — touched nothing: inconclusive" : ""}`, touched: faulted, counters: c };
}
