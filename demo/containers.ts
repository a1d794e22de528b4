// The demo system as Docker containers, one per instance. The image is built
// here (nothing pulled): busybox and the shared libraries node links against;
// the node binary and this checkout (with its node_modules) are bind-mounted
// read-only at their host paths, so a container runs exactly the code the
// process demo runs. Host networking: the services listen on the same
// loopback ports, so the topology, the probes and the load generator work
// unchanged. Labels: Compose's service (the node) and project (the cluster),
// gameday.demo=<cluster> and gameday.demo.owner=<supervisor pid>, so a run's
// leftovers can be told from a live demo's and swept (e2e/sweep.ts).
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { httpGet } from "./net";
import { nodeTag, type DemoInstance } from "./topology";

const run = promisify(execFile);

export const DEMO_LABEL = "gameday.demo";
export const OWNER_LABEL = "gameday.demo.owner";
export const COMPOSE_SERVICE = "com.docker.compose.service";
export const COMPOSE_PROJECT = "com.docker.compose.project";
const IMAGE_REPO = "gameday-demo-node";
/** where the host's node binary is mounted in every container */
const NODE_IN_CONTAINER = "/usr/local/bin/node";
const ROOT = path.resolve(import.meta.dirname, "..");
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p));
const HEALTH_TIMEOUT_MS = 500;
/** Every engine call gives up after this long: a hung daemon must not hang the demo's shutdown. */
const API_TIMEOUT_MS = 30_000;

export function dockerClient(engine: string): Docker {
  if (engine.startsWith("unix://")) return new Docker({ socketPath: engine.slice("unix://".length), timeout: API_TIMEOUT_MS });
  const u = new URL(engine.replace(/^tcp:/, "http:"));
  return new Docker({ host: u.hostname, port: Number(u.port), protocol: "http", timeout: API_TIMEOUT_MS });
}

/** The libraries `ldd` says node loads, by the absolute path the loader looks them up under. */
async function nodeLibraries(): Promise<string[]> {
  const { stdout } = await run("ldd", [process.execPath]);
  return [...stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/g)].map((m) => m[1]);
}

/**
 * The demo image on this engine, built when missing. Its tag is a digest of
 * what goes in, so a node upgraded on the host (other libraries) gets a new
 * image instead of a container that cannot start.
 */
