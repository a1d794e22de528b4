// Commands as data (so a dry run and the tests can see exactly what would
// run), run with argument arrays and never a shell, optionally inside
// `ip netns exec NS`, asynchronously and with a timeout: nothing here may
// block the thread that runs the steady-state monitor and the abort timers.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";

/** One command: argv[0] is ip, tc or iptables; run inside netns when given. */
export interface Cmd {
  netns?: string;
  argv: string[];
}

export function cmdText(c: Cmd): string {
  const argv = c.netns ? ["ip", "netns", "exec", c.netns, ...c.argv] : c.argv;
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCmd(c: Cmd): CmdResult {
  const [file, ...args] = c.netns ? ["ip", "netns", "exec", c.netns, ...c.argv] : c.argv;
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 15_000 });
  if (r.error) return { code: 127, stdout: "", stderr: r.error.message };
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Run and throw with the command and its stderr on failure. */
export function must(c: Cmd): string {
  const r = runCmd(c);
  if (r.code !== 0) throw new Error(`\`${cmdText(c)}\` failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** Short random id for chain names, handles and comments. */
export function shortTag(): string {
  return crypto.randomBytes(4).toString("hex");
}

export function toolsMissing(tools = ["ip", "tc", "iptables", "iptables-save"]): string | null {
  for (const t of tools) {
    const r = spawnSync(t, t === "ip" ? ["-V"] : t === "tc" ? ["-V"] : ["--version"], { encoding: "utf8", timeout: 5000 });
    if (r.error) return `${t} is not installed (package ${t === "ip" || t === "tc" ? "iproute2" : "iptables"})`;
  }
  if (process.getuid?.() !== 0) return "network faults need root (CAP_NET_ADMIN)";
  return null;
}
