// gameday latency-monkey — latency, packet loss, bandwidth caps and partitions
// on a slice of network traffic, without a worker. The same injectors and the
// same journal as an experiment: every rule, qdisc and proxy is recorded
// before it exists and removed at the end, on Ctrl-C, or after a crash at the
// next start of any standalone CLI (or `gameday recover`).
import { parseArgs } from "node:util";
import { formatDuration } from "../lib/duration";
import { networkSelectorSchema, type NetworkSelector } from "../lib/experiment";
import { cmdText, type Cmd } from "../injectors/net/cmd";
import { detectNetem } from "../injectors/net/detect";
import { overlaps } from "../injectors/net/select";
import { pickInterface, tcRevertCommand, tcRevertCommands } from "../injectors/net/tc";
import { bandwidth } from "../injectors/bandwidth";
import { latency } from "../injectors/latency";
import { describeNet, type NetUndo } from "../injectors/net-fault";
import { packetLoss } from "../injectors/packet-loss";
import { partition } from "../injectors/partition";
import { targetLabel, type AnyInjector, type NetworkTarget } from "../injectors/types";
import { loadTopology, type ProcessSelector, type Topology } from "../lib/topology";
import { describeContainerSelector, resolveNetwork } from "../injectors/targets/resolve";
import { resolveContainerTraffic } from "../injectors/docker/groups";
import { containerFlag } from "./docker-groups";
import { CliError } from "./client";
import { ALLOW_BROAD_OPTION, ALLOW_BROAD_USAGE, checkBroadNetwork, durationFlag, flagNumber, interruptible, parseParams, openExecutor, runFaults, STANDALONE_OPTIONS, type PlannedFault } from "./standalone";

const USAGE = `gameday latency-monkey — network faults on a slice of traffic

  gameday latency-monkey --target-port PORT --latency D [--jitter D] [options]
  gameday latency-monkey --target-port PORT --loss PCT [options]
  gameday latency-monkey --target-port PORT --bandwidth RATE [options]
      (--latency, --loss and --bandwidth combine; --rate is --bandwidth)
  gameday latency-monkey partition --between A --and B [--action drop|reject]
  gameday latency-monkey --node api --latency 200ms        (traffic to a node)
  gameday latency-monkey --cgroup system.slice/x.service --loss 100%

Faults:
  --latency D         add D (e.g. 500ms) to every packet/chunk of the traffic
  --jitter D          ± D around the latency (distribution: --distribution
                      normal|pareto|paretonormal|uniform, --correlation PCT)
  --loss PCT          drop PCT % of the packets (--loss-correlation PCT needs netem)
  --bandwidth RATE    cap the traffic at RATE (tc syntax: 1mbit, 500kbit, 2mbps)

Traffic (every given field must match):
  --target-port P     destination port (the seed's flag); --source-port P
  --dst IP[/N]        destination address; --src IP[/N] source address (IPv6,
                      e.g. ::1: latency through the proxy only)
  --protocol P        tcp (default), udp, icmp, all
  --direction D       egress (default), ingress, both
  --interface IF      device (default: the route's towards --dst, else lo
                      for local traffic, else the default route's)
  --netns NS          act inside network namespace NS (ip netns)

Traffic to processes (one target per TCP address:port they listen on):
  --node ID           a topology node's processes (--topology FILE, default
                      demo/topology.yaml)
  --pid PID           these processes (repeatable); --program NAME,
  --cmdline REGEX     or processes by program or command line
Traffic from a cgroup:
  --cgroup PATH       only what processes in this cgroup v2 folder send
                      (relative to the v2 root; iptables faults only)
Traffic of Docker containers (DOCKER_HOST, or --engine URL):
  --container NAME    inside the container's own network namespace (or, on
                      the host's network, what its cgroup sends); NAME is the
                      exact name, or FIELD:VALUE (label:K=V, name:REGEX,
                      image:REF, service:S, project:P, id:ID), repeatable

${ALLOW_BROAD_USAGE}
  --mechanism M       auto (default), netem, proxy (latency), iptables (loss)
  --duration D        hold for D (default 60s); Ctrl-C reverts early
  --dry-run           print the exact commands, change nothing
  --json              one JSON event per line

Latency uses netem where the kernel has sch_netem; without it, TCP
connections to ONE destination (--dst, default 127.0.0.1) are redirected
(iptables nat) through a delaying proxy. Needs root (CAP_NET_ADMIN) and the
ip, tc and iptables programs. Exit 0 when everything was injected and
reverted, 1 on bad input or any failure.`;

