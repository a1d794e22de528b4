// http_status: answer matched requests with status (e.g. 503), optionally
// with Retry-After (seconds) and a body, without asking the upstream.
import { z } from "zod";
import { matchAttributes, matcher } from "../http-match";
import { registerToxic } from "../toxic";

export const httpStatusAttributes = z.object({
  status: z.number({ error: "status: expected an HTTP status" }).int().min(100).max(599, { error: "status: expected 100-599" }).default(503),
  retry_after: z.number({ error: "retry_after: expected seconds" }).int().min(0).optional(),
  body: z.string().default(""),
  ...matchAttributes,
});

registerToxic({
  type: "http_status",
  layer: "http",
  description: "answer matched requests with status (default 503), optional Retry-After seconds",
  attributes: httpStatusAttributes,
  http: (a: z.infer<typeof httpStatusAttributes>) => ({
    match: matcher(a),
    action: () => ({
      respond: { status: a.status, headers: { "content-type": "text/plain", ...(a.retry_after !== undefined ? { "retry-after": String(a.retry_after) } : {}) }, body: a.body || `gameday http_status ${a.status}\n` },
    }),
  }),
});
