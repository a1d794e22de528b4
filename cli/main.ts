// gameday: run, watch, abort and halt experiments on a worker; validate files.
import fs from "node:fs";
import { parseArgs } from "node:util";
// the injectors fill lib/catalog, which experiment validation reads
import "../injectors";
import { API, FINAL_RUN_STATES, type RunRecord, type UnrevertedChange } from "../lib/contract";
import { experimentJsonSchema, parseExperiment } from "../lib/experiment";
import { formatIssues } from "../lib/issues";
import { loadTopology, type Topology } from "../lib/topology";
import { planExperiment, planText } from "../agent/plan";
import { api, CliError, connection, type Connection } from "./client";

const USAGE = `gameday — chaos experiments from the command line

  gameday run FILE [--wait] [--json]   start an experiment on the worker
                                       (--wait: follow it; exit 0 completed with
                                       the hypothesis held, 2 aborted or refuted,
                                       1 invalid input or error)
  gameday abort RUN                    abort a run and revert its changes
  gameday halt                         abort every run, revert everything
  gameday status [--json]              the worker, the active run, recent runs
  gameday validate FILE [--json]       check an experiment file, start nothing
          [--plan [--topology FILE]]   and list what it would hit on this host now
                                       (exit 1 when spec.safety refuses it)
  gameday schema                       print the experiment JSON Schema
  gameday token create|list|revoke     API tokens with an expiry (gameday token --help)
  gameday user passwd|list|reset|disable|enable
                                       your password; users (admin) (gameday user --help)
  gameday note RUN "text"              add a timestamped note to a run
  gameday report RUN [-o FILE]         the run's post-mortem PDF (--html: one
                                       self-contained HTML file; --bundle: the
                                       replay bundle with its sha256 manifest)
  gameday schedule add|edit|list|show|pause|resume|rm ...
                                       experiments on a calendar (gameday schedule --help)

Standalone injectors (no worker needed; each journals its changes and
reverts them at the end, on Ctrl-C, or after a crash at the next start):
  gameday sniper ...                   Process Sniper: kill processes at random
  gameday stress ...                   CPU and memory pressure, cgroup CPU/memory limits
  gameday latency-monkey ...           network latency, loss, bandwidth caps, partitions
  gameday dns-poisoner ...             DNS answers: NXDOMAIN, SERVFAIL, wrong, slow, none
  gameday chaos-proxy ...              Toxiproxy-compatible TCP/HTTP fault proxy (serve, or one fault)
  gameday docker-monkey ...            pause, kill, stop, restart or cap Docker containers
  gameday cloud-terminator ...         stop, terminate or isolate EC2 instances, or a zone
  gameday bpf-injector ...             connect() errors, packet drops, syscall errors (BPF, ptrace)
  gameday recover                      revert what a crashed standalone CLI left
  (gameday COMMAND --help for each)

Options: --url URL --token TOKEN (default: GAMEDAY_URL / GAMEDAY_TOKEN, or the
local worker's ~/.gameday/cli.json)`;

const out = (s: string) => process.stdout.write(s + "\n");
const err = (s: string) => process.stderr.write(s + "\n");

export function exitCodeFor(run: RunRecord): number {
  if (run.state === "failed") return 1;
  if (run.state === "aborted" || run.hypothesisHeld === false) return 2;
  if (run.inconclusive) return 3;
  return 0;
}

function loadTopologyFlag(file: string): Topology {
  try {
    return loadTopology(file);
  } catch (e) {
    throw new CliError(`--topology: ${(e as Error).message}`);
  }
}

function readFile(file: string | undefined): string {
  if (!file) throw new CliError("name an experiment file");
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
}

