// The CLI's connection to a worker: URL and token from flags, environment
// (GAMEDAY_URL, GAMEDAY_TOKEN) or the local state file the worker writes
// (~/.gameday/cli.json, mode 0600).
import fs from "node:fs";
import { config } from "../lib/config";
import type { ApiError } from "../lib/contract";
import { cliConfigPath } from "../lib/paths";

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly issues?: ApiError["issues"],
  ) {
    super(message);
  }
}

export interface Connection {
  url: string;
  token: string | null;
}

export function connection(flags: { url?: string; token?: string }): Connection {
  let file: { url?: string; token?: string } = {};
  try {
    file = JSON.parse(fs.readFileSync(cliConfigPath(), "utf8")) as typeof file;
  } catch {
    // no local worker state; flags or environment must say where to go
  }
  const url = flags.url || config().GAMEDAY_URL || file.url;
  if (!url) throw new CliError(`no worker to talk to: start one ("make up"), or pass --url / set GAMEDAY_URL (no ${cliConfigPath()} found)`);
  return { url: url.replace(/\/$/, ""), token: flags.token || config().GAMEDAY_TOKEN || file.token || null };
}

export async function api<T>(conn: Connection, method: "GET" | "POST" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(conn.url + path, {
      method,
      headers: {
        ...(conn.token ? { authorization: `Bearer ${conn.token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    throw new CliError(`cannot reach the worker at ${conn.url}: ${(e as Error).message}`);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new CliError(`unexpected answer from ${conn.url}${path} (HTTP ${res.status}): ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const err = json as ApiError;
    throw new CliError(`${err?.error ?? `HTTP ${res.status}`}${res.status === 401 ? " (check your token)" : ""}`, 1, err?.issues);
  }
  return json as T;
}
