// The Prisma client over the embedded SQLite database (driver adapter, no
// native query engine). WAL with synchronous=NORMAL: the authoritative record
// of a change is the executor's own journal (agent/journal.ts, fsynced off the
// event loop before the change is made); the database mirrors it. FULL would
// fsync on every commit, and better-sqlite3 commits on the thread that runs
// the monitor and the abort timers: 20 faults' mirror writes held a tick back
// by up to a quarter of a second. NORMAL in WAL mode never corrupts the file;
// a power cut can lose the last commits, which the journal replays.
import fs from "node:fs";
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaClient } from "./generated/prisma/client";
import { databaseUrl, gamedayHome } from "./paths";

export type Db = PrismaClient;

/**
 * The database holds password hashes and the record of every change: its
 * file is 0600 and Game Day's home 0700 from the first byte, whoever creates
 * them (setup.sh, the worker, a test), and are tightened if they were not.
 * SQLite gives the -wal and -shm files the database file's mode.
 */
export function privateDbFile(file: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (path.resolve(dir) === path.resolve(gamedayHome()) && (fs.statSync(dir).mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
  fs.closeSync(fs.openSync(file, "a", 0o600));
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
}

export async function openDb(url = databaseUrl()): Promise<Db> {
  if (url.startsWith("file:") && !url.includes(":memory:")) privateDbFile(url.slice(5).split("?")[0]);
  const db = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url }) });
  await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  await db.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  await db.$executeRawUnsafe("PRAGMA busy_timeout = 5000");
  await db.$executeRawUnsafe("PRAGMA foreign_keys = ON");
  return db;
}
