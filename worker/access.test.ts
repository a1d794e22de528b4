// Every route and socket command, read from the route table itself
// (worker/routes.ts), against a real worker process over real HTTP and a real
// socket.io client: unauthenticated → 401, a viewer on anything beyond
// viewer → 403, a valid admin cookie from a foreign page → 403 (a mutation
// without any Origin too). A route added to the table is checked here
// without anyone writing a test for it; a public route or a viewer mutation
// must be listed below with its reason, or this fails.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { io as ioClient, type Socket } from "socket.io-client";
import { API, type ClientToServerEvents, type CommandResult, type ServerToClientEvents } from "../lib/contract";
import { ROUTES, SOCKET_COMMANDS, type CommandName } from "./routes";
import { apiCall, startWorkerProcess, tempHome, type WorkerProc } from "../e2e/kit";

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

const TRUSTED = "http://127.0.0.1:3000";
const FOREIGN = ["http://evil.example:4100", "http://127.0.0.1:4100", "null"];

/** Routes anyone may call, and why. */
const PUBLIC: Record<string, string> = {
  "GET /api/v1/health": "liveness for make up and load balancers; says nothing about runs",
  "GET /metrics": "Prometheus scrapes it without credentials",
  "POST /api/v1/auth/login": "the way in; rate limited, and refused from a foreign page",
};
/** Non-GET routes a viewer may call, and why. */
const VIEWER_MUTATIONS: Record<string, string> = {
  "POST /api/v1/experiments/validate": "checks a file; starts nothing",
  "POST /api/v1/auth/logout": "ends the caller's own session",
  "POST /api/v1/auth/password": "changes the caller's own password; needs the current one, checked behind the login limits",
  "POST /api/v1/schedules/preview": "computes the next fire times of a body; saves nothing",
};

const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
const samplePath = (p: string) => p.replace(/:(\w+)/g, (_m, n: string) => (n === "id" ? "0123456789abcdef" : "nobody"));

