// Docker containers: labels, a name regex, an image, Compose service and
// project labels, IDs or a topology node (the containers its processes run
// in) to the running (or paused) containers of one engine, each identified by
// its full ID. The engine's address is part of the target, so whoever
// reverts talks to the engine the change was made on.
import type { ContainerSelector, TargetSpec } from "../../lib/experiment";
import { readCgroupText } from "../../lib/procfs";
import type { Topology } from "../../lib/topology";
import { defaultEngine, docker, engineError } from "../docker/engine";
import type { OnHost } from "../types";
import { resolveProcesses, selectorFor } from "./process";
import { registerTargetKind, type TargetResolution } from "./registry";

export interface ContainerTarget extends OnHost {
  kind: "container";
  /** unix:///path/docker.sock or tcp://HOST:PORT */
  engine: string;
  /** full 64-hex ID: a container recreated under the same name has another */
  id: string;
  name: string;
  image: string;
}

declare module "../types" {
  interface TargetKinds {
    container: ContainerTarget;
  }
}

export const COMPOSE_SERVICE = "com.docker.compose.service";
export const COMPOSE_PROJECT = "com.docker.compose.project";

export function describeContainerSelector(sel: ContainerSelector): string {
  const parts: string[] = [];
  if (sel.ids) parts.push(`ids=${sel.ids.join(",")}`);
  if (sel.name) parts.push(`name=~/${sel.name}/`);
  if (sel.image) parts.push(`image=${sel.image}`);
  for (const [k, v] of Object.entries(sel.labels ?? {})) parts.push(`label ${k}=${v}`);
  if (sel.service) parts.push(`service=${sel.service}`);
  if (sel.project) parts.push(`project=${sel.project}`);
  if (sel.node) parts.push(`node=${sel.node}`);
  return parts.join(" ");
}

/** Does the container run this image: the reference it was created from (any tag when none is given), or the image ID? */
function runsImage(c: { Image: string; ImageID: string }, image: string): boolean {
  if (c.Image === image || c.ImageID === image || c.ImageID === `sha256:${image}`) return true;
  const tagless = !/:[^/]+$/.test(image);
  return tagless && (c.Image.startsWith(`${image}:`) || c.Image.startsWith(`${image}@`));
}

const CONTAINER_ID = /[0-9a-f]{64}/g;

/** The IDs of the containers a topology node's processes run in (from their cgroups). */
function nodeContainerIds(node: string, topology: Topology | null): { ids: Set<string>; processes: number } {
  const { selector } = selectorFor({ node, mode: "all" }, topology);
  const procs = resolveProcesses(selector).matched;
  const ids = new Set<string>();
  for (const p of procs) for (const id of readCgroupText(p.pid).match(CONTAINER_ID) ?? []) ids.add(id);
  return { ids, processes: procs.length };
}

export async function resolveContainers(sel: ContainerSelector, topology: Topology | null): Promise<TargetResolution> {
  const engine = sel.engine ?? defaultEngine();
  const selector = `container ${describeContainerSelector(sel)}${sel.engine ? ` on ${engine}` : ""}`;
  const labels = { ...sel.labels, ...(sel.service ? { [COMPOSE_SERVICE]: sel.service } : {}), ...(sel.project ? { [COMPOSE_PROJECT]: sel.project } : {}) };
  const filters: Record<string, string[]> = {};
  if (Object.keys(labels).length) filters.label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  let list;
  try {
    list = await (await docker(engine)).listContainers({ filters: JSON.stringify(filters) });
  } catch (e) {
    throw new Error(`${selector}: cannot list containers: ${engineError(e)}`);
  }
  const nameRe = sel.name ? new RegExp(sel.name) : null;
  const inNode = sel.node ? nodeContainerIds(sel.node, topology) : null;
  const matched = list
    .map((c) => ({ c, name: (c.Names[0] ?? c.Id).replace(/^\//, "") }))
    .filter(({ c, name }) => {
      if (sel.ids && !sel.ids.some((id) => c.Id.startsWith(id))) return false;
      if (nameRe && !nameRe.test(name)) return false;
      if (sel.image && !runsImage(c, sel.image)) return false;
      if (inNode && !inNode.ids.has(c.Id)) return false;
      return true;
    })
    .map(({ c, name }): ContainerTarget => ({ kind: "container", engine, id: c.Id, name, image: c.Image }))
    // a stable order, so a seeded blast radius chooses the same containers again
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  const r: TargetResolution = { selector, matched, protected: [], ...(sel.node ? { node: sel.node } : {}) };
  if (!matched.length && inNode) r.problem = `node ${sel.node}: ${inNode.processes ? `its ${inNode.processes} process(es) run in no running container of ${engine}` : "no process of the node runs"}`;
  return r;
}

registerTargetKind({
  kind: "container",
  title: "container",
  selectors: ["container"],
  example: { container: { labels: { app: "my-service" } } },
  nodePath: ["container", "node"],
  id: (t) => `ctr:${t.id}`,
  label: (t) => `container ${t.name} (${t.id.slice(0, 12)})`,
  resolve: (spec: TargetSpec, ctx) => resolveContainers(spec.container!, ctx.topology),
});
