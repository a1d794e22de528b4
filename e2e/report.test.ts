// Post-mortems of real runs against the demo system: a completed run (one api
// instance frozen, the frontend holds) and an aborted one (every api instance
// frozen, the monitor aborts). Each PDF is written by the worker when the
// lead-out ends, fetched with `gameday report`, read back with pdftotext (the
// outcome sentence, the record's numbers, event times in order) and rendered
// with pdftoppm (every page; page 1 kept under test-results/).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { RunNote, RunRecord, TimelineEvent } from "../lib/contract";
import { formatValue } from "../components/chart/createSliChart";
import { utc } from "../components/report/Report";
import { PdfRenderer, ReportError } from "../report/pdf";
import { BUNDLE_FORMAT } from "../report/service";
import { apiCall, ROOT, runCli, spawnVictims, startDemo, startWorkerProcess, tempDir, tempHome, waitFor, type DemoSystem, type WorkerProc } from "./kit";

const run = promisify(execFile);
const BASE = 16_210;
const LEAD_OUT_MS = 2000;
const OUT = path.join(ROOT, "test-results");
const have = (bin: string) => ["/usr/bin", "/bin", "/usr/local/bin"].some((d) => fs.existsSync(path.join(d, bin)));
const missing = ["chromium", "pdftotext", "pdftoppm", "pdfinfo"].filter((b) => !have(b));
const skip = missing.length ? `needs ${missing.join(", ")} (apt-get install chromium poppler-utils)` : false;

function experiment(name: string, target: string, hypothesis: string, duration: string): string {
  return `apiVersion: gameday/v1
kind: Experiment
metadata: { name: ${name} }
spec:
  hypothesis: ${hypothesis}
  targets:
    victims: ${target}
  steadyState:
    probes:
      - { name: frontend-success, type: http, url: "http://127.0.0.1:${BASE}/", timeout: 500ms, interval: 100ms, window: 2s, measure: successRate, tolerance: { min: 0.95 }, for: 300ms }
  method:
    - { fault: process-kill, target: victims, params: { signal: STOP }, duration: ${duration} }
  rollback: always
`;
}

async function pdfText(file: string): Promise<string> {
  return (await run("pdftotext", ["-layout", file, "-"], { maxBuffer: 32 << 20 })).stdout;
}

/** Every page renders; page 1 is kept as a PNG. */
async function renderPages(file: string, name: string): Promise<number> {
  const pages = Number(/Pages:\s+(\d+)/.exec((await run("pdfinfo", [file])).stdout)?.[1]);
  const dir = tempDir("gameday-report-png-");
  await run("pdftoppm", ["-r", "40", "-png", file, path.join(dir, "p")]);
  const pngs = fs.readdirSync(dir).filter((f) => f.endsWith(".png"));
  assert.equal(pngs.length, pages, `pdftoppm rendered ${pngs.length} of ${pages} pages`);
  for (const p of pngs) assert.ok(fs.statSync(path.join(dir, p)).size > 2000, `${p} is blank`);
  fs.mkdirSync(OUT, { recursive: true });
  await run("pdftoppm", ["-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile", file, path.join(OUT, `report-${name}-page1`)]);
  assert.ok(fs.statSync(path.join(OUT, `report-${name}-page1.png`)).size > 10_000);
  return pages;
}

/** The timeline's UTC times, in the order the PDF prints them. */
function timelineTimes(text: string): string[] {
  const from = text.indexOf("Timeline");
  const to = text.indexOf("Faults", from);
  return [...text.slice(from, to).matchAll(/^\s*(\d\d:\d\d:\d\d\.\d\d\d)\s+[+−]\d+\.\d{3} s/gm)].map((m) => m[1]);
}

