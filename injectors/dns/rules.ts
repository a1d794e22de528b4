// What the DNS poisoner does to which queries: a list of rules, first match
// wins. A rule names a pattern (exact name, suffix, glob or regex), record
// types and an answer kind with a probability; everything no rule poisons is
// forwarded to the upstream resolver untouched. Pure: parsing, matching and
// building the poisoned answer, so the server and the tests share them.
import { isIPv4, isIPv6 } from "node:net";
import dnsPacket, { type Answer, type Packet } from "dns-packet";
import { z } from "zod";
import { duration } from "../../lib/duration";

export const ANSWERS = ["nxdomain", "servfail", "refused", "address", "empty", "truncate", "delay", "timeout"] as const;
export type AnswerKind = (typeof ANSWERS)[number];
export const RECORD_TYPES = ["A", "AAAA", "CNAME", "SRV", "MX", "TXT", "any"] as const;
export const MATCHES = ["exact", "suffix", "glob", "regex"] as const;

const HOST_RE = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

export const ruleSchema = z
  .object({
    /** the pattern, read as `match` says */
    name: z.string({ error: "expected a name pattern" }).min(1, { error: "must not be empty" }).max(253, { error: "at most 253 characters" }),
    match: z.enum(MATCHES, { error: `expected one of ${MATCHES.join(", ")}` }).default("exact"),
    types: z.array(z.enum(RECORD_TYPES, { error: `expected one of ${RECORD_TYPES.join(", ")}` })).min(1, { error: "name at least one record type (or any)" }).default(["any"]),
    answer: z.enum(ANSWERS, { error: `expected one of ${ANSWERS.join(", ")}` }),
    /** chance 0..1 that a matching query is poisoned (rolled per query) */
    probability: z.number({ error: "expected a probability 0..1" }).min(0, { error: "expected a probability 0..1" }).max(1, { error: "expected a probability 0..1" }).default(1),
    /** answer delay: the upstream's answer is held back by delayMs ± jitterMs (uniform) */
    delay: duration({ max: 60_000 }).default(0),
    jitter: duration({ max: 60_000 }).default(0),
    /** the wrong answer of `address`, per record type */
    address: z.string().refine(isIPv4, { error: "expected an IPv4 address" }).default("192.0.2.1"),
    address6: z.string().refine(isIPv6, { error: "expected an IPv6 address" }).default("100::1"),
    /** CNAME, MX and SRV target of `address` */
    target: z.string().regex(HOST_RE, { error: "expected a host name" }).default("poisoned.invalid"),
    text: z.string().max(255, { error: "at most 255 characters" }).default("gameday-poisoned"),
    /** TTL of poisoned records, seconds */
    ttl: z.number().int({ error: "expected whole seconds" }).min(0).max(86_400).default(5),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.match === "regex") {
      try {
        new RegExp(r.name, "i");
      } catch (e) {
        ctx.addIssue({ code: "custom", path: ["name"], message: `not a regular expression: ${(e as Error).message}` });
      }
    } else if (!/^[a-z0-9_.*?-]+$/i.test(r.name)) ctx.addIssue({ code: "custom", path: ["name"], message: `expected a DNS name${r.match === "glob" ? " with * and ?" : ""} (got ${JSON.stringify(r.name)})` });
    if (r.answer === "delay" && r.delay <= 0) ctx.addIssue({ code: "custom", path: ["delay"], message: "answer delay needs a delay above 0" });
    if (r.jitter > r.delay) ctx.addIssue({ code: "custom", path: ["jitter"], message: "must not exceed delay" });
  });
export type Rule = z.infer<typeof ruleSchema>;