function summary(run: RunRecord): string {
  const lines = [`run ${run.id} (${run.name}): ${run.state}${run.hypothesisHeld === null ? "" : run.hypothesisHeld ? ", hypothesis held" : ", hypothesis refuted"}`];
  if (run.abort) lines.push(`  abort: ${run.abort.reason}: ${run.abort.message}${run.abort.revertMs !== undefined ? ` (reverted in ${run.abort.revertMs} ms)` : ""}`);
  if (run.error) lines.push(`  error: ${run.error}`);
  if (run.inconclusive) lines.push(`  ${run.inconclusive}`);
  if (run.abort?.evidence?.link) lines.push(`  evidence: ${run.abort.evidence.query ?? ""} → ${run.abort.evidence.link}`);
  for (const b of run.budgets ?? [])
    lines.push(`  error budget ${b.probe}: ${(b.left * 100).toFixed(1)} % left before the run${b.burned !== undefined ? `, the run burned ${(b.burned * 100).toFixed(2)} %` : ""}`);
  for (const f of run.faults) {
    lines.push(`  ${f.fault} ${f.targetLabel}: ${f.state}${f.verified ? " (verified)" : ""}${f.error ? ` — ${f.error}` : ""}`);
    if (f.detail) lines.push(`    how: ${f.detail}`);
    if (f.effect) lines.push(`    effect: ${f.effect.summary}`);
  }
  return lines.join("\n");
}

