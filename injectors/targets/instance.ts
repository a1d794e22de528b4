// EC2 instances: IDs, tags, an Auto Scaling group or an availability zone to
// the running instances that match, each identified by its instance ID, with
// the region and endpoint it lives behind.
import type { Filter } from "@aws-sdk/client-ec2";
import type { InstanceSelector, TargetSpec } from "../../lib/experiment";
import { awsError, describeAll, whereOf } from "../cloud/ec2";
import { checkRegion, cloudFence, fenceProblem, lacksTag } from "../cloud/guard";
import type { OnHost } from "../types";
import { registerTargetKind, type TargetResolution } from "./registry";

export interface InstanceTarget extends OnHost {
  kind: "instance";
  region: string;
  endpoint?: string;
  instanceId: string;
  az: string;
  /** the account it lives in (its reservation's OwnerId) */
  account?: string;
  /** its Name tag, when it has one */
  name?: string;
}

declare module "../types" {
  interface TargetKinds {
    instance: InstanceTarget;
  }
}

export const ASG_TAG = "aws:autoscaling:groupName";

export function describeInstanceSelector(sel: InstanceSelector): string {
  const parts: string[] = [];
  if (sel.ids) parts.push(`ids=${sel.ids.join(",")}`);
  for (const [k, v] of Object.entries(sel.tags ?? {})) parts.push(`tag ${k}=${v}`);
  if (sel.asg) parts.push(`asg=${sel.asg}`);
  if (sel.az) parts.push(`az=${sel.az}`);
  if (sel.account) parts.push(`account=${sel.account}`);
  return parts.join(" ");
}

export async function resolveInstances(sel: InstanceSelector): Promise<TargetResolution> {
  const w = await whereOf(sel);
  const selector = `instance ${describeInstanceSelector(sel)} in ${w.region}${w.endpoint ? ` at ${w.endpoint}` : ""}`;
  const Filters: Filter[] = [{ Name: "instance-state-name", Values: ["running"] }];
  for (const [k, v] of Object.entries({ ...sel.tags, ...(sel.asg ? { [ASG_TAG]: sel.asg } : {}) })) Filters.push({ Name: `tag:${k}`, Values: [v] });
  if (sel.az) Filters.push({ Name: "availability-zone", Values: [sel.az] });
  const fence = cloudFence();
  checkRegion(w.region, fence);
  let found;
  try {
    found = await describeAll(w, { ...(sel.ids ? { InstanceIds: sel.ids } : {}), Filters });
  } catch (e) {
    throw new Error(`${selector}: ${awsError(e)}`);
  }
  // refuse rather than narrow: a quietly smaller fleet would change what mode, percent and maxDown mean
  const whys = found.map((i) => (sel.account && i.OwnerId !== sel.account ? `is in account ${i.OwnerId ?? "(unknown)"}, not in the selector's account ${sel.account}` : fenceProblem(i, fence)));
  const outside = found.flatMap((i, k) => (whys[k] ? [`${i.InstanceId} ${whys[k]}`] : []));
  const hint = fence.tag && whys.some(lacksTag) ? ` (tag them, or narrow the selector, e.g. tags: { "${fence.tag.key}": "${fence.tag.value ?? "…"}" })` : "";
  if (outside.length)
    throw new Error(`${selector}: ${outside.length} of ${found.length} matched instance(s) are outside the cloud fence: ${outside.slice(0, 5).join("; ")}${outside.length > 5 ? `; and ${outside.length - 5} more` : ""}${hint}`);
  const matched: InstanceTarget[] = found
    .map((i) => {
      const name = i.Tags?.find((t) => t.Key === "Name")?.Value;
      return { kind: "instance" as const, region: w.region, ...(w.endpoint ? { endpoint: w.endpoint } : {}), instanceId: i.InstanceId!, az: i.Placement?.AvailabilityZone ?? "", ...(i.OwnerId ? { account: i.OwnerId } : {}), ...(name ? { name } : {}) };
    })
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  return { selector, matched, protected: [] };
}

registerTargetKind({
  kind: "instance",
  title: "cloud instance",
  selectors: ["instance"],
  example: { instance: { tags: { app: "my-service", "gameday:allow": "true" } } },
  id: (t) => `ec2:${t.region}/${t.instanceId}`,
  label: (t) => `instance ${t.instanceId}${t.name ? ` (${t.name})` : ""} in ${t.az}`,
  resolve: (spec: TargetSpec) => resolveInstances(spec.instance!),
});