const common = {
  netns: { type: "string" },
  interface: { type: "string" },
  protocol: { type: "string" },
  node: { type: "string" },
  topology: { type: "string" },
  pid: { type: "string", multiple: true },
  program: { type: "string" },
  cmdline: { type: "string" },
  cgroup: { type: "string" },
  container: { type: "string", multiple: true },
  engine: { type: "string" },
  ...ALLOW_BROAD_OPTION,
  ...STANDALONE_OPTIONS,
} as const;
const FAULT_OPTIONS = {
  ...common,
  "target-port": { type: "string" },
  "source-port": { type: "string" },
  dst: { type: "string" },
  src: { type: "string" },
  direction: { type: "string" },
  latency: { type: "string" },
  jitter: { type: "string" },
  correlation: { type: "string" },
  distribution: { type: "string" },
  loss: { type: "string" },
  "loss-correlation": { type: "string" },
  bandwidth: { type: "string" },
  rate: { type: "string" },
  burst: { type: "string" },
  mechanism: { type: "string" },
} as const;
const PARTITION_OPTIONS = { ...common, between: { type: "string" }, and: { type: "string" }, action: { type: "string" }, port: { type: "string" } } as const;

type Flags = Record<string, string | string[] | boolean | undefined>;

const TARGET_FLAG: Record<string, string> = {
  dstPort: "--target-port",
  srcPort: "--source-port",
  dst: "--dst",
  src: "--src",
  netns: "--netns",
  interface: "--interface",
  direction: "--direction",
  protocol: "--protocol",
  node: "--node",
  cgroup: "--cgroup",
  container: "--container",
};
const PARTITION_FLAG: Record<string, string> = { src: "--between", dst: "--and", dstPort: "--port" };
/** The flag that sets a target field (partition names its sides differently). */
const flagFor = (field: string, partition: boolean) => (partition ? PARTITION_FLAG[field] : undefined) ?? TARGET_FLAG[field] ?? field;
const PROCESS_FLAG: Record<string, string> = { pids: "--pid", program: "--program", cmdline: "--cmdline" };
const PROCESS_FLAGS = ["pid", "program", "cmdline"] as const;

function num(v: Flags[string]): unknown {
  return typeof v === "string" ? flagNumber(v, { percentSign: true }) : v;
}

function selection(raw: Record<string, unknown>, partitionFlags = false): NetworkSelector {
  const r = networkSelectorSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!r.success) {
    const flag = (path: PropertyKey[]) => {
      const k = String(path[0]);
      if (k === "process") return PROCESS_FLAG[String(path[1])] ?? "--pid/--program/--cmdline";
      return flagFor(k, partitionFlags);
    };
    throw new CliError(
      r.error.issues.map((i) => (i.path.length ? `${flag(i.path)}: ${i.message}` : `${i.message} (--target-port, --dst, --src, --source-port, --interface, --node, --pid, --program, --cmdline or --cgroup)`)).join("\n"),
    );
  }
  return r.data;
}

