// The catalogue's "Use" writes experiments from each fault's schema: every one
// must pass the experiment validator, for every registered fault, with and
// without a node picked in the graph; the parameter table says types,
// defaults and units as the file takes them.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import YAML from "yaml";
import { z } from "zod";
import "../../injectors/index";
import { injectorNames } from "../../injectors";
import { faultEntry } from "../catalog";
import { parseExperiment, targetKindOf } from "../experiment";
import { loadTopology } from "../topology";
import type { FaultInfo } from "../contract";
import { faultInfo } from "../../worker/faults";
import { exampleValue, experimentFor, generatedExperiment, paramRows, targetSpec } from "./catalogue";

const ROOT = path.resolve(import.meta.dirname, "../..");
const topology = loadTopology(path.join(ROOT, "demo/topology.yaml"));
const node = topology.spec.nodes[1].id;
const faults: FaultInfo[] = injectorNames().map((n) => faultInfo(n, { ok: true }));
const issues = (r: ReturnType<typeof parseExperiment>) => (r.ok ? "" : r.issues.map((i) => `${i.path}: ${i.message}`).join("; "));

test("the registry has the whole design catalogue", () => {
  assert.ok(faults.length >= 25, `only ${faults.length} faults`);
  for (const f of ["proxy-toxic", "http-fault", "dns", "container-pause", "container-limit", "ec2-terminate", "az-outage", "sg-isolate", "connect-error", "packet-drop", "syscall-error"])
    assert.ok(faults.some((x) => x.name === f), f);
});

test("every fault's published JSON Schema compiles, accepts its example value and refuses an unknown param", () => {
  for (const f of faults) {
    const params = exampleValue(f.params);
    const fromJson = z.fromJSONSchema(f.params as z.core.JSONSchema.JSONSchema);
    assert.ok(fromJson.safeParse(params).success, `${f.name}: ${JSON.stringify(params)} against its published JSON Schema`);
    assert.equal(fromJson.safeParse({ ...(params as object), "no-such-param": 1 }).success, false, `${f.name}: the published schema accepts an unknown param`);
  }
});

test("every default the published schema shows (10s, 512 MiB, 20 MiB/s) is one the fault accepts as written", () => {
  let n = 0;
  for (const f of faults) {
    const base = exampleValue(f.params) as Record<string, unknown>;
    for (const [k, p] of Object.entries((f.params.properties ?? {}) as Record<string, { default?: unknown }>)) {
      if (p.default === undefined) continue;
      n++;
      const r = faultEntry(f.name)!.params.safeParse({ ...base, [k]: p.default });
      assert.ok(r.success, `${f.name}.${k}: default ${JSON.stringify(p.default)} is refused: ${r.success ? "" : r.error.message}`);
    }
  }
  assert.ok(n > 40, `only ${n} defaults`);
});

test("every generated experiment passes the validator and aims the fault at a target of its kind", () => {
  for (const f of faults) {
    const yaml = generatedExperiment(f);
    const r = parseExperiment(yaml);
    assert.ok(r.ok, `${f.name}: ${issues(r)}\n${yaml}`);
    const step = r.experiment.spec.method[0];
    assert.equal(step.fault, f.name);
    assert.equal(targetKindOf(r.experiment.spec.targets[step.target]), f.target.kind, f.name);
    assert.equal(r.experiment.spec.targets[step.target].mode, "one", `${f.name}: a generated experiment hits one target`);
  }
});

test("with a node picked in the graph, kinds that select by node aim at it and validate against the topology", () => {
  const byNode = faults.filter((f) => f.target.nodePath);
  assert.ok(byNode.some((f) => f.target.kind === "process") && byNode.some((f) => f.target.kind === "network"), "process and network faults select by node");
  for (const f of faults) {
    const yaml = generatedExperiment(f, { node });
    const r = parseExperiment(yaml, topology);
    assert.ok(r.ok, `${f.name}: ${issues(r)}\n${yaml}`);
    const spec = Object.values(r.experiment.spec.targets)[0] as Record<string, unknown>;
    const at = f.target.nodePath?.reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], spec);
    assert.equal(at, f.target.nodePath ? node : undefined, `${f.name}: ${JSON.stringify(spec)}`);
  }
  // a node the topology does not know is the validator's to refuse, by field
  const proc = faults.find((f) => f.name === "process-kill")!;
  const r = parseExperiment(generatedExperiment(proc, { node: "nosuchnode" }), topology);
  assert.ok(!r.ok && r.issues.some((i) => i.path === "spec.targets.nosuchnode.node"), issues(r));
});

