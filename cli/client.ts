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

/** The flags of every command that talks to the worker with parseArgs of its own. */
export const CLIENT_OPTIONS = {
  json: { type: "boolean", default: false },
  url: { type: "string" },
  token: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

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
  const res = await call(conn, method, path, body);
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new CliError(`unexpected answer from ${conn.url}${path} (HTTP ${res.status}): ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw apiError(res.status, json);
  return json as T;
}

/** A file the worker makes (a report, a bundle): its bytes, or the worker's error as a CliError. */
export async function download(conn: Connection, path: string, timeoutMs = 120_000): Promise<Buffer> {
  const res = await call(conn, "GET", path, undefined, timeoutMs);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (!res.ok) {
    let json: unknown = null;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch {
      // not the API's error shape: the status says enough
    }
    throw apiError(res.status, json);
  }
  return bytes;
}

function apiError(status: number, json: unknown): CliError {
  const err = json as ApiError | null;
  return new CliError(`${err?.error ?? `HTTP ${status}`}${status === 401 ? " (check your token)" : ""}`, 1, err?.issues);
}

async function call(conn: Connection, method: "GET" | "POST" | "PATCH" | "DELETE", path: string, body: unknown, timeoutMs = 30_000): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(conn.url + path, {
      method,
      headers: {
        ...(conn.token ? { authorization: `Bearer ${conn.token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new CliError(`cannot reach the worker at ${conn.url}: ${(e as Error).message}`);
  }
  return res;
}
