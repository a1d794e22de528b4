// Stop (reverted by start) and terminate (never reverted), shared by
// ec2-stop, ec2-terminate and az-outage. Each waits for EC2 to report the
// new state: the API answers at once, the instance gets there a few polls
// later.
import { z } from "zod";
import type { InstanceTarget } from "../targets/instance";
import type { VerifyResult } from "../types";
import { awsError, describeOne, ec2, sdk, stateName, waitState } from "./ec2";
import { checkRegion, cloudFence, fenceProblem } from "./guard";

const SETTLE_MS = 25_000;

/** ec2-terminate (and az-outage with terminate) must say they know. */
export const irreversibleFlag = z.literal(true, { error: "terminating cannot be undone: set irreversible: true to confirm" });

export async function planRunning(t: InstanceTarget, fault: string): Promise<void> {
  const fence = cloudFence();
  checkRegion(t.region, fence);
  const i = await describeOne(t, t.instanceId);
  if (!i) throw new Error(`instance ${t.instanceId} does not exist (any more)`);
  const outside = fenceProblem(i, fence);
  if (outside) throw new Error(`instance ${t.instanceId} ${outside}: ${fault} leaves it alone`);
  if (stateName(i) !== "running") throw new Error(`instance ${t.instanceId} is ${stateName(i)}, not running: ${fault} leaves it as it is`);
}

export async function stopInstance(t: InstanceTarget, force: boolean, signal: AbortSignal): Promise<void> {
  try {
    const { StopInstancesCommand } = await sdk();
    await (await ec2(t)).send(new StopInstancesCommand({ InstanceIds: [t.instanceId], Force: force }), { abortSignal: signal });
  } catch (e) {
    throw new Error(`StopInstances ${t.instanceId}: ${awsError(e)}`);
  }
  const s = await waitState(t, t.instanceId, ["stopped"], SETTLE_MS, signal);
  if (s !== "stopped" && !signal.aborted) throw new Error(`instance ${t.instanceId} is ${s}, not stopped, ${SETTLE_MS / 1000} s after StopInstances`);
}

/** Start it again when it is stopped (or stopping: wait for stopped first); a terminated or vanished one is reported, not failed. */
export async function startAgain(t: InstanceTarget): Promise<void> {
  let s = stateName(await describeOne(t, t.instanceId));
  if (s === "stopping") s = await waitState(t, t.instanceId, ["stopped"], SETTLE_MS);
  if (s !== "stopped") return;
  try {
    const { StartInstancesCommand } = await sdk();
    await (await ec2(t)).send(new StartInstancesCommand({ InstanceIds: [t.instanceId] }));
  } catch (e) {
    throw new Error(`StartInstances ${t.instanceId}: ${awsError(e)}`);
  }
}

export async function verifyRunning(t: InstanceTarget): Promise<VerifyResult> {
  const s = await waitState(t, t.instanceId, ["running", "terminated", "gone"], 3000);
  if (s === "running") return { ok: true, detail: `instance ${t.instanceId} is running again` };
  if (s === "terminated" || s === "gone") return { ok: true, detail: `instance ${t.instanceId} is ${s === "gone" ? "gone" : "terminated"} (by someone else): nothing left to start` };
  return { ok: false, detail: `instance ${t.instanceId} is ${s}, not running yet` };
}

export async function terminateInstance(t: InstanceTarget, signal: AbortSignal): Promise<void> {
  try {
    const { TerminateInstancesCommand } = await sdk();
    await (await ec2(t)).send(new TerminateInstancesCommand({ InstanceIds: [t.instanceId] }), { abortSignal: signal });
  } catch (e) {
    throw new Error(`TerminateInstances ${t.instanceId}: ${awsError(e)}`);
  }
}

export async function verifyTerminated(t: InstanceTarget): Promise<VerifyResult> {
  const s = stateName(await describeOne(t, t.instanceId));
  return { ok: true, detail: `IRREVERSIBLE: a termination cannot be undone; instance ${t.instanceId} is ${s} (its Auto Scaling group, if any, replaces it)` };
}