/** --node (with --topology) or --pid/--program/--cmdline: the selector fields, each error naming its flag. */
function processFlags(f: Flags): { node?: string; process?: ProcessSelector; topology: Topology | null; flag?: string } {
  const given = PROCESS_FLAGS.filter((k) => f[k] !== undefined);
  if (f.topology !== undefined && f.node === undefined) throw new CliError("--topology: only with --node");
  if (f.node !== undefined) {
    if (given.length) throw new CliError(`--node: give the topology node alone, without ${given.map((k) => `--${k}`).join(", ")}`);
    const file = (f.topology as string | undefined) ?? "demo/topology.yaml";
    let topology: Topology;
    try {
      topology = loadTopology(file);
    } catch (e) {
      throw new CliError(`--topology: ${(e as Error).message}`);
    }
    const ids = topology.spec.nodes.map((n) => n.id);
    if (!ids.includes(f.node as string)) throw new CliError(`--node: unknown topology node "${f.node}" in ${file}; known: ${ids.join(", ")}`);
    return { node: f.node as string, topology, flag: "--node" };
  }
  if (!given.length) return { topology: null };
  const pids = (f.pid as string[] | undefined)?.map((p) => {
    if (!/^\d+$/.test(p)) throw new CliError(`--pid: expected a process ID (got "${p}")`);
    return Number(p);
  });
  const sel = Object.fromEntries(Object.entries({ pids, program: f.program, cmdline: f.cmdline }).filter(([, v]) => v !== undefined)) as ProcessSelector;
  return { process: sel, topology: null, flag: `--${given[0]}` };
}

/** The traffic the flags select: one target, or one per listening port of the chosen processes (said in `notes`). */
const broadNote = (reason: string | null) => (reason ? [`Broad selection allowed: ${reason}`] : []);

async function resolveFlags(raw: Record<string, unknown>, f: Flags, partitionFlags = false): Promise<{ targets: NetworkTarget[]; resolved: boolean; notes: string[] }> {
  if (f.engine !== undefined && f.container === undefined) throw new CliError("--engine: only with --container");
  const container = containerFlag(f.container as string[] | undefined, f.engine as string | undefined);
  if (container) {
    const other = ["node", ...PROCESS_FLAGS, "cgroup", "netns"].filter((k) => f[k] !== undefined);
    if (other.length) throw new CliError(`--${other[0]}: --container selects the containers' own namespace (or cgroup): give it without --${other[0]}`);
    const sel = selection({ ...raw, container }, partitionFlags);
    const broad = checkBroadNetwork(sel, null, f["allow-broad"] as string | undefined, "the traffic selected", (k) => flagFor(k, partitionFlags));
    const r = await resolveContainerTraffic(sel, null).catch((e: Error) => {
      throw new CliError(`--container: ${e.message}`);
    });
    if (!r.matched.length) throw new CliError(`--container: ${r.problem ?? `no running container matches ${describeContainerSelector(container)}`}`);
    const targets = r.matched as NetworkTarget[];
    return { targets, resolved: false, notes: [...broadNote(broad), `Resolved ${r.selector}: ${targets.length} target(s): ${targets.map(targetLabel).join("; ")}`] };
  }
  const { node, process: proc, topology, flag } = processFlags(f);
  const sel = selection({ ...raw, node, process: proc }, partitionFlags);
  const broad = checkBroadNetwork(sel, topology, f["allow-broad"] as string | undefined, "the traffic selected", (k) => flagFor(k, partitionFlags));
  const r = resolveNetwork(sel, topology);
  if (r.who === "network") return { targets: r.targets, resolved: false, notes: broadNote(broad) };
  if (!r.processes.length) {
    const prot = r.protected.length ? ` (${r.protected.length} matching process(es) are never targets: ${r.protected.map((p) => `${p.comm}[${p.pid}] ${p.reason}`).join("; ")})` : "";
    throw new CliError(`${flag}: ${r.who} matches no process${prot}`);
  }
  if (r.problem) throw new CliError(`${flag}: ${r.problem}`);
  const procs = r.processes.map((p) => `${p.comm}[${p.pid}]`).join(", ");
  return {
    targets: r.targets,
    resolved: true,
    notes: [...broadNote(broad), `Resolved ${r.who}: ${r.processes.length} process(es) (${procs}) listening on ${r.listeners.join(", ")}; ${r.targets.length} target(s): ${r.targets.map(targetLabel).join("; ")}`],
  };
}