export async function ensureDemoImage(d: Docker): Promise<string> {
  const files = [...(await nodeLibraries()), ...(BUSYBOX ? [BUSYBOX] : [])];
  const h = crypto.createHash("sha256");
  for (const f of files) h.update(f).update("\0").update(fs.readFileSync(f));
  const image = `${IMAGE_REPO}:${h.digest("hex").slice(0, 12)}`;
  try {
    await d.getImage(image).inspect();
    return image;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gameday-demo-image-pid${process.pid}-`));
  try {
    const root = path.join(dir, "rootfs");
    for (const sub of ["tmp", "usr/local/bin", "bin", "etc"]) fs.mkdirSync(path.join(root, sub), { recursive: true });
    fs.chmodSync(path.join(root, "tmp"), 0o1777);
    for (const f of files) {
      const dst = path.join(root, f === BUSYBOX ? "bin/busybox" : f);
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      fs.copyFileSync(fs.realpathSync(f), dst);
      fs.chmodSync(dst, 0o755);
    }
    if (BUSYBOX) for (const a of ["sh", "wget", "cat", "ps"]) fs.symlinkSync("busybox", path.join(root, "bin", a));
    // the mount point of the host's node binary
    fs.writeFileSync(path.join(root, NODE_IN_CONTAINER), "");
    fs.writeFileSync(path.join(root, "etc/passwd"), "root:x:0:0:root:/tmp:/bin/sh\n");
    const tarball = path.join(dir, "rootfs.tar");
    await run("tar", ["-C", root, "-cf", tarball, "."]);
    const [repo, tag] = image.split(":");
    const stream = await d.importImage(tarball, { repo, tag });
    await new Promise<void>((resolve, reject) => d.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return image;
}

/** What must be visible at the same path inside: this checkout, and node_modules where it really lives (a worktree links it). */
function binds(): string[] {
  const out = [`${process.execPath}:${NODE_IN_CONTAINER}:ro`, `${ROOT}:${ROOT}:ro`];
  const modules = fs.realpathSync(path.join(ROOT, "node_modules"));
  if (!modules.startsWith(ROOT + path.sep)) out.push(`${modules}:${modules}:ro`);
  return out;
}

/** A non-TTY container's log: frames of an 8-byte header (stream, 0, 0, 0, size as uint32 BE) and the bytes. */
function unframe(buf: Buffer): string {
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(at + 4);
    parts.push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString("utf8");
}

const alive = (pid: number) => pid > 0 && fs.existsSync(`/proc/${pid}`);

export interface DemoContainer {
  inst: DemoInstance;
  name: string;
  id: string;
}

export interface ContainerDemo {
  engine: string;
  image: string;
  containers: DemoContainer[];
  /** answers /healthz as this very container (its name comes back in x-demo-instance) */
  healthy(c: DemoContainer): Promise<boolean>;
  /** the container's first process as the host sees it (0 when not running) */
  hostPid(c: DemoContainer): Promise<number>;
  /** its state and last log lines, for a message saying why it is not ready */
  why(c: DemoContainer): Promise<string>;
  /** remove every container of this demo (force: a paused one too) */
  stop(): Promise<void>;
}

/**
 * Containers of this cluster on the engine; those of a supervisor that is
 * gone are removed, one of a live supervisor is refused (it holds the ports).
 */
async function clearCluster(d: Docker, cluster: string): Promise<void> {
  const list = await d.listContainers({ all: true, filters: JSON.stringify({ label: [`${DEMO_LABEL}=${cluster}`] }) });
  const live = list.find((c) => Number(c.Labels[OWNER_LABEL]) !== process.pid && alive(Number(c.Labels[OWNER_LABEL])));
  if (live) throw new Error(`cluster ${cluster} already runs as containers of process ${live.Labels[OWNER_LABEL]} (${live.Names[0]?.replace(/^\//, "")}): stop that demo first`);
  for (const c of list) await d.getContainer(c.Id).remove({ force: true });
}

/** Create and start one container per instance (leaf first, as given), named <cluster>-<node>-<n>. */
export async function startContainerDemo(opts: {
  engine: string;
  cluster: string;
  instances: DemoInstance[];
  env?: Record<string, string>;
  /** stop creating (and remove what was made): the supervisor is shutting down */
  signal?: AbortSignal;
}): Promise<ContainerDemo> {
  const d = dockerClient(opts.engine);
  await d.ping().catch((e: Error) => {
    throw new Error(`no Docker engine answers at ${opts.engine}: ${e.message}`);
  });
  const image = await ensureDemoImage(d);
  await clearCluster(d, opts.cluster);
  const containers: DemoContainer[] = [];
  const count = new Map<string, number>();
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const stop = async () => {
    const list = await d.listContainers({ all: true, filters: JSON.stringify({ label: [`${DEMO_LABEL}=${opts.cluster}`, `${OWNER_LABEL}=${process.pid}`] }) });
    await Promise.all(list.map((c) => d.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  };
  try {
    for (const inst of opts.instances) {
      if (opts.signal?.aborted) throw new Error("stopped while starting");
      const n = (count.get(inst.node) ?? 0) + 1;
      count.set(inst.node, n);
      const name = `${opts.cluster}-${inst.node}-${n}`;
      const cmd = [NODE_IN_CONTAINER, "--import", "tsx", "demo/service.ts", ...nodeTag(opts.cluster, inst.node), "--port", String(inst.port)];
      if (inst.upstreams.length) cmd.push("--upstream", inst.upstreams.join(","));
      cmd.push("--instance", name);
      const c = await d.createContainer({
        name,
        Image: image,
        Cmd: cmd,
        WorkingDir: ROOT,
        Env: env,
        Labels: { [COMPOSE_SERVICE]: inst.node, [COMPOSE_PROJECT]: opts.cluster, [DEMO_LABEL]: opts.cluster, [OWNER_LABEL]: String(process.pid) },
        // on-failure: an instance killed from inside (process-kill, a crash) comes back, as the process demo's do;
        // one stopped through Docker (container-stop) stays stopped until the fault's revert starts it
        HostConfig: { NetworkMode: "host", Binds: binds(), RestartPolicy: { Name: "on-failure" } },
      });
      await c.start();
      containers.push({ inst, name, id: c.id });
    }
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return {
    engine: opts.engine,
    image,
    containers,
    async healthy(c) {
      try {
        const r = await httpGet(`http://127.0.0.1:${c.inst.port}/healthz`, { timeoutMs: HEALTH_TIMEOUT_MS });
        return r.status === 200 && r.headers["x-demo-instance"] === c.name;
      } catch {
        return false;
      }
    },
    async hostPid(c) {
      return (await d.getContainer(c.id).inspect()).State.Pid;
    },
    async why(c) {
      try {
        const ctr = d.getContainer(c.id);
        const { State: st } = await ctr.inspect();
        const text = unframe(await ctr.logs({ stdout: true, stderr: true, tail: 5 })).trim().split("\n").join(" | ");
        return `${c.name}: ${st.Status}${st.Restarting ? ", restarting" : ""} (exit code ${st.ExitCode})${text ? `; log: ${text}` : ""}`;
      } catch (e) {
        return `${c.name}: ${(e as Error).message}`;
      }
    },
    stop,
  };
}
