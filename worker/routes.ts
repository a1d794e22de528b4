// The worker's route table: every REST route and socket.io command with the
// role it needs. server.ts enforces role and origin for every entry before its
// handler runs, and worker/access.test.ts walks this table, so a route cannot
// be added without both.
import fs from "node:fs";
import path from "node:path";
import type http from "node:http";
import type { Registry } from "prom-client";
import { z } from "zod";
import { SESSION_COOKIE, type ClientToServerEvents, type ExampleInfo, type Role, type ServerToClientEvents, type UnrevertedChange } from "../lib/contract";
import type { Db } from "../lib/db";
import { duration } from "../lib/duration";
import { ApiErr } from "../lib/errors";
import { parseExperiment } from "../lib/experiment";
import type { Logger } from "../lib/log";
import { secureCookies } from "../lib/origin";
import { getInjector } from "../injectors";
import type { Change } from "../agent/executor";
import type { Audit, RequestMeta } from "./audit";
import { Auth, passwordSchema, roleSchema, usernameSchema, type AuthUser, type Principal } from "./auth";
import type { Engine } from "./engine";
import type { FaultCatalogueCache } from "./faults";
import type { GraphPoller } from "./graph";
import type { KillSwitch } from "./killswitch";
import type { Scheduler } from "./scheduler";
import { budgetRefusal, budgetsOf, sloProbes } from "./budget";
import { credentials, parseBody, readJson, SECURITY_HEADERS, send } from "./http";
import { noteView, type ReportService } from "../report/service";
import { ReportError } from "../report/pdf";

export const WORKER_VERSION = "0.1.0";

export interface ServerDeps {
  db: Db;
  log: Logger;
  auth: Auth;
  audit: Audit;
  engine: Engine;
  graph: GraphPoller | null;
  registry: Registry;
  examplesDir: string;
  /** the fault catalogue, its availability answers cached for a short time */
  faults: FaultCatalogueCache;
  /** post-mortems, notes and replay bundles (absent: those routes answer 404) */
  reports?: ReportService;
  scheduler: Scheduler;
  killSwitch: KillSwitch;
  /** a push to every dashboard (set by server.ts once socket.io is up) */
  broadcast?: <E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>) => void;
}

export interface RouteCtx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  principal: Principal | null;
  /** the principal's user; set on every route with a role */
  user: AuthUser;
  params: Record<string, string>;
  url: URL;
  meta: RequestMeta;
}

export interface Route {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** path with :name parameters, e.g. /api/v1/runs/:id/abort */
  path: string;
  /** minimum role, or null for a public route */
  role: Role | null;
  handler: (ctx: RouteCtx, d: ServerDeps) => Promise<void>;
}

const loginBody = z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(1000) }).strict();
const yamlBody = z.object({ yaml: z.string().min(1, "the experiment YAML is empty") }).strict();
const MAX_TOKEN_LIFE_MS = 366 * 24 * 3_600_000;
/** default 90 days; durations as elsewhere, plus days ("30d") */
const tokenLife = z.preprocess((v) => (typeof v === "string" && /^\d+d$/.test(v) ? `${Number(v.slice(0, -1)) * 24}h` : v), duration({ min: 60_000, max: MAX_TOKEN_LIFE_MS }));
const tokenBody = z
  .object({ name: z.string().min(1, "name the token").max(100), expiresIn: tokenLife.default(90 * 24 * 3_600_000), username: usernameSchema.optional() })
  .strict();
const userBody = z.object({ username: usernameSchema, password: passwordSchema, role: roleSchema }).strict();
const roleBody = z.object({ role: roleSchema }).strict();
const passwordChangeBody = z
  .object({ currentPassword: z.string().min(1, "give your current password").max(1000), newPassword: passwordSchema })
  .strict()
  .refine((b) => b.newPassword !== b.currentPassword, { path: ["newPassword"], message: "must differ from the current password" });
const passwordResetBody = z.object({ password: passwordSchema }).strict();
const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  actor: z.string().max(200).optional(),
  action: z.string().max(50).optional(),
  before: z.coerce.number().int().min(1).optional(),
});

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

