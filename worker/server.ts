// The worker's HTTP face: the REST API (/api/v1), socket.io for live state and
// commands, and /metrics. Every mutating route and socket command needs an
// authenticated user with the operator role; reads need any user.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { Server as IoServer, type Socket } from "socket.io";
import type { Registry } from "prom-client";
import { z } from "zod";
import {
  SESSION_COOKIE,
  type ClientToServerEvents,
  type CommandResult,
  type ExampleInfo,
  type Role,
  type ServerToClientEvents,
  type UnrevertedChange,
} from "../lib/contract";
import { ApiErr } from "../lib/errors";
import { parseExperiment } from "../lib/experiment";
import { zodIssues } from "../lib/issues";
import type { Logger } from "../lib/log";
import type { Db } from "../lib/db";
import { getInjector } from "../injectors";
import { Auth, roleAtLeast, type AuthUser } from "./auth";
import type { Engine } from "./engine";
import type { Change } from "../agent/executor";
import type { GraphPoller } from "./graph";
import type { KillSwitch } from "./killswitch";
import type { Scheduler } from "./scheduler";
import { budgetRefusal, budgetsOf, sloProbes } from "./budget";

export const WORKER_VERSION = "0.1.0";
const MAX_BODY = 512 * 1024;

export interface ServerDeps {
  db: Db;
  log: Logger;
  auth: Auth;
  engine: Engine;
  graph: GraphPoller | null;
  registry: Registry;
  examplesDir: string;
  scheduler: Scheduler;
  killSwitch: KillSwitch;
}

type Io = IoServer<ClientToServerEvents, ServerToClientEvents>;

const loginBody = z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(1000) }).strict();
const yamlBody = z.object({ yaml: z.string().min(1, "the experiment YAML is empty") }).strict();

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

