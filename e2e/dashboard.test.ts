// End to end in Debian's Chromium: log in, watch the live graph, launch the
// api-freeze experiment from the UI, see the fault badge, the automatic abort
// and the revert; save a screenshot. Then against `sleep` victims: the Abort
// button and the two-step HALT stop an active run and CONTinue the victims,
// the history links to the run page (faults table, timeline), which takes
// notes and the review and downloads the post-mortem PDF and the replay
// bundle (opened again at /runs/replay); a viewer's dashboard offers no
// enabled launch, HALT or Abort.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { API, type FaultCatalogue, type RunRecord } from "../lib/contract";
import { openDb } from "../lib/db";
import { createLogger } from "../lib/log";
import { listProcesses } from "../lib/procfs";
import { Auth } from "../worker/auth";
import { allStopped as allStoppedOf, apiCall, freezeExperiment, killHard, noneStopped as noneStoppedOf, ROOT, spawnVictims, startDemo, startWorkerProcess, tempDir, tempHome, waitFor, type DemoSystem, type WorkerProc, webArgs } from "./kit";

const BASE = 15_800;
const WORKER_PORT = 15_890;
const WEB_PORT = 15_891;
const SHOTS = path.join(ROOT, "test-results");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const WEB = `http://127.0.0.1:${WEB_PORT}`;

