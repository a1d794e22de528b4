// The one table of target kinds, in the style of injectors/registry.ts: each
// kind's file (process.ts, host.ts, path.ts, network.ts, container.ts; later
// cloud instance) registers how a target of that kind is named and how a
// target spec selecting it resolves to concrete targets on this host. Nothing
// else switches over target kinds. Registering also lists the kind in
// lib/catalog, so the experiment schema knows which spec fields select it.
import os from "node:os";
import { catalogueTargetKind } from "../../lib/catalog";
import type { TargetSpec } from "../../lib/experiment";
import type { Topology } from "../../lib/topology";
import type { Target, TargetKind, TargetKinds } from "../types";

export interface ResolveContext {
  topology: Topology | null;
  /** PIDs never to target besides the built-in protections */
  extraProtected: ReadonlySet<number>;
  /** spec.safety.allowControlPlane: network targets do not spare the control plane's ports */
  allowControlPlane?: boolean;
  /** the fault takes IPv6 network targets (Injector.ipv6): a listener on an IPv6 address only is a target too */
  ipv6?: boolean;
}

export interface TargetResolution {
  selector: string;
  matched: Target[];
  /** processes that matched but are never allowed as targets, with why */
  protected: { pid: number; comm: string; reason: string }[];
  node?: string;
  /** why nothing matched when processes did (e.g. they listen on no TCP port) */
  problem?: string;
}

export interface TargetKindDef<K extends TargetKind = TargetKind> {
  readonly kind: K;
  /** human name, e.g. "network traffic" */
  readonly title: string;
  /** fields of `spec.targets.X` that select this kind; registration order is their precedence */
  readonly selectors: readonly string[];
  /** a spec selecting this kind, for experiments written from the fault catalogue (the user edits it) */
  readonly example: Readonly<Record<string, unknown>>;
  /** where a topology node's id goes in such a spec, when this kind can select by node */
  readonly nodePath?: readonly string[];
  /** stable identity, recorded with the run (e.g. `pid:123@456`) */
  id(t: TargetKinds[K]): string;
  /** short human label for events and reports */
  label(t: TargetKinds[K]): string;
  /** the spec (which selects this kind) to concrete targets on this host (asynchronous for kinds that ask an API: containers, cloud instances) */
  resolve(spec: TargetSpec, ctx: ResolveContext): TargetResolution | Promise<TargetResolution>;
}

type AnyTargetKindDef = TargetKindDef<any>;

const table = new Map<string, AnyTargetKindDef>();

export function registerTargetKind<K extends TargetKind>(def: TargetKindDef<K>): void {
  if (table.has(def.kind)) throw new Error(`target kind "${def.kind}" registered twice`);
  table.set(def.kind, def);
  catalogueTargetKind({ kind: def.kind, title: def.title, selectors: def.selectors, example: def.example, nodePath: def.nodePath });
}

export function getTargetKind(kind: string): TargetKindDef | undefined {
  return table.get(kind);
}

export function targetKindNames(): string[] {
  return [...table.keys()];
}

function kindOf(t: Target): AnyTargetKindDef {
  const def = table.get(t.kind);
  if (!def) throw new Error(`unknown target kind "${t.kind}" (registered: ${[...table.keys()].join(", ") || "none"})`);
  return def;
}

export function targetId(t: Target): string {
  return kindOf(t).id(t);
}

export function targetLabel(t: Target): string {
  return kindOf(t).label(t);
}

/** Resolve any target spec to concrete targets on this host; each names this host. */
export async function resolveTargets(spec: TargetSpec, topology: Topology | null, extraProtected: ReadonlySet<number>, o: { allowControlPlane?: boolean; ipv6?: boolean } = {}): Promise<TargetResolution> {
  const fields = spec as Record<string, unknown>;
  const def = [...table.values()].find((d) => d.selectors.some((s) => fields[s] !== undefined));
  if (!def) throw new Error(`the target selects nothing: give one of ${[...table.values()].flatMap((d) => d.selectors).join(", ")}`);
  const r = await def.resolve(spec, { topology, extraProtected, allowControlPlane: o.allowControlPlane, ipv6: o.ipv6 });
  const host = os.hostname();
  return { ...r, matched: r.matched.map((t) => (t.host === undefined ? { ...t, host } : t)) };
}
