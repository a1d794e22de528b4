// Roles against an in-process worker and real `sleep` victims: an operator
// launches, aborts and HALTs (REST and socket.io); a viewer reads everything
// but every mutating call is a 403 naming the role, and leaves the operator's
// active run running. What only an admin may do (users, their roles,
// passwords and disabling; other users' tokens) is in access.test.ts, from
// the route table, and users.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { io as ioClient, type Socket } from "socket.io-client";
import type { ApiError, ClientToServerEvents, CommandResult, RunRecord, ServerToClientEvents } from "../lib/contract";
import { createLogger } from "../lib/log";
import { startWorker, type RunningWorker } from "./app";
import { allStopped as allStoppedOf, freezeExperiment, noneStopped as noneStoppedOf, ROOT, spawnVictims, tempHome, waitFor } from "../e2e/kit";

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;
const OPERATOR_ERROR = "this needs the operator role; vera is viewer";

describe("roles: operator and viewer", { timeout: 90_000 }, () => {
  let w: RunningWorker;
  let probe: http.Server;
  let probeUrl: string;
  const victims = spawnVictims(2);
  const sockets: Client[] = [];
  let operator = ""; // session cookie
  let viewer = ""; // session cookie
  let viewerToken = "";
  const prevHome = process.env.GAMEDAY_HOME;

  before(async () => {
    process.env.GAMEDAY_HOME = tempHome();
    probe = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
    w = await startWorker({
      port: 0,
      host: "127.0.0.1",
      topologyFile: null,
      examplesDir: path.join(ROOT, "examples"),
      warmupMs: 200,
      log: createLogger({}, () => undefined),
    });
    await w.auth.createUser("olga", "operator-password", "operator");
    const vera = await w.auth.createUser("vera", "viewer-password", "viewer");
    viewerToken = await w.auth.createToken(vera.id, "vera-socket");
    operator = await login("olga", "operator-password");
    viewer = await login("vera", "viewer-password");
  });

  after(async () => {
    for (const s of sockets) s.close();
    await w?.close();
    await victims.stop();
    probe?.closeAllConnections();
    probe?.close();
    process.env.GAMEDAY_HOME = prevHome;
  });

  async function login(username: string, password: string): Promise<string> {
    const r = await call("POST", "/api/v1/auth/login", "", { username, password });
    assert.equal(r.status, 200, `login ${username}`);
    return r.headers.getSetCookie()[0].split(";")[0];
  }

  function call(method: string, p: string, cookie: string, body?: unknown): Promise<Response> {
    return fetch(w.url + p, {
      method,
      // a browser names its page on every POST; the dashboard's is trusted by default
      headers: { ...(cookie ? { cookie, origin: "http://127.0.0.1:3000" } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  }

  const experiment = (name: string) => freezeExperiment(name, `{ process: { cmdline: '${victims.regex}' }, mode: all }`, probeUrl);

  const allStopped = () => allStoppedOf(victims.children);
  const noneStopped = () => noneStoppedOf(victims.children);

  async function launch(cookie: string, name: string): Promise<RunRecord> {
    const r = await call("POST", "/api/v1/runs", cookie, { yaml: experiment(name) });
    const body = (await r.json()) as { run: RunRecord };
    assert.equal(r.status, 201, JSON.stringify(body));
    await waitFor("the victims to be stopped", allStopped, 10_000);
    return body.run;
  }

  async function getRun(id: string): Promise<RunRecord> {
    return ((await (await call("GET", `/api/v1/runs/${id}`, viewer)).json()) as { run: RunRecord }).run;
  }

  async function connect(auth: { token?: string; cookie?: string }): Promise<Client> {
    const s: Client = ioClient(w.url, {
      transports: ["websocket"],
      reconnection: false,
      ...(auth.token ? { auth: { token: auth.token } } : { extraHeaders: { cookie: auth.cookie!, origin: "http://127.0.0.1:3000" } }),
    });
    sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no hello within 10 s")), 10_000);
      s.once("hello", () => (clearTimeout(t), resolve()));
      s.once("connect_error", (e) => (clearTimeout(t), reject(e)));
    });
    return s;
  }

  function command<T>(s: Client, emit: (ack: (r: CommandResult<T>) => void) => void): Promise<CommandResult<T>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no ack within 15 s")), 15_000);
      emit((r) => (clearTimeout(t), resolve(r)));
    });
  }

  test("an operator launches and aborts over REST; the victims run again", async () => {
    const run = await launch(operator, "operator-abort");
    assert.equal(run.startedBy, "olga");
    const r = await call("POST", `/api/v1/runs/${run.id}/abort`, operator);
    assert.equal(r.status, 200);
    const { run: ended } = (await r.json()) as { run: RunRecord };
    assert.equal(ended.state, "aborted");
    assert.equal(ended.abort?.reason, "manual");
    assert.equal(ended.abort?.by, "olga");
    assert.ok(ended.faults.length === 2 && ended.faults.every((f) => f.state === "reverted" && f.verified), JSON.stringify(ended.faults));
    assert.ok(noneStopped(), "a victim is still stopped");
  });

  test("an operator HALTs an active run over REST", async () => {
    const run = await launch(operator, "operator-halt");
    const r = await call("POST", "/api/v1/halt", operator);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { aborted: [run.id] });
    assert.ok(noneStopped(), "a victim is still stopped");
    const ended = await getRun(run.id);
    assert.equal(ended.state, "aborted");
    assert.equal(ended.abort?.reason, "halt");
  });

  test("an operator may retry reverts (POST /recover)", async () => {
    const r = await call("POST", "/api/v1/recover", operator);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { reverted: 0, unreverted: [] });
  });

  test("an operator launches, aborts and HALTs over socket.io with a session cookie", async () => {
    const s = await connect({ cookie: operator });
    const started = await command<{ runId: string }>(s, (ack) => s.emit("run:start", { yaml: experiment("socket-operator") }, ack));
    assert.ok(started.ok, JSON.stringify(started));
    await waitFor("the victims to be stopped", allStopped, 10_000);
    assert.deepEqual(await command(s, (ack) => s.emit("run:abort", { runId: started.runId }, ack)), { ok: true });
    assert.ok(noneStopped(), "a victim is still stopped after run:abort");
    assert.equal((await getRun(started.runId)).abort?.by, "olga");

    const again = await command<{ runId: string }>(s, (ack) => s.emit("run:start", { yaml: experiment("socket-operator-halt") }, ack));
    assert.ok(again.ok, JSON.stringify(again));
    await waitFor("the victims to be stopped", allStopped, 10_000);
    assert.deepEqual(await command(s, (ack) => s.emit("halt", {}, ack)), { ok: true, aborted: [again.runId] });
    assert.ok(noneStopped(), "a victim is still stopped after halt");
  });

  test("a viewer reads everything, but launch, abort, HALT and recover are 403 and the active run goes on", async () => {
    const run = await launch(operator, "viewer-watches");
    try {
      for (const p of ["/api/v1/auth/me", "/api/v1/runs", `/api/v1/runs/${run.id}`, `/api/v1/runs/${run.id}/events`, `/api/v1/runs/${run.id}/samples`, "/api/v1/changes", "/api/v1/experiments/examples"]) {
        assert.equal((await call("GET", p, viewer)).status, 200, `GET ${p}`);
      }
      assert.equal((await call("POST", "/api/v1/experiments/validate", viewer, { yaml: experiment("x") })).status, 200, "a viewer may validate");

      for (const [p, body] of [["/api/v1/runs", { yaml: experiment("viewer-launch") }], [`/api/v1/runs/${run.id}/abort`, {}], ["/api/v1/halt", {}], ["/api/v1/recover", {}]] as const) {
        const r = await call("POST", p, viewer, body);
        assert.equal(r.status, 403, `POST ${p}`);
        assert.deepEqual(await r.json(), { error: OPERATOR_ERROR, code: "forbidden" } satisfies ApiError, `POST ${p}`);
      }

      const s = await connect({ token: viewerToken });
      const refused = { ok: false, error: OPERATOR_ERROR, code: "forbidden" };
      assert.deepEqual(await command(s, (ack) => s.emit("run:start", { yaml: experiment("viewer-socket") }, ack)), refused);
      assert.deepEqual(await command(s, (ack) => s.emit("run:abort", { runId: run.id }, ack)), refused);
      assert.deepEqual(await command(s, (ack) => s.emit("halt", {}, ack)), refused);

      const still = await getRun(run.id);
      assert.equal(still.state, "running", "the viewer stopped the operator's run");
      assert.ok(allStopped(), "the viewer reverted the operator's faults");
    } finally {
      const r = await call("POST", `/api/v1/runs/${run.id}/abort`, operator);
      assert.equal(r.status, 200);
    }
    assert.ok(noneStopped(), "a victim is still stopped");
  });
});
