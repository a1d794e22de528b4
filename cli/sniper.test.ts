// gameday sniper against real processes: the seed's output, real kills,
// respawns seen, replay by seed, every safety valve, STOP reverted by the
// reaper after the sniper itself is SIGKILLed, and bad flags.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EXIT_WITH_PARENT, killHard, ownedPrefix, procState, ROOT, runCli, runCliBatch, sleep, tempHome, waitFor, waitForLine } from "../e2e/kit";
import { listProcesses, registerSelf } from "../lib/procfs";
import { findHierarchy } from "../injectors/cgroup/hierarchy";
import { cgroup2Root } from "../injectors/net-fault";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), ownedPrefix("gameday-sniper-")));
const home = tempHome();
const runDir = path.join(dir, "run");
const env = { GAMEDAY_HOME: home, GAMEDAY_RUN_DIR: runDir, TZ: "UTC" };
const all: ChildProcess[] = [];
// a folder in the hierarchy the product would use: cgroup v2 (unified-only or hybrid), else v1's cpu hierarchy;
// the --cgroup selector matches any line of /proc/PID/cgroup
const cgroupRoot = fs.existsSync(path.join(cgroup2Root(), "cgroup.procs")) ? cgroup2Root() : findHierarchy("cpu")?.mount;
const cgroupDir = cgroupRoot && path.join(cgroupRoot, `gameday-test-sniper-${process.pid}`);

/** A copy of `sleep` under another name, so /proc/PID/comm is that name. */
function program(name: string): string {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) fs.copyFileSync("/bin/sleep", file);
  fs.chmodSync(file, 0o755);
  return file;
}

function start(name: string, n: number): ChildProcess[] {
  const file = program(name);
  const kids = Array.from({ length: n }, () => spawn(file, ["600"], { stdio: "ignore" }));
  all.push(...kids);
  return kids;
}

const named = (comm: string) => listProcesses().filter((p) => p.comm === comm && p.state !== "Z");
const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null && procState(c.pid!) !== null;
const sniper = (args: string[]) => runCli(["sniper", ...args], env, 60_000);

after(async () => {
  await Promise.all(all.map((c) => killHard(c, "SIGKILL")));
  // a failed test may leave a supervisor's children (not ours to wait for): every copy of ours goes
  for (const p of listProcesses()) if (p.cmdline.startsWith(dir + path.sep) && p.state !== "Z") process.kill(p.pid, "SIGKILL");
  if (cgroupDir && fs.existsSync(cgroupDir)) fs.rmdirSync(cgroupDir);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(home, { recursive: true, force: true });
});

