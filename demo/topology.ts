// The demo system's shape in one place: which ports each node listens on and
// the topology document Game Day reads. The supervisor spawns from the same
// layout, so the checked-in topology.yaml and the running processes cannot
// drift apart. As containers the shop also has its checkout, the seed's
// order-service -> payment-service. Run as a script to print the YAML:
//   node --import tsx demo/topology.ts [--base-port 4100] [--cluster demo-4100] [--containers]
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
/** the checkout (containers only) right above db */
const ORDER_OFFSET = 11;
const PAYMENT_OFFSET = 12;

export const DEMO_NODE_IDS = ["frontend", "api", "db", "order-service", "payment-service"] as const;
export type DemoNodeId = (typeof DEMO_NODE_IDS)[number];
/** The nodes that answer by themselves (no upstream). */
export const LEAF_NODES: readonly DemoNodeId[] = ["db", "payment-service"];

/** How the demo runs: host processes (the default) or Docker containers on the host network. */
export const DEMO_MODES = ["processes", "containers"] as const;
export type DemoMode = (typeof DEMO_MODES)[number];

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

export const demoOptionsSchema = z
  .object({
    basePort: z
      .number()
      .int()
      .min(1024)
      .max(65535 - DB_OFFSET, `must leave room for db at base port + ${DB_OFFSET}`),
    cluster: clusterSchema.optional(),
    mode: z.enum(DEMO_MODES).default("processes"),
  })
  .refine((o) => o.mode !== "containers" || o.basePort <= 65535 - PAYMENT_OFFSET, {
    path: ["basePort"],
    message: `must leave room for payment-service at base port + ${PAYMENT_OFFSET}`,
  });
export type DemoOptions = z.input<typeof demoOptionsSchema>;

export function defaultCluster(basePort: number): string {
  return `demo-${basePort}`;
}

function checked(opts: DemoOptions): { basePort: number; cluster: string; mode: DemoMode } {
  const r = demoOptionsSchema.safeParse(opts);
  if (!r.success) throw new Error(`demo options:\n${formatIssues(zodIssues(r.error))}`);
  return { basePort: r.data.basePort, cluster: r.data.cluster ?? defaultCluster(r.data.basePort), mode: r.data.mode };
}

const url = (port: number, p = "") => `http://127.0.0.1:${port}${p}`;

/** Every instance of the demo system, leaf first so upstreams start before their callers. */
export function demoInstances(basePort: number, mode: DemoMode = "processes"): DemoInstance[] {
  const { basePort: p } = checked({ basePort, mode });
  const db = [p + DB_OFFSET];
  const api = Array.from({ length: API_INSTANCES }, (_, i) => p + 1 + i);
  const shop: DemoInstance[] = [
    ...db.map((port) => ({ node: "db" as const, port, upstreams: [] })),
    ...api.map((port) => ({ node: "api" as const, port, upstreams: db.map((d) => url(d)) })),
    { node: "frontend" as const, port: p, upstreams: api.map((a) => url(a)) },
  ];
  if (mode === "processes") return shop;
  return [
    ...shop,
    { node: "payment-service", port: p + PAYMENT_OFFSET, upstreams: [] },
    { node: "order-service", port: p + ORDER_OFFSET, upstreams: [url(p + PAYMENT_OFFSET)] },
  ];
}

/** Where the load generator sends traffic: the frontend, and as containers the checkout too. */
export function entryPoints(instances: DemoInstance[]): DemoInstance[] {
  return instances.filter((i) => i.node === "frontend" || i.node === "order-service");
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
  { id: "order-service", label: "Order service", kind: "service" },
  { id: "payment-service", label: "Payment service", kind: "service" },
];

/** The document as written (defaults left for the schema to fill in). */
export type TopologyDocument = z.input<typeof topologySchema>;

export function demoTopology(opts: DemoOptions): TopologyDocument {
  const { basePort, cluster, mode } = checked(opts);
  const instances = demoInstances(basePort, mode);
  const doc: TopologyDocument = {
    apiVersion: "gameday/v1",
    kind: "Topology",
    metadata: { name: "demo-shop" },
    spec: {
      nodes: NODES.filter((n) => instances.some((i) => i.node === n.id)).map((n) => ({
        id: n.id,
        label: n.label,
        // the graph shows the kind on each node: as containers, that is what they are
        kind: mode === "containers" ? "container" : n.kind,
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
        ...(mode === "containers" ? [{ from: "order-service", to: "payment-service" }] : []),
      ],
    },
  };
  // Validate what we emit so a schema change in lib/topology.ts fails here, loudly,
  // rather than in the worker that loads the file later.
  topologySchema.parse(doc);
  return doc;
}

export function demoTopologyYaml(opts: DemoOptions): string {
  const { basePort, cluster, mode } = checked(opts);
  const args = [
    ...(basePort !== DEFAULT_BASE_PORT || cluster !== defaultCluster(basePort) ? ["--base-port", String(basePort)] : []),
    ...(cluster !== defaultCluster(basePort) ? ["--cluster", cluster] : []),
    ...(mode === "containers" ? ["--containers"] : []),
  ];
  // Only the default layout is the checked-in file, so only it names that file.
  const cmd = ["node --import tsx demo/topology.ts", ...args, ...(args.length ? [] : ["> demo/topology.yaml"])].join(" ");
  const shape = mode === "containers" ? "frontend -> api x3 -> db, order-service -> payment-service; Docker containers" : "frontend -> api x3 -> db";
  const header = [
    `# The demo system (${shape}), base port ${basePort}, cluster ${cluster}.`,
    `# Generated by \`${cmd}\`; edit demo/topology.ts, not this file.`,
  ].join("\n");
  return `${header}\n${YAML.stringify(demoTopology({ basePort, cluster, mode }))}`;
}

function main(): void {
  const { values } = parseArgs({
    options: { "base-port": { type: "string" }, cluster: { type: "string" }, containers: { type: "boolean" } },
    strict: true,
  });
  const basePort = values["base-port"] === undefined ? DEFAULT_BASE_PORT : Number(values["base-port"]);
  process.stdout.write(demoTopologyYaml({ basePort, cluster: values.cluster, mode: values.containers ? "containers" : "processes" }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
}
