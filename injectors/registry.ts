// The one table of faults. Each injector file registers itself here; nothing
// else in the code base switches over fault names.
import type { AnyInjector } from "./types";

const table = new Map<string, AnyInjector>();

export function register(injector: AnyInjector): void {
  if (table.has(injector.name)) throw new Error(`injector "${injector.name}" registered twice`);
  table.set(injector.name, injector);
}

export function getInjector(name: string): AnyInjector | undefined {
  return table.get(name);
}

export function injectorNames(): string[] {
  return [...table.keys()].sort();
}
