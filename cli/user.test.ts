// gameday user passwd / list / reset / disable / enable against a real worker
// process: passwords come from stdin, the change holds (old password refused,
// new one accepted), and refusals (wrong current password, yourself, an
// unknown user, a short password) are clear and exit 1.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { API } from "../lib/contract";
import { apiCall, runCli, startWorkerProcess, tempHome, type WorkerProc } from "../e2e/kit";

describe("gameday user", { timeout: 120_000 }, () => {
  let w: WorkerProc;
  let env: Record<string, string>;

  before(async () => {
    w = await startWorkerProcess(tempHome());
    env = { GAMEDAY_HOME: w.home, GAMEDAY_LOG: "warn", GAMEDAY_URL: "", GAMEDAY_TOKEN: "" };
    const r = await apiCall(w, "POST", API.users, { username: "cleo", password: "cleo-password", role: "operator" });
    assert.equal(r.status, 201);
  });
  after(() => w?.stop());

  const login = (username: string, password: string) =>
    fetch(w.url + API.login, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) }).then((r) => r.status);

  test("passwd changes the token user's own password from stdin; a wrong current one exits 1 and changes nothing", async () => {
    const wrong = await runCli(["user", "passwd"], env, 60_000, "not-the-password\nadmin-new-password\n");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /gameday user: the current password is wrong\n\s+currentPassword: is not your current password/);
    const short = await runCli(["user", "passwd"], env, 60_000, "test-admin-pw\nshort\n");
    assert.equal(short.code, 1);
    assert.match(short.stderr, /newPassword: must be at least 10 characters/);
    const none = await runCli(["user", "passwd"], env, 60_000, "");
    assert.equal(none.code, 1);
    assert.match(none.stderr, /stdin ended before the current password; nothing changed/);
    assert.equal(await login("admin", "test-admin-pw"), 200, "nothing changed yet");

    const ok = await runCli(["user", "passwd"], env, 60_000, "test-admin-pw\nadmin-new-password\n");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /password changed; \d+ session\(s\) ended, 1 API token\(s\) kept/);
    assert.equal(await login("admin", "test-admin-pw"), 401, "the old password");
    assert.equal(await login("admin", "admin-new-password"), 200, "the new password");
  });

  test("list, reset, disable and enable a user; yourself and unknown users are refused with exit 1", async () => {
    const reset = await runCli(["user", "reset", "cleo"], env, 60_000, "cleo-new-password\n");
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /password of cleo set/);
    assert.equal(await login("cleo", "cleo-new-password"), 200);

    const disabled = await runCli(["user", "disable", "cleo"], env);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, /disabled cleo: sessions ended, tokens revoked, login refused/);
    assert.equal(await login("cleo", "cleo-new-password"), 403);
    const list = await runCli(["user", "list"], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^cleo\s+operator\s+disabled \d{4}-/m);
    assert.match(list.stdout, /^admin\s+admin\s+active/m);
    const enabled = await runCli(["user", "enable", "cleo"], env);
    assert.equal(enabled.code, 0, enabled.stderr);
    assert.equal(await login("cleo", "cleo-new-password"), 200);

    const self = await runCli(["user", "disable", "admin"], env);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /gameday user: that is you, admin: another admin must disable your account/);
    const ghost = await runCli(["user", "disable", "ghost"], env);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /no user ghost/);
    const noName = await runCli(["user", "reset"], env);
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, /name the user: gameday user reset NAME/);
    assert.equal((await runCli(["user", "frobnicate"], env)).code, 1);
  });
});
