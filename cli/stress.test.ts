// gameday stress as a user runs it: a separate CLI process injecting into
// real processes and real cgroups, measuring from /proc, reverting at the
// end — and, when SIGKILLed, reverted by the next standalone command.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { planConfine, release, type ConfineUndo } from "../injectors/cgroup/confine";
import { cgroupOf, findHierarchy } from "../injectors/cgroup/hierarchy";
import { listProcesses, readProc } from "../lib/procfs";
import { EXIT_WITH_PARENT, ownedPrefix, ROOT, runCli, runCliBatch, tempDir, waitFor } from "../e2e/kit";
import { stressNgMissing } from "../injectors/load/engine";

const home = fs.mkdtempSync(path.join(os.tmpdir(), ownedPrefix("gameday-stress-cli-")));
const env = { GAMEDAY_HOME: home };
const journalFiles = () => (fs.existsSync(path.join(home, "journal")) ? fs.readdirSync(path.join(home, "journal")).filter((n) => n !== "reaper.log") : []);
const STAMP = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] /;

const victims: ChildProcess[] = [];
const undos: ConfineUndo[] = [];
const clis: ChildProcess[] = [];
/** A busy loop in its own process group (killed with it), running only while this process ($PPID) does. */
function busyVictim(marker: string): ChildProcess {
  const c = spawn("sh", ["-c", `: ${marker}; while kill -0 $PPID; do :; done`], { stdio: "ignore", detached: true });
  victims.push(c);
  return c;
}
const loadOf = (cliPid: number) => listProcesses().filter((p) => p.state !== "Z" && p.cmdline.includes("gameday-load:") && p.cmdline.includes(`--parent ${cliPid} `));

after(async () => {
  for (const c of clis) c.kill("SIGKILL");
  for (const u of undos) await release(u).catch(() => undefined);
  for (const v of victims) {
    try {
      process.kill(-v.pid!, "SIGKILL");
    } catch {
      // gone
    }
  }
  fs.rmSync(home, { recursive: true, force: true });
});

/** Each command exits 1 with its message, injects nothing and journals nothing. */
async function refusedAll(cases: [string[], RegExp][]): Promise<void> {
  const results = await runCliBatch(cases.map(([args]) => args), env);
  cases.forEach(([args, re], i) => {
    const r = results[i];
    assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
    assert.doesNotMatch(r.stdout, /injected/);
  });
  assert.deepEqual(journalFiles(), []);
}

