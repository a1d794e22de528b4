// Every environment variable Game Day reads, in one place: its name, default
// and meaning, with a zod schema. Read through config(), never process.env.
// Each variable is parsed on first use and again only when its value changes
// (tests set variables before spawning processes; the sniper's --protect sets
// GAMEDAY_PROTECT_NAMES), so a bad value fails where it is used, with an error
// naming the variable, and never breaks code that does not read it.
import os from "node:os";
import path from "node:path";
import { z } from "zod";

/**
 * Process names (comm) never targeted unless GAMEDAY_PROTECT_NAMES replaces
 * the list: losing them loses the machine (sshd), the init system, or every
 * container at once.
 */
export const DEFAULT_PROTECTED_NAMES = ["sshd", "systemd", "systemd-journal", "systemd-logind", "init", "dockerd", "containerd", "containerd-shim"];

const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/** Unset or empty: undefined. */
const text = z.string().optional().transform((v) => (v ? v : undefined));
const trimmed = z.string().optional().transform((v) => v?.trim() || undefined);

function portVar(dflt: number) {
  return text.pipe(
    z
      .string()
      .regex(/^\d{1,5}$/, "must be a port number 0-65535")
      .transform(Number)
      .refine((n) => n <= 65535, "must be a port number 0-65535")
      .optional()
      .transform((n) => n ?? dflt),
  );
}

