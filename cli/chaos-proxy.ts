// gameday chaos-proxy — a Toxiproxy-compatible fault proxy. Two ways to run it:
// - serve: the admin API (Toxiproxy's routes on 127.0.0.1:8474 by default),
//   so existing Toxiproxy clients and test suites drive Game Day unchanged;
//   proxies from --config (a /populate body, toxics included) at start;
// - one fault: --listen, --upstream and --toxic flags run the proxy-toxic
//   (or, with --http, http-fault) fault through an embedded executor, like
//   the other standalone CLIs: journaled, reverted at the end, on Ctrl-C,
//   and by the reaper if this process dies.
import fs from "node:fs";
import { isIPv6 } from "node:net";
import { parseArgs } from "node:util";
import YAML from "yaml";
import { config } from "../lib/config";
import { formatDuration } from "../lib/duration";
import { startApi, isLoopback } from "../injectors/proxy/api";
import { ApiError } from "../injectors/proxy/errors";
import { ProxyCollection } from "../injectors/proxy/proxy";
import { toxicDef, toxicTypes } from "../injectors/proxy/toxic";
import { httpFault } from "../injectors/http-fault";
import { proxyToxic } from "../injectors/proxy-toxic";
import type { ProxyFaultParams } from "../injectors/proxy/fault";
import type { NetworkTarget } from "../injectors/types";
import { CliError } from "./client";
import { durationFlag, interruptible, openExecutor, parseParams, runFaults, STANDALONE_OPTIONS } from "./standalone";

const USAGE = `gameday chaos-proxy — a Toxiproxy-compatible TCP/HTTP fault proxy

  gameday chaos-proxy serve [--host H] [--port P] [--config FILE] [--token-file F] [--duration D]
      the admin API (Toxiproxy's routes; default 127.0.0.1:8474); point any
      Toxiproxy client at http://H:P. --config: proxies to create at start
      (JSON or YAML, Toxiproxy's /populate shape; toxics may be listed per
      proxy). Beyond loopback the API needs a token: --token-file F or
      GAMEDAY_PROXY_TOKEN, sent as "Authorization: Bearer TOKEN".
      --duration: stop by itself after D (default: until Ctrl-C).

  gameday chaos-proxy [--listen HOST:PORT] --upstream IP:PORT --toxic SPEC ...
                      [--http] [--existing keep|reset] [--duration D] [--dry-run] [--json]
      one proxy with its toxics as a fault (journaled, reverted at the end,
      on Ctrl-C, or by the reaper if this process dies). --listen: where it
      listens (point the client there); without it, this host's new TCP
      connections to --upstream are redirected through it (iptables nat, or
      ip6tables for an IPv6 upstream such as [::1]:5432; root), and
      --existing reset aborts the connections already open to it once (ss -K)
      so they reconnect through it. --http: an HTTP proxy with per-request
      toxics (http_status, ...).

  --toxic TYPE[,key=value...]   e.g. latency,latency=500,jitter=50
      keys name, stream (upstream|downstream, default downstream),
      toxicity (0-1) and ttl_ms are the toxic's; the others its attributes.

TCP toxics: ${toxicTypes().filter((t) => toxicDef(t)!.layer === "tcp").join(", ")}
HTTP toxics: ${toxicTypes().filter((t) => toxicDef(t)!.layer === "http").join(", ")}

Examples:
  gameday chaos-proxy serve --config proxies.yaml
  gameday chaos-proxy --upstream 127.0.0.1:5432 --toxic reset_peer,timeout=2000
  gameday chaos-proxy --listen 127.0.0.1:15432 --upstream 127.0.0.1:5432 \\
      --toxic latency,latency=500,jitter=50 --duration 60s
  gameday chaos-proxy --http --listen 127.0.0.1:18080 --upstream 127.0.0.1:4100 \\
      --toxic http_status,status=503,retry_after=2,toxicity=0.3,path_prefix=/api`;

const SERVE_OPTIONS = {
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string", default: "8474" },
  config: { type: "string" },
  "token-file": { type: "string" },
  duration: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

const FAULT_OPTIONS = {
  ...STANDALONE_OPTIONS,
  listen: { type: "string" },
  upstream: { type: "string" },
  toxic: { type: "string", multiple: true },
  http: { type: "boolean", default: false },
  existing: { type: "string" },
} as const;

const TOP = new Set(["name", "stream", "toxicity", "ttl_ms"]);

/** "latency,latency=500,jitter=50" → a toxic body; errors name the flag. */
export function parseToxicFlag(spec: string): Record<string, unknown> {
  const [type, ...pairs] = spec.split(",").map((s) => s.trim());
  if (!type) throw new CliError(`--toxic: expected TYPE[,key=value...] (got "${spec}")`);
  const toxic: Record<string, unknown> = { type };
  const attributes: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) throw new CliError(`--toxic ${type}: expected key=value (got "${p}")`);
    const k = p.slice(0, i);
    const raw = p.slice(i + 1);
    const v = raw === "true" ? true : raw === "false" ? false : raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    (TOP.has(k) ? toxic : attributes)[k] = v;
  }
  toxic.attributes = attributes;
  return toxic;
}

