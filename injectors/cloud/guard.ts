// The cloud faults' own fence, set by whoever runs Game Day (environment,
// not the experiment, so an experiment cannot widen it): the accounts and
// regions they may act in, and the opt-in tag every instance must carry.
// Checked when targets resolve (the plan refuses before anything changes)
// and again in each injector's plan(), before the executor journals it. The
// account is the reservation's OwnerId from DescribeInstances: the account
// the instance lives in, with no extra permission and no extra call.
import type { Tag } from "@aws-sdk/client-ec2";
import { config, ConfigError } from "../../lib/config";

export interface CloudFence {
  accounts: string[];
  regions: string[];
  /** null: lifted (only with an account allow-list) */
  tag: { key: string; value?: string } | null;
}

export function cloudFence(): CloudFence {
  const c = config();
  const fence = { accounts: c.GAMEDAY_AWS_ALLOWED_ACCOUNTS, regions: c.GAMEDAY_AWS_ALLOWED_REGIONS, tag: c.GAMEDAY_AWS_REQUIRED_TAG };
  if (!fence.tag && !fence.accounts.length)
    throw new ConfigError("GAMEDAY_AWS_REQUIRED_TAG", "GAMEDAY_AWS_REQUIRED_TAG=none lifts the opt-in tag only beside GAMEDAY_AWS_ALLOWED_ACCOUNTS: name the accounts the cloud faults may act in, or keep a required tag");
  return fence;
}

const LACKS = "lacks the opt-in tag";
/** fenceProblem's answer is about the tag (tagging would fix it) */
export const lacksTag = (why: string | null) => !!why?.startsWith(LACKS);

export const tagText = (t: { key: string; value?: string }) => (t.value === undefined ? `${t.key} (any value)` : `${t.key}=${t.value}`);

/** Refuse a region outside GAMEDAY_AWS_ALLOWED_REGIONS (before any call to it). */
export function checkRegion(region: string, fence = cloudFence()): void {
  if (fence.regions.length && !fence.regions.includes(region))
    throw new Error(`region ${region} is not in GAMEDAY_AWS_ALLOWED_REGIONS (${fence.regions.join(", ")}): the cloud faults act only there`);
}

/** Why an instance (or a subnet) is outside the fence (its account, its opt-in tag), or null when it is inside. */
export function fenceProblem(i: { OwnerId?: string; Tags?: Tag[] }, fence = cloudFence()): string | null {
  if (fence.accounts.length && !fence.accounts.includes(i.OwnerId ?? ""))
    return `is in account ${i.OwnerId ?? "(unknown)"}, not in GAMEDAY_AWS_ALLOWED_ACCOUNTS (${fence.accounts.join(", ")})`;
  const tag = fence.tag;
  if (tag && !(i.Tags ?? []).some((t) => t.Key === tag.key && (tag.value === undefined || t.Value === tag.value)))
    return `${LACKS} ${tagText(tag)} that GAMEDAY_AWS_REQUIRED_TAG requires`;
  return null;
}
