// The cloud fence (allowed accounts and regions, the opt-in tag), az-outage's
// subnet isolation and the irreversible mark of the plan: the real AWS SDK v3
// over HTTP against the local EC2 Query endpoint (e2e/ec2.ts), which also
// speaks subnets and network ACLs, with their eventual consistency.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import "../index";
import { Executor } from "../../agent/executor";
import { planExperiment, planText } from "../../agent/plan";
import { StepRunner } from "../../agent/step";
import { parseExperiment } from "../../lib/experiment";
import { getInjector, isIrreversible } from "../registry";
import { resolveInstances, seededRandom, type InstanceTarget } from "../targets/resolve";
import { ISOLATION_TAG } from "./subnets";
import { startFakeEc2, type FakeEc2, type FakeInstance, type FakeSubnet } from "../../e2e/ec2";
import { apiCall, EXIT_WITH_PARENT, ROOT, runCli, startWorkerProcess, tempDir, tempHome, waitFor, waitForLine } from "../../e2e/kit";
import { API, type ValidationIssue } from "../../lib/contract";
import type { ExperimentPlan } from "../../agent/plan";
import type { Effect } from "../types";

process.env.AWS_ACCESS_KEY_ID = "AKIDGAMEDAYTEST";
process.env.AWS_SECRET_ACCESS_KEY = "gameday-test-secret";
process.env.AWS_EC2_METADATA_DISABLED = "true";
const FENCE_VARS = ["GAMEDAY_AWS_ALLOWED_ACCOUNTS", "GAMEDAY_AWS_ALLOWED_REGIONS", "GAMEDAY_AWS_REQUIRED_TAG"] as const;
for (const v of FENCE_VARS) delete process.env[v];

const REGION = "eu-west-1";
// below the ephemeral range (32768-): a busy host's outgoing connections cannot hold them
const PORT = 17410;
const WORKER_PORT = 17411;
const ALLOW = { "gameday:allow": "true" };
const inst = (id: string, az: string, subnet: string, tags: Record<string, string>, o: Partial<FakeInstance> = {}): FakeInstance => ({ id, az, subnet, state: "running", tags, groups: ["sg-web1"], vpc: "vpc-0001", ...o });
const fleet = (): FakeInstance[] => [
  inst("i-00000000000001a0", "eu-west-1a", "subnet-0a01", { ...ALLOW, Name: "shop-a1", app: "shop" }),
  inst("i-00000000000001a1", "eu-west-1a", "subnet-0a02", { ...ALLOW, Name: "shop-a2", app: "shop" }),
  inst("i-00000000000001b0", "eu-west-1b", "subnet-0b01", { ...ALLOW, Name: "shop-b1", app: "shop" }),
  inst("i-00000000000001c0", "eu-west-1c", "subnet-0c01", { ...ALLOW, Name: "shop-c1", app: "shop" }),
  inst("i-00000000000002b0", "eu-west-1b", "subnet-0b01", { Name: "legacy", app: "legacy" }),
  inst("i-00000000000003b0", "eu-west-1b", "subnet-0b01", { ...ALLOW, Name: "other", app: "other" }, { owner: "999999999999" }),
];
const subnets = (): FakeSubnet[] => [
  { id: "subnet-0a01", vpc: "vpc-0001", az: "eu-west-1a", tags: { ...ALLOW, tier: "app" } },
  { id: "subnet-0a02", vpc: "vpc-0001", az: "eu-west-1a", tags: { ...ALLOW, tier: "db" } },
  { id: "subnet-0a03", vpc: "vpc-0002", az: "eu-west-1a", tags: { ...ALLOW, tier: "app" } },
  { id: "subnet-0b01", vpc: "vpc-0001", az: "eu-west-1b", tags: { ...ALLOW } },
  // not opted in: a zone-c outage that would cut it off is refused
  { id: "subnet-0c01", vpc: "vpc-0001", az: "eu-west-1c", tags: {} },
];

