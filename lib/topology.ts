// The topology file: the nodes and edges of the system under test, how to find
// each node's processes, and which Prometheus metrics make its SLIs. The demo
// system ships one (demo/topology.yaml); users point Game Day at their own.
import fs from "node:fs";
import { z } from "zod";
import YAML from "yaml";
import { zodIssues, formatIssues } from "./issues";

const idRe = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/;
const ID_HINT = "lowercase letters, digits and '-', at most 64 characters";

function validRegex(s: string): boolean {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}

export const regexString = z.string().min(1).refine(validRegex, { message: "not a valid regular expression" });

/** How to find processes: every given criterion must match. */
export const processSelectorSchema = z
  .object({
    /** exact process name (/proc/PID/comm, 15 chars max) */
    name: z.string().min(1).max(15).optional(),
    /**
     * a program: its process name, its executable's file name, or — for
     * node, python, ruby, perl, java, bash and sh — its script's file name
     * without extension ("worker-app" matches `node /srv/worker-app.js`)
     */
    program: z.string().min(1).max(255).regex(/^[^/\s]+$/, "expected a program name without '/' or spaces").optional(),
    /** regular expression searched in the full command line (arguments joined by spaces) */
    cmdline: regexString.optional(),
    /** owner: a user name or a numeric uid */
    user: z.union([z.string().regex(/^[a-z_][a-z0-9_.-]*\$?$/i, "expected a user name or uid"), z.number().int().min(0)]).optional(),
    /** regular expression searched in each line of /proc/PID/cgroup, e.g. "docker/3f2a" or "system.slice/nginx" */
    cgroup: regexString.optional(),
    pids: z.array(z.number().int().min(2, { error: "PID 1 (init) is never a target" })).min(1).optional(),
  })
  .strict()
  .refine((s) => s.name || s.program || s.cmdline || s.user !== undefined || s.cgroup || s.pids, {
    message: "give at least one of name, program, cmdline, user, cgroup or pids",
  });
export type ProcessSelector = z.infer<typeof processSelectorSchema>;

export const sliSchema = z
  .object({
    /** counter of requests with a status-code label */
    requests: z.string().min(1),
    /** histogram of request durations in seconds */
    latency: z.string().min(1).optional(),
    /** label matchers (exact values) selecting this node's series */
    match: z.record(z.string(), z.string()).default({}),
    /** the label holding the status code */
    codeLabel: z.string().default("code"),
    /** status codes counting as success */
    successCode: regexString.default("^[23]"),
  })
  .strict();
export type SliSpec = z.infer<typeof sliSchema>;

export const topologyNodeSchema = z
  .object({
    id: z.string().regex(idRe, ID_HINT),
    label: z.string().min(1).optional(),
    kind: z.string().default("service"),
    selector: z.object({ process: processSelectorSchema }).strict().optional(),
    /** Prometheus text endpoints, one per instance */
    metrics: z.array(z.url()).default([]),
    sli: sliSchema.optional(),
  })
  .strict();

export const topologySchema = z
  .object({
    apiVersion: z.literal("gameday/v1"),
    kind: z.literal("Topology"),
    metadata: z.object({ name: z.string().min(1) }).loose(),
    spec: z
      .object({
        nodes: z.array(topologyNodeSchema).min(1),
        edges: z
          .array(z.object({ from: z.string(), to: z.string(), label: z.string().optional() }).strict())
          .default([]),
      })
      .strict(),
  })
  .superRefine((t, ctx) => {
    const ids = new Set<string>();
    t.spec.nodes.forEach((n, i) => {
      if (ids.has(n.id)) ctx.addIssue({ code: "custom", path: ["spec", "nodes", i, "id"], message: `duplicate node id "${n.id}"` });
      ids.add(n.id);
    });
    t.spec.edges.forEach((e, i) => {
      for (const end of ["from", "to"] as const) {
        if (!ids.has(e[end])) ctx.addIssue({ code: "custom", path: ["spec", "edges", i, end], message: `unknown node "${e[end]}"` });
      }
    });
  });
export type Topology = z.infer<typeof topologySchema>;
export type TopologyNode = Topology["spec"]["nodes"][number];

export class TopologyError extends Error {}

export function parseTopology(text: string, source = "topology"): Topology {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new TopologyError(`${source}: invalid YAML: ${(e as Error).message}`);
  }
  const r = topologySchema.safeParse(doc);
  if (!r.success) throw new TopologyError(`${source}:\n${formatIssues(zodIssues(r.error))}`);
  return r.data;
}

export function loadTopology(file: string): Topology {
  return parseTopology(fs.readFileSync(file, "utf8"), file);
}
