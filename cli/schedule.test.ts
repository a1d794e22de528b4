// One real short schedule end to end: `gameday schedule add` (every 2 s, with
// the next ten fire times shown) on a real worker process, whose scheduler
// launches a real run (a victim frozen for 3 s) and records the slots that
// find it in progress as skipped; the history says a schedule launched it;
// pause, list and rm from the CLI; bad flags name the field.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { RunRecord, ScheduleInfo, ScheduleSlotInfo } from "../lib/contract";
import { apiCall, runCli, spawnVictims, startWorkerProcess, tempDir, tempHome, waitFor, type WorkerProc } from "../e2e/kit";

describe("gameday schedule against a worker", { timeout: 120_000 }, () => {
  let worker: WorkerProc | undefined;
  let health: http.Server;
  let victims: ReturnType<typeof spawnVictims> | undefined;
  let file = "";
  let env: Record<string, string> = {};

  before(async () => {
    health = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
    victims = spawnVictims(1);
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_WARMUP_MS: "200" } });
    env = { GAMEDAY_URL: worker.url, GAMEDAY_TOKEN: worker.token };
    file = path.join(tempDir("gameday-sched-cli-"), "freeze.yaml");
    fs.writeFileSync(
      file,
      `apiVersion: gameday/v1
kind: Experiment
metadata: { name: scheduled-freeze }
spec:
  hypothesis: the health endpoint does not care
  targets:
    victims: { process: { cmdline: '${victims.regex}' } }
  steadyState:
    probes:
      - { name: up, type: http, url: "http://127.0.0.1:${(health.address() as AddressInfo).port}/", interval: 100ms, window: 1s, tolerance: { min: 0.9 } }
  method:
    - { fault: process-kill, target: victims, params: { signal: STOP }, duration: 3s }
`,
    );
  });
  after(async () => {
    await worker?.stop();
    await victims?.stop();
    health?.close();
  });

  test("add shows the next ten fire times; the schedule launches a run and records busy slots as skipped", async () => {
    const dry = await runCli(["schedule", "add", "every-2s", "--file", file, "--cron", "*/2 * * * * *", "--dry-run"], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /next ten fire times of every-2s \(dry run, nothing saved\)/);
    assert.equal(dry.stdout.match(/^\s+\d+\. \d{4}-/gm)?.length, 10);
    assert.equal((await apiCall<{ schedules: ScheduleInfo[] }>(worker!, "GET", "/api/v1/schedules")).body.schedules.length, 0, "a dry run saves nothing");

    const add = await runCli(["schedule", "add", "every-2s", "--file", file, "--cron", "*/2 * * * * *", "--policy", "skip"], env);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /saved schedule every-2s {2}"\*\/2 \* \* \* \* \*" UTC {2}policy skip/);

    // a run of 3 s plus warm-up outlasts the next slot: at least one is skipped because it is in progress
    const slots = await waitFor(
      "a launched and a skipped slot",
      async () => {
        const { body } = await apiCall<{ slots: ScheduleSlotInfo[] }>(worker!, "GET", "/api/v1/schedules/every-2s");
        const launched = body.slots.find((s) => s.outcome === "launched");
        const skipped = body.slots.find((s) => s.outcome === "skipped" && /in progress \(policy skip\)/.test(s.reason ?? ""));
        return launched && skipped ? { launched, skipped } : null;
      },
      30_000,
      250,
    );
    const { body } = await apiCall<{ run: RunRecord }>(worker!, "GET", `/api/v1/runs/${slots.launched.runId}`);
    assert.equal(body.run.launchedBy, "schedule");
    assert.equal(body.run.startedBy, "schedule:every-2s");
    assert.ok(body.run.scheduleId);
    assert.match(slots.skipped.reason!, new RegExp(`run ${slots.launched.runId}|run \\S+ \\(scheduled-freeze\\) was in progress`));

    const edited = await runCli(["schedule", "edit", "every-2s", "--cron", "0 14 * * 2", "--tz", "Europe/Berlin", "--policy", "queue"], env);
    assert.equal(edited.code, 0, edited.stderr);
    assert.match(edited.stdout, /changed schedule every-2s {2}"0 14 \* \* 2" Europe\/Berlin {2}policy queue {2}experiment scheduled-freeze/);
    assert.equal(edited.stdout.match(/^\s+\d+\. \d{4}-.*\(Tuesday/gm)?.length, 10, edited.stdout);
    const paused = await runCli(["schedule", "pause", "every-2s"], env);
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, /PAUSED/);
    const listed = await runCli(["schedule", "list"], env);
    assert.match(listed.stdout, /every-2s .*PAUSED[\s\S]*next: none/);
    const status = await runCli(["status"], env);
    assert.match(status.stdout, /by schedule every-2s/);
    const rm = await runCli(["schedule", "rm", "every-2s"], env);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await apiCall<{ schedules: ScheduleInfo[] }>(worker!, "GET", "/api/v1/schedules")).body.schedules.length, 0);
    await apiCall(worker!, "POST", "/api/v1/halt");
  });

  test("bad input names the field; nothing is saved", async () => {
    const bad = await runCli(["schedule", "add", "bad", "--file", file, "--cron", "0 14 * * 2", "--tz", "Mars/Olympus", "--hours", "9-17"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /timezone: expected an IANA time zone/);
    assert.match(bad.stderr, /window\.hours: expected local hours like 09:00-17:00/);
    const noFile = await runCli(["schedule", "add", "bad", "--cron", "0 14 * * 2"], env);
    assert.match(noFile.stderr, /--file: name the experiment file/);
    assert.equal((await apiCall<{ schedules: ScheduleInfo[] }>(worker!, "GET", "/api/v1/schedules")).body.schedules.length, 0);
  });
});
