// One process of the demo system. db and payment-service answer by
// themselves; api, frontend and order-service call one upstream per request
// (round-robin, no retry, a hard timeout) so every frozen or killed instance
// shows up in the caller's status codes, latency and upstream timeouts, which
// is the point of a system built to be broken.
//   node --import tsx demo/service.ts --cluster demo-4100 --node api --port 4101 --upstream http://127.0.0.1:4110
import http from "node:http";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { Counter, Histogram, Registry } from "prom-client";
import { z } from "zod";
import { createLogger, type Logger } from "../lib/log";
import { formatIssues, zodIssues } from "../lib/issues";
import { httpGet, isLoopbackHost, loopbackUrl, TimeoutError } from "./net";
import { clusterSchema, DEMO_NODE_IDS, LEAF_NODES } from "./topology";

export const serviceArgsSchema = z
  .object({
    cluster: clusterSchema,
    node: z.enum(DEMO_NODE_IDS),
    port: z.coerce.number().int().min(1).max(65535),
    upstream: z
      .string()
      .optional()
      .transform((s, ctx) => {
        const urls = (s ?? "").split(",").map((u) => u.trim()).filter(Boolean);
        try {
          return urls.map((u) => loopbackUrl(u, "upstream").href.replace(/\/$/, ""));
        } catch (e) {
          ctx.addIssue({ code: "custom", message: (e as Error).message });
          return z.NEVER;
        }
      }),
    upstreamTimeoutMs: z.coerce.number().int().min(1).max(60_000).default(250),
    host: z.string().refine(isLoopbackHost, "must be a loopback address (127.0.0.0/8 or ::1)").default("127.0.0.1"),
    /** sent back as x-demo-instance: a container's name, which the supervisor's health check looks for (the pid inside is 1) */
    instance: z.string().regex(/^[\w.-]{1,128}$/, "letters, digits, '_', '.' and '-'").optional(),
  })
  .refine((a) => LEAF_NODES.includes(a.node) === (a.upstream.length === 0), {
    message: `${LEAF_NODES.join(" and ")} take no --upstream; the other nodes need at least one`,
    path: ["upstream"],
  });
export type ServiceArgs = z.infer<typeof serviceArgsSchema>;

const LABEL_SERVICE = "service";
const LABEL_CODE = "code";
const LABEL_OUTCOME = "outcome";
const OUTCOMES = ["ok", "error", "timeout"] as const;

/** 1 ms (db's own work) up to 2 s (the load generator's deadline). */
const DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];

export function serviceMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: "demo_http_requests_total",
      help: "Requests to GET / by status code",
      labelNames: [LABEL_SERVICE, LABEL_CODE] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: "demo_http_request_duration_seconds",
      help: "Time to answer GET /, upstream call included",
      labelNames: [LABEL_SERVICE] as const,
      buckets: DURATION_BUCKETS_S,
      registers: [registry],
    }),
    upstream: new Counter({
      name: "demo_upstream_requests_total",
      help: "Calls to the upstream by outcome: ok (any answer), error (refused, reset) or timeout (no answer within --upstream-timeout-ms)",
      labelNames: [LABEL_SERVICE, LABEL_OUTCOME] as const,
      registers: [registry],
    }),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Service {
  server: http.Server;
  close(): Promise<void>;
}