function credentials(headers: http.IncomingHttpHeaders): { bearer?: string; cookie?: string } {
  const auth = headers.authorization;
  return {
    bearer: auth?.startsWith("Bearer ") ? auth.slice(7).trim() : undefined,
    cookie: parseCookies(headers.cookie)[SESSION_COOKIE],
  };
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  // JSON only: a cross-site HTML form cannot send it without a CORS preflight
  if (!type.startsWith("application/json")) throw new ApiErr("invalid_input", "expected a JSON body (content-type: application/json)");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ApiErr("payload_too_large", `request body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch {
    throw new ApiErr("invalid_input", "request body is not valid JSON");
  }
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new ApiErr("invalid_input", "invalid request body", zodIssues(r.error));
  return r.data;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(text);
}

type Handler = (ctx: { req: http.IncomingMessage; res: http.ServerResponse; user: AuthUser | null; params: string[]; url: URL }) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  /** minimum role, or null for public routes */
  role: Role | null;
  handler: Handler;
}

export function listExamples(dir: string): ExampleInfo[] {
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch {
    return [];
  }
  return files.map((file) => {
    const yaml = fs.readFileSync(path.join(dir, file), "utf8");
    const parsed = parseExperiment(yaml);
    if (!parsed.ok) {
      const name = /^\s*name:\s*(\S+)/m.exec(yaml)?.[1] ?? file;
      return { file, name, description: "", yaml, runnable: false, reason: parsed.issues.map((i) => `${i.path}: ${i.message}`).join("; ") };
    }
    const e = parsed.experiment;
    return { file, name: e.metadata.name, description: e.metadata.description ?? e.spec.hypothesis, yaml, runnable: true };
  });
}

const unrevertedView = (c: Change): UnrevertedChange => ({ id: c.id, runId: c.runId, fault: c.fault, targetLabel: c.targetLabel, host: c.host, state: c.state, error: c.error ?? null });

export function createServer(d: ServerDeps): { server: http.Server; io: Io } {
  const { engine, auth, log } = d;

  const routes: Route[] = [
    {
      method: "GET",
      pattern: /^\/api\/v1\/health$/,
      role: null,
      handler: async ({ res }) => send(res, 200, { ok: true, version: WORKER_VERSION, activeRunId: engine.activeRunId(), unreverted: engine.unreverted().length }),
    },
    {
      method: "GET",
      pattern: /^\/api\/v1\/changes$/,
      role: "viewer",
      handler: async ({ res }) => send(res, 200, { unreverted: engine.unreverted().map(unrevertedView) }),
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/recover$/,
      role: "operator",
      handler: async ({ res }) => {
        const r = await engine.retryUnreverted();
        send(res, 200, { reverted: r.reverted, unreverted: engine.unreverted().map(unrevertedView) });
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/auth\/login$/,
      role: null,
      handler: async ({ req, res }) => {
        const body = parseBody(loginBody, await readJson(req));
        const r = await auth.login(body.username, body.password);
        if (!r) throw new ApiErr("unauthenticated", "wrong username or password");
        send(res, 200, { user: { username: r.user.username, role: r.user.role } }, {
          "set-cookie": `${SESSION_COOKIE}=${r.cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${r.maxAgeSec}`,
        });
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/auth\/logout$/,
      role: "viewer",
      handler: async ({ req, res }) => {
        const c = credentials(req.headers).cookie;
        if (c) await auth.logout(c);
        send(res, 200, { ok: true }, { "set-cookie": `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0` });
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/v1\/auth\/me$/,
      role: "viewer",
      handler: async ({ res, user }) => send(res, 200, { user: { username: user!.username, role: user!.role } }),
    },
    {
      method: "GET",
      pattern: /^\/api\/v1\/graph$/,
      role: "viewer",
      handler: async ({ res }) => {
        if (!d.graph) throw new ApiErr("not_found", "no topology loaded (start the worker with --topology FILE)");
        send(res, 200, d.graph.state());
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/v1\/experiments\/examples$/,
      role: "viewer",
      handler: async ({ res }) => send(res, 200, { examples: listExamples(d.examplesDir) }),
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/experiments\/validate$/,
      role: "viewer",
      handler: async ({ req, res }) => {
        const { yaml } = parseBody(yamlBody, await readJson(req));
        const r = parseExperiment(yaml, engine.topology ?? undefined);
        if (!r.ok) throw new ApiErr("invalid_input", "invalid experiment", r.issues);
        const unavailable = [];
        for (const [i, s] of r.experiment.spec.method.entries()) {
          const a = await getInjector(s.fault)!.available();
          if (!a.ok) unavailable.push({ path: `spec.method[${i}].fault`, message: `${s.fault} is not available on this host: ${a.reason}` });
        }
        if (unavailable.length) throw new ApiErr("unavailable", "a fault cannot run on this host", unavailable);
        // the plan shows the error budgets left (and why a run would be refused)
        const budget = sloProbes(r.experiment).length
          ? await budgetsOf(r.experiment).then((b) => ({ budgets: b, budgetRefusal: budgetRefusal(b) }), (e: Error) => ({ budgets: [], budgetRefusal: e.message }))
          : {};
        send(res, 200, { ok: true, experiment: r.experiment, ...budget });
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/v1\/runs$/,
      role: "viewer",
      handler: async ({ res, url }) => {
        const limit = Math.min(Math.max(Number(url.searchParams.get("limit")) || 50, 1), 500);
        send(res, 200, { runs: await engine.list(limit) });
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/runs$/,
      role: "operator",
      handler: async ({ req, res, user }) => {
        const { yaml } = parseBody(yamlBody, await readJson(req));
        send(res, 201, { run: await engine.start(yaml, user!.username) });
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/v1\/runs\/([\w.-]+)$/,
      role: "viewer",
      handler: async ({ res, params }) => {
        const run = await engine.get(params[0]);
        if (!run) throw new ApiErr("not_found", `no run ${params[0]}`);
        send(res, 200, { run });
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/v1\/runs\/([\w.-]+)\/events$/,
      role: "viewer",
      handler: async ({ res, params }) => {
        await engine.flush();
        const rows = await d.db.runEvent.findMany({ where: { runId: params[0] }, orderBy: { id: "asc" } });
        send(res, 200, {
          events: rows.map((r) => ({ runId: r.runId, at: r.at.toISOString(), monoMs: r.monoMs, kind: r.kind, message: r.message, data: r.data ? JSON.parse(r.data) : undefined })),
        });
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/v1\/runs\/([\w.-]+)\/samples$/,
      role: "viewer",
      handler: async ({ res, params }) => {
        await engine.flush();
        const rows = await d.db.probeSample.findMany({ where: { runId: params[0] }, orderBy: { id: "asc" } });
        send(res, 200, {
          samples: rows.map((r) => ({ runId: r.runId, probe: r.probe, measure: r.detail ?? "", at: r.at.toISOString(), monoMs: r.monoMs, value: r.value, ok: r.ok })),
        });
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/runs\/([\w.-]+)\/abort$/,
      role: "operator",
      handler: async ({ res, params, user }) => send(res, 200, { run: await engine.abort(params[0], user!.username) }),
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/halt$/,
      role: "operator",
      handler: async ({ res, user }) => send(res, 200, { aborted: await engine.halt(user!.username) }),
    },
    // ---- the kill switch and the schedules (#12)
    {
      method: "GET",
      pattern: /^\/api\/v1\/abort-signal$/,
      role: "viewer",
      handler: async ({ res, url }) => {
        const after = Number(url.searchParams.get("after") ?? -1);
        const wait = Math.min(Math.max(Number(url.searchParams.get("wait")) || 0, 0), 120_000);
        if (!Number.isFinite(after)) throw new ApiErr("invalid_input", "after: expected the seq of the last signal seen");
        const gone = new AbortController();
        res.once("close", () => gone.abort());
        send(res, 200, await d.killSwitch.wait(after, wait, gone.signal));
      },
    },
    { method: "GET", pattern: /^\/api\/v1\/schedules$/, role: "viewer", handler: async ({ res }) => send(res, 200, { schedules: await d.scheduler.list() }) },
    {
      method: "POST",
      pattern: /^\/api\/v1\/schedules\/preview$/,
      role: "viewer",
      handler: async ({ req, res }) => send(res, 200, { next: d.scheduler.preview(await readJson(req)).next }),
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/schedules$/,
      role: "operator",
      handler: async ({ req, res, user }) => send(res, 201, { schedule: await d.scheduler.create(await readJson(req), user!.username) }),
    },
    { method: "GET", pattern: /^\/api\/v1\/schedules\/([\w.-]+)$/, role: "viewer", handler: async ({ res, params }) => send(res, 200, await d.scheduler.get(params[0])) },
    {
      method: "POST",
      pattern: /^\/api\/v1\/schedules\/([\w.-]+)$/,
      role: "operator",
      handler: async ({ req, res, params }) => send(res, 200, { schedule: await d.scheduler.update(params[0], await readJson(req)) }),
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/schedules\/([\w.-]+)\/(pause|resume)$/,
      role: "operator",
      handler: async ({ res, params }) => send(res, 200, { schedule: await d.scheduler.setPaused(params[0], params[1] === "pause") }),
    },
    {
      method: "POST",
      pattern: /^\/api\/v1\/schedules\/([\w.-]+)\/delete$/,
      role: "operator",
      handler: async ({ res, params }) => (await d.scheduler.remove(params[0]), send(res, 200, { ok: true })),
    },
  ];

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://worker.local");
      try {
        if (url.pathname === "/metrics" && req.method === "GET") {
          res.writeHead(200, { "content-type": d.registry.contentType });
          res.end(await d.registry.metrics());
          return;
        }
        let pathMatched = false;
        for (const r of routes) {
          const m = r.pattern.exec(url.pathname);
          if (!m) continue;
          pathMatched = true;
          if (r.method !== req.method) continue;
          let user: AuthUser | null = null;
          if (r.role) {
            user = await auth.verify(credentials(req.headers));
            if (!user) throw new ApiErr("unauthenticated", "log in or send an API token (Authorization: Bearer ...)");
            if (!roleAtLeast(user.role, r.role)) throw new ApiErr("forbidden", `this needs the ${r.role} role; ${user.username} is ${user.role}`);
          }
          await r.handler({ req, res, user, params: m.slice(1), url });
          return;
        }
        throw pathMatched ? new ApiErr("not_found", `${req.method} not allowed on ${url.pathname}`) : new ApiErr("not_found", `no route ${url.pathname}`);
      } catch (e) {
        if (e instanceof ApiErr) return send(res, e.status, e.body());
        log.error("request failed", { path: url.pathname, error: e as Error });
        send(res, 500, { error: "internal error", code: "internal" });
      }
    })();
  });

  const io: Io = new IoServer(server, { cors: { origin: true, credentials: true }, serveClient: false });

  io.use((socket, next) => {
    const token = typeof socket.handshake.auth?.token === "string" ? socket.handshake.auth.token : undefined;
    const creds = token ? { bearer: token } : credentials(socket.handshake.headers);
    auth
      .verify(creds)
      .then((user) => {
        if (!user) return next(new Error("unauthenticated"));
        socket.data.user = user;
        next();
      })
      .catch((e: Error) => next(e));
  });

  const guard = async <T extends object>(socket: Socket, role: Role, fn: (user: AuthUser) => Promise<T>): Promise<CommandResult<T>> => {
    const user = socket.data.user as AuthUser;
    try {
      if (!roleAtLeast(user.role, role)) throw new ApiErr("forbidden", `this needs the ${role} role; ${user.username} is ${user.role}`);
      return { ok: true, ...(await fn(user)) };
    } catch (e) {
      if (e instanceof ApiErr) return { ok: false, ...e.body() };
      log.error("socket command failed", { error: e as Error });
      return { ok: false, error: "internal error", code: "internal" };
    }
  };

  io.on("connection", (socket) => {
    const user = socket.data.user as AuthUser;
    socket.emit("hello", { user: { username: user.username, role: user.role }, activeRunId: engine.activeRunId(), workerVersion: WORKER_VERSION });
    if (d.graph) socket.emit("graph:state", d.graph.state());
    const ack = <T>(cb: unknown) => (typeof cb === "function" ? (cb as (r: T) => void) : () => undefined);
    socket.on("run:start", (cmd, cb) => {
      void guard(socket, "operator", async (u) => ({ runId: (await engine.start(String(cmd?.yaml ?? ""), u.username)).id })).then(ack(cb));
    });
    socket.on("run:abort", (cmd, cb) => {
      void guard(socket, "operator", async (u) => (await engine.abort(String(cmd?.runId ?? ""), u.username), {})).then(ack(cb));
    });
    socket.on("halt", (_cmd, cb) => {
      void guard(socket, "operator", async (u) => ({ aborted: await engine.halt(u.username) })).then(ack(cb));
    });
  });

  return { server, io };
}