function targetOf(upstream: string): NetworkTarget {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}|localhost|\[([0-9a-fA-F:.]+)\]):(\d{1,5})$/.exec(upstream);
  if (!m || (m[2] !== undefined && !isIPv6(m[2]))) throw new CliError(`--upstream: expected IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:5432 or [::1]:5432 (got "${upstream}")`);
  return { kind: "network", direction: "egress", protocol: "tcp", dst: m[2] ?? (m[1] === "localhost" ? "127.0.0.1" : m[1]), dstPort: Number(m[3]) };
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "serve") return serve(argv.slice(1));
  if (argv.length === 0) {
    process.stdout.write(USAGE + "\n");
    return 1;
  }
  const { values: f } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: FAULT_OPTIONS });
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const json = !!f.json;
  const emit = (event: string, text: string, data: Record<string, unknown> = {}) =>
    process.stdout.write(json ? JSON.stringify({ ts: new Date().toISOString(), event, ...data, message: text }) + "\n" : `[${event === "error" ? "ERROR" : "INFO"}] ${text}\n`);
  if (!f.upstream) throw new CliError("--upstream: give the address the proxy connects on to, e.g. 127.0.0.1:5432");
  if (!f.toxic?.length) throw new CliError("--toxic: give at least one toxic, e.g. --toxic latency,latency=500");
  const durationMs = durationFlag(f.duration, "60s");
  const injector = f.http ? httpFault : proxyToxic;
  const target = targetOf(f.upstream);
  const params = parseParams<ProxyFaultParams>(injector, { ...(f.listen !== undefined ? { listen: f.listen } : {}), ...(f.existing !== undefined ? { existing: f.existing } : {}), toxics: f.toxic.map(parseToxicFlag) }, (k) => (k.startsWith("toxics") ? "--toxic" : `--${k}`));
  let undo;
  try {
    undo = await injector.plan(target, params);
  } catch (e) {
    throw new CliError(`${injector.name}: ${(e as Error).message.replace(/target\.dstPort|target\.dst/g, "--upstream")}`);
  }
  emit("plan", `Proxy ${f.listen ?? "(redirect)"} → ${f.upstream}: ${injector.describe!(target, undo)}`, { fault: injector.name, params });
  if (f["dry-run"]) {
    for (const c of undo.net?.commands ?? []) emit("command", `  ${c}`, { command: c });
    emit("dry-run", `Dry run: would hold for ${formatDuration(durationMs)}; nothing changed`, { durationMs });
    return 0;
  }
  const executor = await openExecutor(`chaos-proxy ${argv.join(" ")}`, (line) => emit("recovered", line));
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  try {
    emit("hold", `Holding for ${formatDuration(durationMs)} (Ctrl-C reverts now)`, { durationMs });
    const res = await runFaults(executor, [{ injector, target, params }], durationMs, signal, (line, event) => emit(event === "injected" || event === "reverted" ? event : "error", line));
    emit(res.failures.length ? "error" : "done", res.failures.length ? `Done with ${res.failures.length} failure(s): ${res.failures.join("; ")}` : `Done: proxy stopped, nothing left behind${res.completed ? "" : " (stopped early)"}`, {
      failures: res.failures,
    });
    return res.failures.length ? 1 : 0;
  } finally {
    release();
    await executor.close();
  }
}

async function serve(argv: string[]): Promise<number> {
  const { values: f } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: SERVE_OPTIONS });
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const port = Number(f.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port: expected 0-65535 (got "${f.port}")`);
  let token: string | undefined;
  if (f["token-file"]) {
    try {
      token = fs.readFileSync(f["token-file"], "utf8").trim();
    } catch (e) {
      throw new CliError(`--token-file: ${(e as Error).message}`);
    }
    if (!token) throw new CliError(`--token-file: ${f["token-file"]} is empty`);
  } else token = config().GAMEDAY_PROXY_TOKEN || undefined;
  if (!isLoopback(f.host) && !token) throw new CliError(`--host ${f.host}: beyond loopback the admin API needs a token (--token-file FILE or GAMEDAY_PROXY_TOKEN)`);
  const proxies = new ProxyCollection();
  if (f.config) {
    let body: unknown;
    try {
      body = YAML.parse(fs.readFileSync(f.config, "utf8"));
    } catch (e) {
      throw new CliError(`--config: ${(e as Error).message}`);
    }
    try {
      const list = await proxies.populate(body);
      for (const p of list) process.stdout.write(`proxy ${p.name}: ${p.address ?? p.listen} → ${p.upstream}${p.toxics.length ? ` with ${p.toxics.map((t) => t.name).join(", ")}` : ""}\n`);
    } catch (e) {
      throw new CliError(`--config: ${e instanceof ApiError ? e.message : (e as Error).message}`);
    }
  }
  const api = await startApi(proxies, { host: f.host, port, token }).catch((e: Error) => {
    throw new CliError(`--port: ${e.message}`);
  });
  process.stdout.write(`Toxiproxy-compatible API on http://${f.host.includes(":") ? `[${f.host}]` : f.host}:${api.port}${token ? " (token required)" : ""}; Ctrl-C stops every proxy\n`);
  const forMs = f.duration === undefined ? undefined : durationFlag(f.duration, "1m");
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(s, stop);
    // --duration: a bounded server (CI jobs, tests)
    if (forMs !== undefined) setTimeout(stop, forMs).unref();
  });
  await proxies.close();
  await api.close();
  process.stdout.write("stopped: every proxy closed\n");
  return 0;
}
