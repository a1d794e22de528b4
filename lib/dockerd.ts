// A private Docker engine: dockerd on its own socket, data, exec root and
// pidfile under one folder (so it never meets the machine's engine or another
// private one), with no bridge and no iptables rules (containers use host
// networking: all traffic stays on loopback), started under
// `setpriv --pdeathsig TERM` so it shuts down, stopping its containers, when
// whoever started it dies. The tests' engine (e2e/docker.ts) and the engine
// of `make up`'s container demo on a host that runs none (scripts/up.ts).
// Given a network namespace it runs inside it with bridge networking and
// iptables on (user-defined networks, Docker's embedded resolver): its
// bridges and rules stay in that namespace.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const DOCKERD = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].find((p) => fs.existsSync(p));
/** The engine a Docker installation listens on by default. */
export const SYSTEM_DOCKER_SOCKET = "/var/run/docker.sock";

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 15_000;

/** Why no private dockerd can start here, or null when one can. */
export function privateDockerdUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "dockerd needs root";
  if (!DOCKERD) return "dockerd is not installed (apt-get install docker.io)";
  return null;
}

/** Does a Docker engine answer on this unix socket (GET /_ping)? */
export function pingSocket(socketPath: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    if (!fs.existsSync(socketPath)) return resolve(false);
    const req = http.get({ socketPath, path: "/_ping", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** Mount points at or below dir, deepest first (dockerd leaves its netns bind mount, a killed one its overlays). */
export function mountsBelow(dir: string): string[] {
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

export interface PrivateDockerd {
  /** unix:///…/docker.sock, as DOCKER_HOST and a selector's engine take it */
  engine: string;
  socketPath: string;
  child: ChildProcess;
  /** stop dockerd (its containers with it), unmount what it left and delete dir */
  stop(): Promise<void>;
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export interface PrivateDockerdOptions {
  /** an `ip netns` name to run in, with bridge networking and iptables on (nsenter --net: `ip netns exec` mounts a fresh /sys, without the cgroup mounts dockerd needs) */
  netns?: string;
  /** --dns: the containers' resolvers (on a user-defined network, the upstreams of the embedded resolver) */
  dns?: string[];
}

/** Start dockerd with everything of its own under dir (an empty folder the caller made for it); resolves once it answers. */
export async function startPrivateDockerd(dir: string, o: PrivateDockerdOptions = {}): Promise<PrivateDockerd> {
  const why = privateDockerdUnavailable();
  if (why) throw new Error(`cannot start a private dockerd: ${why}`);
  const socketPath = path.join(dir, "docker.sock");
  const logFile = path.join(dir, "dockerd.log");
  const log = fs.openSync(logFile, "a");
  // nsenter execs setpriv in place: dockerd's parent is still us, for --pdeathsig
  const args = [
    ...(o.netns ? ["nsenter", `--net=/run/netns/${o.netns}`, "--"] : []),
    "setpriv", "--pdeathsig", "TERM", "--", DOCKERD!,
    ...(o.netns ? [] : ["--bridge=none", "--iptables=false", "--ip-masq=false"]), "--ip6tables=false",
    `--data-root=${dir}/data`, `--exec-root=${dir}/exec`, `--pidfile=${dir}/dockerd.pid`, "-H", `unix://${socketPath}`,
    "--shutdown-timeout=2", "--log-level=warn",
    ...(o.dns ?? []).flatMap((d) => ["--dns", d]),
  ];
  const child = spawn(args[0], args.slice(1), { stdio: ["ignore", log, log] });
  fs.closeSync(log);
  let spawnError: Error | null = null;
  child.on("error", (e) => (spawnError = e));
  const stop = async () => {
    child.kill("SIGTERM");
    if (!(await exited(child, STOP_GRACE_MS))) {
      child.kill("SIGKILL");
      await exited(child, 5000);
    }
    for (const m of mountsBelow(dir)) await run("umount", ["-l", m]).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const end = Date.now() + READY_TIMEOUT_MS;
  while (!(await pingSocket(socketPath, 1000))) {
    if (spawnError || child.exitCode !== null || Date.now() > end) {
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8").slice(-2000) : "";
      const what = spawnError
        ? `could not be started (${(spawnError as Error).message}; setpriv is in util-linux)`
        : child.exitCode !== null
          ? `exited (code ${child.exitCode})`
          : `did not answer within ${READY_TIMEOUT_MS / 1000} s`;
      await stop();
      throw new Error(`dockerd ${what}; its log:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { engine: `unix://${socketPath}`, socketPath, child, stop };
}
