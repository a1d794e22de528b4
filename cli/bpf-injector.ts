// gameday bpf-injector — lie to a running process about what the kernel did:
// connect() failing with an errno (cgroup/connect BPF), a share of its
// packets dropped (cgroup_skb BPF), chosen syscalls failing (ptrace). The
// same injectors and journal as an experiment: every attachment is recorded
// before it exists and detached at the end, on Ctrl-C, or by the reaper when
// this CLI dies.
import { parseArgs } from "node:util";
import { formatDuration } from "../lib/duration";
import { getInjector, targetLabel, type AnyInjector, type ProcessTarget } from "../injectors";
import { countersOf } from "../injectors/bpf/helper";
import { CliError } from "./client";
import { ALLOW_BROAD_OPTION, ALLOW_BROAD_USAGE, durationFlag, flagNumber, interruptible, openExecutor, parseParams, runFaults, stamp, STANDALONE_OPTIONS, type PlannedFault } from "./standalone";
import { resolveTargets, type Flags } from "./stress";

const USAGE = `gameday bpf-injector — errors and drops for a running process, no restart

  gameday bpf-injector connect-error SELECTOR [--errno E] [--dst IP[/N]] [--port P] [options]
      connect() (and UDP sends with --protocol udp|all) fail with E
      (default ECONNREFUSED): cgroup/connect4|6 BPF with bpf_set_retval
  gameday bpf-injector packet-drop SELECTOR --probability P [--direction D] [options]
      drop a share P (0..1) of the process's packets: cgroup_skb BPF;
      --direction egress|ingress|both (default both)
  gameday bpf-injector syscall-error SELECTOR --syscall NAME [--errno E] [--path GLOB]
      the named syscalls (read, write, openat, fsync, connect, any; repeatable)
      fail with E (default EIO): bpf_override_return where the kernel has it,
      else ptrace (--mechanism auto|ptrace|kprobe-override); --path only on
      files matching GLOB (ptrace)

SELECTOR: --pid PID (repeatable), --name COMM, --cmdline REGEX, or --node ID
  (a topology node; --topology FILE, default demo/topology.yaml)
${ALLOW_BROAD_USAGE}

Common:
  --probability P   share of the matching calls/packets to fail (default 1)
  --after N         let the first N matching calls through ("from the 3rd on": 2)
  --dst IP[/N]      only these peers (repeatable); --port P only these ports
  --protocol P      tcp (default for connect-error), udp, all
  --scope S         BPF faults: process (default: the target moves into a
                    cgroup of its own; sockets it opens from now on) or cgroup
                    (its own cgroup in place: every socket of every process in
                    it, e.g. a service or container; refused at the v2 root)
  --duration D      hold for D (default 60s); Ctrl-C reverts early
  --dry-run         say what would be done, change nothing
  --json            one JSON event per line

BPF faults move the target (and its children in its cgroup) into a cgroup
v2 folder of its own under its cgroup for the duration and back after. The
mechanism chosen (and why others were not) is printed; counters read back
from the BPF maps or the tracer say what the fault touched. Needs root and
bash bpf/build.sh (clang, libbpf-dev). Exit 0 when everything was injected
and reverted, 1 on bad input or any failure.`;

const FAULTS = ["connect-error", "packet-drop", "syscall-error"] as const;
const OPTIONS = {
  ...STANDALONE_OPTIONS,
  ...ALLOW_BROAD_OPTION,
  pid: { type: "string", multiple: true },
  name: { type: "string" },
  cmdline: { type: "string" },
  node: { type: "string" },
  topology: { type: "string" },
  errno: { type: "string" },
  probability: { type: "string" },
  after: { type: "string" },
  dst: { type: "string", multiple: true },
  port: { type: "string", multiple: true },
  protocol: { type: "string" },
  direction: { type: "string" },
  syscall: { type: "string", multiple: true },
  path: { type: "string" },
  scope: { type: "string" },
  mechanism: { type: "string" },
} as const;

