// What the four network faults (latency, packet-loss, bandwidth, partition)
// share: one undo shape listing everything a fault may add — iptables chains,
// a tc class (with its filter and leaf) under gameday's shared root qdisc, a
// delaying proxy and its cgroup — and
// one revert/verify that removes exactly those, also from a worker restarted
// after a crash, and is a no-op for what is already gone.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { cmdText, inNetns, must, netnsExists, toolsMissing, type Cmd } from "./net/cmd";
import { detectNetem } from "./net/detect";
import { keepCounters, takeCounters } from "./net/evidence";
import { chainExists, dropTableIfPristine, gamedayRules, iptBin, overlapProblem, removeChain, tablesBefore, type ChainPlan } from "./net/iptables";
import { hostPort } from "./net/redirect";
import { targetProblem } from "./net/select";
import { classId, ensureRoot, htbCommands, netemCommands, pickInterface, pickMinor, qdiscShow, removeRootQdisc, removeTcFault, rootQdiscProblem, TC_HANDLE, tcFaultCommands, tcKey, tcLeftovers, tcOverlapProblem, tcState, type TcShape, type TcSlot } from "./net/tc";
import { killTagged, LOAD_DIR, tagged } from "./load/children";
import { RELAY_NODE_FLAGS, spawnListening, type Listening } from "./proxy/spawn";
import { type Availability, type Effect, type Injector, type NetworkTarget, type VerifyResult } from "./types";
import { netUndoShape } from "./undo-shapes";

export type Mechanism = "netem" | "proxy" | "iptables" | "htb";

export interface NetUndo {
  /** short id in chain names and rule comments (gameday:<tag>) */
  tag: string;
  mechanism: Mechanism;
  /** why this mechanism (auto: detection result) */
  why: string;
  netns?: string;
  /** a container namespace's inode (see NetworkTarget.netnsInode): another inode at that path is not ours */
  netnsInode?: number;
  /** device of the tc fault; its `tc qdisc show` before, when that was the kernel's default (no gameday root yet) */
  dev?: string;
  qdiscBefore?: string;
  /**
   * the fault's class, filter priority and netem leaf under the shared root
   * 6764:. Absent in undos journaled by the root-per-fault layout: those
   * revert by deleting the root they added.
   */
  tc?: TcSlot;
  chains: ChainPlan[];
  /** iptables tables that existed before (a table we created is dropped again when empty) */
  tablesBefore?: string[];
  /** the same for ip6tables, when a chain is IPv6 */
  tablesBefore6?: string[];
  /** children tag of the delaying proxy */
  proxyTag?: string;
  /** cgroup v2 folder the proxy runs in (excluded from the redirect) */
  cgroup?: string;
  /** the commands inject runs, as text (proxy port shown as PORT) */
  commands: string[];
}

/** A percentage parameter, 0-100, the message naming what it is. */
export const percent = (what: string) =>
  z.number({ error: `expected ${what} as a percentage 0-100` }).min(0, { error: `expected ${what} as a percentage 0-100` }).max(100, { error: `expected ${what} as a percentage 0-100` });

export const CGROUP2_ROOT = "/sys/fs/cgroup/unified";

