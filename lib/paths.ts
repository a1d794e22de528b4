// Where Game Day keeps its local state: the SQLite database, the CLI token and
// the worker's address. GAMEDAY_HOME overrides the default ~/.gameday.
import path from "node:path";
import { config } from "./config";

export function gamedayHome(): string {
  return config().GAMEDAY_HOME;
}

/** SQLite URL of the embedded database unless DATABASE_URL says otherwise. */
export function databaseUrl(): string {
  return config().DATABASE_URL ?? `file:${path.join(gamedayHome(), "gameday.db")}`;
}

export function cliConfigPath(): string {
  return path.join(gamedayHome(), "cli.json");
}
