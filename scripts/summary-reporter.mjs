// node:test reporter that ends the run with every skipped test and its reason,
// every test file that did not run its tests to the end, and then one line for
// all suites together: "N passed, N failed, N skipped" (always the last line).
//
// Counted: leaf tests; a skipped suite (its tests never run: one skip); a
// suite that fails on its own (a hook that throws, a before/after that never
// settles: one failure, so the line never says 0 failed while the run fails).
// A test file is an event of its own only when its tests do not account for
// it (node 20 reports the file itself when none of its tests was reported, or
// when it ended other than by finishing them): a file that crashed or was
// killed by the timeout is one failure, and so is a file that exited 0 without
// a single test — "0 tests" is not a pass.
//
// With GAMEDAY_TEST_SLOWEST=N (scripts/test.sh sets it), the N test files
// that took longest (their top-level tests' durations added up) come first,
// so the suite's time budget stays visible in every CI log.

const isFile = (d) => d.nesting === 0 && d.file !== undefined && d.name === d.file;
const rel = (file) => (file && file.startsWith(process.cwd() + "/") ? file.slice(process.cwd().length + 1) : file ?? "?");
const reason = (v) => (typeof v === "string" && v.trim() ? v.trim() : "no reason given");

/** Why a test file's own event failed, in words. */
function fileProblem(error) {
  const cause = error?.cause instanceof Error ? error.cause.message : String(error?.cause ?? error?.message ?? "");
  if (error?.failureType === "testTimeoutFailure") return `killed by the timeout (${cause})`;
  if (error?.signal) return `crashed: killed by ${error.signal}`;
  if (error?.exitCode !== undefined && error?.exitCode !== null) return `crashed: exited with code ${error.exitCode}`;
  return `crashed: ${cause || "failed outside its tests"}`;
}

export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const skips = [];
  const problems = [];
  const fileMs = new Map();
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d.nesting === 0 && d.file !== undefined) fileMs.set(rel(d.file), (fileMs.get(rel(d.file)) ?? 0) + (d.details?.duration_ms ?? 0));
    if (isFile(d)) {
      failed++;
      problems.push(`${rel(d.file)}: ${event.type === "test:pass" ? "no tests ran (the file exited 0 without one)" : fileProblem(d.details?.error)} — counted as 1 failed`);
      continue;
    }
    const where = `${rel(d.file)}: ${d.name}`;
    if (d.details?.type === "suite") {
      if (d.skip || d.todo) {
        skipped++;
        skips.push(`${where} (suite) — ${d.todo ? `todo: ${reason(d.todo)}` : reason(d.skip)}`);
      } else if (event.type === "test:fail" && d.details.error?.failureType !== "subtestsFailed") failed++;
      continue;
    }
    if (d.skip || d.todo) {
      skipped++;
      skips.push(`${where} — ${d.todo ? `todo: ${reason(d.todo)}` : reason(d.skip)}`);
    } else if (event.type === "test:pass") passed++;
    else failed++;
  }
  let out = "\n";
  const slowest = Number(process.env.GAMEDAY_TEST_SLOWEST ?? 0);
  if (slowest > 0 && fileMs.size) {
    const total = [...fileMs.values()].reduce((a, b) => a + b, 0);
    const top = [...fileMs].sort((a, b) => b[1] - a[1]).slice(0, slowest);
    out += `slowest test files (of ${fileMs.size}, ${Math.round(total / 1000)} s in all):\n${top.map(([f, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${f}\n`).join("")}`;
  }
  if (skips.length) out += `skipped:\n${skips.map((s) => `  ${s}\n`).join("")}`;
  if (problems.length) out += `test files that did not run their tests to the end:\n${problems.map((s) => `  ${s}\n`).join("")}`;
  yield `${out}${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}
