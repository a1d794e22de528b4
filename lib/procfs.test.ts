import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { ancestorsOf, parseStat, protectionReason, readProc, sameProcess } from "./procfs";

test("stat lines with spaces and parentheses in the name parse", () => {
  const s = parseStat("4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0");
  assert.ok(s);
  assert.equal(s.pid, 4242);
  assert.equal(s.comm, "we ird) (name)");
  assert.equal(s.state, "S");
  assert.equal(s.ppid, 1);
  assert.equal(s.startTime, 987654);
});

test("PID 1, ourselves and our ancestors are protected; an ordinary child is not", async () => {
  assert.match(protectionReason(readProc(1)!)!, /PID 1/);
  assert.match(protectionReason(readProc(process.pid)!)!, /itself/);
  assert.match(protectionReason(readProc(process.ppid)!)!, /parents/);
  assert.ok(ancestorsOf(process.pid).has(process.ppid));
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    const p = readProc(child.pid!)!;
    assert.equal(protectionReason(p), null);
    assert.match(protectionReason(p, new Set([child.pid!]))!, /own processes/);
    assert.ok(sameProcess(child.pid!, p.startTime));
    assert.equal(sameProcess(child.pid!, p.startTime + 1), null, "a different start time is a different process");
  } finally {
    child.kill("SIGKILL");
  }
});

test("kernel threads are protected", () => {
  const kthreadd = readProc(2);
  if (!kthreadd) return; // no kthreadd visible in this PID namespace
  assert.match(protectionReason(kthreadd)!, /kernel threads/);
});