/** Flags to the fault's params; only those given (zod fills defaults, and names the flag in errors). */
function rawParams(fault: string, f: Flags): Record<string, unknown> {
  const nums = (v: unknown) => (v as string[] | undefined)?.map((x) => flagNumber(x));
  const raw: Record<string, unknown> = {
    errno: f.errno,
    probability: flagNumber(f.probability as string | undefined),
    after: flagNumber(f.after as string | undefined),
    dst: f.dst,
    port: nums(f.port),
    protocol: f.protocol,
    direction: f.direction,
    syscall: f.syscall,
    path: f.path,
    scope: f.scope,
    mechanism: f.mechanism,
  };
  const allowed = new Set(Object.keys((getInjector(fault)!.params as unknown as { shape?: object }).shape ?? raw));
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) delete raw[k];
    else if (!allowed.has(k)) throw new CliError(`--${k}: ${fault} has no such setting`);
  }
  return raw;
}

export async function main(argv: string[]): Promise<number> {
  const [fault, ...rest] = argv;
  if (!fault || fault === "--help" || fault === "-h" || fault === "help") {
    process.stdout.write(USAGE + "\n");
    return fault ? 0 : 1;
  }
  if (!(FAULTS as readonly string[]).includes(fault)) throw new CliError(`unknown fault "${fault}": expected one of ${FAULTS.join(", ")} (see gameday bpf-injector --help)`);
  const { values: f } = parseArgs({ args: rest, strict: true, allowPositionals: false, options: OPTIONS }) as { values: Flags };
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const injector: AnyInjector = getInjector(fault)!;
  const durationMs = durationFlag(f.duration as string | undefined, "60s");
  // repeatable flags are lists: `--port.0` reads better as `--port`
  const params = parseParams(injector, rawParams(fault, f), (field) => `--${field.replace(/\.\d+$/, "")}`);
  const targets: ProcessTarget[] = resolveTargets(f);

  const json = !!f.json;
  const emit = (event: string, text: string, data: Record<string, unknown> = {}) => {
    const now = new Date();
    process.stdout.write(json ? JSON.stringify({ ts: now.toISOString(), event, ...data, message: text }) + "\n" : `[${stamp(now)}] ${text}\n`);
  };
  const a = await injector.available();
  if (!a.ok) throw new CliError(`${fault} is not available on this host: ${a.reason}`);

  // plan() is read-only: it says the mechanism and the cgroup folder before anything changes
  for (const t of targets) {
    const undo = await injector.plan(t, params).catch((e: Error) => Promise.reject(new CliError(`${targetLabel(t)}: ${e.message}`)));
    emit("plan", `${fault} on ${targetLabel(t)}: ${injector.describe?.(t, undo) ?? ""}`, { target: t, mechanism: injector.describe?.(t, undo) });
  }
  if (f["dry-run"]) {
    emit("dry-run", `dry run: would hold ${fault} for ${formatDuration(durationMs)}; nothing changed`, { durationMs });
    return 0;
  }
  const executor = await openExecutor(`bpf-injector ${argv.join(" ")}`, (line) => emit("recovered", line));
  const tags: string[] = [];
  const faults: PlannedFault[] = targets.map((target) => ({ injector, target, params }));
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  // the counters, while the fault holds (the final ones are in the revert's detail)
  const timer = setInterval(() => {
    for (const tag of tags) {
      const c = countersOf(tag);
      if (c) emit("counters", `${fault}: ${c.seen} seen, ${c.matched} matched, ${c.injected} failed/dropped`, { ...c });
    }
  }, Math.min(5000, Math.max(1000, Math.floor(durationMs / 4))));
  timer.unref();
  try {
    const res = await runFaults(
      executor,
      faults,
      durationMs,
      signal,
      (line, event) => emit(event === "injected" || event === "reverted" ? event : "error", line),
      { onChange: (e) => e.type === "journaled" && tags.push((e.change.undo as { tag: string }).tag), beforeRevert: () => clearInterval(timer) },
    );
    emit(
      "done",
      res.failures.length
        ? `done with ${res.failures.length} failure(s): ${res.failures.join("; ")}`
        : `done: ${res.injected} injected, ${res.reverted} reverted and verified${res.completed ? "" : " (stopped early)"}; nothing left attached`,
      { injected: res.injected, reverted: res.reverted, failures: res.failures, completed: res.completed },
    );
    return res.failures.length ? 1 : 0;
  } finally {
    clearInterval(timer);
    release();
    await executor.close();
  }
}
