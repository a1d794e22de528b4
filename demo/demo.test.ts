// The demo system as users will break it: real supervisor, real service
// processes on loopback, real signals. Every process signalled here is one this
// file started (a child of a supervisor it spawned); after() continues and kills
// whatever is left. Timing tolerances are stated where they are asserted.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { listProcesses, readProc, type ProcInfo } from "../lib/procfs";
import { parsePromText } from "../lib/promtext";
import { parseTopology } from "../lib/topology";
import { EXIT_WITH_PARENT, sleep, waitFor } from "../e2e/kit";
import { startLoad } from "./loadgen";
import { demoTopologyYaml, selectorRegex } from "./topology";

const BASE = 15_400; // under load; SIGKILL, SIGSTOP and SIGTERM tests
const QUIET_BASE = 15_450; // no load, so counters move only when we ask; its supervisor gets SIGKILLed
const HERE = import.meta.dirname;
const RESTART_DELAY_MS = 300;

interface Event {
  msg: string;
  node?: string;
  port?: number;
  pid?: number;
  signal?: string | null;
  [k: string]: unknown;
}

interface Sup {
  child: ChildProcess;
  base: number;
  cluster: string;
  events: Event[];
  /** every service process ever seen under this supervisor, by pid → start time */
  seen: Map<number, number>;
  exited: Promise<number | null>;
}

function startSupervisor(base: number, extra: string[]): Sup {
  const child = spawn(process.execPath, [...EXIT_WITH_PARENT, "--import", "tsx", path.join(HERE, "supervisor.ts"), "--base-port", String(base), "--restart-delay-ms", String(RESTART_DELAY_MS), ...extra], {
    // the services' info lines would drown the test report; GAMEDAY_LOG=debug brings them back
    env: { ...process.env, GAMEDAY_LOG: process.env.GAMEDAY_LOG ?? "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const sup: Sup = {
    child,
    base,
    cluster: `demo-${base}`,
    events: [],
    seen: new Map(),
    exited: new Promise((r) => child.once("exit", (code) => r(code))),
  };
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const l of lines) {
      try {
        sup.events.push(JSON.parse(l) as Event);
      } catch {
        // stdout is JSON lines only; anything else would fail the test that looks for it
      }
    }
  });
  return sup;
}

/** Live service processes of `sup` (ours by parentage, not just by a matching command line). */
function children(sup: Sup, node?: "frontend" | "api" | "db"): ProcInfo[] {
  const re = node ? new RegExp(selectorRegex(sup.cluster, node)) : new RegExp(`--cluster ${sup.cluster} --node (frontend|api|db)( |$)`);
  const out = listProcesses().filter((p) => p.ppid === sup.child.pid && re.test(p.cmdline) && p.state !== "Z");
  for (const p of out) sup.seen.set(p.pid, p.startTime);
  return out;
}

/** Still the same process and not a zombie (an orphan's zombie may wait a while for init to reap it). */
function alive(pid: number, startTime: number): boolean {
  const p = readProc(pid);
  return !!p && p.startTime === startTime && p.state !== "Z";
}

async function get(url: string, timeoutMs = 3000): Promise<{ status: number; ms: number; body: string; headers: Headers }> {
  const t0 = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.text();
  return { status: res.status, ms: performance.now() - t0, body, headers: res.headers };
}

async function requestsTotal(port: number, service: string): Promise<number> {
  const { body } = await get(`http://127.0.0.1:${port}/metrics`);
  return parsePromText(body)
    .filter((s) => s.name === "demo_http_requests_total" && s.labels.service === service)
    .reduce((sum, s) => sum + s.value, 0);
}

