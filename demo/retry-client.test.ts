// The seed's "retry spinner" outcome: an http-fault (gameday chaos-proxy
// --http, a separate process) answers 503 with Retry-After for half of the
// requests to a real HTTP server; a client without retries sees those
// failures, the demo retry client shows a spinner for each and every one of
// its requests succeeds in the end.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { killHard, ROOT, runCli, tempDir, waitFor } from "../e2e/kit";
import { listening, startWeb } from "../e2e/loopback";
import { fetchWithRetry, waitFor as retryWait } from "./retry-client";

const PORT = 16461;
const home = tempDir("gameday-retry-");
let web: Awaited<ReturnType<typeof startWeb>>;
let cli: ChildProcess | undefined;

before(async () => {
  web = await startWeb("page");
});

after(async () => {
  await killHard(cli, "SIGTERM");
  await runCli(["recover"], { GAMEDAY_HOME: home });
  web.close();
});

test("Retry-After and backoff", () => {
  assert.equal(retryWait("2", 1), 2000);
  assert.equal(retryWait(null, 1), 100);
  assert.equal(retryWait(null, 3), 400);
  assert.equal(retryWait(null, 10), 2000);
});

test("503 for half the requests: spinners, no failures, with retries; failures without", async () => {
  const upstream = `127.0.0.1:${web.port}`;
  const args = ["chaos-proxy", "--http", "--listen", `127.0.0.1:${PORT}`, "--upstream", upstream, "--toxic", "http_status,status=503,retry_after=0,toxicity=0.5", "--duration", "60s"];
  cli = spawn(process.execPath, [path.join(ROOT, "bin/gameday.mjs"), ...args], { cwd: ROOT, env: { ...process.env, GAMEDAY_HOME: home }, stdio: "ignore" });
  await waitFor("the proxy", () => listening(PORT), 20_000);
  const url = `http://127.0.0.1:${PORT}/`;
  let plainFailures = 0;
  for (let i = 0; i < 40; i++) if ((await fetch(url)).status === 503) plainFailures++;
  let spinners = 0;
  const results = [];
  for (let i = 0; i < 40; i++) results.push(await fetchWithRetry(url, { attempts: 12, onRetry: () => spinners++ }));
  // binomial(40, 0.5): 8..32 is beyond 3.8 sd; 12 attempts all failing: 1 in 4096 per request
  assert.ok(plainFailures >= 8 && plainFailures <= 32, `${plainFailures} of 40 plain requests failed`);
  assert.ok(spinners >= 8, `${spinners} spinners shown`);
  assert.ok(results.every((r) => r.ok && r.body === "page"), JSON.stringify(results.filter((r) => !r.ok)));
  assert.equal(results.reduce((s, r) => s + r.attempts - 1, 0), spinners);
});
