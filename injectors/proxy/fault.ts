// What the proxy-toxic and http-fault faults share: a proxy from `listen` to
// the target (its dst:dstPort is the upstream), with its toxics in place
// before it listens, hosted by a tagged child (load/proxy-host.mjs) that
// exits with its parent. Revert asks it to stop (SIGTERM: in-flight data is
// flushed, every connection ended), then kills what is left by tag; verify
// reports what the proxy touched from the counts it kept, and says
// "inconclusive" when no connection or request was faulted.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { killTagged, LOAD_DIR, newTag, tagged } from "../load/children";
import type { Injector, NetworkTarget, VerifyResult } from "../types";
import { parseProxy, type ProxyJson } from "./proxy";
import { ApiError } from "./errors";
import { spawnListening } from "./spawn";
import { toxicDef } from "./toxic";

export interface ProxyFaultParams {
  listen: string;
  toxics: { name?: string; type: string; stream?: "upstream" | "downstream"; toxicity?: number; attributes?: Record<string, unknown>; ttl_ms?: number }[];
}

export interface ProxyFaultUndo {
  tag: string;
  listen: string;
  upstream: string;
  protocol: "tcp" | "http";
  /** the /populate body the child gets */
  spec: unknown[];
  /** where the child keeps its counts */
  counts: string;
}

/** The params schema of a proxy fault whose toxics belong to `layer`. */
export function proxyFaultParams(layer: "tcp" | "http") {
  return z
    .object({
      /** where the proxy listens (the application is pointed here): host:port */
      listen: z.string({ error: "expected host:port, e.g. 127.0.0.1:16400" }).regex(/^(\[[0-9a-fA-F:]+\]|[a-zA-Z0-9.-]*):\d{1,5}$/, { error: "expected host:port, e.g. 127.0.0.1:16400" }),
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
        .min(1, { error: "give at least one toxic" }),
    })
    .strict()
    .superRefine((p, ctx) => {
      // the toxics' own checks (attributes, names), as the API would answer
      try {
        parseProxy({ name: "check", listen: p.listen, upstream: "127.0.0.1:1", protocol: layer, toxics: p.toxics });
      } catch (e) {
        ctx.addIssue({ code: "custom", path: ["toxics"], message: e instanceof ApiError ? e.message : String(e) });
      }
    });
}

function upstreamOf(t: NetworkTarget): string {
  const host = t.dst?.replace(/\/32$/, "") ?? (t.dstLocal ? "127.0.0.1" : undefined);
  if (!host || host.includes("/")) throw new Error(`target.dst: the proxy needs one destination address to connect on to (got ${t.dst ?? "none"})`);
  if (!t.dstPort) throw new Error("target.dstPort: the proxy needs the destination port");
  if (t.protocol !== "tcp") throw new Error(`target.protocol: the proxy relays TCP (got ${t.protocol})`);
  return `${host}:${t.dstPort}`;
}

const HOST = path.join(LOAD_DIR, "proxy-host.mjs");

export function proxyInjector(o: { name: string; description: string; layer: "tcp" | "http" }): Injector<ProxyFaultParams, ProxyFaultUndo, NetworkTarget> {
  return {
    name: o.name,
    description: o.description,
    targetKind: "network",
    params: proxyFaultParams(o.layer) as unknown as z.ZodType<ProxyFaultParams>,
    async available() {
      return { ok: true };
    },
    async plan(target, params) {
      const upstream = upstreamOf(target);
      const tag = newTag(o.name);
      return {
        tag,
        listen: params.listen,
        upstream,
        protocol: o.layer,
        spec: [{ name: o.name, listen: params.listen, upstream, protocol: o.layer, toxics: params.toxics }],
        counts: path.join(os.tmpdir(), `gameday-proxy-${tag.split(":").pop()}.json`),
      };
    },
    async inject(_t, _p, ctx) {
      const u = ctx.undo;
      const argv = [process.execPath, HOST, "--tag", u.tag, "--parent", String(process.pid), "--spec", JSON.stringify(u.spec), "--counts", u.counts];
      await spawnListening(argv, `the ${o.name} proxy on ${u.listen}`, ctx.signal);
    },
    async revert(_t, u) {
      for (const p of tagged(u.tag)) {
        try {
          process.kill(p.pid, "SIGTERM");
        } catch {
          // gone meanwhile
        }
      }
      const end = Date.now() + 2500;
      while (tagged(u.tag).length && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
      await killTagged(u.tag);
    },
    async verify(_t, u): Promise<VerifyResult> {
      if (tagged(u.tag).length) return { ok: false, detail: `the proxy on ${u.listen} is still running` };
      const detail = `proxy on ${u.listen} → ${u.upstream} stopped; ${effect(u)}`;
      fs.rmSync(u.counts, { force: true });
      return { ok: true, detail };
    },
    describe: (_t, u) => `a ${u.protocol} proxy on ${u.listen} → ${u.upstream} with ${(u.spec[0] as ProxyJson).toxics!.map((t) => t.type).join(", ")} (point the client at ${u.listen})`,
  };
}

/** What the proxy touched, from its last counts; "inconclusive" when it faulted nothing. */
export function effect(u: ProxyFaultUndo): string {
  let list: ProxyJson[];
  try {
    list = JSON.parse(fs.readFileSync(u.counts, "utf8")) as ProxyJson[];
  } catch {
    return "its counts are gone (reported by an earlier verify, or the host died before writing them)";
  }
  const p = list[0];
  if (!p?.counts) return "no counts";
  const seen = u.protocol === "http" ? `${p.counts.requests} request(s) on ${p.counts.connections} connection(s)` : `${p.counts.connections} connection(s)`;
  const toxics = (p.toxics ?? []).map((t) => `${t.name}: seen ${t.counts?.seen ?? 0}, matched ${t.counts?.matched ?? 0}, faulted ${t.counts?.faulted ?? 0}`);
  const faulted = (p.toxics ?? []).reduce((s, t) => s + (t.counts?.faulted ?? 0), 0);
  return `it saw ${seen}; ${toxics.join("; ")}${faulted === 0 ? " — touched nothing: inconclusive" : ""}`;
}
