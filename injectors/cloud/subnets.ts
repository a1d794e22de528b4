// az-outage's network half: cut a zone's subnets off by moving each one's
// network ACL association to a deny-all ACL made for the change (a new
// network ACL denies everything until rules are added), and put each subnet
// back on the ACL it had. The deny-all ACLs carry a tag with a nonce chosen
// at plan time (journaled before inject), so a revert after a crash finds and
// deletes exactly the ones this change made. Subnets already on a Game Day
// deny-all ACL belong to the change that moved them (the first instance of
// the zone a step applies to) and are left out of later ones.
import { randomUUID } from "node:crypto";
import type { EC2Client, NetworkAcl } from "@aws-sdk/client-ec2";
import { z } from "zod";
import type { Ec2Where } from "./ec2";
import { awsError, ec2, isCode, sdk } from "./ec2";
import { cloudFence, fenceProblem } from "./guard";

export const ISOLATION_TAG = "gameday:isolation";

export interface SubnetFilter {
  vpc?: string;
  tags?: Record<string, string>;
}

/** What revert acts on, checked before it does (a damaged journal entry must not move other subnets or delete other ACLs). */
export const isolationShape = z.object({
  /** tags the deny-all ACLs this change creates */
  nonce: z.uuid({ error: "expected the UUID plan() chose" }),
  /** the subnets this change moves, and the ACL each goes back to */
  subnets: z.array(
    z.object({
      subnetId: z.string().regex(/^subnet-[0-9a-z]{4,32}$/, "expected a subnet ID"),
      vpcId: z.string().regex(/^vpc-[0-9a-z]{4,32}$/, "expected a VPC ID"),
      aclId: z.string().regex(/^acl-[0-9a-z-]{4,40}$/, "expected a network ACL ID"),
    }),
  ),
});
export type SubnetIsolation = z.infer<typeof isolationShape>;

/** The zone's subnets the filter selects, each with its current ACL (null: EC2 shows none). */
export async function zoneSubnets(w: Ec2Where, az: string, f: SubnetFilter): Promise<{ subnetId: string; vpcId: string; acl: NetworkAcl | null; outside: string | null }[]> {
  const { DescribeSubnetsCommand, DescribeNetworkAclsCommand } = await sdk();
  const c = await ec2(w);
  const Filters = [{ Name: "availability-zone", Values: [az] }, ...(f.vpc ? [{ Name: "vpc-id", Values: [f.vpc] }] : []), ...Object.entries(f.tags ?? {}).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] }))];
  let subnets;
  try {
    subnets = (await c.send(new DescribeSubnetsCommand({ Filters }))).Subnets ?? [];
  } catch (e) {
    throw new Error(`DescribeSubnets in ${az}: ${awsError(e)}`);
  }
  if (!subnets.length) return [];
  let acls: NetworkAcl[];
  try {
    acls = (await c.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: "association.subnet-id", Values: subnets.map((s) => s.SubnetId!) }] }))).NetworkAcls ?? [];
  } catch (e) {
    throw new Error(`DescribeNetworkAcls of the subnets of ${az}: ${awsError(e)}`);
  }
  const fence = cloudFence();
  return subnets.map((s) => ({
    subnetId: s.SubnetId!,
    vpcId: s.VpcId!,
    acl: acls.find((a) => a.Associations?.some((x) => x.SubnetId === s.SubnetId)) ?? null,
    outside: fenceProblem(s, fence),
  }));
}

const isDenyAll = (a: NetworkAcl | null) => !!a?.Tags?.some((t) => t.Key === ISOLATION_TAG);

/** What revert will need (reads only); refuses subnets outside the cloud fence. */
export async function planIsolation(w: Ec2Where, az: string, f: SubnetFilter): Promise<SubnetIsolation> {
  const found = await zoneSubnets(w, az, f);
  if (!found.length) throw new Error(`no subnet in ${az}${f.vpc ? ` of ${f.vpc}` : ""}${f.tags ? ` tagged ${Object.entries(f.tags).map(([k, v]) => `${k}=${v}`).join(", ")}` : ""}: isolateSubnets has nothing to cut off`);
  const outside = found.filter((s) => s.outside);
  if (outside.length) throw new Error(`isolateSubnets: ${outside.map((s) => `subnet ${s.subnetId} ${s.outside}`).join("; ")}`);
  const subnets = found.filter((s) => s.acl && !isDenyAll(s.acl)).map((s) => ({ subnetId: s.subnetId, vpcId: s.vpcId, aclId: s.acl!.NetworkAclId! }));
  return { nonce: randomUUID(), subnets };
}

async function currentAssociation(c: EC2Client, subnetId: string): Promise<{ associationId: string; aclId: string } | null> {
  const { DescribeNetworkAclsCommand } = await sdk();
  const r = await c.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: "association.subnet-id", Values: [subnetId] }] }));
  const a = r.NetworkAcls?.[0];
  const assoc = a?.Associations?.find((x) => x.SubnetId === subnetId);
  return a && assoc ? { associationId: assoc.NetworkAclAssociationId!, aclId: a.NetworkAclId! } : null;
}

async function ownAcls(c: EC2Client, nonce: string): Promise<NetworkAcl[]> {
  const { DescribeNetworkAclsCommand } = await sdk();
  return (await c.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: `tag:${ISOLATION_TAG}`, Values: [nonce] }] }))).NetworkAcls ?? [];
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((r) => {
  const t = setTimeout(r, ms);
  signal?.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
});

