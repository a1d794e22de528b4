// The demo system as Docker containers on a real, private dockerd
// (e2e/docker.ts): the supervisor builds its image (nothing pulled), every
// instance answers on its loopback port from its own container, the
// container selector finds order-service and payment-service by Compose
// service and by topology node, and the seed's scenario runs through a real
// worker: examples/seed-payment-pause.yaml (shortened) pauses payment-service,
// order-service's timeouts show in the steady-state probe, and once the
// pause is reverted it recovers by itself. SIGTERM removes every container.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import "../injectors";
import type { GraphState, ProbeSampleMsg, RunRecord } from "../lib/contract";
import { parsePromText } from "../lib/promtext";
import { loadTopology, type Topology } from "../lib/topology";
import { resolveContainers, type ContainerTarget } from "../injectors/targets/resolve";
import { dockerSkipReason, startDockerd, type TestDocker } from "../e2e/docker";
import { apiCall, EXIT_WITH_PARENT, ROOT, startWorkerProcess, tempDir, tempHome, waitFor, waitForLine, type WorkerProc } from "../e2e/kit";
import { sweepContainers, type SweepReport } from "../e2e/sweep";
import { COMPOSE_PROJECT, COMPOSE_SERVICE, DEMO_LABEL, OWNER_LABEL } from "./containers";

// below the ephemeral port range (32768-), so a busy host's outgoing connections cannot hold them
const BASE = 17_100; // frontend 17100, api 17101-17103, db 17110, order-service 17111, payment-service 17112
const WORKER_PORT = 44_200;
const CLUSTER = `demo-${BASE}`;
const ORDER = `http://127.0.0.1:${BASE + 11}`;
const skip = dockerSkipReason() ?? undefined;

