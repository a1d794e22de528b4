// Commands as data (so a dry run and the tests can see exactly what would
// run), run with argument arrays and never a shell, optionally inside
// `ip netns exec NS` (or `nsenter --net=/proc/PID/ns/net` for a container's
// namespace, which has no name), asynchronously and with a timeout: nothing
// here may block the thread that runs the steady-state monitor and the abort
// timers.
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import { promisify } from "node:util";
import { spawnTurn } from "../../lib/spawn-turn";

const execFileP = promisify(execFile);

/** One command: argv[0] is ip, tc or iptables; run inside netns when given. */
export interface Cmd {
  netns?: string;
  argv: string[];
}

/** A namespace given by a process's /proc path (a container's) rather than an `ip netns` name. */
export const NETNS_PATH = /^\/proc\/\d+\/ns\/net$/;

/** The argv that runs `argv` inside a namespace: its name through ip netns exec, a /proc path through nsenter; both exec in place. */
export function inNetns(netns: string | undefined, argv: string[]): string[] {
  if (!netns) return argv;
  return NETNS_PATH.test(netns) ? ["nsenter", `--net=${netns}`, "--", ...argv] : ["ip", "netns", "exec", netns, ...argv];
}

/** "ip netns exec NS " or "nsenter --net=PATH -- " before a command shown in a dry run; "" for ours. */
export const netnsPrefix = (netns?: string) => (netns ? `${inNetns(netns, []).join(" ")} ` : "");

export function cmdText(c: Cmd): string {
  const argv = inNetns(c.netns, c.argv);
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Longest a command may run before it is killed. */
export const CMD_TIMEOUT_MS = 15_000;

/**
 * Run without a shell; resolves (never rejects) with the exit code: 127 when
 * the program could not be run or timed out (with the reason in stderr).
 */
export async function runCmd(c: Cmd, timeoutMs = CMD_TIMEOUT_MS): Promise<CmdResult> {
  const [file, ...args] = inNetns(c.netns, c.argv);
  await spawnTurn();
  try {
    const r = await execFileP(file, args, { encoding: "utf8", timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string; killed?: boolean; signal?: string | null };
    if (typeof x.code === "number") return { code: x.code, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
    if (x.killed) return { code: 127, stdout: "", stderr: `${file} timed out after ${timeoutMs} ms` };
    if (x.signal) return { code: 1, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
    return { code: 127, stdout: "", stderr: x.message };
  }
}

/** Run and throw with the command and its stderr on failure. */
export async function must(c: Cmd): Promise<string> {
  const r = await runCmd(c);
  if (r.code !== 0) throw new Error(`\`${cmdText(c)}\` failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** Short random id for chain names, handles and comments. */
export function shortTag(): string {
  return crypto.randomBytes(4).toString("hex");
}

export async function toolsMissing(tools = ["ip", "tc", "iptables", "iptables-save"]): Promise<string | null> {
  const ran = await Promise.all(tools.map((t) => runCmd({ argv: [t, t === "ip" || t === "tc" ? "-V" : "--version"] }, 5000)));
  for (const [i, t] of tools.entries()) {
    if (ran[i].code === 127) return `${t} is not installed (package ${t === "ip" || t === "tc" ? "iproute2" : "iptables"})`;
  }
  if (process.getuid?.() !== 0) return "network faults need root (CAP_NET_ADMIN)";
  return null;
}

/**
 * Does `ip netns list` name this namespace? A /proc path exists while its
 * process lives, and is the same namespace only while the inode recorded
 * when it was resolved matches (a reused PID is another namespace).
 */
export async function netnsExists(netns: string, inode?: number): Promise<boolean> {
  if (NETNS_PATH.test(netns)) {
    try {
      const ino = (await fs.promises.stat(netns)).ino;
      return inode === undefined || ino === inode;
    } catch {
      return false;
    }
  }
  return (await runCmd({ argv: ["ip", "netns", "list"] })).stdout.split("\n").some((l) => l.split(" ")[0] === netns);
}
