// The reaper process (see reaper-client.ts): waits for its holder to go,
// then reverts from the holder's journal whatever is still open, writes the
// outcome back and exits. It is one of Game Day's own processes: no
// injector will ever target it.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { registerSelf, sameProcess, readProc } from "../lib/procfs";
import "../injectors";
import { recoverJournal } from "./executor";

const { values: a } = parseArgs({ options: { journal: { type: "string" }, holder: { type: "string" } }, strict: true });
const file = a.journal!;
const holderPid = Number(a.holder);
const holder = readProc(holderPid);
const unregister = registerSelf();
const logFile = process.env.GAMEDAY_REAPER_LOG;

function log(msg: string, fields: Record<string, unknown> = {}): void {
  if (!logFile) return;
  try {
    fs.appendFileSync(logFile, JSON.stringify({ ts: new Date().toISOString(), component: "reaper", pid: process.pid, holder: holderPid, journal: file, msg, ...fields }) + "\n", { mode: 0o600 });
  } catch {
    /* a log we cannot write is no reason not to revert */
  }
}

// Signals meant for the holder's terminal or group are not for us: we go when the holder goes.
for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => undefined);

let reaping = false;
async function reap(why: string): Promise<void> {
  if (reaping) return;
  reaping = true;
  // the pipe closes a moment before the kernel is done with the holder
  for (let i = 0; i < 40 && holder && sameProcess(holder.pid, holder.startTime); i++) await new Promise((r) => setTimeout(r, 25));
  // a write the holder never finished: the .json beside it (if any) holds the last durable state
  fs.rmSync(`${file}.tmp`, { force: true });
  if (fs.existsSync(file)) {
    try {
      const r = await recoverJournal(file, 5000);
      if (r === null) log("journal locked by another live process; left to it", { why });
      else if (r.reverted.length || r.failed.length || r.problems.length)
        log("reverted what the holder left", {
          why,
          reverted: r.reverted.map((c) => `${c.fault} on ${c.targetLabel}`),
          failed: r.failed.map((c) => `${c.fault} on ${c.targetLabel}: ${c.detail}`),
          problems: r.problems,
        });
    } catch (e) {
      log("revert failed", { why, error: (e as Error).message });
    }
  }
  unregister();
  process.exit(0);
}

process.stdin.on("end", () => void reap("holder gone (pipe closed)"));
process.stdin.on("error", () => void reap("holder gone (pipe error)"));
process.stdin.resume();
// belt and braces: a holder that is gone while the pipe is somehow still open (e.g. inherited by a child)
setInterval(() => {
  if (!holder || !sameProcess(holder.pid, holder.startTime)) void reap("holder gone (poll)");
}, 1000);
process.stdout.write("ready\n");
