// The one table of faults. Each injector file registers itself here; nothing
// else in the code base switches over fault names. Registering also lists the
// fault in lib/catalog, which is all the experiment schema sees of it.
import { catalogueFault } from "../lib/catalog";
import type { AnyInjector } from "./types";

const table = new Map<string, AnyInjector>();

export function register(injector: AnyInjector): void {
  if (table.has(injector.name)) throw new Error(`injector "${injector.name}" registered twice`);
  table.set(injector.name, injector);
  catalogueFault({ name: injector.name, description: injector.description, family: injector.family, targetKind: injector.targetKind, params: injector.params });
}

export function getInjector(name: string): AnyInjector | undefined {
  return table.get(name);
}

/** Whether this fault with these parameters (raw or parsed) cannot be undone; parameters that do not parse count as not. */
export function isIrreversible(fault: string, params: unknown): boolean {
  const inj = table.get(fault);
  if (!inj?.irreversible) return false;
  const p = inj.params.safeParse(params);
  return p.success && inj.irreversible(p.data) === true;
}

export function injectorNames(): string[] {
  return [...table.keys()].sort();
}