/** "IP" or "IP:PORT" / "[IPv6]:PORT" (port 53 by default). */
export const upstreamSchema = z.string().transform((v, ctx) => {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(v) ?? /^([^:]+)(?::(\d+))?$/.exec(v);
  const host = m?.[1] ?? v;
  const port = m?.[2] ? Number(m[2]) : 53;
  if (!(isIPv4(host) || isIPv6(host)) || !(port >= 1 && port <= 65535)) {
    ctx.addIssue({ code: "custom", message: `expected IP or IP:PORT of a resolver (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return { host, port };
});
export type Upstream = z.output<typeof upstreamSchema>;

const norm = (n: string) => n.toLowerCase().replace(/\.$/, "");

/** A compiled matcher: the query name (any case, trailing dot or not) → does the pattern match? */
export function nameMatcher(r: Pick<Rule, "name" | "match">): (qname: string) => boolean {
  const p = norm(r.name);
  switch (r.match) {
    case "exact":
      return (q) => norm(q) === p;
    case "suffix": {
      const s = p.replace(/^\./, "");
      return (q) => {
        const n = norm(q);
        return n === s || n.endsWith(`.${s}`);
      };
    }
    case "glob": {
      // * any run of characters (dots included), ? one character
      const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
      return (q) => re.test(norm(q));
    }
    case "regex": {
      const re = new RegExp(r.name, "i");
      return (q) => re.test(norm(q));
    }
  }
}

export interface CompiledRule {
  rule: Rule;
  names: (qname: string) => boolean;
  types: Set<string> | null;
}

export function compileRules(rules: Rule[]): CompiledRule[] {
  return rules.map((rule) => ({ rule, names: nameMatcher(rule), types: rule.types.includes("any") ? null : new Set(rule.types) }));
}

/** The first rule whose pattern and types match this question, or -1. */
export function firstMatch(rules: CompiledRule[], qname: string, qtype: string, seen?: (i: number) => void): number {
  for (let i = 0; i < rules.length; i++) {
    seen?.(i);
    const r = rules[i];
    if ((r.types === null || r.types.has(qtype)) && r.names(qname)) return i;
  }
  return -1;
}

const RCODE = { nxdomain: 3, servfail: 2, refused: 5 } as const;

/** The wrong record of `address` for this question (none for types it has no wrong value for). */
function wrongAnswer(r: Rule, name: string, type: string): Answer[] {
  const base = { name, ttl: r.ttl, class: "IN" as const };
  switch (type) {
    case "A":
    case "ANY":
      return [{ ...base, type: "A", data: r.address }];
    case "AAAA":
      return [{ ...base, type: "AAAA", data: r.address6 }];
    case "CNAME":
      return [{ ...base, type: "CNAME", data: r.target }];
    case "MX":
      return [{ ...base, type: "MX", data: { preference: 10, exchange: r.target } }];
    case "SRV":
      return [{ ...base, type: "SRV", data: { priority: 0, weight: 0, port: 1, target: r.target } }];
    case "TXT":
      return [{ ...base, type: "TXT", data: r.text }];
    default:
      return [];
  }
}

/**
 * The poisoned reply to a query, for the answer kinds the poisoner makes up
 * itself (delay and timeout are the server's business, not a packet).
 */
export function poisonedReply(query: Packet, r: Rule): Buffer {
  const q = query.questions?.[0];
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  let flags = rd | dnsPacket.RECURSION_AVAILABLE;
  let answers: Answer[] = [];
  if (r.answer === "nxdomain" || r.answer === "servfail" || r.answer === "refused") flags |= RCODE[r.answer];
  else if (r.answer === "truncate") flags |= dnsPacket.TRUNCATED_RESPONSE;
  else if (r.answer === "address" && q) answers = wrongAnswer(r, q.name, q.type);
  return dnsPacket.encode({ id: query.id, type: "response", flags, questions: query.questions ?? [], answers });
}

/** Delay in ms of one delayed answer: delay ± jitter, uniform. */
export function delayMs(r: Rule, rnd: () => number = Math.random): number {
  return Math.max(0, r.delay + (rnd() * 2 - 1) * r.jitter);
}

/** One line per rule, for the CLI and describe(). */
export function ruleText(r: Rule): string {
  const what = r.answer === "delay" ? `delay ${r.delay}ms${r.jitter ? ` ± ${r.jitter}ms` : ""}` : r.answer;
  return `${r.match} ${r.name} [${r.types.join(",")}] → ${what}${r.probability < 1 ? ` (p=${r.probability})` : ""}`;
}
