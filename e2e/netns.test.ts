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