interface Step {
  injector: AnyInjector;
  params: unknown;
  target: NetworkTarget;
  /** the seed-style line, e.g. "Applying 500ms latency to egress traffic on lo:5432" */
  headline: (dev: string | null) => string;
}

export async function main(argv: string[]): Promise<number> {
  const isPartition = argv[0] === "partition";
  const args = isPartition ? argv.slice(1) : argv;
  if (args.length === 0 && !isPartition) {
    process.stdout.write(USAGE + "\n");
    return 1;
  }
  const { values: f } = parseArgs({ args, strict: true, allowPositionals: false, options: isPartition ? PARTITION_OPTIONS : FAULT_OPTIONS }) as { values: Flags };
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const durationMs = durationFlag(f.duration as string | undefined, "60s");

  const json = !!f.json;
  const emit = (event: string, text: string, data: Record<string, unknown> = {}) =>
    process.stdout.write(json ? JSON.stringify({ ts: new Date().toISOString(), event, ...data, message: text }) + "\n" : `[${event === "error" ? "ERROR" : "INFO"}] ${text}\n`);

  const { steps, notes } = isPartition ? await partitionSteps(f) : await faultSteps(f);
  for (const n of notes) emit("resolved", n);
  for (const s of steps) {
    const a = await s.injector.available();
    if (!a.ok) throw new CliError(`${s.injector.name} is not available on this host: ${a.reason}`);
  }
  const dryRun = !!f["dry-run"];
  const executor = dryRun ? null : await openExecutor(`latency-monkey ${argv.join(" ")}`, (line) => emit("recovered", line));

  // planned once here to refuse early and to say how; runFaults plans again (journaled)
  const shaped: { dev: string; undo: NetUndo; step: Step }[] = [];
  for (const s of steps) {
    let u: NetUndo;
    try {
      u = await s.injector.plan(s.target, s.params) as NetUndo;
    } catch (e) {
      const msg = (e as Error).message.replace(/target\.(\w+)/g, (_m, k: string) => flagFor(k, isPartition));
      throw new CliError(`${s.injector.name}: ${msg}`);
    }
    if (u.dev && u.tc) {
      // several ports of one device share gameday's root; a packet takes one class, so overlapping selections cannot
      const dev = `${u.netns ?? ""}/${u.dev}`;
      const other = shaped.find((o) => o.dev === dev && overlaps(o.undo.tc!.key, u.tc!.key));
      if (other)
        throw new CliError(
          `${other.step.injector.name} on ${targetLabel(other.step.target)} and ${s.injector.name} on ${targetLabel(s.target)} would shape the same packets on ${u.dev} (a packet takes one tc class): choose one fault, or disjoint ports with --target-port`,
        );
      shaped.push({ dev, undo: u, step: s });
    }
    emit("plan", s.headline(u.dev ?? (u.mechanism === "proxy" || s.target.interface ? await deviceOf(s.target) : null)), { fault: s.injector.name, target: s.target, params: s.params });
    emit("mechanism", `Mechanism: ${describeNet(s.target, u)}`, { fault: s.injector.name, mechanism: u.mechanism, why: u.why });
    if (dryRun) {
      for (const c of u.commands) emit("command", `  ${c}`, { command: c });
      for (const c of revertTexts(u)) emit("command", `  revert: ${c}`, { revert: c });
    }
  }
  if (dryRun) {
    emit("dry-run", `Dry run: would hold for ${formatDuration(durationMs)}; nothing changed`, { durationMs });
    return 0;
  }

  const faults: PlannedFault[] = steps.map((s) => ({ injector: s.injector, target: s.target, params: s.params }));
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  try {
    emit("hold", `Holding for ${formatDuration(durationMs)} (Ctrl-C reverts now)`, { durationMs });
    const res = await runFaults(executor!, faults, durationMs, signal, (line, event) => emit(event === "injected" || event === "reverted" ? event : "error", line));
    emit(
      res.failures.length ? "error" : "done",
      res.failures.length
        ? `Done with ${res.failures.length} failure(s): ${res.failures.join("; ")}`
        : `Done: ${res.injected} injected, ${res.reverted} reverted and verified${res.completed ? "" : " (stopped early)"}; nothing left behind`,
      { injected: res.injected, reverted: res.reverted, failures: res.failures, completed: res.completed },
    );
    return res.failures.length ? 1 : 0;
  } finally {
    release();
    await executor!.close();
  }
}

