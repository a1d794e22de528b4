// Shapes that only the web app and its own route handlers share (the worker
// contract lives in lib/contract.ts).

/** GET /api/config: how the browser reaches the worker's socket.io. */
export interface WebConfig {
  /** Explicit socket.io URL (GAMEDAY_PUBLIC_WORKER_URL), or null to use this page's host. */
  workerSocketUrl: string | null;
  /** Worker port, used with this page's protocol and host when workerSocketUrl is null. */
  workerPort: number;
}

export const WEB_CONFIG_PATH = "/api/config";
