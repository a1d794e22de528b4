// The one contract every fault implements. An injector acts on exactly one
// concrete target; choosing targets, blast radius, timing and retries live in
// the worker above it. Revert must undo inject using only what plan() returned
// (it is journaled before inject runs), so a restarted worker can revert a
// change made by its crashed predecessor.
import type { z } from "zod";
import type { FaultFamily } from "../lib/contract";

/** Every target names the host (or agent) it lives on; absent in old journals: this host. */
export interface OnHost {
  host?: string;
}

/** A process, identified by PID plus start time so PID reuse cannot fool us. */
export interface ProcessTarget extends OnHost {
  kind: "process";
  pid: number;
  /** /proc/PID/stat field 22, clock ticks since boot */
  startTime: number;
  comm: string;
  cmdline: string;
}

/** The host the injector runs on (resource pressure). */
export interface HostTarget extends OnHost {
  kind: "host";
  hostname: string;
}

/** A directory on a filesystem (disk faults write only below it). */
export interface PathTarget extends OnHost {
  kind: "path";
  path: string;
}

/**
 * A slice of network traffic: rules (tc filters, iptables matches) select
 * only these packets, in this network namespace, so other traffic flows on.
 */
export interface NetworkTarget extends OnHost {
  kind: "network";
  /** `ip netns` name, or /proc/PID/ns/net of a container's first process; absent: the worker's own namespace */
  netns?: string;
  /** a /proc netns path's inode when it was resolved: the same PID in another namespace is not ours */
  netnsInode?: number;
  /** "NAME (ID12)" of the container whose traffic this is (its namespace, or its cgroup in ours) */
  container?: string;
  /** the file the target's processes read as /etc/resolv.conf, when it is not the namespace's usual one (a container's, on the host) */
  resolvConf?: string;
  /** device for tc; absent: the injector picks (route to dst, else lo) */
  interface?: string;
  direction: "egress" | "ingress" | "both";
  protocol: "tcp" | "udp" | "icmp" | "all";
  /** IPv4 address or CIDR; IPv6 for the faults that redirect (latency's proxy, proxy-toxic, http-fault, dns), refused by the others */
  dst?: string;
  src?: string;
  dstPort?: number;
  srcPort?: number;
  /** dst is any address of the namespace itself (a process listening on 0.0.0.0 or ::) */
  dstLocal?: boolean;
  /** with dstLocal: the listener takes IPv6 too (it listens on ::), so the redirect faults cover ::1 and the namespace's IPv6 addresses */
  dstLocal6?: boolean;
  /** only packets sent by processes in this cgroup v2 folder, relative to the v2 root */
  cgroup?: string;
  /**
   * TCP ports of the control plane (SSH, the worker, the web app) whose
   * packets the fault must leave alone: iptables faults put RETURN rules for
   * them before their own, tc faults refuse a selection that includes them.
   * Set by target resolution in the host's namespace unless
   * spec.safety.allowControlPlane.
   */
  spare?: number[];
}

/**
 * Every kind of concrete target by its kind id. A new kind (container, cloud
 * instance) adds itself from its own file in injectors/targets/ by augmenting
 * this interface (`declare module "../types"`) and registering there.
 */
export interface TargetKinds {
  process: ProcessTarget;
  host: HostTarget;
  path: PathTarget;
  network: NetworkTarget;
}

/** Union of concrete targets. */
export type Target = TargetKinds[keyof TargetKinds];
export type TargetKind = keyof TargetKinds;

// Identity and label of a target come from its kind's registration.
export { targetId, targetLabel } from "./targets/resolve";

export type Availability = { ok: true; detail?: string } | { ok: false; reason: string };

export interface VerifyResult {
  ok: boolean;
  detail: string;
}

/** Evidence of effect (what a change touched), shared with the run record. */
export type { Effect } from "../lib/contract";
import type { Effect } from "../lib/contract";

export interface InjectContext<U = unknown> {
  runId: string;
  signal: AbortSignal;
  /** what plan() returned for this target, already journaled (e.g. the tag children must carry) */
  undo: U;
}

export interface Injector<P = unknown, U = unknown, T extends Target = Target> {
  /** Fault name used in experiments, e.g. "process-kill". */
  readonly name: string;
  readonly description: string;
  /** the catalogue's grouping: process, disk, resource, network, application, container, cloud or bpf */
  readonly family: FaultFamily;
  /** network faults: takes IPv6 targets (an IPv6 dst; a node's listener on ::1 only resolves to one) */
  readonly ipv6?: boolean;
  readonly targetKind: T["kind"];
  /** Parameter schema; errors name the field. */
  readonly params: z.ZodType<P>;
  /**
   * Can this host run the fault (on this target, when given)? When not, say
   * why (missing kernel feature, no socket, a container that is gone, ...).
   * Called before plan(); detection that needs to try things happens here.
   */
  available(target?: T): Promise<Availability>;
  /**
   * What revert will need, computed before anything changes. Plain JSON. No
   * side effect outside the journal: it may read the host, never change it
   * (the executor journals its result before inject runs).
   */
  plan(target: T, params: P): Promise<U>;
  /** Make the change. ctx.signal is the run's abort signal: stop early when it fires; revert undoes what was done. */
  inject(target: T, params: P, ctx: InjectContext<U>): Promise<void>;
  /** Undo one target's change. Must be idempotent and safe after a crash. */
  revert(target: T, undo: U): Promise<void>;
  /** Confirm the revert took (e.g. the process is no longer stopped). */
  verify(target: T, undo: U): Promise<VerifyResult>;
  /**
   * The shape of what plan() returns. Revert reads undo from a journal a
   * crash or a person may have damaged: an entry that does not fit is
   * refused and left for a human, never acted on.
   */
  readonly undoSchema?: z.ZodType;
  /**
   * Optional: true when a change with these (parsed) parameters cannot be
   * undone (a terminated instance): revert has nothing to put back. The plan,
   * the dashboard's launch panel, the run record and the report mark it.
   */
  irreversible?(params: P): boolean;
  /**
   * How the change is made, in one line, from what plan() returned (e.g. the
   * mechanism chosen and why). Shown in the run record and the events.
   */
  describe?(target: T, undo: U): string;
  /**
   * Optional: what the change touched (see Effect), read once after a
   * verified revert, from what plan() returned (so the reaper can read it
   * too). It may remove what only the evidence needed (a counters file).
   */
  effect?(target: T, undo: U): Promise<Effect | null>;
}

/** Type-erased injector as stored in the registry. */
export type AnyInjector = Injector<any, any, any>;
