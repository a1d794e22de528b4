// slicer: cut each chunk into pieces of average_size ± size_variation bytes,
// delay µs apart (Toxiproxy's units: the delay is in microseconds).
import { z } from "zod";
import { registerToxic, waitFor, type Chunk } from "../toxic";

export const slicerAttributes = z
  .object({
    average_size: z.number({ error: "average_size: expected bytes" }).int().min(0).default(0),
    size_variation: z.number({ error: "size_variation: expected bytes" }).int().min(0).default(0),
    delay: z.number({ error: "delay: expected microseconds" }).min(0).default(0),
  })
  .refine((a) => a.size_variation <= a.average_size, { path: ["size_variation"], message: "size_variation: must not exceed average_size" });

registerToxic({
  type: "slicer",
  layer: "tcp",
  description: "slice data into average_size ± size_variation byte pieces, delay µs apart",
  attributes: slicerAttributes,
  tcp: (a: z.infer<typeof slicerAttributes>) => ({
    async *chunk(c: Chunk, io) {
      if (a.average_size <= 0) return yield c;
      io.faulted();
      let off = 0;
      while (off < c.data.length) {
        const size = Math.max(1, a.average_size + Math.round((Math.random() * 2 - 1) * a.size_variation));
        yield { data: c.data.subarray(off, off + size), at: c.at };
        off += size;
        if (off < c.data.length && a.delay > 0 && !io.signal.aborted) await waitFor(a.delay / 1000, io.signal);
      }
    },
  }),
});
