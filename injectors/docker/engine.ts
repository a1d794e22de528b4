// The Docker engine through dockerode, one client per engine address. The
// address travels with every container target (and so with its journal
// entry), so a reaper or `gameday recover` reverts against the engine the
// change was made on, whatever DOCKER_HOST says in its environment.
import type Docker from "dockerode";
import { config } from "../../lib/config";
import type { Availability } from "../types";

/** Every call to the engine gives up after this long (a hung daemon must not hang a revert). */
const API_TIMEOUT_MS = 15_000;

const clients = new Map<string, Docker>();

/** The engine used when a selector names none: DOCKER_HOST. */
export function defaultEngine(): string {
  return config().DOCKER_HOST;
}

export async function docker(engine: string): Promise<Docker> {
  let c = clients.get(engine);
  if (!c) {
    const { default: Docker } = await import("dockerode");
    if (engine.startsWith("unix://")) c = new Docker({ socketPath: engine.slice("unix://".length), timeout: API_TIMEOUT_MS });
    else {
      const u = new URL(engine.replace(/^tcp:/, "http:"));
      c = new Docker({ host: u.hostname, port: Number(u.port), protocol: "http", timeout: API_TIMEOUT_MS });
    }
    clients.set(engine, c);
  }
  return c;
}

/** The engine's error message without dockerode's "(HTTP code 404) no such container -" prefix. */
export function engineError(e: unknown): string {
  const err = e as { statusCode?: number; json?: { message?: string }; message?: string };
  return err.json?.message ?? err.message ?? String(e);
}

export const isNotFound = (e: unknown) => (e as { statusCode?: number }).statusCode === 404;

export async function engineAvailable(engine: string): Promise<Availability> {
  try {
    const v = await (await docker(engine)).version();
    return { ok: true, detail: `Docker ${v.Version} (API ${v.ApiVersion}) at ${engine}` };
  } catch (e) {
    return { ok: false, reason: `no Docker engine answers at ${engine} (set DOCKER_HOST or the selector's engine): ${engineError(e)}` };
  }
}
