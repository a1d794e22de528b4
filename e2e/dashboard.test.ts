// End to end in Debian's Chromium: log in, watch the live graph, launch the
// api-freeze experiment from the UI, see the fault badge, the automatic abort
// and the revert; save a screenshot.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { listProcesses } from "../lib/procfs";
import { killHard, ROOT, startDemo, startWorkerProcess, tempDir, tempHome, waitFor, type DemoSystem, type WorkerProc } from "./kit";

const BASE = 15_800;
const WORKER_PORT = 15_890;
const WEB_PORT = 15_891;
const SHOTS = path.join(ROOT, "test-results");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

describe("dashboard in Chromium", { timeout: 180_000 }, () => {
  let demo: DemoSystem | undefined;
  let worker: WorkerProc | undefined;
  let web: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;

  before(async () => {
    assert.ok(fs.existsSync(path.join(ROOT, ".next/BUILD_ID")), "the web app is not built: run `make test` (it builds first) or `npx next build`");
    assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium (make test does this as root)`);
    const dir = tempDir("gameday-e2e-");
    demo = await startDemo(BASE, dir);
    worker = await startWorkerProcess(tempHome(), { topology: demo.topologyFile, port: WORKER_PORT });
    web = spawn(process.execPath, [path.join(ROOT, "node_modules/next/dist/bin/next"), "start", "-p", String(WEB_PORT), "-H", "127.0.0.1"], {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_WORKER_URL: `http://127.0.0.1:${WORKER_PORT}`, NEXT_TELEMETRY_DISABLED: "1" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    await waitFor("the web app", async () => (await fetch(`http://127.0.0.1:${WEB_PORT}/login`)).status === 200, 60_000, 250);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await killHard(web);
    await worker?.stop();
    await demo?.stop();
  });

  test("a wrong password is refused on the login page", async () => {
    await page.goto(`http://127.0.0.1:${WEB_PORT}/login`);
    await page.fill("input[name=username]", "admin");
    await page.fill("input[name=password]", "wrong");
    await page.click("[data-testid=login-submit]");
    await page.waitForSelector("[data-testid=login-error]", { timeout: 10_000 });
  });

  test("log in and watch the live graph update", async () => {
    await page.fill("input[name=username]", "admin");
    await page.fill("input[name=password]", "test-admin-pw");
    await page.click("[data-testid=login-submit]");
    await page.waitForURL(`http://127.0.0.1:${WEB_PORT}/`, { timeout: 15_000 });
    for (const n of ["frontend", "api", "db"]) await page.waitForSelector(`[data-testid=node-${n}]`, { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelector("[data-testid=live-status]")?.textContent?.includes("live"), null, { timeout: 15_000 });
    const first = await page.waitForFunction(() => /\d+(\.\d+)?%/.test(document.querySelector("[data-testid=sli-frontend]")?.textContent ?? "") && document.querySelector("[data-testid=sli-frontend]")!.textContent, null, { timeout: 20_000 });
    assert.match(String(await first.jsonValue()), /3\/3|1\/1/);
    assert.match((await page.textContent("[data-testid=sli-api]")) ?? "", /3\/3 up/);
  });

  test("launch api-freeze from the UI: badge, automatic abort, everything reverted", async () => {
    const yaml = fs.readFileSync(path.join(ROOT, "examples/api-freeze.yaml"), "utf8").replaceAll("127.0.0.1:4100", `127.0.0.1:${BASE}`);
    await page.fill("[data-testid=experiment-yaml]", yaml);
    await page.click("[data-testid=launch]");
    await page.waitForSelector("[data-testid=node-api][data-fault=true]", { timeout: 20_000 });
    await page.waitForSelector("[data-testid=fault-badge-api]", { timeout: 5000 });
    assert.match((await page.textContent("[data-testid=fault-badge-api]")) ?? "", /process-kill/);
    await page.screenshot({ path: path.join(SHOTS, "dashboard-under-fault.png") });
    await page.waitForFunction(() => document.querySelector("[data-testid=run-state]")?.textContent?.trim() === "aborted", null, { timeout: 30_000 });
    assert.match((await page.textContent("[data-testid=abort-reason]")) ?? "", /steady-state/);
    await page.waitForSelector("[data-testid=node-api][data-fault=false]", { timeout: 10_000 });
    await page.screenshot({ path: path.join(SHOTS, "dashboard-aborted.png"), fullPage: true });
    assert.ok(fs.statSync(path.join(SHOTS, "dashboard-aborted.png")).size > 10_000);
    const stopped = listProcesses().filter((p) => new RegExp(`--cluster demo-${BASE} --node api( |$)`).test(p.cmdline) && p.state === "T");
    assert.deepEqual(stopped, []);
  });

  test("validation errors from the UI name the field", async () => {
    await page.fill("[data-testid=experiment-yaml]", "apiVersion: gameday/v1\nkind: Experiment\nmetadata: { name: x }\nspec: { hypothesis: h }\n");
    await page.click("[data-testid=validate]");
    await page.waitForSelector("[data-testid=launch-errors]", { timeout: 10_000 });
    assert.match((await page.textContent("[data-testid=launch-errors]")) ?? "", /spec\.targets/);
  });
});