describe("gameday stress", { timeout: 240_000 }, () => {
  test("cpu: loads a core, reports engine, samples and the revert, leaves nothing", async () => {
    const r = await runCli(["stress", "cpu", "--workers", "1", "--load", "60", "--duration", "2s"], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trim().split("\n");
    for (const l of lines) assert.match(l, STAMP);
    assert.match(r.stdout, new RegExp(`host ${os.hostname()}: ${os.availableParallelism()} cores`));
    assert.match(r.stdout, stressNgMissing() ? /1 worker\(s\) at 60 %, engine node \(auto: stress-ng is not on PATH\)/ : /engine stress-ng/);
    assert.match(r.stdout, /injected cpu-stress on /);
    assert.match(r.stdout, /reverted cpu-stress on .*: no cpu-stress load generator left/);
    const avg = /average CPU ([\d.]+) cores/.exec(r.stdout);
    assert.ok(avg, r.stdout);
    assert.ok(Number(avg[1]) > 0.15 && Number(avg[1]) < 1.5, `a 60 % burner measured ${avg[1]} cores`);
    assert.deepEqual(journalFiles(), []);
    // test files run one at a time: any cpu-stress child now would be a leftover of this CLI
    assert.deepEqual(listProcesses().filter((p) => p.cmdline.includes("gameday-load:cpu-stress:") && p.state !== "Z").map((p) => p.pid), []);
  });

  test("memory --json: one JSON event per line, the hog resident, then freed", async () => {
    const r = await runCli(["stress", "memory", "--size", "32M", "--duration", "1500ms", "--json"], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; message: string; bytes?: number; undo?: { engine: string } });
    const kinds = events.map((e) => e.event);
    for (const k of ["plan", "injected", "sample", "reverted", "measured", "done"]) assert.ok(kinds.includes(k), `no ${k} event in ${kinds.join(",")}`);
    const inj = events.find((e) => e.event === "injected")!;
    assert.ok(inj.undo?.engine);
    const peak = Math.max(...events.map((e) => e.bytes ?? 0));
    assert.ok(peak >= 32 * 1024 * 1024, `peak resident ${peak} below the size`);
  });

  test("cpu-limit --pid: the busy victim drops to the limit and gets its cgroup back", { skip: findHierarchy("cpu") ? false : "no cpu controller" }, async () => {
    const v = busyVictim(`gdcli${process.pid}a`);
    const h = findHierarchy("cpu")!;
    await waitFor("victim", () => readProc(v.pid!));
    const original = cgroupOf(v.pid!, h);
    const p = readProc(v.pid!)!;
    undos.push(planConfine("cpu-limit", "cpu", p.pid, p.startTime));
    const r = await runCli(["stress", "cpu-limit", "--pid", String(v.pid), "--cpus", "0.2", "--duration", "3s"], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /cpu controller: cgroup v[12] at /);
    const before = Number(/before the limit: target tree\(s\) used CPU ([\d.]+) cores/.exec(r.stdout)?.[1]);
    assert.ok(before > 0.5, `before: ${before}\n${r.stdout}`);
    const during = Number(/average CPU ([\d.]+) cores/.exec(r.stdout)?.[1]);
    assert.ok(during < 0.45, `limited to 0.2 cores, the victim used ${during}\n${r.stdout}`);
    assert.match(r.stdout, new RegExp(`reverted cpu-limit on sh\\[${v.pid}\\]: 1 process\\(es\\) back in `));
    assert.equal(cgroupOf(v.pid!, h), original);
    assert.equal(fs.existsSync(undos.at(-1)!.folder!), false);
  });

  test("cpu-limit --cmdline --dry-run: names the target and the folder, changes nothing", { skip: findHierarchy("cpu") ? false : "no cpu controller" }, async () => {
    const marker = `gdcli${process.pid}b`;
    const v = busyVictim(marker);
    await waitFor("victim", () => readProc(v.pid!));
    const original = cgroupOf(v.pid!, findHierarchy("cpu")!);
    const r = await runCli(["stress", "cpu-limit", "--cmdline", marker, "--cpus", "0.5", "--dry-run"], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`target sh\\[${v.pid}\\].*limit in .*gameday-cpu-limit-${v.pid}-`));
    assert.match(r.stdout, /dry run: .*nothing changed/);
    assert.equal(cgroupOf(v.pid!, findHierarchy("cpu")!), original);
    const p = readProc(v.pid!)!;
    assert.equal(fs.existsSync(planConfine("cpu-limit", "cpu", p.pid, p.startTime).folder!), false);
    assert.deepEqual(journalFiles(), []);
  });

  test("bad flags exit 1 naming the flag, and inject nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["stress", "cpu", "--load", "150"], /--load: must be at most 100/],
      [["stress", "cpu", "--workers", "two"], /--workers: expected a whole number/],
      [["stress", "cpu", "--engine", "turbo"], /--engine: expected one of auto, node, stress-ng/],
      [["stress", "cpu", "--cpus", "1"], /Unknown option '--cpus'/],
      [["stress", "cpu", "--duration=-1s"], /--duration: must not be negative/],
      [["stress", "cpu", "--duration", "soon"], /--duration: expected a duration like/],
      [["stress", "memory", "--size", "lots"], /--size: expected a size like 512M/],
      [["stress", "memory", "--size", "64T"], /--size: 64 TiB is more than 80 % of MemAvailable .*--force/],
      [["stress", "cpu-limit", "--cpus", "0.2"], /choose the target: --pid, --name, --cmdline or --node/],
      [["stress", "cpu-limit", "--pid", "abc", "--cpus", "0.2"], /--pid: expected a process ID/],
      [["stress", "cpu-limit", "--pid", "1", "--cpus", "0"], /--cpus: must be at least 0.01/],
      [["stress", "memory-limit", "--pid", String(process.pid), "--limit", "1Q"], /--limit: expected a size/],
      [["stress", "cpu-limit", "--pid", "1", "--cpus", "0.2"], /--pid: PID 1 \(init\) is never a target/],
      [["stress", "meteor"], /unknown stress kind "meteor"/],
    ];
    await refusedAll(cases);
    const help = await runCli(["stress", "cpu", "--help"], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /gameday stress cpu-limit SELECTOR --cpus C/);
  });

  test("a selector matching most of the host is refused unless --allow-broad gives the reason (stress and bpf-injector)", async () => {
    const cases: [string[], RegExp][] = [
      [["stress", "cpu-limit", "--cmdline", ".", "--cpus", "0.5"], /cmdline=~\/\.\/ matches most of this host: cmdline \/\.\/ matches any command line; narrow it, or pass --allow-broad WHY/],
      [["stress", "memory-limit", "--cmdline", ".*", "--limit", "1G", "--allow-broad", ""], /--allow-broad: give the reason/],
      [["bpf-injector", "connect-error", "--cmdline", ".*"], /matches most of this host/],
    ];
    await refusedAll(cases);
  });

  test("explicit --engine stress-ng without stress-ng fails cleanly and leaves nothing", async () => {
    // a PATH with nothing on it: the same answer whether or not this machine has stress-ng
    const r = await runCli(["stress", "cpu", "--workers", "1", "--engine", "stress-ng", "--duration", "1s"], { ...env, PATH: tempDir() });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /engine: stress-ng was asked for but stress-ng is not on PATH/);
    assert.deepEqual(journalFiles(), []);
  });

  test("SIGKILLed CLIs: their reapers lift the cgroup limit and end the load within 2 s, with no command typed", { skip: findHierarchy("cpu") ? false : "no cpu controller" }, async () => {
    const v = busyVictim(`gdcli${process.pid}c`);
    await waitFor("victim", () => readProc(v.pid!));
    const p = readProc(v.pid!)!;
    const plan = planConfine("cpu-limit", "cpu", p.pid, p.startTime);
    undos.push(plan);
    const start = (args: string[]) => {
      const c = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: "ignore" });
      clis.push(c);
      return c;
    };
    const limiter = start(["stress", "cpu-limit", "--pid", String(v.pid), "--cpus", "0.3", "--duration", "10m"]);
    const burner = start(["stress", "cpu", "--workers", "1", "--load", "30", "--duration", "10m"]);
    await waitFor("the limit", () => fs.existsSync(plan.folder!) && cgroupOf(v.pid!, findHierarchy("cpu")!) === plan.folder, 20_000);
    await waitFor("the burner", () => loadOf(burner.pid!).length === 1, 20_000);
    // one journal per CLI
    assert.equal(journalFiles().filter((n) => n.endsWith(".json")).length, 2);
    const t0 = performance.now();
    limiter.kill("SIGKILL");
    burner.kill("SIGKILL");
    await waitFor(
      "the reapers to lift the limit and end the load",
      () => cgroupOf(v.pid!, findHierarchy("cpu")!) === plan.original && !fs.existsSync(plan.folder!) && loadOf(burner.pid!).length === 0,
      2000,
      10,
    );
    assert.ok(performance.now() - t0 < 2000);
    await waitFor("the journals to be gone", () => journalFiles().filter((n) => n.endsWith(".json")).length === 0, 3000);

    const r = await runCli(["stress", "cpu", "--workers", "1", "--load", "10", "--duration", "200ms"], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.doesNotMatch(r.stdout, /recovered: /, "nothing was left for the next command");
  });
});
