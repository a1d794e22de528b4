// What a network fault touched, from the kernel's own counters: the packets
// its iptables (and ip6tables) rules matched (a DROP, a REJECT, a REDIRECT of SYNs into the
// delaying proxy) and what went through its tc class. Revert reads them just
// before it removes the rules and classes (they go with them) and keeps them
// in a file named by the fault's tag; effect() takes them after the verified
// revert. A fault whose rules matched nothing makes its run inconclusive.
import { keepEvidence, readEvidence, takeEvidence } from "../evidence";
import { runCmd } from "./cmd";
import { iptBin, type ChainPlan } from "./iptables";
import { classId, type TcSlot } from "./tc";

export interface NetCounters {
  /** packets the fault's own rules (not the control plane's RETURNs) matched, or its tc class sent */
  packets: number;
  bytes: number;
  /** where they were read, e.g. "iptables chain GAMEDAY-ab12" */
  from: string[];
}

/** Packets and bytes of a chain's rules that do the fault (RETURN rules only spare the control plane). */
export async function chainCounters(p: ChainPlan): Promise<{ packets: number; bytes: number } | null> {
  const r = await runCmd({ netns: p.netns, argv: [iptBin(p.family), "-w", "5", "-t", p.table, "-L", p.chain, "-v", "-x", "-n"] });
  if (r.code !== 0) return null;
  let packets = 0;
  let bytes = 0;
  // "    pkts      bytes target     prot opt in     out     source               destination"
  for (const line of r.stdout.split("\n").slice(2)) {
    const [pk, by, target] = line.trim().split(/\s+/);
    if (!/^\d+$/.test(pk ?? "") || target === "RETURN") continue;
    packets += Number(pk);
    bytes += Number(by);
  }
  return { packets, bytes };
}

/** What the fault's tc class sent ("Sent B bytes P pkt"). */
export async function classCounters(dev: string, netns: string | undefined, slot: TcSlot): Promise<{ packets: number; bytes: number } | null> {
  const r = await runCmd({ netns, argv: ["tc", "-s", "class", "show", "dev", dev, "classid", classId(slot.minor)] });
  const m = /Sent (\d+) bytes (\d+) pkt/.exec(r.stdout);
  return r.code === 0 && m ? { packets: Number(m[2]), bytes: Number(m[1]) } : null;
}

const keyOf = (tag: string) => `net-${tag}`;

/**
 * Read the counters before revert removes what holds them. Once per fault: a
 * revert retried after the rules went must not overwrite what was read.
 */
export async function keepCounters(u: { tag: string; netns?: string; chains: ChainPlan[]; dev?: string; tc?: TcSlot }): Promise<void> {
  if (readEvidence(keyOf(u.tag))) return;
  const out: NetCounters = { packets: 0, bytes: 0, from: [] };
  for (const c of u.chains) {
    const n = await chainCounters(c);
    if (!n) continue;
    out.packets += n.packets;
    out.bytes += n.bytes;
    out.from.push(`${iptBin(c.family)} chain ${c.chain} (${c.table})`);
  }
  if (u.dev && u.tc) {
    const n = await classCounters(u.dev, u.netns, u.tc);
    if (n) {
      out.packets += n.packets;
      out.bytes += n.bytes;
      out.from.push(`tc class ${classId(u.tc.minor)} on ${u.dev}`);
    }
  }
  // nothing readable (the namespace went with a container): no evidence either way
  if (out.from.length === 0) return;
  keepEvidence(keyOf(u.tag), out, { once: true });
}

/** The counters revert kept, removed once read. */
export function takeCounters(tag: string): NetCounters | null {
  return takeEvidence<NetCounters>(keyOf(tag));
}