/** The session cookie: HttpOnly, SameSite=Strict, Secure when the page is on HTTPS. */
function sessionCookie(req: http.IncomingMessage, meta: RequestMeta, value: string, maxAgeSec: number): string {
  const viaHttps = secureCookies(meta.origin) || req.headers["x-forwarded-proto"] === "https";
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSec}${viaHttps ? "; Secure" : ""}`;
}

/** Run an action and record it in the audit log, whether it worked or not. */
async function audited<T>(d: ServerDeps, meta: RequestMeta, actor: string, action: string, target: string | null, fn: () => Promise<T>, detail?: (r: T) => Record<string, unknown>): Promise<T> {
  try {
    const r = await fn();
    d.audit.record(meta, { actor, action, target: target ?? (r as { id?: string })?.id ?? null, ok: true, detail: detail?.(r) });
    return r;
  } catch (e) {
    d.audit.record(meta, { actor, action, target, ok: false, detail: { error: (e as Error).message } });
    throw e;
  }
}

export const startRun = (d: ServerDeps, meta: RequestMeta, u: AuthUser, yaml: string) => audited(d, meta, u.username, "run-start", null, () => d.engine.start(yaml, u.username), (r) => ({ name: r.name }));
export const abortRun = (d: ServerDeps, meta: RequestMeta, u: AuthUser, id: string) => audited(d, meta, u.username, "run-abort", id, () => d.engine.abort(id, u.username));
export const haltAll = (d: ServerDeps, meta: RequestMeta, u: AuthUser) => audited(d, meta, u.username, "halt", null, () => d.engine.halt(u.username), (aborted) => ({ aborted }));

export const ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/api/v1/health",
    role: null,
    handler: async ({ res }, { engine }) => send(res, 200, { ok: true, version: WORKER_VERSION, activeRunId: engine.activeRunId(), unreverted: engine.unreverted().length }),
  },
  {
    method: "GET",
    path: "/metrics",
    role: null,
    handler: async ({ res }, d) => {
      const text = await d.registry.metrics();
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": d.registry.contentType });
      res.end(text);
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/login",
    role: null,
    handler: async ({ req, res, meta }, { auth }) => {
      const body = parseBody(loginBody, await readJson(req));
      const r = await auth.login(body.username, body.password, meta);
      if (!r) throw new ApiErr("unauthenticated", "wrong username or password");
      send(res, 200, { user: { username: r.user.username, role: r.user.role } }, { "set-cookie": sessionCookie(req, meta, r.cookie, r.maxAgeSec) });
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/logout",
    role: "viewer",
    handler: async ({ req, res, meta, user }, { auth }) => {
      const c = credentials(req.headers).cookie;
      if (c) await auth.logout(c, meta, user.username);
      send(res, 200, { ok: true }, { "set-cookie": sessionCookie(req, meta, "", 0) });
    },
  },
  {
    method: "GET",
    path: "/api/v1/auth/me",
    role: "viewer",
    handler: async ({ res, user }) => send(res, 200, { user: { username: user.username, role: user.role } }),
  },
  {
    method: "POST",
    path: "/api/v1/auth/password",
    role: "viewer",
    handler: async ({ req, res, meta, principal }, { auth }) => {
      const b = parseBody(passwordChangeBody, await readJson(req));
      send(res, 200, await auth.changePassword(principal!, meta, b.currentPassword, b.newPassword));
    },
  },
  {
    method: "GET",
    path: "/api/v1/changes",
    role: "viewer",
    handler: async ({ res }, { engine }) => send(res, 200, { unreverted: engine.unreverted().map(unrevertedView) }),
  },
  {
    method: "POST",
    path: "/api/v1/recover",
    role: "operator",
    handler: async ({ res, meta, user }, d) => {
      const r = await audited(d, meta, user.username, "recover", null, () => d.engine.retryUnreverted(), (x) => ({ reverted: x.reverted }));
      send(res, 200, { reverted: r.reverted, unreverted: d.engine.unreverted().map(unrevertedView) });
    },
  },
  {
    method: "GET",
    path: "/api/v1/graph",
    role: "viewer",
    handler: async ({ res }, d) => {
      if (!d.graph) throw new ApiErr("not_found", "no topology loaded (start the worker with --topology FILE)");
      send(res, 200, d.graph.state());
    },
  },
  {
    method: "GET",
    path: "/api/v1/experiments/examples",
    role: "viewer",
    handler: async ({ res }, d) => send(res, 200, { examples: listExamples(d.examplesDir) }),
  },
  {
    method: "GET",
    path: "/api/v1/faults",
    role: "viewer",
    handler: async ({ res }, d) => send(res, 200, await d.faults.get()),
  },
  {
    method: "POST",
    path: "/api/v1/experiments/validate",
    role: "viewer",
    handler: async ({ req, res }, { engine }) => {
      const { yaml } = parseBody(yamlBody, await readJson(req));
      const r = parseExperiment(yaml, engine.topology ?? undefined);
      if (!r.ok) throw new ApiErr("invalid_input", "invalid experiment", r.issues);
      const unavailable = [];
      for (const [i, s] of r.experiment.spec.method.entries()) {
        const a = await getInjector(s.fault)!.available();
        if (!a.ok) unavailable.push({ path: `spec.method[${i}].fault`, message: `${s.fault} is not available on this host: ${a.reason}` });
      }
      if (unavailable.length) throw new ApiErr("unavailable", "a fault cannot run on this host", unavailable);
      // the plan shows what would be hit and the error budgets left (and why a run would be refused)
      const budget = sloProbes(r.experiment).length
        ? await budgetsOf(r.experiment).then((b) => ({ budgets: b, budgetRefusal: budgetRefusal(b) }), (e: Error) => ({ budgets: [], budgetRefusal: e.message }))
        : {};
      send(res, 200, { ok: true, experiment: r.experiment, plan: await engine.plan(r.experiment), ...budget });
    },
  },
  {
    method: "GET",
    path: "/api/v1/runs",
    role: "viewer",
    handler: async ({ res, url }, { engine }) => {
      const limit = Math.min(Math.max(Number(url.searchParams.get("limit")) || 50, 1), 500);
      send(res, 200, { runs: await engine.list(limit) });
    },
  },
  {
    method: "POST",
    path: "/api/v1/runs",
    role: "operator",
    handler: async ({ req, res, user, meta }, d) => {
      const { yaml } = parseBody(yamlBody, await readJson(req));
      send(res, 201, { run: await startRun(d, meta, user, yaml) });
    },
  },
  {
    method: "GET",
    path: "/api/v1/runs/:id",
    role: "viewer",
    handler: async ({ res, params }, { engine }) => {
      const run = await engine.get(params.id);
      if (!run) throw new ApiErr("not_found", `no run ${params.id}`);
      send(res, 200, { run });
    },
  },
  {
    method: "GET",
    path: "/api/v1/runs/:id/events",
    role: "viewer",
    handler: async ({ res, params }, { engine, db }) => {
      await engine.flush();
      const rows = await db.runEvent.findMany({ where: { runId: params.id }, orderBy: { id: "asc" } });
      send(res, 200, {
        events: rows.map((r) => ({ runId: r.runId, at: r.at.toISOString(), monoMs: r.monoMs, kind: r.kind, message: r.message, data: r.data ? JSON.parse(r.data) : undefined })),
      });
    },
  },
  {
    method: "GET",
    path: "/api/v1/runs/:id/samples",
    role: "viewer",
    handler: async ({ res, params }, { engine, db }) => {
      await engine.flush();
      const rows = await db.probeSample.findMany({ where: { runId: params.id }, orderBy: { id: "asc" } });
      send(res, 200, {
        samples: rows.map((r) => ({ runId: r.runId, probe: r.probe, measure: r.detail ?? "", at: r.at.toISOString(), monoMs: r.monoMs, value: r.value, ok: r.ok })),
      });
    },
  },
  {
    method: "POST",
    path: "/api/v1/runs/:id/abort",
    role: "operator",
    handler: async ({ res, params, user, meta }, d) => send(res, 200, { run: await abortRun(d, meta, user, params.id) }),
  },
  {
    method: "POST",
    path: "/api/v1/halt",
    role: "operator",
    handler: async ({ res, user, meta }, d) => send(res, 200, { aborted: await haltAll(d, meta, user) }),
  },
  {
    method: "GET",
    path: "/api/v1/tokens",
    role: "viewer",
    handler: async ({ res, user }, { auth }) => send(res, 200, { tokens: await auth.listTokens(user) }),
  },
  {
    method: "POST",
    path: "/api/v1/tokens",
    role: "operator",
    handler: async ({ req, res, user, meta }, { auth }) => {
      const b = parseBody(tokenBody, await readJson(req));
      const r = await auth.issueToken(user, meta, { name: b.name, expiresInMs: b.expiresIn, username: b.username });
      send(res, 201, { token: r.token, info: r.info });
    },
  },
  {
    method: "DELETE",
    path: "/api/v1/tokens/:id",
    role: "operator",
    handler: async ({ res, user, meta, params }, { auth }) => send(res, 200, { info: await auth.revokeToken(user, meta, params.id) }),
  },
  {
    method: "GET",
    path: "/api/v1/users",
    role: "admin",
    handler: async ({ res }, { auth }) => send(res, 200, { users: await auth.listUsers() }),
  },
  {
    method: "POST",
    path: "/api/v1/users",
    role: "admin",
    handler: async ({ req, res, user, meta }, { auth }) => send(res, 201, { user: await auth.addUser(user, meta, parseBody(userBody, await readJson(req))) }),
  },
  {
    method: "PATCH",
    path: "/api/v1/users/:username",
    role: "admin",
    handler: async ({ req, res, user, meta, params }, { auth }) => {
      const { role } = parseBody(roleBody, await readJson(req));
      send(res, 200, { user: await auth.setRole(user, meta, params.username, role) });
    },
  },
  {
    method: "POST",
    path: "/api/v1/users/:username/password",
    role: "admin",
    handler: async ({ req, res, user, meta, params }, { auth }) => {
      const { password } = parseBody(passwordResetBody, await readJson(req));
      send(res, 200, await auth.resetPassword(user, meta, params.username, password));
    },
  },
  {
    method: "POST",
    path: "/api/v1/users/:username/disable",
    role: "admin",
    handler: async ({ res, user, meta, params }, { auth }) => send(res, 200, { user: await auth.disableUser(user, meta, params.username) }),
  },
  {
    method: "POST",
    path: "/api/v1/users/:username/enable",
    role: "admin",
    handler: async ({ res, user, meta, params }, { auth }) => send(res, 200, { user: await auth.enableUser(user, meta, params.username) }),
  },
  {
    method: "GET",
    path: "/api/v1/audit",
    role: "admin",
    handler: async ({ res, url }, { audit }) => {
      const q = parseBody(auditQuery, Object.fromEntries(url.searchParams));
      send(res, 200, { events: await audit.list(q) });
    },
  },
  // the kill switch and the schedules
  {
    method: "GET",
    path: "/api/v1/abort-signal",
    role: "viewer",
    handler: async ({ res, url }, d) => {
      const after = Number(url.searchParams.get("after") ?? -1);
      const wait = Math.min(Math.max(Number(url.searchParams.get("wait")) || 0, 0), 120_000);
      if (!Number.isFinite(after)) throw new ApiErr("invalid_input", "after: expected the seq of the last signal seen");
      const gone = new AbortController();
      res.once("close", () => gone.abort());
      send(res, 200, await d.killSwitch.wait(after, wait, gone.signal));
    },
  },
  { method: "GET", path: "/api/v1/schedules", role: "viewer", handler: async ({ res }, d) => send(res, 200, { schedules: await d.scheduler.list() }) },
  {
    method: "POST",
    path: "/api/v1/schedules/preview",
    role: "viewer",
    handler: async ({ req, res }, d) => send(res, 200, { next: d.scheduler.preview(await readJson(req)).next }),
  },
  {
    method: "POST",
    path: "/api/v1/schedules",
    role: "operator",
    handler: async ({ req, res, user }, d) => send(res, 201, { schedule: await d.scheduler.create(await readJson(req), user.username) }),
  },
  { method: "GET", path: "/api/v1/schedules/:id", role: "viewer", handler: async ({ res, params }, d) => send(res, 200, await d.scheduler.get(params.id)) },
  {
    method: "POST",
    path: "/api/v1/schedules/:id",
    role: "operator",
    handler: async ({ req, res, params }, d) => send(res, 200, { schedule: await d.scheduler.update(params.id, await readJson(req)) }),
  },
  {
    method: "POST",
    path: "/api/v1/schedules/:id/pause",
    role: "operator",
    handler: async ({ res, params }, d) => send(res, 200, { schedule: await d.scheduler.setPaused(params.id, true) }),
  },
  {
    method: "POST",
    path: "/api/v1/schedules/:id/resume",
    role: "operator",
    handler: async ({ res, params }, d) => send(res, 200, { schedule: await d.scheduler.setPaused(params.id, false) }),
  },
  {
    method: "POST",
    path: "/api/v1/schedules/:id/delete",
    role: "operator",
    handler: async ({ res, params }, d) => {
      await d.scheduler.remove(params.id);
      send(res, 200, { ok: true });
    },
  },

  // post-mortems: participants' notes, the review, the report (PDF or one HTML file) and the replay bundle
  {
    method: "GET",
    path: "/api/v1/runs/:id/notes",
    role: "viewer",
    handler: async ({ res, params }, d) => send(res, 200, { notes: await reports(d).notes(params.id) }),
  },
  {
    method: "POST",
    path: "/api/v1/runs/:id/notes",
    role: "operator",
    handler: async ({ req, res, params, user }, d) => {
      const { text } = parseBody(noteBody, await readJson(req));
      await runMustExist(d, params.id);
      const note = noteView(await d.db.note.create({ data: { runId: params.id, at: new Date(), author: user.username, text } }));
      d.broadcast?.("run:note", note);
      send(res, 201, { note });
    },
  },
  {
    method: "GET",
    path: "/api/v1/runs/:id/review",
    role: "viewer",
    handler: async ({ res, params }, d) => send(res, 200, { review: await reports(d).review(params.id) }),
  },
  {
    method: "PUT",
    path: "/api/v1/runs/:id/review",
    role: "operator",
    handler: async ({ req, res, params, user }, d) => {
      const body = parseBody(reviewBody, await readJson(req));
      await runMustExist(d, params.id);
      const data = { ...body, updatedBy: user.username, updatedAt: new Date() };
      await d.db.runReview.upsert({ where: { runId: params.id }, create: { runId: params.id, ...data }, update: data });
      send(res, 200, { review: await reports(d).review(params.id) });
    },
  },
  {
    method: "GET",
    path: "/api/v1/runs/:id/report.pdf",
    role: "viewer",
    handler: async ({ res, params }, d) => sendBytes(res, "application/pdf", found(await rendering(() => reports(d).pdf(params.id)), params.id), `gameday-${params.id}.pdf`),
  },
  {
    method: "GET",
    path: "/api/v1/runs/:id/report.html",
    role: "viewer",
    handler: async ({ res, params }, d) => sendBytes(res, "text/html; charset=utf-8", found(await reports(d).html(params.id), params.id), `gameday-${params.id}.html`),
  },
  {
    method: "GET",
    path: "/api/v1/runs/:id/bundle.json",
    role: "viewer",
    handler: async ({ res, params }, d) =>
      sendBytes(res, "application/json; charset=utf-8", JSON.stringify(found(await reports(d).bundle(params.id), params.id)), `gameday-${params.id}.replay.json`),
  },
];

export type CommandName = keyof ClientToServerEvents;

export interface SocketCommand {
  role: Role;
  run: (cmd: Record<string, unknown>, user: AuthUser, meta: RequestMeta, d: ServerDeps) => Promise<object>;
}

/** Every client → server command; the keys are the contract's, so none is left out. */
export const SOCKET_COMMANDS: { readonly [K in CommandName]: SocketCommand } = {
  "run:start": { role: "operator", run: async (cmd, u, meta, d) => ({ runId: (await startRun(d, meta, u, String(cmd.yaml ?? ""))).id }) },
  "run:abort": { role: "operator", run: async (cmd, u, meta, d) => (await abortRun(d, meta, u, String(cmd.runId ?? "")), {}) },
  halt: { role: "operator", run: async (_cmd, u, meta, d) => ({ aborted: await haltAll(d, meta, u) }) },
};

const noteBody = z.object({ text: z.string().trim().min(1, "the note is empty").max(2000, "a note is at most 2000 characters") }).strict();
const reviewBody = z
  .object({ learned: z.string().max(20_000, "at most 20000 characters"), actions: z.string().max(20_000, "at most 20000 characters") })
  .strict();

function reports(d: ServerDeps): ReportService {
  if (!d.reports) throw new ApiErr("not_found", "reports are not enabled on this worker");
  return d.reports;
}

async function runMustExist(d: ServerDeps, id: string): Promise<void> {
  if (!(await d.engine.get(id))) throw new ApiErr("not_found", `no run ${id}`);
}

function found<T>(v: T | null, id: string): T {
  if (v === null) throw new ApiErr("not_found", `no run ${id}`);
  return v;
}

/** A missing Chromium is the worker's limit (503 with how to install it), not the caller's mistake. */
async function rendering<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ReportError) throw new ApiErr("renderer_unavailable", e.message);
    throw e;
  }
}

function sendBytes(res: http.ServerResponse, type: string, body: string | Buffer, filename: string): void {
  res.writeHead(200, { ...SECURITY_HEADERS, "content-type": type, "content-disposition": `attachment; filename="${filename}"`, "cache-control": "no-store" });
  res.end(body);
}
