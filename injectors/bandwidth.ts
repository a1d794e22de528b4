// bandwidth: cap the selected egress traffic at a rate: a class of its own,
// capped at the rate, under gameday's shared htb root on the device (other
// faults' classes may sit beside it), everything else in the root's
// unthrottled default class. The root goes only over the kernel's default
// root qdisc (a configured root is somebody's and is refused, never replaced).
import { z } from "zod";
import { shortTag } from "./net/cmd";
import { applyTc, cgroupRefused, commonChecks, netInjector, planTc, tcPlanCommands, texts, type NetUndo } from "./net-fault";
import { register } from "./registry";
import type { NetworkTarget } from "./types";
import { shown } from "../lib/issues";

const RATE_RE = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/;
const RATE_HINT = "expected a tc rate like 1mbit, 500kbit or 2mbps (bytes/s)";
const BURST_RE = /^\d+(k|kb|m|mb|b)?$/;

/** Bytes per second of a tc rate ("1mbit" = 125000; tc's k/m are 1000s). */
export function rateBytesPerSec(rate: string): number {
  const m = RATE_RE.exec(rate);
  if (!m) throw new Error(`${RATE_HINT} (got ${shown(rate)})`);
  const mult: Record<string, number> = { bit: 1 / 8, kbit: 125, mbit: 125e3, gbit: 125e6, bps: 1, kbps: 1e3, mbps: 1e6, gbps: 1e9 };
  return Number(m[1]) * mult[m[2]];
}

export const bandwidthParams = z
  .object({
    rate: z.string({ error: RATE_HINT }).regex(RATE_RE, RATE_HINT).refine((r) => !RATE_RE.test(r) || rateBytesPerSec(r) >= 1000, { message: "must be at least 8kbit (1000 bytes/s)" }).meta({ examples: ["1mbit"] }),
    /** bucket size in bytes (tc syntax, e.g. 32k); default: htb's own */
    burst: z.string().regex(BURST_RE, "expected a burst size like 32k or 1m (bytes)").optional(),
  })
  .strict();
export type BandwidthParams = z.infer<typeof bandwidthParams>;

export async function planBandwidth(t: NetworkTarget, p: BandwidthParams): Promise<NetUndo> {
  await commonChecks(t);
  cgroupRefused(t, "bandwidth (tc htb)");
  if (t.direction !== "egress") throw new Error(`target.direction: bandwidth limits egress traffic only (got ${t.direction}); limit the other side's egress instead`);
  const tag = shortTag();
  const { root, ...tc } = await planTc(t, tag, false);
  return { tag, mechanism: "htb", why: "tc htb with a u32 filter", netns: t.netns, ...tc, chains: [], commands: texts(tcPlanCommands(t, tc.dev, tc.tc, root, { rate: p.rate, burst: p.burst })) };
}

export const bandwidth = netInjector<BandwidthParams>({
  name: "bandwidth",
  touches: "shaped",
  description: "Cap the selected egress traffic at a rate (tc htb class with a u32 filter; other traffic unthrottled).",
  params: bandwidthParams,
  plan: planBandwidth,
  async apply(t, p, undo) {
    await applyTc(t, undo, { rate: p.rate, burst: p.burst });
  },
});

register(bandwidth);
