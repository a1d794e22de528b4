// A local endpoint that speaks EC2's Query/XML wire protocol for the calls the
// cloud faults make, so tests run the real AWS SDK v3 over HTTP (signing,
// retries, pagination, error parsing included). A test fixture, not part of
// the product: instances are a map; a stop or start takes `settlePolls`
// DescribeInstances calls to finish (eventual consistency); a test can make
// the next N calls fail with RequestLimitExceeded, or deny an action.
// Subnets and network ACLs as EC2 has them: every subnet has exactly one
// association (to its VPC's default ACL unless replaced), a replace gives a
// new association ID, a new ACL denies everything and is not usable by
// ReplaceNetworkAclAssociation for `aclLag` calls (InvalidNetworkAclID.NotFound,
// as EC2's eventual consistency answers), an associated ACL cannot be deleted.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeInstance {
  id: string;
  az: string;
  state: "pending" | "running" | "stopping" | "stopped" | "shutting-down" | "terminated";
  tags: Record<string, string>;
  groups: string[];
  vpc: string;
  subnet?: string;
  /** the account (reservation OwnerId); default 123456789012 */
  owner?: string;
  /** DescribeInstances calls left before a transition settles */
  settle?: number;
}

export interface FakeSubnet {
  id: string;
  vpc: string;
  az: string;
  tags: Record<string, string>;
  owner?: string;
}

export interface FakeAcl {
  id: string;
  vpc: string;
  isDefault: boolean;
  tags: Record<string, string>;
  /** subnet → association ID */
  associations: Map<string, string>;
  /** ReplaceNetworkAclAssociation calls left that answer InvalidNetworkAclID.NotFound */
  lag?: number;
}

export interface FakeEc2 {
  endpoint: string;
  instances: Map<string, FakeInstance>;
  groups: Map<string, { id: string; name: string; vpc: string; egressRevoked: boolean }>;
  subnets: Map<string, FakeSubnet>;
  acls: Map<string, FakeAcl>;
  /** the ACL a subnet is associated with now */
  aclOf(subnet: string): FakeAcl | undefined;
  /** the subnet is deleted (its association goes with it) */
  removeSubnet(id: string): void;
  /** every request: its action and whether it carried a SigV4 Authorization header */
  calls: { action: string; signed: boolean; dryRun: boolean; params: Record<string, string> }[];
  /** the next n requests get 503 RequestLimitExceeded */
  throttle(n: number): void;
  /** actions answered with 403 UnauthorizedOperation */
  deny: Set<string>;
  close(): Promise<void>;
}

const CODES: Record<FakeInstance["state"], number> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48, stopping: 64, stopped: 80 };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const NS = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"';

function list(p: Record<string, string>, prefix: string): string[] {
  return Object.keys(p)
    .filter((k) => new RegExp(`^${prefix}\\.\\d+$`).test(k))
    .sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()))
    .map((k) => p[k]);
}

function filters(p: Record<string, string>): { name: string; values: string[] }[] {
  const out: { name: string; values: string[] }[] = [];
  for (let i = 1; p[`Filter.${i}.Name`]; i++) out.push({ name: p[`Filter.${i}.Name`], values: list(p, `Filter\\.${i}\\.Value`) });
  return out;
}

function tagMatch(tags: Record<string, string>, f: { name: string; values: string[] }): boolean {
  if (f.name.startsWith("tag:")) return f.values.includes(tags[f.name.slice(4)]);
  return true;
}