async function deviceOf(t: NetworkTarget): Promise<string> {
  try {
    return await pickInterface(t);
  } catch {
    return "(no route)";
  }
}

function revertTexts(u: NetUndo): string[] {
  const cmds: Cmd[] = [];
  for (const c of [...u.chains].reverse()) {
    const ipt = (...a: string[]): Cmd => ({ netns: c.netns, argv: ["iptables", "-w", "5", "-t", c.table, ...a] });
    for (const h of c.hooks) cmds.push(ipt("-D", h, "-m", "comment", "--comment", c.comment, "-j", c.chain));
    cmds.push(ipt("-F", c.chain), ipt("-X", c.chain));
  }
  if (u.dev && u.tc) cmds.push(...tcRevertCommands(u.dev, u.netns, u.tc));
  else if (u.dev) cmds.push(tcRevertCommand(u.dev, u.netns));
  const extra = [...(u.dev && u.tc ? [`${cmdText(tcRevertCommand(u.dev, u.netns))}  # only when no other gameday class is left on ${u.dev}`] : []), ...(u.proxyTag ? [`kill the proxy (processes tagged ${u.proxyTag})`] : []), ...(u.cgroup ? [`rmdir ${u.cgroup}`] : [])];
  return [...cmds.map(cmdText), ...extra];
}

function where(t: NetworkTarget, dev: string | null, showDst: boolean): string {
  const port = t.dstPort ?? t.srcPort;
  const ns = t.netns ? ` in netns ${t.netns}` : "";
  const from = t.cgroup ? ` from cgroup ${t.cgroup}` : "";
  const dst = t.dst ?? (t.dstLocal ? "local" : "*");
  if (!dev) return `${t.direction} traffic${from} to ${showDst ? `${dst}${port ? `:${port}` : ""}` : port ? `port ${port}` : "anywhere"} (any interface)${ns}`;
  const ep = showDst ? `${dst}${port ? `:${port}` : ""}` : port ? String(port) : "*";
  return `${t.direction} traffic${from} on ${dev}:${ep}${ns}`;
}

async function faultSteps(f: Flags): Promise<{ steps: Step[]; notes: string[] }> {
  if (f.bandwidth !== undefined && f.rate !== undefined) throw new CliError("--rate: give --bandwidth or --rate, not both");
  const rate = f.bandwidth ?? f.rate;
  if (f.latency === undefined && f.loss === undefined && rate === undefined) throw new CliError("choose a fault: --latency D, --loss PCT or --bandwidth RATE (or the partition subcommand)");
  for (const [flag, needs] of [["jitter", "latency"], ["correlation", "latency"], ["distribution", "latency"], ["loss-correlation", "loss"], ["burst", "bandwidth"]] as const)
    if (f[flag] !== undefined && f[needs] === undefined && !(needs === "bandwidth" && rate !== undefined)) throw new CliError(`--${flag}: only with --${needs}`);
  const raw = {
    netns: f.netns,
    interface: f.interface,
    direction: f.direction,
    protocol: f.protocol,
    dst: f.dst,
    src: f.src,
    dstPort: num(f["target-port"]),
    srcPort: num(f["source-port"]),
    cgroup: f.cgroup,
  };
  const { targets, resolved, notes } = await resolveFlags(raw, f);
  const showDst = f.dst !== undefined || resolved;
  const steps: Step[] = [];
  for (const base of targets) steps.push(...(await faultStepsFor(f, base, showDst, resolved, rate as string | undefined)));
  return { steps, notes };
}

