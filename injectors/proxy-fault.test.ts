// proxy-toxic and http-fault as experiment steps in a real worker process:
// the proxies are changes through the executor (journaled, reverted at the
// end of their step with the evidence of what they touched in the run's
// events), and a SIGKILLed worker leaves no proxy listening — its reaper
// reverts, the restarted worker records it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RunRecord } from "../lib/contract";
import { apiCall, startWorkerProcess, tempHome, waitFor, type WorkerProc } from "../e2e/kit";
import { listening, rtt, startEcho, startWeb } from "../e2e/loopback";

const home = tempHome("gameday-proxyfault-");
let worker: WorkerProc | undefined;
let echo: Awaited<ReturnType<typeof startEcho>>;
let web: Awaited<ReturnType<typeof startWeb>>;
let echoPort = 0;
let webPort = 0;
const P = { tcp: 16441, http: 16442 };

before(async () => {
  echo = await startEcho();
  echoPort = echo.port;
  web = await startWeb("ok");
  webPort = web.port;
});

after(async () => {
  await worker?.stop("SIGKILL");
  echo.close();
  web.close();
});

const experiment = (name: string, duration: string) => `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: the web server answers while its clients go through chaos proxies
  targets:
    db: { network: { dst: 127.0.0.1, dstPort: ${echoPort} } }
    web: { network: { dst: 127.0.0.1, dstPort: ${webPort} } }
  steadyState: { probes: [ { name: up, type: http, url: "http://127.0.0.1:${webPort}/", interval: 100ms, tolerance: { min: 0.5 } } ] }
  method:
    - fault: proxy-toxic
      target: db
      duration: ${duration}
      params: { listen: "127.0.0.1:${P.tcp}", toxics: [ { type: latency, attributes: { latency: 250 } } ] }
    - fault: http-fault
      target: web
      duration: ${duration}
      params: { listen: "127.0.0.1:${P.http}", toxics: [ { type: http_status, toxicity: 1, attributes: { status: 503, retry_after: 1 } } ] }
`;

describe("proxy faults in experiments", { timeout: 120_000 }, () => {
  test("both proxies in place during their steps, gone after, with what they touched in the run's events", async () => {
    worker = await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
    const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml: experiment("proxy-steps", "4s") });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await waitFor("both proxies", async () => (await listening(P.tcp)) && (await listening(P.http)), 20_000);
    assert.ok((await rtt(P.tcp)) >= 250, "latency toxic in the path");
    const res = await fetch(`http://127.0.0.1:${P.http}/`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    await waitFor(
      "the run to end",
      async () => {
        const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${r.body.run.id}`);
        return ["completed", "aborted", "failed"].includes(body.run.state) && body.run;
      },
      30_000,
      200,
    );
    assert.equal(await listening(P.tcp), false);
    assert.equal(await listening(P.http), false);
    const ev = await apiCall<{ events: { kind: string; message: string }[] }>(worker, "GET", `/api/v1/runs/${r.body.run.id}/events`);
    const text = ev.body.events.map((e) => `${e.kind}: ${e.message}`).join("\n");
    assert.match(text, /latency_downstream: seen \d+, matched \d+, faulted [1-9]/, text);
    assert.match(text, /http_status_downstream: seen \d+, matched \d+, faulted [1-9]/, text);
  });

  test("a run whose proxies faulted nothing is inconclusive, not held", async () => {
    worker ??= await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
    const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml: experiment("proxy-idle", "1s") });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run: RunRecord = await waitFor(
      "the run to end",
      async () => {
        const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${r.body.run.id}`);
        return ["completed", "aborted", "failed"].includes(body.run.state) ? body.run : null;
      },
      30_000,
      200,
    );
    assert.equal(run.state, "completed");
    assert.equal(run.hypothesisHeld, null, "not tested, so not held");
    const ev = await apiCall<{ events: { kind: string; message: string }[] }>(worker, "GET", `/api/v1/runs/${r.body.run.id}/events`);
    assert.ok(ev.body.events.some((e) => e.kind === "run-ended" && /inconclusive: .*touched nothing/.test(e.message)), JSON.stringify(ev.body.events.map((e) => e.message)));
  });

  test("worker SIGKILL mid-fault: no proxy listening within 2 s; the restarted worker finds nothing left", async () => {
    worker ??= await startWorkerProcess(home, { env: { GAMEDAY_WARMUP_MS: "300" } });
    const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml: experiment("proxy-crash", "10m") });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await waitFor("both proxies", async () => (await listening(P.tcp)) && (await listening(P.http)), 20_000);
    await worker.stop("SIGKILL");
    worker = undefined;
    const t0 = performance.now();
    await waitFor("the proxies to close", async () => !(await listening(P.tcp)) && !(await listening(P.http)), 2000, 20);
    assert.ok(performance.now() - t0 < 2000);
    worker = await startWorkerProcess(home);
    const { body } = await apiCall<{ run: RunRecord }>(worker, "GET", `/api/v1/runs/${r.body.run.id}`);
    assert.equal(body.run.state, "failed");
    for (const f of body.run.faults) assert.equal(f.state, "reverted", JSON.stringify(f));
  });
});
