// The Prisma client over the embedded SQLite database (driver adapter, no
// native query engine). WAL + synchronous=FULL so a journal entry that was
// written is on disk before the change it describes is applied.
import fs from "node:fs";
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaClient } from "./generated/prisma/client";
import { databaseUrl } from "./paths";

export type Db = PrismaClient;

export async function openDb(url = databaseUrl()): Promise<Db> {
  if (url.startsWith("file:")) fs.mkdirSync(path.dirname(url.slice(5)), { recursive: true });
  const db = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url }) });
  await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  await db.$executeRawUnsafe("PRAGMA synchronous = FULL");
  await db.$executeRawUnsafe("PRAGMA busy_timeout = 5000");
  await db.$executeRawUnsafe("PRAGMA foreign_keys = ON");
  return db;
}
