// The demo system's shape in one place: which ports each node listens on and
// the topology document Game Day reads. The supervisor spawns from the same
// layout, so the checked-in topology.yaml and the running processes cannot
// drift apart. Run as a script to print the YAML:
//   node --import tsx demo/topology.ts [--base-port 4100] [--cluster demo-4100]
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import YAML from "yaml";
import { topologySchema } from "../lib/topology";
import { formatIssues, zodIssues } from "../lib/issues";

export const DEFAULT_BASE_PORT = 4100;

/** db sits 10 ports above the frontend so api can grow to 9 instances without moving it. */
const DB_OFFSET = 10;
const API_INSTANCES = 3;

export type DemoNodeId = "frontend" | "api" | "db";

export interface DemoInstance {
  node: DemoNodeId;
  port: number;
  /** where GET / goes next; empty for the leaf (db) */
  upstreams: string[];
}

// The cluster name is pasted into a regular expression (the process selector)
// and into argv, so it is restricted to characters with no regex meaning.
export const clusterSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/, "lowercase letters, digits and '-', at most 64 characters");

export const demoOptionsSchema = z.object({
  basePort: z
    .number()
    .int()
    .min(1024)
    .max(65535 - DB_OFFSET, `must leave room for db at base port + ${DB_OFFSET}`),
  cluster: clusterSchema.optional(),
});
export type DemoOptions = z.input<typeof demoOptionsSchema>;

export function defaultCluster(basePort: number): string {
  return `demo-${basePort}`;
}

function checked(opts: DemoOptions): { basePort: number; cluster: string } {
  const r = demoOptionsSchema.safeParse(opts);
  if (!r.success) throw new Error(`demo options:\n${formatIssues(zodIssues(r.error))}`);
  return { basePort: r.data.basePort, cluster: r.data.cluster ?? defaultCluster(r.data.basePort) };
}

const url = (port: number, p = "") => `http://127.0.0.1:${port}${p}`;

/** Every process of the demo system, leaf first so upstreams start before their callers. */
export function demoInstances(basePort: number): DemoInstance[] {
  const { basePort: p } = checked({ basePort });
  const db = [p + DB_OFFSET];
  const api = Array.from({ length: API_INSTANCES }, (_, i) => p + 1 + i);
  return [
    ...db.map((port) => ({ node: "db" as const, port, upstreams: [] })),
    ...api.map((port) => ({ node: "api" as const, port, upstreams: db.map((d) => url(d)) })),
    { node: "frontend" as const, port: p, upstreams: api.map((a) => url(a)) },
  ];
}

/** The argv tags a node's processes carry; the topology selector matches exactly these. */
export function nodeTag(cluster: string, node: DemoNodeId): string[] {
  return ["--cluster", cluster, "--node", node];
}

export function selectorRegex(cluster: string, node: DemoNodeId): string {
  // "( |$)" keeps node "api" from also matching a future "api-gateway"
  return `--cluster ${cluster} --node ${node}( |$)`;
}

const NODES: { id: DemoNodeId; label: string; kind: string }[] = [
  { id: "frontend", label: "Frontend", kind: "service" },
  { id: "api", label: "API", kind: "service" },
  { id: "db", label: "Database", kind: "database" },
];

/** The document as written (defaults left for the schema to fill in). */
export type TopologyDocument = z.input<typeof topologySchema>;

export function demoTopology(opts: DemoOptions): TopologyDocument {
  const { basePort, cluster } = checked(opts);
  const instances = demoInstances(basePort);
  const doc: TopologyDocument = {
    apiVersion: "gameday/v1",
    kind: "Topology",
    metadata: { name: "demo-shop" },
    spec: {
      nodes: NODES.map((n) => ({
        id: n.id,
        label: n.label,
        kind: n.kind,
        selector: { process: { cmdline: selectorRegex(cluster, n.id) } },
        metrics: instances.filter((i) => i.node === n.id).map((i) => url(i.port, "/metrics")),
        sli: {
          requests: "demo_http_requests_total",
          latency: "demo_http_request_duration_seconds",
          match: { service: n.id },
        },
      })),
      edges: [
        { from: "frontend", to: "api" },
        { from: "api", to: "db" },
      ],
    },
  };
  // Validate what we emit so a schema change in lib/topology.ts fails here, loudly,
  // rather than in the worker that loads the file later.
  topologySchema.parse(doc);
  return doc;
}

export function demoTopologyYaml(opts: DemoOptions): string {
  const { basePort, cluster } = checked(opts);
  const args = [
    ...(basePort !== DEFAULT_BASE_PORT || cluster !== defaultCluster(basePort) ? ["--base-port", String(basePort)] : []),
    ...(cluster !== defaultCluster(basePort) ? ["--cluster", cluster] : []),
  ];
  // Only the default layout is the checked-in file, so only it names that file.
  const cmd = ["node --import tsx demo/topology.ts", ...args, ...(args.length ? [] : ["> demo/topology.yaml"])].join(" ");
  const header = [
    `# The demo system (frontend -> api x3 -> db), base port ${basePort}, cluster ${cluster}.`,
    `# Generated by \`${cmd}\`; edit demo/topology.ts, not this file.`,
  ].join("\n");
  return `${header}\n${YAML.stringify(demoTopology({ basePort, cluster }))}`;
}

function main(): void {
  const { values } = parseArgs({
    options: { "base-port": { type: "string" }, cluster: { type: "string" } },
    strict: true,
  });
  const basePort = values["base-port"] === undefined ? DEFAULT_BASE_PORT : Number(values["base-port"]);
  process.stdout.write(demoTopologyYaml({ basePort, cluster: values.cluster }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
}
