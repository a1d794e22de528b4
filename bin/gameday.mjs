#!/usr/bin/env node
// The gameday CLI. TypeScript sources run through tsx's loader.
import { register } from "tsx/esm/api";

register();
// `gameday sniper | head`: when the reader goes, stop as on Ctrl-C (revert
// what is held, then exit) instead of crashing on EPIPE mid-fault.
process.stdout.on("error", (e) => {
  if (e.code !== "EPIPE") throw e;
  process.kill(process.pid, "SIGTERM");
});
const { main } = await import("../cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
