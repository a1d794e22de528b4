// A login whose password check is still running when the password changes,
// or the user is disabled, opens no session: the login's check is held at a
// gate (a wrapper around the real argon2 check) while the change lands on a
// real SQLite database, then let go. Also: an old hash upgraded at login
// never overwrites a password changed meanwhile.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import bcrypt from "bcryptjs";
import { openDb, type Db } from "../lib/db";
import { createLogger } from "../lib/log";
import { tempHome } from "../e2e/kit";
import { Audit } from "./audit";
import { Auth } from "./auth";

type Check = (hash: string, password: string) => Promise<{ ok: boolean; rehash: boolean }>;

/** Hold the next password check after it ran, until `release()`; `reached` resolves when it is held. */
function gateCheck(auth: Auth): { reached: Promise<void>; release: () => void } {
  const a = auth as unknown as { check: Check };
  const real = a.check.bind(auth);
  let release!: () => void;
  let reached!: () => void;
  const open = new Promise<void>((r) => (release = r));
  const held = new Promise<void>((r) => (reached = r));
  a.check = async (hash, password) => {
    const r = await real(hash, password);
    a.check = real;
    reached();
    await open;
    return r;
  };
  return { reached: held, release };
}

describe("login racing a password change or a disable", () => {
  const dbs: Db[] = [];
  after(async () => {
    for (const db of dbs) await db.$disconnect();
  });

  async function setUp() {
    const db = await openDb(`file:${path.join(tempHome(), "gameday.db")}`);
    dbs.push(db);
    const log = createLogger({ test: "login-race" }, () => {});
    const audit = new Audit(db, log);
    const auth = new Auth(db, log, audit);
    const admin = await auth.createUser("root", "root-password-1", "admin");
    await auth.createUser("kim", "kim-password-1", "operator");
    const meta = { address: "127.0.0.1", origin: null };
    return { db, auth, audit, admin, meta };
  }

  const sessionsOf = async (db: Db, username: string) => db.session.count({ where: { user: { username } } });

  test("an admin's reset lands while the old password is being checked: no session, the login fails, the new password works", async () => {
    const { db, auth, audit, admin, meta } = await setUp();
    const gate = gateCheck(auth);
    const login = auth.login("kim", "kim-password-1", meta);
    await gate.reached;
    const r = await auth.resetPassword(admin, meta, "kim", "kim-password-2");
    assert.equal(r.sessionsEnded, 0, "no session yet to end");
    gate.release();
    assert.equal(await login, null, "the old password's login is refused");
    assert.equal(await sessionsOf(db, "kim"), 0, "and left no session behind");
    assert.ok(await auth.login("kim", "kim-password-2", meta), "the new password logs in");
    assert.equal(await sessionsOf(db, "kim"), 1);
    const failed = await audit.list({ limit: 10, actor: "kim", action: "login-failed" });
    assert.ok(JSON.stringify(failed).includes("password changed during login"), JSON.stringify(failed));
  });

  test("a disable lands while the password is being checked: no session, and the login says the account is disabled", async () => {
    const { db, auth, admin, meta } = await setUp();
    const gate = gateCheck(auth);
    const login = auth.login("kim", "kim-password-1", meta);
    await gate.reached;
    await auth.disableUser(admin, meta, "kim");
    gate.release();
    await assert.rejects(login, /kim is disabled/);
    assert.equal(await sessionsOf(db, "kim"), 0);
  });

  test("a bcrypt hash upgraded at login does not put the old password back over one changed meanwhile", async () => {
    const { db, auth, admin, meta } = await setUp();
    await db.user.update({ where: { username: "kim" }, data: { passwordHash: await bcrypt.hash("kim-password-1", 4) } });
    const gate = gateCheck(auth);
    const login = auth.login("kim", "kim-password-1", meta);
    await gate.reached;
    await auth.resetPassword(admin, meta, "kim", "kim-password-2");
    gate.release();
    assert.equal(await login, null);
    const u = await db.user.findUniqueOrThrow({ where: { username: "kim" } });
    assert.ok(u.passwordHash.startsWith("$argon2id$"), "the reset's hash");
    assert.equal(await auth.login("kim", "kim-password-1", meta), null, "the old password stays dead");
    assert.ok(await auth.login("kim", "kim-password-2", meta));
  });

  test("without a race, an old bcrypt hash is upgraded to argon2id at login", async () => {
    const { db, auth, meta } = await setUp();
    await db.user.update({ where: { username: "kim" }, data: { passwordHash: await bcrypt.hash("kim-password-1", 4) } });
    assert.ok(await auth.login("kim", "kim-password-1", meta));
    const u = await db.user.findUniqueOrThrow({ where: { username: "kim" } });
    assert.ok(u.passwordHash.startsWith("$argon2id$"));
    assert.equal(await sessionsOf(db, "kim"), 1);
  });
});