/** Where the cgroup v2 hierarchy is: /sys/fs/cgroup on unified hosts, else the hybrid layout's unified/. */
export function cgroup2Root(): string {
  return fs.existsSync("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : CGROUP2_ROOT;
}

/** A cgroup selection needs the folder (iptables resolves the path when the rule is added) and egress. */
export function cgroupProblem(t: NetworkTarget): string | null {
  if (!t.cgroup) return null;
  if (t.direction !== "egress") return `target.direction: cgroup selects the traffic its processes send: direction must be egress (got ${t.direction})`;
  const root = cgroup2Root();
  if (!fs.existsSync(path.join(root, "cgroup.procs"))) return `target.cgroup: no cgroup v2 hierarchy at ${root}; the iptables cgroup match needs one`;
  let dir = false;
  try {
    dir = fs.statSync(path.join(root, t.cgroup)).isDirectory();
  } catch {
    // missing: said below
  }
  return dir ? null : `target.cgroup: no cgroup v2 folder ${t.cgroup} under ${root}`;
}

/** For the tc mechanisms (u32 filters): they cannot see which cgroup sent a packet. */
export function cgroupRefused(t: NetworkTarget, what: string): void {
  if (t.cgroup)
    throw new Error(`target.cgroup: ${what} cannot select by cgroup here; tc's cgroup classifier needs cgroup v1 net_cls class ids, not a v2 path. Select by address and port, or use an iptables fault (packet-loss, partition, latency through the proxy)`);
}

export async function netAvailable(): Promise<Availability> {
  const why = await toolsMissing();
  return why ? { ok: false, reason: why } : { ok: true };
}

/**
 * For the faults that may use netem: the tools, then the netem probe (it
 * creates a throwaway namespace, so it runs here and never first in plan();
 * cached per process, so plan() reads the result).
 */
export async function netemFaultAvailable(): Promise<Availability> {
  const a = await netAvailable();
  if (a.ok) await detectNetem();
  return a;
}

export function texts(cmds: Cmd[]): string[] {
  return cmds.map(cmdText);
}

export async function revertNet(undo: NetUndo): Promise<void> {
  // a namespace that is gone took its rules and qdiscs with it; at a reused PID's path, nothing is ours to remove
  if (!(await netnsGone(undo))) {
    for (const c of [...undo.chains].reverse()) await removeChain(c);
    for (const family of [4, 6] as const) {
      const before = family === 6 ? undo.tablesBefore6 : undo.tablesBefore;
      const mine = undo.chains.filter((c) => (c.family ?? 4) === family);
      if (before) for (const t of new Set(mine.map((c) => c.table))) if (!before.includes(t)) await dropTableIfPristine(t, undo.netns, family);
    }
    if (undo.dev && undo.tc) await removeTcFault(undo.dev, undo.netns, undo.tc);
    else if (undo.dev) await removeRootQdisc(undo.dev, undo.netns);
  }
  if (undo.proxyTag) await killTagged(undo.proxyTag);
  if (undo.cgroup) {
    // rmdir fails with EBUSY until the killed proxy has left the cgroup
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(undo.cgroup);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") break;
        if (code !== "EBUSY" || i === 49) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

async function netnsGone(u: Pick<NetUndo, "netns" | "netnsInode">): Promise<boolean> {
  return !!u.netns && !(await netnsExists(u.netns, u.netnsInode));
}

export async function verifyNet(undo: NetUndo): Promise<VerifyResult> {
  if (await netnsGone(undo)) return { ok: true, detail: `netns ${undo.netns} is gone (its container stopped or restarted, or the namespace was deleted), and with it every rule and qdisc in it` + leftovers(undo) };
  const left: string[] = [];
  for (const c of undo.chains) if (await chainExists(c)) left.push(`${iptBin(c.family)} chain ${c.chain} in table ${c.table}`);
  const jumps = (await gamedayRules(undo.netns)).filter((r) => r.tag === undo.tag);
  if (jumps.length) left.push(`${jumps.length} rule(s) commented gameday:${undo.tag}`);
  if (undo.dev && undo.tc) {
    const { left: tcLeft, st } = await tcLeftovers(undo.dev, undo.netns, undo.tc);
    left.push(...tcLeft);
    // no gameday root left on the device: it must read as before the first fault
    if (typeof st !== "string" && st.root !== "shared" && undo.qdiscBefore !== undefined && st.qdiscs !== undo.qdiscBefore) left.push(`qdiscs on ${undo.dev} differ from before: ${st.qdiscs.trim()}`);
  } else if (undo.dev && undo.qdiscBefore !== undefined) {
    let now: string | null = null;
    try {
      now = await qdiscShow(undo.dev, undo.netns);
    } catch {
      // the device is gone: its qdiscs went with it
    }
    if (now !== null && now !== undo.qdiscBefore) left.push(`qdiscs on ${undo.dev} differ from before: ${now.trim()}`);
  }
  if (undo.proxyTag && tagged(undo.proxyTag).length) left.push("the delaying proxy is still running");
  if (undo.cgroup && fs.existsSync(undo.cgroup)) left.push(`cgroup ${undo.cgroup} still exists`);
  if (left.length) return { ok: false, detail: `still in place: ${left.join("; ")}` };
  const what = [undo.chains.length ? `${undo.chains.map((c) => c.chain).join(", ")} removed` : "", undo.dev ? (undo.tc ? `class ${classId(undo.tc.minor)} on ${undo.dev} removed` : `qdiscs on ${undo.dev} as before`) : "", undo.proxyTag ? "proxy stopped" : ""].filter(Boolean);
  return { ok: true, detail: `mechanism ${undo.mechanism} (${undo.why}): ${what.join(", ")}${undo.netns ? ` (netns ${undo.netns})` : ""}` };
}

function leftovers(undo: NetUndo): string {
  const bits: string[] = [];
  if (undo.proxyTag && tagged(undo.proxyTag).length) bits.push("; but the proxy still runs");
  if (undo.cgroup && fs.existsSync(undo.cgroup)) bits.push(`; but ${undo.cgroup} still exists`);
  return bits.join("");
}

/**
 * Start the delaying proxy (or another proxy host script: the chaos proxy's
 * redirect mode) inside the target's namespace, move it into its own cgroup
 * before any connection reaches it, and return its port.
 */
export function startProxy(t: NetworkTarget, undo: NetUndo, args: string[], signal: AbortSignal, script = "delay-proxy.mjs"): Promise<Listening> {
  const node = [process.execPath, ...RELAY_NODE_FLAGS, path.join(LOAD_DIR, script), "--tag", undo.proxyTag!, "--parent", String(process.pid), ...args];
  return startListener("the delaying proxy", node, t.netns, undo.cgroup!, signal);
}

/**
 * Start a server child that prints "listening PORT" once it listens (inside
 * netns when given; `ip netns exec` execs it in place, so its parent is still
 * us), moved into a fresh cgroup v2 folder before it serves anyone.
 */
export function startListener(what: string, argv: string[], netns: string | undefined, cgroup: string, signal: AbortSignal): Promise<Listening> {
  const full = inNetns(netns, argv);
  fs.mkdirSync(cgroup);
  return spawnListening(full, what, signal, (pid) => fs.writeFileSync(path.join(cgroup, "cgroup.procs"), String(pid)));
}

export interface NetFaultSpec<P> {
  name: string;
  description: string;
  /** takes IPv6 targets (Injector.ipv6) */
  ipv6?: boolean;
  params: z.ZodType<P>;
  /** default: the tools and root (netAvailable) */
  available?: () => Promise<Availability>;
  plan(target: NetworkTarget, params: P): Promise<NetUndo>;
  /** make the change planned in undo; every command's failure throws */
  apply(target: NetworkTarget, params: P, undo: NetUndo, signal: AbortSignal): Promise<void>;
  /** what the fault does to the packets its rules or class count, for the evidence ("dropped") */
  touches: string;
}

/** The evidence: the packets the fault's rules matched (SYNs redirected into the delaying proxy: connections). */
export function netEffect(u: NetUndo, touches: string): Effect | null {
  const c = takeCounters(u.tag);
  if (!c) return null;
  const counted = u.mechanism === "proxy" ? `${c.packets} connection${c.packets === 1 ? "" : "s"} redirected through the delaying proxy` : `${c.packets} packet${c.packets === 1 ? "" : "s"} (${c.bytes} bytes) ${touches}`;
  return { touched: c.packets, summary: `${counted}, counted by ${c.from.join(" and ")}`, counters: { ...c } };
}

export function netInjector<P extends object>(s: NetFaultSpec<P>): Injector<P, NetUndo, NetworkTarget> {
  return {
    name: s.name,
    description: s.description,
    family: "network",
    ...(s.ipv6 ? { ipv6: true } : {}),
    targetKind: "network",
    params: s.params,
  undoSchema: netUndoShape,
    available: s.available ?? netAvailable,
    async plan(target, params) {
      const undo = await s.plan(target, params);
      if (target.netnsInode !== undefined) undo.netnsInode = target.netnsInode;
      // the control plane's packets leave every chain before the fault's rules see them
      if (target.spare?.length) for (const c of undo.chains) c.spare = [...target.spare];
      if (undo.chains.length) Object.assign(undo, await tablesBefore(undo.netns, undo.chains));
      return undo;
    },
    async inject(target, params, ctx) {
      const undo = ctx.undo;
      // checked again right before the change: another fault may have started since plan()
      const clash = undo.chains.length ? await overlapProblem(undo.netns, s.name, s.name === "partition" ? { ...keyOf(target), direction: "both" } : keyOf(target), undo.tag) : null;
      if (clash) throw new Error(clash);
      await s.apply(target, params, undo, ctx.signal);
    },
    async revert(_t, undo) {
      // the counters go with the rules: read them first; evidence never stands in the way of a revert
      await keepCounters(undo).catch(() => undefined);
      await revertNet(undo);
    },
    verify: (_t, undo) => verifyNet(undo),
    describe: describeNet,
    effect: async (_t, undo) => netEffect(undo, s.touches),
  };
}

/** The mechanism, why it was chosen, and what it adds, in one line. */
export function describeNet(t: NetworkTarget, u: NetUndo): string {
  const head = `${u.mechanism} (${u.why})`;
  if (u.mechanism === "proxy")
    return `${head}: TCP connections${t.cgroup ? ` from cgroup ${t.cgroup}` : ""} to ${hostPort(t.dst ?? (t.dstLocal ? "any local address" : "?"), t.dstPort!)} go through a delaying proxy (iptables nat REDIRECT${u.chains.some((c) => c.family === 6) ? ", IPv6 through ip6tables" : ""}${t.netns ? ` in netns ${t.netns}` : ""})`;
  if (u.mechanism === "iptables") return `${head}: ${u.chains.map((c) => `chain ${c.chain}`).join(", ")} (${u.chains.map((c) => c.hooks.join("/")).join(", ")})`;
  if (!u.tc) return `${head}: root qdisc ${TC_HANDLE}: on ${u.dev}, only the selected packets shaped`;
  return `${head}: class ${classId(u.tc.minor)}${u.tc.leaf !== undefined ? ` with a netem leaf` : ""} under gameday's shared htb root ${TC_HANDLE}: on ${u.dev}, only the selected packets shaped (u32 filter prio ${u.tc.prio})`;
}

const keyOf = (t: NetworkTarget) => ({ direction: t.direction, protocol: t.protocol, src: t.src, dst: t.dst, srcPort: t.srcPort, dstPort: t.dstPort, cgroup: t.cgroup });

/** The target checks every network fault's plan starts with (ipv6: see targetProblem). */
export async function commonChecks(target: NetworkTarget, o: { ipv6?: boolean } = {}): Promise<void> {
  const bad = (await targetProblem(target, o)) ?? cgroupProblem(target) ?? controlPlaneProblem(target);
  if (bad) throw new Error(bad);
}

const CONTROL_HINT = "the control plane's traffic (SSH, the worker's API, the web app) is never cut unless spec.safety.allowControlPlane is true with a reason";

/** A fault aimed right at a spared port would do nothing but cut the control plane: refused. */
export function controlPlaneProblem(t: NetworkTarget): string | null {
  for (const f of ["dstPort", "srcPort"] as const)
    if (t[f] !== undefined && t.spare?.includes(t[f]!)) return `target.${f}: ${t[f]} is a control-plane port (${t.spare.join(", ")}); ${CONTROL_HINT}`;
  return null;
}

/**
 * tc filters cannot carve exceptions out of a class the way a RETURN rule
 * does, so a tc fault whose selection could carry a spared port is refused.
 */
export function tcControlPlaneProblem(t: NetworkTarget): string | null {
  if (!t.spare?.length || (t.protocol !== "tcp" && t.protocol !== "all")) return null;
  if ((t.dstPort !== undefined && !t.spare.includes(t.dstPort)) || (t.srcPort !== undefined && !t.spare.includes(t.srcPort))) return null;
  return `target: this tc fault would shape every TCP port of ${t.dst ?? (t.dstLocal ? "the local addresses" : "the selected traffic")}, including the control plane's (${t.spare.join(", ")}); give dstPort or srcPort, or set spec.safety.allowControlPlane (${CONTROL_HINT})`;
}

export async function runAll(cmds: Cmd[]): Promise<void> {
  for (const c of cmds) await must(c);
}

/**
 * Plan a tc fault on the device the target's traffic crosses: refused over a
 * configured root or where another gameday tc fault shapes overlapping
 * traffic; a class minor free on the device; the device's qdiscs recorded
 * when they are still the kernel's default (no gameday root yet).
 */
export async function planTc(t: NetworkTarget, tag: string, netem: boolean): Promise<{ dev: string; qdiscBefore?: string; tc: TcSlot; root: boolean }> {
  const cp = tcControlPlaneProblem(t);
  if (cp) throw new Error(cp);
  const dev = await pickInterface(t);
  const st = await tcState(dev, t.netns);
  const refused = rootQdiscProblem(dev, t.netns, st);
  if (refused) throw new Error(refused);
  const key = tcKey(t);
  const overlap = tcOverlapProblem(dev, t.netns, key, st);
  if (overlap) throw new Error(overlap);
  const minor = pickMinor(tag, st);
  const s = st as Exclude<typeof st, string>;
  return { dev, ...(s.root === "default" ? { qdiscBefore: s.qdiscs } : {}), tc: { minor, prio: minor, ...(netem ? { leaf: minor } : {}), key }, root: s.root === "default" };
}

/** The commands a planned tc fault shows (the root's only when the device had none at plan time). */
export function tcPlanCommands(t: NetworkTarget, dev: string, tc: TcSlot, root: boolean, shape: TcShape): Cmd[] {
  return "netem" in shape ? netemCommands(dev, t, shape.netem, tc, root) : htbCommands(dev, t, shape.rate, shape.burst, tc, root);
}

/** Inject a planned tc fault: checks again (another fault may have come since the plan), the shared root, then the fault's class, leaf and filter. */
export async function applyTc(t: NetworkTarget, undo: NetUndo, shape: TcShape): Promise<void> {
  const dev = undo.dev!;
  const slot = undo.tc!;
  const st = await tcState(dev, undo.netns);
  const refused = rootQdiscProblem(dev, undo.netns, st);
  if (refused) throw new Error(refused);
  const overlap = tcOverlapProblem(dev, undo.netns, slot.key, st, slot.minor);
  if (overlap) throw new Error(overlap);
  if (typeof st !== "string" && (st.classes.includes(slot.minor) || st.filters.some((f) => f.prio === slot.prio) || (slot.leaf !== undefined && st.majors.includes(slot.leaf))))
    throw new Error(`tc class ${classId(slot.minor)} (or filter prio ${slot.prio}) on ${dev} was taken since the plan; try again`);
  await ensureRoot(dev, undo.netns);
  await runAll(tcFaultCommands(dev, t, slot, shape));
}
