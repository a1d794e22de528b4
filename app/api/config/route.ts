// How the browser reaches the worker's socket.io, decided at run time.
import type { WebConfig } from "@/lib/web/types";
import { workerEnv } from "@/lib/web/worker-env";

export const dynamic = "force-dynamic";

export function GET(): Response {
  try {
    const env = workerEnv();
    const body: WebConfig = { workerSocketUrl: env.publicUrl, workerPort: env.port };
    return Response.json(body, { headers: { "cache-control": "no-store" } });
  } catch (e) {
    return Response.json({ error: (e as Error).message, code: "misconfigured" }, { status: 500 });
  }
}
