// Where the web server finds the worker. Read from the environment at run time
// (first use, see lib/config.ts), never at build time, so one build serves any deployment.
import { config } from "../config";

export interface WorkerEnv {
  /** Base URL of the worker's REST API, without a trailing slash. */
  baseUrl: string;
  /** Port of that URL (explicit or implied by the protocol). */
  port: number;
  /** socket.io URL for browsers, when GAMEDAY_PUBLIC_WORKER_URL is set. */
  publicUrl: string | null;
}

export function workerEnv(): WorkerEnv {
  const { GAMEDAY_WORKER_URL: base, GAMEDAY_PUBLIC_WORKER_URL: pub } = config();
  return {
    baseUrl: base.origin + base.pathname.replace(/\/+$/, ""),
    port: base.port ? Number(base.port) : base.protocol === "https:" ? 443 : 80,
    publicUrl: pub ? pub.toString().replace(/\/+$/, "") : null,
  };
}
