// One memory hog: allocate BYTES, write every page so it is really resident,
// then hold it. Exits by itself as soon as its parent (the injector) is gone.
// Started by injectors/memory-stress.ts.
import { parseArgs } from "node:util";

const { values: a } = parseArgs({ options: { tag: { type: "string" }, parent: { type: "string" }, bytes: { type: "string" } }, strict: true });
const parent = Number(a.parent);
const bytes = Number(a.bytes);
if (!a.tag || !Number.isInteger(parent) || !Number.isSafeInteger(bytes) || bytes <= 0) {
  process.stderr.write("usage: mem-hog.mjs --tag TAG --parent PID --bytes N\n");
  process.exit(2);
}

const watch = () => {
  if (process.ppid !== parent) process.exit(0);
};
setInterval(watch, 250);

// chunks keep each allocation well below Node's Buffer size limit, and let
// the parent check run between them while a large size is being filled
const CHUNK = 64 * 1024 * 1024;
const held = [];
let left = bytes;
function more() {
  watch();
  if (left <= 0) return;
  const n = Math.min(CHUNK, left);
  held.push(Buffer.allocUnsafeSlow(n).fill(0xa5));
  left -= n;
  setImmediate(more);
}
more();
