// Load generators that run as child processes (CPU burners, memory hogs, I/O
// writers). Each carries a tag in its command line, chosen in plan() and
// journaled before the child exists, so revert — in this process or in a
// worker restarted after a crash — finds and kills exactly these children by
// scanning /proc, with no PID to go stale. Children also watch their parent
// and exit when it dies (Node has no PR_SET_PDEATHSIG), so a SIGKILLed worker
// leaves no load behind even before the next start replays the journal.
import { spawn } from "node:child_process";
import fs from "node:fs";
import crypto from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { listProcesses, type ProcInfo } from "../../lib/procfs";

/** Plain-JS child scripts live here, next to this file, and run with `node` directly (no tsx start-up). */
export const LOAD_DIR = path.dirname(fileURLToPath(import.meta.url));

/** A fresh tag, e.g. "gameday-load:cpu-stress:4f0c…". */
export function newTag(fault: string): string {
  return `gameday-load:${fault}:${crypto.randomUUID()}`;
}

// gameday-load: what newTag() makes; gameday-bpf: the BPF loader's and the ptrace tracer's (injectors/bpf/helper.ts)
const TAG_RE = /^gameday-(?:load|bpf):[\w.-]{1,64}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Is this a tag newTag() (or the BPF helpers) made? Revert reads tags from the journal: an empty
 * or hand-edited one must never select other processes (every command line
 * "includes" the empty string).
 */
export function isTag(tag: unknown): tag is string {
  return typeof tag === "string" && TAG_RE.test(tag);
}

function mustBeTag(tag: unknown): string {
  if (!isTag(tag)) throw new Error(`refusing to act on children tagged ${JSON.stringify(tag)}: not a Game Day tag (gameday-load:<fault>:<uuid> or gameday-bpf:<fault>:<uuid>); the journal entry is damaged, left for a human`);
  return tag;
}

/**
 * Start `node <script> --tag TAG --parent PID ...args` detached in its own
 * process group. The script must exit when process.ppid stops being PID.
 */
export function spawnTagged(script: string, tag: string, args: string[]): number {
  mustBeTag(tag);
  const child = spawn(process.execPath, [path.join(LOAD_DIR, script), "--tag", tag, "--parent", String(process.pid), ...args], {
    stdio: "ignore",
    detached: true,
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${script}`);
  return child.pid;
}

/** Live (non-zombie) processes whose command line carries the tag. */
export function tagged(tag: string): ProcInfo[] {
  mustBeTag(tag);
  // the tag is one argument of its own (--tag TAG): a whole word, never a substring
  return listProcesses().filter((p) => p.state !== "Z" && p.state !== "X" && p.cmdline.split(" ").includes(tag));
}

/** Total bytes written by the tagged processes so far (write() calls, from /proc/PID/io). */
export function writtenBy(tag: string): number {
  return ioOf(tagged(tag).map((p) => p.pid)).bytes;
}

/** Bytes passed to write() (wchar) and write calls (syscw) of the processes, from /proc/PID/io. */
export function ioOf(pids: number[]): { bytes: number; calls: number } {
  const sum = { bytes: 0, calls: 0 };
  for (const pid of pids) {
    try {
      const io = fs.readFileSync(`/proc/${pid}/io`, "utf8");
      sum.bytes += Number(/^wchar:\s*(\d+)/m.exec(io)?.[1] ?? 0);
      sum.calls += Number(/^syscw:\s*(\d+)/m.exec(io)?.[1] ?? 0);
    } catch {
      /* exited meanwhile */
    }
  }
  return sum;
}

/**
 * SIGKILL every process carrying the tag, and the whole process group of each
 * tagged group leader (a program like stress-ng renames its workers, so they
 * do not carry the tag); wait (bounded) until none is left.
 */
/**
 * Ask every process carrying the tag to stop (SIGTERM: a poisoner or a proxy
 * writes its last counters, a proxy flushes what it holds) and wait, bounded,
 * until none is left; killTagged() then SIGKILLs what still runs.
 */
export async function terminateTagged(tag: string, timeoutMs: number): Promise<void> {
  for (const p of tagged(tag)) {
    try {
      process.kill(p.pid, "SIGTERM");
    } catch {
      // gone meanwhile
    }
  }
  const end = Date.now() + timeoutMs;
  while (tagged(tag).length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

export async function killTagged(tag: string, timeoutMs = 3000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let killed = 0;
  const groups = new Set(tagged(tag).filter((p) => p.pgid === p.pid && p.pgid > 1).map((p) => p.pgid));
  for (const g of groups) {
    try {
      process.kill(-g, "SIGKILL");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
  }
  for (;;) {
    const left = [...tagged(tag), ...listProcesses().filter((p) => groups.has(p.pgid) && p.state !== "Z" && p.state !== "X")];
    if (left.length === 0) return killed;
    for (const p of left) {
      try {
        process.kill(p.pid, "SIGKILL");
        killed++;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
      }
    }
    if (Date.now() > deadline) throw new Error(`${left.length} process(es) tagged ${tag} survived SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
