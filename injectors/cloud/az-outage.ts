// az-outage (Chaos Gorilla): stop — or, confirmed, terminate — an instance
// of one availability zone, and with isolateSubnets cut the zone's subnets
// off (subnets.ts). Select the zone's instances (`az` in the instance
// selector) with mode all and a maxDown; this fault refuses any instance
// outside the zone it names, so a selector that reaches further cannot turn
// a zone outage into a region outage.
import { z } from "zod";
import { register } from "../registry";
import type { InstanceTarget } from "../targets/instance";
import type { Injector } from "../types";
import { irreversibleFlag, planRunning, startAgain, stopInstance, terminateInstance, verifyRunning, verifyTerminated } from "./actions";
import { ec2Available } from "./ec2";
import { instanceEffect, keepCloudEvidence, newEvidenceKey, subnetsEffect, takeCloudEvidence } from "./evidence";
import { isolate, isolationShape, planIsolation, restore, verifyRestored, type SubnetIsolation } from "./subnets";

export const azOutageParams = z
  .object({
    az: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, "expected an availability zone like eu-west-1a").meta({ examples: ["eu-west-1a"] }),
    action: z.enum(["stop", "terminate"], { error: "expected stop or terminate" }).default("stop"),
    irreversible: irreversibleFlag.optional(),
    /** also move the zone's subnets onto a deny-all network ACL, restored on revert */
    isolateSubnets: z.boolean({ error: "expected true or false" }).default(false),
    /** isolateSubnets: only the subnets of this VPC */
    subnetVpc: z.string().regex(/^vpc-[0-9a-z]{4,17}$/, "expected a VPC ID like vpc-0abc1234").optional(),
    /** isolateSubnets: only the subnets with these tags */
    subnetTags: z.record(z.string().min(1), z.string()).optional(),
  })
  .strict()
  .refine((p) => p.action !== "terminate" || p.irreversible === true, { path: ["irreversible"], message: "action terminate cannot be undone: set irreversible: true to confirm" })
  .refine((p) => p.isolateSubnets || (p.subnetVpc === undefined && p.subnetTags === undefined), { path: ["isolateSubnets"], message: "subnetVpc and subnetTags choose the subnets to isolate: set isolateSubnets: true" });
type AzParams = z.infer<typeof azOutageParams>;
interface AzUndo {
  az: string;
  action: "stop" | "terminate";
  /** isolateSubnets: the subnets this change moves (absent in journals from before it) */
  isolation?: SubnetIsolation;
  /** names the file revert keeps the evidence in (absent in journals from before it) */
  evidence?: string;
}

export const azOutage: Injector<AzParams, AzUndo, InstanceTarget> = {
  name: "az-outage",
  description: "Chaos Gorilla: stop (reverted by start) or terminate (IRREVERSIBLE, needs irreversible: true) every selected instance of one availability zone; isolateSubnets also puts the zone's subnets on a deny-all network ACL until revert.",
  family: "cloud",
  targetKind: "instance",
  params: azOutageParams,
  irreversible: (p) => p.action === "terminate",
  undoSchema: z.object({ az: azOutageParams.shape.az, action: z.enum(["stop", "terminate"]), isolation: isolationShape.optional() }).passthrough(),
  available: (t) => ec2Available(t),
  async plan(t, p) {
    if (t.az !== p.az) throw new Error(`instance ${t.instanceId} is in ${t.az}, not in ${p.az}: az-outage stays in its zone`);
    await planRunning(t, "az-outage");
    const isolation = p.isolateSubnets ? await planIsolation(t, p.az, { vpc: p.subnetVpc, tags: p.subnetTags }) : undefined;
    return { az: p.az, action: p.action, ...(isolation ? { isolation } : {}), evidence: newEvidenceKey() };
  },
  async inject(t, _p, ctx) {
    // the network first: the zone is unreachable before its instances go down
    if (ctx.undo.isolation) await isolate(t, ctx.undo.isolation, ctx.runId, ctx.signal);
    await (ctx.undo.action === "stop" ? stopInstance(t, false, ctx.signal) : terminateInstance(t, ctx.signal));
  },
  async revert(t, u) {
    await keepCloudEvidence("az-outage", t, u.evidence, { iso: u.isolation });
    const errors = u.isolation ? await restore(t, u.isolation) : [];
    try {
      if (u.action === "stop") await startAgain(t);
    } catch (e) {
      errors.push((e as Error).message);
    }
    if (errors.length) throw new Error(errors.join("; "));
  },
  async verify(t, u) {
    const v = u.action === "stop" ? await verifyRunning(t) : await verifyTerminated(t);
    if (!u.isolation) return v;
    const n = await verifyRestored(t, u.isolation);
    return { ok: v.ok && n.ok, detail: `${v.detail}; ${n.detail}` };
  },
  async effect(t, u) {
    const e = takeCloudEvidence("az-outage", t, u.evidence);
    if (!e) return null;
    const inst = instanceEffect(t, u.action, e.state);
    if (!u.isolation) return inst;
    const net = subnetsEffect(u.isolation, e.isolated ?? []);
    return { touched: inst.touched + net.touched, summary: `${inst.summary}; ${net.summary}`, counters: { ...e } };
  },
  describe: (t, u) =>
    (u.action === "stop" ? `zone ${u.az} down: StopInstances ${t.instanceId}, StartInstances on revert` : `IRREVERSIBLE: zone ${u.az} down: TerminateInstances ${t.instanceId}; no revert`) +
    (u.isolation ? (u.isolation.subnets.length ? `; subnets ${u.isolation.subnets.map((s) => s.subnetId).join(", ")} on a deny-all network ACL, their own ACLs back on revert` : "; its subnets are isolated by another change of the step") : ""),
};

register(azOutage);
