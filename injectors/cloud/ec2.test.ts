// The cloud faults through the real AWS SDK v3 over HTTP against a local
// endpoint speaking EC2's Query/XML protocol (e2e/ec2.ts): signed requests,
// pagination, instances that take a few polls to settle, DryRun,
// RequestLimitExceeded retried by the SDK, and API errors with their codes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { StopInstancesCommand } from "@aws-sdk/client-ec2";
import "../index";
import { Executor } from "../../agent/executor";
import { StepRunner } from "../../agent/step";
import { parseExperiment } from "../../lib/experiment";
import { getInjector } from "../registry";
import { resolveInstances, seededRandom, type InstanceTarget } from "../targets/resolve";
import { dryRun } from "./ec2";
import { DENY_ALL_GROUP } from "./sg-isolate";
import { startFakeEc2, type FakeEc2, type FakeInstance } from "../../e2e/ec2";
import { tempDir } from "../../e2e/kit";
import type { Effect } from "../types";

process.env.AWS_ACCESS_KEY_ID = "AKIDGAMEDAYTEST";
process.env.AWS_SECRET_ACCESS_KEY = "gameday-test-secret";
process.env.AWS_EC2_METADATA_DISABLED = "true";
// the evidence files (injectors/evidence.ts) go to a home of this test's own
process.env.GAMEDAY_HOME = tempDir("gameday-ec2-home-");

const REGION = "eu-west-1";
const fleet = (): FakeInstance[] => [
  ...["a1", "a2", "a3", "a4"].map((n, k) => ({ id: `i-0000000000000a${k}0`, az: "eu-west-1a", state: "running" as const, tags: { "gameday:allow": "true", Name: `web-${n}`, app: "web", "aws:autoscaling:groupName": "web-asg" }, groups: ["sg-web1", "sg-ssh1"], vpc: "vpc-1" })),
  ...["b1", "b2"].map((n, k) => ({ id: `i-0000000000000b${k}0`, az: "eu-west-1b", state: "running" as const, tags: { "gameday:allow": "true", Name: `web-${n}`, app: "web", "aws:autoscaling:groupName": "web-asg" }, groups: ["sg-web1"], vpc: "vpc-1" })),
  { id: "i-00000000000000c0", az: "eu-west-1b", state: "running", tags: { "gameday:allow": "true", Name: "db", app: "db" }, groups: ["sg-db1"], vpc: "vpc-1" },
  { id: "i-00000000000000d0", az: "eu-west-1a", state: "stopped", tags: { "gameday:allow": "true", Name: "old", app: "web" }, groups: ["sg-web1"], vpc: "vpc-1" },
];

