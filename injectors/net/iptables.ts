// iptables rules kept in a chain of their own per fault, so revert deletes
// exactly what it added.
import { must, runCmd, type Cmd } from "./cmd";
import { keyText, overlaps, parseKey, type SelectionKey } from "./select";

/** One fault's rules: its own chain, jumped to from built-in hooks. */
export interface ChainPlan {
  netns?: string;
  /** 6: an ip6tables chain (the redirect faults' IPv6 half); absent: iptables, IPv4 */
  family?: 6;
  table: "filter" | "nat";
  chain: string;
  hooks: string[];
  /** "gameday:<tag> <fault> <selection>" on every jump rule */
  comment: string;
  rules: string[][];
  /** control-plane TCP ports whose packets leave the chain (RETURN) before any of its rules */
  spare?: number[];
}

export function newChainName(tag: string): string {
  return `GAMEDAY-${tag}`;
}

/** The program of a family: iptables, or ip6tables (and their -save). */
export const iptBin = (family?: 4 | 6, save = false) => `${family === 6 ? "ip6tables" : "iptables"}${save ? "-save" : ""}`;
const ipt = (p: ChainPlan, ...args: string[]): Cmd => ({ netns: p.netns, argv: [iptBin(p.family), "-w", "5", "-t", p.table, ...args] });
const jumpSpec = (p: ChainPlan) => ["-m", "comment", "--comment", p.comment, "-j", p.chain];

/** The commands that put the chain in place (chain first, jumps last). */
export function chainCommands(p: ChainPlan): Cmd[] {
  return [ipt(p, "-N", p.chain), ...spareRules(p).map((r) => ipt(p, "-A", p.chain, ...r)), ...p.rules.map((r) => ipt(p, "-A", p.chain, ...r)), ...p.hooks.map((h) => ipt(p, "-I", h, "1", ...jumpSpec(p)))];
}

/** The exclusions first: a packet to or from a spared port returns to the hook untouched. */
export function spareRules(p: Pick<ChainPlan, "spare">): string[][] {
  return (p.spare ?? []).flatMap((port) => [
    ["-p", "tcp", "--dport", String(port), "-j", "RETURN"],
    ["-p", "tcp", "--sport", String(port), "-j", "RETURN"],
  ]);
}

export async function applyChain(p: ChainPlan): Promise<void> {
  for (const c of chainCommands(p)) await must(c);
}

/** Remove exactly the jumps and chain this plan created; idempotent. */
export async function removeChain(p: ChainPlan): Promise<void> {
  for (const h of p.hooks) {
    // bounded: one jump per hook is added; a few more only after a double apply
    for (let i = 0; i < 8 && (await runCmd(ipt(p, "-C", h, ...jumpSpec(p)))).code === 0; i++) await must(ipt(p, "-D", h, ...jumpSpec(p)));
  }
  if (await chainExists(p)) {
    await must(ipt(p, "-F", p.chain));
    await must(ipt(p, "-X", p.chain));
  }
}

export async function chainExists(p: ChainPlan): Promise<boolean> {
  return (await runCmd(ipt(p, "-S", p.chain))).code === 0;
}

/** Gameday comments on rules in a namespace's filter and nat tables, IPv4 and IPv6 (no ip6tables: none of the latter). */
export async function gamedayRules(netns?: string): Promise<{ tag: string; fault: string; key: SelectionKey | null; line: string }[]> {
  const [r4, r6] = await Promise.all([4, 6].map((f) => runCmd({ netns, argv: [iptBin(f as 4 | 6, true)] })));
  const out: { tag: string; fault: string; key: SelectionKey | null; line: string }[] = [];
  for (const line of `${r4.stdout}\n${r6.code === 0 ? r6.stdout : ""}`.split("\n")) {
    const m = /--comment "?gameday:(\w+) ([^"]*)"?/.exec(line);
    if (!m) continue;
    const k = parseKey(m[2].trim());
    out.push({ tag: m[1], fault: k?.fault ?? "?", key: k?.key ?? null, line });
  }
  return out;
}

