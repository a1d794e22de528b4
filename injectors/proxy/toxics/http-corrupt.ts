// http_corrupt: flip `bytes` random bytes in each matched response body
// (the length stays, so the client reads a whole, wrong body).
import { z } from "zod";
import { matchAttributes, matcher } from "../http-match";
import { registerToxic } from "../toxic";

export const httpCorruptAttributes = z.object({
  /** how many bytes of each body chunk to flip */
  bytes: z.number({ error: "bytes: expected a byte count" }).int().min(1).default(1),
  ...matchAttributes,
});

registerToxic({
  type: "http_corrupt",
  layer: "http",
  description: "flip bytes random bytes of each response body chunk",
  attributes: httpCorruptAttributes,
  http: (a: z.infer<typeof httpCorruptAttributes>) => ({
    match: matcher(a),
    action: () => ({
      corrupt: (chunk) => {
        const out = Buffer.from(chunk);
        for (let i = 0; i < a.bytes && out.length; i++) out[Math.floor(Math.random() * out.length)] ^= 0xff;
        return out;
      },
    }),
  }),
});