describe("dashboard in Chromium", { timeout: 240_000 }, () => {
  let demo: DemoSystem | undefined;
  let worker: WorkerProc | undefined;
  let web: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let home = "";
  // a probe target that stays healthy, so only the buttons end these runs
  let probe: http.Server | undefined;
  let probeUrl = "";
  const victims = spawnVictims(2);
  let haltedRunId = "";
  // what the pages' Content-Security-Policy blocked (inline styles or scripts the policy does not allow), on every page below
  const cspViolations: string[] = [];
  const watchCsp = (p: Page) => p.on("console", (m) => /Content Security Policy/i.test(m.text()) && cspViolations.push(`${p.url()}: ${m.text()}`));

  before(async () => {
    assert.ok(fs.existsSync(path.join(ROOT, ".next/BUILD_ID")), "the web app is not built: run `make test` (it builds first) or `npx next build`");
    assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium (make test does this as root)`);
    const dir = tempDir("gameday-e2e-");
    probe = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => probe!.listen(0, "127.0.0.1", r));
    probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
    demo = await startDemo(BASE, dir);
    home = tempHome();
    // the dashboard's origin is the one trusted page (the default assumes port 3000)
    worker = await startWorkerProcess(home, { topology: demo.topologyFile, port: WORKER_PORT, env: { GAMEDAY_ORIGINS: WEB } });
    web = spawn(process.execPath, webArgs(WEB_PORT), {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_WORKER_URL: `http://127.0.0.1:${WORKER_PORT}`, GAMEDAY_ORIGINS: WEB, NEXT_TELEMETRY_DISABLED: "1" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    await waitFor("the web app", async () => (await fetch(`http://127.0.0.1:${WEB_PORT}/login`)).status === 200, 60_000, 250);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    watchCsp(page);
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await killHard(web);
    await worker?.stop();
    await demo?.stop();
    await victims.stop();
    probe?.closeAllConnections();
    probe?.close();
  });

  const victimsYaml = (name: string) => freezeExperiment(name, `{ process: { cmdline: '${victims.regex}' }, mode: all }`, probeUrl);
  const allStopped = () => allStoppedOf(victims.children);
  const noneStopped = () => noneStoppedOf(victims.children);
  const text = async (p: Page, sel: string) => ((await p.textContent(sel, { timeout: 5000 })) ?? "").trim();
  const waitText = (p: Page, sel: string, re: RegExp, timeout = 15_000) =>
    p.waitForFunction(([s, src]) => new RegExp(src).test(document.querySelector(s)?.textContent ?? ""), [sel, re.source] as const, { timeout });

  /** Launch from the UI; resolves once the current-run panel shows it running with both victims stopped. */
  async function launchFromUi(name: string): Promise<string> {
    await page.fill("[data-testid=experiment-yaml]", victimsYaml(name));
    await page.click("[data-testid=launch]");
    await waitText(page, "[data-testid=current-run] [data-testid=run-name]", new RegExp(`^${name}$`));
    await waitText(page, "[data-testid=current-run] [data-testid=run-state]", /^running$/);
    await waitFor("the victims to be stopped", allStopped, 10_000);
    await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=current-run] [data-testid=faults] tbody tr")].filter((r) => r.textContent?.includes("injected")).length === 2, null, { timeout: 10_000 });
    return (await page.getAttribute("[data-testid=current-run] [data-testid=run]", "data-run-id"))!;
  }

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

  test("Validate shows the plan: exactly which processes a run would hit, touching none", async () => {
    await page.fill("[data-testid=experiment-yaml]", victimsYaml("ui-plan"));
    await page.click("[data-testid=validate]");
    await page.waitForSelector("[data-testid=launch-plan]", { timeout: 10_000 });
    const plan = (await page.textContent("[data-testid=launch-plan]")) ?? "";
    assert.match(plan, /process-kill on victims: 2 of 2 matched/);
    for (const c of victims.children) assert.match(plan, new RegExp(`\\b${c.pid}\\b`), `PID ${c.pid} in the plan: ${plan}`);
    assert.ok(noneStopped(), "validating stops nothing");
  });

  test("the fault catalogue: every fault by family with its availability; Use fills the launch panel, Validate shows the plan", async () => {
    const { body: cat } = await apiCall<FaultCatalogue>(worker!, "GET", API.faults);
    await page.click("[data-testid=nav-faults]");
    await page.waitForSelector("[data-testid=catalogue-panel] [data-testid=fault-process-kill]", { timeout: 15_000 });
    const shown = await page.$$eval("[data-testid=fault-catalogue] article[data-available]", (as) => as.map((a) => [a.getAttribute("data-testid"), a.getAttribute("data-available")]));
    assert.deepEqual(shown.sort(), cat.faults.map((f) => [`fault-${f.name}`, String(f.available)]).sort(), "the page shows what the API lists");
    for (const f of cat.faults.filter((x) => !x.available)) assert.equal(await text(page, `[data-testid=fault-reason-${f.name}]`), f.reason);
    assert.ok(await page.$("[data-testid=family-process] [data-testid=fault-process-kill]"), "process-kill is filed under processes");
    await page.click("[data-testid=fault-process-kill] summary");
    assert.match(await text(page, "[data-testid=params-process-kill]"), /signal.*KILL \| TERM \| INT \| STOP.*KILL/);

    // Use: the example file, as it is
    await page.click("[data-testid=use-process-kill]");
    await waitText(page, "[data-testid=launch-source]", /process-kill, examples\/api-freeze\.yaml/);
    assert.equal(await page.inputValue("[data-testid=experiment-yaml]"), fs.readFileSync(path.join(ROOT, "examples/api-freeze.yaml"), "utf8"));
    await page.click("[data-testid=validate]");
    await page.waitForSelector("[data-testid=launch-plan]", { timeout: 10_000 });
    assert.match(await text(page, "[data-testid=launch-plan]"), /process-kill on api: 3 of 3 matched/);

    // a node picked in the graph: the experiment written from the schema aims at it, one instance
    await page.click("[data-testid=node-api]");
    await page.waitForSelector("[data-testid=node-api][data-picked=true]", { timeout: 5000 });
    await waitText(page, "[data-testid=catalogue-node]", /aim at node api/);
    await page.click("[data-testid=generate-process-kill]");
    await waitText(page, "[data-testid=launch-source]", /written from the schema for node api/);
    const yaml = await page.inputValue("[data-testid=experiment-yaml]");
    assert.match(yaml, /node: api\n\s+mode: one/);
    await page.click("[data-testid=validate]");
    await page.waitForSelector("[data-testid=launch-plan]", { timeout: 10_000 });
    assert.match(await text(page, "[data-testid=launch-plan]"), /process-kill on api: 1 of 3 matched/);
    await page.screenshot({ path: path.join(SHOTS, "dashboard-catalogue.png"), fullPage: true });
    assert.ok(noneStopped(), "the catalogue and validate stop nothing");
    await page.click("[data-testid=node-api]");
    await page.waitForSelector("[data-testid=node-api][data-picked=false]", { timeout: 5000 });
    await page.click("[data-testid=catalogue-close]");
  });

  test("the Abort button aborts the current run and CONTinues the victims", async () => {
    const id = await launchFromUi("ui-abort");
    await page.click("[data-testid=abort-run]");
    await waitText(page, "[data-testid=current-run] [data-testid=run-state]", /^aborted$/);
    assert.equal(await text(page, "[data-testid=current-run] [data-testid=abort-reason]"), "manual: aborted by admin");
    assert.ok(noneStopped(), "a victim is still stopped after Abort");
    await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=current-run] [data-testid=faults] tbody tr")].filter((r) => r.textContent?.includes("reverted")).length === 2, null, { timeout: 10_000 });
    assert.equal(await page.$("[data-testid=abort-run]"), null, "no Abort button once the run ended");
    const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${id}`);
    assert.deepEqual([body.run.state, body.run.abort?.reason], ["aborted", "manual"]);
  });

  test("HALT takes two clicks and halts the active run", async () => {
    const id = await launchFromUi("ui-halt");
    await page.click("[data-testid=halt]");
    await page.waitForSelector("[data-testid=halt-confirm]", { timeout: 5000 });
    // the first click only arms it
    assert.equal(await text(page, "[data-testid=current-run] [data-testid=run-state]"), "running");
    assert.ok(allStopped(), "the first HALT click already reverted");
    await page.click("[data-testid=halt-confirm]");
    await waitText(page, "[data-testid=halt-result]", new RegExp(`^halted: aborted ${id}$`));
    assert.ok(noneStopped(), "a victim is still stopped after HALT");
    await waitText(page, "[data-testid=current-run] [data-testid=run-state]", /^aborted$/);
    assert.equal(await text(page, "[data-testid=current-run] [data-testid=abort-reason]"), "halt: HALT by admin");
    await page.waitForSelector("[data-testid=halt]:not([disabled])", { timeout: 5000 });
    haltedRunId = id;
  });

  test("the history links to the run page, which shows the faults table and the timeline", async () => {
    assert.ok(haltedRunId, "needs the HALT test's run");
    await page.click(`[data-testid=history-link-${haltedRunId}]`);
    await page.waitForURL(`${WEB}/runs/${haltedRunId}`, { timeout: 15_000 });
    const replay = "[data-testid=run-replay]";
    await waitText(page, `${replay} [data-testid=run-id]`, new RegExp(`^${haltedRunId}$`));
    assert.equal(await text(page, `${replay} [data-testid=run-name]`), "ui-halt");
    assert.equal(await text(page, `${replay} [data-testid=run-state]`), "aborted");
    assert.equal(await text(page, `${replay} [data-testid=abort-reason]`), "halt: HALT by admin");
    const rows = await page.$$eval(`${replay} [data-testid=faults] tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim() ?? "")));
    assert.equal(rows.length, 2, JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => r[0]).sort(), victims.children.map((c) => `sleep[${c.pid}]`).sort());
    for (const [, fault, state, verified] of rows) {
      assert.match(fault, /^process-kill/);
      assert.equal(state, "reverted");
      assert.equal(verified, "✓ yes");
    }
    await page.waitForSelector(`${replay} [data-testid=timeline] li[data-kind=run-ended]`, { timeout: 10_000 });
    const kinds = await page.$$eval(`${replay} [data-testid=timeline] li[data-kind]`, (lis) => lis.map((li) => li.getAttribute("data-kind")));
    for (const k of ["run-started", "steady-state-before", "injected", "abort", "reverted", "run-ended"]) assert.ok(kinds.includes(k), `no ${k} in the timeline: ${kinds}`);
    assert.ok(kinds.indexOf("run-started") < kinds.indexOf("injected") && kinds.indexOf("injected") < kinds.indexOf("abort") && kinds.indexOf("abort") < kinds.lastIndexOf("run-ended"), `out of order: ${kinds}`);
    await page.screenshot({ path: path.join(SHOTS, "run-page.png"), fullPage: true });
  });

  test("the run page takes a note and the review, downloads its post-mortem PDF and replay bundle, and the bundle opens again", async () => {
    await page.goto(`${WEB}/runs/${haltedRunId}`);
    await page.waitForSelector("[data-testid=post-mortem] [data-testid=download-pdf]", { timeout: 15_000 });
    await page.fill("[data-testid=note-text]", "both victims froze at once");
    await page.click("[data-testid=note-add]");
    await waitText(page, "[data-testid=notes]", /admin: both victims froze at once/);
    // a note from elsewhere (what `gameday note` sends) shows up live, without a reload
    const cliNote = await apiCall(worker!, "POST", API.runNotes(haltedRunId), { text: "seen from the terminal" });
    assert.equal(cliNote.status, 201, JSON.stringify(cliNote.body));
    await waitText(page, "[data-testid=notes]", /: seen from the terminal/);
    await page.fill("[data-testid=review-learned]", "HALT reverts everything in one click.");
    await page.fill("[data-testid=review-actions]", "- keep HALT within reach");
    await page.click("[data-testid=review-save]");
    await waitText(page, "[data-testid=post-mortem-status]", /^Saved/);
    const dir = tempDir("gameday-e2e-download-");
    const [pdf] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), page.click("[data-testid=download-pdf]")]);
    assert.equal(pdf.suggestedFilename(), `gameday-${haltedRunId}.pdf`);
    const file = path.join(dir, "report.pdf");
    await pdf.saveAs(file);
    assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), "%PDF-", "the download is a PDF");
    const { stdout } = await promisify(execFile)("pdftotext", [file, "-"]);
    const flat = stdout.replace(/\s+/g, " ");
    for (const s of ["ui-halt", "admin: both victims froze at once", "HALT reverts everything in one click.", "keep HALT within reach"]) assert.ok(flat.includes(s), `the PDF lacks "${s}"`);
    const [bundle] = await Promise.all([page.waitForEvent("download", { timeout: 30_000 }), page.click("[data-testid=download-bundle]")]);
    const bundleFile = path.join(dir, "bundle.json");
    await bundle.saveAs(bundleFile);
    await page.goto(`${WEB}/runs/replay`);
    await page.setInputFiles("[data-testid=bundle-file]", bundleFile);
    await waitText(page, "[data-testid=run-replay] [data-testid=run-id]", new RegExp(`^${haltedRunId}$`));
    assert.equal(await text(page, "[data-testid=run-replay] [data-testid=run-state]"), "aborted");
    // a changed bundle is refused, naming the file that no longer matches
    const tampered = JSON.parse(fs.readFileSync(bundleFile, "utf8")) as { files: Record<string, string> };
    tampered.files["events.json"] = "[]";
    const tamperedFile = path.join(dir, "tampered.json");
    fs.writeFileSync(tamperedFile, JSON.stringify(tampered));
    await page.setInputFiles("[data-testid=bundle-file]", tamperedFile);
    await waitText(page, "[data-testid=bundle-error]", /events\.json does not match its sha256/);
  });

  test("a viewer's dashboard has launch, HALT and Abort disabled, with the role hint", async () => {
    const db = await openDb(`file:${path.join(home, "gameday.db")}`);
    try {
      await new Auth(db, createLogger({}, () => undefined)).createUser("vera", "viewer-password", "viewer");
    } finally {
      await db.$disconnect();
    }
    let ctx: BrowserContext | undefined;
    let runId = "";
    try {
      ctx = await browser!.newContext({ viewport: { width: 1440, height: 1000 } });
      const v = await ctx.newPage();
      watchCsp(v);
      await v.goto(`${WEB}/login`);
      await v.fill("input[name=username]", "vera");
      await v.fill("input[name=password]", "viewer-password");
      await v.click("[data-testid=login-submit]");
      await v.waitForURL(`${WEB}/`, { timeout: 15_000 });
      await waitText(v, "[data-testid=user]", /^vera\s*viewer$/);
      await waitText(v, "[data-testid=live-status]", /^live$/);
      const halt = v.locator("[data-testid=halt]");
      assert.equal(await halt.isDisabled(), true, "HALT is enabled for a viewer");
      assert.equal(await halt.getAttribute("title"), "HALT needs the operator role");
      // with YAML present, only the role keeps Launch disabled
      await v.fill("[data-testid=experiment-yaml]", victimsYaml("viewer-launch"));
      const launch = v.locator("[data-testid=launch]");
      assert.equal(await launch.isDisabled(), true, "Launch is enabled for a viewer");
      assert.equal(await launch.getAttribute("title"), "Launching needs the operator role");
      assert.equal(await v.isEnabled("[data-testid=validate]"), true, "a viewer may validate");

      // an operator's run appears live; the viewer's Abort is disabled too
      const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml: victimsYaml("operator-run") });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      runId = r.body.run.id;
      await waitFor("the victims to be stopped", allStopped, 10_000);
      await waitText(v, "[data-testid=current-run] [data-testid=run-state]", /^running$/);
      assert.equal(await v.getAttribute("[data-testid=current-run] [data-testid=run]", "data-run-id"), runId);
      const abort = v.locator("[data-testid=abort-run]");
      assert.equal(await abort.isDisabled(), true, "Abort is enabled for a viewer");
      assert.equal(await abort.getAttribute("title"), "Aborting needs the operator role");
      await v.screenshot({ path: path.join(SHOTS, "dashboard-viewer.png") });
      assert.equal((await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${runId}`)).body.run.state, "running");
    } finally {
      if (runId) await apiCall(worker!, "POST", `/api/v1/runs/${runId}/abort`);
      await ctx?.close();
    }
    assert.ok(noneStopped(), "a victim is still stopped");
  });

  test("nothing on the pages above broke their Content-Security-Policy (graph, launch panel, catalogue, history, run page, viewer); a style element injected into the page is refused", async () => {
    assert.deepEqual(cspViolations, []);
    await page.goto(`${WEB}/`);
    await waitText(page, "[data-testid=live-status]", /^live$/);
    const applied = await page.evaluate(() => {
      const el = document.createElement("style");
      el.textContent = "body { outline: 7px solid rgb(255, 0, 0) }";
      document.head.append(el);
      return getComputedStyle(document.body).outlineWidth;
    });
    assert.notEqual(applied, "7px", "an injected <style> applied");
    // Chromium's words: "Applying inline style violates …" (older: "Refused to apply inline style …")
    await waitFor("the refusal in the console", () => cspViolations.some((v) => /inline style .*style-src/.test(v)), 5000);
  });
});
