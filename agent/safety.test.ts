// spec.safety against real processes: selectors that match most of the host
// are refused, the per-target and per-experiment limits and maxDown hold for
// every fault (process-kill STOP and cpu-limit here, through a real
// executor), a network fault aimed at the control plane is refused, and the
// plan (`gameday validate --plan`) lists exactly what would be hit.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import "../injectors";
import { getInjector } from "../injectors";
import { parseExperiment, type Experiment, type TargetSpec } from "../lib/experiment";
import { broadReason } from "../injectors/targets/broad";
import { procState, runCli, spawnVictims, tempDir } from "../e2e/kit";
import { seededRandom } from "../injectors/targets/resolve";
import { unavailableReason } from "../injectors/cgroup/hierarchy";
import { Executor } from "./executor";
import { planExperiment } from "./plan";
import { RunBudget, StepRunner, type StepEvent, type StepSpec } from "./step";

const esc = (re: string) => re.replace(/\\/g, "\\\\");

function experiment(targets: string, method: string, safety = ""): string {
  return `apiVersion: gameday/v1
kind: Experiment
metadata: { name: safety-test }
spec:
  hypothesis: the host survives
  targets:
${targets}
  steadyState:
    probes:
      - { name: up, type: http, url: "http://127.0.0.1:9/", tolerance: { min: 0.9 } }
  method:
${method}
${safety}`;
}