function urlVar(protocols: string[]) {
  return z.string().transform((v, ctx) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      ctx.addIssue({ code: "custom", message: `is not a URL: ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    if (!protocols.includes(u.protocol)) {
      ctx.addIssue({ code: "custom", message: `must be a ${protocols.join(" or ")} URL, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return u;
  });
}

const commaList = (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean);

export const configSchema = z.object({
  // ---- where state lives
  /** SQLite database, CLI token file, standalone journals. Default ~/.gameday. */
  GAMEDAY_HOME: text.transform((v) => path.resolve(v ?? path.join(os.homedir(), ".gameday"))),
  /** The database URL (SQLite). Default: file:$GAMEDAY_HOME/gameday.db (see lib/paths.ts). */
  DATABASE_URL: text,
  /**
   * Machine-wide folder where Game Day's own processes register so every
   * injector spares them. Default: /run/gameday/self when /run is writable,
   * else $TMPDIR/gameday-self (see lib/procfs.ts).
   */
  GAMEDAY_RUN_DIR: text,

  // ---- safety
  /** Process names no fault ever targets, comma-separated; replaces DEFAULT_PROTECTED_NAMES (empty: none). */
  GAMEDAY_PROTECT_NAMES: z
    .string()
    .optional()
    .transform((v) => (v === undefined ? DEFAULT_PROTECTED_NAMES : commaList(v))),
  /** PIDs the worker registers as Game Day's own (spared by every injector), comma-separated; adds to --protect-pid. Default none. */
  GAMEDAY_PROTECT_PIDS: z
    .string()
    .optional()
    .transform((v) => commaList(v ?? ""))
    .pipe(z.array(z.string().regex(/^\d+$/, "must be comma-separated PIDs like 123,456").transform(Number))),

  // ---- logging
  /** Floor of the structured logs on stderr: debug, info, warn, error or silent. Default info. */
  GAMEDAY_LOG: text.pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info")),

  // ---- worker
  /** Address the web app and the worker listen on (0.0.0.0 to share the dashboard). Default 127.0.0.1. */
  GAMEDAY_BIND: text.transform((v) => v ?? "127.0.0.1"),
  /** Port of the worker (REST API and socket.io); default for its --port. Default 3001. */
  WORKER_PORT: portVar(3001),
  /** Topology file of the worker; default for its --topology. Default: demo/topology.yaml when present. */
  GAMEDAY_TOPOLOGY: text,
  /** Folder of example experiments offered by the dashboard; default for --examples. Default: examples/. */
  GAMEDAY_EXAMPLES: text,
  /** Steady-state warm-up of every run before the method starts, in ms. Default: the worker's built-in warm-up. */
  GAMEDAY_WARMUP_MS: text.pipe(
    z
      .string()
      .regex(/^\d+$/, "must be a whole number of milliseconds")
      .transform(Number)
      .optional(),
  ),
  /** How long probes keep sampling after a run ends, so the recovery is in its data and report, in ms. Default 10000. */
  GAMEDAY_LEAD_OUT_MS: text
    .pipe(z.string().regex(/^\d+$/, "must be a whole number of milliseconds").transform(Number).optional())
    .transform((n) => n ?? 10_000),
  /** Write each run's post-mortem PDF to $GAMEDAY_HOME/reports when its lead-out ends: 1 or 0. Default 1. */
  GAMEDAY_AUTO_REPORT: text.pipe(z.enum(["0", "1"], { error: "must be 1 or 0" }).default("1")).transform((v) => v === "1"),
  /** Chromium that renders PDF reports. Default /usr/bin/chromium (Debian's chromium package). */
  GAMEDAY_CHROMIUM: text.transform((v) => v ?? "/usr/bin/chromium"),
  /** Kill-switch webhooks: URLs (comma-separated) the worker POSTs every abort and HALT to, as JSON. Default none. */
  GAMEDAY_ABORT_WEBHOOKS: z
    .string()
    .optional()
    .transform((v) => commaList(v ?? ""))
    .pipe(z.array(urlVar(["http:", "https:"]))),
  /**
   * Days the audit log keeps its rows: older ones are deleted at the worker's
   * start and once a day (the trim is itself recorded). 0 or "forever": keep
   * every row. Default 365.
   */
  GAMEDAY_AUDIT_RETENTION_DAYS: trimmed.pipe(
    z
      .string()
      .regex(/^(\d{1,6}|forever)$/, 'must be a whole number of days (0 or "forever" keeps every row)')
      .optional()
      .transform((v) => (v === undefined ? 365 : v === "forever" || Number(v) === 0 ? null : Number(v))),
  ),
  /** User name of the admin created at the first start. Default admin. */
  GAMEDAY_ADMIN_USER: text.transform((v) => v ?? "admin"),
  /** Password of the admin created at the first start. Default: a random one, printed once. */
  GAMEDAY_ADMIN_PASSWORD: text,

  // ---- access
  /**
   * Origins (scheme://host:port) whose pages may drive the worker with a
   * session cookie: socket.io handshakes and cookie-authenticated mutations
   * from any other origin get 403. Comma-separated. Default: the dashboard,
   * http://127.0.0.1:$PORT and http://localhost:$PORT (see lib/origin.ts).
   */
  /**
   * Addresses (comma-separated) of reverse proxies in front of the web app
   * whose X-Forwarded-For it keeps; from any other peer the header is replaced
   * by the peer's address, so a client cannot choose the address the audit log
   * and the per-address login limits see (scripts/web.ts).
   */
  GAMEDAY_TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((v) => commaList(v ?? "")),
  GAMEDAY_ORIGINS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const out: string[] = [];
      for (const item of commaList(v ?? "")) {
        let u: URL | null = null;
        try {
          u = new URL(item);
        } catch {
          u = null;
        }
        if (!u || !["http:", "https:"].includes(u.protocol) || u.origin !== item.replace(/\/+$/, "")) {
          ctx.addIssue({ code: "custom", message: `must be comma-separated origins like https://gameday.example.com (scheme, host and port only), got ${JSON.stringify(item)}` });
          return z.NEVER;
        }
        out.push(u.origin);
      }
      return out;
    }),

  // ---- web app (read at run time, so one build serves any deployment)
  /** Where the web app's route handlers find the worker (http or https). Default http://127.0.0.1:3001. */
  GAMEDAY_WORKER_URL: trimmed.transform((v) => v ?? "http://127.0.0.1:3001").pipe(urlVar(["http:", "https:"])),
  /** socket.io URL the browser uses. Default: the browser's host on the worker's port. */
  GAMEDAY_PUBLIC_WORKER_URL: trimmed.pipe(urlVar(["http:", "https:", "ws:", "wss:"]).optional()),
  /** Port of the web app (`make up`). Default 3000. */
  PORT: portVar(3000),

  // ---- CLI
  /** Worker the `gameday` CLI talks to; --url wins. Default: the URL in $GAMEDAY_HOME/cli.json. */
  GAMEDAY_URL: text,
  /** API token of the `gameday` CLI; --token wins. Default: the token in $GAMEDAY_HOME/cli.json. */
  GAMEDAY_TOKEN: text,
  /** Token `gameday chaos-proxy serve` requires on its admin API (Authorization: Bearer); --token-file wins. Needed beyond loopback. */
  GAMEDAY_PROXY_TOKEN: text,

  // ---- container and cloud faults
  /**
   * The Docker engine the container faults talk to, as the docker CLI takes it:
   * unix:///path/to/docker.sock or tcp://HOST:PORT. Default unix:///var/run/docker.sock.
   */
  DOCKER_HOST: text.pipe(
    z
      .string()
      .regex(/^(unix:\/\/\/.+|tcp:\/\/[^/\s]+:\d{1,5}\/?)$/, "must be unix:///path/to/docker.sock or tcp://HOST:PORT")
      .optional()
      .transform((v) => v ?? "unix:///var/run/docker.sock"),
  ),

  /** An EC2-compatible endpoint for the cloud faults (tests, other clouds). Default: AWS's own for the region. */
  GAMEDAY_EC2_ENDPOINT: text.pipe(urlVar(["http:", "https:"]).optional()),
  /** AWS accounts (12-digit IDs, comma-separated) the cloud faults may act in; an instance of any other is refused. Default: any. */
  GAMEDAY_AWS_ALLOWED_ACCOUNTS: z
    .string()
    .optional()
    .transform((v) => commaList(v ?? ""))
    .pipe(z.array(z.string().regex(/^\d{12}$/, "must be comma-separated 12-digit AWS account IDs like 123456789012"))),
  /** AWS regions (comma-separated) the cloud faults may act in; any other is refused. Default: any. */
  GAMEDAY_AWS_ALLOWED_REGIONS: z
    .string()
    .optional()
    .transform((v) => commaList(v ?? ""))
    .pipe(z.array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be comma-separated AWS regions like eu-west-1"))),
  /**
   * The opt-in tag every instance a cloud fault acts on must carry: KEY=VALUE,
   * or KEY (any value). "none" lifts it, only beside GAMEDAY_AWS_ALLOWED_ACCOUNTS
   * (some guard always holds). Default gameday:allow=true.
   */
  GAMEDAY_AWS_REQUIRED_TAG: trimmed.pipe(
    z
      .string()
      .regex(/^[^=\s][^=]{0,127}(=.{0,256})?$/, "must be KEY=VALUE, KEY (any value) or none")
      .optional()
      .transform((v) => {
        if (v === "none") return null;
        const [key, ...rest] = (v ?? "gameday:allow=true").split("=");
        return { key, value: rest.length ? rest.join("=") : undefined };
      }),
  ),

  // ---- demo, bench, host
  /** First port of the demo system started by `make up`. Default 4100. */
  DEMO_BASE_PORT: portVar(4100),
  /** How `make up` runs the demo system: processes, or containers on a Docker engine (`make up DEMO=containers`). Default processes. */
  GAMEDAY_DEMO: text.pipe(z.enum(["processes", "containers"], { error: "must be processes or containers" }).default("processes")),
  /** Extra processes of the proc-scan benchmark (bench/run.ts). Default 2000. */
  BENCH_PROCS: text.pipe(z.string().regex(/^\d+$/, "must be a whole number").transform(Number).optional()).transform((n) => n ?? 2000),
  /** Where programs (fallocate, stress-ng, setpriv, tc, ...) are looked up. Default: unset. */
  PATH: z.string().optional(),
});

