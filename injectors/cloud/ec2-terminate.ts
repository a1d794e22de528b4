// ec2-terminate: terminate one instance. IRREVERSIBLE: there is no revert
// (the plan, the events and the verify detail say so), and the experiment
// must confirm it with `irreversible: true`.
import { z } from "zod";
import { register } from "../registry";
import type { InstanceTarget } from "../targets/instance";
import type { Injector } from "../types";
import { irreversibleFlag, planRunning, terminateInstance, verifyTerminated } from "./actions";
import { ec2Available } from "./ec2";
import { terminateEffect } from "./evidence";

export const ec2TerminateParams = z.object({ irreversible: irreversibleFlag }).strict();

export const ec2Terminate: Injector<z.infer<typeof ec2TerminateParams>, { irreversible: true }, InstanceTarget> = {
  name: "ec2-terminate",
  description: "IRREVERSIBLE: terminate an EC2 instance (TerminateInstances). Needs irreversible: true; nothing is reverted.",
  family: "cloud",
  targetKind: "instance",
  params: ec2TerminateParams,
  irreversible: () => true,
  available: (t) => ec2Available(t),
  async plan(t) {
    await planRunning(t, "ec2-terminate");
    return { irreversible: true };
  },
  inject: (t, _p, ctx) => terminateInstance(t, ctx.signal),
  async revert() {
    /* a terminated instance cannot come back */
  },
  verify: (t) => verifyTerminated(t),
  effect: (t) => terminateEffect(t),
  describe: (t) => `IRREVERSIBLE: TerminateInstances ${t.instanceId}; no revert`,
};

register(ec2Terminate);
