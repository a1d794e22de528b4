// The user lifecycle against a real worker process over real HTTP and real
// socket.io clients: changing your own password (the old one stops working,
// your other sessions and their sockets end, tokens stay), a wrong current
// password refused and counted by the login limits, an admin's reset, users
// disabled (sessions, tokens and sockets end at once; login refused) and
// enabled again, and the last-admin and self protections.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { API, type AuditEntry, type TokenInfo, type UserRecord } from "../lib/contract";
import { apiCall, connectLive, disconnected, type LiveClient, startWorkerProcess, tempHome, type WorkerProc } from "../e2e/kit";

const TRUSTED = "http://127.0.0.1:3000";

describe("users: passwords, disabling, last admin (worker process)", { timeout: 180_000 }, () => {
  let w: WorkerProc;
  const sockets: LiveClient[] = [];
  let nextAddress = 0;
  // each login from its own address, so the per-address limit is not what a test meets
  const address = () => `10.20.${Math.floor(++nextAddress / 250)}.${(nextAddress % 250) + 1}`;

  before(async () => {
    w = await startWorkerProcess(tempHome(), { env: { GAMEDAY_ORIGINS: TRUSTED } });
    for (const [username, role] of [["pam", "operator"], ["lim", "viewer"], ["rosa", "operator"], ["dina", "operator"], ["ada", "admin"]] as const) {
      const r = await apiCall(w, "POST", API.users, { username, password: `${username}-password`, role });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });

  after(async () => {
    for (const s of sockets) s.close();
    await w?.stop();
  });

  const login = (username: string, password: string) =>
    fetch(w.url + API.login, { method: "POST", headers: { "content-type": "application/json", origin: TRUSTED, "x-forwarded-for": address() }, body: JSON.stringify({ username, password }) });

  async function cookieOf(username: string, password = `${username}-password`): Promise<string> {
    const r = await login(username, password);
    assert.equal(r.status, 200, `login ${username}`);
    return r.headers.getSetCookie()[0].split(";")[0];
  }

  async function byCookie<T = { error: string; code: string; issues?: { path: string; message: string }[] }>(cookie: string, method: string, p: string, body?: unknown, from = address()) {
    const r = await fetch(w.url + p, {
      method,
      headers: { cookie, origin: TRUSTED, "x-forwarded-for": from, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, headers: r.headers, body: (await r.json()) as T };
  }

  const byToken = (token: string, method: string, p: string, body?: unknown) => apiCall<{ error: string; code: string; user: UserRecord }>({ url: w.url, token }, method, p, body);

  const connect = (auth: { token?: string; cookie?: string }) => connectLive(w.url, auth, TRUSTED, sockets);

  async function audit(action: string): Promise<AuditEntry[]> {
    const r = await apiCall<{ events: AuditEntry[] }>(w, "GET", `${API.audit}?action=${action}&limit=1000`);
    assert.equal(r.status, 200);
    return r.body.events;
  }

  async function tokenFor(username: string, name: string): Promise<string> {
    const r = await apiCall<{ token: string }>(w, "POST", API.tokens, { name, username, expiresIn: "1d" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.token;
  }

  const me = async (headers: Record<string, string>) => (await fetch(w.url + API.me, { headers })).status;

  test("changing your own password: the old one stops working, the new one works, your other sessions and their sockets end, this session and your tokens stay", async () => {
    const here = await cookieOf("pam");
    const elsewhere = await cookieOf("pam");
    const token = await tokenFor("pam", "pam-ci");
    const otherSocket = await connect({ cookie: elsewhere });
    const tokenSocket = await connect({ token });
    const gone = disconnected(otherSocket, 5000);

    const same = await byCookie(here, "POST", API.password, { currentPassword: "pam-password", newPassword: "pam-password" });
    assert.equal(same.status, 422);
    assert.deepEqual(same.body.issues?.map((i) => i.path), ["newPassword"]);
    const short = await byCookie(here, "POST", API.password, { currentPassword: "pam-password", newPassword: "short" });
    assert.equal(short.status, 422);
    assert.match(JSON.stringify(short.body.issues), /newPassword.*at least 10 characters/);
    const extra = await byCookie(here, "POST", API.password, { currentPassword: "pam-password", newPassword: "pam-new-password", username: "rosa" });
    assert.equal(extra.status, 422, "the body names no one else");

    const r = await byCookie<{ sessionsEnded: number; tokensKept: number }>(here, "POST", API.password, { currentPassword: "pam-password", newPassword: "pam-new-password" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { sessionsEnded: 1, tokensKept: 1 });
    assert.equal(await gone, "io server disconnect", "the other session's socket");
    assert.equal(await me({ cookie: elsewhere }), 401, "the other session ended");
    await assert.rejects(connect({ cookie: elsewhere }), /unauthenticated/);
    assert.equal(await me({ cookie: here }), 200, "the session that changed it stays");
    assert.equal(await me({ authorization: `Bearer ${token}` }), 200, "tokens are kept");
    assert.equal(tokenSocket.connected, true, "the token's socket stays");

    assert.equal((await login("pam", "pam-password")).status, 401, "the old password");
    assert.equal((await login("pam", "pam-new-password")).status, 200, "the new password");
    const e = (await audit("password-change")).find((x) => x.actor === "pam" && x.ok);
    assert.ok(e, "the change is in the audit log");
    assert.deepEqual(e.detail, { sessionsEnded: 1, tokensKept: 1 });
    assert.equal(e.origin, TRUSTED);
  });

  test("a wrong current password is refused and counted by the login limits: the sixth try is a 429 even with the right one, and so is a login", async () => {
    const cookie = await cookieOf("lim");
    for (let i = 0; i < 5; i++) {
      const r = await byCookie(cookie, "POST", API.password, { currentPassword: `guess-${i}`, newPassword: "lim-new-password" });
      assert.equal(r.status, 403, `try ${i}`);
      assert.equal(r.body.error, "the current password is wrong");
      assert.deepEqual(r.body.issues?.map((x) => x.path), ["currentPassword"]);
    }
    const limited = await byCookie(cookie, "POST", API.password, { currentPassword: "lim-password", newPassword: "lim-new-password" });
    assert.equal(limited.status, 429);
    assert.match(limited.body.error, /too many failed logins for lim/);
    assert.ok(Number(limited.headers.get("retry-after")) > 60, `Retry-After: ${limited.headers.get("retry-after")}`);
    assert.equal((await login("lim", "lim-password")).status, 429, "the password guesses count against logins too");
    assert.equal((await login("lim", "lim-new-password")).status, 429);
    assert.equal(await me({ cookie }), 200, "the session itself is not ended");

    const failed = (await audit("password-change")).filter((x) => x.actor === "lim" && !x.ok);
    assert.ok(failed.filter((x) => x.detail?.reason === "wrong current password").length === 5, JSON.stringify(failed));
    assert.ok(failed.some((x) => x.detail?.reason === "rate-limited"));
  });

  test("an admin resets a user's password: the user's sessions and sockets end, the old password stops working; not their own, not an unknown user", async () => {
    const cookie = await cookieOf("rosa");
    const s = await connect({ cookie });
    const gone = disconnected(s, 5000);
    const bad = await apiCall<{ issues: { path: string }[] }>(w, "POST", API.userPassword("rosa"), { password: "short" });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.issues.map((i) => i.path), ["password"]);
    const r = await apiCall<{ sessionsEnded: number; tokensKept: number }>(w, "POST", API.userPassword("rosa"), { password: "rosa-reset-password" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.sessionsEnded >= 1, JSON.stringify(r.body));
    assert.equal(await gone, "io server disconnect");
    assert.equal(await me({ cookie }), 401);
    assert.equal((await login("rosa", "rosa-password")).status, 401, "the old password");
    assert.equal((await login("rosa", "rosa-reset-password")).status, 200, "the new password");

    const self = await apiCall<{ error: string }>(w, "POST", API.userPassword("admin"), { password: "admin-new-password" });
    assert.equal(self.status, 409);
    assert.match(self.body.error, /that is you, admin: change your own password with your current one/);
    const ghost = await apiCall<{ error: string }>(w, "POST", API.userPassword("ghost"), { password: "ghost-password" });
    assert.deepEqual([ghost.status, ghost.body.error], [404, "no user ghost"]);
    const operator = await cookieOf("rosa", "rosa-reset-password");
    assert.equal((await byCookie(operator, "POST", API.userPassword("pam"), { password: "pam-hacked-password" })).status, 403, "an operator resets no one");
    assert.ok((await audit("user-password-reset")).some((e) => e.actor === "admin" && e.target === "rosa" && e.ok));
  });

  test("a disabled user: sessions, tokens and sockets end at once, login is refused with a clear error, the history keeps the name; enabled again, they log in", async () => {
    const cookie = await cookieOf("dina");
    const token = await tokenFor("dina", "dina-ci");
    const cookieSocket = await connect({ cookie });
    const tokenSocket = await connect({ token });
    const gone = [disconnected(cookieSocket, 5000), disconnected(tokenSocket, 5000)];

    const r = await apiCall<{ user: UserRecord }>(w, "POST", API.userDisable("dina"));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.user.disabledAt && Date.now() - Date.parse(r.body.user.disabledAt) < 60_000);
    assert.deepEqual(await Promise.all(gone), ["io server disconnect", "io server disconnect"]);
    assert.equal(await me({ cookie }), 401, "the session");
    assert.equal(await me({ authorization: `Bearer ${token}` }), 401, "the token");
    await assert.rejects(connect({ token }), /unauthenticated/);

    const refused = await login("dina", "dina-password");
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: string }).error, "dina is disabled; ask an admin to enable the account");
    assert.equal((await login("dina", "wrong-password")).status, 401, "a wrong password learns nothing about the account");

    const { body: listed } = await apiCall<{ users: UserRecord[] }>(w, "GET", API.users);
    assert.ok(listed.users.find((u) => u.username === "dina")?.disabledAt, "listed as disabled");
    const { body: tokens } = await apiCall<{ tokens: TokenInfo[] }>(w, "GET", API.tokens);
    assert.equal(tokens.tokens.find((t) => t.name === "dina-ci")?.status, "revoked");
    const again = await apiCall<{ error: string }>(w, "POST", API.users, { username: "dina", password: "other-password", role: "viewer" });
    assert.deepEqual([again.status, again.body.error], [409, "user dina already exists (disabled: enable it instead)"]);
    const newToken = await apiCall<{ error: string }>(w, "POST", API.tokens, { name: "x", username: "dina" });
    assert.equal(newToken.status, 409, "no new token for a disabled user");
    assert.equal((await apiCall(w, "POST", API.userDisable("dina"))).status, 200, "disabling twice is no error");
    assert.equal((await apiCall(w, "POST", API.userDisable("ghost"))).status, 404);

    const enabled = await apiCall<{ user: UserRecord }>(w, "POST", API.userEnable("dina"));
    assert.equal(enabled.status, 200);
    assert.equal(enabled.body.user.disabledAt, null);
    assert.equal((await login("dina", "dina-password")).status, 200, "enabled, dina logs in");
    assert.equal(await me({ authorization: `Bearer ${token}` }), 401, "the revoked token stays revoked");
    const d = (await audit("user-disable")).find((e) => e.target === "dina" && e.ok);
    assert.deepEqual(d?.detail, { sessionsEnded: 1, tokensRevoked: 1 });
    assert.ok((await audit("user-enable")).some((e) => e.target === "dina" && e.actor === "admin"));
  });

  test("no one disables themselves; a disabled admin is no admin for the last-admin rule; two admins disabling each other at once leave one", async () => {
    const self = await apiCall<{ error: string }>(w, "POST", API.userDisable("admin"));
    assert.equal(self.status, 409);
    assert.equal(self.body.error, "that is you, admin: another admin must disable your account");

    assert.equal((await apiCall(w, "POST", API.userDisable("ada"))).status, 200);
    const demote = await apiCall<{ error: string }>(w, "PATCH", API.user("admin"), { role: "viewer" });
    assert.equal(demote.status, 409);
    assert.equal(demote.body.error, "admin is the last admin; make another user admin first");
    assert.equal((await apiCall(w, "POST", API.userEnable("ada"))).status, 200);

    // both pass authentication, then run one after the other: the second finds the last admin (or is no longer one)
    const ada = await tokenFor("ada", "ada-ci");
    const results = await Promise.all([byToken(ada, "POST", API.userDisable("admin")), byToken(w.token, "POST", API.userDisable("ada"))]);
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses ${statuses.join(", ")}: ${JSON.stringify(results.map((r) => r.body))}`);
    const loser = results.find((r) => r.status !== 200)!;
    assert.ok(loser.status === 401 || (loser.status === 409 && /is the last admin/.test(loser.body.error)), JSON.stringify(loser));
    const winner = results[0].status === 200 ? ada : w.token;
    const { body } = await byToken(winner, "GET", API.users);
    const admins = (body as unknown as { users: UserRecord[] }).users.filter((u) => u.role === "admin" && !u.disabledAt);
    assert.equal(admins.length, 1, JSON.stringify(admins));
  });
});
