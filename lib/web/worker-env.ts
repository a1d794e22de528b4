// Where the web server finds the worker. Read from the environment at run time
// (first use), never at build time, so one build serves any deployment.
const DEFAULT_WORKER_URL = "http://127.0.0.1:3001";

export interface WorkerEnv {
  /** Base URL of the worker's REST API, without a trailing slash. */
  baseUrl: string;
  /** Port of that URL (explicit or implied by the protocol). */
  port: number;
  /** socket.io URL for browsers, when GAMEDAY_PUBLIC_WORKER_URL is set. */
  publicUrl: string | null;
}

let cached: WorkerEnv | null = null;

function parseUrl(name: string, value: string, protocols: string[]): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`${name} is not a URL: ${JSON.stringify(value)}`);
  }
  if (!protocols.includes(u.protocol)) throw new Error(`${name} must be a ${protocols.join(" or ")} URL, got ${JSON.stringify(value)}`);
  return u;
}

export function workerEnv(): WorkerEnv {
  if (cached) return cached;
  const base = parseUrl("GAMEDAY_WORKER_URL", process.env.GAMEDAY_WORKER_URL?.trim() || DEFAULT_WORKER_URL, ["http:", "https:"]);
  const pub = process.env.GAMEDAY_PUBLIC_WORKER_URL?.trim();
  cached = {
    baseUrl: base.origin + base.pathname.replace(/\/+$/, ""),
    port: base.port ? Number(base.port) : base.protocol === "https:" ? 443 : 80,
    publicUrl: pub ? parseUrl("GAMEDAY_PUBLIC_WORKER_URL", pub, ["http:", "https:", "ws:", "wss:"]).toString().replace(/\/+$/, "") : null,
  };
  return cached;
}
