// gameday dns-poisoner — poison DNS answers for a namespace, a cgroup or
// processes, without a worker. The same fault (dns) and journal as an
// experiment step: the poisoner, its redirect rules and a namespace's
// resolv.conf are recorded before they exist and undone at the end, on
// Ctrl-C, or by the reaper if this command dies. `--serve` only runs the
// poisoner on an address (nothing on the host changes, nothing to journal).
import fs from "node:fs";
import { isIPv6 } from "node:net";
import { parseArgs } from "node:util";
import YAML from "yaml";
import { formatDuration } from "../lib/duration";
import { loadTopology, type Topology } from "../lib/topology";
import { dns, effectOf, readStats, type DnsParams, type DnsUndo } from "../injectors/dns";
import { ruleText, upstreamSchema, type Rule } from "../injectors/dns/rules";
import { DnsPoisoner } from "../injectors/dns/server";
import { resolveNetwork, targetLabel } from "../injectors/targets/resolve";
import { resolveContainerTraffic } from "../injectors/docker/groups";
import { containerFlag } from "./docker-groups";
import type { NetworkSelector } from "../lib/experiment";
import type { NetworkTarget } from "../injectors/types";
import { CliError } from "./client";
import { durationFlag, flagNumber, interruptible, openExecutor, parseParams, runFaults, sleep, STANDALONE_OPTIONS, type PlannedFault } from "./standalone";

const USAGE = `gameday dns-poisoner — wrong, failing, slow or missing DNS answers

  gameday dns-poisoner --netns NS --name db.internal --answer nxdomain
  gameday dns-poisoner --cgroup system.slice/app.service --name '*.svc' --match glob --answer servfail
  gameday dns-poisoner --pid 1234 --name internal --match suffix --answer delay --delay 2s --jitter 500ms
  gameday dns-poisoner --serve 127.0.0.1:5353 --upstream 127.0.0.1 --name x.test --answer timeout

What (one rule per --name, all with the same answer; or --rules FILE):
  --name PATTERN       the query name (repeatable)
  --match M            exact (default), suffix (the name and below it),
                       glob (* any characters, ? one), regex
  --type T,...         A, AAAA, CNAME, SRV, MX, TXT or any (default any)
  --answer KIND        nxdomain, servfail, refused, address (a wrong record),
                       empty (no records), truncate (TC bit), delay, timeout
                       (no answer)
  --probability P      chance 0..1 per matching query (default 1)
  --delay D, --jitter D   for delay: hold the real answer D ± jitter
  --address IP, --address6 IP, --target NAME, --text T, --ttl S
                       the wrong records of address (A, AAAA, CNAME/MX/SRV, TXT)
  --rules FILE         YAML or JSON list of rules with these fields

Whose queries (redirected with iptables nat, and ip6tables for IPv6; UDP and TCP):
  --netns NS           every process in network namespace NS (its
                       /etc/netns/NS/resolv.conf is also pointed at the
                       poisoner unless --resolv-conf keep)
  --cgroup PATH        only what processes in this cgroup v2 folder send
  --container NAME     a Docker container's queries, inside its network
                       namespace (its resolv.conf is pointed at the poisoner
                       too); the exact name or FIELD:VALUE (label:K=V,
                       name:REGEX, service:S, ...), repeatable; --engine URL
  --pid PID, --node ID [--topology FILE]
                       these processes: their namespace and cgroup folder
  --dst IP             only queries to this resolver address (IPv4 or IPv6)
  --port N             the DNS port they query (default 53)

  --upstream IP[:PORT] resolver to forward to (default: the namespace's
                       resolv.conf's first nameserver)
  --serve HOST:PORT    only serve on HOST:PORT (no redirect, no journal)
  --report D           print the counters every D while they change (default 5s)
  --duration D         hold for D (default 60s); Ctrl-C reverts early
  --dry-run            print what would change, change nothing
  --json               one JSON event per line

Needs root (iptables, cgroup v2) except with --serve. Exit 0 when everything
was injected and reverted, 3 when no query was poisoned (the run was
inconclusive), 1 on bad input or any failure.`;

const OPTIONS = {
  name: { type: "string", multiple: true },
  match: { type: "string" },
  type: { type: "string" },
  answer: { type: "string" },
  probability: { type: "string" },
  delay: { type: "string" },
  jitter: { type: "string" },
  address: { type: "string" },
  address6: { type: "string" },
  target: { type: "string" },
  text: { type: "string" },
  ttl: { type: "string" },
  rules: { type: "string" },
  netns: { type: "string" },
  cgroup: { type: "string" },
  container: { type: "string", multiple: true },
  engine: { type: "string" },
  pid: { type: "string", multiple: true },
  node: { type: "string" },
  topology: { type: "string" },
  dst: { type: "string" },
  port: { type: "string" },
  upstream: { type: "string" },
  "resolv-conf": { type: "string" },
  serve: { type: "string" },
  report: { type: "string" },
  ...STANDALONE_OPTIONS,
} as const;

