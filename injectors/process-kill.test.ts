import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readProc } from "../lib/procfs";
import { processKill } from "./process-kill";
import type { InjectContext, ProcessTarget } from "./types";
import { getInjector, injectorNames } from ".";
import { tempDir, waitFor } from "../e2e/kit";

// the evidence files (injectors/evidence.ts) go to a home of this test's own
process.env.GAMEDAY_HOME = tempDir("gameday-kill-home-");

function victim(): { target: ProcessTarget; kill: () => void } {
  const c = spawn("sleep", ["60"], { stdio: "ignore" });
  const p = readProc(c.pid!)!;
  return { target: { kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline }, kill: () => c.kill("SIGKILL") };
}

// process-kill needs nothing from its undo at inject time
const ctx: InjectContext<any> = { runId: "t", signal: new AbortController().signal, undo: null };

test("the registry holds process-kill", () => {
  assert.ok(injectorNames().includes("process-kill"));
  assert.equal(getInjector("process-kill"), processKill);
});

test("STOP freezes the process; revert continues it; verify confirms", async () => {
  const v = victim();
  try {
    const params = processKill.params.parse({ signal: "STOP" });
    const undo = await processKill.plan(v.target, params);
    await processKill.inject(v.target, params, ctx);
    await waitFor("state T", () => readProc(v.target.pid)?.state === "T", 2000);
    assert.equal((await processKill.verify(v.target, undo)).ok, false, "verify must fail while stopped");
    await processKill.revert(v.target, undo);
    const r = await processKill.verify(v.target, undo);
    assert.ok(r.ok, r.detail);
    assert.notEqual(readProc(v.target.pid)?.state, "T");
    // revert is idempotent
    await processKill.revert(v.target, undo);
    const e = await processKill.effect!(v.target, undo);
    assert.equal(e?.touched, 1, e?.summary);
    assert.match(e!.summary, new RegExp(`^SIGSTOP delivered to PID ${v.target.pid} \\(sleep\\); stopped for \\d+ ms until SIGCONT$`));
    assert.equal(await processKill.effect!(v.target, undo), null, "the evidence is taken once");
  } finally {
    v.kill();
  }
});

test("KILL ends the process and its revert is a verified no-op", async () => {
  const v = victim();
  const params = processKill.params.parse({ signal: "KILL" });
  const undo = await processKill.plan(v.target, params);
  await processKill.inject(v.target, params, ctx);
  await waitFor("process gone", () => !readProc(v.target.pid) || readProc(v.target.pid)?.state === "Z", 2000);
  await processKill.revert(v.target, undo);
  const r = await processKill.verify(v.target, undo);
  assert.ok(r.ok);
  // ok means "nothing to revert", and the detail says what was looked at
  assert.match(r.detail, new RegExp(`^nothing to revert: SIGKILL cannot be undone; PID ${v.target.pid} (is gone|has exited \\(state [ZX], not yet reaped\\))$`));
  const e = await processKill.effect!(v.target, undo);
  assert.equal(e?.touched, 1, e?.summary);
  assert.match(e!.summary, new RegExp(`^SIGKILL delivered to PID ${v.target.pid} \\(sleep\\); it exited \\((gone|exited \\(state [ZX]\\)) \\d+ ms later\\)$`));
});

test("TERM to a process that ignores it: verify is ok (nothing to revert) and says the process is still running", async () => {
  const c = spawn(process.execPath, ["-e", "process.on('SIGTERM',()=>{});console.log('up');setInterval(()=>{},1e9)"], { stdio: ["ignore", "pipe", "ignore"] });
  try {
    await new Promise<void>((r) => c.stdout!.once("data", () => r()));
    const p = readProc(c.pid!)!;
    const target: ProcessTarget = { kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline };
    const params = processKill.params.parse({ signal: "TERM" });
    const undo = await processKill.plan(target, params);
    await processKill.inject(target, params, ctx);
    await new Promise((r) => setTimeout(r, 100));
    await processKill.revert(target, undo);
    const r = await processKill.verify(target, undo);
    assert.ok(r.ok, r.detail);
    assert.match(r.detail, new RegExp(`^nothing to revert: SIGTERM cannot be undone; PID ${p.pid} is still running \\(state [RS]\\): it survived or ignored the signal$`));
    const e = await processKill.effect!(target, undo);
    assert.equal(e?.touched, 1, e?.summary);
    assert.match(e!.summary, /^SIGTERM delivered to PID \d+ \(node\); still running \(state [RS]\) \d+ ms later: it survived or ignored the signal$/);
  } finally {
    c.kill("SIGKILL");
  }
});

test("a reused PID (different start time) is never signalled", async () => {
  const v = victim();
  try {
    const stale = { ...v.target, startTime: v.target.startTime - 1 };
    await assert.rejects(processKill.inject(stale, processKill.params.parse({ signal: "STOP" }), ctx), /gone or its PID was reused/);
    assert.notEqual(readProc(v.target.pid)?.state, "T");
    // and revert does not CONT a process it did not stop
    process.kill(v.target.pid, "SIGSTOP");
    await waitFor("state T", () => readProc(v.target.pid)?.state === "T", 2000);
    await processKill.revert(stale, { signal: "STOP", pid: stale.pid, startTime: stale.startTime });
    assert.equal(readProc(v.target.pid)?.state, "T");
    // nothing delivered: touched 0, so a run of it is inconclusive
    const e = await processKill.effect!(stale, { signal: "STOP", pid: stale.pid, startTime: stale.startTime });
    assert.equal(e?.touched, 0);
    assert.match(e!.summary, new RegExp(`^no signal delivered to PID ${v.target.pid}: process ${v.target.pid} is gone or its PID was reused; not signalled$`));
    // a change whose inject never ran (a reaper's revert after a crash) has no evidence either way
    assert.equal(await processKill.effect!(v.target, { signal: "STOP", pid: v.target.pid, startTime: v.target.startTime }), null);
  } finally {
    v.kill();
  }
});

test("PID 1 and the injector's own process are refused", async () => {
  const self = readProc(process.pid)!;
  const init = readProc(1)!;
  const params = processKill.params.parse({ signal: "STOP" });
  await assert.rejects(processKill.inject({ kind: "process", pid: 1, startTime: init.startTime, comm: init.comm, cmdline: init.cmdline }, params, ctx), /PID 1/);
  await assert.rejects(processKill.inject({ kind: "process", pid: self.pid, startTime: self.startTime, comm: self.comm, cmdline: self.cmdline }, params, ctx), /itself/);
});

test("bad parameters are refused with the field named", () => {
  const r = processKill.params.safeParse({ signal: "HUP" });
  assert.equal(r.success, false);
  assert.deepEqual(r.error?.issues[0].path, ["signal"]);
  assert.equal(processKill.params.safeParse({ signal: "STOP", extra: 1 }).success, false);
});
