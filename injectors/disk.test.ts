// disk-fill and io-stress on real filesystems: small tmpfs mounts made here
// (root needed), a directory on the root filesystem for the reserve rule, a
// real program that meets ENOSPC, and a worker SIGKILLed mid-fault.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { RunRecord } from "../lib/contract";
import { apiCall, loadIn, mountTmpfs, startWorkerProcess, tempHome, unmountAllTmpfs, waitFor, type WorkerProc } from "../e2e/kit";
import { tagged, writtenBy } from "./load/children";
import { ourBytes, ourFiles, type DiskUndo } from "./disk/files";
import { fsInfo } from "./disk/fs";
import { diskFill, planFill } from "./disk-fill";
import { ioStress } from "./io-stress";
import { getInjector } from ".";
import type { PathTarget } from "./types";

const MiB = 1024 ** 2;
const home = tempHome();
process.env.GAMEDAY_HOME = home;
const ctx = { runId: "t", signal: new AbortController().signal };

const scratch: string[] = [home];
const undos: DiskUndo[] = [];
const children: ChildProcess[] = [];
let worker: WorkerProc | undefined;
const server = http.createServer((_q, s) => s.end("ok"));

const gamedayEntries = (dir: string) => fs.readdirSync(dir).filter((n) => n.startsWith(".gameday-"));

after(async () => {
  await worker?.stop("SIGKILL");
  for (const c of children) c.kill("SIGKILL");
  server.close();
  for (const u of undos) await diskFill.revert({ kind: "path", path: u.dir }, u).catch(() => undefined);
  unmountAllTmpfs();
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});

/** verify() passes, with its detail as the failure message otherwise. */
async function verified(t: PathTarget, undo: DiskUndo): Promise<void> {
  const v = await diskFill.verify(t, undo);
  assert.ok(v.ok, v.detail);
}

async function planned<P>(inj: typeof diskFill | typeof ioStress, target: PathTarget, raw: unknown): Promise<{ params: P; undo: DiskUndo }> {
  const params = inj.params.parse(raw) as P;
  const undo = await (inj.plan as (t: PathTarget, p: P) => Promise<DiskUndo>)(target, params);
  undos.push(undo);
  return { params, undo };
}

test("both faults are registered, available, and act on paths", async () => {
  assert.equal(getInjector("disk-fill"), diskFill);
  assert.equal(getInjector("io-stress"), ioStress);
  assert.equal(diskFill.targetKind, "path");
  const a = await diskFill.available();
  assert.ok(a.ok, JSON.stringify(a));
  assert.match(a.ok ? (a.detail ?? "") : "", /fallocate/);
  assert.equal((await ioStress.available()).ok, true);
});

test("parameters: exactly one fill mode, sizes, rates and ranges, errors name the field", () => {
  const issue = (raw: unknown) => {
    const r = diskFill.params.safeParse(raw);
    assert.equal(r.success, false, JSON.stringify(raw));
    return r.error!.issues[0];
  };
  assert.match(issue({}).message, /one of fillPercent, size or leaveFree/);
  assert.deepEqual(issue({ fillPercent: 50, size: "1M" }).path, ["size"]);
  assert.deepEqual(issue({ fillPercent: 150 }).path, ["fillPercent"]);
  assert.match(issue({ size: "lots" }).message, /expected a size like 512M/);
  assert.deepEqual(issue({ size: "1M", rate: "fast" }).path, ["rate"]);
  assert.deepEqual(issue({ size: "1M", extra: 1 }).code, "unrecognized_keys");
  const ok = diskFill.params.parse({ size: "1.5M", rate: "2M/s" });
  assert.equal(ok.size, 1.5 * MiB);
  assert.equal(ok.rate, 2 * MiB);
  assert.equal(ok.reserve, 512 * MiB);
  assert.equal(ok.force, false);
  const io = ioStress.params.parse({});
  assert.deepEqual([io.bandwidth, io.blockSize, io.pattern, io.fsyncEvery, io.fileSize, io.workers], [20 * MiB, 64 * 1024, "sequential", 16, 64 * MiB, 1]);
  assert.deepEqual(ioStress.params.safeParse({ workers: 17 }).error?.issues[0].path, ["workers"]);
  assert.deepEqual(ioStress.params.safeParse({ pattern: "zigzag" }).error?.issues[0].path, ["pattern"]);
  assert.deepEqual(ioStress.params.safeParse({ blockSize: "1M", fileSize: "64K" }).error?.issues[0].path, ["fileSize"]);
});

