// Same-origin proxy to the worker's REST API, so the browser only ever talks to
// the web origin: the worker's HttpOnly session cookie is set here and sent back
// here. The worker's address is read at run time (GAMEDAY_WORKER_URL). The
// page's Origin goes along, and the worker checks it; a session cookie from a
// foreign page is refused here already, so it never reaches the worker.
import { SESSION_COOKIE, type ApiError } from "@/lib/contract";
import { checkOrigin, isMutation } from "@/lib/origin";
import { workerEnv } from "@/lib/web/worker-env";

export const dynamic = "force-dynamic";

/** A hung worker must not hold browser requests open forever. */
const UPSTREAM_TIMEOUT_MS = 30_000;
// x-forwarded-*: Next.js sets them from the browser's connection; the worker
// reads them from loopback peers only (audit address, rate limits, Secure)
const FORWARD_REQUEST_HEADERS = ["content-type", "cookie", "authorization", "accept", "origin", "x-forwarded-for", "x-forwarded-proto"] as const;
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

interface Ctx {
  params: Promise<{ path: string[] }>;
}

function errorResponse(status: number, body: ApiError): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store" } });
}

async function proxy(req: Request, ctx: Ctx): Promise<Response> {
  let base: string;
  try {
    base = workerEnv().baseUrl;
  } catch (e) {
    return errorResponse(500, { error: (e as Error).message, code: "misconfigured" });
  }
  const byCookie = !req.headers.get("authorization") && (req.headers.get("cookie") ?? "").includes(`${SESSION_COOKIE}=`);
  const origin = req.headers.get("origin");
  if (byCookie && (origin || isMutation(req.method))) {
    const v = checkOrigin(origin);
    if (!v.ok) return errorResponse(403, { error: v.reason, code: "forbidden" });
  }
  const { path } = await ctx.params;
  const target = `${base}/api/v1/${path.map(encodeURIComponent).join("/")}${new URL(req.url).search}`;

  const headers = new Headers();
  for (const name of FORWARD_REQUEST_HEADERS) {
    const v = req.headers.get(name);
    if (v !== null) headers.set(name, v);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";

  let upstream: Response;
  try {
    upstream = await fetch(target, {
      method: req.method,
      headers,
      body: hasBody ? await req.arrayBuffer() : undefined,
      redirect: "manual",
      cache: "no-store",
      signal: AbortSignal.any([req.signal, AbortSignal.timeout(UPSTREAM_TIMEOUT_MS)]),
    });
  } catch (e) {
    if ((e as Error).name === "TimeoutError") {
      return errorResponse(504, { error: `worker at ${base} did not answer within ${UPSTREAM_TIMEOUT_MS} ms`, code: "worker_timeout" });
    }
    return errorResponse(502, { error: `worker unreachable at ${base}`, code: "worker_unreachable" });
  }

  const out = new Headers({ "cache-control": "no-store" });
  const type = upstream.headers.get("content-type");
  if (type) out.set("content-type", type);
  for (const c of upstream.headers.getSetCookie()) out.append("set-cookie", c);
  const body = NULL_BODY_STATUS.has(upstream.status) ? null : await upstream.arrayBuffer();
  return new Response(body, { status: upstream.status, headers: out });
}

export const GET = proxy;
export const POST = proxy;
export const PUT = proxy;
export const PATCH = proxy;
export const DELETE = proxy;