describe("access: every route and socket command from the route table", { timeout: 120_000 }, () => {
  let w: WorkerProc;
  let adminCookie = "";
  let viewerCookie = "";
  let viewerToken = "";
  const sockets: Client[] = [];

  before(async () => {
    w = await startWorkerProcess(tempHome(), { env: { GAMEDAY_ORIGINS: TRUSTED } });
    const made = await apiCall(w, "POST", API.users, { username: "vera", password: "viewer-password", role: "viewer" });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const t = await apiCall<{ token: string }>(w, "POST", API.tokens, { name: "vera-access", username: "vera", expiresIn: "1h" });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    viewerToken = t.body.token;
    adminCookie = await login("admin", "test-admin-pw");
    viewerCookie = await login("vera", "viewer-password");
  });

  after(async () => {
    for (const s of sockets) s.close();
    await w?.stop();
  });

  async function login(username: string, password: string): Promise<string> {
    const r = await fetch(w.url + API.login, { method: "POST", headers: { "content-type": "application/json", origin: TRUSTED }, body: JSON.stringify({ username, password }) });
    assert.equal(r.status, 200, `login ${username}`);
    return r.headers.getSetCookie()[0].split(";")[0];
  }

  async function call(method: string, p: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; code: string }> {
    const r = await fetch(w.url + p, {
      method,
      headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await r.text();
    let code = "";
    try {
      code = (JSON.parse(text) as { code?: string }).code ?? "";
    } catch {
      code = "";
    }
    return { status: r.status, code };
  }

  test("the table is the contract: every REST path of lib/contract's API has a route", () => {
    const paths = Object.values(API).map((v) => (typeof v === "function" ? v("0123456789abcdef") : v));
    for (const p of paths) {
      const hit = ROUTES.some((r) => new RegExp(`^${r.path.replace(/:(\w+)/g, "[\\w.-]+")}$`).test(p));
      assert.ok(hit, `${p} is in lib/contract's API but not in the route table`);
    }
  });

  test("public routes and viewer mutations are exactly the ones listed with a reason", () => {
    const publicRoutes = ROUTES.filter((r) => r.role === null).map(key);
    assert.deepEqual(publicRoutes.sort(), Object.keys(PUBLIC).sort(), "a route without a role must be listed in PUBLIC with its reason");
    const viewerMutations = ROUTES.filter((r) => r.role === "viewer" && r.method !== "GET").map(key);
    assert.deepEqual(viewerMutations.sort(), Object.keys(VIEWER_MUTATIONS).sort(), "a non-GET route a viewer may call must be listed with its reason");
  });

  test("unauthenticated → 401 on every route with a role", async () => {
    for (const r of ROUTES.filter((x) => x.role)) {
      const res = await call(r.method, samplePath(r.path), {}, r.method === "GET" ? undefined : {});
      assert.deepEqual(res, { status: 401, code: "unauthenticated" }, key(r));
      const bad = await call(r.method, samplePath(r.path), { authorization: "Bearer not-a-token" });
      assert.equal(bad.status, 401, `${key(r)} with a made-up token`);
    }
  });

  test("a viewer → 403 on every route that needs more, by cookie and by token", async () => {
    const routes = ROUTES.filter((x) => x.role === "operator" || x.role === "admin");
    assert.ok(routes.length >= 8, `only ${routes.length} routes need more than viewer`);
    for (const r of routes) {
      const body = r.method === "GET" ? undefined : {};
      assert.deepEqual(await call(r.method, samplePath(r.path), { cookie: viewerCookie, origin: TRUSTED }, body), { status: 403, code: "forbidden" }, `${key(r)} by cookie`);
      assert.deepEqual(await call(r.method, samplePath(r.path), { authorization: `Bearer ${viewerToken}` }, body), { status: 403, code: "forbidden" }, `${key(r)} by token`);
    }
  });

  test("a valid admin cookie from a foreign page → 403 on every route; a mutation without Origin → 403; bearer tokens are not affected", async () => {
    for (const r of ROUTES) {
      const p = samplePath(r.path);
      for (const origin of FOREIGN) {
        // no body: HALT and abort read none, so no content-type check can save them
        assert.deepEqual(await call(r.method, p, { cookie: adminCookie, origin }), { status: 403, code: "forbidden" }, `${key(r)} from ${origin}`);
      }
      if (r.method !== "GET") assert.deepEqual(await call(r.method, p, { cookie: adminCookie }), { status: 403, code: "forbidden" }, `${key(r)} without Origin`);
    }
    // the refusals reached no handler: the admin is still logged in, nothing was halted
    assert.equal((await call("GET", API.me, { cookie: adminCookie })).status, 200, "the foreign logout went through");
    assert.equal((await call("POST", API.halt, { cookie: adminCookie, origin: TRUSTED })).status, 200, "the trusted page may HALT");
    assert.equal((await call("POST", API.halt, { authorization: `Bearer ${w.token}`, origin: FOREIGN[0] })).status, 200, "a bearer token is not a cookie");
  });

  function connect(opts: { token?: string; headers?: Record<string, string> }): Promise<Client> {
    const s: Client = ioClient(w.url, { transports: ["websocket"], reconnection: false, auth: opts.token ? { token: opts.token } : {}, extraHeaders: opts.headers });
    sockets.push(s);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no hello within 10 s")), 10_000);
      s.once("hello", () => (clearTimeout(t), resolve(s)));
      s.once("connect_error", (e) => (clearTimeout(t), reject(e)));
    });
  }

  /** A raw WebSocket upgrade to socket.io: the handshake's HTTP status. */
  function upgradeStatus(headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const u = new URL(w.url);
      const req = http.request({
        host: u.hostname,
        port: u.port,
        path: "/socket.io/?EIO=4&transport=websocket",
        headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers },
        timeout: 10_000,
      });
      req.on("upgrade", (res, socket) => (socket.destroy(), resolve(res.statusCode ?? 101)));
      req.on("response", (res) => (res.resume(), resolve(res.statusCode ?? 0)));
      req.on("error", reject);
      req.end();
    });
  }

  test("socket.io: anonymous handshakes are refused; a cookie from a foreign page or without Origin gets 403; a viewer's every command is forbidden", async () => {
    await assert.rejects(connect({}), /unauthenticated/);
    for (const origin of FOREIGN) {
      assert.equal(await upgradeStatus({ cookie: adminCookie, origin }), 403, `upgrade from ${origin}`);
      await assert.rejects(connect({ headers: { cookie: adminCookie, origin } }), `socket.io from ${origin}`);
    }
    assert.equal(await upgradeStatus({ cookie: adminCookie }), 403, "upgrade with a cookie and no Origin");
    assert.equal(await upgradeStatus({ cookie: adminCookie, origin: TRUSTED }), 101, "upgrade from the dashboard");
    assert.equal(await upgradeStatus({ origin: FOREIGN[0] }), 101, "no cookie: the token in the CONNECT packet decides");

    const trusted = await connect({ headers: { cookie: viewerCookie, origin: TRUSTED } });
    const byToken = await connect({ token: viewerToken });
    const names = Object.keys(SOCKET_COMMANDS) as CommandName[];
    assert.ok(names.length >= 3);
    for (const name of names) {
      assert.notEqual(SOCKET_COMMANDS[name].role, "viewer", `${name} may be sent by a viewer`);
      for (const s of [trusted, byToken]) {
        const r = await new Promise<CommandResult>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no ack for ${name}`)), 10_000);
          (s.emit as (n: string, c: unknown, ack: (r: CommandResult) => void) => void)(name, { yaml: "x", runId: "x" }, (x) => (clearTimeout(t), resolve(x)));
        });
        assert.equal(r.ok, false, name);
        assert.equal((r as { code: string }).code, "forbidden", name);
      }
    }
  });
});