describe("post-mortem reports of real runs", { skip, timeout: 240_000 }, () => {
  let demo: DemoSystem | undefined;
  let worker: WorkerProc | undefined;
  const victims = spawnVictims(2);
  const cli = (args: string[]) => runCli([...args, "--url", worker!.url, "--token", worker!.token]);

  before(async () => {
    demo = await startDemo(BASE, tempDir("gameday-report-demo-"));
    worker = await startWorkerProcess(tempHome("gameday-report-"), { topology: demo.topologyFile, env: { GAMEDAY_LEAD_OUT_MS: String(LEAD_OUT_MS), GAMEDAY_WARMUP_MS: "1500" } });
  });
  after(async () => {
    await worker?.stop();
    await demo?.stop();
    await victims.stop();
  });

  async function runToReport(yaml: string, during?: (id: string) => Promise<void>): Promise<{ run: RunRecord; events: TimelineEvent[]; file: string }> {
    const r = await apiCall<{ run: RunRecord }>(worker!, "POST", "/api/v1/runs", { yaml });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.run.id;
    await during?.(id);
    const auto = path.join(worker!.home, "reports", `${id}.pdf`);
    // written by the worker on its own once the lead-out ends
    await waitFor("the automatic post-mortem", () => fs.existsSync(auto), 60_000, 200);
    const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${id}`);
    const { body: ev } = await apiCall<{ events: TimelineEvent[] }>(worker!, "GET", `/api/v1/runs/${id}/events`);
    const kinds = ev.events.map((e) => e.kind);
    assert.ok(kinds.indexOf("lead-out-ended") > kinds.indexOf("run-ended"), `lead-out after the end: ${kinds}`);
    const { body: s } = await apiCall<{ samples: { monoMs: number }[] }>(worker!, "GET", `/api/v1/runs/${id}/samples`);
    const endMs = ev.events.find((e) => e.kind === "run-ended")!.monoMs;
    assert.ok(s.samples.filter((x) => x.monoMs > endMs + 500).length >= 5, "probes kept sampling in the lead-out");
    const file = path.join(tempDir("gameday-report-out-"), `${id}.pdf`);
    const c = await cli(["report", id, "-o", file]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), "%PDF-");
    return { run: body.run, events: ev.events, file };
  }

  test("a completed run: outcome, times in order, notes and review, every page renders", async () => {
    let note: RunNote | undefined;
    const { run: r, events, file } = await runToReport(experiment("batch-frozen", `{ process: { cmdline: '${victims.regex}' }, mode: all }`, "the frontend keeps 95 % of requests when the batch jobs freeze", "3s"), async (id) => {
      await waitFor("the fault in place", async () => (await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${id}`)).body.run.faults.some((f) => f.state === "injected"), 20_000, 100);
      const c = await cli(["note", id, "batch jobs frozen; the frontend did not notice"]);
      assert.equal(c.code, 0, c.stderr);
      note = (await apiCall<{ notes: RunNote[] }>(worker!, "GET", `/api/v1/runs/${id}/notes`)).body.notes[0];
      const rv = await apiCall(worker!, "PUT", `/api/v1/runs/${id}/review`, { learned: "The batch jobs are off the request path.", actions: "- add a retry budget to the frontend\n- alert on api p95" });
      assert.equal(rv.status, 200, JSON.stringify(rv.body));
    });
    assert.equal(r.state, "completed", JSON.stringify(r));
    assert.equal(r.hypothesisHeld, true);
    const text = await pdfText(file);
    const flat = text.replace(/\s+/g, " ");
    assert.match(flat, /Hypothesis held: every steady-state probe stayed within tolerance/);
    assert.match(flat, /process-kill \(signal STOP\) was injected into victims; completed after \d+\.\d s; all 2 faults reverted and verified/);
    assert.ok(flat.includes(r.id));
    assert.ok(flat.includes(`${note!.author}: batch jobs frozen; the frontend did not notice`), "the note is in the report");
    assert.ok(flat.includes("The batch jobs are off the request path."));
    assert.ok(flat.includes("add a retry budget to the frontend"));
    assert.ok(flat.includes("Experiment as run") && flat.includes("signal: STOP"), "the appendix has the YAML");
    const f = r.faults[0];
    assert.ok(text.includes(utc(f.injectedAt)) && text.includes(utc(f.revertedAt)), "the fault's exact times");
    const times = timelineTimes(text);
    assert.ok(times.length >= events.length, `${times.length} timeline rows for ${events.length} events`);
    assert.deepEqual(times, [...times].sort(), "the timeline is in time order");
    for (const e of events.filter((x) => x.monoMs >= 0)) assert.ok(times.includes(utc(e.at)), `event ${e.kind} at ${utc(e.at)} is in the timeline`);
    assert.ok(times.includes(utc(note!.at)), "the note sits in the timeline at its time");
    assert.ok((await renderPages(file, "completed")) >= 3);
  });

  test("an aborted run: the breach, its numbers and the time to detect / abort / revert", async () => {
    const { run: r, file } = await runToReport(experiment("all-api-frozen", "{ node: api, mode: all }", "the frontend keeps 95 % of requests when every api instance freezes", "30s"));
    assert.equal(r.state, "aborted", JSON.stringify(r));
    assert.equal(r.abort?.reason, "steady-state");
    const flat = (await pdfText(file)).replace(/\s+/g, " ");
    const observed = formatValue("successRate", r.abort!.observed!);
    assert.ok(flat.includes(`Hypothesis refuted: frontend-success successRate fell to ${observed}`), `no refuted sentence with ${observed}: ${flat.slice(0, 800)}`);
    assert.match(flat, /after process-kill \(signal STOP\) was injected into api; aborted after \d+\.\d s; all 3 faults reverted and verified in \d+ ms/);
    assert.ok(flat.includes(`in ${Math.round(r.abort!.revertMs!)} ms`), `revert time ${r.abort!.revertMs} from the record`);
    assert.match(flat, /Time to detect \d+ ms|TIME TO DETECT/i);
    assert.ok(flat.includes("breach") && flat.includes("abort"), "breach and abort in the timeline");
    assert.ok(/api \(targeted\) moved|left tolerance/.test(flat), "the blast radius says what moved");
    await renderPages(file, "aborted");
  });

  test("HTML export is one self-contained file; the replay bundle's manifest matches its files", async () => {
    const { body } = await apiCall<{ runs: RunRecord[] }>(worker!, "GET", "/api/v1/runs?limit=1");
    const id = body.runs[0].id;
    const dir = tempDir("gameday-report-html-");
    assert.equal((await cli(["report", id, "--html", "-o", path.join(dir, "r.html")])).code, 0);
    const html = fs.readFileSync(path.join(dir, "r.html"), "utf8");
    assert.ok(html.includes("Hypothesis refuted"));
    assert.deepEqual(html.match(/(?:src|href)=["']?(?:https?:)?\/\/[^"' >]+/g) ?? [], [], "no external URL");
    assert.match(html, /@font-face\{font-family:"Report Sans";font-weight:400;src:url\(data:font\/ttf;base64,/);
    assert.equal((await cli(["report", id, "--bundle", "-o", path.join(dir, "b.json")])).code, 0);
    const bundle = JSON.parse(fs.readFileSync(path.join(dir, "b.json"), "utf8")) as { format: string; manifest: Record<string, { sha256: string }>; files: Record<string, string> };
    assert.equal(bundle.format, BUNDLE_FORMAT);
    const { createHash } = await import("node:crypto");
    for (const [name, text] of Object.entries(bundle.files)) assert.equal(bundle.manifest[name]?.sha256, createHash("sha256").update(text).digest("hex"), name);
    assert.ok(bundle.files["experiment.yaml"].includes("all-api-frozen"));
    assert.ok((JSON.parse(bundle.files["samples.json"]) as unknown[]).length > 10);
  });

  test("bad input: an unknown run is a 404 and an empty note a 422 naming the field, with no report written", async () => {
    const r = await apiCall<{ code: string }>(worker!, "GET", "/api/v1/runs/nope/report.pdf");
    assert.equal(r.status, 404);
    const c = await cli(["report", "nope", "-o", path.join(tempDir("gameday-report-bad-"), "x.pdf")]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /no run nope/);
    const { body } = await apiCall<{ runs: RunRecord[] }>(worker!, "GET", "/api/v1/runs?limit=1");
    const n = await apiCall<{ issues: { path: string }[] }>(worker!, "POST", `/api/v1/runs/${body.runs[0].id}/notes`, { text: " " });
    assert.equal(n.status, 422);
    assert.equal(n.body.issues[0].path, "text");
  });
});

test("a missing Chromium is a clear error that says how to install it", async () => {
  const r = new PdfRenderer("/nonexistent/chromium");
  await assert.rejects(r.pdf("<html></html>", "x"), (e: Error) => e instanceof ReportError && /apt-get install chromium/.test(e.message) && /GAMEDAY_CHROMIUM/.test(e.message));
  await r.close();
});

test("the model of a synthetic hour: its outcome, one window per fault, charts bounded but keeping the dip", async () => {
  const { buildModel } = await import("../report/model");
  const { drawData } = await import("../report/render");
  const { syntheticRun } = await import("../report/synthetic");
  const input = syntheticRun({ durationMs: 3_600_000, tickMs: 250, probes: 3, faults: 50 });
  const m = buildModel(input);
  assert.equal(m.verdict, "held");
  assert.match(m.outcome, /^Hypothesis held: .*frontend-success successRate at worst 97\.0%.* completed after 60 min 10 s; all 50 faults reverted and verified in 12 ms\.$/);
  assert.equal(m.faultWindows.length, 50);
  assert.deepEqual(m.blast.targetedNodes, ["frontend", "api", "db"]);
  const chart = drawData(m).charts["frontend-success"];
  assert.ok(chart.points.length <= 1800 && chart.points.length > 900, `${chart.points.length} points drawn`);
  assert.ok(chart.points.some((p) => p.value === 0.97), "the dip survives downsampling");
  // no fault touched anything: inconclusive, whatever the probes said
  const none = buildModel({ ...input, run: { ...input.run, faults: [] } });
  assert.equal(none.verdict, "inconclusive");
  assert.match(none.outcome, /^Inconclusive: no fault touched anything/);
});
