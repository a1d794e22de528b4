// What a cloud fault did, from EC2's own answers: the instance's state and
// security groups, and the zone's subnets on a deny-all ACL, read just
// before revert starts the instance again, puts its groups back or moves the
// subnets back, and kept in a file named by a nonce plan() chose (the
// reaper's revert reads them the same way). A termination stays visible in
// EC2, so its effect is read then. Reading never stands in the way of a
// revert: an unreadable answer is no evidence either way.
import { randomUUID } from "node:crypto";
import type { InstanceTarget } from "../targets/instance";
import { keepEvidence, plural, readEvidence, takeEvidence } from "../evidence";
import type { Effect } from "../types";
import { describeOne, stateName } from "./ec2";
import { isolatedNow, type SubnetIsolation } from "./subnets";

/** plan() adds it to the undo; absent in journals from before it: no evidence. */
export const newEvidenceKey = () => randomUUID();

export interface CloudEvidence {
  /** the instance's state when the revert came */
  state: string;
  /** its security groups then, instance-wide and per network interface */
  groups: string[];
  interfaces: { id: string; groups: string[] }[];
  /** az-outage isolateSubnets: the subnets on this change's deny-all ACL then */
  isolated?: string[];
  /** sg-isolate: the deny-all group's ID */
  denyAll?: string;
}

const keyOf = (fault: string, t: InstanceTarget, nonce: string) => `cloud-${fault}-${t.instanceId}-${nonce}`;

/** Before revert: what EC2 says of the instance (and the isolated subnets) now; once, a retried revert keeps the first reading. */
export async function keepCloudEvidence(fault: string, t: InstanceTarget, nonce: string | undefined, more: { iso?: SubnetIsolation; denyAll?: () => Promise<string | undefined> } = {}): Promise<void> {
  if (!nonce || readEvidence(keyOf(fault, t, nonce))) return;
  try {
    const i = await describeOne(t, t.instanceId);
    const e: CloudEvidence = {
      state: stateName(i),
      groups: (i?.SecurityGroups ?? []).map((g) => g.GroupId!).filter(Boolean),
      interfaces: (i?.NetworkInterfaces ?? []).map((n) => ({ id: n.NetworkInterfaceId ?? "?", groups: (n.Groups ?? []).map((g) => g.GroupId!).filter(Boolean) })),
      ...(more.iso ? { isolated: await isolatedNow(t, more.iso) } : {}),
      ...(more.denyAll ? { denyAll: await more.denyAll() } : {}),
    };
    keepEvidence(keyOf(fault, t, nonce), e, { once: true });
  } catch {
    // EC2 did not answer: no evidence, and the revert goes on
  }
}

export function takeCloudEvidence(fault: string, t: InstanceTarget, nonce: string | undefined): CloudEvidence | null {
  return nonce ? takeEvidence<CloudEvidence>(keyOf(fault, t, nonce)) : null;
}

const DOWN = ["stopping", "stopped"];
const ENDED = ["shutting-down", "terminated", "gone"];

/** The instance half: touched 1 when it was down (stopped, or terminated) as the fault meant. */
export function instanceEffect(t: InstanceTarget, action: "stop" | "terminate", state: string): Effect {
  const down = action === "stop" ? DOWN.includes(state) : ENDED.includes(state);
  const what = state === "gone" ? "no longer known to EC2 (terminated and purged)" : state;
  return down
    ? { touched: 1, summary: `instance ${t.instanceId} ${action === "stop" ? "was" : "is"} ${what}${action === "stop" ? " when the revert came" : ""} (from running)`, counters: { state } }
    : { touched: 0, summary: `instance ${t.instanceId} was ${state}${action === "stop" ? " when the revert came" : ""}: the ${action} did not take`, counters: { state } };
}

/** A termination is still visible in EC2 after it: read its state when the effect is asked for. */
export async function terminateEffect(t: InstanceTarget): Promise<Effect> {
  return instanceEffect(t, "terminate", stateName(await describeOne(t, t.instanceId)));
}

/** sg-isolate: the interfaces (or, where EC2 lists none, the instance) that had only the deny-all group. */
export function isolationEffect(t: InstanceTarget, e: CloudEvidence, previous: string[]): Effect {
  const denyAll = e.denyAll;
  const only = (gs: string[]) => gs.length > 0 && gs.every((g) => (denyAll ? g === denyAll : !previous.includes(g)));
  const swapped = e.interfaces.length ? e.interfaces.filter((n) => only(n.groups)).map((n) => n.id) : only(e.groups) ? [t.instanceId] : [];
  const what = e.interfaces.length ? `${plural(swapped.length, "network interface")} (${swapped.join(", ")}) of instance ${t.instanceId}` : `instance ${t.instanceId}`;
  return swapped.length
    ? { touched: swapped.length, summary: `${what} had only the deny-all group ${denyAll ?? e.groups.join(", ")} until the revert (was ${previous.join(", ")})`, counters: { ...e, swapped } }
    : { touched: 0, summary: `instance ${t.instanceId} had groups ${e.groups.join(", ") || "none"} when the revert came, not the deny-all group: nothing was isolated`, counters: { ...e, swapped } };
}

/** az-outage's subnets: those on the deny-all ACL when the revert came. */
export function subnetsEffect(iso: SubnetIsolation, isolated: string[]): { touched: number; summary: string } {
  if (!iso.subnets.length) return { touched: 0, summary: "its subnets belonged to another change of the step" };
  return { touched: isolated.length, summary: `${plural(isolated.length, "subnet")} of ${iso.subnets.length} on the deny-all network ACL when the revert came${isolated.length ? ` (${isolated.join(", ")})` : ""}` };
}
