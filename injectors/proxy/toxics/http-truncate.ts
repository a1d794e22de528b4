// http_truncate: send only the first `bytes` bytes of the body, then end the
// connection cleanly (the headers still promise the full length, so the
// client sees a short body, not a reset).
import { z } from "zod";
import { matchAttributes, matcher } from "../http-match";
import { registerToxic } from "../toxic";

export const httpTruncateAttributes = z.object({
  bytes: z.number({ error: "bytes: expected a byte count" }).int().min(0).default(0),
  ...matchAttributes,
});

registerToxic({
  type: "http_truncate",
  layer: "http",
  description: "send only the first bytes bytes of the response body",
  attributes: httpTruncateAttributes,
  http: (a: z.infer<typeof httpTruncateAttributes>) => ({
    match: matcher(a),
    action: () => ({ truncateAt: a.bytes }),
  }),
});
