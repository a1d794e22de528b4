// Recovery of standalone-CLI journals: what an owner that died mid-write
// leaves (a partial .tmp) is removed; a live owner's files are not touched.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readProc } from "./procfs";
import { recoverLocalJournals } from "./local-journal";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-journal-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("partial writes of dead owners are removed; a live owner's journal and partial write stay", async () => {
  const me = readProc(process.pid)!;
  const live = `${me.pid}-${me.startTime}.json`;
  // same PID, another start time: an earlier process that reused our PID, long gone
  const dead = `${me.pid}-${me.startTime + 1}.json`;
  const doc = (startTime: number) => JSON.stringify({ owner: { pid: me.pid, startTime }, command: "test", createdAt: new Date().toISOString(), entries: [] });
  fs.writeFileSync(path.join(dir, live), doc(me.startTime));
  fs.writeFileSync(path.join(dir, `${live}.tmp`), "{ half a wri");
  fs.writeFileSync(path.join(dir, `${dead}.tmp`), "{ half a wri");
  fs.writeFileSync(path.join(dir, `${me.pid}-${me.startTime + 2}.json.tmp`), "");

  const report = await recoverLocalJournals(dir);
  assert.equal(report.live, 1);
  assert.deepEqual(report.failed, []);
  assert.deepEqual(fs.readdirSync(dir).sort(), [live, `${live}.tmp`].sort());
});

test("a dead owner's journal with nothing left to revert is removed", async () => {
  const me = readProc(process.pid)!;
  const dead = `${me.pid}-${me.startTime + 3}.json`;
  fs.writeFileSync(path.join(dir, dead), JSON.stringify({ owner: { pid: me.pid, startTime: me.startTime + 3 }, command: "test", createdAt: new Date().toISOString(), entries: [] }));
  const report = await recoverLocalJournals(dir);
  assert.deepEqual(report.reverted, []);
  assert.equal(fs.existsSync(path.join(dir, dead)), false);
});
