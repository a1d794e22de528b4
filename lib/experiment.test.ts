import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import "../injectors";
import { experimentJsonSchema, parseExperiment } from "./experiment";
import { parseTopology } from "./topology";

const ROOT = path.resolve(import.meta.dirname, "..");

const base = (method = `[ { fault: process-kill, target: api, params: { signal: STOP }, duration: 30s } ]`) => `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: t }
spec:
  hypothesis: h
  targets: { api: { node: api, mode: all } }
  steadyState: { probes: [ { name: p, type: http, url: "http://127.0.0.1:1/", tolerance: { min: 0.95 } } ] }
  method: ${method}
`;

function issues(yaml: string) {
  const r = parseExperiment(yaml);
  assert.equal(r.ok, false, "expected the file to be refused");
  return r.ok ? [] : r.issues;
}

test("a valid experiment parses with defaults and durations in ms", () => {
  const r = parseExperiment(base());
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  const step = r.experiment.spec.method[0];
  assert.equal(step.duration, 30_000);
  assert.equal(step.startAfter, 0);
  assert.equal(step.probability, 1);
  assert.deepEqual(step.params, { signal: "STOP" });
  assert.equal(r.experiment.spec.rollback, "always");
  const p = r.experiment.spec.steadyState.probes[0];
  assert.equal(p.type === "http" && p.interval, 250);
});

test("every problem of a bad file is reported with its field path", () => {
  const list = issues(base(`[ { fault: process-kill, target: apx, params: { signal: STOPP }, duration: -5s, probability: 1.5 } ]`));
  const byPath = Object.fromEntries(list.map((i) => [i.path, i.message]));
  assert.match(byPath["spec.method[0].duration"], /must not be negative/);
  assert.match(byPath["spec.method[0].probability"], /between 0 and 1/);
  assert.match(byPath["spec.method[0].target"], /unknown target "apx"/);
  assert.match(byPath["spec.method[0].params.signal"], /KILL, TERM, INT, STOP/);
});

test("unknown faults, bad durations, bad probabilities and bad YAML are refused", () => {
  assert.match(issues(base(`[ { fault: meteor-strike, target: api, duration: 1s } ]`))[0].message, /unknown fault "meteor-strike": it is unknown; available: .*process-kill/);
  assert.match(issues(base(`[ { fault: process-kill, target: api, duration: 5 parsecs } ]`))[0].message, /expected a duration like 500ms/);
  assert.equal(issues(base(`[ { fault: process-kill, target: api, duration: 1s, probability: -0.1 } ]`))[0].path, "spec.method[0].probability");
  assert.match(issues("apiVersion: [unclosed")[0].message, /invalid YAML/);
  assert.match(issues("just a string")[0].message, /expected a YAML mapping/);
  const wrongKind = issues(base().replace("kind: Experiment", "kind: Experimnt"));
  assert.equal(wrongKind[0].path, "kind");
});

test("hold: how long each round's changes stay, only with every and within the duration", () => {
  const r = parseExperiment(base(`[ { fault: process-kill, target: api, params: { signal: STOP }, every: 30s, hold: 10s, duration: 2m } ]`));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  assert.equal(r.experiment.spec.method[0].hold, 10_000);
  const one = (step: string) => issues(base(`[ { fault: process-kill, target: api, params: { signal: STOP }, ${step} } ]`)).map((i) => `${i.path}: ${i.message}`);
  assert.deepEqual(one("hold: 10s, duration: 1m"), ["spec.method[0].hold: hold needs every (without rounds the change stays for the step's duration)"]);
  assert.deepEqual(one("every: 10s, hold: 2m, duration: 1m"), ["spec.method[0].hold: must not exceed the step's duration"]);
  assert.match(one("every: 10s, hold: 50ms, duration: 1m")[0], /^spec\.method\[0\]\.hold: /);
});