test("fill to a percentage, by a size, until N bytes are left; revert removes every file", async () => {
  const dir = mountTmpfs(32, "gameday-disk-");
  const t: PathTarget = { kind: "path", path: dir };
  const empty = fsInfo(dir);
  const cases: [unknown, (i: ReturnType<typeof fsInfo>) => boolean][] = [
    [{ fillPercent: 50 }, (i) => Math.abs(i.usedPercent - 50) < 0.5],
    [{ size: "8M" }, (i) => Math.abs(i.usedBytes - empty.usedBytes - 8 * MiB) <= i.blockSize],
    [{ leaveFree: "4M" }, (i) => Math.abs(i.freeBytes - 4 * MiB) <= i.blockSize],
    [{ leaveFree: 0 }, (i) => i.freeBytes === 0],
  ];
  for (const [raw, filled] of cases) {
    const { params, undo } = await planned<any>(diskFill, t, raw);
    assert.equal(undo.dir, dir);
    await diskFill.inject(t, params, { ...ctx, undo });
    const during = fsInfo(dir);
    assert.ok(filled(during), `${JSON.stringify(raw)}: usage ${during.usedPercent.toFixed(2)}%, free ${during.freeBytes}`);
    assert.ok(ourFiles(dir, undo.prefix).length >= 1, "the fault's files exist");
    assert.ok(gamedayEntries(dir).every((n) => n.startsWith(undo.prefix)), "only files with the fault's prefix");
    assert.equal((await diskFill.verify(t, undo)).ok, false, "verify must fail while the files are there");
    await diskFill.revert(t, undo);
    const v = await diskFill.verify(t, undo);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /free/);
    assert.deepEqual(gamedayEntries(dir), []);
    assert.equal(fsInfo(dir).freeBytes, empty.freeBytes);
    await diskFill.revert(t, undo); // idempotent
    // the evidence: the files' allocated size and the free space at the peak, read before the files went
    const e = await diskFill.effect!(t, undo);
    const c = e?.counters as { allocatedBytes: number; freeBefore: number; freeBytes: number };
    assert.equal(c.freeBefore, empty.freeBytes, JSON.stringify(e));
    assert.equal(c.freeBytes, during.freeBytes, JSON.stringify(e));
    assert.ok(e!.touched === c.allocatedBytes && Math.abs(c.allocatedBytes - (empty.freeBytes - during.freeBytes)) <= 4 * empty.blockSize, JSON.stringify(e));
    assert.match(e!.summary, new RegExp(`^\\d+(\\.\\d)? MiB allocated in 1 file in ${dir}; free 32 MiB before, .+ at the peak$`));
  }
  // already as full as asked: nothing written, touched nothing (its run is inconclusive)
  const { params: pFill, undo: uFill } = await planned<any>(diskFill, t, { leaveFree: "20M" });
  const { params: pFull, undo: uFull } = await planned<any>(diskFill, t, { leaveFree: "24M" });
  await diskFill.inject(t, pFill, { ...ctx, undo: uFill });
  await diskFill.inject(t, pFull, { ...ctx, undo: uFull });
  await diskFill.revert(t, uFull);
  await diskFill.revert(t, uFill);
  const none = await diskFill.effect!(t, uFull);
  assert.equal(none?.touched, 0, JSON.stringify(none));
  assert.match(none!.summary, /^0 B allocated in 0 files/);
  assert.ok((await diskFill.effect!(t, uFill))!.touched >= 11 * MiB);
});

test("where fallocate is missing, the fill writes zeros to the same effect", async () => {
  const dir = mountTmpfs(16, "gameday-disk-");
  const t: PathTarget = { kind: "path", path: dir };
  const noBins = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-nobin-"));
  scratch.push(noBins);
  const savedPath = process.env.PATH;
  process.env.PATH = noBins;
  try {
    const a = await diskFill.available();
    assert.match(a.ok ? (a.detail ?? "") : "", /no fallocate/);
    const { params, undo } = await planned<any>(diskFill, t, { size: "6M" });
    await diskFill.inject(t, params, { ...ctx, undo });
    assert.equal(tagged(undo.tag).length, 0, "an at-once fill returns when it is done");
    assert.equal(ourBytes(dir, undo.prefix), 6 * MiB);
    await diskFill.revert(t, undo);
    await verified(t, undo);
    assert.equal((await diskFill.effect!(t, undo))?.touched, 6 * MiB);
  } finally {
    process.env.PATH = savedPath;
  }
});