function parse(yaml: string): Experiment {
  const r = parseExperiment(yaml);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

const kill = (target: string) => `    - { fault: process-kill, target: ${target}, params: { signal: STOP }, duration: 1s }`;

describe("broad selectors", () => {
  for (const [what, selector, message] of [
    ["cmdline .", `{ process: { cmdline: "." } }`, /matches most of the host: cmdline \/\.\/ matches any command line/],
    ["user: 0", `{ process: { user: 0 } }`, /matches most of the host: user root alone selects every process root runs/],
    ["more than half of the host's processes", `{ process: { cmdline: "^(/|[a-z])" } }`, /matches most of the host: cmdline=~\/\^\(\/\|\[a-z\]\)\/ matches \d+ of the host's \d+ processes \(more than 50 %\)/],
    ["every address", `{ network: { dst: 0.0.0.0/0, protocol: all } }`, /matches most of the host: network.dst 0.0.0.0\/0 covers every address/],
    ["every address on a device", `{ network: { interface: lo, protocol: all } }`, /matches most of the host: network selects every address on lo/],
  ] as const) {
    test(`${what} is refused, naming the target; allowBroad with a reason lets it through`, async () => {
      const fault = selector.includes("network") ? `    - { fault: partition, target: t, params: { action: drop }, duration: 1s }` : kill("t");
      const plan = await planExperiment(parse(experiment(`    t: ${selector}`, fault)), null, new Set());
      const broad = plan.refusals.find((r) => r.path === "spec.targets.t");
      assert.ok(broad, JSON.stringify(plan.refusals));
      assert.match(broad.message, message);
      assert.match(broad.message, /set spec\.safety\.allowBroad: true with a reason/);
      const allowed = await planExperiment(parse(experiment(`    t: ${selector}`, fault, `  safety: { allowBroad: true, reason: "a test host with nothing on it", maxPerTarget: 100000, maxTotal: 100000 }`)), null, new Set());
      assert.equal(allowed.refusals.filter((r) => r.path === "spec.targets.t").length, 0, JSON.stringify(allowed.refusals));
    });
  }

  test("an address prefix is broad below /8 for IPv4 and below /16 for IPv6 (2000::/3 is every global address)", () => {
    const reason = (dst: string) => broadReason({ network: { dst, dstPort: 80, protocol: "tcp", direction: "egress" } } as TargetSpec, null);
    assert.match(reason("0.0.0.0/1") ?? "", /network\.dst 0\.0\.0\.0\/1 covers every address/);
    assert.equal(reason("10.0.0.0/8"), null);
    assert.match(reason("2000::/3") ?? "", /network\.dst 2000::\/3 covers every address/);
    assert.match(reason("::/0") ?? "", /covers every address/);
    assert.equal(reason("2001:db8::/32"), null);
    assert.equal(reason("::1"), null);
  });

  test("allowBroad without a reason is a schema error naming spec.safety.reason", async () => {
    const r = parseExperiment(experiment(`    t: { process: { user: 0 } }`, kill("t"), "  safety: { allowBroad: true }"));
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.issues.some((i) => i.path === "spec.safety.reason" && /allowBroad: true needs a reason/.test(i.message)), JSON.stringify(!r.ok && r.issues));
  });

  test("a narrow selector is not broad", async () => {
    const v = spawnVictims(1);
    try {
      const plan = await planExperiment(parse(experiment(`    t: { process: { cmdline: "${esc(v.regex)}" } }`, kill("t"))), null, new Set());
      assert.deepEqual(plan.refusals, []);
    } finally {
      void v.stop();
    }
  });
});

describe("the control plane", () => {
  test("a network fault on SSH (port 22) in the host's namespace is refused unless allowControlPlane", async () => {
    const exp = (safety = "") => experiment(`    ssh: { network: { dstPort: 22 } }`, `    - { fault: partition, target: ssh, params: { action: drop }, duration: 1s }`, safety);
    const plan = await planExperiment(parse(exp()), null, new Set());
    const r = plan.refusals.find((x) => x.path === "spec.targets.ssh.network");
    assert.ok(r, JSON.stringify(plan.refusals));
    assert.match(r.message, /port 22 is the control plane's/);
    assert.ok(plan.steps[0].spare?.includes(22), "the plan says which ports are left alone");
    const allowed = await planExperiment(parse(exp(`  safety: { allowControlPlane: true, reason: "cutting SSH on purpose, console at hand" }`)), null, new Set());
    assert.deepEqual(allowed.refusals, []);
    assert.equal(allowed.steps[0].spare, undefined);
  });

  test("a target in another namespace (netns) spares nothing: the control plane is not there", async () => {
    const plan = await planExperiment(parse(experiment(`    t: { network: { netns: gdt-none, dst: 10.0.0.2, dstPort: 22 } }`, `    - { fault: partition, target: t, params: { action: drop }, duration: 1s }`)), null, new Set());
    assert.deepEqual(plan.refusals, []);
    assert.equal(plan.steps[0].spare, undefined);
  });
});

describe("limits per target and per experiment", { timeout: 60_000 }, () => {
  const many = spawnVictims(12);
  after(() => many.stop());

  test("mode all over 12 instances is refused by the default maxPerTarget (10); the plan lists exactly the 12", async () => {
    const plan = await planExperiment(parse(experiment(`    many: { process: { cmdline: "${esc(many.regex)}" } }`, kill("many"))), null, new Set());
    assert.match(plan.refusals.map((r) => r.message).join("\n"), /process-kill on "many" would hit 12 of 12 instances at once \(blast radius all\); spec.safety allows 10 \(maxPerTarget 10/);
    assert.deepEqual(plan.steps[0].matched.sort(), many.children.map((c) => `sleep[${c.pid}]`).sort());
    const share = await planExperiment(parse(experiment(`    many: { process: { cmdline: "${esc(many.regex)}" }, mode: count, value: 8 }`, kill("many"), `  safety: { maxSharePerTarget: "50%" }`)), null, new Set());
    assert.match(share.refusals.map((r) => r.message).join("\n"), /would hit 8 of 12 .* spec.safety allows 6 .*maxSharePerTarget 50%/);
  });

  test("two overlapping steps of 6 each exceed maxTotal 10", async () => {
    const t = `    a: { process: { cmdline: "${esc(many.regex)}" }, mode: count, value: 6 }\n    b: { process: { cmdline: "${esc(many.regex)}" }, mode: count, value: 6 }`;
    const plan = await planExperiment(parse(experiment(t, `${kill("a")}\n${kill("b")}`, "  safety: { maxTotal: 10 }")), null, new Set());
    assert.ok(plan.refusals.some((r) => r.path === "spec.safety.maxTotal" && /12 changes in place at once/.test(r.message)), JSON.stringify(plan.refusals));
  });

  test("gameday validate --plan prints what would be hit and exits 1 when spec.safety refuses", async () => {
    const dir = tempDir("gameday-plan-");
    const ok = path.join(dir, "ok.yaml");
    fs.writeFileSync(ok, experiment(`    two: { process: { cmdline: "${esc(many.regex)}" }, mode: count, value: 2 }`, kill("two")));
    const r = await runCli(["validate", ok, "--plan"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /matched 12: /);
    for (const c of many.children) assert.ok(r.stdout.includes(`sleep[${c.pid}]`), `lists PID ${c.pid}`);
    assert.match(r.stdout, /hits 2 \(chosen at random from the 12 matched/);
    const bad = path.join(dir, "bad.yaml");
    fs.writeFileSync(bad, experiment(`    all: { process: { cmdline: "." } }`, kill("all")));
    const b = await runCli(["validate", bad, "--plan"]);
    assert.equal(b.code, 1);
    assert.match(b.stdout, /spec\.targets\.all: matches most of the host/);
    const j = await runCli(["validate", bad, "--plan", "--json"]);
    assert.equal((JSON.parse(j.stdout) as { ok: boolean }).ok, false);
  });
});

describe("the valve in the rounds, for every fault", { timeout: 60_000 }, () => {
  const run = async (spec: Partial<StepSpec> & Pick<StepSpec, "fault" | "params" | "target">, budget?: RunBudget, ex?: Executor) => {
    const executor = ex ?? new Executor({ command: "safety-test", dir: path.join(tempDir("gameday-safety-"), "journal"), reaper: false });
    const events: StepEvent[] = [];
    const stop = new AbortController();
    const runner = new StepRunner(
      { index: 0, targetName: "v", duration: 400, probability: 1, ...spec },
      { executor, runId: "safety", topology: null, protectedPids: () => new Set(), rnd: seededRandom(7), signal: stop.signal, onEvent: (e) => events.push(e), budget },
    );
    return { runner, events, executor };
  };

  test("spec.safety.maxPerTarget caps a round of process-kill STOP: 2 of 4 frozen, 2 refused naming the limit", async () => {
    const v = spawnVictims(4);
    try {
      const { runner, events, executor } = await run({ fault: "process-kill", params: { signal: "STOP" }, target: { process: { cmdline: v.regex }, mode: "all" }, limits: { count: 2, percent: 100 }, duration: 1500 });
      const done = runner.run();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(v.children.filter((c) => procState(c.pid!) === "T").length, 2, "exactly two frozen");
      await done;
      const refused = events.filter((e) => e.type === "refused");
      assert.equal(refused.length, 2);
      for (const e of refused) assert.match(e.type === "refused" ? e.limit : "", /spec\.safety\.maxPerTarget 2/);
      assert.equal(executor.open().length, 0, "reverted at the end");
    } finally {
      await v.stop();
    }
  });

  test("maxDown holds for cpu-limit too (not only the sniper's kills): one of three limited", { skip: unavailableReason("cpu") ?? undefined }, async () => {
    const v = spawnVictims(3);
    try {
      const params = getInjector("cpu-limit")!.params.parse({ cpus: 0.1 });
      const { runner, events } = await run({ fault: "cpu-limit", params, target: { process: { cmdline: v.regex }, mode: "all" }, maxDown: { count: 1 } });
      const stats = await runner.run();
      assert.equal(stats.applied, 1);
      assert.equal(stats.refused, 2);
      assert.ok(events.some((e) => e.type === "refused" && /maxDown 1/.test(e.limit)));
    } finally {
      await v.stop();
    }
  });

  test("the run's budget (maxTotal 3) is shared by two steps choosing at once: 3 of 4 frozen", async () => {
    const a = spawnVictims(2);
    const b = spawnVictims(2);
    try {
      const budget = new RunBudget(3, 100);
      const ex = new Executor({ command: "safety-test", dir: path.join(tempDir("gameday-safety-"), "journal"), reaper: false });
      const one = await run({ fault: "process-kill", params: { signal: "STOP" }, target: { process: { cmdline: a.regex }, mode: "all" }, duration: 1500 }, budget, ex);
      const two = await run({ fault: "process-kill", params: { signal: "STOP" }, target: { process: { cmdline: b.regex }, mode: "all" }, duration: 1500, targetName: "w", index: 1 }, budget, ex);
      const done = Promise.all([one.runner.run(), two.runner.run()]);
      await new Promise((r) => setTimeout(r, 300));
      const frozen = [...a.children, ...b.children].filter((c) => procState(c.pid!) === "T").length;
      assert.equal(frozen, 3);
      await done;
      const refused = [...one.events, ...two.events].filter((e) => e.type === "refused");
      assert.equal(refused.length, 1);
      assert.match(refused[0].type === "refused" ? refused[0].limit : "", /spec\.safety\.maxTotal/);
      assert.equal(budget.used, 0, "every slot given back once reverted");
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
