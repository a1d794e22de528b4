// reset_peer: reset the connection (TCP RST, "connection reset by peer")
// after timeout ms; data flows until then.
import { z } from "zod";
import { registerToxic } from "../toxic";

export const resetPeerAttributes = z.object({ timeout: z.number({ error: "timeout: expected milliseconds" }).min(0).default(0) });

registerToxic({
  type: "reset_peer",
  layer: "tcp",
  description: "reset the connection (RST) after timeout ms",
  attributes: resetPeerAttributes,
  tcp: (a: z.infer<typeof resetPeerAttributes>) => ({
    start(io) {
      const t = setTimeout(() => {
        io.faulted();
        io.reset();
      }, a.timeout);
      io.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
    },
  }),
});