describe("gameday sniper", { timeout: 180_000 }, () => {
  test("the seed's example: header, instances found, dice rolls, real kills", async () => {
    const kids = start("worker-app", 5);
    const pids = kids.map((c) => c.pid!).sort((a, b) => a - b);
    const r = await sniper(["--target", "worker-app", "--probability", "0.6", "--interval", "200ms", "--duration", "1500ms", "--seed", "7", "--max-down", "100"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    const ts = String.raw`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] `;
    assert.match(lines[0], new RegExp(ts + "Target: worker-app \\| Strategy: Random Kill$"));
    assert.ok(lines.some((l) => new RegExp(ts + `Found 5 instances: \\[${pids.join(", ")}\\]$`).test(l)), r.stdout);
    const kills = lines.map((l) => new RegExp(ts + String.raw`Dice roll: (0\.\d\d) < 0\.60\. KILLING PID (\d+)\.$`).exec(l)).filter((m) => m !== null);
    const misses = lines.filter((l) => new RegExp(ts + String.raw`Dice roll: (0\.\d\d|1\.00) >= 0\.60\. Holding fire\.$`).test(l));
    assert.ok(kills.length >= 1, `expected at least one kill:\n${r.stdout}`);
    assert.ok(kills.length + misses.length >= 4, r.stdout);
    for (const m of kills) {
      const pid = Number(m[2]);
      assert.ok(pids.includes(pid), `killed PID ${pid} was not one of the targets`);
      await waitFor(`PID ${pid} to be gone`, () => !alive(kids.find((c) => c.pid === pid)!), 3000);
    }
    assert.equal(kids.filter(alive).length, 5 - kills.length, "exactly the announced PIDs died");
    assert.match(lines.at(-1)!, new RegExp(`Done: \\d+ scans, \\d+ rolls, \\d+ hits, ${misses.length} misses, ${kills.length} kills, 0 refused, 0 failed, 0 respawns seen\\.$`));
  });

  test("the same seed replays the same dice rolls (dry run, --json)", async () => {
    start("replay-app", 3);
    const args = ["--target", "replay-app", "--probability", "0.5", "--interval", "100ms", "--duration", "800ms", "--seed", "1234", "--dry-run", "--json"];
    const rolls = async () => {
      const r = await sniper(args);
      assert.equal(r.code, 0, r.stderr);
      const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; roll?: number; pids?: number[] });
      return events.filter((e) => e.event === "hit" || e.event === "miss").map((e) => [e.roll, e.pids ?? []]);
    };
    const a = await rolls();
    const b = await rolls();
    // one roll a round, 7 due (100 ms, 200 ms, … 700 ms of 800 ms); a loaded host may push the last ones past the
    // end, so the runs may differ in length, but each must have rolled enough for the comparison to mean something
    assert.ok(a.length >= 3, `first run: ${JSON.stringify(a)}`);
    assert.ok(b.length >= 3, `second run: ${JSON.stringify(b)}`);
    assert.ok(Math.abs(a.length - b.length) <= 2, `${a.length} and ${b.length} rolls: more apart than two rounds lost to load`);
    const n = Math.min(a.length, b.length);
    assert.deepEqual(a.slice(0, n), b.slice(0, n));
  });

  test("--dry-run signals nothing", async () => {
    const kids = start("dry-app", 2);
    const r = await sniper(["--target", "dry-app", "--interval", "100ms", "--duration", "500ms", "--dry-run", "--max-down", "100"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /WOULD BE KILLING PID \d+ \(dry run\)\./);
    assert.ok(kids.every(alive));
  });

  test("respawned instances are found on the next scan", async () => {
    const file = program("phoenix-app");
    // a tiny supervisor: whatever dies comes back 50 ms later
    const sup = spawn(process.execPath, ["-e", `
      const { spawn } = require("node:child_process");
      const run = () => spawn(${JSON.stringify(file)}, ["600"], { stdio: "ignore" }).on("exit", () => setTimeout(run, 50));
      run(); run(); run();
      console.log("up");
      process.on("SIGTERM", () => process.exit(0));
    `], { stdio: ["ignore", "pipe", "inherit"] });
    all.push(sup);
    await waitForLine(sup, (l) => l === "up");
    await waitFor("three phoenix-app instances", () => named("phoenix-app").length === 3 || null, 3000);
    const r = await sniper(["--target", "phoenix-app", "--probability", "1", "--interval", "300ms", "--duration", "1700ms", "--max-down", "100", "--seed", "3"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Respawned: 1 new instance: \[\d+\] \(fleet 3\)/);
    assert.match(r.stdout, /[1-9]\d* respawns seen\.$/m);
    await killHard(sup, "SIGTERM");
    // the supervisor's children are plain sleeps; end them too
    for (const p of named("phoenix-app")) process.kill(p.pid, "SIGKILL");
  });

  test("the safety valve refuses kills beyond --max-down of the fleet", async () => {
    const kids = start("fleet-app", 4);
    const r = await sniper(["--target", "fleet-app", "--probability", "1", "--count", "4", "--max-down", "50", "--interval", "200ms", "--duration", "700ms", "--seed", "5"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /KILLING PIDs \d+, \d+\./);
    assert.match(r.stdout, /SAFETY: not killing PID \d+: 2 of 4 instances would be down; one more exceeds --max-down 50%\./);
    await waitFor("two to die", () => kids.filter(alive).length === 2 || null, 3000);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(kids.filter(alive).length, 2, "half the fleet must survive");
  });

  test("PID 1, kernel threads, our parents, Game Day's own processes and protected names are refused", async () => {
    // in one process (its parent is this test, as a CLI's would be)
    const [one, kthread, parent] = await runCliBatch(
      [
        ["sniper", "--pid", "1", "--duration", "1s"],
        ["sniper", "--name", "kthreadd", "--duration", "1s"],
        ["sniper", "--pid", String(process.pid), "--duration", "1s"],
      ],
      env,
    );
    assert.equal(one.code, 1);
    assert.match(one.stderr, /--pid: PID 1 \(init\) is never a target/);
    assert.equal(kthread.code, 1);
    assert.match(kthread.stderr, /kernel threads are never targets/);
    assert.equal(parent.code, 1);
    assert.match(parent.stderr, /Game Day itself and its parents are never targets/);

    const [own] = start("own-app", 1);
    process.env.GAMEDAY_RUN_DIR = runDir; // the registry the sniper reads (env above)
    const unregister = registerSelf(own.pid!);
    delete process.env.GAMEDAY_RUN_DIR;
    const mine = await sniper(["--target", "own-app", "--duration", "1s"]);
    unregister();
    assert.equal(mine.code, 1);
    assert.match(mine.stderr, /Game Day's own processes \(worker, web app, CLIs, reaper\) are never targets/);
    assert.ok(alive(own));

    const [fake] = start("sshd", 1);
    const refused = await sniper(["--name", "sshd", "--pid", String(fake.pid), "--duration", "1s"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /"sshd" is one of the machine's services \(remote access\)/);
    assert.ok(alive(fake));
    // an empty protect list does not lift the roles: the machine's services stay protected
    const still = await sniper(["--name", "sshd", "--pid", String(fake.pid), "--protect", "", "--probability", "1", "--interval", "100ms", "--duration", "400ms", "--max-down", "100"]);
    assert.equal(still.code, 1);
    assert.ok(alive(fake));
    // names on the protect list are refused too, and an explicit empty list lifts them (the user's own decision)
    const [guarded] = start("guarded-app", 1);
    const named = await sniper(["--name", "guarded-app", "--protect", "guarded-app", "--duration", "1s"]);
    assert.equal(named.code, 1);
    assert.match(named.stderr, /"guarded-app" is on the protect list/);
    const lifted = await sniper(["--name", "guarded-app", "--protect", "", "--probability", "1", "--interval", "100ms", "--duration", "400ms", "--max-down", "100"]);
    assert.equal(lifted.code, 0, lifted.stderr);
    await waitFor("the guarded app to be killed", () => !alive(guarded) || null, 3000);
  });

  test("nothing matching is a clear error, exit 1", async () => {
    const r = await sniper(["--target", `no-such-program-${process.pid}`, "--duration", "1s"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no process matches program=no-such-program-\d+/);
  });

  test("a selector matching most of the host is refused unless --allow-broad gives the reason", async () => {
    const [any, root, blank] = await runCliBatch(
      [
        ["sniper", "--cmdline", ".*", "--dry-run", "--duration", "1s"],
        ["sniper", "--user", "root", "--dry-run", "--duration", "1s"],
        ["sniper", "--cmdline", ".*", "--allow-broad", " ", "--dry-run", "--duration", "1s"],
      ],
      env,
    );
    assert.equal(any.code, 1);
    assert.match(any.stderr, /matches most of this host: cmdline \/\.\*\/ matches any command line; narrow it, or pass --allow-broad WHY/);
    assert.equal(any.stdout, "");
    assert.equal(root.code, 1);
    assert.match(root.stderr, /user root alone selects every process root runs/);
    assert.equal(blank.code, 1);
    assert.match(blank.stderr, /--allow-broad: give the reason/);
    const allowed = await sniper(["--cmdline", ".*", "--allow-broad", "drill: the whole box", "--dry-run", "--duration", "300ms", "--interval", "100ms"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /Broad selection allowed: drill: the whole box/);
  });

  test("user and cgroup selectors narrow the targets", { skip: !cgroupDir && "no cgroup v2 hierarchy and no v1 cpu hierarchy to make a folder in" }, async () => {
    const [a, b] = start("cg-app", 2);
    fs.mkdirSync(cgroupDir!);
    fs.writeFileSync(path.join(cgroupDir!, "cgroup.procs"), String(a.pid));
    const r = await sniper(["--target", "cg-app", "--user", "root", "--cgroup", `gameday-test-sniper-${process.pid}$`, "--probability", "1", "--interval", "100ms", "--duration", "350ms", "--max-down", "100"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Found 1 instances: \\[${a.pid}\\]`));
    await waitFor("the cgroup member to die", () => !alive(a) || null, 3000);
    assert.ok(alive(b), "the process outside the cgroup is untouched");
    const nobody = await sniper(["--target", "cg-app", "--user", "nobody", "--duration", "1s"]);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /no process matches program=cg-app user=nobody/);
    const unknown = await sniper(["--target", "cg-app", "--user", "no-such-user-x", "--duration", "1s"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /--user: no such user "no-such-user-x"/);
  });

  test("SIGSTOP freezes are resumed at the end, and by the reaper within 2 s of the sniper being SIGKILLed", async () => {
    const kids = start("freeze-app", 2);
    const held = await sniper(["--target", "freeze-app", "--signal", "STOP", "--probability", "1", "--count", "2", "--interval", "100ms", "--duration", "600ms", "--max-down", "100"]);
    assert.equal(held.code, 0, held.stderr);
    assert.match(held.stdout, /FREEZING PIDs \d+, \d+\./);
    assert.match(held.stdout, /Resumed PID \d+ \(SIGCONT\)/);
    for (const c of kids) assert.notEqual(procState(c.pid!), "T");

    // holds far longer than the test: only the reaper can resume them in time
    const cli = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "sniper", "--target", "freeze-app", "--signal", "STOP", "--probability", "1", "--count", "2", "--interval", "100ms", "--hold", "10m", "--duration", "10m", "--max-down", "100"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    all.push(cli);
    await waitForLine(cli, (l) => l.includes("FREEZING"), 20_000, "a freeze");
    await waitFor("both to be stopped", () => kids.every((c) => procState(c.pid!) === "T") || null, 3000, 10);
    // the journal's last write has landed: a SIGKILL in the middle of one leaves a .tmp file the reaper does not clear (yet)
    const journal = path.join(home, "journal");
    const injected = () => {
      const names = fs.readdirSync(journal);
      if (names.some((n) => n.endsWith(".tmp"))) return null;
      const docs = names.filter((n) => n.endsWith(".json")).map((n) => JSON.parse(fs.readFileSync(path.join(journal, n), "utf8")) as { entries: { state: string }[] });
      return docs.some((d) => d.entries.filter((e) => e.state === "injected").length === 2) || null;
    };
    await waitFor("both freezes to be journaled as injected", injected, 3000, 10);
    const killedAt = performance.now();
    await killHard(cli, "SIGKILL");
    // no command typed: poll /proc until both run again
    let running = false;
    while (!running && performance.now() - killedAt < 2000) {
      await sleep(15);
      running = kids.every((c) => procState(c.pid!) !== "T");
    }
    const states = kids.map((c) => `${c.pid}:${procState(c.pid!)}`).join(" ");
    assert.ok(running, `still frozen ${Math.round(performance.now() - killedAt)} ms after the SIGKILL (${states})`);
    // the reaper removes the journal just after its last SIGCONT
    const left = () => (fs.existsSync(journal) ? fs.readdirSync(journal).filter((n) => n !== "reaper.log") : []);
    const deadline = performance.now() + 3000;
    while (left().length && performance.now() < deadline) await sleep(20);
    assert.deepEqual(left(), [], "nothing may remain in the journal once the reaper is done");
  });

  test("bad flags name the flag, exit 1, and signal nothing", async () => {
    const kids = start("bad-app", 1);
    const cases: [string[], RegExp][] = [
      [["--probability", "1.5"], /--probability: must be between 0 and 1/],
      [["--probability", "abc"], /--probability: expected a number between 0 and 1/],
      [["--interval", "5x"], /--interval: expected a duration like 500ms/],
      [["--interval=-1s"], /--interval: must not be negative/],
      [["--signal", "HUP"], /--signal: expected one of KILL, TERM, INT, STOP/],
      [["--count", "0"], /--count: expected a whole number ≥ 1/],
      [["--count", "2", "--max-percent", "10"], /--count: give --count or --max-percent, not both/],
      [["--interval", "1s", "--jitter", "2s"], /--jitter: must be shorter than --interval/],
      [["--max-down", "150"], /--max-down: must be at most 100/],
      [["--hold", "1s"], /--hold: only applies to --signal STOP/],
      [["--cmdline", "("], /--cmdline: not a valid regular expression/],
      [["--bogus"], /Unknown option '--bogus'/],
    ];
    const results = await runCliBatch(cases.map(([args]) => ["sniper", "--target", "bad-app", "--duration", "300ms", "--interval", "100ms", ...args]), env);
    cases.forEach(([args, re], i) => {
      const r = results[i];
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
      assert.equal(r.stdout, "", `${args.join(" ")} must start nothing`);
    });
    assert.ok(kids.every(alive));
  });
});
