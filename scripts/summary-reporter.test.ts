// The summary `make test` ends with: skipped tests with their reasons, test
// files that did not run their tests to the end, and the one line. Leaf tests
// are counted, suites not, except a suite that fails on its own (a throwing
// hook: a failure) or is skipped (a skip); a file with no tests, a crashed
// file and a file killed by the timeout are one failure each.
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

/** node --test over the files in a fresh folder, in their own run (not subtests of this one), with the summary reporter only. */
function runFixtures(files: Record<string, string>, timeoutMs?: number, extraEnv: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const dir = tempDir("gameday-reporter-");
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env.NODE_TEST_CONTEXT;
  if (!extraEnv.GAMEDAY_TEST_SLOWEST) delete env.GAMEDAY_TEST_SLOWEST;
  const args = ["--test", "--test-concurrency=1", `--test-reporter=${path.join(ROOT, "scripts/summary-reporter.mjs")}`];
  if (timeoutMs) args.push(`--test-timeout=${timeoutMs}`);
  return spawnSync(process.execPath, [...args, ...Object.keys(files).sort()], { cwd: dir, encoding: "utf8", timeout: 60_000, env });
}

test("passed, failed and skipped are counted over leaf tests, plus suites whose own hook failed", () => {
  const r = runFixtures({ "fixture.test.mjs": FIXTURE });
  assert.equal(r.status, 1, r.stderr);
  // a, c, e pass; d fails and the "bad hook" suite fails on its own; b is skipped
  assert.equal(r.stdout.trim().split("\n").at(-1), "3 passed, 2 failed, 1 skipped");
  assert.equal(r.stdout.trim(), ["skipped:", "  fixture.test.mjs: b — not here", "3 passed, 2 failed, 1 skipped"].join("\n"));
});

test("a file with no tests, a crashed file, a file killed by the timeout and a skipped suite are each counted, and the reasons listed", () => {
  const r = runFixtures(
    {
      "a-fine.test.mjs": `import { test } from "node:test"; test("ok", () => {}); test("later", { todo: "not written" }, () => {}); test("inside", (t) => { t.skip("decided at run time"); });`,
      // exits 0 without a single test: not a pass
      "b-empty.test.mjs": `// nothing here\n`,
      "c-crash.test.mjs": `import { test } from "node:test"; throw new Error("boom before any test");`,
      // its own test timeout is longer than the per-file one, so only the file is killed
      "d-hang.test.mjs": `import { test } from "node:test"; test("quick", () => {}); test("hangs", { timeout: 60_000 }, async () => { await new Promise(() => setInterval(() => {}, 1000)); });`,
      "e-suite.test.mjs": `import { describe, test } from "node:test"; describe("widgets", { skip: "no widget here" }, () => { test("x", () => {}); test("y", () => {}); }); test("z", () => {});`,
    },
    3000,
  );
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stdout.trim().split("\n");
  // ok, quick, z pass; the empty, the crashed and the killed file fail; the todo, the t.skip() and the suite are skipped
  assert.equal(lines.at(-1), "3 passed, 3 failed, 3 skipped");
  // (the crashed file's exit code is node's to choose: any but 0)
  const crashed = lines.findIndex((l) => l.startsWith("  c-crash.test.mjs: "));
  assert.match(lines[crashed], /^ {2}c-crash\.test\.mjs: crashed: exited with code [1-9]\d* — counted as 1 failed$/);
  assert.deepEqual(lines.slice(0, -1), [
    "skipped:",
    "  a-fine.test.mjs: later — todo: not written",
    "  a-fine.test.mjs: inside — decided at run time",
    "  e-suite.test.mjs: widgets (suite) — no widget here",
    "test files that did not run their tests to the end:",
    "  b-empty.test.mjs: no tests ran (the file exited 0 without one) — counted as 1 failed",
    lines[crashed],
    "  d-hang.test.mjs: killed by the timeout (test timed out after 3000ms) — counted as 1 failed",
  ]);
});

test("GAMEDAY_TEST_SLOWEST=N lists the N slowest files, slowest first, before the line", () => {
  const slow = (ms: number) => `import { test } from "node:test";\ntest("t", async () => { await new Promise((r) => setTimeout(r, ${ms})); });\n`;
  const r = runFixtures({ "a.test.mjs": slow(10), "b.test.mjs": slow(400), "c.test.mjs": slow(200) }, undefined, { GAMEDAY_TEST_SLOWEST: "2" });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0], /^slowest test files \(of 3, \d+ s in all\):$/);
  assert.match(lines[1], /^ +0\.[4-9] s {2}b\.test\.mjs$/);
  assert.match(lines[2], /^ +0\.[2-9] s {2}c\.test\.mjs$/);
  assert.equal(lines[3], "3 passed, 0 failed, 0 skipped");
});
