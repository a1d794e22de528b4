// Authentication and roles on the REST API and socket.io, and the shape of
// input errors, against an in-process worker on a real SQLite file.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { io as ioClient } from "socket.io-client";
import type { ApiError } from "../lib/contract";
import { createLogger } from "../lib/log";
import { startWorker, type RunningWorker } from "./app";
import { ROOT, tempHome } from "../e2e/kit";

describe("worker API auth and input errors", { timeout: 60_000 }, () => {
  let w: RunningWorker;
  let admin: string;
  let viewerCookie = "";
  const prevHome = process.env.GAMEDAY_HOME;
  const prevPw = process.env.GAMEDAY_ADMIN_PASSWORD;

  before(async () => {
    process.env.GAMEDAY_HOME = tempHome();
    delete process.env.GAMEDAY_ADMIN_PASSWORD;
    w = await startWorker({
      port: 0,
      host: "127.0.0.1",
      topologyFile: null,
      examplesDir: path.join(ROOT, "examples"),
      log: createLogger({}, () => undefined),
    });
    admin = (await import("node:fs")).readFileSync(path.join(process.env.GAMEDAY_HOME!, "cli.json"), "utf8");
    admin = JSON.parse(admin).token;
    await w.auth.createUser("vera", "viewer-password", "viewer");
  });
  after(async () => {
    await w?.close();
    process.env.GAMEDAY_HOME = prevHome;
    if (prevPw !== undefined) process.env.GAMEDAY_ADMIN_PASSWORD = prevPw;
  });

  const call = (method: string, p: string, opts: { token?: string; cookie?: string; body?: unknown; type?: string } = {}) =>
    fetch(w.url + p, {
      method,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        // a browser names its page on every POST; the dashboard's is trusted by default
        ...(opts.cookie ? { cookie: opts.cookie, origin: "http://127.0.0.1:3000" } : {}),
        ...(opts.body !== undefined ? { "content-type": opts.type ?? "application/json" } : {}),
      },
      body: opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body),
    });

  test("the first start creates an admin with a generated password, shown once", async () => {
    assert.ok(w.createdAdmin);
    assert.equal(w.createdAdmin.username, "admin");
    assert.equal(w.createdAdmin.generated, true);
    assert.ok(w.createdAdmin.password.length >= 12);
    const u = await w.db.user.findUnique({ where: { username: "admin" } });
    assert.ok(u && u.passwordHash.startsWith("$argon2id$") && !u.passwordHash.includes(w.createdAdmin.password), "stored as an argon2id hash");
    const login = await call("POST", "/api/v1/auth/login", { body: { username: "admin", password: w.createdAdmin.password } });
    assert.equal(login.status, 200);
  });

  test("health is public; everything else needs credentials", async () => {
    assert.equal((await call("GET", "/api/v1/health")).status, 200);
    for (const [m, p] of [["GET", "/api/v1/runs"], ["POST", "/api/v1/runs"], ["POST", "/api/v1/halt"], ["GET", "/api/v1/auth/me"]] as const) {
      const r = await call(m, p, m === "POST" ? { body: {} } : {});
      assert.equal(r.status, 401, `${m} ${p}`);
      assert.equal(((await r.json()) as ApiError).code, "unauthenticated");
    }
  });

  test("login sets an HttpOnly session cookie; wrong passwords get 401", async () => {
    const bad = await call("POST", "/api/v1/auth/login", { body: { username: "vera", password: "nope" } });
    assert.equal(bad.status, 401);
    const ok = await call("POST", "/api/v1/auth/login", { body: { username: "vera", password: "viewer-password" } });
    assert.equal(ok.status, 200);
    const set = ok.headers.getSetCookie()[0];
    assert.match(set, /^gameday_session=[\w-]+;.*HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.doesNotMatch(set, /Secure/, "not Secure on plain http");
    viewerCookie = set.split(";")[0];
    const me = await call("GET", "/api/v1/auth/me", { cookie: viewerCookie });
    assert.deepEqual(await me.json(), { user: { username: "vera", role: "viewer" } });
  });

  test("a viewer may read but not launch, abort or halt (403)", async () => {
    assert.equal((await call("GET", "/api/v1/runs", { cookie: viewerCookie })).status, 200);
    for (const p of ["/api/v1/runs", "/api/v1/halt", "/api/v1/runs/x/abort"]) {
      const r = await call("POST", p, { cookie: viewerCookie, body: { yaml: "x: 1" } });
      assert.equal(r.status, 403, p);
      assert.match(((await r.json()) as ApiError).error, /needs the operator role/);
    }
  });

  test("logout ends the session", async () => {
    const r = await call("POST", "/api/v1/auth/logout", { cookie: viewerCookie });
    assert.equal(r.status, 200);
    assert.equal((await call("GET", "/api/v1/auth/me", { cookie: viewerCookie })).status, 401);
  });

  test("bad input is a 4xx naming the field, never a crash", async () => {
    const notJson = await call("POST", "/api/v1/runs", { token: admin, body: "yaml=1", type: "application/x-www-form-urlencoded" });
    assert.equal(notJson.status, 422);
    const broken = await call("POST", "/api/v1/runs", { token: admin, body: "{nope", type: "application/json" });
    assert.equal(broken.status, 422);
    const empty = await call("POST", "/api/v1/runs", { token: admin, body: {} });
    assert.equal(empty.status, 422);
    assert.equal(((await empty.json()) as ApiError).issues?.[0].path, "yaml");
    const invalid = await call("POST", "/api/v1/runs", { token: admin, body: { yaml: "apiVersion: gameday/v1\nkind: Experiment\n" } });
    assert.equal(invalid.status, 422);
    const body = (await invalid.json()) as ApiError;
    assert.ok(body.issues!.some((i) => i.path === "metadata"));
    assert.equal((await call("GET", "/api/v1/runs/nope", { token: admin })).status, 404);
    assert.equal((await call("POST", "/api/v1/runs/nope/abort", { token: admin })).status, 404);
    const huge = await call("POST", "/api/v1/runs", { token: admin, body: { yaml: "x".repeat(600 * 1024) } });
    assert.equal(huge.status, 413);
    assert.equal((await call("GET", "/api/v1/health")).status, 200, "still serving");
  });

  test("socket.io refuses anonymous clients and enforces roles on commands", async () => {
    const anon = ioClient(w.url, { transports: ["websocket"], reconnection: false });
    const err = await new Promise<Error>((resolve) => anon.on("connect_error", resolve));
    assert.match(err.message, /unauthenticated/);
    anon.close();

    const viewerToken = await w.auth.createToken((await w.db.user.findUniqueOrThrow({ where: { username: "vera" } })).id, "t");
    const s = ioClient(w.url, { transports: ["websocket"], reconnection: false, auth: { token: viewerToken } });
    const hello = await new Promise<{ user: { role: string } }>((resolve) => s.on("hello", resolve));
    assert.equal(hello.user.role, "viewer");
    const res = await new Promise<{ ok: boolean; code?: string }>((resolve) => s.emit("halt", {}, resolve));
    assert.deepEqual([res.ok, res.code], [false, "forbidden"]);
    s.close();

    const a = ioClient(w.url, { transports: ["websocket"], reconnection: false, auth: { token: admin } });
    await new Promise((resolve) => a.on("hello", resolve));
    const ok = await new Promise<{ ok: boolean; aborted?: string[] }>((resolve) => a.emit("halt", {}, resolve));
    assert.deepEqual(ok, { ok: true, aborted: [] });
    const bad = await new Promise<{ ok: boolean; code?: string }>((resolve) => a.emit("run:start", { yaml: "::" }, resolve));
    assert.deepEqual([bad.ok, bad.code], [false, "invalid_input"]);
    a.close();
  });

  test("/metrics exposes the worker's metrics", async () => {
    const text = await (await call("GET", "/metrics")).text();
    for (const m of ["gameday_worker_runs_total", "gameday_worker_active_faults", "gameday_worker_abort_latency_seconds"]) assert.ok(text.includes(m), m);
  });
});