test("a probe from the worker's examples is used as it is; irreversible acknowledgements are pointed out", () => {
  const probe = { name: "frontend", type: "http", url: "http://127.0.0.1:4100/", timeout: "2s", tolerance: { min: 0.9 } };
  const f = faults.find((x) => x.name === "ec2-terminate")!;
  const yaml = generatedExperiment(f, { probe });
  assert.deepEqual((YAML.parse(yaml) as { spec: { steadyState: { probes: unknown[] } } }).spec.steadyState.probes, [probe]);
  assert.match(yaml, /# irreversible must be true: read what the fault does before you launch it\n\s+irreversible: true/);
  assert.ok(parseExperiment(yaml).ok);
});

test("Use takes the example file when there is one, else the generated experiment", () => {
  const kill = faultInfo("process-kill", { ok: true }, { file: "api-freeze.yaml", step: { fault: "process-kill" }, yaml: "apiVersion: gameday/v1\n" });
  assert.deepEqual(experimentFor(kill, { node }), { yaml: "apiVersion: gameday/v1\n", source: "examples/api-freeze.yaml" });
  const stop = faultInfo("container-stop", { ok: true });
  const used = experimentFor(stop, { node });
  assert.equal(used.source, `written from the schema for node ${node}`);
  assert.deepEqual(targetSpec(stop, node), { container: { node } });
  assert.equal(used.yaml, generatedExperiment(stop, { node }));
  // a host fault cannot select by node: the node is not written in
  const cpu = faultInfo("cpu-stress", { ok: true });
  assert.equal(experimentFor(cpu, { node }).source, "written from the schema");
  assert.deepEqual(targetSpec(cpu, node), { host: "local" });
});

test("the parameter table: types, required, defaults as the file takes them, units, nested rules", () => {
  const rows = (name: string) => paramRows(faults.find((f) => f.name === name)!.params);
  const latency = Object.fromEntries(rows("latency").map((r) => [r.name, r]));
  assert.equal(latency.latency.required, true);
  assert.equal(latency.latency.unit, "ms");
  assert.equal(latency.latency.type, "string or number");
  assert.match(latency.latency.notes.join(" "), /at least 1ms, at most 1m/);
  assert.equal(latency.jitter.default, "0ms");
  assert.equal(latency.distribution.type, "normal | pareto | paretonormal | uniform");
  assert.equal(latency.distribution.default, "normal");
  assert.deepEqual(latency.correlation.notes, ["≥ 0, ≤ 100"]);

  const stop = rows("container-stop");
  assert.deepEqual(stop.map((r) => [r.name, r.default, r.unit]), [["grace", "10s", "ms"]]);
  const io = Object.fromEntries(rows("io-stress").map((r) => [r.name, r]));
  assert.equal(io.reserve.default, "512 MiB");
  assert.equal(io.reserve.unit, "bytes");

  const dns = rows("dns");
  const answer = dns.find((r) => r.name === "rules[].answer")!;
  assert.equal(answer.depth, 1);
  assert.equal(answer.required, true);
  assert.match(answer.type, /^nxdomain \| servfail/);
  assert.equal(dns.find((r) => r.name === "rules")!.type, "list of object");

  assert.equal(Object.fromEntries(rows("io-stress").map((r) => [r.name, r.default])).bandwidth, "20 MiB/s");
  assert.match(rows("connect-error").find((r) => r.name === "errno")!.type, /^EPERM \| .* \| … \(\d+ in all\)$/);
  assert.deepEqual(rows("container-pause"), []);
  assert.equal(rows("ec2-terminate")[0].type, "true");
});
