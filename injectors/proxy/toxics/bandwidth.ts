// bandwidth: at most rate KB/s (1 KB = 1000 bytes, as Toxiproxy). Big chunks
// go out in pieces of 100 ms worth, so the rate is smooth. shared=true (ours,
// toxiproxy#190) caps all the proxy's connections together instead of each.
import { z } from "zod";
import { registerToxic, waitUntil, type Chunk } from "../toxic";

export const bandwidthAttributes = z.object({
  rate: z.number({ error: "rate: expected KB/s" }).min(0, { error: "rate: expected KB/s ≥ 0" }).default(0),
  shared: z.boolean({ error: "shared: expected true or false" }).default(false),
});

registerToxic({
  type: "bandwidth",
  layer: "tcp",
  description: "cap the throughput at rate KB/s (per connection, or shared by the proxy)",
  attributes: bandwidthAttributes,
  tcp(a: z.infer<typeof bandwidthAttributes>, shared) {
    const own = { next: 0 };
    const clock = (a.shared ? shared : own) as { next: number };
    clock.next ??= 0;
    const bytesPerMs = a.rate; // KB/s = bytes/ms
    return {
      async *chunk(c: Chunk, io) {
        if (a.rate <= 0) return yield c;
        io.faulted();
        const piece = Math.max(1, Math.floor(bytesPerMs * 100));
        let off = 0;
        for (; off < c.data.length && !io.signal.aborted; off += piece) {
          const data = c.data.subarray(off, off + piece);
          const start = Math.max(performance.now(), clock.next);
          clock.next = start + data.length / bytesPerMs;
          await waitUntil(clock.next, io.signal);
          yield { data, at: c.at };
        }
        // removed mid-chunk: the rest goes on at once, nothing dropped
        if (off < c.data.length) yield { data: c.data.subarray(off), at: c.at };
      },
    };
  },
});
