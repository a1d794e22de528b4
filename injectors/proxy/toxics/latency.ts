// latency: hold every chunk back by latency ± jitter (ms), counted from when
// the chunk reached the proxy, so a slow reader does not add to it. Chunks
// keep their order. Toxiproxy's jitter is uniform; distribution and
// correlation (netem's meaning) are ours, for the latency fault's proxy path.
import { z } from "zod";
import { registerToxic, waitUntil } from "../toxic";

const ms = (what: string) => z.number({ error: `${what}: expected milliseconds` }).min(0, { error: `${what}: expected milliseconds ≥ 0` });

export const latencyAttributes = z.object({
  latency: ms("latency").default(0),
  jitter: ms("jitter").default(0),
  distribution: z.enum(["uniform", "normal", "pareto", "paretonormal"], { error: "distribution: expected uniform, normal, pareto or paretonormal" }).default("uniform"),
  /** 0-1: how much each deviation follows the previous one */
  correlation: z.number().min(0).max(1, { error: "correlation: expected 0 to 1" }).default(0),
});

function gauss(): number {
  const u = 1 - Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}
// Pareto with shape 3, scaled to mean 0 and unit deviation (netem's tables have the same shapes)
function pareto(): number {
  const xm = 2 / 3;
  return (xm / Math.pow(1 - Math.random(), 1 / 3) - 1) / ((xm * Math.sqrt(3)) / 2);
}
const SAMPLE = { uniform: () => Math.random() * 2 - 1, normal: gauss, pareto, paretonormal: () => 0.25 * gauss() + 0.75 * pareto() };

registerToxic({
  type: "latency",
  layer: "tcp",
  description: "delay each chunk by latency ± jitter (ms)",
  attributes: latencyAttributes,
  tcp(a: z.infer<typeof latencyAttributes>) {
    let last = 0;
    const fresh = SAMPLE[a.distribution];
    return {
      async chunk(c, io) {
        if (a.latency === 0 && a.jitter === 0) return [c];
        last = a.correlation * last + (1 - a.correlation) * fresh();
        const d = Math.max(0, a.latency + a.jitter * last);
        io.faulted();
        await waitUntil(c.at + d, io.signal);
        return [c];
      },
    };
  },
});