async function faultStepsFor(f: Flags, base: NetworkTarget, userDst: boolean, resolved: boolean, rate: string | undefined): Promise<Step[]> {
  const steps: Step[] = [];
  if (f.latency !== undefined) {
    const mech = f.mechanism ?? "auto";
    const params = parseParams<{ latency: number; jitter: number; mechanism: string }>(
      latency,
      { latency: f.latency, jitter: f.jitter, correlation: num(f.correlation), distribution: f.distribution, mechanism: mech === "iptables" ? "invalid" : mech },
      (k) => `--${k}`,
    );
    // the proxy forwards to one destination: local traffic unless told otherwise
    const proxy = params.mechanism === "proxy" || (params.mechanism === "auto" && (!!base.cgroup || !(await detectNetem()).ok));
    // (a resolved process target already says where it listens)
    const t = proxy && !base.dst && !resolved ? { ...base, dst: "127.0.0.1" } : base;
    const j = params.jitter ? ` ± ${formatDuration(params.jitter)}` : "";
    steps.push({ injector: latency, params, target: t, headline: (dev) => `Applying ${formatDuration(params.latency)}${j} latency to ${where(t, dev, userDst)}` });
  }
  if (f.loss !== undefined) {
    const mech = f.mechanism === "proxy" || f.mechanism === undefined ? "auto" : f.mechanism;
    const params = parseParams<{ percent: number }>(packetLoss, { percent: num(f.loss), correlation: num(f["loss-correlation"]), mechanism: mech }, (k) =>
      k === "percent" ? "--loss" : k === "correlation" ? "--loss-correlation" : `--${k}`,
    );
    steps.push({ injector: packetLoss, params, target: base, headline: (dev) => `Dropping ${params.percent}% of ${where(base, dev, userDst)}` });
  }
  if (rate !== undefined) {
    const params = parseParams<{ rate: string }>(bandwidth, { rate, burst: f.burst }, (k) => (k === "rate" ? (f.rate !== undefined ? "--rate" : "--bandwidth") : `--${k}`));
    steps.push({ injector: bandwidth, params, target: base, headline: (dev) => `Limiting ${where(base, dev, userDst)} to ${params.rate}` });
  }
  return steps;
}

async function partitionSteps(f: Flags): Promise<{ steps: Step[]; notes: string[] }> {
  const toProcess = f.node !== undefined || PROCESS_FLAGS.some((k) => f[k] !== undefined);
  if (f.between === undefined && f.cgroup === undefined && f.container === undefined) throw new CliError("--between: give one side (address or CIDR, --cgroup PATH or --container NAME), and the other with --and");
  if (f.and === undefined && !toProcess) throw new CliError("--and: give the other side (address or CIDR, or --node, --pid, --program or --cmdline)");
  const raw = {
    netns: f.netns,
    interface: f.interface,
    // a node or process is reached over the TCP ports it listens on
    protocol: f.protocol ?? (toProcess ? "tcp" : "all"),
    src: f.between,
    dst: f.and,
    dstPort: num(f.port),
    cgroup: f.cgroup,
    // a cgroup side is cut on the way out only (see injectors/partition.ts); a container's own namespace both ways whatever it says
    direction: f.cgroup !== undefined || f.container !== undefined ? "egress" : "both",
  };
  const { targets, notes } = await resolveFlags(raw, f, true);
  const params = parseParams<{ action: string }>(partition, { action: f.action }, (k) => `--${k}`);
  const steps = targets.map((t) => {
    const side1 = t.container ? `container ${t.container}` : t.cgroup ? `cgroup ${t.cgroup}${t.src ? ` (${t.src})` : ""}` : t.src;
    const side2 = `${t.dst ?? (t.dstLocal ? "local" : "*")}${t.dstPort ? ` port ${t.dstPort}` : ""}`;
    const how = t.cgroup ? `${params.action} what the cgroup sends` : `${params.action} both ways`;
    return {
      injector: partition,
      params,
      target: t,
      headline: () => `Partitioning ${side1} <-> ${side2} (${t.protocol}, ${how})${t.container && t.netns ? " in its network namespace" : t.netns ? ` in netns ${t.netns}` : " in this host's namespace"}`,
    };
  });
  return { steps, notes };
}
