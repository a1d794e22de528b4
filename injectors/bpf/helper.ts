// The two helper programs built from bpf/ (bpf/build.sh → bpf/out): the BPF
// loader `gameday-bpf` and the tracer `gameday-ptrace`. Each runs as our
// child for as long as its fault lasts: the links (or the trace) live exactly
// as long as it does, it dies with us (PR_SET_PDEATHSIG, stdin closing), and
// it carries a tag chosen in plan() so revert — here or in the reaper after a
// crash — finds it in /proc with no PID to go stale. It prints its evidence
// counters as a JSON line every 200 ms; the latest line is kept by tag.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Effect } from "../../lib/contract";
import { killTagged, tagged, terminateTagged } from "../load/children";

export const BPF_OUT = process.env.GAMEDAY_BPF_OUT ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "../../bpf/out");
export const tool = (name: string) => path.join(BPF_OUT, name);

export interface Counters {
  state: string;
  seen: number;
  matched: number;
  injected: number;
  threads?: number;
}

/** Latest counters by tag, and the running children (this process only; the reaper has neither). */
const last = new Map<string, Counters>();
const running = new Map<string, ChildProcess>();

export const newHelperTag = (fault: string) => `gameday-bpf:${fault}:${crypto.randomUUID()}`;
export const countersOf = (tag: string) => last.get(tag);

/** Does the built file exist? */
export function built(name: string): string | null {
  const file = tool(name);
  try {
    fs.accessSync(file, name.endsWith(".o") ? fs.constants.R_OK : fs.constants.X_OK);
    return null;
  } catch {
    return `${file} is not built (bash bpf/build.sh; needs clang${name === "gameday-ptrace" ? "" : " and libbpf-dev"})`;
  }
}

/**
 * Start the helper and resolve once it reports its first "attached" line;
 * reject with its error (and the verifier's log) when it exits first.
 */
export function startHelper(name: string, args: string[], tag: string, signal: AbortSignal): Promise<Counters> {
  const child = spawn(tool(name), [...args, "--tag", tag, "--parent", String(process.pid)], { stdio: ["pipe", "pipe", "pipe"] });
  running.set(tag, child);
  let stderr = "";
  let buf = "";
  return new Promise<Counters>((resolve, reject) => {
    let settled = false;
    const done = (e: Error | null, c?: Counters) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (e) reject(e);
      else resolve(c!);
    };
    const onAbort = () => done(new Error("aborted while attaching"));
    signal.addEventListener("abort", onAbort, { once: true });
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let msg: Counters & { error?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.error) done(new Error(`${name}: ${msg.error}${stderr.trim() ? `\n${stderr.trim().split("\n").slice(-15).join("\n")}` : ""}`));
        else {
          last.set(tag, msg);
          if (msg.state === "attached") done(null, msg);
        }
      }
    });
    child.on("error", (e) => done(e));
    child.on("exit", (code, sig) => {
      running.delete(tag);
      done(new Error(`${name} exited (${sig ?? code}) before attaching${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-15).join("\n")}` : ""}`));
    });
    child.stdin!.on("error", () => {}); // EPIPE when it exits first
  });
}

/**
 * Stop the tagged helper: SIGTERM (it detaches, prints its last counters and
 * exits), bounded, then SIGKILL whatever carries the tag (links and traces
 * go with the process either way). Idempotent; works in a process that did
 * not start it (the reaper).
 */
export async function stopHelper(tag: string, timeoutMs = 3000): Promise<void> {
  const child = running.get(tag);
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, timeoutMs))]);
  } else {
    await terminateTagged(tag, timeoutMs);
  }
  await killTagged(tag);
  running.delete(tag);
}

/** PIDs of live processes carrying the tag. */
export const helperPids = (tag: string) => tagged(tag).map((p) => p.pid);

/** Evidence in words; a fault that touched nothing says so (the run is inconclusive). */
export function evidenceText(tag: string, what: { seen: string; injected: string }): string {
  const e = helperEffect(tag, what);
  if (!e) return "counters unavailable (the helper ended with the process that started it)";
  return e.touched === 0 ? `${e.summary}: touched nothing, inconclusive` : e.summary;
}

/** The same counters as the run's evidence of effect: what the helper failed or dropped; none known (a reaper's revert) is no evidence either way. */
export function helperEffect(tag: string, what: { seen: string; injected: string }): Effect | null {
  const c = last.get(tag);
  if (!c) return null;
  return { touched: c.injected, summary: `${c.seen} ${what.seen} seen, ${c.matched} matched, ${c.injected} ${what.injected}`, counters: { ...c } };
}
