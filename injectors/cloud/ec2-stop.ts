// ec2-stop: stop one running instance; reverted by starting it again.
import { z } from "zod";
import { register } from "../registry";
import type { InstanceTarget } from "../targets/instance";
import type { Injector } from "../types";
import { planRunning, startAgain, stopInstance, verifyRunning } from "./actions";
import { ec2Available } from "./ec2";
import { instanceEffect, keepCloudEvidence, newEvidenceKey, takeCloudEvidence } from "./evidence";

export const ec2StopParams = z.object({ force: z.boolean({ error: "expected true or false" }).default(false) }).strict();

/** evidence: names the file revert keeps the instance's state in (absent in journals from before it) */
type StopUndo = { force: boolean; evidence?: string };

export const ec2Stop: Injector<z.infer<typeof ec2StopParams>, StopUndo, InstanceTarget> = {
  name: "ec2-stop",
  description: "Stop an EC2 instance (StopInstances, waits for stopped); reverted by StartInstances.",
  family: "cloud",
  targetKind: "instance",
  params: ec2StopParams,
  available: (t) => ec2Available(t),
  async plan(t, p) {
    await planRunning(t, "ec2-stop");
    return { force: p.force, evidence: newEvidenceKey() };
  },
  inject: (t, p, ctx) => stopInstance(t, p.force, ctx.signal),
  async revert(t, u) {
    await keepCloudEvidence("ec2-stop", t, u.evidence);
    await startAgain(t);
  },
  verify: (t) => verifyRunning(t),
  async effect(t, u) {
    const e = takeCloudEvidence("ec2-stop", t, u.evidence);
    return e ? instanceEffect(t, "stop", e.state) : null;
  },
  describe: (t, u) => `StopInstances ${t.instanceId}${u.force ? " (force)" : ""}, StartInstances on revert`,
};

register(ec2Stop);
