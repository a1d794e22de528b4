// Where Game Day keeps its local state: the SQLite database, the CLI token and
// the worker's address. GAMEDAY_HOME overrides the default ~/.gameday.
import os from "node:os";
import path from "node:path";

export function gamedayHome(): string {
  return path.resolve(process.env.GAMEDAY_HOME || path.join(os.homedir(), ".gameday"));
}

/** SQLite URL of the embedded database unless DATABASE_URL says otherwise. */
export function databaseUrl(): string {
  return process.env.DATABASE_URL || `file:${path.join(gamedayHome(), "gameday.db")}`;
}

export function cliConfigPath(): string {
  return path.join(gamedayHome(), "cli.json");
}