test("blast radius values are checked against their mode", () => {
  assert.equal(issues(base().replace("mode: all", "mode: percent, value: 150"))[0].path, "spec.targets.api.value");
  assert.equal(issues(base().replace("mode: all", "mode: count"))[0].path, "spec.targets.api.value");
  assert.match(issues(base().replace("{ node: api, mode: all }", "{ mode: all }"))[0].message, /exactly one selector/);
});

test("targets are checked against the topology when one is given", () => {
  const topo = parseTopology(`apiVersion: gameday/v1
kind: Topology
metadata: { name: x }
spec: { nodes: [ { id: db } ] }`);
  const r = parseExperiment(base(), topo);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.issues[0].message : "", /unknown topology node "api"; known: db/);
});

test("the published JSON Schema is generated from the zod schema", () => {
  const file = path.join(ROOT, "schema/experiment.v1.json");
  const published = JSON.parse(fs.readFileSync(file, "utf8"));
  assert.deepEqual(published, JSON.parse(JSON.stringify(experimentJsonSchema())), "schema/experiment.v1.json is stale: run `./bin/gameday.mjs schema > schema/experiment.v1.json`");
  const json = JSON.stringify(published);
  assert.ok(json.includes('"process-kill"'), "fault names are spelled out");
  assert.ok(json.includes('"STOP"'), "fault parameters are spelled out");
});

test("every example validates, except faults this build does not have yet", () => {
  const dir = path.join(ROOT, "examples");
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".yaml"));
  assert.ok(files.length >= 1);
  let runnable = 0;
  for (const f of files) {
    const r = parseExperiment(fs.readFileSync(path.join(dir, f), "utf8"));
    if (r.ok) {
      runnable++;
      continue;
    }
    for (const i of r.issues) assert.match(`${i.path}: ${i.message}`, /\.fault: unknown fault/, `${f}: ${i.path}: ${i.message}`);
  }
  assert.ok(runnable >= 1);
});

test("a fault is refused on a target of the wrong kind", () => {
  const list = issues(base().replace("{ node: api, mode: all }", "{ path: /var/tmp }"));
  assert.equal(list[0].path, "spec.method[0].target");
  assert.match(list[0].message, /process-kill acts on a process target; "api" selects a path/);
  assert.match(issues(base().replace("{ node: api, mode: all }", "{ path: relative/dir }"))[0].message, /absolute path/);
});

test("network targets of containers: container alone, to another group, the fields that cannot go with them named", () => {
  const net = (sel: string) => base(`[ { fault: partition, target: api, duration: 30s } ]`).replace("{ node: api, mode: all }", `{ network: ${sel}, mode: all }`);
  const ok = parseExperiment(net("{ container: { labels: { grp: a } }, to: { container: { service: db } }, direction: both }"));
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.issues));
  assert.deepEqual(ok.experiment.spec.targets.api.network, { container: { labels: { grp: "a" } }, to: { container: { service: "db" } }, direction: "both", protocol: "tcp" });
  assert.ok(parseExperiment(net("{ container: { name: '^shop-web' }, dst: 10.0.0.5, dstPort: 80 }")).ok, "a container alone narrows the traffic");
  const one = (sel: string) => {
    const list = issues(net(sel));
    return `${list[0].path}: ${list[0].message}`;
  };
  assert.equal(one("{ container: { name: web }, netns: app }"), "spec.targets.api.network.netns: container selects the containers' own namespace (or cgroup): give it without netns");
  assert.equal(one("{ container: { name: web }, cgroup: docker/abc }"), "spec.targets.api.network.cgroup: container selects the containers' own namespace (or cgroup): give it without cgroup");
  assert.equal(one("{ dstPort: 80, to: { container: { name: db } } }"), "spec.targets.api.network.to: to needs container (the group whose traffic goes to them)");
  assert.equal(one("{ container: { name: web }, to: { container: { name: db } }, dst: 10.0.0.5 }"), "spec.targets.api.network.dst: to gives the destinations (the containers' addresses): give it without dst");
  assert.equal(one("{ container: { name: web }, to: { container: {} } }"), "spec.targets.api.network.to.container: give at least one of ids, name, image, labels, service, project or node");
  const topo = parseTopology(`apiVersion: gameday/v1
kind: Topology
metadata: { name: x }
spec: { nodes: [ { id: db } ] }`);
  const r = parseExperiment(net("{ container: { name: web }, to: { container: { node: cache } } }"), topo);
  assert.ok(!r.ok && r.issues.some((i) => i.path === "spec.targets.api.network.to.container.node" && /unknown topology node "cache"/.test(i.message)), JSON.stringify(!r.ok && r.issues));
});

