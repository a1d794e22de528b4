// Authentication that holds up, against a real worker process over real HTTP
// and real socket.io clients: cookie flags, login limits with Retry-After,
// argon2id (and bcrypt hashes upgraded at login), sockets that lose their
// rights at logout, revocation, expiry and role change, tokens that expire
// and are revoked, admin user routes, the audit log, security headers, and a
// private database file and home even when something else created them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import bcrypt from "bcryptjs";
import { API, type AuditEntry, type CommandResult, type TokenInfo, type UserRecord } from "../lib/contract";
import { openDb, type Db } from "../lib/db";
import { sha256 } from "./auth";
import { apiCall, connectLive, disconnected, type LiveClient, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";

const TRUSTED = "http://127.0.0.1:3000";
const HTTPS = "https://gameday.example.com";

describe("auth that holds up (worker process)", { timeout: 180_000 }, () => {
  let w: WorkerProc;
  let db: Db;
  const sockets: LiveClient[] = [];

  before(async () => {
    const home = tempHome();
    // as if something other than setup had made them: readable by everyone
    fs.chmodSync(home, 0o755);
    fs.chmodSync(path.join(home, "gameday.db"), 0o644);
    w = await startWorkerProcess(home, { env: { GAMEDAY_ORIGINS: `${TRUSTED},${HTTPS}` } });
    db = await openDb(`file:${path.join(home, "gameday.db")}`);
    for (const [username, role] of [["olga", "operator"], ["vera", "viewer"], ["otto", "operator"]] as const) {
      const r = await apiCall(w, "POST", API.users, { username, password: `${username}-password`, role });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });

  after(async () => {
    for (const s of sockets) s.close();
    await db?.$disconnect();
    await w?.stop();
  });

  /** A login as a browser on `origin` (from address `from`, as the web app's proxy reports it). */
  function login(username: string, password: string, opts: { origin?: string; from?: string } = {}): Promise<Response> {
    return fetch(w.url + API.login, {
      method: "POST",
      headers: { "content-type": "application/json", origin: opts.origin ?? TRUSTED, ...(opts.from ? { "x-forwarded-for": opts.from } : {}) },
      body: JSON.stringify({ username, password }),
    });
  }

  async function cookieOf(username: string, from = `10.9.0.${Math.floor(Math.random() * 250) + 1}`): Promise<string> {
    const r = await login(username, `${username}-password`, { from });
    assert.equal(r.status, 200, `login ${username}`);
    return r.headers.getSetCookie()[0].split(";")[0];
  }

  const byCookie = (cookie: string, method: string, p: string, body?: unknown) =>
    fetch(w.url + p, {
      method,
      headers: { cookie, origin: TRUSTED, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const connect = (auth: { token?: string; cookie?: string }) => connectLive(w.url, auth, TRUSTED, sockets);

  const halt = (s: LiveClient) =>
    new Promise<CommandResult>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no ack")), 10_000);
      s.emit("halt", {}, (r) => (clearTimeout(t), resolve(r)));
    });

  async function audit(action: string): Promise<AuditEntry[]> {
    const r = await apiCall<{ events: AuditEntry[] }>(w, "GET", `${API.audit}?action=${action}&limit=1000`);
    assert.equal(r.status, 200);
    return r.body.events;
  }

  test("the home is 0700 and the database 0600 after the worker starts, although they were created readable by all", () => {
    assert.equal(fs.statSync(w.home).mode & 0o777, 0o700);
    for (const f of ["gameday.db", "gameday.db-wal", "cli.json"]) {
      const p = path.join(w.home, f);
      if (fs.existsSync(p)) assert.equal(fs.statSync(p).mode & 0o777, 0o600, f);
    }
  });

  test("every answer carries the security headers", async () => {
    for (const p of [API.health, "/metrics", API.runs, "/nope", "/socket.io/?EIO=4&transport=polling"]) {
      const r = await fetch(w.url + p);
      await r.arrayBuffer();
      assert.match(r.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/, p);
      assert.match(r.headers.get("content-security-policy") ?? "", /default-src 'none'/, p);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff", p);
      assert.equal(r.headers.get("referrer-policy"), "no-referrer", p);
    }
  });

  test("session cookies are HttpOnly and SameSite=Strict, and Secure when the page is on https", async () => {
    const plain = (await login("olga", "olga-password", { from: "10.1.0.1" })).headers.getSetCookie()[0];
    assert.match(plain, /HttpOnly/);
    assert.match(plain, /SameSite=Strict/);
    assert.doesNotMatch(plain, /Secure/);
    const tls = (await login("olga", "olga-password", { origin: HTTPS, from: "10.1.0.1" })).headers.getSetCookie()[0];
    assert.match(tls, /; Secure/);
    assert.match(tls, /SameSite=Strict/);
    const foreign = await login("olga", "olga-password", { origin: "https://evil.example", from: "10.1.0.1" });
    assert.equal(foreign.status, 403, "a login from a foreign page");
  });

  test("logins are limited per address and per user, with 429 and Retry-After; a good password waits too", async () => {
    const from = "10.2.0.1";
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await login(`nobody${i}`, "wrong-password", { from })).status);
    assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
    const limited = await login("olga", "olga-password", { from });
    assert.equal(limited.status, 429, "the address is limited whatever the password");
    const retry = Number(limited.headers.get("retry-after"));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After: ${limited.headers.get("retry-after")}`);
    assert.match(((await limited.json()) as { error: string }).error, /too many login attempts from 10\.2\.0\.1/);
    assert.equal((await login("olga", "olga-password", { from: "10.2.0.2" })).status, 200, "another address is not limited");

    // one account guessed from many addresses
    for (let i = 0; i < 5; i++) assert.equal((await login("otto", "guess", { from: `10.3.0.${i + 1}` })).status, 401);
    const locked = await login("otto", "otto-password", { from: "10.3.1.1" });
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get("retry-after")) > 60, "the user limit lasts minutes");
    assert.match(((await locked.json()) as { error: string }).error, /too many failed logins for otto/);

    const failed = await audit("login-failed");
    assert.ok(failed.some((e) => e.actor === "otto" && e.address === "10.3.1.1" && e.detail?.reason === "rate-limited"), "the refused login is in the audit log");
    assert.ok(failed.some((e) => e.actor === "otto" && e.address === "10.3.0.1" && e.origin === TRUSTED && e.detail?.reason === "wrong password"));
  });

  test("passwords are argon2id; a bcrypt hash from before still logs in and is replaced", async () => {
    const u = await db.user.findUniqueOrThrow({ where: { username: "olga" } });
    assert.match(u.passwordHash, /^\$argon2id\$/);
    await db.user.create({ data: { id: "legacy-user", username: "legacy", passwordHash: await bcrypt.hash("legacy-password", 4), role: "viewer" } });
    assert.equal((await login("legacy", "wrong-password", { from: "10.4.0.1" })).status, 401);
    assert.equal((await login("legacy", "legacy-password", { from: "10.4.0.2" })).status, 200);
    const after = await db.user.findUniqueOrThrow({ where: { username: "legacy" } });
    assert.match(after.passwordHash, /^\$argon2id\$/, "rehashed at login");
    assert.equal((await login("legacy", "legacy-password", { from: "10.4.0.3" })).status, 200, "and the new hash works");
  });

  test("logout disconnects the session's open socket at once", async () => {
    const cookie = await cookieOf("olga");
    const s = await connect({ cookie });
    const gone = disconnected(s, 3000);
    assert.equal((await byCookie(cookie, "POST", API.logout)).status, 200);
    assert.equal(await gone, "io server disconnect");
    await assert.rejects(connect({ cookie }), /unauthenticated/, "the cookie no longer opens a socket");
  });

  test("a session that expires disconnects its socket when it expires", async () => {
    const cookie = await cookieOf("olga");
    await db.session.update({ where: { id: sha256(cookie.split("=")[1]) }, data: { expiresAt: new Date(Date.now() + 1500) } });
    const s = await connect({ cookie });
    assert.equal((await halt(s)).ok, true, "it works until it expires");
    assert.equal(await disconnected(s, 5000), "io server disconnect");
    assert.equal((await byCookie(cookie, "GET", API.me)).status, 401);
  });

  test("tokens: created with an expiry, listed without the secret, revoked (its socket disconnects); an expired one is refused", async () => {
    const olga = await cookieOf("olga");
    const made = await byCookie(olga, "POST", API.tokens, { name: "ci", expiresIn: "30d" });
    assert.equal(made.status, 201);
    const { token, info } = (await made.json()) as { token: string; info: TokenInfo };
    assert.equal(info.status, "active");
    const days = (Date.parse(info.expiresAt!) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days < 30.1, `expires in ${days} days`);
    const bad = await byCookie(olga, "POST", API.tokens, { name: "forever", expiresIn: "400d" });
    assert.equal(bad.status, 422);
    assert.match(JSON.stringify(await bad.json()), /expiresIn.*at most/);

    const listed = (await (await byCookie(olga, "GET", API.tokens)).json()) as { tokens: TokenInfo[] };
    assert.deepEqual(listed.tokens.map((t) => t.name), ["ci"], "an operator sees only their own tokens");
    assert.ok(!JSON.stringify(listed).includes(token), "the secret is never listed");
    const all = await apiCall<{ tokens: TokenInfo[] }>(w, "GET", API.tokens);
    assert.ok(all.body.tokens.some((t) => t.name === "local-cli") && all.body.tokens.some((t) => t.name === "ci"), "an admin sees every token");

    const vera = await cookieOf("vera");
    assert.equal((await byCookie(vera, "GET", API.tokens)).status, 200);
    const other = await fetch(w.url + API.token(info.id), { method: "DELETE", headers: { authorization: `Bearer ${(await apiCall<{ token: string }>(w, "POST", API.tokens, { name: "otto-t", username: "otto" })).body.token}` } });
    assert.equal(other.status, 404, "otto cannot revoke olga's token");

    const s = await connect({ token });
    const gone = disconnected(s, 3000);
    const revoked = await byCookie(olga, "DELETE", API.token(info.id));
    assert.equal(revoked.status, 200);
    assert.equal(((await revoked.json()) as { info: TokenInfo }).info.status, "revoked");
    assert.equal(await gone, "io server disconnect");
    assert.equal((await fetch(w.url + API.me, { headers: { authorization: `Bearer ${token}` } })).status, 401, "a revoked token is refused");

    // expiry: a token that runs out while its socket is open
    const short = (await apiCall<{ token: string; info: TokenInfo }>(w, "POST", API.tokens, { name: "short", username: "olga" })).body;
    await db.apiToken.update({ where: { id: sha256(short.token) }, data: { expiresAt: new Date(Date.now() + 1500) } });
    const s2 = await connect({ token: short.token });
    assert.equal(await disconnected(s2, 5000), "io server disconnect");
    assert.equal((await fetch(w.url + API.me, { headers: { authorization: `Bearer ${short.token}` } })).status, 401, "an expired token is refused");
    const listedAfter = await apiCall<{ tokens: TokenInfo[] }>(w, "GET", API.tokens);
    assert.equal(listedAfter.body.tokens.find((t) => t.name === "short")?.status, "expired");
  });

  test("admins create users and set roles; a role change reaches an open socket at once; the last admin stays", async () => {
    const made = await apiCall(w, "POST", API.users, { username: "rita", password: "rita-password", role: "operator" });
    assert.equal(made.status, 201);
    assert.equal((await apiCall(w, "POST", API.users, { username: "rita", password: "rita-password", role: "operator" })).status, 409);
    const short = await apiCall<{ issues: { path: string }[] }>(w, "POST", API.users, { username: "x y", password: "short", role: "boss" });
    assert.equal(short.status, 422);
    assert.deepEqual(short.body.issues.map((i) => i.path).sort(), ["password", "role", "username"]);

    const rita = await cookieOf("rita");
    const s = await connect({ cookie: rita });
    assert.deepEqual(await halt(s), { ok: true, aborted: [] }, "an operator may HALT");
    const hello = new Promise<{ user: { role: string } }>((resolve) => s.once("hello", resolve));
    const changed = await apiCall(w, "PATCH", API.user("rita"), { role: "viewer" });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal((await hello).user.role, "viewer", "the socket is told its new role");
    const refused = await halt(s);
    assert.equal(refused.ok, false);
    assert.equal((refused as { code: string }).code, "forbidden", "the open socket lost the operator role at once");
    assert.equal((await byCookie(rita, "POST", API.halt)).status, 403, "and so did the cookie");

    const demote = await apiCall<{ error: string }>(w, "PATCH", API.user("admin"), { role: "viewer" });
    assert.equal(demote.status, 409);
    assert.match(demote.body.error, /last admin/);
    const users = await apiCall<{ users: UserRecord[] }>(w, "GET", API.users);
    const listed = users.body.users.find((u) => u.username === "rita");
    assert.equal(listed?.role, "viewer");
    assert.ok(Date.now() - Date.parse(listed.createdAt) < 120_000, "with the time it was created");
  });

  test("the audit log says who launched, aborted, halted, created a token or user, changed a role and logged in — when and from where", async () => {
    const olga = await cookieOf("olga", "10.6.0.7");
    assert.equal((await byCookie(olga, "POST", API.runs, { yaml: "apiVersion: gameday/v1\nkind: Experiment\n" })).status, 422);
    assert.equal((await byCookie(olga, "POST", API.runAbort("no-such-run"))).status, 404);
    assert.equal((await byCookie(olga, "POST", API.halt)).status, 200);
    const since = Date.now() - 120_000;
    const check = async (action: string, match: (e: AuditEntry) => boolean) => {
      const list = await waitFor(`audit ${action}`, async () => ((await audit(action)).some(match) ? audit(action) : null), 5000);
      const e = list.find(match)!;
      assert.ok(Date.parse(e.at) >= since, `${action} has its time`);
    };
    await check("login", (e) => e.actor === "olga" && e.address === "10.6.0.7" && e.origin === TRUSTED && e.ok);
    await check("run-start", (e) => e.actor === "olga" && /127\.0\.0\.1$/.test(e.address ?? "") && e.origin === TRUSTED && !e.ok && /invalid experiment/.test(String(e.detail?.error)));
    await check("run-abort", (e) => e.actor === "olga" && e.target === "no-such-run" && !e.ok);
    await check("halt", (e) => e.actor === "olga" && e.ok && Array.isArray(e.detail?.aborted));
    await check("token-create", (e) => e.actor === "olga" && e.detail?.name === "ci");
    await check("token-revoke", (e) => e.actor === "olga" && e.detail?.name === "ci");
    await check("user-create", (e) => e.actor === "admin" && e.target === "rita" && e.detail?.role === "operator");
    await check("user-role", (e) => e.actor === "admin" && e.target === "rita" && e.detail?.from === "operator" && e.detail?.to === "viewer");
    await check("logout", (e) => e.actor === "olga");
    const vera = await cookieOf("vera");
    assert.equal((await byCookie(vera, "GET", API.audit)).status, 403, "only admins read the audit log");
  });
});
