// What the experiment schema needs to know about each fault and each target
// kind, without importing the injectors: lib/ is the ground floor. The
// injectors fill it in as they register (injectors/registry.ts,
// injectors/targets/registry.ts), so whoever parses an experiment must have
// imported injectors/ first (the worker and the CLIs do).
import type { z } from "zod";
import type { FaultFamily } from "./contract";

/** A fault as an experiment names it. */
export interface FaultEntry {
  /** e.g. "process-kill" */
  readonly name: string;
  readonly description: string;
  /** where the catalogue files it, e.g. "network" */
  readonly family: FaultFamily;
  /** the kind of concrete target it acts on, e.g. "process" */
  readonly targetKind: string;
  /** its params schema (validates and fills defaults) */
  readonly params: z.ZodType;
}

/** A kind of concrete target, and how `spec.targets.X` selects it. */
export interface TargetKindEntry {
  /** e.g. "process" */
  readonly kind: string;
  /** human name, e.g. "process" or "network traffic" */
  readonly title: string;
  /** the fields of a target spec that select this kind, e.g. ["node", "process"] */
  readonly selectors: readonly string[];
  /** a spec selecting this kind, for experiments written from the catalogue, e.g. { host: "local" } */
  readonly example: Readonly<Record<string, unknown>>;
  /** where a topology node's id goes in such a spec (e.g. ["network", "node"]), when this kind can select by node */
  readonly nodePath?: readonly string[];
}

const faults = new Map<string, FaultEntry>();
const kinds = new Map<string, TargetKindEntry>();

export function catalogueFault(entry: FaultEntry): void {
  if (faults.has(entry.name)) throw new Error(`fault "${entry.name}" catalogued twice`);
  faults.set(entry.name, entry);
}

export function catalogueTargetKind(entry: TargetKindEntry): void {
  if (kinds.has(entry.kind)) throw new Error(`target kind "${entry.kind}" catalogued twice`);
  for (const k of kinds.values())
    for (const s of entry.selectors) if (k.selectors.includes(s)) throw new Error(`selector "${s}" of target kind "${entry.kind}" already selects "${k.kind}"`);
  kinds.set(entry.kind, entry);
}

export function faultEntry(name: string): FaultEntry | undefined {
  return faults.get(name);
}

/** Catalogued fault names, sorted. */
export function faultNames(): string[] {
  return [...faults.keys()].sort();
}

export function targetKindEntry(kind: string): TargetKindEntry | undefined {
  return kinds.get(kind);
}

/** Catalogued target kinds, in the order they registered (which is also their precedence in targetKindOf). */
export function targetKindEntries(): TargetKindEntry[] {
  return [...kinds.values()];
}

/** The target kind a (possibly raw, unvalidated) target spec selects, or null. */
export function targetKindOf(spec: Record<string, unknown>): string | null {
  for (const k of kinds.values()) if (k.selectors.some((s) => spec[s] !== undefined)) return k.kind;
  return null;
}