test("network targets aimed at a node, processes or a cgroup: checked fields, node checked against the topology", () => {
  const net = (sel: string) => base(`[ { fault: packet-loss, target: api, params: { percent: 5 }, duration: 30s } ]`).replace("{ node: api, mode: all }", `{ network: ${sel}, mode: one }`);
  const ok = parseExperiment(net("{ node: api, cgroup: system.slice/nginx.service }"));
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.issues));
  assert.deepEqual(ok.experiment.spec.targets.api.network, { node: "api", cgroup: "system.slice/nginx.service", direction: "egress", protocol: "tcp" });
  assert.ok(parseExperiment(net("{ process: { cmdline: 'srv --port' }, dstPort: 80 }")).ok);
  assert.ok(parseExperiment(net("{ cgroup: gameday-xyz }")).ok, "a cgroup alone narrows the traffic");
  const one = (sel: string) => {
    const list = issues(net(sel));
    return `${list[0].path}: ${list[0].message}`;
  };
  assert.equal(one("{ node: api, process: { pids: [42] } }"), "spec.targets.api.network.process: give node or process, not both");
  assert.equal(one("{ node: api, protocol: udp }"), "spec.targets.api.network.protocol: node and process select the TCP ports the processes listen on: protocol must be tcp (got udp)");
  assert.equal(one("{ cgroup: gameday-x, dst: 10.0.0.2, direction: ingress }"), "spec.targets.api.network.direction: cgroup selects the traffic its processes send: direction must be egress (got ingress)");
  for (const bad of ["/system.slice/x", "a/../b", "a b", "a//b", ""])
    assert.equal(one(`{ cgroup: "${bad}", dst: 10.0.0.2 }`), "spec.targets.api.network.cgroup: expected a cgroup v2 path relative to the v2 root, like system.slice/nginx.service or gameday-xyz", bad);
  assert.equal(one("{ protocol: udp }"), "spec.targets.api.network: narrow the traffic: give at least one of dst, src, dstPort, srcPort, interface, node, process, from, cgroup or container");
  // from: what a node's or processes' processes send (their namespace and cgroup)
  assert.ok(parseExperiment(net("{ from: { node: api }, dstPort: 53 }")).ok);
  assert.equal(one("{ from: { node: api }, cgroup: gameday-x }"), "spec.targets.api.network.cgroup: from selects the senders' own namespace and cgroup: give it without cgroup");
  assert.equal(one("{ from: { node: api, process: { pids: [4242] } } }"), "spec.targets.api.network.from: give node or process");
  assert.equal(one("{ from: { node: api }, direction: both }"), "spec.targets.api.network.direction: from selects the traffic its processes send: direction must be egress (got both)");

  const topo = parseTopology(`apiVersion: gameday/v1
kind: Topology
metadata: { name: x }
spec: { nodes: [ { id: db }, { id: web } ] }`);
  const r = parseExperiment(net("{ node: api }"), topo);
  assert.equal(r.ok, false);
  assert.deepEqual(!r.ok && r.issues, [{ path: "spec.targets.api.network.node", message: 'unknown topology node "api"; known: db, web' }]);
  assert.ok(parseExperiment(net("{ node: web }"), topo).ok);
  const f = parseExperiment(net("{ from: { node: api }, dstPort: 53 }"), topo);
  assert.deepEqual(!f.ok && f.issues, [{ path: "spec.targets.api.network.from.node", message: 'unknown topology node "api"; known: db, web' }]);
});