/** Point the subnet's association at the ACL; a just-created one (fresh) is retried while EC2 does not know it yet. */
async function associate(c: EC2Client, associationId: string, aclId: string, fresh: boolean, signal?: AbortSignal): Promise<void> {
  const { ReplaceNetworkAclAssociationCommand } = await sdk();
  for (let attempt = 1, wait = 200; ; attempt++, wait = Math.min(wait * 2, 2000)) {
    try {
      await c.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: associationId, NetworkAclId: aclId }), { abortSignal: signal });
      return;
    } catch (e) {
      if (!fresh || !isCode(e, "InvalidNetworkAclID.NotFound") || attempt >= 8 || signal?.aborted) throw e;
      await sleep(wait, signal);
    }
  }
}

/** Move every planned subnet onto a deny-all ACL of its VPC (made once per VPC, found again by the nonce). */
export async function isolate(w: Ec2Where, iso: SubnetIsolation, runId: string, signal: AbortSignal): Promise<void> {
  const c = await ec2(w);
  const { CreateNetworkAclCommand } = await sdk();
  const existing = iso.subnets.length ? await ownAcls(c, iso.nonce) : [];
  const denyAll = new Map(existing.map((a) => [a.VpcId!, a.NetworkAclId!]));
  for (const s of iso.subnets) {
    try {
      if (!denyAll.has(s.vpcId)) {
        const tags = [{ Key: ISOLATION_TAG, Value: iso.nonce }, { Key: "gameday:run", Value: runId }, { Key: "Name", Value: "gameday-az-outage-deny-all" }];
        const r = await c.send(new CreateNetworkAclCommand({ VpcId: s.vpcId, TagSpecifications: [{ ResourceType: "network-acl", Tags: tags }] }), { abortSignal: signal });
        denyAll.set(s.vpcId, r.NetworkAcl!.NetworkAclId!);
      }
      const now = await currentAssociation(c, s.subnetId);
      // gone since the plan: nothing to cut off (revert and verify say so)
      if (!now) continue;
      await associate(c, now.associationId, denyAll.get(s.vpcId)!, true, signal);
    } catch (e) {
      throw new Error(`isolating subnet ${s.subnetId}: ${awsError(e)}`);
    }
  }
}

/** The planned subnets on a deny-all ACL of this change right now (the evidence, read before restore moves them back). */
export async function isolatedNow(w: Ec2Where, iso: SubnetIsolation): Promise<string[]> {
  if (!iso.subnets.length) return [];
  const c = await ec2(w);
  const ours = new Set((await ownAcls(c, iso.nonce)).map((a) => a.NetworkAclId));
  const out: string[] = [];
  for (const s of iso.subnets) {
    const now = await currentAssociation(c, s.subnetId);
    if (now && ours.has(now.aclId)) out.push(s.subnetId);
  }
  return out;
}

/** Each subnet back on its ACL (a vanished subnet is skipped), then the deny-all ACLs deleted. Errors are gathered, not stopped at. */
export async function restore(w: Ec2Where, iso: SubnetIsolation): Promise<string[]> {
  const c = await ec2(w);
  const { DeleteNetworkAclCommand } = await sdk();
  const errors: string[] = [];
  for (const s of iso.subnets) {
    try {
      const now = await currentAssociation(c, s.subnetId);
      if (now && now.aclId !== s.aclId) await associate(c, now.associationId, s.aclId, false);
    } catch (e) {
      errors.push(`subnet ${s.subnetId} back to ${s.aclId}: ${awsError(e)}`);
    }
  }
  try {
    for (const a of await ownAcls(c, iso.nonce))
      try {
        await c.send(new DeleteNetworkAclCommand({ NetworkAclId: a.NetworkAclId }));
      } catch (e) {
        if (!isCode(e, "InvalidNetworkAclID.NotFound")) errors.push(`deleting deny-all ACL ${a.NetworkAclId}: ${awsError(e)}`);
      }
  } catch (e) {
    errors.push(`finding the deny-all ACLs: ${awsError(e)}`);
  }
  return errors;
}

/** Read back (DescribeNetworkAcls): each subnet on its ACL or gone, no deny-all ACL of this change left. */
export async function verifyRestored(w: Ec2Where, iso: SubnetIsolation): Promise<{ ok: boolean; detail: string }> {
  const c = await ec2(w);
  const back: string[] = [];
  const gone: string[] = [];
  const wrong: string[] = [];
  for (const s of iso.subnets) {
    const now = await currentAssociation(c, s.subnetId);
    if (!now) gone.push(s.subnetId);
    else if (now.aclId === s.aclId) back.push(s.subnetId);
    else wrong.push(`subnet ${s.subnetId} is on ${now.aclId}, want ${s.aclId}`);
  }
  const left = (await ownAcls(c, iso.nonce)).map((a) => `deny-all ACL ${a.NetworkAclId} still exists`);
  const parts = [
    ...(back.length ? [`subnets ${back.join(", ")} back on their network ACLs`] : []),
    ...(gone.length ? [`subnet${gone.length > 1 ? "s" : ""} ${gone.join(", ")} gone (deleted meanwhile): nothing to restore`] : []),
    ...(!iso.subnets.length ? ["no subnet of its own (another change of the step isolated them)"] : []),
    ...wrong,
    ...left,
  ];
  return { ok: !wrong.length && !left.length, detail: parts.join("; ") };
}
