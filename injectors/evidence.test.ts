// Evidence files: kept atomically and taken once; the ones nobody takes (a
// revert never verified, a holder dead between its revert and effect()) are
// swept by every executor start once older than any fault can hold, and the
// sweep spares fresh files and anything that is not an evidence file.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { tempDir } from "../e2e/kit";
import { Executor } from "../agent/executor";
import { EVIDENCE_MAX_AGE_MS, keepEvidence, readEvidence, sweepEvidence, takeEvidence } from "./evidence";

process.env.GAMEDAY_HOME = tempDir("gameday-evidence-");
const dir = path.join(process.env.GAMEDAY_HOME, "evidence");
const age = (file: string, ms: number) => {
  const t = new Date(Date.now() - ms);
  fs.utimesSync(file, t, t);
};

test("kept, read in place, taken once; a key that is no plain name is never a path", () => {
  keepEvidence("k1", { n: 1 });
  keepEvidence("k1", { n: 2 }, { once: true });
  assert.deepEqual(readEvidence("k1"), { n: 1 }, "once keeps the first");
  assert.deepEqual(takeEvidence("k1"), { n: 1 });
  assert.equal(takeEvidence("k1"), null, "taken once");
  keepEvidence("../escape", { n: 3 });
  assert.ok(!fs.existsSync(path.join(process.env.GAMEDAY_HOME!, "escape.json")));
  assert.equal(readEvidence("../escape"), null);
});

test("the sweep removes evidence and .tmp files older than any fault holds, and nothing else", () => {
  keepEvidence("old", { n: 1 });
  keepEvidence("fresh", { n: 2 });
  fs.writeFileSync(path.join(dir, "half.json.tmp"), "{");
  fs.writeFileSync(path.join(dir, "notes.txt"), "mine");
  for (const f of ["old.json", "half.json.tmp", "notes.txt"]) age(path.join(dir, f), EVIDENCE_MAX_AGE_MS + 60_000);
  age(path.join(dir, "fresh.json"), EVIDENCE_MAX_AGE_MS - 3_600_000);
  assert.equal(sweepEvidence(), 2);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["fresh.json", "notes.txt"]);
  assert.equal(sweepEvidence(), 0, "a second sweep finds nothing");
});

test("an executor's start sweeps them", async () => {
  keepEvidence("left-by-a-dead-holder", { n: 1 });
  age(path.join(dir, "left-by-a-dead-holder.json"), EVIDENCE_MAX_AGE_MS + 1000);
  const ex = new Executor({ command: "evidence-test", dir: tempDir("gameday-evidence-journal-"), reaper: false });
  await ex.recover();
  assert.equal(readEvidence("left-by-a-dead-holder"), null);
  assert.deepEqual(readEvidence("fresh"), { n: 2 }, "fresh evidence stays");
});
