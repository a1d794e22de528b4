// Starting the dead man's switch. The reaper is a small process of its own
// session (a Ctrl-C or a kill of our process group does not reach it) that
// holds the read end of a pipe from us: when we die, however we die, the
// pipe closes and it reverts what our journal still holds, then exits.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface Reaper {
  pid: number;
  /** we ended cleanly: let the reaper go (it still reverts whatever the journal holds open) */
  release(): void;
}

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "reaper.ts");
const READY_TIMEOUT_MS = 15_000;

export function startReaper(journalFile: string, journalDir: string): Promise<Reaper> {
  const tsx = import.meta.resolve("tsx");
  const child = spawn(process.execPath, ["--import", tsx, SCRIPT, "--journal", journalFile, "--holder", String(process.pid)], {
    detached: true,
    stdio: ["pipe", "pipe", "ignore"],
    env: { ...process.env, GAMEDAY_REAPER_LOG: path.join(journalDir, "reaper.log") },
  });
  return new Promise<Reaper>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`no word from the reaper within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(e);
    };
    child.on("error", fail);
    child.on("exit", (code, sig) => fail(new Error(`the reaper exited before it was ready (${sig ?? code})`)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      if (!out.includes("ready\n")) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      child.stdout!.destroy();
      // the pipe to its stdin is the switch: it must not keep our event loop alive
      child.unref();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      resolve({
        pid: child.pid!,
        release: () => {
          child.stdin!.end();
        },
      });
    });
  });
}
