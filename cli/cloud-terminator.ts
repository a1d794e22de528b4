// gameday cloud-terminator — the Cloud Terminator: stop, terminate or
// isolate EC2 instances chosen by IDs, tags, Auto Scaling group or zone, or
// take a whole zone down (Chaos Gorilla). Nothing happens before the
// confirmation: without --yes it lists what would be hit and stops;
// --dry-run asks EC2 itself (its DryRun flag) whether each call would be
// allowed. The changes run as one step through the executor (journaled
// first; stop reverted by start, isolate by the previous groups), for
// --duration; terminate is irreversible and says so.
import { parseArgs } from "node:util";
import { CreateNetworkAclCommand, ModifyInstanceAttributeCommand, StopInstancesCommand, TerminateInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { z } from "zod";
import { duration, formatDuration } from "../lib/duration";
import { instanceSelectorSchema, type InstanceSelector } from "../lib/experiment";
import { getInjector, targetLabel } from "../injectors";
import { resolveInstances, seededRandom, applyBlastRadius, type InstanceTarget } from "../injectors/targets/resolve";
import { describeOne, dryRun } from "../injectors/cloud/ec2";
import { zoneSubnets } from "../injectors/cloud/subnets";
import { StepRunner, type StepSpec } from "../agent/step";
import { CliError } from "./client";
import { BLAST_OPTIONS, blastFields, blastInput, blastIssues, blastOf, emitter, narrateChange, narrateStep } from "./fleet";
import { interruptible, openExecutor, parseParams, STANDALONE_OPTIONS } from "./standalone";

const USAGE = `gameday cloud-terminator ACTION — stop, terminate or isolate EC2 instances, or a whole zone

Actions: stop (reverted by start) | terminate (IRREVERSIBLE) | isolate (deny-all security
group; the previous groups come back) | az-outage (stop, or --action terminate, a zone)

Choose running instances (every given selector must match):
  --id ID (repeatable)  --tag K=V (repeatable)  --asg NAME  --az ZONE
  --region R            default: AWS_REGION / the profile's region
  --account ID          refuse unless every instance is in this AWS account
  --endpoint URL        an EC2-compatible endpoint (default AWS's own, or GAMEDAY_EC2_ENDPOINT)

How many: --mode one|count|percent|all (default one), --count N, --percent P, --max-down N|P%
  --seed N              replay the same choice

  --duration D          how long stopped or isolated instances stay so (default 5m)
  --force               stop: force (no clean shutdown)
  --group SG            isolate: the deny-all group to use (default gameday-deny-all, created)
  --action stop|terminate   az-outage (default stop)
  --isolate-subnets     az-outage: also put the zone's subnets on a deny-all network ACL
                        (their own ACLs come back on revert); --subnet-vpc VPC narrows them
  --irreversible        required for terminate
  --yes                 confirm: without it the instances that would be hit are listed, nothing more
  --dry-run             ask EC2 (DryRun) whether each call would be allowed; change nothing
  --json                one JSON event per line

Credentials come from the standard AWS chain (environment, profile, instance role).
Only instances (and subnets) with the opt-in tag GAMEDAY_AWS_REQUIRED_TAG (default
gameday:allow=true), in GAMEDAY_AWS_ALLOWED_ACCOUNTS / _REGIONS when set, are touched.
Example: gameday cloud-terminator az-outage --az eu-west-1a --tag app=web --mode all --max-down 50% --yes`;

const FAULT = { stop: "ec2-stop", terminate: "ec2-terminate", isolate: "sg-isolate", "az-outage": "az-outage" } as const;
type Action = keyof typeof FAULT;

const optionsSchema = z.object({ ...blastFields, duration: duration({ min: 100, max: 7 * 24 * 3_600_000 }).default(300_000) }).superRefine(blastIssues);

/** The call each action makes, with EC2's DryRun flag. */
function dryCall(action: Action, t: InstanceTarget, params: Record<string, unknown>, groups: string[]): (c: EC2Client) => Promise<unknown> {
  const InstanceIds = [t.instanceId];
  const terminate = action === "terminate" || (action === "az-outage" && params.action === "terminate");
  if (action === "isolate") return (c) => c.send(new ModifyInstanceAttributeCommand({ InstanceId: t.instanceId, Groups: params.groupId ? [String(params.groupId)] : groups, DryRun: true }));
  return (c) => c.send(terminate ? new TerminateInstancesCommand({ InstanceIds, DryRun: true }) : new StopInstancesCommand({ InstanceIds, DryRun: true }));
}

export async function main(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      id: { type: "string", multiple: true },
      tag: { type: "string", multiple: true },
      asg: { type: "string" },
      az: { type: "string" },
      region: { type: "string" },
      account: { type: "string" },
      endpoint: { type: "string" },
      ...BLAST_OPTIONS,
      force: { type: "boolean", default: false },
      group: { type: "string" },
      action: { type: "string" },
      irreversible: { type: "boolean", default: false },
      "isolate-subnets": { type: "boolean", default: false },
      "subnet-vpc": { type: "string" },
      yes: { type: "boolean", default: false },
      ...STANDALONE_OPTIONS,
    },
  });
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const action = positionals[0] as Action | undefined;
  if (!action || !(action in FAULT) || positionals.length > 1)
    throw new CliError(`give one action: ${Object.keys(FAULT).join(", ")} (got ${positionals.length ? positionals.join(" ") : "none"}; see gameday cloud-terminator --help)`);
  const injector = getInjector(FAULT[action])!;
  const raw: Record<Action, Record<string, unknown>> = {
    stop: { force: f.force || undefined },
    terminate: { irreversible: f.irreversible || undefined },
    isolate: { groupId: f.group },
    "az-outage": { az: f.az, action: f.action, irreversible: f.irreversible || undefined, isolateSubnets: f["isolate-subnets"] || undefined, subnetVpc: f["subnet-vpc"] },
  };
  const flagOf: Record<string, string> = { groupId: "--group", isolateSubnets: "--isolate-subnets", subnetVpc: "--subnet-vpc" };
  const flag = (k: string) => flagOf[k] ?? `--${k}`;
  const given: Record<string, unknown> = { force: f.force || undefined, irreversible: f.irreversible || undefined, groupId: f.group, action: f.action, isolateSubnets: f["isolate-subnets"] || undefined, subnetVpc: f["subnet-vpc"] };
  for (const [k, v] of Object.entries(given)) if (v !== undefined && !(k in raw[action])) throw new CliError(`${flag(k)} does not apply to ${action}`);
  const params = parseParams<Record<string, unknown>>(injector, Object.fromEntries(Object.entries(raw[action]).filter(([, v]) => v !== undefined)), flag);
  const parsed = optionsSchema.safeParse({ ...blastInput(f), duration: f.duration });
  if (!parsed.success) throw new CliError(`invalid options:\n  ${parsed.error.issues.map((i) => `--${String(i.path[0] ?? "")}: ${i.message}`).join("\n  ")}`);
  const o = parsed.data;
  const selector = selectorFromFlags(f);
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const emit = emitter(!!f.json);
  const { mode, value, maxDown } = blastOf(o);

  let first;
  try {
    first = await resolveInstances(selector);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (!first.matched.length) throw new CliError(`no running instance matches ${first.selector}`);
  const chosen = applyBlastRadius(first.matched, mode, value, seededRandom(seed)) as InstanceTarget[];
  const irreversible = action === "terminate" || params.action === "terminate";
  emit("plan", `Cloud Terminator: ${injector.name} on ${chosen.length} of ${first.matched.length} (${first.selector})${irreversible ? " — IRREVERSIBLE: terminated instances do not come back" : `, for ${formatDuration(o.duration)}`}${maxDown ? `, max down ${"count" in maxDown ? maxDown.count : `${maxDown.percent}%`}` : ""}, seed ${seed}`, { fault: injector.name, irreversible, seed });
  for (const t of chosen) emit("would-hit", `  ${targetLabel(t)}`, { instance: t.instanceId, az: t.az });
  const subnets = params.isolateSubnets ? await subnetsToCut(chosen[0], String(params.az), params.subnetVpc as string | undefined) : [];
  for (const s of subnets) emit("would-isolate", `  subnet ${s.subnetId} (${s.vpcId}) in ${params.az}: network ACL ${s.acl?.NetworkAclId ?? "none"} → a deny-all ACL, restored on revert`, { subnet: s.subnetId, vpc: s.vpcId, acl: s.acl?.NetworkAclId });

  if (f["dry-run"]) {
    let refused = 0;
    for (const t of chosen) {
      const groups = ((await describeOne(t, t.instanceId))?.SecurityGroups ?? []).map((g) => g.GroupId!);
      const r = await dryRun(t, dryCall(action, t, params, groups));
      if (!r.ok) refused++;
      emit(r.ok ? "dry-run-ok" : "dry-run-refused", `${r.ok ? "DryRun ok" : "DryRun REFUSED"}: ${targetLabel(t)}: ${r.detail}`, { instance: t.instanceId });
    }
    for (const vpc of new Set(subnets.map((s) => s.vpcId))) {
      const r = await dryRun(chosen[0], (c) => c.send(new CreateNetworkAclCommand({ VpcId: vpc, DryRun: true })));
      if (!r.ok) refused++;
      emit(r.ok ? "dry-run-ok" : "dry-run-refused", `${r.ok ? "DryRun ok" : "DryRun REFUSED"}: CreateNetworkAcl in ${vpc}: ${r.detail}`, { vpc });
    }
    return refused ? 1 : 0;
  }
  if (!f.yes) throw new CliError(`not confirmed: rerun with --yes to ${action} the ${chosen.length} instance(s)${subnets.length ? ` and isolate the ${subnets.length} subnet(s)` : ""} listed above${irreversible ? " (IRREVERSIBLE)" : ""}, or --dry-run to ask EC2 first`);

  const executor = await openExecutor(`cloud-terminator ${action}`, (line) => emit("recovered", line));
  const runId = `cloud-terminator-${process.pid}`;
  // the confirmed instances, exactly: the step may not choose others
  const spec: StepSpec = { index: 0, fault: injector.name, params, targetName: first.selector, target: { instance: { ...selector, ids: chosen.map((t) => t.instanceId) }, mode: "all" }, duration: o.duration, probability: 1, maxDown };
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  const off = executor.on((e) => e.change.runId === runId && narrateChange(emit, e));
  const revertNow = () => void executor.revertRun(runId);
  signal.addEventListener("abort", revertNow, { once: true });
  let failed = 0;
  try {
    const stats = await new StepRunner(spec, { executor, runId, topology: null, protectedPids: () => new Set(), rnd: seededRandom(seed), signal, onEvent: (e) => narrateStep(emit, e, false) }).run();
    failed = stats.failed;
    emit("done", `Done: ${stats.applied} change(s), ${stats.refused} refused by --max-down, ${stats.failed} failed.`, { stats });
  } finally {
    signal.removeEventListener("abort", revertNow);
    release();
    await executor.revertRun(runId);
    off();
    await executor.close();
  }
  return failed ? 1 : 0;
}

