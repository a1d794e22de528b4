// Journal contents are checked before any revert acts on them: a damaged
// entry (an empty child tag, which every command line "includes"; a target
// of the wrong kind; an undo naming another process) is refused, left in
// the journal for a human with a message saying so, and nothing is done;
// the good entries beside it are still reverted.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import "../injectors";
import { readProc } from "../lib/procfs";
import { killTagged, tagged } from "../injectors/load/children";
import { procState, spawnVictims, tempDir, waitFor } from "../e2e/kit";
import { recoverJournal } from "./executor";
import { readJournal, type ChangeEntry, type JournalDoc } from "./journal";

const victims = spawnVictims(2);
after(() => victims.stop());

/** The PID and start time of a process that has exited: a dead holder. */
async function deadOwner(): Promise<{ pid: number; startTime: number }> {
  const c = spawn("sleep", ["30"], { stdio: "ignore" });
  const p = await waitFor("the holder", () => readProc(c.pid!));
  c.kill("SIGKILL");
  await new Promise((r) => c.once("exit", r));
  return { pid: p.pid, startTime: p.startTime };
}

const base = (i: number, over: Partial<ChangeEntry>): ChangeEntry => ({
  id: `e${i}`,
  runId: "damaged",
  step: i,
  fault: "process-kill",
  targetName: "v",
  target: { kind: "host", hostname: "x" },
  params: {},
  undo: {},
  state: "injected",
  journaledAt: new Date().toISOString(),
  revertAttempts: 0,
  ...over,
});

test("damaged entries are refused and left for a human; the good one beside them is reverted", async () => {
  const [frozen, bystander] = victims.children.map((c) => readProc(c.pid!)!);
  process.kill(frozen.pid, "SIGSTOP");
  await waitFor("the victim to stop", () => procState(frozen.pid) === "T");
  const proc = (p: typeof frozen) => ({ kind: "process" as const, pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline });
  const entries: ChangeEntry[] = [
    // an empty child tag: before the check, killTagged("") matched every process on the host
    base(0, { fault: "cpu-stress", target: { kind: "host", hostname: "h" }, undo: { tag: "", engine: "node", workers: 1, load: 100 } }),
    // a target of another kind than the fault acts on
    base(1, { fault: "process-kill", target: { kind: "host", hostname: "h" } as never, undo: { signal: "STOP", pid: bystander.pid, startTime: bystander.startTime } }),
    // an undo naming another process than the target
    base(2, { fault: "process-kill", target: proc(frozen), undo: { signal: "STOP", pid: bystander.pid, startTime: bystander.startTime } }),
    // a cgroup folder that is not ours
    base(3, { fault: "cpu-limit", target: proc(frozen), undo: { controller: "cpu", pid: frozen.pid, startTime: frozen.startTime, version: 1, mode: "child", original: "/sys/fs/cgroup/cpu", folder: "/sys/fs/cgroup/cpu/system.slice", files: {}, tree: [] } }),
    // the good one
    base(4, { fault: "process-kill", target: proc(frozen), undo: { signal: "STOP", pid: frozen.pid, startTime: frozen.startTime } }),
  ];
  const dir = tempDir("gameday-entries-");
  const file = path.join(dir, "worker-dead.json");
  const doc: JournalDoc = { version: 2, owner: await deadOwner(), command: "damaged", mirrored: false, createdAt: new Date().toISOString(), entries };
  fs.writeFileSync(file, JSON.stringify(doc), { mode: 0o600 });

  const r = await recoverJournal(file, 500);
  assert.ok(r);
  assert.deepEqual(r.reverted.map((c) => c.id), ["e4"]);
  assert.notEqual(procState(frozen.pid), "T", "the good entry was reverted (SIGCONT)");
  assert.deepEqual(r.failed.map((c) => c.id).sort(), ["e0", "e1", "e2", "e3"]);
  const why = Object.fromEntries(r.failed.map((c) => [c.id, c.detail]));
  assert.match(why.e0, /journal entry refused, nothing done: undo\.tag: expected a Game Day child tag/);
  assert.match(why.e1, /target\.kind: "host", but process-kill acts on process targets/);
  assert.match(why.e2, /undo\.pid: \d+@\d+ is not the target's/);
  assert.match(why.e3, /undo\.folder: expected a folder named gameday-/);
  for (const d of Object.values(why)) assert.match(d, /check the host by hand/);
  assert.ok(readProc(bystander.pid), "the bystander lives");
  // left in the file for a human, still to revert
  const left = readJournal(file).entries;
  assert.deepEqual(left.filter((e) => e.state === "to-revert").map((e) => e.id).sort(), ["e0", "e1", "e2", "e3"]);
});

test("killTagged and tagged refuse anything that is not a Game Day tag", async () => {
  await assert.rejects(killTagged(""), /not a Game Day tag/);
  await assert.rejects(killTagged("gameday-load:"), /not a Game Day tag/);
  assert.throws(() => tagged("sleep"), /not a Game Day tag/);
  for (const c of victims.children) assert.ok(readProc(c.pid!), "nothing was killed");
});

test("what every injector's plan() really journals passes the check (a check too strict would leave real changes unreverted)", async () => {
  const { getInjector } = await import("../injectors");
  const { entryProblem } = await import("./entry-check");
  const { resolveTargets } = await import("../injectors/targets/resolve");
  const v = readProc(victims.children[1].pid!)!;
  const proc = { kind: "process" as const, pid: v.pid, startTime: v.startTime, comm: v.comm, cmdline: v.cmdline, host: "h" };
  const dir = tempDir("gameday-entries-plan-");
  const net = async (o: object) => (await resolveTargets({ network: { direction: "egress", ...o }, mode: "all" } as never, null, new Set())).matched[0];
  const cases: [string, object, unknown][] = [
    ["process-kill", proc, { signal: "STOP" }],
    ["cpu-limit", proc, { cpus: 0.5 }],
    ["memory-limit", proc, { limit: "256M" }],
    ["cpu-stress", { kind: "host", hostname: "h" }, { load: 10 }],
    ["memory-stress", { kind: "host", hostname: "h" }, { size: "1M" }],
    ["disk-fill", { kind: "path", path: dir }, { size: "1M" }],
    ["io-stress", { kind: "path", path: dir }, {}],
    ["packet-loss", await net({ protocol: "udp", dst: "127.0.0.1", dstPort: 9 }), { percent: 5 }],
    ["partition", await net({ protocol: "tcp", src: "127.0.0.2", dst: "127.0.0.3", dstPort: 9 }), { action: "drop" }],
    ["latency", await net({ protocol: "tcp", dst: "127.0.0.1", dstPort: 9 }), { latency: "10ms", mechanism: "proxy" }],
  ];
  for (const [fault, target, raw] of cases) {
    const inj = getInjector(fault)!;
    const a = await inj.available();
    if (!a.ok) continue;
    const params = inj.params.parse(raw);
    const undo = await inj.plan(target as never, params);
    const e = { ...base(9, { fault, target: target as never, undo }) };
    assert.equal(entryProblem(e, inj), null, `${fault}: ${JSON.stringify(undo).slice(0, 300)}`);
  }
});
