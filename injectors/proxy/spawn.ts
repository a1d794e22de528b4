// Starting a proxy host child and waiting for its "listening PORT" line,
// bounded and interruptible. Shared by the chaos-proxy faults and the
// latency fault's delaying proxy.
import { spawn } from "node:child_process";

/**
 * Node flags for a relay child (before its script). A relay allocates a read
 * buffer per chunk, hundreds of MB/s; scavenges free them, but once the old
 * space holds more than 8 MB (tsx, zod and the toxics do) V8 starts a major
 * GC whenever those young buffers outgrow the old space's headroom: every
 * ~50 ms at full speed, three times a bare pipe's CPU per byte
 * (bench/proxy.ts). 64 MB of headroom stays above the 32 MB of young buffers
 * at which V8 scavenges anyway.
 */
export const RELAY_NODE_FLAGS = ["--initial-old-space-size=64"];

/**
 * glibc malloc for every child started here (relays and the DNS poisoner).
 * Those read buffers come and go with the heap's top: by default glibc gives
 * the pages back as soon as 128 KB are free there and the kernel faults and
 * zeroes them in again on the next read (a third more CPU per byte than a
 * bare pipe). A 16 MB pad and a 64 MB trim threshold keep them mapped.
 */
export const MALLOC_ENV = { MALLOC_TOP_PAD_: String(16 << 20), MALLOC_TRIM_THRESHOLD_: String(64 << 20) };

/** A started child: its PID, its port, and its [::1] port when it listens there too ("listening PORT PORT6"). */
export interface Listening {
  pid: number;
  port: number;
  port6?: number;
}

/**
 * Spawn argv detached (its own process group; it watches its parent), call
 * `started(pid)` before anything can connect (e.g. to move it into a
 * cgroup), and resolve with the port(s) it prints.
 */
export async function spawnListening(argv: string[], what: string, signal: AbortSignal, started?: (pid: number) => void, timeoutMs = 10_000): Promise<Listening> {
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, ...MALLOC_ENV } });
  if (child.pid === undefined) throw new Error(`could not start ${what}`);
  try {
    started?.(child.pid);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => fail(new Error(`${what} did not start in ${timeoutMs / 1000} s${err ? `: ${err.trim()}` : ""}`)), timeoutMs);
    const onAbort = () => fail(new Error(`aborted while starting ${what}`));
    const fail = (e: Error) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      // a child that never said it listens (slow, aborted, broken) must not stay behind
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      reject(e);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    child.stderr!.on("data", (d: Buffer) => (err += d));
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      const m = /^listening (\d+)(?: (\d+))?\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve(m.slice(1).filter(Boolean).map(Number));
      }
    });
    child.on("exit", (code) => fail(new Error(`${what} exited (${code})${err ? `: ${err.trim()}` : ""}`)));
  });
  child.removeAllListeners("exit");
  child.stdout!.destroy();
  child.stderr!.destroy();
  child.unref();
  return { pid: child.pid, port: ports[0], ...(ports[1] ? { port6: ports[1] } : {}) };
}
