// The disk and memory safety floor, on real filesystems: no request (not
// even `reserve: 0` with `leaveFree: 0`) goes below 512 MiB or 5 % on a
// filesystem holding Game Day's state without force; the database's folder,
// /var/log and /tmp count as such; a tmpfs fill is counted against the
// memory floor; and a fill at a rate re-checks the floor as it writes,
// stops when another writer brings the disk down to it, and says so.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import "./index";
import { mountTmpfs, tempDir, unmountAllTmpfs, waitFor } from "../e2e/kit";
import { diskFill, planFill } from "./disk-fill";
import { ourBytes, type DiskUndo } from "./disk/files";
import { fsInfo, hardFloor } from "./disk/fs";
import { tagged } from "./load/children";
import type { PathTarget } from "./types";

const MiB = 1024 ** 2;
// the evidence files (injectors/evidence.ts) go to a home of this test's own
process.env.GAMEDAY_HOME = tempDir("gameday-floor-home-");
const root = process.getuid?.() !== 0 ? "needs root (mount tmpfs)" : undefined;
const scratch: string[] = [];
after(() => {
  unmountAllTmpfs();
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});
const ctx = (undo: DiskUndo) => ({ runId: "floor", signal: new AbortController().signal, undo });
const withEnv = async (name: string, value: string, fn: () => Promise<void> | void) => {
  const prev = process.env[name];
  process.env[name] = value;
  try {
    await fn();
  } finally {
    if (prev === undefined) delete process.env[name];
    else process.env[name] = prev;
  }
};

test("reserve 0 with leaveFree 0 on the root filesystem is refused by the floor; nothing written", async () => {
  const dir = fs.mkdtempSync(path.join("/var/tmp", "gameday-floor-"));
  scratch.push(dir);
  const info = fsInfo(dir);
  assert.ok(info.holds.includes("/"));
  const params = diskFill.params.parse({ leaveFree: 0, reserve: 0 });
  const plan = planFill(info, params);
  assert.match(plan.refused ?? "", new RegExp(`under the reserve of .*\\(the floor: 512 MiB or 5 % of the filesystem, whichever is more; a smaller reserve cannot lower it\\); set force: true`));
  const t: PathTarget = { kind: "path", path: dir };
  const undo = await diskFill.plan(t, params);
  await assert.rejects(diskFill.inject(t, params, ctx(undo)), /the floor: 512 MiB/);
  assert.deepEqual(fs.readdirSync(dir), []);
  assert.equal(hardFloor(info.totalBytes), Math.max(512 * MiB, Math.ceil(info.totalBytes * 0.05)));
});

test("the filesystems of the database's folder, /var/log and /tmp are guarded", { skip: root }, async () => {
  assert.ok(fsInfo("/var/log").holds.includes("/var/log"));
  assert.ok(fsInfo(fs.realpathSync("/tmp")).holds.some((h) => h === "/tmp" || h.startsWith("the temporary folder")));
  const dir = mountTmpfs(16, "gameday-floor-db-");
  fs.mkdirSync(path.join(dir, "db"));
  await withEnv("DATABASE_URL", `file:${path.join(dir, "db", "gameday.db")}`, async () => {
    const info = fsInfo(dir);
    assert.deepEqual(info.holds, [`the database's folder (${path.join(dir, "db")})`]);
    const params = diskFill.params.parse({ size: "1M" });
    assert.match(planFill(info, params).refused ?? "", /filesystem holding the database's folder .*under the reserve of 512 MiB/);
    assert.equal(planFill(info, diskFill.params.parse({ size: "1M", force: true })).refused, null, "force lifts it");
  });
  assert.deepEqual(fsInfo(dir).holds, [], "without the database there, the same tmpfs holds nothing of ours");
});

test("a tmpfs fill counts against the memory floor (tmpfs is RAM), wherever it is mounted", { skip: root }, async () => {
  const totalMiB = Math.ceil(os.totalmem() / MiB);
  // a tmpfs may be sized beyond RAM; its pages are only taken when written
  const dir = mountTmpfs(totalMiB * 2, "gameday-floor-shm-");
  const info = fsInfo(dir);
  assert.deepEqual(info.holds, []);
  const plan = planFill(info, diskFill.params.parse({ leaveFree: 0 }));
  assert.match(plan.refused ?? "", /is a tmpfs \(its files are RAM\): writing .* would leave .* of memory available, under the memory floor of/);
  const t: PathTarget = { kind: "path", path: dir };
  const params = diskFill.params.parse({ leaveFree: 0 });
  await assert.rejects(diskFill.inject(t, params, ctx(await diskFill.plan(t, params))), /memory floor/);
  assert.deepEqual(fs.readdirSync(dir), [], "nothing written");
  // a small fill of the same tmpfs is fine
  assert.equal(planFill(info, diskFill.params.parse({ size: "1M" })).refused, null);
});

test("a fill at a rate re-checks the floor while it writes: another writer brings the disk down to it, the filler stops and says so", { skip: root, timeout: 60_000 }, async () => {
  const dir = mountTmpfs(800, "gameday-floor-rate-");
  await withEnv("GAMEDAY_HOME", path.join(dir, "home"), async () => {
    const t: PathTarget = { kind: "path", path: dir };
    const params = diskFill.params.parse({ size: "200M", rate: "20M/s" });
    const info = fsInfo(dir);
    assert.ok(info.holds.some((h) => h.startsWith("$GAMEDAY_HOME")));
    assert.equal(planFill(info, params).refused, null, "at the start 200 MiB fit above the 512 MiB floor");
    const undo = (await diskFill.plan(t, params)) as DiskUndo;
    await diskFill.inject(t, params, ctx(undo));
    let written = -1;
    try {
      await waitFor("the filler to write", () => ourBytes(dir, undo.prefix) > 4 * MiB, 10_000);
      // somebody else takes 200 MiB: now the floor is closer than the fill's remaining bytes
      fs.writeFileSync(path.join(dir, "other-writer"), Buffer.alloc(200 * MiB));
      await waitFor("the filler to stop at the floor", () => tagged(undo.tag).length === 0, 10_000);
      written = ourBytes(dir, undo.prefix);
      assert.ok(written < 100 * MiB, `stopped early: ${written / MiB} MiB of 200 written`);
      assert.ok(fsInfo(dir).freeBytes >= 512 * MiB - 2 * MiB, `the floor is kept: ${fsInfo(dir).freeBytes / MiB} MiB free`);
    } finally {
      await diskFill.revert(t, undo);
      const v = await diskFill.verify(t, undo);
      assert.ok(v.ok, v.detail);
      assert.match(v.detail, /the filler had stopped early: stopped at the safety floor: \d+ bytes free, \d+ must stay free, after writing \d+ bytes of 209715200/);
      fs.rmSync(path.join(dir, "other-writer"), { force: true });
      // the evidence is what was written before the floor stopped it, not the 200 MiB asked for
      const e = await diskFill.effect!(t, undo);
      assert.equal(e?.touched, written, JSON.stringify(e));
      assert.equal((e!.counters as { freeBefore: number }).freeBefore, info.freeBytes);
    }
  });
});
