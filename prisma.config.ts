// Prisma CLI configuration. The CLI uses the JavaScript schema engine through
// the better-sqlite3 driver adapter, so no native engine is downloaded.
import path from "node:path";
import type { PrismaConfig } from "prisma";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { databaseUrl } from "./lib/paths";

export default {
  experimental: { adapter: true },
  schema: path.join("prisma", "schema.prisma"),
  migrations: { path: path.join("prisma", "migrations") },
  engine: "js",
  adapter: async () => new PrismaBetterSQLite3({ url: databaseUrl() }),
} satisfies PrismaConfig;
