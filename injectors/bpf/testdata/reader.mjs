// Test target: reads FILE every 30 ms and prints { ok } or { code } (EIO...);
// exits after 120 s.
import fs from "node:fs";

const file = process.argv[2];
setInterval(() => {
  try {
    fs.readFileSync(file);
    process.stdout.write('{"ok":true}\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ code: e.code }) + "\n");
  }
}, 30);
setTimeout(() => process.exit(0), 120_000).unref();
