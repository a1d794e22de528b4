// gameday disk-devourer end to end, as a separate process, on a real tmpfs.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { EXIT_WITH_PARENT, loadIn, mountTmpfs, ROOT, runCli, runCliBatch, tempHome, unmountAllTmpfs, waitFor, waitForLine } from "../e2e/kit";
import { fsInfo } from "../injectors/disk/fs";

const home = tempHome();
const env = { GAMEDAY_HOME: home };
const clis: ChildProcess[] = [];
const STAMPED = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \S/;

const gamedayEntries = (dir: string) => fs.readdirSync(dir).filter((n) => n.startsWith(".gameday-"));
const journals = () => (fs.existsSync(path.join(home, "journal")) ? fs.readdirSync(path.join(home, "journal")).filter((n) => n.endsWith(".json")) : []);

after(() => {
  for (const c of clis) c.kill("SIGKILL");
  unmountAllTmpfs();
  fs.rmSync(home, { recursive: true, force: true });
});

test("--help states the modes and the default duration", async () => {
  const r = await runCli(["disk-devourer", "--help"], env);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--fill P%/);
  assert.match(r.stdout, /gameday disk-devourer io/);
  assert.match(r.stdout, /default 60s/);
});

test("fills the filesystem for the duration, says so in stamped lines, and leaves nothing behind", { timeout: 60_000 }, async () => {
  const dir = mountTmpfs(32, "gameday-devourer-");
  const run = runCli(["disk-devourer", "--path", dir, "--fill", "75%", "--duration", "3s"], env);
  await waitFor("the filesystem to be 75% used", () => fsInfo(dir).usedPercent >= 74.5, 20_000);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  for (const l of lines) assert.match(l, STAMPED);
  const text = r.stdout;
  assert.match(text, /Target: .*\| Strategy: fill to 75% at once for 3s/);
  assert.match(text, /Filesystem before: tmpfs gameday-test-\d+ on .*: size 32 MiB, used 0 B \(0\.0%\), free 32 MiB/);
  assert.match(text, /About to write 24 MiB at once into .*\.gameday-disk-fill-<id>-<n> → 75\.0% used, 8 MiB free/);
  assert.match(text, /injected disk-fill on /);
  assert.match(text, /Usage: 75\.0% used, 8 MiB free \| our files: 24 MiB/);
  assert.match(text, /reverted disk-fill on .*: no \.gameday-disk-fill-[0-9a-f-]+-\* file and no writer left/);
  assert.match(text, /Filesystem after revert: .*used 0 B \(0\.0%\), free 32 MiB/);
  assert.match(text, /Done: held for 3s, peak 75\.0% used, 1 of 1 change\(s\) reverted\./);
  assert.deepEqual(gamedayEntries(dir), []);
  assert.deepEqual(journals(), []);
});

test("--dry-run says what it would write and writes nothing; --json gives one event per line", async () => {
  const dir = mountTmpfs(32, "gameday-devourer-");
  const r = await runCli(["disk-devourer", "--path", dir, "--leave", "1M", "--rate", "10M/s", "--dry-run", "--json"], env);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; message: string; freeBytes?: number });
  assert.deepEqual(events.map((e) => e.event), ["start", "filesystem", "dry-run"]);
  assert.equal(events[1].freeBytes, 32 * 1024 ** 2);
  assert.match(events[2].message, /DRY RUN: would write 31 MiB at 10 MiB\/s \(about 4s\) .* → 96\.9% used, 1 MiB free; nothing written/);
  assert.deepEqual(fs.readdirSync(dir), []);
  assert.deepEqual(journals(), []);
});

test("io: tagged writers load the filesystem for the duration and are gone after", { timeout: 60_000 }, async () => {
  const dir = mountTmpfs(32, "gameday-devourer-");
  const run = runCli(["disk-devourer", "io", "--path", dir, "--bandwidth", "8M/s", "--pattern", "random", "--fsync-every", "8", "--file-size", "4M", "--workers", "2", "--duration", "3s"], env);
  await waitFor("two io writers", () => loadIn(dir).length === 2, 20_000);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  for (const l of r.stdout.trim().split("\n")) assert.match(l, STAMPED);
  assert.match(r.stdout, /About to start 2 writer\(s\) at 4 MiB\/s each, 64 KiB random writes, fsync every 8 writes/);
  assert.match(r.stdout, /Usage: .*\| writers: [\d.]+ [KM]iB\/s, /);
  assert.match(r.stdout, /reverted io-stress on /);
  assert.deepEqual(loadIn(dir), []);
  assert.deepEqual(gamedayEntries(dir), []);
});

