// cgroup limits land only on a cgroup that holds just the target's tree: a
// bystander (standing in for the worker, the test process or the operator's
// shell) that shares the target's cgroup is not throttled, the shared
// cgroup's own limit files never change, and a limit that could only be
// written to a shared cgroup (cgroup v2 in place) is refused with the reason.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { readProc } from "../lib/procfs";
import { killHard, sleep, tempDir, waitFor } from "../e2e/kit";
import { sharedCgroupProblem, type ConfineUndo } from "./cgroup/confine";
import { cgroupOf, findHierarchy, moveProcess, procsIn } from "./cgroup/hierarchy";
import { cpuLimit } from "./cpu-limit";
import type { ProcessTarget } from "./types";

// the evidence files (injectors/evidence.ts) go to a home of this test's own
process.env.GAMEDAY_HOME = tempDir("gameday-cgshared-home-");

const cpuH = findHierarchy("cpu");
const skip = !cpuH ? "no cpu cgroup controller here" : process.getuid?.() !== 0 ? "needs root (cgroups)" : undefined;
const children: ChildProcess[] = [];
const folders: string[] = [];
after(async () => {
  await Promise.all(children.map((c) => killHard(c, "SIGKILL")));
  for (const f of folders.reverse()) {
    for (const p of procsIn(f)) moveProcess(cpuH!.mount, p);
    try {
      fs.rmdirSync(f);
    } catch {
      /* already gone */
    }
  }
});

const burner = () => {
  const c = spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" });
  children.push(c);
  return c;
};
const ticks = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").slice(fs.readFileSync(`/proc/${pid}/stat`, "utf8").lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
};
/** Share of one core each process used over ms. */
async function usage(pids: number[], ms = 1500): Promise<number[]> {
  const a = pids.map(ticks);
  await sleep(ms);
  return pids.map((p, i) => (ticks(p) - a[i]) / 100 / (ms / 1000));
}

/** A fresh cpu cgroup folder holding two busy processes: the target and another one. */
async function sharedPair(name: string): Promise<{ shared: string; target: ChildProcess; other: ChildProcess }> {
  const shared = path.join(cpuH!.mount, `gdtest-${name}-${process.pid}`);
  fs.mkdirSync(shared);
  folders.push(shared);
  const target = burner();
  const other = burner();
  for (const c of [target, other]) moveProcess(shared, c.pid!);
  await waitFor("both in the shared cgroup", () => [target, other].every((c) => cgroupOf(c.pid!, cpuH!) === shared));
  return { shared, target, other };
}

test("a bystander in the target's cgroup is not throttled; the shared cgroup's limit is untouched", { skip, timeout: 30_000 }, async () => {
  const { shared, target, other: bystander } = await sharedPair("shared");
  const quotaFile = path.join(shared, cpuH!.version === 1 ? "cpu.cfs_quota_us" : "cpu.max");
  const quotaBefore = fs.readFileSync(quotaFile, "utf8");

  const info = readProc(target.pid!)!;
  const t: ProcessTarget = { kind: "process", pid: info.pid, startTime: info.startTime, comm: info.comm, cmdline: info.cmdline };
  const params = cpuLimit.params.parse({ cpus: 0.1 });
  const undo = (await cpuLimit.plan(t, params)) as ConfineUndo;
  assert.equal(undo.mode, "child");
  await cpuLimit.inject(t, params, { runId: "shared", signal: new AbortController().signal, undo });
  try {
    assert.equal(cgroupOf(target.pid!, cpuH!), undo.folder, "the target moved into the dedicated child");
    assert.equal(cgroupOf(bystander.pid!, cpuH!), shared, "the bystander stayed where it was");
    assert.deepEqual(procsIn(undo.folder!), [target.pid], "the child holds just the target");
    assert.equal(fs.readFileSync(quotaFile, "utf8"), quotaBefore, "the shared cgroup's own limit never changed");
    const [tUse, bUse] = await usage([target.pid!, bystander.pid!]);
    assert.ok(tUse < 0.25, `the target is limited to 0.1 core: it used ${tUse.toFixed(2)}`);
    assert.ok(bUse > 0.4, `the bystander is not throttled: it used ${bUse.toFixed(2)} of a core`);
  } finally {
    await cpuLimit.revert(t, undo);
    const v = await cpuLimit.verify(t, undo);
    assert.ok(v.ok, v.detail);
  }
});

test("a cgroup shared with other processes is refused for an in-place limit, naming them; a dedicated one is allowed", { skip }, async () => {
  const { shared, target, other } = await sharedPair("inplace");
  const why = sharedCgroupProblem(shared, [target.pid!]);
  assert.match(why ?? "", new RegExp(`refusing: a limit in ${shared} would also hold 1 process\\(es\\) that are not the target's \\(sh\\[${other.pid}\\]\\); on cgroup v2 a limit needs a cgroup dedicated to the target`));
  moveProcess(cpuH!.mount, other.pid!);
  await waitFor("the other out", () => procsIn(shared).length === 1);
  assert.equal(sharedCgroupProblem(shared, [target.pid!]), null);
  // the test process in the cgroup (the worker's situation under make up) is refused as well
  const mine = cgroupOf(process.pid, cpuH!)!;
  moveProcess(shared, process.pid);
  try {
    assert.match(sharedCgroupProblem(shared, [target.pid!]) ?? "", /would also hold 1 process/);
  } finally {
    moveProcess(mine, process.pid);
  }
});

test("cgroup v2 in place, end to end", { skip: "this host's cpu and memory controllers are on cgroup v1 (the v2 hierarchy has neither), so planConfine never takes the in-place path here; its refusal is the sharedCgroupProblem check above, called by planConfine and again by confine" }, () => {});
