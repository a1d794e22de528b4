// sg-isolate: swap an instance's security groups for one deny-all group (no
// ingress rule, its default egress rule revoked) and put back exactly the
// groups it had on revert. The deny-all group is the one given, or
// `gameday-deny-all` in the instance's VPC, created on first use and kept
// (it allows nothing; later runs reuse it).
import { z } from "zod";
import { register } from "../registry";
import type { InstanceTarget } from "../targets/instance";
import type { Injector } from "../types";
import { planRunning } from "./actions";
import { awsError, describeOne, ec2, ec2Available, sdk, stateName } from "./ec2";
import { isolationEffect, keepCloudEvidence, newEvidenceKey, takeCloudEvidence } from "./evidence";

export const DENY_ALL_GROUP = "gameday-deny-all";

export const sgIsolateParams = z.object({ groupId: z.string().regex(/^sg-[0-9a-z]{4,17}$/, "expected a security group ID like sg-0abc1234").optional() }).strict();

interface SgUndo {
  previousGroups: string[];
  vpc: string;
  /** the deny-all group when it already exists (else inject creates DENY_ALL_GROUP) */
  groupId?: string;
  /** names the file revert keeps the groups in force in (absent in journals from before it) */
  evidence?: string;
}

async function denyAllGroup(t: InstanceTarget, vpc: string): Promise<string | undefined> {
  const { DescribeSecurityGroupsCommand } = await sdk();
  const r = await (await ec2(t)).send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: "group-name", Values: [DENY_ALL_GROUP] }, { Name: "vpc-id", Values: [vpc] }] }));
  return r.SecurityGroups?.[0]?.GroupId;
}

const same = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

export const sgIsolate: Injector<z.infer<typeof sgIsolateParams>, SgUndo, InstanceTarget> = {
  name: "sg-isolate",
  description: "Isolate an EC2 instance: swap its security groups for a deny-all group; its exact previous groups are restored on revert.",
  family: "cloud",
  targetKind: "instance",
  params: sgIsolateParams,
  available: (t) => ec2Available(t),

  async plan(t, p) {
    await planRunning(t, "sg-isolate");
    const i = (await describeOne(t, t.instanceId))!;
    const previousGroups = (i.SecurityGroups ?? []).map((g) => g.GroupId!).filter(Boolean);
    if (!previousGroups.length) throw new Error(`instance ${t.instanceId} has no security group to swap (EC2-Classic?)`);
    const vpc = i.VpcId ?? "";
    let groupId: string | undefined;
    try {
      groupId = p.groupId ?? (await denyAllGroup(t, vpc));
    } catch (e) {
      throw new Error(`DescribeSecurityGroups: ${awsError(e)}`);
    }
    return { previousGroups, vpc, ...(groupId ? { groupId } : {}), evidence: newEvidenceKey() };
  },

  async inject(t, _p, { undo, signal }) {
    const c = await ec2(t);
    const { CreateSecurityGroupCommand, ModifyInstanceAttributeCommand, RevokeSecurityGroupEgressCommand } = await sdk();
    let groupId = undo.groupId;
    try {
      if (!groupId) {
        const g = await c.send(new CreateSecurityGroupCommand({ GroupName: DENY_ALL_GROUP, Description: "Game Day sg-isolate: allows nothing in or out", VpcId: undo.vpc }), { abortSignal: signal });
        groupId = g.GroupId!;
        await c.send(new RevokeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] }), { abortSignal: signal });
      }
      await c.send(new ModifyInstanceAttributeCommand({ InstanceId: t.instanceId, Groups: [groupId] }), { abortSignal: signal });
    } catch (e) {
      throw new Error(`isolating ${t.instanceId}: ${awsError(e)}`);
    }
  },

  async revert(t, undo) {
    await keepCloudEvidence("sg-isolate", t, undo.evidence, { denyAll: async () => undo.groupId ?? (await denyAllGroup(t, undo.vpc)) });
    const i = await describeOne(t, t.instanceId);
    if (!i || stateName(i) === "terminated") return;
    try {
      const { ModifyInstanceAttributeCommand } = await sdk();
      await (await ec2(t)).send(new ModifyInstanceAttributeCommand({ InstanceId: t.instanceId, Groups: undo.previousGroups }));
    } catch (e) {
      throw new Error(`restoring the groups of ${t.instanceId}: ${awsError(e)}`);
    }
  },

  async verify(t, undo) {
    const i = await describeOne(t, t.instanceId);
    if (!i || stateName(i) === "terminated") return { ok: true, detail: `instance ${t.instanceId} is ${i ? "terminated" : "gone"}: nothing to restore` };
    const now = (i.SecurityGroups ?? []).map((g) => g.GroupId!);
    return same(now, undo.previousGroups)
      ? { ok: true, detail: `instance ${t.instanceId} has its groups back: ${undo.previousGroups.join(", ")}` }
      : { ok: false, detail: `instance ${t.instanceId} has groups ${now.join(", ") || "none"}, want ${undo.previousGroups.join(", ")}` };
  },

  async effect(t, undo) {
    const e = takeCloudEvidence("sg-isolate", t, undo.evidence);
    return e ? isolationEffect(t, e, undo.previousGroups) : null;
  },

  describe: (t, u) => `ModifyInstanceAttribute ${t.instanceId}: groups ${u.previousGroups.join(", ")} → ${u.groupId ?? `${DENY_ALL_GROUP} (created in ${u.vpc})`}; restored on revert`,
};

register(sgIsolate);
