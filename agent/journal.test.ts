// The host journal's recovery rules: what an owner that died mid-write leaves
// (a partial .tmp) is removed; a live owner's files are not touched; a dead
// owner's journal with nothing open goes; files are private (0600 in 0700).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { readProc } from "../lib/procfs";
import { tempDir } from "../e2e/kit";
import "../injectors";
import { Executor } from "./executor";
import { HostJournal } from "./journal";

const doc = (pid: number, startTime: number) => JSON.stringify({ owner: { pid, startTime }, command: "test", createdAt: new Date().toISOString(), entries: [] });

test("partial writes of dead owners are removed; a live owner's journal and partial write stay", async () => {
  const dir = tempDir("gameday-journal-");
  const me = readProc(process.pid)!;
  // a journal of ours that another executor of this process owns
  const live = `${me.pid}-${me.startTime}-99.json`;
  // same PID, another start time: an earlier process that reused our PID, long gone
  const dead = `${me.pid}-${me.startTime + 1}.json`;
  fs.writeFileSync(path.join(dir, live), doc(me.pid, me.startTime));
  fs.writeFileSync(path.join(dir, `${live}.tmp`), "{ half a wri");
  fs.writeFileSync(path.join(dir, `${dead}.tmp`), "{ half a wri");
  fs.writeFileSync(path.join(dir, `${me.pid}-${me.startTime + 2}.json.tmp`), "");

  const ex = new Executor({ command: "test", dir, reaper: false });
  const report = await ex.recover();
  assert.equal(report.live, 1);
  assert.deepEqual(report.failed, []);
  assert.deepEqual(fs.readdirSync(dir).sort(), [live, `${live}.tmp`].sort());
});

test("a dead owner's journal with nothing left to revert is removed; an unreadable one is reported", async () => {
  const dir = tempDir("gameday-journal-");
  const me = readProc(process.pid)!;
  const dead = `${me.pid}-${me.startTime + 3}.json`;
  fs.writeFileSync(path.join(dir, dead), doc(me.pid, me.startTime + 3));
  fs.writeFileSync(path.join(dir, `${me.pid}-${me.startTime + 4}.json`), "{ not json");
  const report = await new Executor({ command: "test", dir, reaper: false }).recover();
  assert.deepEqual(report.reverted, []);
  assert.equal(fs.existsSync(path.join(dir, dead)), false);
  assert.equal(report.problems.length, 1);
  assert.match(report.problems[0], /unreadable journal/);
});

test("the journal is written before save() resolves, private, and gone when empty", async () => {
  const dir = path.join(tempDir("gameday-journal-"), "journal");
  const j = new HostJournal("test", { dir });
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  await j.add({ id: "a", runId: "r", step: 0, fault: "process-kill", targetName: "t", target: { kind: "host", hostname: "h" }, params: {}, undo: { x: 1 }, state: "pending", journaledAt: new Date().toISOString(), revertAttempts: 0 });
  assert.equal(fs.statSync(j.file).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(fs.readFileSync(j.file, "utf8")).entries[0].undo, { x: 1 });
  // many writes in a row end in the last state
  const writes = [];
  for (let i = 0; i < 20; i++) writes.push(j.update("a", { revertAttempts: i }));
  await Promise.all(writes);
  assert.equal(JSON.parse(fs.readFileSync(j.file, "utf8")).entries[0].revertAttempts, 19);
  await j.update("a", { state: "reverted" });
  await j.prune(new Set(["a"]));
  assert.equal(fs.existsSync(j.file), false);
});
