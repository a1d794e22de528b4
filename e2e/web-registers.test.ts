// The web app registers itself (instrumentation.ts): once the web app's server (scripts/web.ts) is up,
// its PID and port are in Game Day's registry, so no fault targets it and
// network faults spare its port; gone again when it exits. Needs a build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { registeredSelf } from "../lib/procfs";
import { killHard, ROOT, tempDir, waitFor, webArgs } from "./kit";

const PORT = 16150;
const built = fs.existsSync(path.join(ROOT, ".next/BUILD_ID"));

test("the web app registers its PID and port in the registry every injector reads", { skip: built ? undefined : "the web app is not built (npx next build, or make test)", timeout: 90_000 }, async () => {
  const run = tempDir("gameday-web-run-");
  const web = spawn(process.execPath, webArgs(PORT), {
    cwd: ROOT,
    env: { ...process.env, GAMEDAY_RUN_DIR: run, NEXT_TELEMETRY_DISABLED: "1" },
    stdio: "ignore",
  });
  try {
    const prev = process.env.GAMEDAY_RUN_DIR;
    process.env.GAMEDAY_RUN_DIR = run;
    try {
      const me = await waitFor("the web app to register", () => registeredSelf().find((r) => r.ports.includes(PORT)), 60_000, 250);
      assert.equal(me.pid, web.pid, "the web app's own server process registered");
    } finally {
      if (prev === undefined) delete process.env.GAMEDAY_RUN_DIR;
      else process.env.GAMEDAY_RUN_DIR = prev;
    }
  } finally {
    await killHard(web);
  }
});