type Flags = Record<string, string | string[] | boolean | undefined>;

const RULE_FLAGS = ["match", "type", "answer", "probability", "delay", "jitter", "address", "address6", "target", "text", "ttl"] as const;

/** The rules: from --rules FILE, or one per --name with the other rule flags. */
function rawRules(f: Flags): unknown[] {
  const names = (f.name as string[] | undefined) ?? [];
  if (f.rules !== undefined) {
    const given = [...(names.length ? ["name"] : []), ...RULE_FLAGS.filter((k) => f[k] !== undefined)];
    if (given.length) throw new CliError(`--rules: give the rules in the file, without ${given.map((k) => `--${k}`).join(", ")}`);
    let doc: unknown;
    try {
      doc = YAML.parse(fs.readFileSync(f.rules as string, "utf8"));
    } catch (e) {
      throw new CliError(`--rules: cannot read ${f.rules}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
    }
    if (!Array.isArray(doc)) throw new CliError(`--rules: ${f.rules} must hold a list of rules`);
    return doc;
  }
  if (!names.length) throw new CliError("--name: say which names to poison (or --rules FILE)");
  if (f.answer === undefined) throw new CliError(`--answer: say how to answer: nxdomain, servfail, refused, address, empty, truncate, delay or timeout`);
  const num = (v: Flags[string]) => (typeof v === "string" ? flagNumber(v) : v);
  return names.map((name) => ({
    name,
    match: f.match,
    types: typeof f.type === "string" ? f.type.split(",").map((t) => (t.trim().toLowerCase() === "any" ? "any" : t.trim().toUpperCase())) : undefined,
    answer: f.answer,
    probability: num(f.probability),
    delay: f.delay,
    jitter: f.jitter,
    address: f.address,
    address6: f.address6,
    target: f.target,
    text: f.text,
    ttl: num(f.ttl),
  }));
}

/** A params field path to the flag that sets it (rules from a file keep their index). */
function flagOf(fromFile: boolean) {
  return (field: string) => {
    const m = /^rules\.(\d+)\.(\w+)/.exec(field);
    if (m) return fromFile ? `--rules: rule ${m[1]} field ${m[2]}` : m[2] === "types" ? "--type" : `--${m[2]}`;
    return field === "resolvConf" ? "--resolv-conf" : `--${field}`;
  };
}

function params(f: Flags): DnsParams {
  const raw = {
    rules: rawRules(f).map((r) => (r && typeof r === "object" ? Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) : r)),
    upstream: f.upstream,
    port: typeof f.port === "string" ? flagNumber(f.port) : undefined,
    resolvConf: f["resolv-conf"],
  };
  return parseParams<DnsParams>(dns, Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)), flagOf(f.rules !== undefined));
}

/** Whose queries: one target for --netns/--cgroup/--dst, or one per namespace and cgroup of the chosen processes. */
async function targets(f: Flags, port: number): Promise<{ targets: NetworkTarget[]; notes: string[] }> {
  if (f.engine !== undefined && f.container === undefined) throw new CliError("--engine: only with --container");
  const container = containerFlag(f.container as string[] | undefined, f.engine as string | undefined);
  if (container) {
    for (const k of ["netns", "cgroup", "pid", "node"]) if (f[k] !== undefined) throw new CliError(`--container: the container's own namespace (or cgroup) is used; give it without --${k}`);
    const r = await resolveContainerTraffic({ container, direction: "egress", protocol: "all", dstPort: port, ...(typeof f.dst === "string" ? { dst: f.dst } : {}) }, null).catch((e: Error) => {
      throw new CliError(`--container: ${e.message}`);
    });
    if (!r.matched.length) throw new CliError(`--container: ${r.problem ?? `no running container matches ${r.selector}`}`);
    const ts = r.matched as NetworkTarget[];
    return { targets: ts, notes: [`Resolved ${r.selector}: ${ts.map(targetLabel).join("; ")}`] };
  }
  const byProcess = f.pid !== undefined || f.node !== undefined;
  if (f.topology !== undefined && f.node === undefined) throw new CliError("--topology: only with --node");
  if (byProcess && (f.netns !== undefined || f.cgroup !== undefined)) throw new CliError(`${f.pid ? "--pid" : "--node"}: the processes' namespace and cgroup are used; give it without --netns and --cgroup`);
  if (f.netns !== undefined && !/^[a-zA-Z0-9_.-]{1,64}$/.test(f.netns as string)) throw new CliError(`--netns: expected a network namespace name (got "${f.netns}")`);
  if (f.cgroup !== undefined && !/^[\w.@:+-]+(\/[\w.@:+-]+)*$/.test(f.cgroup as string)) throw new CliError(`--cgroup: expected a cgroup v2 path relative to the v2 root, like system.slice/app.service (got "${f.cgroup}")`);
  if (f.dst !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(f.dst as string) && !isIPv6(f.dst as string)) throw new CliError(`--dst: expected the IPv4 or IPv6 address of a resolver (got "${f.dst}")`);
  const extra = { ...(f.dst ? { dst: f.dst as string } : {}) };
  if (!byProcess) {
    if (f.netns === undefined && f.cgroup === undefined) throw new CliError("--netns: say whose queries to poison: --netns NS, --cgroup PATH, --container NAME, --pid PID or --node ID (or --serve HOST:PORT)");
    const t: NetworkTarget = { kind: "network", direction: "egress", protocol: "all", dstPort: port, ...(f.netns ? { netns: f.netns as string } : {}), ...(f.cgroup ? { cgroup: f.cgroup as string } : {}), ...extra };
    return { targets: [t], notes: [] };
  }
  const flag = f.node !== undefined ? "--node" : "--pid";
  let from: NetworkSelector["from"];
  let topology: Topology | null = null;
  if (f.node !== undefined) {
    try {
      topology = loadTopology((f.topology as string | undefined) ?? "demo/topology.yaml");
    } catch (e) {
      throw new CliError(`--topology: ${(e as Error).message}`);
    }
    from = { node: f.node as string };
  } else
    from = {
      process: {
        pids: (f.pid as string[]).map((p) => {
          if (!/^\d+$/.test(p)) throw new CliError(`--pid: expected a process ID (got "${p}")`);
          return Number(p);
        }),
      },
    };
  let r;
  try {
    r = resolveNetwork({ from, direction: "egress", protocol: "all", dstPort: port, ...extra }, topology);
  } catch (e) {
    throw new CliError(`${flag}: ${(e as Error).message}`);
  }
  if (!r.processes.length) throw new CliError(`${flag}: matches no process${r.protected.length ? ` (protected: ${r.protected.map((p) => `${p.comm}[${p.pid}] ${p.reason}`).join("; ")})` : ""}`);
  if (r.problem) throw new CliError(`${flag}: ${r.problem}`);
  return { targets: r.targets, notes: [`Resolved ${r.who}: ${r.processes.map((p) => `${p.comm}[${p.pid}]`).join(", ")} → ${r.targets.map(targetLabel).join("; ")}`] };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stdout.write(USAGE + "\n");
    return 1;
  }
  const { values: f } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: OPTIONS }) as { values: Flags };
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const durationMs = durationFlag(f.duration as string | undefined, "60s");
  const reportMs = durationFlag(f.report as string | undefined, "5s");
  const json = !!f.json;
  const emit = (event: string, text: string, data: Record<string, unknown> = {}) =>
    process.stdout.write(json ? JSON.stringify({ ts: new Date().toISOString(), event, ...data, message: text }) + "\n" : `[${event === "error" ? "ERROR" : "INFO"}] ${text}\n`);
  const p = params(f);
  for (const r of p.rules) emit("rule", `Rule: ${ruleText(r)}`, { rule: r });
  if (f.serve !== undefined) return serve(f, p, durationMs, reportMs, emit);

  const { targets: ts, notes } = await targets(f, p.port);
  for (const n of notes) emit("resolved", n);
  const a = await dns.available();
  if (!a.ok) throw new CliError(`dns is not available on this host: ${a.reason}`);
  const dryRun = !!f["dry-run"];
  for (const t of ts) {
    let u: DnsUndo;
    try {
      u = await dns.plan(t, p);
    } catch (e) {
      throw new CliError(`dns: ${(e as Error).message.replace(/target\.(\w+)/g, "--$1").replace(/params\.(\w+)/g, "--$1")}`);
    }
    emit("plan", `Poisoning DNS for ${targetLabel(t)}: ${dns.describe!(t, u)}`, { target: t });
    if (dryRun) for (const c of u.commands) emit("command", `  ${c}`, { command: c });
  }
  if (dryRun) {
    emit("dry-run", `Dry run: would hold for ${formatDuration(durationMs)}; nothing changed`, { durationMs });
    return 0;
  }

  const executor = await openExecutor(`dns-poisoner ${argv.join(" ")}`, (line) => emit("recovered", line));
  const faults: PlannedFault[] = ts.map((t) => ({ injector: dns, target: t, params: p }));
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  const statsFiles: string[] = [];
  let touched = 0;
  const reporter = report(statsFiles, reportMs, signal, (line, counters) => emit("counters", line, { counters }));
  try {
    emit("hold", `Holding for ${formatDuration(durationMs)} (Ctrl-C reverts now)`, { durationMs });
    const res = await runFaults(executor, faults, durationMs, signal, (line, event) => emit(event === "injected" || event === "reverted" ? event : "error", line), {
      onChange: (e) => {
        if (e.type === "journaled") statsFiles.push((e.change.undo as DnsUndo).statsFile);
        if (e.type === "reverted" && e.change.effect) {
          touched += Math.max(0, e.change.effect.touched);
          emit("effect", `Effect on ${e.change.targetLabel}: ${e.change.effect.summary}`, { effect: e.change.effect });
        }
      },
      beforeRevert: () => reporter.stop(),
    });
    const idle = res.failures.length === 0 && res.reverted > 0 && touched === 0;
    emit(
      res.failures.length ? "error" : "done",
      res.failures.length
        ? `Done with ${res.failures.length} failure(s): ${res.failures.join("; ")}`
        : `Done: ${res.injected} injected, ${res.reverted} reverted and verified${res.completed ? "" : " (stopped early)"}; nothing left behind${idle ? ". No query was poisoned: inconclusive (the names were not asked, were cached, or were resolved elsewhere)" : ""}`,
      { injected: res.injected, reverted: res.reverted, failures: res.failures, completed: res.completed, poisoned: touched },
    );
    return res.failures.length ? 1 : idle ? 3 : 0;
  } finally {
    reporter.stop();
    release();
    await executor.close();
  }
}

