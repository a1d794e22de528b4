// timeout: let no data through, and close the connection after timeout ms
// (0: never; the data is dropped until the toxic is removed). Dropping is
// this toxic's whole point, so it is the one place data is discarded.
import { z } from "zod";
import { registerToxic } from "../toxic";

export const timeoutAttributes = z.object({ timeout: z.number({ error: "timeout: expected milliseconds" }).min(0).default(0) });

registerToxic({
  type: "timeout",
  layer: "tcp",
  description: "stop all data and close the connection after timeout ms (0: hold it open)",
  attributes: timeoutAttributes,
  tcp(a: z.infer<typeof timeoutAttributes>) {
    return {
      start(io) {
        io.faulted();
        if (a.timeout <= 0) return;
        const t = setTimeout(() => io.close(), a.timeout);
        io.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
      },
      chunk: () => [],
    };
  },
});
