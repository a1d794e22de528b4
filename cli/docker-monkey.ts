// gameday docker-monkey — the Container Saboteur: pause, kill, stop, restart
// or cap containers chosen by labels, name, image, Compose service/project,
// IDs or a topology node, once or in rounds (fixed, jittered or seeded
// Poisson intervals, replayable with --seed). A thin CLI: the flags become
// one method step that agent/step.ts runs through the executor, so every
// change is journaled before it is made and reverted at the end of its hold,
// on Ctrl-C, or — when this process dies — by the executor's reaper.
import { parseArgs } from "node:util";
import { z } from "zod";
import { duration, formatDuration } from "../lib/duration";
import { containerSelectorSchema, type ContainerSelector } from "../lib/experiment";
import { loadTopology, type Topology } from "../lib/topology";
import { getInjector, targetLabel } from "../injectors";
import { describeContainerSelector, resolveContainers, seededRandom } from "../injectors/targets/resolve";
import { StepRunner, type StepSpec } from "../agent/step";
import { CliError } from "./client";
import { groupMain } from "./docker-groups";
import { BLAST_OPTIONS, blastFields, blastInput, blastIssues, blastOf, emitter, holdRun, narrateStep } from "./fleet";
import { flagNumber, openExecutor, parseParams, STANDALONE_OPTIONS } from "./standalone";

const USAGE = `gameday docker-monkey ACTION — sabotage Docker containers, once or on a schedule

Actions: pause | kill | stop | restart | limit   (the faults container-ACTION)
         partition | latency-matrix   (between groups: gameday docker-monkey partition --help)

Choose containers (running or paused; every given selector must match):
  --label K=V           a label with this value (repeatable)
  --name REGEX          regular expression on the container name
  --image REF           image reference (a name without tag matches every tag) or ID
  --service NAME        Compose service      --project NAME   Compose project
  --id ID               container ID or prefix (repeatable)
  --node ID             the containers a topology node's processes run in (--topology FILE)
  --engine URL          Docker engine (default DOCKER_HOST, else unix:///var/run/docker.sock)

How many: --mode one|count|percent|all (default one), --count N, --percent P
  --max-down N|P%       never more than N (or P% of the largest fleet seen) affected at once

When: once for --duration (default 30s), or in rounds with --interval D:
  --schedule fixed|jitter|poisson   fixed rounds, every ± --jitter D, or Poisson arrivals
                        with mean --interval and at least --min-gap D (default 1s) apart
  --hold D              how long each round's changes stay (default: the round)
  --seed N              replay the same choices and schedule

Fault: --signal SIG (kill, default KILL), --start (kill: start it again on revert),
  --grace D (stop, restart: TERM→KILL, default 10s), --cpus N, --memory SIZE (limit)

  --dry-run             resolve and choose, change nothing     --json  one JSON event per line

Example: gameday docker-monkey pause --service payment --interval 30s --hold 10s --duration 5m`;

const ACTIONS = ["pause", "kill", "stop", "restart", "limit"] as const;

