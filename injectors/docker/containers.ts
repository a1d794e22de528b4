// A container target as it is now: the same container, gone, or recreated
// under its name (another ID). Reverts use this to report per target what
// became of a container instead of failing, and the container's PIDs,
// network namespace and cgroup let process, network and resource faults act
// inside it.
import fs from "node:fs";
import type Dockerode from "dockerode";
import { readCgroupText } from "../../lib/procfs";
import type { ContainerTarget } from "../targets/container";
import { docker, engineError, isNotFound } from "./engine";

export type Presence =
  | { state: "same"; info: Dockerode.ContainerInspectInfo }
  | { state: "gone" }
  | { state: "recreated"; id: string; info: Dockerode.ContainerInspectInfo };

export async function presence(t: Pick<ContainerTarget, "engine" | "id" | "name">): Promise<Presence> {
  const d = await docker(t.engine);
  try {
    return { state: "same", info: await d.getContainer(t.id).inspect() };
  } catch (e) {
    if (!isNotFound(e)) throw new Error(`container ${t.name}: ${engineError(e)}`);
  }
  try {
    const info = await d.getContainer(t.name).inspect();
    return { state: "recreated", id: info.Id, info };
  } catch (e) {
    if (isNotFound(e)) return { state: "gone" };
    throw new Error(`container ${t.name}: ${engineError(e)}`);
  }
}

/** What a revert says about a container that is not the one it changed; ok: there is nothing of ours left to undo. */
export function notOurs(t: ContainerTarget, p: Exclude<Presence, { state: "same" }>): string {
  return p.state === "gone"
    ? `container ${t.name} (${t.id.slice(0, 12)}) is gone: nothing left to revert`
    : `container ${t.name} was recreated meanwhile (now ${p.id.slice(0, 12)}, was ${t.id.slice(0, 12)}): the new one was never touched, left alone`;
}

/** The live container or an error naming what became of it (inject refuses to act on another container). */
export async function sameContainer(t: ContainerTarget): Promise<Dockerode.ContainerInspectInfo> {
  const p = await presence(t);
  if (p.state !== "same") throw new Error(notOurs(t, p).replace(/: .*$/, ""));
  return p.info;
}

export interface ContainerInternals {
  /** the container's first process, as the engine reports it */
  pid: number;
  /** every process in the container (its cgroup's members) */
  pids: number[];
  /** /proc/PID/ns/net of the first process: nsenter --net=, setns */
  netns: string;
  /** the container's cgroup v2 path relative to the v2 root ("" when it has none): a network target's cgroup */
  cgroupV2: string;
  /** the container's folder in cgroup v1 controllers, e.g. /docker/ID */
  cgroupV1?: string;
  /** the host file the container sees as /etc/resolv.conf (bind-mounted by the engine) */
  resolvConf?: string;
}

const V2_ROOTS = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"];

/** Resolve a running container to its processes, network namespace and cgroups (this host's engine only). */
export async function internals(t: ContainerTarget): Promise<ContainerInternals> {
  const info = await sameContainer(t);
  const pid = info.State.Pid;
  if (!info.State.Running || !pid) throw new Error(`container ${t.name} is not running (${info.State.Status})`);
  const cg = readCgroupText(pid);
  const cgroupV2 = (/^0::\/(.*)$/m.exec(cg)?.[1] ?? "").trim();
  const cgroupV1 = /^\d+:[^:]*\bpids\b[^:]*:(.*)$/m.exec(cg)?.[1];
  let pids: number[] = [pid];
  for (const root of V2_ROOTS) {
    const file = `${root}/${cgroupV2}/cgroup.procs`;
    if (!cgroupV2 || !fs.existsSync(file)) continue;
    pids = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number).sort((a, b) => a - b);
    break;
  }
  const resolvConf = info.ResolvConfPath && fs.existsSync(info.ResolvConfPath) ? info.ResolvConfPath : undefined;
  return { pid, pids, netns: `/proc/${pid}/ns/net`, cgroupV2, ...(cgroupV1 ? { cgroupV1 } : {}), ...(resolvConf ? { resolvConf } : {}) };
}
