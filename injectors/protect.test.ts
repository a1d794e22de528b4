// Protection by role, not by exact name: real processes named like the
// machine's services (sshd-session, dbus-daemon, systemd-udevd, ...) are never
// targets, whatever GAMEDAY_PROTECT_NAMES says; neither are Game Day's own
// children (tagged load generators, the delay proxy), a running standalone
// CLI (it registers itself) or its load.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import "./index";
import { protectedRole, readProc, registeredSelf } from "../lib/procfs";
import { killHard, ROOT, tempDir, waitFor } from "../e2e/kit";
import { newTag } from "./load/children";
import { processKill } from "./process-kill";
import { resolveProcesses } from "./targets/resolve";

// the evidence files (injectors/evidence.ts) go to a home of this test's own
process.env.GAMEDAY_HOME = tempDir("gameday-protect-home-");

const children: ChildProcess[] = [];
after(async () => {
  await Promise.all(children.map((c) => killHard(c, "SIGKILL")));
});

/** A real process whose comm is `name`: a copy of sleep under that name. */
function named(name: string): ChildProcess {
  const dir = tempDir("gameday-roles-");
  const exe = path.join(dir, name);
  fs.copyFileSync("/bin/sleep", exe);
  fs.chmodSync(exe, 0o755);
  const c = spawn(exe, ["3600"], { stdio: "ignore" });
  children.push(c);
  return c;
}

const SERVICES = ["sshd-session", "sshd-auth", "sshd", "dbus-daemon", "systemd-udevd", "systemd-networkd", "systemd-resolved", "NetworkManager", "kubelet", "agetty", "containerd", "dockerd", "postgres", "redis-server", "mosquitto"];

test("the machine's services are protected by role, even when GAMEDAY_PROTECT_NAMES is emptied", async () => {
  const prev = process.env.GAMEDAY_PROTECT_NAMES;
  process.env.GAMEDAY_PROTECT_NAMES = "";
  try {
    const procs = SERVICES.map((n) => [n, named(n)] as const);
    await waitFor("the services to run", () => procs.every(([, c]) => readProc(c.pid!)?.comm), 5000);
    const r = resolveProcesses({ pids: procs.map(([, c]) => c.pid!) });
    assert.deepEqual(r.matched, [], `nothing targetable: ${r.matched.map((m) => m.comm).join(", ")}`);
    for (const [n, c] of procs) {
      const p = r.protected.find((x) => x.pid === c.pid);
      assert.ok(p, `${n} is reported as protected`);
      assert.match(p.reason, /is one of the machine's services \(/, `${n}: ${p.reason}`);
    }
    // the injector itself refuses too, should a target slip past resolution
    const sshd = procs[0][1];
    const info = readProc(sshd.pid!)!;
    const target = { kind: "process" as const, pid: info.pid, startTime: info.startTime, comm: info.comm, cmdline: info.cmdline };
    const undo = await processKill.plan(target, { signal: "STOP" });
    await assert.rejects(processKill.inject(target, { signal: "STOP" }, { runId: "t", signal: new AbortController().signal, undo }), /refusing to signal .*machine's services \(remote access\)/);
    assert.notEqual(readProc(sshd.pid!)?.state, "T");
    // refused: no signal delivered, so a run of it is inconclusive, not held
    const e = await processKill.effect!(target, undo);
    assert.equal(e?.touched, 0);
    assert.match(e!.summary, /^no signal delivered to PID \d+: refusing to signal/);
  } finally {
    if (prev === undefined) delete process.env.GAMEDAY_PROTECT_NAMES;
    else process.env.GAMEDAY_PROTECT_NAMES = prev;
  }
});

test("names that only look alike are not protected", () => {
  for (const n of ["sshdx", "my-systemd", "postgres-exporter", "redis-cli", "nginx"]) assert.equal(protectedRole(n), null, n);
});

test("Game Day's own children (a tagged load generator) are never targets", async () => {
  const c = spawn(process.execPath, ["-e", "setInterval(()=>{},1e9)", "--", "--tag", newTag("test")], { stdio: "ignore" });
  children.push(c);
  await waitFor("the child", () => readProc(c.pid!)?.cmdline.includes("--tag"), 5000);
  const r = resolveProcesses({ pids: [c.pid!] });
  assert.deepEqual(r.matched, []);
  assert.match(r.protected[0]?.reason ?? "", /Game Day's own children/);
});

test("a running standalone CLI registers itself, and it and its load are never targets", { timeout: 30_000 }, async () => {
  const cli = spawn(process.execPath, [path.join(ROOT, "bin/gameday.mjs"), "stress", "cpu", "--workers", "1", "--load", "5", "--duration", "6s", "--engine", "node"], {
    cwd: ROOT,
    env: { ...process.env, GAMEDAY_HOME: tempDir("gameday-roles-home-"), GAMEDAY_LOG: "warn" },
    stdio: "ignore",
  });
  children.push(cli);
  const self = await waitFor("the CLI to register", () => registeredSelf().find((r) => readProc(r.pid)?.cmdline.includes("stress cpu")), 20_000);
  const load = await waitFor("its load", () => {
    const r = resolveProcesses({ cmdline: "cpu-burn\\.mjs" });
    return r.protected.some((p) => /own children/.test(p.reason)) ? r : null;
  }, 10_000);
  assert.deepEqual(load.matched, [], "the CLI's load generator is not a target");
  const r = resolveProcesses({ pids: [self.pid] });
  assert.deepEqual(r.matched, []);
  assert.match(r.protected[0]?.reason ?? "", /Game Day's own processes/);
  cli.kill("SIGINT");
});
