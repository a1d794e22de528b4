// The login limiter on its own: windows per address and per name, checks in
// flight never above the limit, a flood refused beyond the queue, and one
// audit-worthy refusal per key and minute.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LoginLimiter } from "./ratelimit";

const limits = { perAddress: 3, addressWindowMs: 60_000, perUser: 2, userWindowMs: 60_000, concurrent: 2, queued: 3 };

test("per address, then per name; a success clears the name's failures", () => {
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 3; i++) assert.equal(l.admit("10.0.0.1", `u${i}`), null);
  const r = l.admit("10.0.0.1", "u9")!;
  assert.match(r.reason, /too many login attempts from 10\.0\.0\.1/);
  assert.ok(r.retryAfterSec >= 59 && r.retryAfterSec <= 60);
  assert.equal(r.first, true);
  assert.equal(l.admit("10.0.0.1", "u9")!.first, false, "one audit line per minute, not one per request");

  l.failed("Ann");
  l.failed("ann");
  assert.match(l.admit("10.0.0.2", "ANN")!.reason, /too many failed logins for ANN/);
  const m = new LoginLimiter(limits);
  m.failed("bob");
  m.succeeded("bob");
  m.failed("bob");
  assert.equal(m.admit("10.0.0.3", "bob"), null);
});

test("checks in flight never exceed the limit, and a flood beyond the queue is turned away", async () => {
  const l = new LoginLimiter(limits);
  let running = 0;
  let most = 0;
  const check = () =>
    l.hashing(async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
    });
  const all = Array.from({ length: 5 }, check);
  assert.match(l.admit("10.0.0.9", "x")?.reason ?? "", /too many logins at once/);
  await Promise.all(all);
  assert.equal(most, 2);
  assert.equal(l.admit("10.0.0.9", "x"), null, "free again once the queue drains");
});