const tagsXml = (tags: Record<string, string>) => `<tagSet>${Object.entries(tags).map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`).join("")}</tagSet>`;

function aclXml(a: FakeAcl): string {
  const deny = (egress: boolean) => `<item><ruleNumber>32767</ruleNumber><protocol>-1</protocol><ruleAction>deny</ruleAction><egress>${egress}</egress><cidrBlock>0.0.0.0/0</cidrBlock></item>`;
  const assoc = [...a.associations].map(([s, id]) => `<item><networkAclAssociationId>${id}</networkAclAssociationId><networkAclId>${a.id}</networkAclId><subnetId>${s}</subnetId></item>`).join("");
  return `<networkAclId>${a.id}</networkAclId><vpcId>${a.vpc}</vpcId><default>${a.isDefault}</default><entrySet>${deny(false)}${deny(true)}</entrySet><associationSet>${assoc}</associationSet>${tagsXml(a.tags)}`;
}

function matches(i: FakeInstance, f: { name: string; values: string[] }): boolean {
  if (f.name === "instance-state-name") return f.values.includes(i.state);
  if (f.name === "availability-zone") return f.values.includes(i.az);
  if (f.name.startsWith("tag:")) return f.values.includes(i.tags[f.name.slice(4)]);
  if (f.name === "tag-key") return f.values.some((k) => k in i.tags);
  return true;
}

const stateXml = (tag: string, s: FakeInstance["state"]) => `<${tag}><code>${CODES[s]}</code><name>${s}</name></${tag}>`;

export async function startFakeEc2(
  seed: FakeInstance[] = [],
  o: { pageSize?: number; settlePolls?: number; subnets?: FakeSubnet[]; aclLag?: number; port?: number } = {},
): Promise<FakeEc2> {
  const instances = new Map(seed.map((i) => [i.id, { ...i }]));
  const subnets = new Map((o.subnets ?? []).map((s) => [s.id, { ...s }]));
  const acls = new Map<string, FakeAcl>();
  let nextId = 1;
  const newId = (prefix: string) => `${prefix}-gd${String(nextId++).padStart(8, "0")}`;
  for (const s of subnets.values()) {
    let d = [...acls.values()].find((a) => a.vpc === s.vpc && a.isDefault);
    if (!d) acls.set(`acl-default-${s.vpc}`, (d = { id: `acl-default-${s.vpc}`, vpc: s.vpc, isDefault: true, tags: {}, associations: new Map() }));
    d.associations.set(s.id, newId("aclassoc"));
  }
  const aclOf = (subnet: string) => [...acls.values()].find((a) => a.associations.has(subnet));
  const groups: FakeEc2["groups"] = new Map();
  const calls: FakeEc2["calls"] = [];
  const deny = new Set<string>();
  let throttled = 0;
  let nextSg = 1;
  const settlePolls = o.settlePolls ?? 2;
  const pageSize = o.pageSize ?? 2;

  const error = (res: http.ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { "content-type": "text/xml" });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>req-${calls.length}</RequestID></Response>`);
  };
  const ok = (res: http.ServerResponse, action: string, body: string) => {
    res.writeHead(200, { "content-type": "text/xml" });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><${action}Response ${NS}><requestId>req-${calls.length}</requestId>${body}</${action}Response>`);
  };
  const transition = (ids: string[], to: FakeInstance["state"], via: FakeInstance["state"]) =>
    ids
      .map((id) => {
        const i = instances.get(id)!;
        const prev = i.state;
        if (prev !== to) Object.assign(i, { state: via, settle: settlePolls, target: to });
        return `<item><instanceId>${id}</instanceId>${stateXml("currentState", i.state)}${stateXml("previousState", prev)}</item>`;
      })
      .join("");
  const settle = () => {
    for (const i of instances.values() as Iterable<FakeInstance & { target?: FakeInstance["state"] }>)
      if (i.settle !== undefined && --i.settle <= 0) {
        i.state = i.target!;
        delete i.settle;
        delete i.target;
      }
  };

  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const p = Object.fromEntries(new URLSearchParams(body));
      const action = p.Action ?? "";
      const dryRun = p.DryRun === "true";
      calls.push({ action, signed: /^AWS4-HMAC-SHA256 Credential=/.test(req.headers.authorization ?? ""), dryRun, params: p });
      if (throttled > 0) {
        throttled--;
        return error(res, 503, "RequestLimitExceeded", "Request limit exceeded.");
      }
      if (deny.has(action)) return error(res, 403, "UnauthorizedOperation", `You are not authorized to perform this operation (${action}).`);
      const ids = list(p, "InstanceId");
      const unknown = ids.filter((id) => !instances.has(id));
      if (unknown.length) return error(res, 400, "InvalidInstanceID.NotFound", `The instance ID '${unknown.join(", ")}' does not exist`);
      if (dryRun) return error(res, 412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
      switch (action) {
        case "DescribeInstances": {
          settle();
          const fs = filters(p);
          const all = [...instances.values()].filter((i) => (!ids.length || ids.includes(i.id)) && fs.every((f) => matches(i, f)));
          const start = Number(p.NextToken ?? 0);
          const page = all.slice(start, start + pageSize);
          const next = start + pageSize < all.length ? `<nextToken>${start + pageSize}</nextToken>` : "";
          const items = page
            .map(
              (i) =>
                `<item><reservationId>r-${i.id}</reservationId><ownerId>${i.owner ?? "123456789012"}</ownerId><instancesSet><item><instanceId>${i.id}</instanceId>${stateXml("instanceState", i.state)}<placement><availabilityZone>${i.az}</availabilityZone></placement><vpcId>${i.vpc}</vpcId>${i.subnet ? `<subnetId>${i.subnet}</subnetId>` : ""}<groupSet>${i.groups.map((g) => `<item><groupId>${g}</groupId></item>`).join("")}</groupSet>${tagsXml(i.tags)}</item></instancesSet></item>`,
            )
            .join("");
          return ok(res, action, `<reservationSet>${items}</reservationSet>${next}`);
        }
        case "StopInstances":
          return ok(res, action, `<instancesSet>${transition(ids, "stopped", "stopping")}</instancesSet>`);
        case "StartInstances":
          return ok(res, action, `<instancesSet>${transition(ids, "running", "pending")}</instancesSet>`);
        case "TerminateInstances":
          return ok(res, action, `<instancesSet>${transition(ids, "terminated", "shutting-down")}</instancesSet>`);
        case "ModifyInstanceAttribute": {
          const i = instances.get(p.InstanceId);
          if (!i) return error(res, 400, "InvalidInstanceID.NotFound", `The instance ID '${p.InstanceId}' does not exist`);
          const gs = list(p, "GroupId");
          const missing = gs.filter((g) => !groups.has(g) && ![...instances.values()].some((x) => x.groups.includes(g)));
          if (missing.length) return error(res, 400, "InvalidGroup.NotFound", `The security group '${missing[0]}' does not exist`);
          i.groups = gs;
          return ok(res, action, "<return>true</return>");
        }
        case "DescribeSecurityGroups": {
          const fs = filters(p);
          const name = fs.find((f) => f.name === "group-name")?.values;
          const vpc = fs.find((f) => f.name === "vpc-id")?.values;
          const gs = [...groups.values()].filter((g) => (!name || name.includes(g.name)) && (!vpc || vpc.includes(g.vpc)));
          return ok(res, action, `<securityGroupInfo>${gs.map((g) => `<item><groupId>${g.id}</groupId><groupName>${esc(g.name)}</groupName><vpcId>${g.vpc}</vpcId><ipPermissions/><ipPermissionsEgress/></item>`).join("")}</securityGroupInfo>`);
        }
        case "CreateSecurityGroup": {
          const id = `sg-gd${String(nextSg++).padStart(4, "0")}`;
          groups.set(id, { id, name: p.GroupName, vpc: p.VpcId, egressRevoked: false });
          return ok(res, action, `<return>true</return><groupId>${id}</groupId>`);
        }
        case "RevokeSecurityGroupEgress": {
          const g = groups.get(p.GroupId);
          if (!g) return error(res, 400, "InvalidGroup.NotFound", `The security group '${p.GroupId}' does not exist`);
          g.egressRevoked = true;
          return ok(res, action, "<return>true</return>");
        }
        case "DescribeSubnets": {
          const want = list(p, "SubnetId");
          const gone = want.filter((id) => !subnets.has(id));
          if (gone.length) return error(res, 400, "InvalidSubnetID.NotFound", `The subnet ID '${gone[0]}' does not exist`);
          const fs = filters(p);
          const ss = [...subnets.values()].filter(
            (s) =>
              (!want.length || want.includes(s.id)) &&
              fs.every((f) => (f.name === "availability-zone" ? f.values.includes(s.az) : f.name === "vpc-id" ? f.values.includes(s.vpc) : f.name === "subnet-id" ? f.values.includes(s.id) : tagMatch(s.tags, f))),
          );
          const items = ss.map((s) => `<item><subnetId>${s.id}</subnetId><state>available</state><vpcId>${s.vpc}</vpcId><availabilityZone>${s.az}</availabilityZone><ownerId>${s.owner ?? "123456789012"}</ownerId>${tagsXml(s.tags)}</item>`).join("");
          return ok(res, action, `<subnetSet>${items}</subnetSet>`);
        }
        case "DescribeNetworkAcls": {
          const want = list(p, "NetworkAclId");
          const gone = want.filter((id) => !acls.has(id));
          if (gone.length) return error(res, 400, "InvalidNetworkAclID.NotFound", `The networkAcl ID '${gone[0]}' does not exist`);
          const fs = filters(p);
          const as = [...acls.values()].filter(
            (a) =>
              (!want.length || want.includes(a.id)) &&
              fs.every((f) =>
                f.name === "association.subnet-id"
                  ? f.values.some((s) => a.associations.has(s))
                  : f.name === "vpc-id"
                    ? f.values.includes(a.vpc)
                    : f.name === "network-acl-id"
                      ? f.values.includes(a.id)
                      : f.name === "default"
                        ? f.values.includes(String(a.isDefault))
                        : tagMatch(a.tags, f),
              ),
          );
          return ok(res, action, `<networkAclSet>${as.map((a) => `<item>${aclXml(a)}</item>`).join("")}</networkAclSet>`);
        }
        case "CreateNetworkAcl": {
          if (![...subnets.values()].some((s) => s.vpc === p.VpcId) && ![...acls.values()].some((a) => a.vpc === p.VpcId)) return error(res, 400, "InvalidVpcID.NotFound", `The vpc ID '${p.VpcId}' does not exist`);
          const tags: Record<string, string> = {};
          for (let i = 1; p[`TagSpecification.1.Tag.${i}.Key`]; i++) tags[p[`TagSpecification.1.Tag.${i}.Key`]] = p[`TagSpecification.1.Tag.${i}.Value`] ?? "";
          const a: FakeAcl = { id: newId("acl"), vpc: p.VpcId, isDefault: false, tags, associations: new Map(), lag: o.aclLag ?? 0 };
          acls.set(a.id, a);
          return ok(res, action, `<networkAcl>${aclXml(a)}</networkAcl>`);
        }
        case "ReplaceNetworkAclAssociation": {
          const a = acls.get(p.NetworkAclId);
          if (!a || (a.lag ?? 0) > 0) {
            if (a) a.lag!--;
            return error(res, 400, "InvalidNetworkAclID.NotFound", `The networkAcl ID '${p.NetworkAclId}' does not exist`);
          }
          const from = [...acls.values()].find((x) => [...x.associations.values()].includes(p.AssociationId));
          if (!from) return error(res, 400, "InvalidAssociationID.NotFound", `The association ID '${p.AssociationId}' does not exist`);
          const subnet = [...from.associations].find(([, id]) => id === p.AssociationId)![0];
          if (a.vpc !== from.vpc) return error(res, 400, "InvalidParameterValue", `Network ACL ${a.id} and subnet ${subnet} belong to different networks`);
          from.associations.delete(subnet);
          const id = newId("aclassoc");
          a.associations.set(subnet, id);
          return ok(res, action, `<newAssociationId>${id}</newAssociationId>`);
        }
        case "DeleteNetworkAcl": {
          const a = acls.get(p.NetworkAclId);
          if (!a) return error(res, 400, "InvalidNetworkAclID.NotFound", `The networkAcl ID '${p.NetworkAclId}' does not exist`);
          if (a.isDefault) return error(res, 400, "InvalidParameterValue", `cannot delete default network ACL ${a.id}`);
          if (a.associations.size) return error(res, 400, "DependencyViolation", `The networkAcl '${a.id}' has dependencies and cannot be deleted.`);
          acls.delete(a.id);
          return ok(res, action, "<return>true</return>");
        }
        default:
          return error(res, 400, "InvalidAction", `The action ${action} is not valid for this web service.`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(o.port ?? 0, "127.0.0.1", r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    instances,
    groups,
    subnets,
    acls,
    aclOf,
    removeSubnet: (id) => {
      subnets.delete(id);
      aclOf(id)?.associations.delete(id);
    },
    calls,
    deny,
    throttle: (n) => (throttled = n),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
