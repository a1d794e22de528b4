// The namespace test kit cleans up after test processes that were killed
// before their teardown: their namespaces are deleted, live ones are kept.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { sweepStaleTestNets } from "./netns";

const made: string[] = [];
after(() => {
  for (const ns of made) spawnSync("ip", ["netns", "del", ns]);
});

test("namespaces of a test process that is gone are swept; those of a live one stay", () => {
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  const deadPid = Number(dead.stdout);
  assert.ok(deadPid > 0);
  const stale = `gdt-${deadPid}sweep-a`;
  const live = `gdt-${process.pid}sweep-b`;
  // a container test's dockerd namespace (injectors/docker/embedded-dns.test.ts)
  const staleDockerd = `gdd-${deadPid}`;
  for (const ns of [stale, live, staleDockerd]) {
    made.push(ns);
    assert.equal(spawnSync("ip", ["netns", "add", ns]).status, 0, `ip netns add ${ns}`);
  }
  const swept = sweepStaleTestNets();
  assert.ok(swept.includes(stale) && swept.includes(staleDockerd), `swept: ${swept.join(", ")}`);
  assert.ok(!swept.includes(live));
  const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(left, new RegExp(`^${stale}\\b`, "m"));
  assert.match(left, new RegExp(`^${live}\\b`, "m"));
});

test("a stale test namespace goes with the gameday ip6tables chain a killed IPv6 redirect test left in it", () => {
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  const stale = `gdt-${Number(dead.stdout)}v-a`;
  made.push(stale);
  assert.equal(spawnSync("ip", ["netns", "add", stale]).status, 0);
  const ipt = (...a: string[]) => spawnSync("ip", ["netns", "exec", stale, "ip6tables", "-w", "5", "-t", "nat", ...a], { encoding: "utf8" });
  assert.equal(ipt("-N", "GAMEDAY-0badc0de").status, 0);
  assert.equal(ipt("-I", "OUTPUT", "1", "-m", "comment", "--comment", "gameday:0badc0de latency egress tcp *:*>[::1]:17501", "-j", "GAMEDAY-0badc0de").status, 0);
  assert.ok(sweepStaleTestNets().includes(stale));
  // the namespace, and with it every rule of both families in it, is gone
  assert.doesNotMatch(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout, new RegExp(`^${stale}\\b`, "m"));
  assert.notEqual(spawnSync("ip", ["netns", "exec", stale, "ip6tables-save"]).status, 0);
});