test("a rate fill runs in a tagged child, grows over time, and revert stops it midway", async () => {
  const dir = mountTmpfs(32, "gameday-disk-");
  const t: PathTarget = { kind: "path", path: dir };
  const { params, undo } = await planned<any>(diskFill, t, { size: "24M", rate: "2M/s" });
  await diskFill.inject(t, params, { ...ctx, undo });
  assert.equal(tagged(undo.tag).length, 1, "one disk-filler child");
  const seen = await waitFor("the fill to pass 1 MiB", () => {
    const b = ourBytes(dir, undo.prefix);
    return b > MiB ? b : 0;
  });
  // 24 MiB at 2 MiB/s takes 12 s; at once it would be all there already
  assert.ok(seen < 24 * MiB, `only part written so far (${seen})`);
  await diskFill.revert(t, undo);
  const v = await diskFill.verify(t, undo);
  assert.ok(v.ok, v.detail);
  assert.equal(tagged(undo.tag).length, 0);
  assert.deepEqual(gamedayEntries(dir), []);
});

test("the reserve: refused on the filesystem holding / or $GAMEDAY_HOME unless forced", async () => {
  // a directory on the root filesystem: nothing may be written there
  const rootDir = fs.mkdtempSync(path.join("/var/tmp", "gameday-reserve-"));
  scratch.push(rootDir);
  assert.ok(fsInfo(rootDir).holds.includes("/"), "/var/tmp is expected on the root filesystem here");
  const rt: PathTarget = { kind: "path", path: rootDir };
  for (const raw of [{ leaveFree: 0 }, { fillPercent: 100 }, { leaveFree: "100M" }]) {
    const { params, undo } = await planned<any>(diskFill, rt, raw);
    await assert.rejects(diskFill.inject(rt, params, { ...ctx, undo }), /refusing: .* filesystem holding \/.*under the reserve of [\d.]+ [MG]iB .*set force: true/);
  }
  assert.deepEqual(fs.readdirSync(rootDir), [], "nothing written on /");
  // forced, the plan allows it (not run: it would fill this machine's disk)
  assert.equal(planFill(fsInfo(rootDir), diskFill.params.parse({ leaveFree: 0, force: true })).refused, null);

  // the filesystem holding $GAMEDAY_HOME, here a tmpfs, gets the same rule
  const dir = mountTmpfs(16, "gameday-disk-");
  const t: PathTarget = { kind: "path", path: dir };
  process.env.GAMEDAY_HOME = path.join(dir, "home");
  try {
    const refused = await planned<any>(diskFill, t, { leaveFree: 0, reserve: "4M" });
    await assert.rejects(diskFill.inject(t, refused.params, { ...ctx, undo: refused.undo }), /holding \$GAMEDAY_HOME .*under the reserve of 512 MiB \(the floor: .*a smaller reserve cannot lower it\)/);
    assert.deepEqual(gamedayEntries(dir), []);
    // the floor (512 MiB) is more than this 16 MiB tmpfs: without force nothing may be written on it
    const small = await planned<any>(diskFill, t, { size: "1M", reserve: "4M" });
    await assert.rejects(diskFill.inject(t, small.params, { ...ctx, undo: small.undo }), /under the reserve of 512 MiB/);
    assert.deepEqual(gamedayEntries(dir), []);
    const forced = await planned<any>(diskFill, t, { leaveFree: 0, reserve: "4M", force: true });
    await diskFill.inject(t, forced.params, { ...ctx, undo: forced.undo });
    assert.equal(fsInfo(dir).freeBytes, 0);
    await diskFill.revert(t, forced.undo);
    await verified(t, forced.undo);
  } finally {
    process.env.GAMEDAY_HOME = home;
  }
});

test("relative paths, missing paths and non-directories are refused; nothing is written", async () => {
  const dir = mountTmpfs(8, "gameday-disk-");
  fs.writeFileSync(path.join(dir, "file"), "x");
  fs.symlinkSync(path.join(dir, "file"), path.join(dir, "link-to-file"));
  const cases: [string, RegExp][] = [
    ["var/tmp", /must be absolute/],
    [path.join(dir, "missing"), /does not exist/],
    [path.join(dir, "file"), /is not a directory/],
    [path.join(dir, "link-to-file"), /is not a directory/],
  ];
  for (const [p, why] of cases) {
    for (const inj of [diskFill, ioStress]) {
      const t: PathTarget = { kind: "path", path: p };
      const { params, undo } = await planned<any>(inj, t, inj === diskFill ? { size: "1M" } : { fileSize: "1M" });
      await assert.rejects(inj.inject(t, params as never, { ...ctx, undo }), why, `${inj.name} on ${p}`);
    }
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ["file", "link-to-file"]);
});