export type Config = z.output<typeof configSchema>;
export type ConfigName = keyof Config;

/** A variable with a bad value; the message names it. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

const cache = new Map<ConfigName, { raw: string | undefined; value: unknown }>();
const overrides = new Map<ConfigName, unknown>();

function read<K extends ConfigName>(name: K): Config[K] {
  if (overrides.has(name)) return overrides.get(name) as Config[K];
  const raw = process.env[name];
  const hit = cache.get(name);
  if (hit && hit.raw === raw) return hit.value as Config[K];
  const r = configSchema.shape[name].safeParse(raw);
  if (!r.success) {
    const why = [...new Set(r.error.issues.map((i) => i.message))].join("; ");
    const got = JSON.stringify(raw);
    throw new ConfigError(name, `${name} ${why}${why.includes(got) ? "" : ` (got ${got})`}`);
  }
  cache.set(name, { raw, value: r.data });
  return r.data as Config[K];
}

const view = Object.freeze(
  Object.defineProperties(
    {},
    Object.fromEntries(Object.keys(configSchema.shape).map((k) => [k, { enumerable: true, get: () => read(k as ConfigName) }])),
  ),
) as Readonly<Config>;

/** The configuration; each property parses its variable on first read. */
export function config(): Readonly<Config> {
  return view;
}

/**
 * Set a value for this process regardless of the environment (a command-line
 * flag that wins over its variable); undefined removes the override.
 * Child processes do not inherit it: pass it on explicitly.
 */
export function setConfig<K extends ConfigName>(name: K, value: Config[K] | undefined): void {
  if (value === undefined) overrides.delete(name);
  else overrides.set(name, value);
}
