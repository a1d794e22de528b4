// gameday latency-monkey — latency, packet loss, bandwidth caps and partitions
// on a slice of network traffic, without a worker. The same injectors and the
// same journal as an experiment: every rule, qdisc and proxy is recorded
// before it exists and removed at the end, on Ctrl-C, or after a crash at the
// next start of any standalone CLI (or `gameday recover`).
import { parseArgs } from "node:util";
import { formatDuration } from "../lib/duration";
import { networkSelectorSchema } from "../lib/experiment";
import { cmdText, detectNetem, pickInterface, tcRevertCommand, type Cmd } from "../lib/net";
import { bandwidth } from "../injectors/bandwidth";
import { latency } from "../injectors/latency";
import { describeNet, type NetUndo } from "../injectors/net-fault";
import { packetLoss } from "../injectors/packet-loss";
import { partition } from "../injectors/partition";
import type { AnyInjector, NetworkTarget } from "../injectors/types";
import { CliError } from "./client";
import { durationFlag, flagNumber, interruptible, parseParams, recoverBeforeStart, runFaults, type PlannedFault } from "./standalone";

const USAGE = `gameday latency-monkey — network faults on a slice of traffic

  gameday latency-monkey --target-port PORT --latency D [--jitter D] [options]
  gameday latency-monkey --target-port PORT --loss PCT [options]
  gameday latency-monkey --target-port PORT --bandwidth RATE [options]
      (--latency, --loss and --bandwidth combine; --rate is --bandwidth)
  gameday latency-monkey partition --between A --and B [--action drop|reject]

Faults:
  --latency D         add D (e.g. 500ms) to every packet/chunk of the traffic
  --jitter D          ± D around the latency (distribution: --distribution
                      normal|pareto|paretonormal|uniform, --correlation PCT)
  --loss PCT          drop PCT % of the packets (--loss-correlation PCT needs netem)
  --bandwidth RATE    cap the traffic at RATE (tc syntax: 1mbit, 500kbit, 2mbps)

Traffic (every given field must match):
  --target-port P     destination port (the seed's flag); --source-port P
  --dst IP[/N]        destination address; --src IP[/N] source address
  --protocol P        tcp (default), udp, icmp, all
  --direction D       egress (default), ingress, both
  --interface IF      device (default: the route's towards --dst, else lo
                      for local traffic, else the default route's)
  --netns NS          act inside network namespace NS (ip netns)

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
  duration: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
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

type Flags = Record<string, string | boolean | undefined>;

const TARGET_FLAG: Record<string, string> = { dstPort: "--target-port", srcPort: "--source-port", dst: "--dst", src: "--src", netns: "--netns", interface: "--interface", direction: "--direction", protocol: "--protocol" };

function num(v: string | boolean | undefined): unknown {
  return typeof v === "string" ? flagNumber(v, { percentSign: true }) : v;
}

function target(raw: Record<string, unknown>, partitionFlags = false): NetworkTarget {
  const r = networkSelectorSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!r.success) {
    const flag = (k: string) => (partitionFlags ? ({ src: "--between", dst: "--and", dstPort: "--port" } as Record<string, string>)[k] : undefined) ?? TARGET_FLAG[k] ?? k;
    throw new CliError(r.error.issues.map((i) => (i.path.length ? `${flag(String(i.path[0]))}: ${i.message}` : `${i.message} (--target-port, --dst, --src, --source-port or --interface)`)).join("\n"));
  }
  return { kind: "network", ...r.data };
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

  const steps = isPartition ? partitionSteps(f) : faultSteps(f);
  for (const s of steps) {
    const a = await s.injector.available();
    if (!a.ok) throw new CliError(`${s.injector.name} is not available on this host: ${a.reason}`);
  }
  const dryRun = !!f["dry-run"];
  if (!dryRun) await recoverBeforeStart((line) => emit("recovered", line));

  // planned once here to refuse early and to say how; runFaults plans again (journaled)
  for (const s of steps) {
    let u: NetUndo;
    try {
      u = s.injector.plan(s.target, s.params) as NetUndo;
    } catch (e) {
      const msg = (e as Error).message.replace(/target\.(\w+)/g, (_m, k: string) => (isPartition ? { src: "--between", dst: "--and", dstPort: "--port" }[k] : undefined) ?? TARGET_FLAG[k] ?? k);
      throw new CliError(`${s.injector.name}: ${msg}`);
    }
    emit("plan", s.headline(u.dev ?? (u.mechanism === "proxy" || s.target.interface ? deviceOf(s.target) : null)), { fault: s.injector.name, target: s.target, params: s.params });
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
    const res = await runFaults(`latency-monkey ${argv.join(" ")}`, faults, durationMs, signal, (line) =>
      emit(/FAILED|failed/.test(line) ? "error" : line.startsWith("reverted ") ? "reverted" : line.startsWith("injected ") ? "injected" : "info", line),
    );
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
  }
}

function deviceOf(t: NetworkTarget): string {
  try {
    return pickInterface(t);
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
  if (u.dev) cmds.push(tcRevertCommand(u.dev, u.netns));
  const extra = [...(u.proxyTag ? [`kill the proxy (processes tagged ${u.proxyTag})`] : []), ...(u.cgroup ? [`rmdir ${u.cgroup}`] : [])];
  return [...cmds.map(cmdText), ...extra];
}

function where(t: NetworkTarget, dev: string | null, userDst: boolean): string {
  const port = t.dstPort ?? t.srcPort;
  const ns = t.netns ? ` in netns ${t.netns}` : "";
  if (!dev) return `${t.direction} traffic to ${userDst ? `${t.dst}${port ? `:${port}` : ""}` : port ? `port ${port}` : "anywhere"} (any interface)${ns}`;
  const ep = userDst ? `${t.dst}${port ? `:${port}` : ""}` : port ? String(port) : "*";
  return `${t.direction} traffic on ${dev}:${ep}${ns}`;
}

function faultSteps(f: Flags): Step[] {
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
  };
  const base = target(raw);
  const userDst = f.dst !== undefined;
  const steps: Step[] = [];
  if (f.latency !== undefined) {
    const mech = f.mechanism ?? "auto";
    const params = parseParams<{ latency: number; jitter: number; mechanism: string }>(
      latency,
      { latency: f.latency, jitter: f.jitter, correlation: num(f.correlation), distribution: f.distribution, mechanism: mech === "iptables" ? "invalid" : mech },
      (k) => `--${k}`,
    );
    // the proxy forwards to one destination: local traffic unless told otherwise
    const proxy = params.mechanism === "proxy" || (params.mechanism === "auto" && !detectNetem().ok);
    const t = proxy && !base.dst ? { ...base, dst: "127.0.0.1" } : base;
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

function partitionSteps(f: Flags): Step[] {
  if (f.between === undefined) throw new CliError("--between: give one side (address or CIDR), and the other with --and");
  if (f.and === undefined) throw new CliError("--and: give the other side (address or CIDR)");
  const t = target({ netns: f.netns, interface: f.interface, protocol: f.protocol ?? "all", src: f.between, dst: f.and, dstPort: num(f.port), direction: "both" }, true);
  const params = parseParams<{ action: string }>(partition, { action: f.action }, (k) => `--${k}`);
  return [
    {
      injector: partition,
      params,
      target: t,
      headline: () => `Partitioning ${t.src} <-> ${t.dst}${t.dstPort ? ` port ${t.dstPort}` : ""} (${t.protocol}, ${params.action} both ways)${t.netns ? ` in netns ${t.netns}` : " in this host's namespace"}`,
    },
  ];
}
