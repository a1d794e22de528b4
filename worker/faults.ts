// The fault catalogue of GET /api/v1/faults: every registered fault with its
// params as JSON Schema, the target kind it acts on, the first example step
// that uses it, and whether this host can run it. available() probes kernels,
// sockets and credentials and may take a while, so every check runs at once
// with its own time limit and the answer is kept for a short time.
import fs from "node:fs/promises";
import path from "node:path";
import { setImmediate as turn } from "node:timers/promises";
import YAML from "yaml";
import type { FaultCatalogue, FaultInfo } from "../lib/contract";
import { faultEntry, targetKindEntry } from "../lib/catalog";
import { faultParamsJsonSchema, parseExperiment } from "../lib/experiment";
import { getInjector, injectorNames, type Availability } from "../injectors";

/** How long an availability answer is kept. */
export const CATALOGUE_TTL_MS = 30_000;
/** A check that has not answered by then counts as unavailable. */
const CHECK_TIMEOUT_MS = 5_000;

type Example = NonNullable<FaultInfo["example"]>;

/** A registered fault as the catalogue shows it. */
export function faultInfo(name: string, availability: Availability, example: Example | null = null): FaultInfo {
  const entry = faultEntry(name);
  if (!entry) throw new Error(`unknown fault "${name}"`);
  const kind = targetKindEntry(entry.targetKind);
  if (!kind) throw new Error(`fault "${name}" acts on target kind "${entry.targetKind}", which is not registered`);
  return {
    name,
    family: entry.family,
    description: entry.description,
    params: faultParamsJsonSchema(name),
    target: { kind: kind.kind, title: kind.title, selectors: [...kind.selectors], example: structuredClone(kind.example), nodePath: kind.nodePath ? [...kind.nodePath] : null },
    available: availability.ok,
    ...(availability.ok ? (availability.detail ? { detail: availability.detail } : {}) : { reason: availability.reason }),
    example,
  };
}

async function check(name: string): Promise<Availability> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Availability>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `the availability check did not answer within ${CHECK_TIMEOUT_MS / 1000} s` }), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([getInjector(name)!.available(), late]);
  } catch (e) {
    return { ok: false, reason: `the availability check failed: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** The first valid example file's first step of each fault, and the first probe of all: as written there. */
export async function examplesOf(dir: string): Promise<{ steps: Map<string, Example>; probe: Record<string, unknown> | null }> {
  const steps = new Map<string, Example>();
  let probe: Record<string, unknown> | null = null;
  let files: string[] = [];
  try {
    files = (await fs.readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch {
    return { steps, probe };
  }
  for (const file of files) {
    // parsing a file takes milliseconds of CPU: one at a time, so the monitor's timers run in between
    await turn();
    const yaml = await fs.readFile(path.join(dir, file), "utf8").catch(() => "");
    if (!yaml || !parseExperiment(yaml).ok) continue;
    const spec = (YAML.parse(yaml) as { spec: { method: Record<string, unknown>[]; steadyState: { probes: Record<string, unknown>[] } } }).spec;
    probe ??= spec.steadyState.probes[0] ?? null;
    for (const step of spec.method) {
      const fault = String(step.fault);
      if (!steps.has(fault)) steps.set(fault, { file, step, yaml });
    }
  }
  return { steps, probe };
}

export class FaultCatalogueCache {
  private cached: { at: number; value: Promise<FaultCatalogue> } | null = null;

  constructor(
    private readonly examplesDir: string,
    private readonly ttlMs = CATALOGUE_TTL_MS,
  ) {}

  /** The catalogue; callers within the time to live (and while it is being built) share one answer. */
  get(): Promise<FaultCatalogue> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > this.ttlMs) {
      const value = this.build();
      const entry = { at: now, value };
      this.cached = entry;
      value.catch(() => {
        if (this.cached === entry) this.cached = null;
      });
    }
    return this.cached.value;
  }

  private async build(): Promise<FaultCatalogue> {
    const checkedAt = new Date().toISOString();
    const names = injectorNames();
    const [availability, examples] = await Promise.all([Promise.all(names.map(check)), examplesOf(this.examplesDir)]);
    return {
      faults: names.map((n, i) => faultInfo(n, availability[i], examples.steps.get(n) ?? null)),
      probe: examples.probe,
      checkedAt,
    };
  }
}
