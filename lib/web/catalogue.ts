// The fault catalogue's rules, without React: a starting value for a JSON
// Schema, a complete experiment for a fault (its example file, or one written
// from its params' schema aimed at the node picked in the graph), and the
// rows of its parameter table.
import YAML from "yaml";
import type { FaultFamily, FaultInfo } from "@/lib/contract";

type Schema = Record<string, unknown>;

export const FAMILY_TITLES: Record<FaultFamily, string> = {
  process: "Processes",
  disk: "Disk",
  resource: "CPU and memory",
  network: "Network",
  application: "Application (proxies)",
  container: "Containers",
  cloud: "Cloud (EC2)",
  bpf: "Kernel (eBPF, syscalls)",
};

const NAME_RE = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
/** used when the worker knows no example probe: point it at the system under test */
export const FALLBACK_PROBE = { name: "up", type: "http", url: "http://127.0.0.1:8080/", tolerance: { min: 0.95 } };
export const STEP_DURATION = "30s";
/** longer enums (errno names) are cut in the parameter table */
const MAX_CHOICES = 8;

const asSchema = (v: unknown): Schema => (v && typeof v === "object" && !Array.isArray(v) ? (v as Schema) : {});
const types = (s: Schema): string[] => (Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === "string" ? [s.type] : []);

/** Follow a local $ref (#/$defs/x) against the root schema. */
function deref(s: Schema, root: Schema): Schema {
  const ref = s.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/")) return s;
  let at: unknown = root;
  for (const part of ref.slice(2).split("/")) at = asSchema(at)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  return asSchema(at);
}

function exampleNumber(s: Schema, integer: boolean): number {
  const lo = typeof s.minimum === "number" ? s.minimum : typeof s.exclusiveMinimum === "number" ? s.exclusiveMinimum + (integer ? 1 : 0) : 0;
  const hi = typeof s.maximum === "number" ? s.maximum : typeof s.exclusiveMaximum === "number" ? s.exclusiveMaximum - (integer ? 1 : 0) : Infinity;
  // 1 where allowed: a unit, a share of 1, one worker; else the lowest bound
  const v = Math.min(Math.max(1, lo), hi);
  return integer ? Math.ceil(v) : v;
}

/**
 * A value that satisfies the schema as far as JSON Schema can say: its
 * examples first, then const, enum, and the required properties only (the
 * rest have defaults or are optional). A schema that needs more (a pattern,
 * a rule between fields) carries an example.
 */
export function exampleValue(schema: unknown, root: Schema = asSchema(schema)): unknown {
  const s = deref(asSchema(schema), root);
  if (Array.isArray(s.examples) && s.examples.length) return structuredClone(s.examples[0]);
  if ("const" in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  const branches = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(branches) && branches.length) return exampleValue(branches[0], root);
  const t = types(s);
  if (t.includes("object") || (!t.length && s.properties)) {
    const out: Record<string, unknown> = {};
    const props = asSchema(s.properties);
    for (const k of Array.isArray(s.required) ? (s.required as string[]) : []) out[k] = exampleValue(props[k], root);
    return out;
  }
  if (t.includes("array")) {
    const n = typeof s.minItems === "number" ? Math.max(1, s.minItems) : 1;
    return Array.from({ length: n }, () => exampleValue(s.items, root));
  }
  if (t.includes("string")) return "example".padEnd(typeof s.minLength === "number" ? s.minLength : 0, "x");
  if (t.includes("integer")) return exampleNumber(s, true);
  if (t.includes("number")) return exampleNumber(s, false);
  if (t.includes("boolean")) return false;
  return null;
}

/** The target spec of a fault's kind, aimed at a topology node when the kind can select by one. */
export function targetSpec(fault: FaultInfo, node?: string | null): Record<string, unknown> {
  const path = fault.target.nodePath;
  if (!node || !path?.length) return structuredClone(fault.target.example);
  const spec: Record<string, unknown> = {};
  let at = spec;
  for (const key of path.slice(0, -1)) at = (at[key] = {}) as Record<string, unknown>;
  at[path[path.length - 1]] = node;
  return spec;
}

export interface GenerateOptions {
  /** a topology node picked in the graph */
  node?: string | null;
  /** the steady-state probe (the worker's catalogue offers one from its examples) */
  probe?: Record<string, unknown> | null;
}