test("a symlinked directory is resolved: writes land only in its real directory, and revert never follows a link", async () => {
  const root = mountTmpfs(16, "gameday-disk-");
  const real = path.join(root, "real");
  const other = path.join(root, "other");
  fs.mkdirSync(real);
  fs.mkdirSync(other);
  fs.symlinkSync(real, path.join(root, "link"));
  const t: PathTarget = { kind: "path", path: path.join(root, "link") };
  const { params, undo } = await planned<any>(diskFill, t, { size: "2M" });
  assert.equal(undo.dir, real);
  await diskFill.inject(t, params, { ...ctx, undo });
  assert.equal(ourBytes(real, undo.prefix), 2 * MiB);
  assert.deepEqual(fs.readdirSync(root).sort(), ["link", "other", "real"]);
  assert.deepEqual(fs.readdirSync(other), []);
  // a link named like our files, pointing outside: revert removes the link only
  const precious = path.join(other, "precious");
  fs.writeFileSync(precious, "keep me");
  fs.symlinkSync(precious, path.join(real, `${undo.prefix}99`));
  await diskFill.revert(t, undo);
  await verified(t, undo);
  assert.equal(fs.readFileSync(precious, "utf8"), "keep me");
  assert.deepEqual(fs.readdirSync(real), []);
  // the link re-pointed between plan and inject: refused, nothing written anywhere
  const again = await planned<any>(diskFill, t, { size: "1M" });
  fs.rmSync(path.join(root, "link"));
  fs.symlinkSync(other, path.join(root, "link"));
  await assert.rejects(diskFill.inject(t, again.params, { ...ctx, undo: again.undo }), /resolves to .*other now, not .*real as planned/);
  assert.deepEqual(fs.readdirSync(other), ["precious"]);
  assert.deepEqual(fs.readdirSync(real), []);
});

