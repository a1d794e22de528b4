// The executor's promises, against real processes (SIGSTOP/SIGCONT) and real
// journal files: a half-applied change is never lost, an abort waits for an
// inject in flight, an unverified revert blocks until it is retried, and a
// holder killed with SIGKILL is reverted by its reaper.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { procState, ROOT, spawnVictims, tempDir, waitFor, waitForLine } from "../e2e/kit";
import { control, FLAKY } from "../e2e/flaky-injector";
import "../injectors";
import { readProc } from "../lib/procfs";
import type { ProcessTarget } from "../injectors";
import { ApplyError, Executor } from "./executor";

const victims = spawnVictims(3);
after(() => victims.stop());

const target = (i: number): ProcessTarget => {
  const p = readProc(victims.children[i].pid!)!;
  return { kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline };
};
const req = (runId: string, i: number, ctl: string) => ({ runId, step: 0, targetName: "v", fault: FLAKY, target: target(i), params: { control: ctl } });
const setup = (opts: { revertDeadlineMs?: number } = {}) => {
  const dir = tempDir("gameday-executor-");
  const ctl = path.join(dir, "control.json");
  control(ctl, {});
  return { dir, ctl, ex: new Executor({ command: "test", dir: path.join(dir, "journal"), reaper: false, revertDeadlineMs: opts.revertDeadlineMs ?? 500 }) };
};

test("an inject that fails half-way is reverted and verified at once, even when the first revert throws", async () => {
  const { ex, ctl } = setup({ revertDeadlineMs: 3000 });
  control(ctl, { failAfterStop: true, revertFailures: 1 });
  const err = await ex.apply(req("r1", 0, ctl), new AbortController().signal).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err instanceof ApplyError, String(err));
  assert.match(err.message, /second half failed/);
  assert.equal(err.change?.state, "reverted");
  assert.ok(err.change!.revertAttempts >= 2, `the revert was retried (${err.change!.revertAttempts} attempts)`);
  assert.notEqual(procState(victims.children[0].pid!), "T");
  assert.deepEqual(ex.blocking(), []);
  assert.deepEqual(ex.open(), []);
});

test("a half-applied change whose reverts keep failing stays to revert, blocks, and is reverted on retry and after a restart", async () => {
  const { ex, ctl, dir } = setup({ revertDeadlineMs: 300 });
  control(ctl, { failAfterStop: true, revertFailures: -1 });
  await assert.rejects(ex.apply(req("r2", 0, ctl), new AbortController().signal), /NOT verified reverted.*it stays to revert/);
  assert.equal(procState(victims.children[0].pid!), "T", "the half-applied change is still in place");
  const [stuck] = ex.blocking();
  assert.equal(stuck.state, "to-revert");
  assert.match(stuck.error ?? "", /revert not verified: simulated: the lock is still held/);
  // on disk, so a restart sees it
  const onDisk = JSON.parse(fs.readFileSync(ex.journal.file, "utf8")) as { entries: { id: string; state: string }[] };
  assert.deepEqual(onDisk.entries.map((e) => [e.id, e.state]), [[stuck.id, "to-revert"]]);

  // retry while the lock is still held: still blocked
  await ex.recover();
  assert.equal(ex.blocking().length, 1);
  // the lock is free: a retry reverts and verifies it
  control(ctl, {});
  const r = await ex.recover();
  assert.deepEqual(r.reverted.map((c) => c.id), [stuck.id]);
  assert.notEqual(procState(victims.children[0].pid!), "T");
  assert.deepEqual(ex.blocking(), []);

  // the same, but the holder dies (a child process SIGKILLed while its change is to revert): the next executor reverts it
  control(ctl, { failAfterStop: true, revertFailures: -1 });
  const holder = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "agent/testdata/flaky-holder.ts"), path.join(dir, "journal"), ctl, String(victims.children[1].pid)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await waitForLine(holder, (l) => l.startsWith("to-revert"), 20_000, "the holder's change to be left to revert");
  assert.equal(procState(victims.children[1].pid!), "T");
  holder.kill("SIGKILL");
  await new Promise((res) => holder.once("exit", res));
  const restarted = new Executor({ command: "test-restart", dir: path.join(dir, "journal"), reaper: false, revertDeadlineMs: 300 });
  assert.equal(restarted.blocking().length, 1, "a dead holder's unreverted change blocks");
  // still locked: the restarted executor takes it into its own journal
  const first = await restarted.start();
  assert.equal(first.failed.length, 1);
  assert.equal(restarted.blocking().length, 1);
  assert.equal(restarted.blocking()[0].state, "to-revert");
  control(ctl, {});
  const second = await restarted.recover();
  assert.equal(second.reverted.length, 1);
  assert.notEqual(procState(victims.children[1].pid!), "T");
  assert.deepEqual(restarted.blocking(), []);
  await restarted.close();
  assert.ok(!fs.readdirSync(path.join(dir, "journal")).some((n) => n.startsWith(`${holder.pid}-`)), "the dead holder's journal is gone");
});

for (const honorSignal of [true, false]) {
  test(`an abort while an inject is in flight leaves nothing in place (inject ${honorSignal ? "honours" : "ignores"} the signal)`, async () => {
    const { ex, ctl } = setup();
    control(ctl, { injectDelayMs: 400, honorSignal });
    const ac = new AbortController();
    const applying = ex.apply(req("r3", 2, ctl), ac.signal).catch((e: Error) => e);
    await waitFor("the inject to be under way", () => procState(victims.children[2].pid!) === "T", 2000, 5);
    ac.abort();
    const verdicts = await ex.revertRun("r3");
    const res = await applying;
    assert.equal(procState(victims.children[2].pid!) === "T", false, "nothing stopped after the abort");
    assert.deepEqual(ex.open("r3"), []);
    if (honorSignal) {
      assert.ok(res instanceof ApplyError && res.change?.state === "reverted", String(res));
    } else {
      assert.equal(verdicts.length, 1, "the abort reverted the change the inject completed meanwhile");
      assert.ok(verdicts[0].ok);
    }
    // and no new change starts once the run's signal fired
    await assert.rejects(ex.apply(req("r3", 2, ctl), ac.signal), /aborted before the change was made/);
    assert.equal(ex.journal.doc.entries.filter((e) => e.runId === "r3" && e.state !== "reverted").length, 0);
  });
}

test("a holder killed with SIGKILL is reverted by its reaper within 2 s", { timeout: 60_000 }, async () => {
  const dir = tempDir("gameday-executor-");
  const holder = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "agent/testdata/stop-holder.ts"), path.join(dir, "journal"), String(victims.children[0].pid)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await waitForLine(holder, (l) => l.startsWith("injected"), 20_000, "the holder to stop the victim");
  assert.equal(procState(victims.children[0].pid!), "T");
  const t0 = performance.now();
  holder.kill("SIGKILL");
  await waitFor("the reaper to resume the victim", () => procState(victims.children[0].pid!) !== "T", 2000, 10);
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `${ms} ms`);
  await waitFor("the journal to be gone", () => !fs.readdirSync(path.join(dir, "journal")).some((n) => n.endsWith(".json")), 5000);
  // the reaper logs once its revert is done, which is just after it removes the journal
  const logFile = path.join(dir, "journal", "reaper.log");
  const said = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "");
  await waitFor("the reaper to log its revert", () => /reverted what the holder left.*process-kill on/.test(said()) || null, 5000, 20).catch(() => undefined);
  assert.match(said(), /reverted what the holder left.*process-kill on/);
});
