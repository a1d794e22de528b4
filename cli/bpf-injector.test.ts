// gameday bpf-injector as a user runs it: the mechanism printed before
// anything changes, a dry run that changes nothing, a short real run whose
// revert reports the counters, and bad flags named in the message.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { bpfObjectAvailable } from "../injectors/bpf/detect";
import { runCli, runCliBatch, tempDir } from "../e2e/kit";

const env = { GAMEDAY_HOME: tempDir("gameday-bpf-cli-"), GAMEDAY_LOG: "warn" };
const victim = spawn("sleep", ["120"], { stdio: "ignore" });
after(() => victim.kill("SIGKILL"));
const connectOk = await bpfObjectAvailable("connect.bpf.o");

test("bad flags: the message names the flag, exit 1, nothing started", async () => {
  const cases: [string[], RegExp][] = [
    [["connect-error", "--pid", String(victim.pid), "--errno", "EWHAT"], /--errno: expected an errno name/],
    [["connect-error", "--pid", String(victim.pid), "--port", "99999"], /--port: ports are 1-65535/],
    [["packet-drop", "--pid", String(victim.pid), "--probability", "1.5"], /--probability: must be at most 1/],
    [["syscall-error", "--pid", String(victim.pid), "--syscall", "nosuch"], /--syscall: unknown syscall "nosuch"/],
    [["syscall-error", "--pid", String(victim.pid), "--syscall", "read", "--port", "80"], /--port: syscall-error has no such setting/],
    [["connect-error", "--pid", "abc"], /--pid: expected a process ID/],
    [["teleport"], /unknown fault "teleport"/],
  ];
  const results = await runCliBatch(cases.map(([args]) => ["bpf-injector", ...args]), env);
  cases.forEach(([args, re], i) => {
    const r = results[i];
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, re);
  });
  assert.ok(!fs.existsSync(`${env.GAMEDAY_HOME}/journal`) || fs.readdirSync(`${env.GAMEDAY_HOME}/journal`).filter((n) => n.endsWith(".json")).length === 0, "nothing journaled");
});

test("dry run prints the mechanism and the folder, changes nothing; a real run reports what it touched", { skip: connectOk.ok ? false : connectOk.reason }, async () => {
  const dry = await runCli(["bpf-injector", "connect-error", "--pid", String(victim.pid), "--port", "1", "--dry-run"], env);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /connect-error on sleep\[\d+\]: cgroup\/connect4\+connect6 \(bpf_set_retval ECONNREFUSED\) on \S+\/gameday-connect-error-\d+-\d+ \(tcp port 1\)/);
  assert.match(dry.stdout, /dry run: would hold connect-error for 1m; nothing changed/);
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const r = await runCli(["bpf-injector", "connect-error", "--pid", String(victim.pid), "--port", "1", "--duration", "1s", "--json"], env);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; message: string });
    assert.deepEqual([...new Set(events.map((e) => e.event))].filter((e) => e !== "counters"), ["plan", "injected", "reverted", "done"]);
    assert.match(events.find((e) => e.event === "reverted")!.message, /0 failed: touched nothing, inconclusive/, "a sleep opens no connection: the fault touched nothing");
  } finally {
    server.close();
  }
});
