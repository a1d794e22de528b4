// socket.io end to end against an in-process worker whose topology has one node
// selecting real `sleep` victims: run:start is acked with the run id, the
// run's updates, events, probe samples and the node's fault badge are pushed,
// run:abort and HALT (while a run is active) revert the SIGSTOP at once.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { io as ioClient, type Socket } from "socket.io-client";
import type { ClientToServerEvents, CommandResult, GraphState, ProbeSampleMsg, RunRecord, ServerToClientEvents, TimelineEvent } from "../lib/contract";
import { createLogger } from "../lib/log";
import { startWorker, type RunningWorker } from "./app";
import { WORKER_VERSION } from "./server";
import { allStopped as allStoppedOf, freezeExperiment, noneStopped as noneStoppedOf, procState, ROOT, spawnVictims, tempDir, tempHome, waitFor } from "../e2e/kit";

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Everything one client was pushed, in arrival order. */
class Inbox {
  hello: Parameters<ServerToClientEvents["hello"]>[0][] = [];
  graphs: GraphState[] = [];
  updates: RunRecord[] = [];
  events: TimelineEvent[] = [];
  samples: ProbeSampleMsg[] = [];
  constructor(s: Client) {
    s.on("hello", (m) => this.hello.push(m));
    s.on("graph:state", (g) => this.graphs.push(g));
    s.on("run:update", (r) => this.updates.push(r));
    s.on("run:event", (e) => this.events.push(e));
    s.on("run:sample", (x) => this.samples.push(x));
  }
  kinds(runId: string): string[] {
    return this.events.filter((e) => e.runId === runId).map((e) => e.kind);
  }
  badge(runId: string): number {
    return this.graphs.at(-1)?.nodes.victims?.faults.find((f) => f.runId === runId && f.fault === "process-kill")?.count ?? 0;
  }
}