async function waitFor(conn: Connection, id: string, json: boolean): Promise<RunRecord> {
  let aborting = false;
  const onSignal = () => {
    if (aborting) return;
    aborting = true;
    err(`interrupted: aborting run ${id} (its changes are reverted)…`);
    void api(conn, "POST", API.runAbort(id)).catch((e: Error) => err(e.message));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    let last = "";
    // bounded: a run has a max duration; this loop gives up after a day
    for (let i = 0; i < 24 * 3600 * 2; i++) {
      const { run } = await api<{ run: RunRecord }>(conn, "GET", API.run(id));
      const line = `${run.state} · ${run.faults.filter((f) => f.state === "injected").length} fault(s) in place`;
      if (!json && line !== last) err(`[${new Date().toISOString()}] ${run.name}: ${line}`);
      last = line;
      if (FINAL_RUN_STATES.includes(run.state)) return run;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new CliError(`gave up waiting for run ${id}`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function runStandalone(cmd: string, go: () => Promise<number>): Promise<number> {
  try {
    return await go();
  } catch (e) {
    if (e instanceof CliError) {
      err(`gameday ${cmd}: ${e.message}`);
      if (e.issues?.length) err(formatIssues(e.issues).replace(/^/gm, "  "));
      return e.exitCode;
    }
    if ((e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      err(`gameday ${cmd}: ${(e as Error).message} (see gameday ${cmd} --help)`);
      return 1;
    }
    throw e;
  }
}

/** Standalone commands parse their own flags. */
const STANDALONE: Record<string, () => Promise<{ main(argv: string[]): Promise<number> }>> = {
  sniper: () => import("./sniper"),
  "disk-devourer": () => import("./disk-devourer"),
  stress: () => import("./stress"),
  "latency-monkey": () => import("./latency-monkey"),
  "dns-poisoner": () => import("./dns-poisoner"),
  "chaos-proxy": () => import("./chaos-proxy"),
  "docker-monkey": () => import("./docker-monkey"),
  "cloud-terminator": () => import("./cloud-terminator"),
  "bpf-injector": () => import("./bpf-injector"),
  recover: () => import("./recover"),
  token: () => import("./token"),
  user: () => import("./user"),
  // these talk to the worker, with flags of their own
  note: () => import("./note"),
  report: () => import("./report"),
  // not standalone, but it parses its own flags too
  schedule: () => import("./schedule"),
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const standalone = cmd ? STANDALONE[cmd] : undefined;
  if (standalone) return runStandalone(cmd!, () => standalone().then((m) => m.main(rest)));
  try {
    const { values: f, positionals: pos } = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        wait: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        url: { type: "string" },
        token: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        plan: { type: "boolean", default: false },
        topology: { type: "string" },
      },
    });
    if (!cmd || cmd === "help" || cmd === "--help" || cmd === "-h" || f.help) {
      out(USAGE);
      return cmd ? 0 : 1;
    }
    switch (cmd) {
      case "validate": {
        const file = pos[0];
        if (f.topology && !f.plan) throw new CliError("--topology: only with --plan");
        const topology = f.topology ? loadTopologyFlag(f.topology) : null;
        const r = parseExperiment(readFile(file), topology ?? undefined);
        if (!r.ok) {
          if (f.json) out(JSON.stringify({ ok: false, issues: r.issues }, null, 2));
          else err(`${file}: invalid\n${formatIssues(r.issues).replace(/^/gm, "  ")}`);
          return 1;
        }
        if (!f.plan) {
          if (f.json) out(JSON.stringify({ ok: true }, null, 2));
          else out(`${file}: valid — ${r.experiment.metadata.name}: ${r.experiment.spec.method.length} step(s), ${r.experiment.spec.steadyState.probes.length} probe(s)`);
          return 0;
        }
        const plan = await planExperiment(r.experiment, topology, new Set());
        if (f.json) out(JSON.stringify({ ok: plan.refusals.length === 0, plan }, null, 2));
        else for (const line of planText(r.experiment, plan)) out(line);
        return plan.refusals.length ? 1 : 0;
      }
      case "schema":
        out(JSON.stringify(experimentJsonSchema(), null, 2));
        return 0;
      case "run": {
        const file = pos[0];
        const yaml = readFile(file);
        const local = parseExperiment(yaml);
        if (!local.ok) throw new CliError(`${file}: invalid, nothing started`, 1, local.issues);
        const conn = connection(f);
        const { run } = await api<{ run: RunRecord }>(conn, "POST", API.runs, { yaml });
        // the plan's error budgets: what is left before the run (a run under the minimum was refused above)
        for (const b of run.budgets ?? []) if (!f.json) err(`error budget ${b.probe}: ${(b.left * 100).toFixed(1)} % left (minimum ${(b.minBudgetLeft * 100).toFixed(1)} %, SLO ${(b.objective * 100).toFixed(2)} % over ${b.window})`);
        if (!f.wait) {
          out(f.json ? JSON.stringify(run, null, 2) : `started run ${run.id} (${run.name})`);
          return 0;
        }
        if (!f.json) err(`started run ${run.id} (${run.name}); waiting (Ctrl-C aborts it)`);
        const final = await waitFor(conn, run.id, f.json);
        out(f.json ? JSON.stringify(final, null, 2) : summary(final));
        return exitCodeFor(final);
      }
      case "abort": {
        if (!pos[0]) throw new CliError("name the run to abort (see gameday status)");
        const { run } = await api<{ run: RunRecord }>(connection(f), "POST", API.runAbort(pos[0]));
        out(f.json ? JSON.stringify(run, null, 2) : summary(run));
        return 0;
      }
      case "halt": {
        const { aborted } = await api<{ aborted: string[] }>(connection(f), "POST", API.halt);
        out(f.json ? JSON.stringify({ aborted }) : aborted.length ? `HALT: aborted ${aborted.join(", ")}; everything reverted` : "HALT: nothing was running");
        return 0;
      }
      case "status": {
        const conn = connection(f);
        const health = await api<{ version: string; activeRunId: string | null }>(conn, "GET", API.health);
        const { runs } = await api<{ runs: RunRecord[] }>(conn, "GET", `${API.runs}?limit=5`);
        const { unreverted } = await api<{ unreverted: UnrevertedChange[] }>(conn, "GET", API.changes);
        if (f.json) {
          out(JSON.stringify({ url: conn.url, ...health, runs, unreverted }, null, 2));
          return 0;
        }
        out(`worker ${conn.url} (v${health.version}); active run: ${health.activeRunId ?? "none"}`);
        if (unreverted.length) {
          out(`NOT REVERTED: ${unreverted.length} change(s) on this host; new runs are refused until they are (gameday halt or gameday recover retries):`);
          for (const c of unreverted) out(`  ${c.fault} on ${c.targetLabel} (run ${c.runId}, ${c.host}): ${c.error ?? "not verified"}`);
        }
        for (const r of runs) out(`  ${r.id}  ${r.name}  ${r.state}${r.abort ? ` (${r.abort.reason})` : ""}  by ${r.launchedBy === "schedule" ? `schedule ${r.startedBy.replace(/^schedule:/, "")}` : r.startedBy}`);
        return 0;
      }
      default:
        throw new CliError(`unknown command "${cmd}"\n\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof CliError) {
      err(`gameday: ${e.message}`);
      if (e.issues?.length) err(formatIssues(e.issues).replace(/^/gm, "  "));
      return e.exitCode;
    }
    if ((e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      err(`gameday: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}