/** Print the poisoners' counters every ms while they change, until stopped. */
function report(files: string[], ms: number, signal: AbortSignal, say: (line: string, counters: unknown) => void): { stop(): void } {
  const ac = new AbortController();
  const both = AbortSignal.any([signal, ac.signal]);
  void (async () => {
    const last = new Map<string, string>();
    while (!both.aborted) {
      await sleep(ms, both);
      if (both.aborted) break;
      for (const file of files) {
        const s = readStats(file);
        if (!s) continue;
        const line = effectOf(s).summary;
        if (last.get(file) !== line) say(`Counters: ${line}`, s);
        last.set(file, line);
      }
    }
  })();
  return { stop: () => ac.abort() };
}

/** --serve: the poisoner alone, on an address; nothing on the host changes. */
async function serve(f: Flags, p: DnsParams, durationMs: number, reportMs: number, emit: (event: string, text: string, data?: Record<string, unknown>) => void): Promise<number> {
  const at = upstreamSchema.safeParse(f.serve);
  if (!at.success) throw new CliError(`--serve: ${at.error.issues[0].message.replace("of a resolver", "to listen on")}`);
  if (!p.upstream) throw new CliError("--upstream: --serve needs the resolver to forward to");
  for (const k of ["netns", "cgroup", "container", "pid", "node", "dst"]) if (f[k] !== undefined) throw new CliError(`--${k}: --serve redirects nobody; query ${f.serve} directly`);
  if (f["dry-run"]) {
    emit("dry-run", `Dry run: would serve on ${f.serve} for ${formatDuration(durationMs)}, forwarding to ${p.upstream.host}:${p.upstream.port}`);
    return 0;
  }
  const server = new DnsPoisoner({ rules: p.rules as Rule[], upstream: p.upstream, host: at.data.host, port: at.data.port });
  try {
    await server.start();
  } catch (e) {
    throw new CliError(`--serve: cannot listen on ${f.serve}: ${(e as Error).message}`);
  }
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  emit("serving", `Serving DNS on ${f.serve} (UDP and TCP), forwarding to ${p.upstream.host}:${p.upstream.port} for ${formatDuration(durationMs)} (Ctrl-C stops)`);
  let last = "";
  const end = Date.now() + durationMs;
  try {
    while (!signal.aborted && Date.now() < end) {
      await sleep(Math.min(reportMs, end - Date.now()), signal);
      const line = effectOf(server.stats()).summary;
      if (line !== last) emit("counters", `Counters: ${line}`, { counters: server.stats() });
      last = line;
    }
  } finally {
    release();
    await server.stop();
  }
  const e = effectOf(server.stats());
  emit("done", `Done: ${e.summary}`, { counters: e.counters });
  return e.touched === 0 ? 3 : 0;
}