describe("socket.io end to end", { timeout: 90_000 }, () => {
  let w: RunningWorker;
  let probe: http.Server;
  let probeUrl: string;
  const victims = spawnVictims(2);
  const sockets: Client[] = [];
  let token = "";
  const prevHome = process.env.GAMEDAY_HOME;

  before(async () => {
    process.env.GAMEDAY_HOME = tempHome();
    probe = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
    const topologyFile = path.join(tempDir("gameday-live-"), "topology.yaml");
    fs.writeFileSync(
      topologyFile,
      `apiVersion: gameday/v1
kind: Topology
metadata: { name: victims-only }
spec:
  nodes:
    - { id: victims, label: Victims, selector: { process: { cmdline: '${victims.regex}' } } }
`,
    );
    w = await startWorker({
      port: 0,
      host: "127.0.0.1",
      topologyFile,
      examplesDir: path.join(ROOT, "examples"),
      warmupMs: 200,
      log: createLogger({}, () => undefined),
    });
    const olga = await w.auth.createUser("olga", "operator-password", "operator");
    token = await w.auth.createToken(olga.id, "olga-socket");
  });

  after(async () => {
    for (const s of sockets) s.close();
    await w?.close();
    await victims.stop();
    probe?.closeAllConnections();
    probe?.close();
    process.env.GAMEDAY_HOME = prevHome;
  });

  const experiment = (name: string) => freezeExperiment(name, "{ node: victims, mode: all }", probeUrl);

  const allStopped = () => allStoppedOf(victims.children);
  const noneStopped = () => noneStoppedOf(victims.children);

  async function connect(): Promise<{ s: Client; inbox: Inbox }> {
    const s: Client = ioClient(w.url, { transports: ["websocket"], reconnection: false, auth: { token } });
    sockets.push(s);
    const inbox = new Inbox(s);
    await waitFor("hello", () => inbox.hello.length > 0, 10_000);
    return { s, inbox };
  }

  function command<T>(s: Client, emit: (ack: (r: CommandResult<T>) => void) => void): Promise<CommandResult<T>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no ack within 15 s")), 15_000);
      emit((r) => (clearTimeout(t), resolve(r)));
    });
  }

  async function start(s: Client, name: string): Promise<string> {
    const r = await command<{ runId: string }>(s, (ack) => s.emit("run:start", { yaml: experiment(name) }, ack));
    assert.ok(r.ok, JSON.stringify(r));
    assert.match(r.runId, /^\d{8}-\d{6}-[0-9a-f]{6}$/);
    return r.runId;
  }

  test("run:start is acked with the run id; updates, events, samples and the node's fault badge are pushed; run:abort reverts", async () => {
    const { s, inbox } = await connect();
    assert.deepEqual(inbox.hello[0], { user: { username: "olga", role: "operator" }, activeRunId: null, workerVersion: WORKER_VERSION });
    await waitFor("the graph on connect", () => inbox.graphs.length > 0, 5000);
    assert.deepEqual(inbox.graphs[0].topology.nodes, [{ id: "victims", label: "Victims", kind: "service" }]);
    assert.equal(inbox.badge("none"), 0);

    const id = await start(s, "live-abort");
    await waitFor("the victims to be stopped", allStopped, 10_000);
    const running = await waitFor("a run:update with the faults injected", () => inbox.updates.find((r) => r.id === id && r.state === "running" && r.faults.length === 2 && r.faults.every((f) => f.state === "injected")), 10_000);
    assert.equal(running.startedBy, "olga");
    assert.ok(running.faults.every((f) => f.node === "victims"));
    await waitFor("the victims node's fault badge", () => inbox.badge(id) === 2, 5000);
    await waitFor("probe samples of this run", () => inbox.samples.filter((x) => x.runId === id && x.probe === "up").length >= 3, 5000);
    assert.ok(inbox.samples.filter((x) => x.runId === id).every((x) => x.measure === "successRate" && x.ok));
    for (const k of ["run-started", "steady-state-before", "targets-resolved", "injected"]) assert.ok(inbox.kinds(id).includes(k), `no ${k} event: ${inbox.kinds(id)}`);

    const second = await connect();
    assert.equal(second.inbox.hello[0].activeRunId, id, "a client joining mid-run is told which run is active");

    assert.deepEqual(await command(s, (ack) => s.emit("run:abort", { runId: id }, ack)), { ok: true });
    assert.ok(noneStopped(), "a victim is still stopped after run:abort");
    const ended = await waitFor("the final run:update", () => inbox.updates.find((r) => r.id === id && r.state === "aborted"), 5000);
    assert.equal(ended.abort?.reason, "manual");
    assert.ok(ended.faults.every((f) => f.state === "reverted" && f.verified === true));
    await waitFor("the badge to clear", () => inbox.badge(id) === 0, 5000);
    await waitFor("the run-ended event", () => inbox.kinds(id).includes("run-ended"), 5000);
    for (const k of ["abort", "reverted"]) assert.ok(inbox.kinds(id).includes(k), `no ${k} event: ${inbox.kinds(id)}`);
    // both clients saw the same run
    await waitFor("the second client's final update", () => second.inbox.updates.some((r) => r.id === id && r.state === "aborted"), 5000);

    await waitFor("the engine to let the run go", () => w.engine.activeRunId() === null, 5000);
    const again = await command(s, (ack) => s.emit("run:abort", { runId: id }, ack));
    assert.deepEqual([again.ok, !again.ok && again.code], [false, "conflict"]);
  });

  test("HALT over socket.io while a run is active aborts it and CONTinues the victims", async () => {
    const { s, inbox } = await connect();
    const id = await start(s, "live-halt");
    await waitFor("the victims to be stopped", allStopped, 10_000);
    await waitFor("the victims node's fault badge", () => inbox.badge(id) === 2, 5000);

    const halted = await command(s, (ack) => s.emit("halt", {}, ack));
    assert.deepEqual(halted, { ok: true, aborted: [id] });
    assert.ok(noneStopped(), "a victim is still stopped after HALT");
    for (const c of victims.children) assert.match(procState(c.pid!) ?? "", /^[RS]$/, `victim ${c.pid} is not running or sleeping`);
    const ended = await waitFor("the final run:update", () => inbox.updates.find((r) => r.id === id && r.state === "aborted"), 5000);
    assert.equal(ended.abort?.reason, "halt");
    assert.ok(ended.faults.every((f) => f.state === "reverted" && f.verified === true), JSON.stringify(ended.faults));
    await waitFor("the badge to clear", () => inbox.badge(id) === 0, 5000);
    assert.equal(w.engine.activeRunId(), null);
  });
});
