// The one summary line `make test` ends with: leaf tests counted, suites not,
// except a suite that fails on its own (a throwing hook), which is a failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ROOT, tempDir } from "../e2e/kit";

const FIXTURE = `import { describe, test, after } from "node:test";
describe("fine", () => { test("a", () => {}); test("b", { skip: "not here" }, () => {}); });
describe("one bad", () => { test("c", () => {}); test("d", () => { throw new Error("d"); }); });
describe("bad hook", () => { after(() => { throw new Error("hook"); }); test("e", () => {}); });
`;

test("passed, failed and skipped are counted over leaf tests, plus suites whose own hook failed", () => {
  const dir = tempDir("gameday-reporter-");
  const file = path.join(dir, "fixture.test.mjs");
  fs.writeFileSync(file, FIXTURE);
  // a run of its own, not a subtest of this one
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ["--test", `--test-reporter=${path.join(ROOT, "scripts/summary-reporter.mjs")}`, file], { encoding: "utf8", timeout: 60_000, env });
  assert.equal(r.status, 1, r.stderr);
  // a, c, e pass; d fails and the "bad hook" suite fails on its own; b is skipped
  assert.equal(r.stdout.trim(), "3 passed, 2 failed, 1 skipped");
});
