// ec2-stop: stop one running instance; reverted by starting it again.
import { z } from "zod";
import { register } from "../registry";
import type { InstanceTarget } from "../targets/instance";
import type { Injector } from "../types";
import { planRunning, startAgain, stopInstance, verifyRunning } from "./actions";
import { ec2Available } from "./ec2";

export const ec2StopParams = z.object({ force: z.boolean({ error: "expected true or false" }).default(false) }).strict();

export const ec2Stop: Injector<z.infer<typeof ec2StopParams>, { force: boolean }, InstanceTarget> = {
  name: "ec2-stop",
  description: "Stop an EC2 instance (StopInstances, waits for stopped); reverted by StartInstances.",
  family: "cloud",
  targetKind: "instance",
  params: ec2StopParams,
  available: (t) => ec2Available(t),
  async plan(t, p) {
    await planRunning(t, "ec2-stop");
    return { force: p.force };
  },
  inject: (t, p, ctx) => stopInstance(t, p.force, ctx.signal),
  revert: (t) => startAgain(t),
  verify: (t) => verifyRunning(t),
  describe: (t, u) => `StopInstances ${t.instanceId}${u.force ? " (force)" : ""}, StartInstances on revert`,
};

register(ec2Stop);