export function createService(args: ServiceArgs, registry: Registry, log: Logger): Service {
  const metrics = serviceMetrics(registry);
  // every outcome exported from the start at 0: a probe's increase() needs the series before the first timeout
  if (args.upstream.length) for (const o of OUTCOMES) metrics.upstream.inc({ [LABEL_SERVICE]: args.node, [LABEL_OUTCOME]: o }, 0);
  const upstreamOutcome = (o: (typeof OUTCOMES)[number]) => metrics.upstream.inc({ [LABEL_SERVICE]: args.node, [LABEL_OUTCOME]: o });
  // keepAlive so steady load does not churn ports; free sockets are dropped well
  // before the peer's keepAliveTimeout to avoid reusing a socket the peer is closing.
  const agent = new http.Agent({ keepAlive: true, timeout: 30_000 });
  let next = 0;

  const answerRoot = async (): Promise<{ status: number; body: unknown }> => {
    if (args.upstream.length === 0) {
      await sleep(1 + Math.random() * 2);
      const answer = args.node === "payment-service" ? { payment: { id: 1, status: "captured" } } : { rows: [{ id: 1, sku: "teapot", stock: 3 }] };
      return { status: 200, body: { node: args.node, port: args.port, ...answer } };
    }
    const target = args.upstream[next++ % args.upstream.length];
    try {
      const r = await httpGet(`${target}/`, { timeoutMs: args.upstreamTimeoutMs, agent });
      upstreamOutcome("ok");
      const ok = r.status >= 200 && r.status < 300;
      return { status: ok ? 200 : 502, body: { node: args.node, port: args.port, upstream: target, upstreamStatus: r.status } };
    } catch (e) {
      const timeout = e instanceof TimeoutError;
      upstreamOutcome(timeout ? "timeout" : "error");
      // debug only: during a fault this fires for every request
      log.debug("upstream failed", { upstream: target, timeout, error: (e as Error).message });
      return { status: timeout ? 504 : 502, body: { node: args.node, port: args.port, upstream: target, error: (e as Error).message } };
    }
  };

  const send = (res: http.ServerResponse, status: number, body: string, type = "application/json") => {
    res.writeHead(status, { "content-type": type, "x-demo-node": args.node, "x-demo-pid": String(process.pid), ...(args.instance ? { "x-demo-instance": args.instance } : {}) });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    // /healthz and /metrics are ours, not user traffic: counting them would let
    // the scraper and the supervisor's health checks inflate the SLIs.
    if (path === "/healthz") return send(res, 200, "ok", "text/plain");
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => send(res, 200, text, registry.contentType),
        (e: Error) => send(res, 500, JSON.stringify({ error: e.message })),
      );
      return;
    }
    if (path !== "/") return send(res, 404, JSON.stringify({ error: "not found" }));
    const end = metrics.duration.startTimer({ [LABEL_SERVICE]: args.node });
    const finish = (status: number, body: unknown) => {
      send(res, status, JSON.stringify(body));
      end();
      metrics.requests.inc({ [LABEL_SERVICE]: args.node, [LABEL_CODE]: String(status) });
    };
    if (req.method !== "GET" && req.method !== "HEAD") return finish(405, { error: "GET only" });
    answerRoot().then(
      (r) => finish(r.status, r.body),
      (e: Error) => finish(500, { error: e.message }),
    );
  });
  // longer than the callers' free-socket timeout (30 s), see the agent above
  server.keepAliveTimeout = 65_000;

  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        // in-flight upstream calls would otherwise hold close() for up to the timeout
        server.closeAllConnections();
      }),
  };
}

function parseServiceArgs(argv: string[]): ServiceArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      cluster: { type: "string" },
      node: { type: "string" },
      port: { type: "string" },
      upstream: { type: "string" },
      "upstream-timeout-ms": { type: "string" },
      host: { type: "string" },
      instance: { type: "string" },
    },
    strict: true,
  });
  const r = serviceArgsSchema.safeParse({ ...values, upstreamTimeoutMs: values["upstream-timeout-ms"] });
  if (!r.success) throw new Error(`invalid arguments:\n${formatIssues(zodIssues(r.error))}`);
  return r.data;
}

async function main(): Promise<void> {
  const log0 = createLogger({ component: "demo-service" });
  let args: ServiceArgs;
  try {
    args = parseServiceArgs(process.argv.slice(2));
  } catch (e) {
    log0.error("bad arguments", { error: (e as Error).message });
    process.exit(2);
  }
  const log = log0.child({ cluster: args.cluster, node: args.node, port: args.port, pid: process.pid });
  const svc = createService(args, new Registry(), log);

  let stopping = false;
  const parentAtStart = process.ppid;
  const stop = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    clearInterval(parentWatch);
    log.info("stopping", { reason });
    // close() waits for sockets; the hard exit covers a peer that never lets go
    setTimeout(() => process.exit(code), 1000).unref();
    void svc.close().then(() => process.exit(code));
  };
  // Node has no PR_SET_PDEATHSIG: when the supervisor dies we are re-parented,
  // and polling ppid is the portable way to notice and not linger as an orphan.
  const parentWatch = setInterval(() => {
    if (process.ppid !== parentAtStart) stop(`parent ${parentAtStart} exited`);
  }, 1000);
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  svc.server.on("error", (e) => {
    log.error("cannot listen", { error: e.message });
    stop("listen failed", 1);
  });
  svc.server.listen(args.port, args.host, () => log.info("listening", { host: args.host, upstream: args.upstream }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