const optionsSchema = z
  .object({
    ...blastFields,
    duration: duration({ min: 100, max: 7 * 24 * 3_600_000 }).default(30_000),
    interval: duration({ min: 100, max: 24 * 3_600_000 }).optional(),
    jitter: duration({ max: 24 * 3_600_000 }).default(0),
    schedule: z.enum(["fixed", "jitter", "poisson"], { error: "expected fixed, jitter or poisson" }).optional(),
    "min-gap": duration({ min: 1, max: 24 * 3_600_000 }).default(1000),
    hold: duration({ min: 100, max: 24 * 3_600_000 }).optional(),
  })
  .superRefine((o, ctx) => {
    blastIssues(o, ctx);
    if (o.interval === undefined && (o.schedule || o.jitter || o.hold)) ctx.addIssue({ code: "custom", path: ["interval"], message: "--schedule, --jitter and --hold need --interval" });
    if (o.interval !== undefined && o.interval > o.duration) ctx.addIssue({ code: "custom", path: ["interval"], message: "must not exceed --duration" });
    if (o.jitter && o.interval !== undefined && o.jitter >= o.interval) ctx.addIssue({ code: "custom", path: ["jitter"], message: "must be shorter than --interval" });
    if (o.jitter && o.schedule && o.schedule !== "jitter") ctx.addIssue({ code: "custom", path: ["jitter"], message: `--jitter goes with --schedule jitter, not ${o.schedule}` });
  });

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "partition" || argv[0] === "latency-matrix") return groupMain(argv[0], argv.slice(1));
  const { values: f, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      label: { type: "string", multiple: true },
      name: { type: "string" },
      image: { type: "string" },
      service: { type: "string" },
      project: { type: "string" },
      id: { type: "string", multiple: true },
      node: { type: "string" },
      topology: { type: "string" },
      engine: { type: "string" },
      ...BLAST_OPTIONS,
      interval: { type: "string" },
      jitter: { type: "string" },
      schedule: { type: "string" },
      "min-gap": { type: "string" },
      hold: { type: "string" },
      signal: { type: "string" },
      start: { type: "boolean", default: false },
      grace: { type: "string" },
      cpus: { type: "string" },
      memory: { type: "string" },
      ...STANDALONE_OPTIONS,
    },
  });
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const action = positionals[0];
  if (!action || !(ACTIONS as readonly string[]).includes(action) || positionals.length > 1)
    throw new CliError(`give one action: ${ACTIONS.join(", ")} (got ${positionals.length ? positionals.join(" ") : "none"}; see gameday docker-monkey --help)`);
  const injector = getInjector(`container-${action}`)!;
  const faultFlags: Record<string, Record<string, unknown>> = {
    pause: {},
    kill: { signal: f.signal, start: f.start || undefined },
    stop: { grace: f.grace },
    restart: { grace: f.grace },
    limit: { cpus: flagNumber(f.cpus), memory: f.memory },
  };
  const given = { signal: f.signal, start: f.start || undefined, grace: f.grace, cpus: f.cpus, memory: f.memory };
  for (const [k, v] of Object.entries(given)) if (v !== undefined && !(k in faultFlags[action])) throw new CliError(`--${k} does not apply to ${action}`);
  const params = parseParams(injector, Object.fromEntries(Object.entries(faultFlags[action]).filter(([, v]) => v !== undefined)));

  const parsed = optionsSchema.safeParse({
    ...blastInput(f),
    duration: f.duration,
    interval: f.interval,
    jitter: f.jitter,
    schedule: f.schedule,
    "min-gap": f["min-gap"],
    hold: f.hold,
  });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `--${String(i.path[0] ?? "")}: ${i.message}`);
    throw new CliError(`invalid options:\n  ${lines.join("\n  ")}\n(see gameday docker-monkey --help)`);
  }
  const o = parsed.data;
  const { selector, topology } = selectorFromFlags(f);
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const emit = emitter(!!f.json);

  const first = await resolveContainers(selector, topology);
  if (!first.matched.length) throw new CliError(first.problem ?? `no running container matches ${describeContainerSelector(selector)}`);
  const dryRun = !!f["dry-run"];
  const executor = dryRun ? null : await openExecutor(`docker-monkey ${action}`, (line) => emit("recovered", line));
  const { mode, value, maxDown } = blastOf(o);
  const spec: StepSpec = {
    index: 0,
    fault: injector.name,
    params,
    targetName: describeContainerSelector(selector),
    target: { container: selector, mode, value },
    duration: o.duration,
    every: o.interval,
    jitter: o.schedule === "jitter" || (!o.schedule && o.jitter) ? o.jitter : undefined,
    schedule: o.schedule === "poisson" ? { kind: "poisson", minGapMs: o["min-gap"] } : undefined,
    hold: o.hold,
    probability: 1,
    maxDown,
    firstRoundMayBeEmpty: true,
    continueAfterFailedRound: o.interval !== undefined,
  };
  const runId = `docker-monkey-${process.pid}`;
  const when = o.interval === undefined ? `once for ${formatDuration(o.duration)}` : `every ${formatDuration(o.interval)} (${o.schedule ?? (o.jitter ? "jitter" : "fixed")}${o.jitter ? ` ± ${formatDuration(o.jitter)}` : ""}${o.schedule === "poisson" ? `, min gap ${formatDuration(o["min-gap"])}` : ""}) for ${formatDuration(o.duration)}`;
  emit("start", `Container Saboteur: ${injector.name} on ${spec.targetName} (${o.mode}${spec.target.value !== undefined ? ` ${spec.target.value}` : ""}) ${when}, seed ${seed}${dryRun ? " (dry run)" : ""}`, { fault: injector.name, seed, params });
  emit("found", `Found ${first.matched.length} container(s): ${first.matched.map(targetLabel).join(", ")}`, { containers: first.matched.map((t) => t.kind === "container" && t.id) });
  return holdRun(executor, runId, emit, async (signal) => {
    const runner = new StepRunner(spec, { executor, runId, topology, protectedPids: () => new Set(), rnd: seededRandom(seed), signal, onEvent: (e) => narrateStep(emit, e, dryRun), dryRun });
    const stats = await runner.run();
    emit("done", `Done: ${stats.rounds} round(s), ${stats.applied} change(s), ${stats.refused} refused by --max-down, ${stats.failed} failed.`, { stats });
    return stats.failed ? 1 : 0;
  });
}

type Flags = { label?: string[]; name?: string; image?: string; service?: string; project?: string; id?: string[]; node?: string; topology?: string; engine?: string };

function selectorFromFlags(f: Flags): { selector: ContainerSelector; topology: Topology | null } {
  const labels: Record<string, string> = {};
  for (const l of f.label ?? []) {
    const eq = l.indexOf("=");
    if (eq < 1) throw new CliError(`--label: expected KEY=VALUE (got "${l}")`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const raw = { labels: f.label ? labels : undefined, name: f.name, image: f.image, service: f.service, project: f.project, ids: f.id, node: f.node, engine: f.engine };
  const r = containerSelectorSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!r.success) {
    const flag: Record<string, string> = { labels: "--label", ids: "--id" };
    throw new CliError(
      r.error.issues
        .map((i) => {
          const k = String(i.path[0] ?? "");
          return k ? `${flag[k] ?? `--${k}`}: ${i.message}` : "choose containers: --label, --name, --image, --service, --project, --id or --node";
        })
        .join("\n"),
    );
  }
  let topology: Topology | null = null;
  if (f.node) {
    try {
      topology = loadTopology(f.topology ?? "demo/topology.yaml");
    } catch (e) {
      throw new CliError(`--topology: ${(e as Error).message}`);
    }
    if (!topology.spec.nodes.some((n) => n.id === f.node)) throw new CliError(`--node: unknown topology node "${f.node}"`);
  }
  return { selector: r.data, topology };
}