/** A built-in chain's policy line, as iptables-save prints an untouched table's. */
const BUILTIN_POLICY = /^:(PREROUTING|INPUT|OUTPUT|FORWARD|POSTROUTING) ACCEPT \[\d+:\d+\]$/;

/**
 * iptables tables present in a namespace (iptables-nft creates one on first
 * use), apart from one holding Game Day's chains and nothing else: another
 * fault brought it, and whichever revert comes last drops it once it is
 * empty, so two faults sharing a namespace (reverted in parallel) leave no
 * empty table behind.
 */
export async function iptTables(netns?: string, family?: 4 | 6): Promise<string[]> {
  const out: string[] = [];
  let table: string | null = null;
  let gameday = false;
  let other = false;
  for (const line of (await runCmd({ netns, argv: [iptBin(family, true)] })).stdout.split("\n")) {
    const m = /^\*(\w+)$/.exec(line);
    if (m) [table, gameday, other] = [m[1], false, false];
    else if (table && line === "COMMIT") {
      // an empty table nobody filled is somebody's (kept); one only we filled is ours
      if (other || !gameday) out.push(table);
      table = null;
    } else if (table && line && !line.startsWith("#") && !BUILTIN_POLICY.test(line)) {
      if (/GAMEDAY-|gameday:/.test(line)) gameday = true;
      else other = true;
    }
  }
  return out;
}

/** The tables of each family the chains use, as they were before (NetUndo.tablesBefore, tablesBefore6). */
export async function tablesBefore(netns: string | undefined, chains: Pick<ChainPlan, "family">[]): Promise<{ tablesBefore: string[]; tablesBefore6?: string[] }> {
  const v6 = chains.some((c) => c.family === 6);
  return { tablesBefore: await iptTables(netns), ...(v6 ? { tablesBefore6: await iptTables(netns, 6) } : {}) };
}

/**
 * Delete a table we brought into being, once it holds nothing but its empty
 * built-in chains, so iptables-save reads as before. iptables itself cannot
 * delete a table; nft (package nftables) can. Without nft it stays, empty.
 */
export async function dropTableIfPristine(table: string, netns?: string, family?: 4 | 6): Promise<"deleted" | "kept" | "no-nft"> {
  const r = await runCmd({ netns, argv: [iptBin(family, true), "-t", table] });
  const body = r.stdout.split("\n").filter((l) => l && !l.startsWith("#"));
  const pristine = body.every((l) => l === `*${table}` || l === "COMMIT" || /^:(PREROUTING|INPUT|OUTPUT|FORWARD|POSTROUTING) ACCEPT \[0:0\]$/.test(l));
  if (!pristine || body.length === 0) return "kept";
  const d = await runCmd({ netns, argv: ["nft", "delete", "table", family === 6 ? "ip6" : "ip", table] });
  return d.code === 0 ? "deleted" : d.code === 127 ? "no-nft" : "kept";
}


/**
 * Refuse a fault when another gameday fault of the same kind already acts on
 * overlapping traffic in the namespace: a second REDIRECT or DROP on the same
 * packets would be silently shadowed or compounded. Different kinds (latency
 * plus loss on one flow) compose, and are allowed.
 */
export async function overlapProblem(netns: string | undefined, fault: string, key: SelectionKey, ownTag?: string): Promise<string | null> {
  for (const r of await gamedayRules(netns)) {
    if (r.tag === ownTag || (r.key && r.fault !== fault)) continue;
    if (!r.key || overlaps(r.key, key))
      return `another gameday ${r.fault} fault (gameday:${r.tag}) already acts on overlapping traffic${netns ? ` in netns ${netns}` : ""}: ${keyText(r.fault, r.key ?? key).split(" ").slice(1).join(" ")}; overlapping faults are refused, not merged`;
  }
  return null;
}
