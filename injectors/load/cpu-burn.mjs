// One CPU burner: busy for LOAD % of every 100 ms slice, idle for the rest.
// Exits by itself as soon as its parent (the injector) is gone, so a killed
// worker or CLI leaves no load behind. Started by injectors/cpu-stress.ts.
import { parseArgs } from "node:util";

const { values: a } = parseArgs({ options: { tag: { type: "string" }, parent: { type: "string" }, load: { type: "string" } }, strict: true });
const parent = Number(a.parent);
const load = Number(a.load ?? 100);
if (!a.tag || !Number.isInteger(parent) || !(load > 0 && load <= 100)) {
  process.stderr.write("usage: cpu-burn.mjs --tag TAG --parent PID --load 1..100\n");
  process.exit(2);
}

const SLICE_MS = 100;
const busyMs = (SLICE_MS * load) / 100;
let sink = 0;

function slice() {
  if (process.ppid !== parent) process.exit(0);
  const start = performance.now();
  while (performance.now() - start < busyMs) sink = (sink * 1103515245 + 12345) % 2147483648;
  setTimeout(slice, SLICE_MS - busyMs);
}
slice();
