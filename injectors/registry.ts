// The one table of faults. Each injector file registers itself here; nothing
// else in the code base switches over fault names. Registering also lists the
// fault in lib/catalog, which is all the experiment schema sees of it.
import { catalogueFault } from "../lib/catalog";
import type { AnyInjector } from "./types";

const table = new Map<string, AnyInjector>();

export function register(injector: AnyInjector): void {
  if (table.has(injector.name)) throw new Error(`injector "${injector.name}" registered twice`);
  table.set(injector.name, injector);
  catalogueFault({ name: injector.name, description: injector.description, targetKind: injector.targetKind, params: injector.params });
}

export function getInjector(name: string): AnyInjector | undefined {
  return table.get(name);
}

export function injectorNames(): string[] {
  return [...table.keys()].sort();
}