describe("cloud fence, subnet isolation and irreversible plans against an EC2 Query endpoint", { timeout: 180_000 }, () => {
  let api: FakeEc2;
  let ex: Executor;
  before(async () => {
    api = await startFakeEc2(fleet(), { pageSize: 3, settlePolls: 2, subnets: subnets(), aclLag: 2, port: PORT });
    ex = new Executor({ command: "fence-test", dir: path.join(tempDir("gameday-fence-journal-"), "journal"), reaper: false, revertDeadlineMs: 8000 });
    await ex.start();
  });
  afterEach(() => {
    for (const v of FENCE_VARS) delete process.env[v];
  });
  after(async () => {
    await ex?.revertAll();
    await ex?.close();
    await api?.close();
  });
  const sel = (s: Record<string, unknown>) => ({ region: REGION, endpoint: api.endpoint, ...s });
  const one = async (id: string) => (await resolveInstances(sel({ ids: [id] }))).matched[0] as InstanceTarget;
  const apply = (fault: string, t: InstanceTarget, params: unknown = {}) =>
    ex.apply({ runId: "f1", step: 0, targetName: "t", fault, target: t, params: getInjector(fault)!.params.parse(params) }, new AbortController().signal);
  const changed = () => api.calls.filter((c) => !c.dryRun && !c.action.startsWith("Describe")).length;
  const aclTable = () => Object.fromEntries([...api.subnets.keys()].map((s) => [s, api.aclOf(s)?.id]));
  const experimentYaml = (target: string, step: string) => `apiVersion: gameday/v1
kind: Experiment
metadata: { name: fenced }
spec:
  hypothesis: h
  targets:
    zone: { instance: ${target}, mode: all }
  steadyState: { probes: [{ name: p, type: http, url: "http://127.0.0.1:1/", tolerance: { min: 0.9 } }] }
  method:
    - ${step}
`;
  const experiment = (target: string, step: string) => parseExperiment(experimentYaml(target, step));

  test("the opt-in tag: an instance without gameday:allow=true refuses the selection, the plan and the CLI, naming the variable; nothing changes", async () => {
    const before = changed();
    await assert.rejects(resolveInstances(sel({ az: "eu-west-1b" })), /1 of 3 matched instance\(s\) are outside the cloud fence: i-00000000000002b0 lacks the opt-in tag gameday:allow=true that GAMEDAY_AWS_REQUIRED_TAG requires \(tag them, or narrow the selector, e\.g\. tags: \{ "gameday:allow": "true" \}\)/);
    assert.equal((await resolveInstances(sel({ az: "eu-west-1b", tags: ALLOW }))).matched.length, 2, "narrowed to the opted-in ones");
    const r = experiment(`{ az: eu-west-1b, region: ${REGION}, endpoint: "${api.endpoint}" }`, "{ fault: ec2-stop, target: zone, duration: 1m }");
    assert.ok(r.ok);
    const plan = await planExperiment(r.experiment, null, new Set());
    assert.equal(plan.refusals.length, 1);
    assert.equal(plan.refusals[0].path, "spec.targets.zone");
    assert.match(plan.refusals[0].message, /i-00000000000002b0 lacks the opt-in tag gameday:allow=true that GAMEDAY_AWS_REQUIRED_TAG requires/);
    const cli = await runCli(["cloud-terminator", "stop", "--az", "eu-west-1b", "--mode", "all", "--yes", "--duration", "1s"], { GAMEDAY_HOME: tempDir("gameday-fence-home-"), AWS_REGION: REGION, GAMEDAY_EC2_ENDPOINT: api.endpoint });
    assert.equal(cli.code, 1, cli.stdout + cli.stderr);
    assert.match(cli.stderr, /gameday cloud-terminator: .*i-00000000000002b0 lacks the opt-in tag gameday:allow=true that GAMEDAY_AWS_REQUIRED_TAG requires/);
    // a target made by hand (not through the selector) is refused by the injector's plan, before the journal
    const legacy: InstanceTarget = { kind: "instance", region: REGION, endpoint: api.endpoint, instanceId: "i-00000000000002b0", az: "eu-west-1b" };
    await assert.rejects(apply("ec2-stop", legacy), /instance i-00000000000002b0 lacks the opt-in tag .*: ec2-stop leaves it alone/);
    assert.equal(changed(), before, "no call that changes anything");
    assert.equal(api.instances.get("i-00000000000002b0")!.state, "running");
  });

  test("a configured tag (KEY=VALUE or KEY alone), none only beside an account allow-list, and the selector's own account", async () => {
    process.env.GAMEDAY_AWS_REQUIRED_TAG = "app";
    assert.equal((await resolveInstances(sel({ az: "eu-west-1b" }))).matched.length, 3, "every instance has an app tag");
    process.env.GAMEDAY_AWS_REQUIRED_TAG = "app=shop";
    await assert.rejects(resolveInstances(sel({ az: "eu-west-1b" })), /2 of 3 .*lacks the opt-in tag app=shop that GAMEDAY_AWS_REQUIRED_TAG requires/);
    process.env.GAMEDAY_AWS_REQUIRED_TAG = "none";
    await assert.rejects(resolveInstances(sel({ az: "eu-west-1b" })), /GAMEDAY_AWS_REQUIRED_TAG=none lifts the opt-in tag only beside GAMEDAY_AWS_ALLOWED_ACCOUNTS/);
    process.env.GAMEDAY_AWS_ALLOWED_ACCOUNTS = "123456789012";
    await assert.rejects(resolveInstances(sel({ az: "eu-west-1b" })), /i-00000000000003b0 is in account 999999999999, not in GAMEDAY_AWS_ALLOWED_ACCOUNTS \(123456789012\)/);
    assert.deepEqual((await resolveInstances(sel({ az: "eu-west-1b", tags: { app: "legacy" } }))).matched.map((t) => (t as InstanceTarget).instanceId), ["i-00000000000002b0"], "untagged, in an allowed account");
    delete process.env.GAMEDAY_AWS_ALLOWED_ACCOUNTS;
    delete process.env.GAMEDAY_AWS_REQUIRED_TAG;
    // the experiment says which account it is meant for: credentials of another refuse it
    await assert.rejects(resolveInstances(sel({ az: "eu-west-1a", account: "999999999999" })), /instance az=eu-west-1a account=999999999999 .*: 2 of 2 matched instance\(s\) are outside the cloud fence: i-00000000000001a0 is in account 123456789012, not in the selector's account 999999999999/);
    const mine = (await resolveInstances(sel({ az: "eu-west-1a", account: "123456789012" }))).matched as InstanceTarget[];
    assert.deepEqual(mine.map((t) => t.account), ["123456789012", "123456789012"]);
    const cli = await runCli(["cloud-terminator", "stop", "--az", "eu-west-1a", "--account", "1234"], { GAMEDAY_HOME: tempDir("gameday-fence-home-"), AWS_REGION: REGION, GAMEDAY_EC2_ENDPOINT: api.endpoint });
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /--account: expected a 12-digit AWS account ID like 123456789012/);
    process.env.GAMEDAY_AWS_ALLOWED_ACCOUNTS = "12345";
    await assert.rejects(resolveInstances(sel({ az: "eu-west-1b" })), /GAMEDAY_AWS_ALLOWED_ACCOUNTS must be comma-separated 12-digit AWS account IDs/);
  });

  test("the allowed regions: another region is refused before any call to it", async () => {
    process.env.GAMEDAY_AWS_ALLOWED_REGIONS = "eu-central-1, us-east-1";
    const n = api.calls.length;
    await assert.rejects(resolveInstances(sel({ az: "eu-west-1a" })), /region eu-west-1 is not in GAMEDAY_AWS_ALLOWED_REGIONS \(eu-central-1, us-east-1\)/);
    await assert.rejects(apply("ec2-stop", { kind: "instance", region: REGION, endpoint: api.endpoint, instanceId: "i-00000000000001a0", az: "eu-west-1a" }), /region eu-west-1 is not in GAMEDAY_AWS_ALLOWED_REGIONS/);
    assert.equal(api.calls.length, n, "EC2 was not asked");
    process.env.GAMEDAY_AWS_ALLOWED_REGIONS = "eu-west-1";
    assert.equal((await resolveInstances(sel({ az: "eu-west-1a" }))).matched.length, 2);
    process.env.GAMEDAY_AWS_ALLOWED_REGIONS = "Ireland";
    await assert.rejects(resolveInstances(sel({ az: "eu-west-1a" })), /GAMEDAY_AWS_ALLOWED_REGIONS must be comma-separated AWS regions like eu-west-1/);
  });

  test("az-outage isolateSubnets: the zone's subnets (two VPCs) go onto deny-all ACLs, retried while EC2 does not know them yet; revert puts each back and deletes them", async () => {
    const original = aclTable();
    const held: Record<string, string | undefined>[] = [];
    const params = getInjector("az-outage")!.params.parse({ az: "eu-west-1a", isolateSubnets: true });
    const runner = new StepRunner(
      { index: 0, fault: "az-outage", params, targetName: "zone-a", target: { instance: sel({ az: "eu-west-1a", tags: { app: "shop" } }) as never, mode: "all" }, duration: 1500, probability: 1 },
      { executor: ex, runId: "iso", topology: null, protectedPids: () => new Set(), rnd: seededRandom(1), signal: new AbortController().signal, onEvent: (e) => e.type === "applied" && held.push(aclTable()) },
    );
    const replaced = () => api.calls.filter((c) => c.action === "ReplaceNetworkAclAssociation").length;
    const r0 = replaced();
    const effects: Effect[] = [];
    const off = ex.on((e) => e.type === "reverted" && e.change.runId === "iso" && e.change.effect !== undefined && effects.push(e.change.effect));
    const stats = await runner.run();
    off();
    assert.equal(stats.applied, 2);
    // the evidence: each instance stopped; the first change's three subnets were on a deny-all ACL when its revert came, the second had none of its own
    assert.deepEqual(effects.map((e) => e.summary.replace(/i-\w+/, "i-…")).sort(), [
      "instance i-… was stopped when the revert came (from running); 3 subnets of 3 on the deny-all network ACL when the revert came (subnet-0a01, subnet-0a02, subnet-0a03)",
      "instance i-… was stopped when the revert came (from running); its subnets belonged to another change of the step",
    ]);
    assert.deepEqual(effects.map((e) => e.touched).sort(), [1, 4]);
    const during = held[0];
    for (const s of ["subnet-0a01", "subnet-0a02", "subnet-0a03"]) assert.notEqual(during[s], original[s], `${s} moved`);
    assert.equal(during["subnet-0a01"], during["subnet-0a02"], "one deny-all ACL per VPC");
    assert.notEqual(during["subnet-0a01"], during["subnet-0a03"], "and one in the other VPC");
    assert.equal(during["subnet-0b01"], original["subnet-0b01"], "zone b untouched");
    const creates = api.calls.filter((c) => c.action === "CreateNetworkAcl");
    assert.equal(creates.length, 2);
    assert.ok(creates.every((c) => c.params["TagSpecification.1.ResourceType"] === "network-acl" && c.params["TagSpecification.1.Tag.1.Key"] === ISOLATION_TAG), "tagged for the change");
    // each new ACL answered InvalidNetworkAclID.NotFound twice: 3 subnets + 2 × 2 retries, then 3 restores
    assert.equal(replaced() - r0, 3 + 4 + 3);
    assert.deepEqual(aclTable(), original, "every subnet back on its own ACL");
    assert.ok(![...api.acls.values()].some((a) => ISOLATION_TAG in a.tags), "the deny-all ACLs are deleted");
    assert.ok([...api.instances.values()].every((i) => i.state === "running"), "instances started again");
  });

  test("a subnet deleted meanwhile is reported, not failed; a subnet outside the fence refuses the plan; the plan marks its subnets in describe()", async () => {
    const t = await one("i-00000000000001a0");
    const c = await apply("az-outage", t, { az: "eu-west-1a", isolateSubnets: true, subnetVpc: "vpc-0001" });
    assert.match(getInjector("az-outage")!.describe!(t, c.undo), /subnets subnet-0a01, subnet-0a02 on a deny-all network ACL, their own ACLs back on revert/);
    assert.equal(api.aclOf("subnet-0a03")!.id, "acl-default-vpc-0002", "subnetVpc leaves the other VPC alone");
    const shape = getInjector("az-outage")!.undoSchema!;
    assert.ok(shape.safeParse(c.undo).success, "what plan() journals fits its shape");
    const damaged = { ...(c.undo as object), isolation: { nonce: "*", subnets: [{ subnetId: "subnet-0a01", vpcId: "vpc-0001", aclId: "anything" }] } };
    assert.ok(!shape.safeParse(damaged).success, "a damaged entry is refused, never acted on");
    api.removeSubnet("subnet-0a02");
    const v = await ex.revert(c.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /subnets subnet-0a01 back on their network ACLs; subnet subnet-0a02 gone \(deleted meanwhile\): nothing to restore/);
    assert.equal(api.aclOf("subnet-0a01")!.id, "acl-default-vpc-0001");
    assert.ok(![...api.acls.values()].some((a) => ISOLATION_TAG in a.tags));
    const n = changed();
    await assert.rejects(apply("az-outage", await one("i-00000000000001c0"), { az: "eu-west-1c", isolateSubnets: true }), /isolateSubnets: subnet subnet-0c01 lacks the opt-in tag gameday:allow=true/);
    assert.equal(changed(), n, "refused before anything changed");
    assert.throws(() => getInjector("az-outage")!.params.parse({ az: "eu-west-1a", subnetVpc: "vpc-0001" }), /set isolateSubnets: true/);
  });

  test("gameday cloud-terminator az-outage --isolate-subnets: the confirmation names the subnets; --dry-run asks EC2 for CreateNetworkAcl; SIGKILLed, its reaper restores them", async () => {
    const env = { GAMEDAY_HOME: tempDir("gameday-fence-home-"), AWS_REGION: REGION, GAMEDAY_EC2_ENDPOINT: api.endpoint };
    const args = ["cloud-terminator", "az-outage", "--az", "eu-west-1a", "--tag", "app=shop", "--mode", "all", "--isolate-subnets"];
    const refused = await runCli(args, env);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /subnet subnet-0a03 \(vpc-0002\) in eu-west-1a: network ACL acl-default-vpc-0002 → a deny-all ACL, restored on revert/);
    // subnet-0a02 was deleted by the test before
    assert.match(refused.stderr, /rerun with --yes to az-outage the 2 instance\(s\) and isolate the 2 subnet\(s\) listed above/);
    const n = changed();
    const dry = await runCli([...args, "--dry-run"], env);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /DryRun ok: CreateNetworkAcl in vpc-0001: EC2 DryRun: the request would have succeeded/);
    assert.ok(api.calls.some((c) => c.action === "CreateNetworkAcl" && c.dryRun));
    assert.equal(changed(), n, "a dry run changes nothing");
    const original = aclTable();
    const cli = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), ...args, "--yes", "--duration", "2m"], { cwd: ROOT, env: { ...process.env, ...env, GAMEDAY_LOG: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
    await waitForLine(cli, (l) => /Injected az-outage/.test(l), 60_000, "the outage");
    assert.notEqual(api.aclOf("subnet-0a01")!.id, original["subnet-0a01"]);
    cli.kill("SIGKILL");
    await waitFor("the reaper to restore the subnets and delete the deny-all ACLs", () => JSON.stringify(aclTable()) === JSON.stringify(original) && ![...api.acls.values()].some((a) => ISOLATION_TAG in a.tags), 30_000, 200);
    await waitFor("the instances to run again", () => {
      void fetch(api.endpoint, { method: "POST", body: "Action=DescribeInstances&Version=2016-11-15" }).catch(() => undefined);
      return ["i-00000000000001a0", "i-00000000000001a1"].every((id) => api.instances.get(id)!.state === "running");
    }, 30_000, 200);
  });

  test("irreversible comes from the injector: the plan marks ec2-terminate and az-outage terminate, not stops; validate --plan prints it", async () => {
    assert.equal(isIrreversible("ec2-terminate", { irreversible: true }), true);
    assert.equal(isIrreversible("az-outage", { az: "eu-west-1a", action: "terminate", irreversible: true }), true);
    assert.equal(isIrreversible("az-outage", { az: "eu-west-1a" }), false);
    assert.equal(isIrreversible("ec2-stop", {}), false);
    const target = `{ az: eu-west-1b, tags: { app: shop }, region: ${REGION}, endpoint: "${api.endpoint}" }`;
    const r = experiment(target, "{ fault: ec2-terminate, target: zone, duration: 1m, params: { irreversible: true } }");
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
    const plan = await planExperiment(r.experiment, null, new Set());
    assert.deepEqual(plan.refusals, []);
    assert.equal(plan.steps[0].irreversible, true);
    assert.ok(planText(r.experiment, plan).includes("    IRREVERSIBLE: ec2-terminate cannot be undone: the 1 target(s) it hits are not put back on revert"));
    const stop = experiment(target, "{ fault: ec2-stop, target: zone, duration: 1m }");
    assert.ok(stop.ok);
    assert.equal((await planExperiment(stop.experiment, null, new Set())).steps[0].irreversible, undefined);
    const file = path.join(tempDir("gameday-fence-exp-"), "terminate.yaml");
    fs.writeFileSync(file, experimentYaml(target, "{ fault: ec2-terminate, target: zone, duration: 1m, params: { irreversible: true } }"));
    const out = await runCli(["validate", file, "--plan", "--json"], { GAMEDAY_HOME: tempDir("gameday-fence-home-") });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).plan.steps[0].irreversible, true);
    assert.equal(api.instances.get("i-00000000000001b0")!.state, "running", "planning terminates nothing");
  });

  test("the worker's POST /api/v1/experiments/validate: irreversible on the step, the fence's refusal naming the variable", async () => {
    const w = await startWorkerProcess(tempHome("gameday-fence-worker-"), { port: WORKER_PORT });
    try {
      const target = `{ az: eu-west-1b, tags: { app: shop }, region: ${REGION}, endpoint: "${api.endpoint}" }`;
      const term = await apiCall<{ plan: ExperimentPlan }>(w, "POST", API.validate, { yaml: experimentYaml(target, "{ fault: ec2-terminate, target: zone, duration: 1m, params: { irreversible: true } }") });
      assert.equal(term.status, 200, JSON.stringify(term.body));
      assert.equal(term.body.plan.steps[0].irreversible, true);
      assert.deepEqual(term.body.plan.steps[0].matched, ["instance i-00000000000001b0 (shop-b1) in eu-west-1b"]);
      const wide = `{ az: eu-west-1b, region: ${REGION}, endpoint: "${api.endpoint}" }`;
      const refused = await apiCall<{ plan: { refusals: ValidationIssue[] } }>(w, "POST", API.validate, { yaml: experimentYaml(wide, "{ fault: ec2-stop, target: zone, duration: 1m }") });
      assert.equal(refused.status, 200);
      assert.equal(refused.body.plan.refusals[0].path, "spec.targets.zone");
      assert.match(refused.body.plan.refusals[0].message, /i-00000000000002b0 lacks the opt-in tag gameday:allow=true that GAMEDAY_AWS_REQUIRED_TAG requires/);
      const launched = await apiCall<{ code: string; issues: ValidationIssue[] }>(w, "POST", API.runs, { yaml: experimentYaml(wide, "{ fault: ec2-stop, target: zone, duration: 1m }") });
      assert.ok(launched.status >= 400 && launched.status < 500, `${launched.status} ${JSON.stringify(launched.body)}`);
      assert.ok(launched.body.issues.some((i) => /GAMEDAY_AWS_REQUIRED_TAG/.test(i.message)), JSON.stringify(launched.body));
      assert.equal(api.instances.get("i-00000000000002b0")!.state, "running");
    } finally {
      await w.stop();
    }
  });
});
