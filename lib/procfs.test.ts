import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ancestorsOf, parseStat, protectedNames, protectionReason, readProc, registeredSelfPids, registerSelf, sameProcess } from "./procfs";

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

// known when the test is defined, so a PID namespace without it is a reported skip, not a pass
const kthreadd = readProc(2);

test("kernel threads are protected", { skip: !kthreadd && "no kthreadd (PID 2) visible in this PID namespace" }, () => {
  assert.match(protectionReason(kthreadd!)!, /kernel threads/);
});

test("Game Day's own processes register machine-wide; stale entries are dropped", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-self-"));
  const prev = process.env.GAMEDAY_RUN_DIR;
  process.env.GAMEDAY_RUN_DIR = dir;
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    await new Promise((r) => setTimeout(r, 50));
    const unregister = registerSelf(child.pid!);
    assert.ok(registeredSelfPids().has(child.pid!));
    assert.match(protectionReason(readProc(child.pid!)!)!, /Game Day's own processes/);
    unregister();
    assert.equal(registeredSelfPids().has(child.pid!), false);
    // an entry whose start time no longer matches (PID reused) is ignored and removed
    fs.writeFileSync(path.join(dir, `${child.pid}-1`), "");
    assert.equal(registeredSelfPids().has(child.pid!), false);
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    child.kill("SIGKILL");
    if (prev === undefined) delete process.env.GAMEDAY_RUN_DIR;
    else process.env.GAMEDAY_RUN_DIR = prev;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the protect list refuses names on it; GAMEDAY_PROTECT_NAMES replaces it", async () => {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  const prev = process.env.GAMEDAY_PROTECT_NAMES;
  try {
    await new Promise((r) => setTimeout(r, 50));
    const p = readProc(child.pid!)!;
    assert.equal(protectionReason(p), null);
    process.env.GAMEDAY_PROTECT_NAMES = "sleep, nginx";
    assert.match(protectionReason(p)!, /"sleep" is on the protect list \(sleep, nginx\)/);
    delete process.env.GAMEDAY_PROTECT_NAMES;
    assert.ok(protectedNames().includes("sshd"));
  } finally {
    child.kill("SIGKILL");
    if (prev !== undefined) process.env.GAMEDAY_PROTECT_NAMES = prev;
  }
});
