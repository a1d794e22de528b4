// slow_close: when a side closes, hold the close back by delay ms.
import { z } from "zod";
import { registerToxic, waitFor } from "../toxic";

export const slowCloseAttributes = z.object({ delay: z.number({ error: "delay: expected milliseconds" }).min(0).default(0) });

registerToxic({
  type: "slow_close",
  layer: "tcp",
  description: "delay the close of the connection by delay ms",
  attributes: slowCloseAttributes,
  tcp: (a: z.infer<typeof slowCloseAttributes>) => ({
    async end(io) {
      io.faulted();
      await waitFor(a.delay, io.signal);
    },
  }),
});
