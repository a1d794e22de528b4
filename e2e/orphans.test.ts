// A test process killed with SIGKILL (a killed `make test`, a per-file
// timeout) cannot run its after() hooks. What it started must go anyway: the
// worker, the demo supervisor with its services, and a standalone CLI holding
// a fault, which must revert that fault on the way out. An intermediate node
// process plays the test: it starts them all through the kit, then we SIGKILL it.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { readProc } from "../lib/procfs";
import { killHard, procState, ROOT, spawnVictims, waitFor, waitForLine } from "./kit";

const DEMO_BASE = 15_650;

const alive = (pid: number) => {
  const p = readProc(pid);
  return p !== null && p.state !== "Z" && p.state !== "X";
};

let fakeTest: ChildProcess | undefined;
const victims = spawnVictims(1);
const left: number[] = [];
const dirs: string[] = [];
after(async () => {
  await killHard(fakeTest, "SIGKILL");
  for (const pid of left) {
    try {
      process.kill(pid, "SIGCONT");
      process.kill(pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
  await victims.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test("a SIGKILLed test's worker, demo system and standalone CLI exit with it, and the CLI reverts its fault first", { timeout: 120_000 }, async () => {
  const victim = victims.children[0].pid!;
  const kit = path.join(ROOT, "e2e/kit.ts");
  const script = `
import { spawn } from "node:child_process";
import path from "node:path";
import { EXIT_WITH_PARENT, ROOT, startDemo, startWorkerProcess, tempDir, tempHome, waitForLine } from ${JSON.stringify(kit)};
const dir = tempDir("orphans");
const demo = await startDemo(${DEMO_BASE}, dir);
const home = tempHome();
const worker = await startWorkerProcess(home);
const cliHome = tempHome();
const cli = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "sniper", "--pid", "${victim}", "--signal", "STOP", "--probability", "1", "--interval", "100ms", "--hold", "10m", "--duration", "10m", "--max-down", "100"], { env: { ...process.env, GAMEDAY_HOME: cliHome }, stdio: ["ignore", "pipe", "inherit"] });
await waitForLine(cli, (l) => l.includes("FREEZING"), 20_000, "the sniper to freeze the victim");
console.log(JSON.stringify({ demo: demo.child.pid, worker: worker.child.pid, cli: cli.pid, dirs: [dir, home, cliHome] }));
setInterval(() => {}, 1e9);
`;
  fakeTest = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const line = await waitForLine(fakeTest, (l) => l.startsWith('{"demo"'), 90_000, "the fake test to start everything");
  const started = JSON.parse(line) as { demo: number; worker: number; cli: number; dirs: string[] };
  dirs.push(...started.dirs);
  await waitFor("the victim to be frozen", () => procState(victim) === "T" || null, 5000, 20);
  const services = fs
    .readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => readProc(pid)?.ppid === started.demo);
  assert.ok(services.length >= 5, `the demo supervisor's services: ${services.join(" ")}`);
  const all = [started.worker, started.demo, started.cli, ...services];
  left.push(...all);

  await killHard(fakeTest, "SIGKILL");
  const lingering = await waitFor(
    "everything the fake test started to exit",
    () => (all.some(alive) ? null : true),
    30_000,
    100,
  ).catch(() => all.filter(alive));
  assert.equal(lingering, true, `still running after their parent's SIGKILL: ${JSON.stringify(lingering)}`);
  // checked at once: a CLI that crashed instead would leave the SIGCONT to its reaper, a moment later
  assert.notEqual(procState(victim), "T", "the sniper resumed its victim before it exited");
});