test("why it matters: a program writing to the filesystem gets ENOSPC during the fault and writes again after revert", async () => {
  const dir = mountTmpfs(32, "gameday-disk-");
  const t: PathTarget = { kind: "path", path: dir };
  // a tiny logger: appends one 4 KiB record every 50 ms, says "ok" or the error code
  const logger = spawn(
    process.execPath,
    ["-e", `const fs = require("fs"); const rec = Buffer.alloc(4096, 97); setInterval(() => { try { fs.appendFileSync(process.argv[1], rec); console.log("ok"); } catch (e) { console.log(e.code); } }, 50);`, path.join(dir, "app.log")],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(logger);
  const lines: string[] = [];
  let buf = "";
  logger.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const seenAfter = (from: number, what: string) => waitFor(`"${what}" from the logger`, () => lines.slice(from).includes(what), 10_000);
  await seenAfter(0, "ok");
  assert.ok(!lines.includes("ENOSPC"), "no ENOSPC before the fault");

  const { params, undo } = await planned<any>(diskFill, t, { leaveFree: 0 });
  await diskFill.inject(t, params, { ...ctx, undo });
  const injectedAt = lines.length;
  await seenAfter(injectedAt, "ENOSPC");

  await diskFill.revert(t, undo);
  const revertedAt = lines.length;
  await seenAfter(revertedAt, "ok");
  await verified(t, undo);
  logger.kill("SIGKILL");
});

test("io-stress: tagged writers write and fsync, bytes grow; revert kills them and removes their files", async () => {
  const dir = mountTmpfs(32, "gameday-disk-");
  const t: PathTarget = { kind: "path", path: dir };
  for (const pattern of ["random", "sequential"]) {
    const { params, undo } = await planned<any>(ioStress, t, { bandwidth: "8M/s", blockSize: "64K", fileSize: "4M", workers: 2, pattern, fsyncEvery: 4 });
    await ioStress.inject(t, params, { ...ctx, undo });
    assert.equal(tagged(undo.tag).length, 2, "two writer processes");
    assert.equal(ourFiles(dir, undo.prefix).length, 2);
    const first = writtenBy(undo.tag);
    await waitFor("written bytes to grow by 1 MiB", () => writtenBy(undo.tag) > first + MiB);
    await waitFor("the files to take space", () => ourBytes(dir, undo.prefix) > MiB);
    assert.ok(ourBytes(dir, undo.prefix) <= 8 * MiB, "writes stay within workers × fileSize");
    assert.equal((await ioStress.verify(t, undo)).ok, false);
    const seen = writtenBy(undo.tag);
    await ioStress.revert(t, undo);
    const v = await ioStress.verify(t, undo);
    assert.ok(v.ok, v.detail);
    assert.equal(tagged(undo.tag).length, 0);
    assert.deepEqual(gamedayEntries(dir), []);
    // the evidence: what the writers had written when the revert came, in how many write() calls
    const e = await ioStress.effect!(t, undo);
    const c = e?.counters as { writtenBytes: number; writes: number; writers: number; files: number };
    assert.ok(e && e.touched === c.writtenBytes && c.writtenBytes >= seen && c.writes >= c.writtenBytes / (64 * 1024), JSON.stringify(e));
    assert.equal(c.writers, 2);
    assert.match(e.summary, new RegExp(`^2 writers wrote \\d+(\\.\\d)? MiB in \\d+ write\\(\\) calls to 2 files \\(.+ allocated\\) in ${dir}; free 32 MiB before, .+ at the peak$`));
  }
});

test("io-stress refuses files that do not fit, and keeps the reserve on /", async () => {
  const dir = mountTmpfs(8, "gameday-disk-");
  const t: PathTarget = { kind: "path", path: dir };
  const big = await planned<any>(ioStress, t, { fileSize: "6M", workers: 2 });
  await assert.rejects(ioStress.inject(t, big.params, { ...ctx, undo: big.undo }), /need up to 12 MiB, more than the 8 MiB free/);
  assert.deepEqual(gamedayEntries(dir), []);
  assert.equal(tagged(big.undo.tag).length, 0);
  const rootDir = fs.mkdtempSync(path.join("/var/tmp", "gameday-reserve-"));
  scratch.push(rootDir);
  const rt: PathTarget = { kind: "path", path: rootDir };
  // a reserve larger than this disk stands for "the root filesystem is nearly full"
  const floor = await planned<any>(ioStress, rt, { fileSize: "1M", reserve: "100T" });
  await assert.rejects(ioStress.inject(rt, floor.params, { ...ctx, undo: floor.undo }), /refusing: .*filesystem holding \/.*reserve of 100 TiB/);
  assert.deepEqual(fs.readdirSync(rootDir), []);
  assert.equal(tagged(floor.undo.tag).length, 0);
});

test("a worker SIGKILLed mid-fault: its reaper removes the files and stops the writers within 2 s, the next start records it", { timeout: 120_000 }, async () => {
  const dir = mountTmpfs(32, "gameday-disk-");
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const whome = tempHome();
  scratch.push(whome);
  worker = await startWorkerProcess(whome, { env: { GAMEDAY_WARMUP_MS: "300" } });
  const yaml = `
apiVersion: gameday/v1
kind: Experiment
metadata: { name: disk-crash }
spec:
  hypothesis: a crash of the worker leaves no disk filled for good
  targets: { d: { path: ${dir} } }
  steadyState: { probes: [ { name: up, type: http, url: "${url}", interval: 100ms, tolerance: { min: 0.5 } } ] }
  method:
    - { fault: disk-fill, target: d, params: { size: 16M, rate: 1M/s }, duration: 10m }
    - { fault: io-stress, target: d, params: { fileSize: 2M, workers: 2, bandwidth: 1M/s, fsyncEvery: 4 }, duration: 10m }
`;
  const r = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await waitFor("the filler and two writers at work", () => {
    const n = gamedayEntries(dir);
    return n.some((x) => x.startsWith(".gameday-disk-fill-")) && n.filter((x) => x.startsWith(".gameday-io-stress-")).length === 2 && loadIn(dir).length === 3;
  }, 20_000);

  await worker.stop("SIGKILL");
  // the worker's reaper (dead man's switch) removes the files with no worker running
  await waitFor("the reaper to remove the files and stop the writers", () => gamedayEntries(dir).length === 0 && loadIn(dir).length === 0, 2000, 20);
  assert.equal(fsInfo(dir).usedBytes, 0, "the space is free again");

  worker = await startWorkerProcess(whome);
  const { body } = await apiCall<{ run: RunRecord }>(worker, "GET", `/api/v1/runs/${r.body.run.id}`);
  assert.equal(body.run.state, "failed");
  assert.equal(body.run.faults.length, 2);
  for (const f of body.run.faults) {
    assert.equal(f.state, "reverted", `${f.fault}: ${f.error ?? ""}`);
    assert.equal(f.verified, true);
  }
  assert.equal(fsInfo(dir).usedBytes, 0);
});
