// az-outage (Chaos Gorilla): stop — or, confirmed, terminate — an instance
// of one availability zone. Select the zone's instances (`az` in the
// instance selector) with mode all and a maxDown; this fault refuses any
// instance outside the zone it names, so a selector that reaches further
// cannot turn a zone outage into a region outage.
import { z } from "zod";
import { register } from "../registry";
import type { InstanceTarget } from "../targets/instance";
import type { Injector } from "../types";
import { irreversibleFlag, planRunning, startAgain, stopInstance, terminateInstance, verifyRunning, verifyTerminated } from "./actions";
import { ec2Available } from "./ec2";

export const azOutageParams = z
  .object({
    az: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, "expected an availability zone like eu-west-1a"),
    action: z.enum(["stop", "terminate"], { error: "expected stop or terminate" }).default("stop"),
    irreversible: irreversibleFlag.optional(),
  })
  .strict()
  .refine((p) => p.action !== "terminate" || p.irreversible === true, { path: ["irreversible"], message: "action terminate cannot be undone: set irreversible: true to confirm" });
type AzParams = z.infer<typeof azOutageParams>;

export const azOutage: Injector<AzParams, { az: string; action: "stop" | "terminate" }, InstanceTarget> = {
  name: "az-outage",
  description: "Chaos Gorilla: stop (reverted by start) or terminate (IRREVERSIBLE, needs irreversible: true) every selected instance of one availability zone.",
  targetKind: "instance",
  params: azOutageParams,
  irreversible: (p) => p.action === "terminate",
  available: (t) => ec2Available(t),
  async plan(t, p) {
    if (t.az !== p.az) throw new Error(`instance ${t.instanceId} is in ${t.az}, not in ${p.az}: az-outage stays in its zone`);
    await planRunning(t, "az-outage");
    return { az: p.az, action: p.action };
  },
  inject: (t, _p, ctx) => (ctx.undo.action === "stop" ? stopInstance(t, false, ctx.signal) : terminateInstance(t, ctx.signal)),
  revert: (t, u) => (u.action === "stop" ? startAgain(t) : Promise.resolve()),
  verify: (t, u) => (u.action === "stop" ? verifyRunning(t) : verifyTerminated(t)),
  describe: (t, u) => (u.action === "stop" ? `zone ${u.az} down: StopInstances ${t.instanceId}, StartInstances on revert` : `IRREVERSIBLE: zone ${u.az} down: TerminateInstances ${t.instanceId}; no revert`),
};

register(azOutage);
