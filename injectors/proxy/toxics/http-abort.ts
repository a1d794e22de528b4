// http_abort: cut the connection mid-response, after after_bytes bytes of the body.
import { z } from "zod";
import { matchAttributes, matcher } from "../http-match";
import { registerToxic } from "../toxic";

export const httpAbortAttributes = z.object({
  after_bytes: z.number({ error: "after_bytes: expected a byte count" }).int().min(0).default(0),
  ...matchAttributes,
});

registerToxic({
  type: "http_abort",
  layer: "http",
  description: "abort the connection after after_bytes bytes of the response body",
  attributes: httpAbortAttributes,
  http: (a: z.infer<typeof httpAbortAttributes>) => ({
    match: matcher(a),
    action: () => ({ abortAfter: a.after_bytes }),
  }),
});
