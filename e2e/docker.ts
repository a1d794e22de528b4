// A throw-away Docker engine for tests: lib/dockerd.ts's private dockerd
// (its own socket and folders, no bridge, no iptables rules, host networking
// only, gone with the test process; or inside a test's network namespace,
// with bridges and iptables there) under a temporary folder. Images are
// built here from busybox-static (`docker import` of a rootfs folder):
// nothing is pulled.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { privateDockerdUnavailable, startPrivateDockerd, type PrivateDockerdOptions } from "../lib/dockerd";
import { tempDir } from "./kit";

const run = promisify(execFile);

/** Every test container carries this label; stop() removes them all. */
export const TEST_LABEL = "gameday.test";

const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p));

/** Why the Docker tests cannot run on this host, or null when they can. */
export function dockerSkipReason(): string | null {
  const why = privateDockerdUnavailable();
  if (why) return why;
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
  /** run a command in a running container; resolves with what it printed (stdout and stderr, one terminal) */
  exec(id: string, cmd: string[]): Promise<string>;
  /** the labelled containers (any state) */
  testContainers(): Promise<Docker.ContainerInfo[]>;
  /** remove every labelled container, stop dockerd, unmount and delete its folders */
  stop(): Promise<void>;
}

const APPLETS = ["sh", "sleep", "httpd", "nc", "wget", "cat", "echo", "kill", "true", "nslookup"];

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

export async function startDockerd(opts: PrivateDockerdOptions = {}): Promise<TestDocker> {
  const dir = tempDir("gameday-dockerd-");
  const engine = await startPrivateDockerd(dir, opts);
  const d = new Docker({ socketPath: engine.socketPath, timeout: 60_000 });
  const image = await buildImage(d, dir);
  const testContainers = () => d.listContainers({ all: true, filters: JSON.stringify({ label: [TEST_LABEL] }) });
  return {
    engine: engine.engine,
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
    async exec(id, cmd) {
      // a terminal: one stream, no multiplexing headers to take apart
      const e = await d.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: true });
      const s = await e.start({ hijack: true, stdin: false, Tty: true });
      return new Promise((resolve, reject) => {
        let out = "";
        s.on("data", (b: Buffer) => (out += b.toString("utf8")));
        s.on("end", () => resolve(out.replace(/\r\n/g, "\n")));
        s.on("error", reject);
      });
    },
    testContainers,
    async stop() {
      for (const c of await testContainers().catch(() => [])) await d.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      await engine.stop();
    },
  };
}
