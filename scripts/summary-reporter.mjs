// node:test reporter that ends the run with one line for all suites together:
// "N passed, N failed, N skipped". Suites (describe blocks) are not counted,
// except a suite that fails on its own (a hook that throws, a before/after
// that never settles): that is one failure, so the line never says 0 failed
// while the run fails.
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d.details?.type === "suite") {
      if (event.type === "test:fail" && d.details.error?.failureType !== "subtestsFailed") failed++;
      continue;
    }
    if (d.skip || d.todo) skipped++;
    else if (event.type === "test:pass") passed++;
    else failed++;
  }
  yield `\n${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}