/** The zone's subnets az-outage would isolate, for the confirmation; a subnet outside the cloud fence refuses here, before anything changes. */
async function subnetsToCut(t: InstanceTarget, az: string, vpc: string | undefined) {
  let found;
  try {
    found = await zoneSubnets(t, az, { vpc });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (!found.length) throw new CliError(`--isolate-subnets: no subnet in ${az}${vpc ? ` of ${vpc}` : ""}`);
  const outside = found.filter((s) => s.outside);
  if (outside.length) throw new CliError(`--isolate-subnets: ${outside.map((s) => `subnet ${s.subnetId} ${s.outside}`).join("; ")}`);
  return found;
}

type Flags = { id?: string[]; tag?: string[]; asg?: string; az?: string; region?: string; account?: string; endpoint?: string };

function selectorFromFlags(f: Flags): InstanceSelector {
  const tags: Record<string, string> = {};
  for (const l of f.tag ?? []) {
    const eq = l.indexOf("=");
    if (eq < 1) throw new CliError(`--tag: expected KEY=VALUE (got "${l}")`);
    tags[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const raw = { ids: f.id, tags: f.tag ? tags : undefined, asg: f.asg, az: f.az, region: f.region, account: f.account, endpoint: f.endpoint };
  const r = instanceSelectorSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!r.success) {
    const flag: Record<string, string> = { ids: "--id", tags: "--tag" };
    throw new CliError(r.error.issues.map((i) => (i.path[0] ? `${flag[String(i.path[0])] ?? `--${String(i.path[0])}`}: ${i.message}` : "choose instances: --id, --tag, --asg or --az")).join("\n"));
  }
  return r.data;
}