describe("cloud faults against an EC2 Query endpoint", { timeout: 120_000 }, () => {
  let api: FakeEc2;
  let ex: Executor;
  before(async () => {
    api = await startFakeEc2(fleet(), { pageSize: 2, settlePolls: 2 });
    ex = new Executor({ command: "ec2-test", dir: path.join(tempDir("gameday-ec2-journal-"), "journal"), reaper: false, revertDeadlineMs: 8000 });
    await ex.start();
  });
  after(async () => {
    await ex?.revertAll();
    await ex?.close();
    await api?.close();
  });

  const sel = (s: Record<string, unknown>) => ({ region: REGION, endpoint: api.endpoint, ...s });
  const ids = async (s: Record<string, unknown>) => (await resolveInstances(sel(s))).matched.map((t) => (t as InstanceTarget).instanceId);
  const apply = (fault: string, t: InstanceTarget, params: unknown = {}) =>
    ex.apply({ runId: "c1", step: 0, targetName: "t", fault, target: t, params: getInjector(fault)!.params.parse(params) }, new AbortController().signal);
  const one = async (id: string) => (await resolveInstances(sel({ ids: [id] }))).matched[0] as InstanceTarget;
  /** The executor's evidence of effect per change, read after each verified revert. */
  const effects = new Map<string, Effect | undefined>();
  before(() => void ex.on((e) => e.type === "reverted" && effects.set(e.change.id, e.change.effect)));

  test("selection by tags, Auto Scaling group, AZ and IDs: running instances only, across pages, every request signed", async () => {
    const before = api.calls.length;
    assert.deepEqual(await ids({ tags: { app: "web" } }), ["i-0000000000000a00", "i-0000000000000a10", "i-0000000000000a20", "i-0000000000000a30", "i-0000000000000b00", "i-0000000000000b10"]);
    const pages = api.calls.slice(before).filter((c) => c.action === "DescribeInstances").length;
    assert.equal(pages, 3, "six instances in pages of two");
    assert.deepEqual(await ids({ asg: "web-asg", az: "eu-west-1b" }), ["i-0000000000000b00", "i-0000000000000b10"]);
    assert.deepEqual(await ids({ ids: ["i-00000000000000c0", "i-00000000000000d0"] }), ["i-00000000000000c0"], "the stopped one is not a target");
    assert.ok(api.calls.every((c) => c.signed), "SigV4 on every call");
    const t = await one("i-0000000000000a00");
    assert.deepEqual(t, { kind: "instance", region: REGION, endpoint: api.endpoint, instanceId: "i-0000000000000a00", az: "eu-west-1a", account: "123456789012", name: "web-a1" });
  });

  test("selection modes like FIS: ALL, COUNT(n), PERCENT(n) and one, seeded (dry-run rounds of the StepRunner)", async () => {
    const chosen = async (mode: "all" | "one" | "count" | "percent", value?: number, seed = 5) => {
      const hits: string[][] = [];
      await new StepRunner(
        { index: 0, fault: "ec2-stop", params: {}, targetName: "web", target: { instance: sel({ tags: { app: "web" } }) as never, mode, value }, duration: 50, probability: 1 },
        { executor: null, dryRun: true, runId: "modes", topology: null, protectedPids: () => new Set(), rnd: seededRandom(seed), signal: new AbortController().signal, onEvent: (e) => e.type === "would-apply" && hits.push(e.targets.map((t) => (t as InstanceTarget).instanceId)) },
      ).run();
      return hits[0];
    };
    assert.equal((await chosen("all")).length, 6);
    assert.equal((await chosen("one")).length, 1);
    const two = await chosen("count", 2);
    assert.equal(new Set(two).size, 2);
    assert.deepEqual(await chosen("count", 2), two, "the same seed chooses the same instances");
    assert.equal((await chosen("percent", 50)).length, 3);
    assert.equal((await chosen("percent", 10)).length, 1, "at least one");
    assert.ok([...api.instances.values()].every((i) => i.state === (i.id === "i-00000000000000d0" ? "stopped" : "running")), "a dry run changes nothing");
  });

  test("API errors carry their code: an unknown instance ID, a denied call", async () => {
    await assert.rejects(resolveInstances(sel({ ids: ["i-0000000000000dead"] })), /InvalidInstanceID\.NotFound: The instance ID 'i-0000000000000dead' does not exist/);
    api.deny.add("StopInstances");
    try {
      await assert.rejects(apply("ec2-stop", await one("i-0000000000000a00")), /StopInstances i-0000000000000a00: UnauthorizedOperation: You are not authorized/);
      assert.equal(api.instances.get("i-0000000000000a00")!.state, "running");
    } finally {
      api.deny.delete("StopInstances");
    }
  });

  test("RequestLimitExceeded is retried with backoff by the SDK; past its attempts the error says so", async () => {
    api.throttle(3);
    const n = api.calls.length;
    assert.equal((await ids({ az: "eu-west-1b", tags: { app: "db" } })).length, 1);
    assert.equal(api.calls.length - n, 4, "three throttled attempts, then the answer");
    api.throttle(20);
    await assert.rejects(resolveInstances(sel({ tags: { app: "db" } })), /RequestLimitExceeded: Request limit exceeded\. after 6 attempts/);
    api.throttle(0);
  });

  test("ec2-stop waits for stopped (a few polls), and the revert starts it and waits for running", async () => {
    const t = await one("i-0000000000000a00");
    const c = await apply("ec2-stop", t);
    assert.equal(api.instances.get(t.instanceId)!.state, "stopped");
    const v = await ex.revert(c.id);
    assert.ok(v.ok, v.detail);
    assert.equal(v.detail, "instance i-0000000000000a00 is running again");
    assert.equal(api.instances.get(t.instanceId)!.state, "running");
    // the evidence: EC2 said stopped just before the revert started it
    assert.deepEqual(effects.get(c.id), { touched: 1, summary: "instance i-0000000000000a00 was stopped when the revert came (from running)", counters: { state: "stopped" } });

    // started by someone else meanwhile: the stop did not hold, the fault touched nothing by the time of the revert
    const again = await apply("ec2-stop", t);
    api.instances.get(t.instanceId)!.state = "running";
    assert.ok((await ex.revert(again.id)).ok);
    assert.equal(effects.get(again.id)?.touched, 0);
    assert.equal(effects.get(again.id)?.summary, "instance i-0000000000000a00 was running when the revert came: the stop did not take");
  });

  test("dry run uses EC2's DryRun flag: would succeed, or the refusal; nothing changes", async () => {
    const t = await one("i-0000000000000a10");
    const stop = (c: import("@aws-sdk/client-ec2").EC2Client) => c.send(new StopInstancesCommand({ InstanceIds: [t.instanceId], DryRun: true }));
    assert.deepEqual(await dryRun(t, stop), { ok: true, detail: "EC2 DryRun: the request would have succeeded" });
    api.deny.add("StopInstances");
    const no = await dryRun(t, stop);
    api.deny.delete("StopInstances");
    assert.equal(no.ok, false);
    assert.match(no.detail, /^UnauthorizedOperation/);
    assert.ok(api.calls.some((c) => c.action === "StopInstances" && c.dryRun));
    assert.equal(api.instances.get(t.instanceId)!.state, "running");
  });

  test("sg-isolate swaps the groups for a deny-all group and restores exactly the previous ones; the group is reused", async () => {
    const t = await one("i-0000000000000a20");
    const c = await apply("sg-isolate", t);
    const g = [...api.groups.values()].find((x) => x.name === DENY_ALL_GROUP)!;
    assert.ok(g, "the deny-all group was created");
    assert.equal(g.egressRevoked, true, "its default egress rule is gone");
    assert.deepEqual(api.instances.get(t.instanceId)!.groups, [g.id]);
    const v = await ex.revert(c.id);
    assert.ok(v.ok, v.detail);
    assert.deepEqual(api.instances.get(t.instanceId)!.groups, ["sg-web1", "sg-ssh1"]);
    assert.equal(effects.get(c.id)?.touched, 1);
    assert.equal(effects.get(c.id)?.summary, `instance ${t.instanceId} had only the deny-all group ${g.id} until the revert (was sg-web1, sg-ssh1)`);
    const again = await apply("sg-isolate", t);
    assert.equal((again.undo as { groupId?: string }).groupId, g.id);
    assert.equal([...api.groups.values()].filter((x) => x.name === DENY_ALL_GROUP).length, 1);
    await ex.revert(again.id);
  });

  test("az-outage: every selected instance of one zone, through the StepRunner, with maxDown sparing the rest; reverted by start", async () => {
    const events: string[] = [];
    const runner = new StepRunner(
      { index: 0, fault: "az-outage", params: getInjector("az-outage")!.params.parse({ az: "eu-west-1a" }), targetName: "zone-a", target: { instance: sel({ az: "eu-west-1a", tags: { app: "web" } }) as never, mode: "all" }, duration: 300, probability: 1, maxDown: { count: 3 } },
      { executor: ex, runId: "az", topology: null, protectedPids: () => new Set(), rnd: seededRandom(1), signal: new AbortController().signal, onEvent: (e) => events.push(e.type) },
    );
    const states: string[][] = [];
    effects.clear();
    const p = runner.run();
    const poll = setInterval(() => states.push([...api.instances.values()].filter((i) => i.az === "eu-west-1a" && i.tags.app === "web").map((i) => i.state)), 50);
    const stats = await p;
    clearInterval(poll);
    assert.equal(stats.applied, 3);
    const zone = [...effects.values()].filter((e) => /^instance i-0000000000000a\d0 was stopped when the revert came \(from running\)$/.test(e?.summary ?? ""));
    assert.ok(zone.length === 3 && effects.size === 3 && zone.every((e) => e!.touched === 1), JSON.stringify([...effects.values()]));
    assert.equal(stats.refused, 1, "maxDown 3 of 4 spares one");
    assert.ok(states.some((s) => s.filter((x) => x === "stopped").length === 3), JSON.stringify(states.slice(-3)));
    assert.ok([...api.instances.values()].filter((i) => i.az === "eu-west-1b").every((i) => i.state === "running"), "zone b untouched");
    assert.deepEqual([...api.instances.values()].filter((i) => i.id !== "i-00000000000000d0").map((i) => i.state), Array(7).fill("running"), "all started again");
    await assert.rejects(apply("az-outage", await one("i-0000000000000b00"), { az: "eu-west-1a" }), /is in eu-west-1b, not in eu-west-1a: az-outage stays in its zone/);
  });

  test("ec2-terminate needs irreversible: true, terminates, and its revert says it cannot be undone", async () => {
    assert.throws(() => getInjector("ec2-terminate")!.params.parse({}), /terminating cannot be undone: set irreversible: true to confirm/);
    assert.throws(() => getInjector("az-outage")!.params.parse({ az: "eu-west-1a", action: "terminate" }), /set irreversible: true/);
    const t = await one("i-0000000000000b10");
    const c = await apply("ec2-terminate", t, { irreversible: true });
    const v = await ex.revert(c.id);
    assert.ok(v.ok);
    assert.match(v.detail, /^IRREVERSIBLE: a termination cannot be undone; instance i-0000000000000b10 is (shutting-down|terminated)/);
    assert.notEqual(api.instances.get(t.instanceId)!.state, "running");
    assert.equal(effects.get(c.id)?.touched, 1);
    assert.match(effects.get(c.id)!.summary, /^instance i-0000000000000b10 is (shutting-down|terminated) \(from running\)$/);
  });

  test("gameday cloud-terminator: lists and refuses without --yes, asks EC2 with --dry-run, stops and starts with --yes; terminate needs --irreversible", async () => {
    const { runCli } = await import("../../e2e/kit");
    const env = { GAMEDAY_HOME: tempDir("gameday-ec2-home-"), AWS_REGION: REGION, GAMEDAY_EC2_ENDPOINT: api.endpoint };
    const args = ["cloud-terminator", "stop", "--tag", "app=db"];
    const refused = await runCli(args, env);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /ec2-stop on 1 of 1 .*\n.*instance i-00000000000000c0 \(db\) in eu-west-1b/);
    assert.match(refused.stderr, /not confirmed: rerun with --yes to stop the 1 instance\(s\) listed above/);
    const dry = await runCli([...args, "--dry-run"], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /DryRun ok: instance i-00000000000000c0 \(db\) in eu-west-1b: EC2 DryRun: the request would have succeeded/);
    assert.equal(api.instances.get("i-00000000000000c0")!.state, "running");
    const from = api.calls.length;
    const run = await runCli([...args, "--yes", "--duration", "3s"], env);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const acts = api.calls.slice(from).filter((c) => !c.dryRun && c.action !== "DescribeInstances").map((c) => `${c.action} ${c.params["InstanceId.1"]}`);
    assert.deepEqual(acts, ["StopInstances i-00000000000000c0", "StartInstances i-00000000000000c0"], "stopped, then started: nothing else");
    assert.match(run.stdout, /Reverted ec2-stop on instance i-00000000000000c0 \(db\) in eu-west-1b: instance i-00000000000000c0 is running again; effect: instance i-00000000000000c0 was stopped when the revert came \(from running\)\n/);
    assert.equal(api.instances.get("i-00000000000000c0")!.state, "running");
    const term = await runCli(["cloud-terminator", "terminate", "--tag", "app=db", "--yes"], env);
    assert.equal(term.code, 1);
    assert.match(term.stderr, /--irreversible: terminating cannot be undone/);
  });

  test("cloud-terminator SIGKILLed while an instance is stopped: its reaper starts it again from the journal", async () => {
    const { spawn } = await import("node:child_process");
    const { EXIT_WITH_PARENT, ROOT, waitFor, waitForLine } = await import("../../e2e/kit");
    const id = "i-0000000000000a30";
    const cli = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "cloud-terminator", "stop", "--id", id, "--region", REGION, "--endpoint", api.endpoint, "--yes", "--duration", "2m"], {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_HOME: tempDir("gameday-ec2-home-"), GAMEDAY_LOG: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await waitForLine(cli, (l) => /Injected ec2-stop/.test(l), 60_000, "the stop");
    assert.equal(api.instances.get(id)!.state, "stopped");
    cli.kill("SIGKILL");
    await waitFor("the reaper to start it again", () => {
      // the fake settles transitions on DescribeInstances: poll like a client would
      void fetch(api.endpoint, { method: "POST", body: "Action=DescribeInstances&Version=2016-11-15" }).catch(() => undefined);
      return api.instances.get(id)!.state === "running";
    }, 20_000, 200);
    assert.ok(api.calls.some((c) => c.action === "StartInstances" && c.params["InstanceId.1"] === id));
  });

  test("an experiment selects instances; a wrong kind or missing confirmation names the field", () => {
    const doc = (step: string) => `apiVersion: gameday/v1
kind: Experiment
metadata: { name: gorilla }
spec:
  hypothesis: h
  targets:
    zone: { instance: { az: eu-west-1a, tags: { app: web }, region: eu-west-1 }, mode: all }
  steadyState: { probes: [{ name: p, type: http, url: "http://127.0.0.1:1/", tolerance: { min: 0.9 } }] }
  method:
    - ${step}
`;
    assert.ok(parseExperiment(doc("{ fault: az-outage, target: zone, duration: 1m, maxDown: 50%, params: { az: eu-west-1a } }")).ok);
    const r = parseExperiment(doc("{ fault: ec2-terminate, target: zone, duration: 1m }"));
    assert.ok(!r.ok);
    assert.deepEqual(r.issues.map((i) => `${i.path}: ${i.message}`), ["spec.method[0].params.irreversible: terminating cannot be undone: set irreversible: true to confirm"]);
    const k = parseExperiment(doc("{ fault: container-pause, target: zone, duration: 1m }"));
    assert.ok(!k.ok && /container-pause acts on a container target; "zone" selects a instance/.test(k.issues[0].message), JSON.stringify(!k.ok && k.issues));
  });
});