async function upstreamCalls(): Promise<Record<string, number>> {
  const text = await (await fetch(`${ORDER}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const out: Record<string, number> = {};
  for (const s of parsePromText(text)) if (s.name === "demo_upstream_requests_total" && s.labels.service === "order-service") out[s.labels.outcome] = s.value;
  return out;
}

describe("the demo system as containers", { skip, timeout: 150_000 }, () => {
  let dk: TestDocker;
  let sup: ChildProcess;
  let exited: Promise<number | null>;
  let ready: { instances: { node: string; port: number; pid: number; container: string; id: string }[] };
  let topology: Topology;
  let worker: WorkerProc | undefined;
  const demoContainers = () => dk.docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${DEMO_LABEL}=${CLUSTER}`] }) });

  before(async () => {
    dk = await startDockerd();
    const dir = tempDir("gameday-ctrdemo-");
    const topologyFile = path.join(dir, "topology.yaml");
    sup = spawn(
      process.execPath,
      [...EXIT_WITH_PARENT, "--import", "tsx", path.join(ROOT, "demo/supervisor.ts"), "--containers", "--engine", dk.engine, "--base-port", String(BASE), "--write-topology", topologyFile, "--load-rps", "10"],
      { env: { ...process.env, GAMEDAY_LOG: process.env.GAMEDAY_LOG ?? "warn" }, stdio: ["ignore", "pipe", "inherit"] },
    );
    exited = new Promise((r) => sup.once("exit", (code) => r(code)));
    ready = JSON.parse(await waitForLine(sup, (l) => l.includes('"msg":"ready"') || l.includes('"msg":"error"'), 90_000, "the container demo to be ready"));
    assert.ok(ready.instances, `the supervisor did not get ready: ${JSON.stringify(ready)}`);
    topology = loadTopology(topologyFile);
    worker = await startWorkerProcess(tempHome(), {
      topology: topologyFile,
      port: WORKER_PORT,
      env: { DOCKER_HOST: dk.engine, GAMEDAY_LEAD_OUT_MS: "1000", GAMEDAY_AUTO_REPORT: "0" },
    });
  });

  after(async () => {
    await worker?.stop();
    if (sup && sup.exitCode === null && sup.signalCode === null) {
      sup.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    await dk?.stop();
  });

  test("every instance is a labelled container on the host network, answering on its port", async () => {
    const list = await demoContainers();
    const byName = new Map(list.map((c) => [c.Names[0].replace(/^\//, ""), c]));
    assert.deepEqual(
      ready.instances.map((i) => [i.node, i.port, i.container]),
      [
        ["db", BASE + 10, `${CLUSTER}-db-1`],
        ["api", BASE + 1, `${CLUSTER}-api-1`],
        ["api", BASE + 2, `${CLUSTER}-api-2`],
        ["api", BASE + 3, `${CLUSTER}-api-3`],
        ["frontend", BASE, `${CLUSTER}-frontend-1`],
        ["payment-service", BASE + 12, `${CLUSTER}-payment-service-1`],
        ["order-service", BASE + 11, `${CLUSTER}-order-service-1`],
      ],
    );
    for (const i of ready.instances) {
      const c = byName.get(i.container);
      assert.ok(c, `container ${i.container} exists`);
      assert.equal(c.State, "running");
      assert.equal(c.HostConfig.NetworkMode, "host");
      assert.equal(c.Labels[COMPOSE_SERVICE], i.node);
      assert.equal(c.Labels[COMPOSE_PROJECT], CLUSTER);
      assert.equal(c.Labels[OWNER_LABEL], String(sup.pid));
      // the process the host sees is the container's: its cgroup names the container
      assert.match(fs.readFileSync(`/proc/${i.pid}/cgroup`, "utf8"), new RegExp(i.id));
      const r = await fetch(`http://127.0.0.1:${i.port}/healthz`);
      assert.equal(r.headers.get("x-demo-instance"), i.container);
    }
    const order = await fetch(`${ORDER}/`);
    assert.equal(order.status, 200);
    assert.deepEqual(await order.json(), { node: "order-service", port: BASE + 11, upstream: `http://127.0.0.1:${BASE + 12}`, upstreamStatus: 200 });
    assert.equal((await fetch(`http://127.0.0.1:${BASE}/`)).status, 200, "the shop answers through api and db");
  });

  test("the topology and the graph see containers; the container selector resolves order-service and payment-service", async () => {
    assert.deepEqual(
      topology.spec.nodes.map((n) => [n.id, n.kind, n.metrics.length]),
      [
        ["frontend", "container", 1],
        ["api", "container", 3],
        ["db", "container", 1],
        ["order-service", "container", 1],
        ["payment-service", "container", 1],
      ],
    );
    assert.deepEqual(topology.spec.edges.at(-1), { from: "order-service", to: "payment-service" });
    const id = (node: string) => ready.instances.find((i) => i.node === node)!.id;
    for (const node of ["order-service", "payment-service"]) {
      const byNode = await resolveContainers({ node, engine: dk.engine }, topology);
      assert.deepEqual(byNode.matched.map((t) => (t as ContainerTarget).id), [id(node)], `node ${node}: ${byNode.problem ?? ""}`);
      const byService = await resolveContainers({ service: node, engine: dk.engine }, null);
      assert.deepEqual(byService.matched.map((t) => (t as ContainerTarget).name), [`${CLUSTER}-${node}-1`]);
    }
    assert.equal((await resolveContainers({ node: "api", engine: dk.engine }, topology)).matched.length, 3);
    const g = await waitFor(
      "the graph to show live order-service and payment-service",
      async () => {
        const { body } = await apiCall<GraphState>(worker!, "GET", "/api/v1/graph");
        return ["order-service", "payment-service"].every((n) => body.nodes[n]?.instancesUp === 1 && body.nodes[n]?.successRate !== null) ? body : null;
      },
      20_000,
      250,
    );
    assert.deepEqual(
      g.topology.nodes.filter((n) => n.id.endsWith("-service")).map((n) => [n.id, n.kind]),
      [
        ["order-service", "container"],
        ["payment-service", "container"],
      ],
    );
  });

  test("the seed's scenario: pausing payment-service makes order-service time out, and it recovers by itself", async () => {
    // examples/seed-payment-pause.yaml at this test's ports, two 2 s pauses 4 s apart instead of 10 s of every 30 s
    const exp = YAML.parse(fs.readFileSync(path.join(ROOT, "examples/seed-payment-pause.yaml"), "utf8"));
    for (const p of exp.spec.steadyState.probes) p.url = p.url.replace("127.0.0.1:4111", `127.0.0.1:${BASE + 11}`);
    exp.spec.steadyState.probes[0].window = "3s";
    Object.assign(exp.spec.method[0], { every: "4s", hold: "2s", duration: "7s" });
    const before = await upstreamCalls();
    assert.deepEqual(Object.keys(before).sort(), ["error", "ok", "timeout"], "every outcome is exported from the start");
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml: YAML.stringify(exp) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const runId = r.body.run.id;
    const run = await waitFor(
      "the run to end",
      async () => {
        const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${runId}`);
        return ["completed", "aborted", "failed"].includes(body.run.state) ? body.run : null;
      },
      60_000,
      250,
    );
    assert.equal(run.state, "completed", JSON.stringify(run));
    assert.equal(run.hypothesisHeld, false, "order-service timed out: the hypothesis did not hold");
    const payment = ready.instances.find((i) => i.node === "payment-service")!;
    assert.equal(run.faults.length, 2, `two rounds, two pauses: ${JSON.stringify(run.faults)}`);
    for (const f of run.faults) {
      assert.equal(f.fault, "container-pause");
      assert.equal(f.targetId, `ctr:${payment.id}`);
      assert.equal(f.state, "reverted");
      assert.equal(f.verified, true);
    }
    assert.equal((await dk.docker.getContainer(payment.id).inspect()).State.Paused, false);

    // the steady-state probe saw the timeouts: most of the window's calls while payment-service was paused
    const { body } = await apiCall<{ samples: ProbeSampleMsg[] }>(worker!, "GET", `/api/v1/runs/${runId}/samples`);
    const timeouts = body.samples.filter((s) => s.probe === "order-timeouts" && s.value !== null);
    assert.ok(timeouts.length > 5, `order-timeouts samples: ${timeouts.length}`);
    const peak = Math.max(...timeouts.map((s) => s.value!));
    assert.ok(peak > 0.3, `peak timeout share ${peak}`);
    assert.ok(timeouts.some((s) => !s.ok), "the probe reported the breach");
    const during = await upstreamCalls();
    assert.ok(during.timeout - before.timeout >= 5, `order-service counted ${during.timeout - before.timeout} timeouts`);

    // recovery with nobody's help: answers 200 again and no new timeouts once the last pause is reverted
    await waitFor("order-service to answer 200", async () => (await fetch(`${ORDER}/`, { signal: AbortSignal.timeout(1000) })).status === 200, 10_000, 100);
    const settled = await upstreamCalls();
    await new Promise((res) => setTimeout(res, 1500));
    const later = await upstreamCalls();
    assert.equal(later.timeout, settled.timeout, "no timeouts after the revert");
    assert.ok(later.ok > settled.ok, "calls to payment-service go on succeeding");
  });

  test("swept: a demo container whose supervisor is gone is removed, a live one's is kept", async (t) => {
    if (!fs.existsSync("/usr/bin/docker") && !fs.existsSync("/usr/local/bin/docker")) return t.skip("no docker CLI (the sweep calls docker ps / rm)");
    // PID 2^22+1 is above any pid_max: never alive
    const stale = await dk.run(`${CLUSTER}-stale`, ["sleep", "300"], { labels: { [DEMO_LABEL]: "demo-gone", [OWNER_LABEL]: String(4_194_305) } });
    const r: SweepReport = { mounts: [], cgroups: [], processes: [], dirs: [], netns: [], containers: [], kept: [], dryRun: false };
    sweepContainers(r, dk.engine);
    assert.deepEqual(r.containers, [`${CLUSTER}-stale`], JSON.stringify(r));
    await assert.rejects(dk.docker.getContainer(stale).inspect(), /no such container/i);
    assert.equal((await demoContainers()).length, 7, "the live demo's containers are kept");
  });

  test("SIGTERM: the supervisor removes every container and exits 0", async () => {
    await worker?.stop();
    worker = undefined;
    sup.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.deepEqual(await demoContainers(), []);
    await assert.rejects(fetch(`${ORDER}/healthz`, { signal: AbortSignal.timeout(1000) }));
  });
});

test("bad input: --engine without --containers, a bad engine address, an engine that does not answer", async () => {
  const supervise = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [...EXIT_WITH_PARENT, "--import", "tsx", path.join(ROOT, "demo/supervisor.ts"), "--base-port", String(BASE + 500), "--no-load", ...args], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      c.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      c.once("exit", (code) => resolve({ code, out }));
    });
  const alone = await supervise(["--engine", "unix:///var/run/docker.sock"]);
  assert.equal(alone.code, 2);
  assert.match(alone.out, /engine: --engine goes with --containers/);
  const bad = await supervise(["--containers", "--engine", "http://127.0.0.1:2375"]);
  assert.equal(bad.code, 2);
  assert.match(bad.out, /engine: expected unix:\/\/\/path\/to\/docker.sock or tcp:\/\/HOST:PORT/);
  const none = await supervise(["--containers", "--engine", `unix://${tempDir("gameday-ctrdemo-")}/docker.sock`]);
  assert.equal(none.code, 1);
  assert.match(none.out, /no Docker engine answers at unix:\/\/\/.*docker\.sock/);
  assert.match(none.out, /"msg":"stopped"/);
});
