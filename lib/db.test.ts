// The database file and Game Day's home are private from the first byte,
// whoever creates them: a home the worker creates itself, and one something
// else created readable by everyone.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openDb } from "./db";

const base = fs.mkdtempSync(path.join(os.tmpdir(), `gameday-dbperm-pid${process.pid}-`));
const prevHome = process.env.GAMEDAY_HOME;
after(() => {
  fs.rmSync(base, { recursive: true, force: true });
  process.env.GAMEDAY_HOME = prevHome;
});

const mode = (p: string) => fs.statSync(p).mode & 0o777;

test("a home that does not exist yet is created 0700, the database and its WAL 0600", async () => {
  const home = path.join(base, "new", "home");
  process.env.GAMEDAY_HOME = home;
  const old = process.umask(0o022);
  try {
    const db = await openDb(`file:${path.join(home, "gameday.db")}`);
    await db.$executeRawUnsafe("CREATE TABLE t (x INTEGER)");
    await db.$disconnect();
  } finally {
    process.umask(old);
  }
  assert.equal(mode(home), 0o700);
  assert.equal(mode(path.join(home, "gameday.db")), 0o600);
  for (const f of ["gameday.db-wal", "gameday.db-shm"]) if (fs.existsSync(path.join(home, f))) assert.equal(mode(path.join(home, f)), 0o600, f);
});

test("a home and database created readable by all are tightened when opened", async () => {
  const home = path.join(base, "loose");
  fs.mkdirSync(home, { mode: 0o755 });
  fs.chmodSync(home, 0o755);
  fs.writeFileSync(path.join(home, "gameday.db"), "", { mode: 0o644 });
  fs.chmodSync(path.join(home, "gameday.db"), 0o644);
  process.env.GAMEDAY_HOME = home;
  const db = await openDb(`file:${path.join(home, "gameday.db")}`);
  await db.$disconnect();
  assert.equal(mode(home), 0o700);
  assert.equal(mode(path.join(home, "gameday.db")), 0o600);
});
