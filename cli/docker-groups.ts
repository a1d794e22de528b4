// gameday docker-monkey partition | latency-matrix — group faults between
// containers (pumba#73, #104). Groups are container selectors; each pair
// becomes one method step on `network: { container: A, to: { container: B } }`
// (injectors/docker/groups.ts), run through the executor like any step, so
// the rules and proxies inside each container's namespace are journaled and
// reverted at the end, on Ctrl-C, or by the reaper when this process dies.
import { parseArgs } from "node:util";
import { formatDuration } from "../lib/duration";
import { containerSelectorSchema, type ContainerSelector } from "../lib/experiment";
import { getInjector, targetLabel } from "../injectors";
import { describeContainerSelector, seededRandom } from "../injectors/targets/resolve";
import { StepRunner, type StepSpec } from "../agent/step";
import { CliError } from "./client";
import { emitter, holdRun, narrateStep } from "./fleet";
import { durationFlag, openExecutor, parseParams, STANDALONE_OPTIONS } from "./standalone";

export const GROUP_USAGE = `gameday docker-monkey partition | latency-matrix — faults between groups of containers

  gameday docker-monkey partition --group-a SEL --group-b SEL [--action drop|reject] [--protocol tcp|all]
      A cannot reach B and B cannot reach A (every TCP port they listen on;
      --protocol all: every packet between their addresses); both still reach
      everyone else
  gameday docker-monkey latency-matrix --group-a SEL --group-b SEL [--group-c SEL ...]
      --delay a:b=100ms --delay a:c=20ms [--jitter D]
      each --delay FROM:TO=D delays what group FROM sends to group TO's
      listeners by D (one direction; give b:a too for both)

A group SEL is one or more FIELD:VALUE (repeat the flag to require several):
  label:KEY=VALUE  name:REGEX  image:REF  service:NAME  project:NAME  id:ID
Groups a to f: --group-a ... --group-f.   --engine URL (default DOCKER_HOST)
  --duration D (default 30s)   --dry-run   --json

Inside a container with a network namespace of its own the rules (and the
delaying proxy, where sch_netem is missing) sit in that namespace; a
container on the host's network is selected by its cgroup.

Example: gameday docker-monkey partition --group-a label:tier=web --group-b label:tier=db --duration 1m`;

const GROUPS = ["a", "b", "c", "d", "e", "f"] as const;
const FIELDS = ["label", "name", "image", "service", "project", "id"] as const;

export const GROUP_OPTIONS = {
  ...Object.fromEntries(GROUPS.map((g) => [`group-${g}`, { type: "string", multiple: true }])),
  engine: { type: "string" },
  action: { type: "string" },
  protocol: { type: "string" },
  delay: { type: "string", multiple: true },
  jitter: { type: "string" },
  ...STANDALONE_OPTIONS,
} as const;

/** `label:tier=web`, `name:^shop-` … to a container selector; errors name the flag. */
export function groupSelector(flag: string, parts: string[], engine?: string): ContainerSelector {
  const sel: Record<string, unknown> = engine ? { engine } : {};
  for (const p of parts) {
    const colon = p.indexOf(":");
    const field = p.slice(0, colon) as (typeof FIELDS)[number];
    const value = p.slice(colon + 1);
    if (colon < 1 || !FIELDS.includes(field)) throw new CliError(`${flag}: expected FIELD:VALUE with FIELD one of ${FIELDS.join(", ")} (got "${p}")`);
    if (field === "label") {
      const eq = value.indexOf("=");
      if (eq < 1) throw new CliError(`${flag}: expected label:KEY=VALUE (got "${p}")`);
      sel.labels = { ...(sel.labels as object), [value.slice(0, eq)]: value.slice(eq + 1) };
    } else if (field === "id") sel.ids = [...((sel.ids as string[]) ?? []), value];
    else if (sel[field] !== undefined) throw new CliError(`${flag}: ${field} given twice`);
    else sel[field] = value;
  }
  const r = containerSelectorSchema.safeParse(sel);
  if (!r.success) throw new CliError(r.error.issues.map((i) => `${flag}${i.path.length ? ` ${String(i.path[0])}` : ""}: ${i.message}`).join("\n"));
  return r.data;
}