test("bad flags exit 1 with a message naming the flag, and nothing is written", { timeout: 120_000 }, async () => {
  const dir = mountTmpfs(8, "gameday-devourer-");
  const cases: [string[], RegExp][] = [
    [["--path", dir, "--fill", "150%"], /--fill: must be at most 100/],
    [["--path", dir, "--size", "lots"], /--size: expected a size like 512M/],
    [["--path", dir, "--fill", "50%", "--size", "1M"], /--size: give only one of --fill, --size and --leave/],
    [["--path", dir], /choose how much to fill: --fill P%, --size SIZE or --leave SIZE/],
    [["--fill", "50%"], /--path: give the directory/],
    [["--path", path.join(dir, "missing"), "--fill", "50%"], /--path: .*does not exist/],
    [["--path", dir, "--fill", "50%", "--duration", "soon"], /--duration: expected a duration/],
    [["--path", dir, "--fill", "50%", "--rate", "fast"], /--rate: expected a rate/],
    [["--path", dir, "--fill", "50%", "--bogus"], /Unknown option '--bogus'/],
    [["--path", dir, "--size", "9M"], /size 9 MiB is more than the 8 MiB free/],
    [["--path", "/var/tmp", "--leave", "0"], /refusing: .*filesystem holding \/.*reserve of [\d.]+ [MG]iB .*set force: true \(--force\)/],
    [["io", "--path", dir, "--pattern", "zigzag"], /--pattern: expected one of sequential, random/],
    [["io", "--path", dir, "--workers", "17"], /--workers: expected a whole number from 1 to 16/],
    [["io", "--path", dir, "--block-size", "1M", "--file-size", "64K"], /--file-size: must be at least blockSize/],
    [["io", "--path", dir, "--fill", "50%"], /--fill: only applies to filling/],
    [["--path", dir, "--fill", "50%", "--workers", "2"], /--workers: only applies to gameday disk-devourer io/],
  ];
  const results = await runCliBatch(cases.map(([args]) => ["disk-devourer", ...args]), env);
  results.forEach((r, i) => {
    const [args, why] = cases[i];
    assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, why, args.join(" "));
    assert.doesNotMatch(r.stdout, /injected/);
  });
  assert.deepEqual(fs.readdirSync(dir), []);
  assert.deepEqual(fs.readdirSync("/var/tmp").filter((n) => n.startsWith(".gameday-")), []);
});

test("Ctrl-C (SIGINT) mid-fault reverts at once and exits 0", { timeout: 60_000 }, async () => {
  const dir = mountTmpfs(32, "gameday-devourer-");
  const cli = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "disk-devourer", "io", "--path", dir, "--bandwidth", "2M/s", "--file-size", "1M", "--duration", "10m"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  clis.push(cli);
  let out = "";
  cli.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  await waitFor("the writer to start", () => out.includes("injected io-stress") && loadIn(dir).length === 1, 30_000);
  const exited = new Promise<number | null>((r) => cli.once("exit", (code) => r(code)));
  cli.kill("SIGINT");
  assert.equal(await exited, 0, out);
  assert.match(out, /SIGINT: stopping, reverting every change/);
  assert.match(out, /reverted io-stress on /);
  assert.match(out, /Done: stopped early/);
  assert.deepEqual(loadIn(dir), []);
  assert.deepEqual(gamedayEntries(dir), []);
  assert.deepEqual(journals(), []);
});

test("a SIGKILLed CLI's reaper removes its files and stops its filler within 2 s, with no command typed", { timeout: 60_000 }, async () => {
  const dir = mountTmpfs(32, "gameday-devourer-");
  const cli = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "disk-devourer", "--path", dir, "--size", "16M", "--rate", "1M/s", "--duration", "10m"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  clis.push(cli);
  await waitForLine(cli, (l) => l.includes("injected disk-fill"), 30_000, "the fill to start");
  await waitFor("bytes written", () => gamedayEntries(dir).length > 0 && fsInfo(dir).usedBytes > 0);
  assert.equal(loadIn(dir).length, 1);
  assert.equal(journals().length, 1);

  const exited = new Promise((r) => cli.once("exit", r));
  const t0 = performance.now();
  cli.kill("SIGKILL");
  await exited;
  await waitFor("the reaper to remove our files and writer", () => gamedayEntries(dir).length === 0 && loadIn(dir).length === 0 && fsInfo(dir).usedBytes === 0, 2000, 10);
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `reverted ${ms.toFixed(0)} ms after the SIGKILL`);
  await waitFor("the journal to be gone", () => journals().length === 0, 3000);

  const r = await runCli(["recover"], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /nothing to recover/);
});