describe("demo system", { timeout: 60_000 }, () => {
  let main: Sup;
  let quiet: Sup;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-demo-test-"));
    main = startSupervisor(BASE, ["--write-topology", path.join(dir, "topology.yaml"), "--load-rps", "20"]);
    quiet = startSupervisor(QUIET_BASE, ["--no-load"]);
    await Promise.all(
      [main, quiet].map((s) => waitFor(`supervisor ${s.base} ready`, () => s.events.some((e) => e.msg === "ready") || s.child.exitCode !== null, 25_000)),
    );
    for (const s of [main, quiet]) {
      assert.equal(s.child.exitCode, null, `supervisor ${s.base} exited early: ${JSON.stringify(s.events)}`);
      assert.equal(children(s).length, 5);
    }
  });

  after(async () => {
    for (const s of [main, quiet]) {
      if (!s) continue;
      if (s.child.exitCode === null && s.child.signalCode === null) children(s);
      for (const [pid, st] of s.seen) {
        if (!alive(pid, st)) continue;
        try {
          process.kill(pid, "SIGCONT");
          process.kill(pid, "SIGKILL");
        } catch {
          // gone between the check and the signal
        }
      }
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("(a) ready: the frontend answers 200 and exports its request counter", async () => {
    const ready = main.events.find((e) => e.msg === "ready")!;
    assert.equal(ready.cluster, `demo-${BASE}`);
    const r = await get(`http://127.0.0.1:${BASE}/`);
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).node, "frontend");
    const { body } = await get(`http://127.0.0.1:${BASE}/metrics`);
    assert.match(body, /^demo_http_requests_total\{service="frontend",code="200"\} \d+$/m);
    assert.match(body, /^demo_http_request_duration_seconds_bucket\{le="0.001",service="frontend"\} \d+$/m);

    // --write-topology wrote the document for these ports, and its selectors find exactly our processes
    const written = fs.readFileSync(path.join(dir, "topology.yaml"), "utf8");
    assert.equal(written, demoTopologyYaml({ basePort: BASE, cluster: `demo-${BASE}` }));
    const topo = parseTopology(written);
    const api = topo.spec.nodes.find((n) => n.id === "api")!;
    const re = new RegExp(api.selector!.process.cmdline!);
    const matched = listProcesses().filter((p) => re.test(p.cmdline));
    assert.deepEqual(matched.map((p) => p.pid).sort(), children(main, "api").map((p) => p.pid).sort());
    assert.deepEqual(api.metrics, [1, 2, 3].map((i) => `http://127.0.0.1:${BASE + i}/metrics`));
  });

  test("(b) the checked-in topology.yaml is the generated one and is valid", () => {
    const text = fs.readFileSync(path.join(HERE, "topology.yaml"), "utf8");
    assert.equal(text, demoTopologyYaml({ basePort: 4100, cluster: "demo-4100" }), "regenerate: node --import tsx demo/topology.ts > demo/topology.yaml");
    const topo = parseTopology(text, "demo/topology.yaml");
    assert.equal(topo.metadata.name, "demo-shop");
    assert.deepEqual(
      topo.spec.nodes.map((n) => [n.id, n.label, n.kind, n.metrics.length, n.selector?.process.cmdline, n.sli?.match.service]),
      [
        ["frontend", "Frontend", "service", 1, "--cluster demo-4100 --node frontend( |$)", "frontend"],
        ["api", "API", "service", 3, "--cluster demo-4100 --node api( |$)", "api"],
        ["db", "Database", "database", 1, "--cluster demo-4100 --node db( |$)", "db"],
      ],
    );
    assert.deepEqual(topo.spec.edges, [
      { from: "frontend", to: "api" },
      { from: "api", to: "db" },
    ]);
  });

  test("/metrics and /healthz are not counted; each GET / is counted once per hop", async () => {
    const port = { frontend: QUIET_BASE, db: QUIET_BASE + 10 };
    const before = { frontend: await requestsTotal(port.frontend, "frontend"), db: await requestsTotal(port.db, "db") };
    for (let i = 0; i < 3; i++) {
      assert.equal((await get(`http://127.0.0.1:${port.frontend}/healthz`)).body, "ok");
      await get(`http://127.0.0.1:${port.frontend}/metrics`);
    }
    assert.equal(await requestsTotal(port.frontend, "frontend"), before.frontend);
    assert.equal((await get(`http://127.0.0.1:${port.frontend}/`)).status, 200);
    assert.equal(await requestsTotal(port.frontend, "frontend"), before.frontend + 1);
    assert.equal(await requestsTotal(port.db, "db"), before.db + 1);
  });

  test("(c) a SIGKILLed api instance is restarted by the supervisor", async () => {
    const [victim] = children(main, "api");
    const port = Number(/--port (\d+)/.exec(victim.cmdline)![1]);
    const t0 = Date.now();
    process.kill(victim.pid, "SIGKILL");
    const restarted = await waitFor(
      "a restarted event",
      () => main.events.find((e) => e.msg === "restarted" && e.port === port && e.pid !== victim.pid),
      5000,
    );
    const exited = main.events.find((e) => e.msg === "exited" && e.pid === victim.pid);
    assert.equal(exited?.signal, "SIGKILL");
    const h = await waitFor(
      "the new instance to answer /healthz",
      async () => {
        const r = await get(`http://127.0.0.1:${port}/healthz`, 1000);
        return r.status === 200 && r.headers.get("x-demo-pid") === String(restarted.pid) ? r : null;
      },
      5000,
    );
    assert.equal(h.body, "ok");
    assert.ok(Date.now() - t0 < 5000, `back within 5 s (took ${Date.now() - t0} ms)`);
    assert.ok(children(main, "api").some((p) => p.pid === restarted.pid), "the new pid matches the api selector");
    assert.equal(children(main, "api").length, 3);
  });

  test("(d) SIGSTOP of every api instance: the frontend fails fast; SIGCONT: it recovers, nothing restarted", async () => {
    const api = children(main, "api");
    assert.equal(api.length, 3);
    const exitedBefore = main.events.filter((e) => e.msg === "exited").length;
    try {
      for (const p of api) process.kill(p.pid, "SIGSTOP");
      await waitFor("all api instances stopped", () => api.every((p) => readProc(p.pid)?.state === "T"), 2000);
      for (let i = 0; i < 3; i++) {
        const r = await get(`http://127.0.0.1:${BASE}/`);
        assert.ok([502, 504].includes(r.status), `status ${r.status}: ${r.body}`);
        // upstream timeout is 250 ms; 1 s leaves room for a busy CI machine
        assert.ok(r.ms < 1000, `answered in ${Math.round(r.ms)} ms`);
      }
    } finally {
      for (const p of api) process.kill(p.pid, "SIGCONT");
    }
    await waitFor("the frontend to answer 200 again", async () => (await get(`http://127.0.0.1:${BASE}/`, 1000)).status === 200, 5000, 100);
    assert.deepEqual(children(main, "api").map((p) => p.pid).sort(), api.map((p) => p.pid).sort(), "a stopped process is alive: no restart");
    assert.equal(main.events.filter((e) => e.msg === "exited").length, exitedBefore);
  });

  test("(e) the load generator sends about 20 req/s, bounded, and only to loopback", async () => {
    assert.ok(main.events.some((e) => e.msg === "load-started" && e.rps === 20));
    const c0 = await requestsTotal(BASE, "frontend");
    await sleep(2000);
    const grew = (await requestsTotal(BASE, "frontend")) - c0;
    // 40 expected; wide bounds for scheduling jitter on a loaded machine
    assert.ok(grew >= 10 && grew <= 80, `frontend counter grew by ${grew} in 2 s`);

    const byCount = await startLoad({ url: `http://127.0.0.1:${QUIET_BASE}/`, rps: 200, maxRequests: 5 }).done;
    assert.equal(byCount.reason, "requests");
    assert.equal(byCount.stats.sent, 5);
    assert.equal(byCount.stats.ok, 5);
    const byTime = await startLoad({ url: `http://127.0.0.1:${QUIET_BASE}/`, rps: 10, maxDurationMs: 250 }).done;
    assert.equal(byTime.reason, "duration");
    assert.ok(byTime.stats.sent >= 1 && byTime.stats.sent <= 4, `sent ${byTime.stats.sent} in 250 ms at 10 req/s`);

    for (const url of ["http://192.0.2.1/", "http://localhost:4100/", "http://127.0.0.1.example.com/", "https://127.0.0.1/"]) {
      assert.throws(() => startLoad({ url, rps: 1 }), /loopback|http:\/\//, url);
    }
    const cli = spawn(process.execPath, ["--import", "tsx", path.join(HERE, "loadgen.ts"), "--url", "http://192.0.2.1/"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    cli.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => cli.once("exit", (c) => r(c)));
    assert.equal(code, 2);
    assert.match(err, /not a loopback address/);
  });

  test("services exit by themselves when their supervisor is SIGKILLed", async () => {
    const kids = children(quiet);
    assert.equal(kids.length, 5);
    quiet.child.kill("SIGKILL");
    await quiet.exited;
    // each service polls its parent pid once a second
    await waitFor("every orphaned service to exit", () => kids.every((p) => !alive(p.pid, p.startTime)), 4000, 100);
  });

  test("(f) SIGTERM: the supervisor stops every child within 5 s and exits 0", async () => {
    const kids = children(main);
    assert.equal(kids.length, 5);
    const t0 = Date.now();
    main.child.kill("SIGTERM");
    const code = await main.exited;
    assert.equal(code, 0);
    await waitFor("every child to be gone", () => kids.every((p) => !alive(p.pid, p.startTime)), Math.max(0, 5000 - (Date.now() - t0)), 50);
    const re = new RegExp(`--cluster demo-${BASE} --node `);
    assert.deepEqual(listProcesses().filter((p) => re.test(p.cmdline) && p.state !== "Z"), []);
    assert.ok(main.events.some((e) => e.msg === "stopped"));
  });
});
