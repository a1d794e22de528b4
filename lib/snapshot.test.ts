// snapshotWriter against the real filesystem: the newest text wins, flush
// waits for it, and a folder that went away is no error.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { snapshotWriter } from "./snapshot";

test("many writes in a burst: the file ends with the last text, whole, and no temporary file stays", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-snapshot-"));
  try {
    const file = path.join(dir, "counts.json");
    const w = snapshotWriter(file);
    for (let i = 0; i < 200; i++) w.write(JSON.stringify({ i, pad: "x".repeat(10_000) }));
    await w.flush();
    assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).i, 199);
    assert.deepEqual(fs.readdirSync(dir), ["counts.json"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the folder is gone: writes are dropped quietly and flush still resolves", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-snapshot-"));
  fs.rmSync(dir, { recursive: true });
  const w = snapshotWriter(path.join(dir, "counts.json"));
  w.write("{}");
  await w.flush();
  assert.equal(fs.existsSync(dir), false);
});