/** A complete experiment for one fault written from its schema, with comments on what to edit. */
export function generatedExperiment(fault: FaultInfo, o: GenerateOptions = {}): string {
  const node = fault.target.nodePath ? (o.node ?? null) : null;
  const targetName = node && NAME_RE.test(node) ? node : "target";
  const params = exampleValue(fault.params) as Record<string, unknown>;
  const step: Record<string, unknown> = { fault: fault.name, target: targetName };
  if (Object.keys(params).length) step.params = params;
  step.duration = STEP_DURATION;
  const doc = new YAML.Document({
    apiVersion: "gameday/v1",
    kind: "Experiment",
    metadata: { name: `try-${fault.name}`, description: fault.description },
    spec: {
      hypothesis: `The steady state holds while ${fault.name} acts on ${node ? `node ${node}` : `the ${fault.target.title}`}.`,
      targets: { [targetName]: { ...targetSpec(fault, node), mode: "one" } },
      steadyState: { probes: [o.probe ?? FALLBACK_PROBE] },
      method: [step],
      rollback: "always",
    },
  });
  doc.commentBefore = ` Written from the fault catalogue for ${fault.name} (${fault.family}).\n Check the target, the probe and the params, then Validate to see what a run would hit.`;
  const targets = doc.getIn(["spec", "targets", targetName], true) as YAML.Node | undefined;
  if (targets && !node) targets.commentBefore = ` the ${fault.target.title} to hit (selected by ${fault.target.selectors.join(" or ")}): put your own here`;
  if (!o.probe) (doc.getIn(["spec", "steadyState"], true) as YAML.Node).commentBefore = " point the probe at the system under test";
  const p = doc.getIn(["spec", "method", 0, "params"], true);
  const props = asSchema(fault.params.properties);
  if (YAML.isMap(p))
    for (const pair of p.items) {
      const key = String(YAML.isScalar(pair.key) ? pair.key.value : pair.key);
      if ("const" in asSchema(props[key]) && YAML.isScalar(pair.key)) pair.key.commentBefore = ` ${key} must be ${JSON.stringify(props[key] && asSchema(props[key]).const)}: read what the fault does before you launch it`;
    }
  return doc.toString({ lineWidth: 0 });
}

/** The experiment written from the schema, and where it came from in words. */
export function writtenExperiment(fault: FaultInfo, o: GenerateOptions = {}): { yaml: string; source: string } {
  return { yaml: generatedExperiment(fault, o), source: o.node && fault.target.nodePath ? `written from the schema for node ${o.node}` : "written from the schema" };
}

/** What "Use" puts into the launch panel: the fault's example file when there is one, else an experiment written from its schema. */
export function experimentFor(fault: FaultInfo, o: GenerateOptions = {}): { yaml: string; source: string } {
  return fault.example ? { yaml: fault.example.yaml, source: `examples/${fault.example.file}` } : writtenExperiment(fault, o);
}

export interface ParamRow {
  /** dotted path, e.g. rules[].answer */
  name: string;
  depth: number;
  type: string;
  required: boolean;
  /** as the file would say it */
  default?: string;
  unit?: string;
  /** bounds, choices, pattern, description: what JSON Schema says beyond the type */
  notes: string[];
}

function typeText(s: Schema, root: Schema): string {
  s = deref(s, root);
  if ("const" in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.length > MAX_CHOICES ? `${s.enum.slice(0, MAX_CHOICES).join(" | ")} | … (${s.enum.length} in all)` : s.enum.map((v) => String(v)).join(" | ");
  const branches = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(branches)) return branches.map((b) => typeText(asSchema(b), root)).join(" or ");
  const t = types(s);
  if (t.includes("array")) return `list of ${typeText(asSchema(s.items), root)}`;
  if (t.includes("object") && !s.properties && s.additionalProperties !== false) return "map";
  return t.join(" or ") || "any";
}

function notesOf(s: Schema): string[] {
  const n: string[] = [];
  const lo = typeof s.minimum === "number" ? `≥ ${s.minimum}` : typeof s.exclusiveMinimum === "number" ? `> ${s.exclusiveMinimum}` : "";
  const hi = typeof s.maximum === "number" && s.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${s.maximum}` : typeof s.exclusiveMaximum === "number" ? `< ${s.exclusiveMaximum}` : "";
  if (lo || hi) n.push([lo, hi].filter(Boolean).join(", "));
  if (typeof s.minItems === "number" || typeof s.maxItems === "number") n.push(`${s.minItems ?? 0} to ${s.maxItems ?? "any number of"} items`);
  if (typeof s.pattern === "string") n.push(`matches ${s.pattern}`);
  if (typeof s.description === "string") n.push(s.description);
  return n;
}

/** The params of a fault as table rows: one per property, nested objects (and lists of them) indented below. */
export function paramRows(schema: Record<string, unknown>, root: Schema = schema, prefix = "", depth = 0): ParamRow[] {
  const s = deref(schema, root);
  const props = asSchema(s.properties);
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const rows: ParamRow[] = [];
  for (const [key, raw] of Object.entries(props)) {
    const p = deref(asSchema(raw), root);
    const name = prefix + key;
    const branches = (p.anyOf ?? p.oneOf) as unknown[] | undefined;
    const itemOf = (x: Schema) => deref(asSchema(x.items), root);
    const unitOf = (x: Schema) => (typeof x.unit === "string" ? x.unit : Array.isArray(branches) ? (branches.map((b) => asSchema(b).unit).find((u) => typeof u === "string") as string | undefined) : undefined);
    rows.push({
      name,
      depth,
      type: typeText(p, root),
      required: required.has(key) && p.default === undefined,
      ...(p.default !== undefined ? { default: typeof p.default === "string" ? p.default : JSON.stringify(p.default) } : {}),
      ...(unitOf(p) ? { unit: unitOf(p) } : {}),
      notes: notesOf(p),
    });
    if (depth < 2 && p.properties) rows.push(...paramRows(p, root, `${name}.`, depth + 1));
    else if (depth < 2 && itemOf(p).properties) rows.push(...paramRows(itemOf(p), root, `${name}[].`, depth + 1));
  }
  return rows;
}
