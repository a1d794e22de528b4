// A throw-away Docker engine for tests: dockerd on its own socket, data,
// exec root and pidfile under a temporary folder (so it never meets the
// machine's engine or another test's), with no bridge and no iptables rules
// (containers use host networking: all traffic stays on loopback), started
// under `setpriv --pdeathsig TERM` so it shuts down, stopping its containers,
// when the test process dies. Images are built here from busybox-static
// (`docker import` of a rootfs folder): nothing is pulled.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { killHard, sleep, tempDir, waitFor } from "./kit";

const run = promisify(execFile);

/** Every test container carries this label; stop() removes them all. */
export const TEST_LABEL = "gameday.test";

const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p));
const DOCKERD = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].find((p) => fs.existsSync(p));

/** Why the Docker tests cannot run on this host, or null when they can. */
export function dockerSkipReason(): string | null {
  if (process.getuid?.() !== 0) return "dockerd needs root";
  if (!DOCKERD) return "dockerd is not installed (apt-get install docker.io)";
  if (!BUSYBOX) return "busybox is not installed (apt-get install busybox-static)";
  return null;
}

export interface TestDocker {
  /** unix:///…/docker.sock: a selector's engine, or DOCKER_HOST for a child process */
  engine: string;
  docker: Docker;
  /** the busybox image (sh, sleep, httpd, nc, wget, …) */
  image: string;
  /** create and start a labelled container on the host network; returns its full ID */
  run(name: string, cmd: string[], opts?: { labels?: Record<string, string>; hostConfig?: Docker.HostConfig }): Promise<string>;
  /** the labelled containers (any state) */
  testContainers(): Promise<Docker.ContainerInfo[]>;
  /** remove every labelled container, stop dockerd, unmount and delete its folders */
  stop(): Promise<void>;
}

const APPLETS = ["sh", "sleep", "httpd", "nc", "wget", "cat", "echo", "kill", "true"];

async function buildImage(d: Docker, dir: string): Promise<string> {
  const root = path.join(dir, "rootfs");
  fs.mkdirSync(path.join(root, "bin"), { recursive: true });
  fs.mkdirSync(path.join(root, "www"));
  fs.mkdirSync(path.join(root, "tmp"));
  fs.copyFileSync(BUSYBOX!, path.join(root, "bin/busybox"));
  fs.chmodSync(path.join(root, "bin/busybox"), 0o755);
  for (const a of APPLETS) fs.symlinkSync("busybox", path.join(root, "bin", a));
  fs.writeFileSync(path.join(root, "www/index.html"), "ok\n");
  const tarball = path.join(dir, "rootfs.tar");
  await run("tar", ["-C", root, "-cf", tarball, "."]);
  const image = "gameday-test-busybox:1";
  const stream = await d.importImage(tarball, { repo: "gameday-test-busybox", tag: "1" });
  await new Promise<void>((resolve, reject) => d.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
  return image;
}

function mountsBelow(dir: string): string[] {
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

export async function startDockerd(): Promise<TestDocker> {
  const dir = tempDir("gameday-dockerd-");
  const sock = path.join(dir, "docker.sock");
  const log = fs.openSync(path.join(dir, "dockerd.log"), "a");
  const args = [
    "--pdeathsig", "TERM", "--", DOCKERD!,
    "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
    `--data-root=${dir}/data`, `--exec-root=${dir}/exec`, `--pidfile=${dir}/dockerd.pid`, `-H`, `unix://${sock}`,
    "--shutdown-timeout=2", "--log-level=warn",
  ];
  const child: ChildProcess = spawn("setpriv", args, { stdio: ["ignore", log, log] });
  fs.closeSync(log);
  const d = new Docker({ socketPath: sock, timeout: 60_000 });
  try {
    await waitFor("dockerd to answer", () => d.ping().then(() => true), 30_000, 100);
  } catch (e) {
    await killHard(child);
    throw new Error(`${(e as Error).message}; dockerd log:\n${fs.readFileSync(path.join(dir, "dockerd.log"), "utf8").slice(-2000)}`);
  }
  const image = await buildImage(d, dir);
  const testContainers = () => d.listContainers({ all: true, filters: JSON.stringify({ label: [TEST_LABEL] }) });
  return {
    engine: `unix://${sock}`,
    docker: d,
    image,
    async run(name, cmd, opts = {}) {
      const c = await d.createContainer({
        name,
        Image: image,
        Cmd: cmd,
        Labels: { [TEST_LABEL]: String(process.pid), ...opts.labels },
        HostConfig: { NetworkMode: "host", ...opts.hostConfig },
      });
      await c.start();
      return c.id;
    },
    testContainers,
    async stop() {
      for (const c of await testContainers().catch(() => [])) await d.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      await killHard(child, "SIGTERM", 15_000);
      // dockerd leaves its default netns bind mount (and a killed one its overlays) behind
      for (const m of mountsBelow(dir)) await run("umount", ["-l", m]).catch(() => undefined);
      await sleep(50);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
