// http_delay: hold matched requests back by delay ± jitter ms before they go upstream.
import { z } from "zod";
import { matchAttributes, matcher } from "../http-match";
import { registerToxic } from "../toxic";

export const httpDelayAttributes = z.object({
  delay: z.number({ error: "delay: expected milliseconds" }).min(0).default(0),
  jitter: z.number({ error: "jitter: expected milliseconds" }).min(0).default(0),
  ...matchAttributes,
});

registerToxic({
  type: "http_delay",
  layer: "http",
  description: "delay matched requests by delay ± jitter ms",
  attributes: httpDelayAttributes,
  http: (a: z.infer<typeof httpDelayAttributes>) => ({
    match: matcher(a),
    action: () => ({ delayMs: Math.max(0, a.delay + (Math.random() * 2 - 1) * a.jitter) }),
  }),
});
