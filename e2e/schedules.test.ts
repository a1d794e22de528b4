// The dashboard's Schedules page in Debian's Chromium against a worker
// process: the form previews the next ten fire times before it can save,
// the saved schedule is listed with its next fire time, can be paused and
// edited;
// a schedule that fires shows its slots, and the history says the run was
// launched by a schedule, not a person.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import type { ScheduleInfo, ScheduleSlotInfo } from "../lib/contract";
import { apiCall, freezeExperiment, killHard, ROOT, spawnVictims, startWorkerProcess, tempHome, waitFor, type WorkerProc, webArgs } from "./kit";

const WEB_PORT = 16_351;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = !fs.existsSync(path.join(ROOT, ".next/BUILD_ID"))
  ? "the web app is not built (make test builds it first)"
  : !fs.existsSync(CHROMIUM)
    ? `no Chromium at ${CHROMIUM} (apt-get install chromium)`
    : undefined;

describe("schedules page in Chromium", { skip, timeout: 180_000 }, () => {
  let worker: WorkerProc | undefined;
  let web: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const cspViolations: string[] = [];
  let probe: http.Server | undefined;
  let probeUrl = "";
  const victims = spawnVictims(1);

  before(async () => {
    probe = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => probe!.listen(0, "127.0.0.1", r));
    probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
    // the dashboard's origin is the one trusted page (the default assumes port 3000)
    const origin = `http://127.0.0.1:${WEB_PORT}`;
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "200", GAMEDAY_ORIGINS: origin } });
    web = spawn(process.execPath, webArgs(WEB_PORT), {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_WORKER_URL: worker.url, GAMEDAY_ORIGINS: origin, NEXT_TELEMETRY_DISABLED: "1" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    await waitFor("the web app", async () => (await fetch(`http://127.0.0.1:${WEB_PORT}/login`)).status === 200, 60_000, 250);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on("console", (m) => /Content Security Policy/i.test(m.text()) && cspViolations.push(m.text()));
    await page.goto(`http://127.0.0.1:${WEB_PORT}/login`);
    await page.fill("input[name=username]", "admin");
    await page.fill("input[name=password]", "test-admin-pw");
    await page.click("[data-testid=login-submit]");
    await page.waitForURL(`http://127.0.0.1:${WEB_PORT}/`, { timeout: 15_000 });
  });
  after(async () => {
    await browser?.close();
    await killHard(web);
    await worker?.stop();
    await victims.stop();
    probe?.close();
  });

  const yaml = (name: string, duration = "60s") => freezeExperiment(name, `{ process: { cmdline: '${victims.regex}' }, mode: all }`, probeUrl).replace("duration: 60s", `duration: ${duration}`);

  test("preview the next ten fire times, save, see it listed, pause it", async () => {
    await page.goto(`http://127.0.0.1:${WEB_PORT}/schedules`);
    await page.fill("[data-testid=schedule-name]", "tuesdays");
    await page.fill("[data-testid=schedule-cron]", "0 14 * * 2");
    await page.fill("[data-testid=schedule-timezone]", "Europe/Berlin");
    await page.fill("[data-testid=schedule-yaml]", yaml("from-the-form"));
    assert.equal(await page.isDisabled("[data-testid=schedule-save]"), true, "no save before a preview");
    await page.click("[data-testid=schedule-preview]");
    await page.waitForSelector("[data-testid=schedule-next] li", { timeout: 10_000 });
    assert.equal(await page.locator("[data-testid=schedule-next] li").count(), 10);
    await page.click("[data-testid=schedule-save]");
    await page.waitForSelector("[data-testid=schedule-tuesdays]", { timeout: 10_000 });
    assert.match((await page.textContent("[data-testid=schedule-tuesdays]")) ?? "", /0 14 \* \* 2\s*Europe\/Berlin[\s\S]*next /);
    await page.click("[data-testid=schedule-tuesdays] >> text=Pause");
    await page.waitForFunction(() => /paused/.test(document.querySelector("[data-testid=schedule-tuesdays]")?.textContent ?? ""), null, { timeout: 10_000 });
    const { body } = await apiCall<{ schedule: ScheduleInfo }>(worker!, "GET", "/api/v1/schedules/tuesdays");
    assert.equal(body.schedule.paused, true);
  });

  /** The form's error list, "" when there is none (a locator's textContent() would wait its whole timeout for one). */
  const errorsShown = async () => {
    const errors = page.locator("[data-testid=schedule-errors]");
    return (await errors.count()) ? ((await errors.textContent()) ?? "?") : "";
  };

  test("edit: the saved schedule loads into the form, a new cron is previewed and saved", async () => {
    await page.click("[data-testid=schedule-tuesdays] >> text=Edit");
    // the form after the first test still holds what was typed there: wait for the edit itself
    await page.waitForFunction(() => document.querySelector("[data-testid=schedule-save]")?.textContent === "Save changes to tuesdays", null, { timeout: 10_000 });
    assert.equal(await page.inputValue("[data-testid=schedule-cron]"), "0 14 * * 2");
    assert.match(await page.inputValue("[data-testid=schedule-yaml]"), /name: from-the-form/);
    await page.fill("[data-testid=schedule-cron]", "30 9 * * 3");
    await page.click("[data-testid=schedule-preview]");
    await page.waitForSelector("[data-testid=schedule-next] li, [data-testid=schedule-errors]", { timeout: 10_000 });
    assert.equal(await errorsShown(), "");
    await page.click("[data-testid=schedule-save]");
    await page.waitForFunction(() => /30 9 \* \* 3/.test(document.querySelector("[data-testid=schedule-tuesdays]")?.textContent ?? "") || document.querySelector("[data-testid=schedule-errors]"), null, { timeout: 10_000 });
    assert.equal(await errorsShown(), "");
    const { body } = await apiCall<{ schedule: ScheduleInfo }>(worker!, "GET", "/api/v1/schedules/tuesdays");
    assert.equal(body.schedule.cron, "30 9 * * 3");
    assert.equal(body.schedule.timezone, "Europe/Berlin", "what was not changed stays");
  });

  test("a bad cron is refused with the field named", async () => {
    await page.fill("[data-testid=schedule-name]", "broken");
    await page.fill("[data-testid=schedule-yaml]", yaml("broken"));
    await page.fill("[data-testid=schedule-cron]", "every tuesday");
    await page.click("[data-testid=schedule-preview]");
    await page.waitForSelector("[data-testid=schedule-errors]", { timeout: 10_000 });
    assert.match((await page.textContent("[data-testid=schedule-errors]")) ?? "", /^cron: /);
  });

  test("a schedule that fires: its slots on the page, and the history says a schedule launched the run", async () => {
    const r = await apiCall<{ schedule: ScheduleInfo }>(worker!, "POST", "/api/v1/schedules", { name: "every-2s", yaml: yaml("scheduled", "2s"), cron: "*/2 * * * * *" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const launched = await waitFor(
      "a launched slot",
      async () => (await apiCall<{ slots: ScheduleSlotInfo[] }>(worker!, "GET", "/api/v1/schedules/every-2s")).body.slots.find((s) => s.outcome === "launched"),
      20_000,
      250,
    );
    await apiCall(worker!, "POST", "/api/v1/schedules/every-2s/pause");
    await page.goto(`http://127.0.0.1:${WEB_PORT}/schedules`);
    await page.click("[data-testid=schedule-every-2s] >> text=every-2s");
    await page.waitForSelector(`[data-testid=slots-${r.body.schedule.id}] >> text=${launched.runId}`, { timeout: 10_000 });
    await page.goto(`http://127.0.0.1:${WEB_PORT}/`);
    await page.waitForSelector(`[data-testid=launched-by-${launched.runId}]`, { timeout: 15_000 });
    assert.equal((await page.textContent(`[data-testid=launched-by-${launched.runId}]`))?.trim(), "schedule every-2s");
    await apiCall(worker!, "POST", "/api/v1/halt");
  });

  test("the schedules page broke nothing of its Content-Security-Policy", () => {
    assert.deepEqual(cspViolations, []);
  });
});