/** --container NAME (the exact name) or FIELD:VALUE parts, as one container selector; undefined when not given. */
export function containerFlag(parts: string[] | undefined, engine?: string): ContainerSelector | undefined {
  if (!parts) return undefined;
  const exact = (p: string) => `name:^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
  return groupSelector("--container", parts.map((p) => (/^(label|name|image|service|project|id):/.test(p) ? p : exact(p))), engine);
}

/** The method steps the flags make: one partition step, or one latency step per --delay. */
export function groupSteps(action: "partition" | "latency-matrix", f: Record<string, unknown>, durationMs: number): StepSpec[] {
  const groups = new Map<string, ContainerSelector>();
  for (const g of GROUPS) {
    const parts = f[`group-${g}`] as string[] | undefined;
    if (parts) groups.set(g, groupSelector(`--group-${g}`, parts, f.engine as string | undefined));
  }
  const group = (g: string, flag: string) => {
    const s = groups.get(g);
    if (!s) throw new CliError(`${flag}: no group "${g}" (give it with --group-${g}; groups given: ${[...groups.keys()].join(", ") || "none"})`);
    return s;
  };
  const step = (index: number, fault: string, params: unknown, a: ContainerSelector, b: ContainerSelector, extra: Record<string, unknown>): StepSpec => ({
    index,
    fault,
    params,
    targetName: `${describeContainerSelector(a)} → ${describeContainerSelector(b)}`,
    target: { network: { container: a, to: { container: b }, protocol: "tcp", direction: "egress", ...extra }, mode: "all" },
    duration: durationMs,
    probability: 1,
  });
  if (action === "partition") {
    for (const k of ["delay", "jitter"]) if (f[k] !== undefined) throw new CliError(`--${k} does not apply to partition`);
    if (f.protocol !== undefined && f.protocol !== "tcp" && f.protocol !== "all") throw new CliError(`--protocol: expected tcp or all (got ${String(f.protocol)})`);
    const params = parseParams(getInjector("partition")!, f.action === undefined ? {} : { action: f.action });
    return [step(0, "partition", params, group("a", "--group-a"), group("b", "--group-b"), { direction: "both", protocol: f.protocol ?? "tcp" })];
  }
  for (const k of ["action", "protocol"]) if (f[k] !== undefined) throw new CliError(`--${k} does not apply to latency-matrix`);
  const delays = (f.delay as string[] | undefined) ?? [];
  if (!delays.length) throw new CliError("--delay: give at least one FROM:TO=DURATION, e.g. --delay a:b=100ms");
  const seen = new Set<string>();
  return delays.map((d, i) => {
    const m = /^([a-f]):([a-f])=(.+)$/.exec(d);
    if (!m) throw new CliError(`--delay: expected FROM:TO=DURATION with groups a-f, e.g. a:b=100ms (got "${d}")`);
    if (m[1] === m[2]) throw new CliError(`--delay: ${m[1]}:${m[2]} is one group; a matrix entry is between two`);
    if (seen.has(`${m[1]}:${m[2]}`)) throw new CliError(`--delay: ${m[1]}:${m[2]} given twice`);
    seen.add(`${m[1]}:${m[2]}`);
    const params = parseParams(getInjector("latency")!, { latency: m[3], ...(f.jitter !== undefined ? { jitter: f.jitter } : {}) }, (k) => (k === "latency" ? `--delay ${m[1]}:${m[2]}` : `--${k}`));
    return step(i, "latency", params, group(m[1], `--delay ${d}`), group(m[2], `--delay ${d}`), {});
  });
}

export async function groupMain(action: "partition" | "latency-matrix", argv: string[]): Promise<number> {
  const { values: f } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: GROUP_OPTIONS });
  if (f.help) {
    process.stdout.write(GROUP_USAGE + "\n");
    return 0;
  }
  const durationMs = durationFlag(f.duration as string | undefined, "30s");
  const steps = groupSteps(action, f, durationMs);
  const emit = emitter(!!f.json);
  const dryRun = !!f["dry-run"];
  const executor = dryRun ? null : await openExecutor(`docker-monkey ${action}`, (line) => emit("recovered", line));
  const runId = `docker-monkey-${process.pid}`;
  emit("start", `Container Saboteur: ${action} for ${formatDuration(durationMs)}${dryRun ? " (dry run)" : ""}: ${steps.map((s) => `${s.fault}${action === "latency-matrix" ? ` ${formatDuration((s.params as { latency: number }).latency)}` : ""} on ${s.targetName}`).join("; ")}`, { action, steps: steps.length });
  return holdRun(executor, runId, emit, async (signal) => {
    const runners = steps.map(
      (spec) =>
        new StepRunner(spec, {
          executor,
          runId,
          topology: null,
          protectedPids: () => new Set(),
          rnd: seededRandom(1),
          signal,
          dryRun,
          onEvent: (e) => {
            if (e.type === "resolved") emit("found", `${spec.fault} ${spec.targetName}: ${e.resolution.matched.length} target(s): ${e.resolution.matched.map(targetLabel).join("; ")}`, { step: spec.index });
            narrateStep(emit, e, dryRun);
          },
        }),
    );
    const stats = await Promise.all(runners.map((r) => r.run().catch((e: Error) => (emit("error", `${steps[runners.indexOf(r)].targetName}: ${e.message}`), null))));
    const failed = stats.reduce((n, s) => n + (s ? s.failed : 1), 0);
    const applied = stats.reduce((n, s) => n + (s?.applied ?? 0), 0);
    emit("done", `Done: ${applied} change(s), ${failed} failed.`, { applied, failed });
    return failed ? 1 : 0;
  });
}
