// gameday token create / list / revoke against a real worker process: the
// secret works until it is revoked, the listing never shows it, and bad
// input names the field and exits 1.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { API } from "../lib/contract";
import { runCli, startWorkerProcess, tempHome, type WorkerProc } from "../e2e/kit";

describe("gameday token", { timeout: 120_000 }, () => {
  let w: WorkerProc;
  let env: Record<string, string>;

  before(async () => {
    w = await startWorkerProcess(tempHome());
    env = { GAMEDAY_HOME: w.home, GAMEDAY_LOG: "warn", GAMEDAY_URL: "", GAMEDAY_TOKEN: "" };
  });
  after(() => w?.stop());

  const me = (token: string) => fetch(w.url + API.me, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

  test("create prints the secret once, list shows it without the secret, revoke ends it", async () => {
    const made = await runCli(["token", "create", "ci-job", "--expires", "7d"], env);
    assert.equal(made.code, 0, made.stderr);
    const secret = made.stdout.split("\n")[0].trim();
    assert.match(secret, /^[\w-]{40,}$/);
    const id = /token ([0-9a-f]{16}) "ci-job" for admin, expires ([0-9T:.Z-]+)/.exec(made.stdout);
    assert.ok(id, made.stdout);
    const days = (Date.parse(id[2]) - Date.now()) / 86_400_000;
    assert.ok(days > 6.9 && days < 7.1, `expires in ${days} days`);
    assert.equal(await me(secret), 200);

    const list = await runCli(["token", "list"], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${id[1]}  active .*ci-job`, "m"));
    assert.match(list.stdout, /local-cli/);
    assert.ok(!list.stdout.includes(secret), "the secret is listed");

    const revoked = await runCli(["token", "revoke", id[1]], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked [0-9a-f]{16} "ci-job" of admin/);
    assert.equal(await me(secret), 401, "a revoked token still works");
    const json = JSON.parse((await runCli(["token", "list", "--json"], env)).stdout) as { id: string; status: string }[];
    assert.equal(json.find((t) => t.id === id[1])?.status, "revoked");
  });

  test("bad input names the field and exits 1; an unknown token is a clear 404", async () => {
    const bad = await runCli(["token", "create", "x", "--expires", "forever"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /expiresIn: expected a duration/);
    const missing = await runCli(["token", "revoke", "0123456789abcdef"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no token 0123456789abcdef/);
    const notHex = await runCli(["token", "revoke", "../users"], env);
    assert.equal(notHex.code, 1);
    assert.match(notHex.stderr, /token id is 8-64 hex digits|no route/);
    assert.equal((await runCli(["token", "frobnicate"], env)).code, 1);
  });
});
