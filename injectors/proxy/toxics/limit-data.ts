// limit_data: pass the first `bytes` bytes of the stream, then close the connection.
import { z } from "zod";
import { registerToxic, type Chunk } from "../toxic";

export const limitDataAttributes = z.object({ bytes: z.number({ error: "bytes: expected a byte count" }).int().min(0).default(0) });

registerToxic({
  type: "limit_data",
  layer: "tcp",
  description: "close the connection once bytes bytes went through",
  attributes: limitDataAttributes,
  tcp(a: z.infer<typeof limitDataAttributes>) {
    let passed = 0;
    return {
      chunk(c: Chunk, io) {
        const room = a.bytes - passed;
        if (c.data.length < room) {
          passed += c.data.length;
          return [c];
        }
        passed = a.bytes;
        io.faulted();
        io.close();
        return room > 0 ? [{ data: c.data.subarray(0, room), at: c.at }] : [];
      },
    };
  },
});
