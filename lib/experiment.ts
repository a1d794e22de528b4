// The experiment file (apiVersion gameday/v1, kind Experiment): one zod schema
// used by the worker, the CLI and the API, and published as JSON Schema.
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import YAML from "yaml";
import { duration, DURATION_HINT, formatDuration } from "./duration";
import { formatSize } from "./size";
import { issuePath, zodIssues } from "./issues";
import { processSelectorSchema, regexString, type Topology } from "./topology";
import type { ValidationIssue } from "./contract";
import { faultEntry, faultNames, targetKindOf as catalogueKindOf } from "./catalog";

const nameRe = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const NAME_HINT = "lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit, at most 64 characters";

const MAX_FAULT_MS = 24 * 3_600_000;

/**
 * Fault names of the design's catalogue that this build does not implement
 * yet. Only used to say "not yet" instead of "unknown"; nothing can run them.
 */
const NOT_YET_BUILT = new Set(
  "disk-fill io-stress cpu-stress memory-stress cpu-limit latency packet-loss bandwidth partition dns proxy-toxic http-fault container-pause container-kill container-stop container-restart container-limit ec2-terminate ec2-stop az-outage sg-isolate connect-error packet-drop syscall-error".split(" "),
);

/** IPv4, or IPv6 (which the redirecting faults take: latency's proxy, proxy-toxic, http-fault, dns; the others refuse it naming the field) */
const ipCidr = z.string().refine(
  (v) => {
    const [ip, prefix, ...rest] = v.split("/");
    const max = isIPv4(ip) ? 32 : isIPv6(ip) ? 128 : -1;
    return rest.length === 0 && max > 0 && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max));
  },
  { message: "expected an IPv4 or IPv6 address or CIDR like 10.0.0.2, 10.0.0.0/24 or ::1" },
);
const port = z.number({ error: "expected a port number 1-65535" }).int({ error: "expected a port number 1-65535" }).min(1, { error: "expected a port number 1-65535" }).max(65535, { error: "expected a port number 1-65535" });

/** A cgroup v2 folder, relative to the v2 root (as iptables' cgroup match takes it). */
const CGROUP_HINT = "expected a cgroup v2 path relative to the v2 root, like system.slice/nginx.service or gameday-xyz";
const cgroupPath = z
  .string({ error: CGROUP_HINT })
  // at most 140: the path goes into a rule comment, which iptables caps at 256
  .max(140, { error: "expected a cgroup path of at most 140 characters" })
  .regex(/^[\w@:+-][\w.@:+-]*(\/[\w@:+-][\w.@:+-]*)*$/, CGROUP_HINT);

/** Where a container fault talks to Docker (as DOCKER_HOST takes it). */
const dockerEngine = z.string().regex(/^(unix:\/\/\/.+|tcp:\/\/[^/\s]+:\d{1,5}\/?)$/, "expected unix:///path/to/docker.sock or tcp://HOST:PORT");

/** Which containers a container fault acts on (running or paused ones); every given field must match. */
export const containerSelectorSchema = z
  .object({
    /** container IDs (12 to 64 hex digits, a prefix of the full ID) */
    ids: z.array(z.string().regex(/^[0-9a-f]{12,64}$/, "expected a container ID: 12 to 64 hex digits")).min(1).optional(),
    /** regular expression on the container name (without the leading /) */
    name: regexString.optional(),
    /** image reference as given to docker run (a name without a tag matches every tag), or an image ID */
    image: z.string().min(1).optional(),
    /** labels the container carries, with these exact values */
    labels: z.record(z.string().min(1), z.string()).optional(),
    /** Compose service (label com.docker.compose.service) */
    service: z.string().min(1).optional(),
    /** Compose project (label com.docker.compose.project) */
    project: z.string().min(1).optional(),
    /** a topology node: the containers its processes run in */
    node: z.string().min(1).optional(),
    /** the Docker engine; default DOCKER_HOST */
    engine: dockerEngine.optional(),
  })
  .strict()
  .refine((c) => c.ids || c.name || c.image || c.labels || c.service || c.project || c.node, {
    message: "give at least one of ids, name, image, labels, service, project or node",
  });
export type ContainerSelector = z.infer<typeof containerSelectorSchema>;

/** Which packets a network fault touches; every given field must match. */
export const networkSelectorSchema = z
  .object({
    /** traffic to a topology node's processes: one target per TCP address and port they listen on */
    node: z.string().min(1).optional(),
    /** traffic to these processes: one target per TCP address and port they listen on */
    process: processSelectorSchema.optional(),
    /**
     * traffic sent by a topology node's processes (or a process selector's):
     * one target per network namespace and cgroup v2 folder they run in
     * (e.g. their DNS queries: `from: { node: api }, dstPort: 53`)
     */
    from: z
      .object({ node: z.string().min(1).optional(), process: processSelectorSchema.optional() })
      .strict()
      .refine((f) => (f.node === undefined) !== (f.process === undefined), { message: "give node or process" })
      .optional(),
    /**
     * the traffic of these containers, inside each one's network namespace
     * (or, for a container on the host's network, what its cgroup sends)
     */
    container: containerSelectorSchema.optional(),
    /**
     * with container: the traffic to these containers, one target per
     * address and TCP port they listen on (per address when protocol is not
     * tcp); direction both adds their traffic back to the first group
     */
    to: z.object({ container: containerSelectorSchema }).strict().optional(),
    /** only traffic sent by processes in this cgroup v2 folder (or below it); path relative to the v2 root */
    cgroup: cgroupPath.optional(),
    /** `ip netns` name; default: the worker's own namespace */
    netns: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, "expected a network namespace name").optional(),
    /** network device for tc; default: the route's device towards dst, else lo */
    interface: z.string().regex(/^[a-zA-Z0-9_.@-]{1,15}$/, "expected an interface name like eth0").optional(),
    direction: z.enum(["egress", "ingress", "both"], { error: "expected egress, ingress or both" }).default("egress"),
    protocol: z.enum(["tcp", "udp", "icmp", "all"], { error: "expected tcp, udp, icmp or all" }).default("tcp"),
    dst: ipCidr.optional(),
    src: ipCidr.optional(),
    dstPort: port.optional(),
    srcPort: port.optional(),
  })
  .strict()
  .superRefine((n, ctx) => {
    if (!(n.dst || n.src || n.dstPort || n.srcPort || n.interface || n.node || n.process || n.cgroup || n.from || n.container))
      ctx.addIssue({ code: "custom", message: "narrow the traffic: give at least one of dst, src, dstPort, srcPort, interface, node, process, from, cgroup or container" });
    if (n.container)
      for (const k of ["node", "process", "from", "cgroup", "netns"] as const)
        if (n[k] !== undefined) ctx.addIssue({ code: "custom", path: [k], message: `container selects the containers' own namespace (or cgroup): give it without ${k}` });
    if (n.to) {
      if (!n.container) ctx.addIssue({ code: "custom", path: ["to"], message: "to needs container (the group whose traffic goes to them)" });
      if (n.dst !== undefined) ctx.addIssue({ code: "custom", path: ["dst"], message: "to gives the destinations (the containers' addresses): give it without dst" });
    }
    if (n.from) {
      for (const k of ["node", "process", "cgroup", "netns"] as const)
        if (n[k] !== undefined) ctx.addIssue({ code: "custom", path: [k], message: `from selects the senders' own namespace and cgroup: give it without ${k}` });
      if (n.direction !== "egress") ctx.addIssue({ code: "custom", path: ["direction"], message: `from selects the traffic its processes send: direction must be egress (got ${n.direction})` });
    }
    if (n.node && n.process) ctx.addIssue({ code: "custom", path: ["process"], message: "give node or process, not both" });
    if ((n.node || n.process) && n.protocol !== "tcp")
      ctx.addIssue({ code: "custom", path: ["protocol"], message: `node and process select the TCP ports the processes listen on: protocol must be tcp (got ${n.protocol})` });
    // xt_cgroup knows the sending socket on the way out only (INPUT matches just early-demuxed packets)
    if (n.cgroup && n.direction !== "egress")
      ctx.addIssue({ code: "custom", path: ["direction"], message: `cgroup selects the traffic its processes send: direction must be egress (got ${n.direction})` });
  });
export type NetworkSelector = z.infer<typeof networkSelectorSchema>;


const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "expected an AWS region like eu-west-1");

/** Which EC2 instances a cloud fault acts on (running ones); every given field must match. */
export const instanceSelectorSchema = z
  .object({
    ids: z.array(z.string().regex(/^i-[0-9a-f]{8,17}$/, "expected an instance ID like i-0abc12345def67890")).min(1).optional(),
    /** tags with these exact values */
    tags: z.record(z.string().min(1), z.string()).optional(),
    /** Auto Scaling group (tag aws:autoscaling:groupName) */
    asg: z.string().min(1).optional(),
    /** availability zone, e.g. eu-west-1a */
    az: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, "expected an availability zone like eu-west-1a").optional(),
    /** default: the AWS SDK's chain (AWS_REGION, the profile) */
    region: awsRegion.optional(),
    /** the AWS account the experiment is meant for: instances of any other (credentials of the wrong profile) refuse it */
    account: z.string().regex(/^\d{12}$/, "expected a 12-digit AWS account ID like 123456789012").optional(),
    /** an EC2-compatible endpoint; default AWS's own (or GAMEDAY_EC2_ENDPOINT) */
    endpoint: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).optional(),
  })
  .strict()
  .refine((c) => c.ids || c.tags || c.asg || c.az, { message: "give at least one of ids, tags, asg or az" });
export type InstanceSelector = z.infer<typeof instanceSelectorSchema>;

export const targetSchema = z
  .object({
    /** a node of the topology file */
    node: z.string().min(1).optional(),
    process: processSelectorSchema.optional(),
    /** a directory: disk faults act on its filesystem and write only below it */
    path: z.string().startsWith("/", "expected an absolute path").optional(),
    /** a slice of network traffic (network faults) */
    network: networkSelectorSchema.optional(),
    /** the worker's own host (resource pressure) */
    host: z.literal("local", { error: 'expected "local" (the host the worker runs on)' }).optional(),
    /** Docker containers (container faults) */
    container: containerSelectorSchema.optional(),
    /** EC2 instances (cloud faults) */
    instance: instanceSelectorSchema.optional(),
    /** blast radius: how many of the matched targets are hit */
    mode: z.enum(["all", "one", "count", "percent"], { error: "expected one of all, one, count, percent" }).default("all"),
    /** count: how many (≥ 1); percent: share of the matched targets, 0 < value ≤ 100 */
    value: z.number().positive({ error: "must be greater than 0" }).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ([t.node, t.process, t.path, t.host, t.network, t.container, t.instance].filter((x) => x !== undefined).length !== 1)
      ctx.addIssue({ code: "custom", message: "give exactly one selector: node, process, path, host, network, container or instance" });
    if (t.mode === "count" && (t.value === undefined || !Number.isInteger(t.value)))
      ctx.addIssue({ code: "custom", path: ["value"], message: "mode count needs an integer value ≥ 1" });
    if (t.mode === "percent" && (t.value === undefined || t.value > 100))
      ctx.addIssue({ code: "custom", path: ["value"], message: "mode percent needs a value between 0 (exclusive) and 100" });
    if ((t.mode === "all" || t.mode === "one") && t.value !== undefined)
      ctx.addIssue({ code: "custom", path: ["value"], message: `mode ${t.mode} takes no value` });
  });
export type TargetSpec = z.infer<typeof targetSchema>;

/** What kind of concrete target a selector resolves to (as the target kinds registered in lib/catalog say). */
export function targetKindOf(spec: { node?: unknown; process?: unknown; path?: unknown; host?: unknown; network?: unknown; container?: unknown; instance?: unknown }): string | null {
  return catalogueKindOf(spec);
}

/**
 * Where a probe's value must stay. `min`/`max` (inclusive, a range when both
 * are given) or the comparators `gt`, `gte`, `lt`, `lte`, `eq`; normalised to
 * one min/max pair with exclusive flags, so the monitor and the charts read
 * one shape. A value that is not a finite number (NaN, ±Inf) is always outside.
 */
export const toleranceSchema = z
  .object({
    min: z.number().optional(),
    max: z.number().optional(),
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
    eq: z.number().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const lower = (["min", "gt", "gte"] as const).filter((k) => t[k] !== undefined);
    const upper = (["max", "lt", "lte"] as const).filter((k) => t[k] !== undefined);
    if (t.eq === undefined && !lower.length && !upper.length) ctx.addIssue({ code: "custom", message: "give min, max or both (or one of gt, gte, lt, lte, eq)" });
    if (lower.length > 1) ctx.addIssue({ code: "custom", message: `give one lower bound, not ${lower.join(" and ")}` });
    if (upper.length > 1) ctx.addIssue({ code: "custom", message: `give one upper bound, not ${upper.join(" and ")}` });
    if (t.eq !== undefined && (lower.length || upper.length)) ctx.addIssue({ code: "custom", path: ["eq"], message: "eq takes no other bound" });
  })
  .transform((t) => {
    const out: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean } = {};
    if (t.eq !== undefined) return { min: t.eq, max: t.eq };
    if (t.gt !== undefined) Object.assign(out, { min: t.gt, minExclusive: true });
    else if ((t.min ?? t.gte) !== undefined) out.min = t.min ?? t.gte;
    if (t.lt !== undefined) Object.assign(out, { max: t.lt, maxExclusive: true });
    else if ((t.max ?? t.lte) !== undefined) out.max = t.max ?? t.lte;
    return out;
  })
  .refine((t) => t.min === undefined || t.max === undefined || t.min < t.max || (t.min === t.max && !t.minExclusive && !t.maxExclusive), {
    message: "min must not exceed max",
  });

const MISSING_POLICIES = ["abort", "ignore", "hold"] as const;
const probeBase = {
  name: z.string().regex(nameRe, NAME_HINT),
  /** how long the SLI may stay outside its tolerance before it counts as a breach */
  for: duration({ max: 3_600_000 }).default(0),
  tolerance: toleranceSchema,
  /**
   * no data for longer than missingGrace (the endpoint stops answering, the
   * query has no series): abort the run (default), ignore it (the probe
   * counts as holding), or hold the last value and its verdict
   */
  onMissing: z.enum(MISSING_POLICIES, { error: `expected one of ${MISSING_POLICIES.join(", ")}` }).default("abort"),
  /** default: 3 intervals, at least 2s */
  missingGrace: duration({ min: 0, max: 3_600_000 }).optional(),
};

export const HTTP_MEASURES = ["successRate", "p95LatencyMs", "meanLatencyMs"] as const;

export const httpProbeSchema = z
  .object({
    ...probeBase,
    type: z.literal("http"),
    url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }),
    method: z.enum(["GET", "HEAD"]).default("GET"),
    /** status codes that count as success; default any 2xx or 3xx */
    expectStatus: z.union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)]).optional(),
    timeout: duration({ min: 10, max: 60_000 }).default(1000),
    interval: duration({ min: 50, max: 60_000 }).default(250),
    window: duration({ min: 100, max: 3_600_000 }).default(5000),
    measure: z.enum(HTTP_MEASURES, { error: `expected one of ${HTTP_MEASURES.join(", ")}` }).default("successRate"),
  })
  .strict();

export const metricsProbeSchema = z
  .object({
    ...probeBase,
    type: z.literal("metrics"),
    url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }),
    timeout: duration({ min: 10, max: 60_000 }).default(1000),
    interval: duration({ min: 100, max: 60_000 }).default(500),
    window: duration({ min: 500, max: 3_600_000 }).default(10_000),
    query: z
      .object({
        /** a counter (the _total series) */
        metric: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, "expected a Prometheus metric name"),
        /** label regexes (fully anchored, like PromQL =~) selecting the series */
        match: z.record(z.string(), regexString).default({}),
        /** when given: the measure is increase(series also matching these) / increase(all selected series) */
        ratioOf: z.record(z.string(), regexString).optional(),
      })
      .strict(),
  })
  .strict();

const promDuration = z.string().regex(/^\d+(ms|s|m|h|d|w|y)$/, "expected a PromQL duration like 30d, 12h or 5m");
const PROM_AGGREGATES = ["all", "min", "max", "avg", "sum"] as const;

/** A counter selector good/total pair: the SLO's budget is what the window allows to go bad. */
export const sloSchema = z
  .object({
    /** the share of good events promised, 0 < objective < 1 (0.995 is 99.5 %) */
    objective: z.number().gt(0, { error: "expected a share between 0 and 1 like 0.995" }).lt(1, { error: "expected a share between 0 and 1 like 0.995" }),
    /** the SLO's window as PromQL says it (30d) */
    window: promDuration,
    /** a counter selector of the good events, e.g. demo_http_requests_total{code=~"2.."}: Game Day takes sum(increase(good[window])) */
    good: z.string().min(1, "give the PromQL of the good events' counter"),
    /** a counter selector of every event */
    total: z.string().min(1, "give the PromQL of every event's counter"),
    /** refuse a run when less than this share of the budget is left (0..1; default 0: only an exhausted budget refuses) */
    minBudgetLeft: z.number().min(0, { error: "expected a share between 0 and 1" }).max(1, { error: "expected a share between 0 and 1" }).default(0),
  })
  .strict();

export const prometheusProbeSchema = z
  .object({
    ...probeBase,
    type: z.literal("prometheus"),
    /** the Prometheus server (its HTTP API is under /api/v1) */
    url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }),
    /** a PromQL instant query; an instant vector or a scalar */
    query: z.string().min(1, "give a PromQL query"),
    /** several series: judge min, max, avg or sum of them, or every one (all, the default) */
    aggregate: z.enum(PROM_AGGREGATES, { error: `expected one of ${PROM_AGGREGATES.join(", ")}` }).default("all"),
    timeout: duration({ min: 10, max: 60_000 }).default(2000),
    interval: duration({ min: 100, max: 3_600_000 }).default(1000),
    auth: z
      .union([
        z.object({ basic: z.object({ username: z.string().min(1), password: z.string().optional(), passwordFile: z.string().startsWith("/", "expected an absolute path").optional() }).strict() }).strict(),
        z.object({ bearer: z.object({ token: z.string().min(1).optional(), tokenFile: z.string().startsWith("/", "expected an absolute path").optional() }).strict() }).strict(),
      ], { error: "expected { basic: { username, password | passwordFile } } or { bearer: { token | tokenFile } }" })
      .optional(),
    tls: z.object({ caFile: z.string().startsWith("/", "expected an absolute path") }).strict().optional(),
    slo: sloSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const b = p.auth && "basic" in p.auth ? p.auth.basic : null;
    if (b && (b.password === undefined) === (b.passwordFile === undefined)) ctx.addIssue({ code: "custom", path: ["auth", "basic"], message: "give password or passwordFile" });
    const t = p.auth && "bearer" in p.auth ? p.auth.bearer : null;
    if (t && (t.token === undefined) === (t.tokenFile === undefined)) ctx.addIssue({ code: "custom", path: ["auth", "bearer"], message: "give token or tokenFile" });
  });

export const probeSchema = z.discriminatedUnion("type", [httpProbeSchema, metricsProbeSchema, prometheusProbeSchema], {
  error: "expected probe type http, metrics or prometheus",
});
export type ProbeSpec = z.infer<typeof probeSchema>;
export type HttpProbeSpec = z.infer<typeof httpProbeSchema>;
export type MetricsProbeSpec = z.infer<typeof metricsProbeSchema>;
export type PrometheusProbeSpec = z.infer<typeof prometheusProbeSchema>;
export type SloSpec = z.infer<typeof sloSchema>;

/** How long a probe may give no data before its onMissing policy applies. */
export function missingGraceMs(p: ProbeSpec): number {
  return p.missingGrace ?? Math.max(3 * p.interval, 2000);
}

const methodStepFields = z
  .object({
    name: z.string().optional(),
    fault: z.string().min(1, "name a fault"),
    target: z.string().min(1, "name one of spec.targets"),
    params: z.record(z.string(), z.unknown()).default({}),
    duration: duration({ min: 1, max: MAX_FAULT_MS }),
    startAfter: duration({ max: MAX_FAULT_MS }).default(0),
    /** chance 0..1 that each target chosen by the blast radius is hit (a seeded dice roll per target) */
    probability: z
      .number({ error: "expected a probability between 0 and 1" })
      .min(0, { error: "probability must be between 0 and 1" })
      .max(1, { error: "probability must be between 0 and 1" })
      .default(1),
    /**
     * repeat the step in rounds during its duration (the Process Sniper's
     * schedule): each round re-resolves the targets, applies the blast radius
     * and the probability again, and reverts its changes when the round ends
     */
    every: duration({ min: 100, max: MAX_FAULT_MS }).optional(),
    /** each round lasts every ± up to jitter, uniformly */
    jitter: duration({ max: MAX_FAULT_MS }).optional(),
    /** with every: how long each round's changes stay in place (default: the whole round), e.g. paused 10 s of every 30 s */
    hold: duration({ min: 100, max: MAX_FAULT_MS }).optional(),
    /**
     * fleet safety valve: never more than this many (a whole number) or this
     * share ("50%") of the target's instances (the largest number seen)
     * down or affected at once; targets beyond it are spared and reported
     */
    maxDown: z
      .union([
        z.number({ error: 'expected a whole number ≥ 1 or a percentage like "50%"' }).int({ error: "expected a whole number ≥ 1" }).min(1, { error: "expected a whole number ≥ 1" }),
        z
          .string({ error: 'expected a whole number ≥ 1 or a percentage like "50%"' })
          .regex(/^\d+(\.\d+)?%$/, 'expected a percentage like "50%"')
          .refine((v) => Number(v.slice(0, -1)) > 0 && Number(v.slice(0, -1)) <= 100, { message: "must be more than 0% and at most 100%" }),
      ])
      .optional(),
  })
  .strict();

export const methodStepSchema = methodStepFields.superRefine((s, ctx) => {
  if (s.jitter !== undefined && s.every === undefined) ctx.addIssue({ code: "custom", path: ["jitter"], message: "jitter needs every" });
  if (s.jitter !== undefined && s.every !== undefined && s.jitter >= s.every)
    ctx.addIssue({ code: "custom", path: ["jitter"], message: "must be shorter than every" });
  if (s.every !== undefined && s.every > s.duration) ctx.addIssue({ code: "custom", path: ["every"], message: "must not exceed the step's duration" });
  if (s.hold !== undefined && s.every === undefined) ctx.addIssue({ code: "custom", path: ["hold"], message: "hold needs every (without rounds the change stays for the step's duration)" });
  if (s.hold !== undefined && s.hold > s.duration) ctx.addIssue({ code: "custom", path: ["hold"], message: "must not exceed the step's duration" });
});

const share = z
  .string({ error: 'expected a percentage like "50%"' })
  .regex(/^\d+(\.\d+)?%$/, 'expected a percentage like "50%"')
  .refine((v) => Number(v.slice(0, -1)) > 0 && Number(v.slice(0, -1)) <= 100, { message: "must be more than 0% and at most 100%" });
const atLeastOne = (what: string) =>
  z.number({ error: `expected a whole number ≥ 1 (${what})` }).int({ error: "expected a whole number ≥ 1" }).min(1, { error: "expected a whole number ≥ 1" }).max(100_000, { error: "must be at most 100000" });

export const SAFETY_DEFAULTS = { maxPerTarget: 10, maxSharePerTarget: "100%", maxTotal: 20, maxTotalShare: "100%" } as const;

/**
 * The experiment's own blast-radius guard. The defaults are safe: a few
 * targets at most, no selector matching most of the host, the control
 * plane's traffic (SSH, the worker's and web app's ports) never cut.
 */
export const safetySchema = z
  .object({
    /** at most this many instances of one target affected at once (each step's maxDown, when given, may only be lower) */
    maxPerTarget: atLeastOne("instances of one target").default(SAFETY_DEFAULTS.maxPerTarget),
    /** at most this share of one target's instances (the largest number seen) affected at once; at least one is always allowed */
    maxSharePerTarget: share.default(SAFETY_DEFAULTS.maxSharePerTarget),
    /** at most this many changes of the whole experiment in place at once */
    maxTotal: atLeastOne("changes of the experiment").default(SAFETY_DEFAULTS.maxTotal),
    /** at most this share of all the experiment's matched instances affected at once; at least one is always allowed */
    maxTotalShare: share.default(SAFETY_DEFAULTS.maxTotalShare),
    /** allow selectors that match most of the host (more than half of its processes, every address, root's every process); needs reason */
    allowBroad: z.boolean({ error: "expected true or false" }).default(false),
    /** allow network faults on the control plane's traffic (SSH port 22, the worker's and web app's ports); needs reason */
    allowControlPlane: z.boolean({ error: "expected true or false" }).default(false),
    /** why a guard is lifted; recorded with the run */
    reason: z.string().min(10, { error: "say why in at least 10 characters" }).max(500, { error: "at most 500 characters" }).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    for (const k of ["allowBroad", "allowControlPlane"] as const)
      if (s[k] && !s.reason) ctx.addIssue({ code: "custom", path: ["reason"], message: `${k}: true needs a reason (why this experiment may hit that much)` });
  });
export type Safety = z.infer<typeof safetySchema>;

/** "50%" → 50 */
export const percentOf = (v: string) => Number(v.replace(/%$/, ""));

export const ROLLBACK_POLICIES = ["always", "never", "deviated"] as const;

export const experimentSchema = z
  .object({
    apiVersion: z.literal("gameday/v1", { error: 'expected "gameday/v1"' }),
    kind: z.literal("Experiment", { error: 'expected "Experiment"' }),
    metadata: z
      .object({
        name: z.string().regex(nameRe, NAME_HINT),
        description: z.string().optional(),
        labels: z.record(z.string(), z.string()).optional(),
      })
      .strict(),
    spec: z
      .object({
        hypothesis: z.string().min(1, "state the hypothesis being tested"),
        targets: z.record(z.string().regex(nameRe, NAME_HINT), targetSchema).refine((t) => Object.keys(t).length > 0, {
          message: "define at least one target",
        }),
        steadyState: z.object({ probes: z.array(probeSchema).min(1, "define at least one probe") }).strict(),
        method: z.array(methodStepSchema).min(1, "define at least one fault step"),
        abort: z
          .object({
            onViolation: z.boolean().default(true),
            maxDuration: duration({ min: 1000, max: 7 * 24 * 3_600_000 }).optional(),
          })
          .strict()
          .default({ onViolation: true }),
        rollback: z.enum(ROLLBACK_POLICIES, { error: `expected one of ${ROLLBACK_POLICIES.join(", ")}` }).default("always"),
        safety: safetySchema.default(() => safetySchema.parse({})),
      })
      .strict(),
  })
  .superRefine((exp, ctx) => {
    const names = new Set<string>();
    exp.spec.steadyState.probes.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: "custom", path: ["spec", "steadyState", "probes", i, "name"], message: `duplicate probe name "${p.name}"` });
      names.add(p.name);
    });
    exp.spec.method.forEach((step, i) => {
      for (const issue of stepIssues(step, i, exp.spec.targets)) ctx.addIssue({ code: "custom", ...issue.zod });
      const parsed = faultEntry(step.fault)?.params.safeParse(step.params);
      if (parsed?.success) step.params = parsed.data as Record<string, unknown>;
    });
    const maxDuration = exp.spec.abort.maxDuration;
    if (maxDuration !== undefined) {
      const end = Math.max(...exp.spec.method.map((s) => s.startAfter + s.duration));
      if (end > maxDuration)
        ctx.addIssue({
          code: "custom",
          path: ["spec", "abort", "maxDuration"],
          message: `the method runs for ${end} ms, longer than maxDuration (${maxDuration} ms)`,
        });
    }
  });
export type Experiment = z.infer<typeof experimentSchema>;

/**
 * Cross-field checks of one method step: its target exists, its fault exists,
 * its params fit that fault. Works on raw input too, so a file with other
 * errors still gets these reported (zod skips refinements after a failure).
 */
function stepIssues(step: unknown, i: number, targets: Record<string, unknown> | null): { zod: { path: PropertyKey[]; message: string } }[] {
  const out: { zod: { path: PropertyKey[]; message: string } }[] = [];
  if (!step || typeof step !== "object") return out;
  const s = step as { fault?: unknown; target?: unknown; params?: unknown };
  const at = ["spec", "method", i];
  const targetNames = targets ? Object.keys(targets) : null;
  if (targetNames && typeof s.target === "string" && s.target && !targetNames.includes(s.target)) {
    out.push({ zod: { path: [...at, "target"], message: `unknown target "${s.target}"; defined: ${targetNames.join(", ") || "none"}` } });
  }
  if (typeof s.fault !== "string" || !s.fault) return out;
  const injector = faultEntry(s.fault);
  if (!injector) {
    const why = NOT_YET_BUILT.has(s.fault) ? "is not in this build yet" : "is unknown";
    out.push({ zod: { path: [...at, "fault"], message: `unknown fault "${s.fault}": it ${why}; available: ${faultNames().join(", ")}` } });
    return out;
  }
  const spec = targets && typeof s.target === "string" ? targets[s.target] : undefined;
  const kind = spec && typeof spec === "object" ? targetKindOf(spec) : null;
  if (kind && kind !== injector.targetKind) {
    out.push({ zod: { path: [...at, "target"], message: `${injector.name} acts on a ${injector.targetKind} target; "${s.target}" selects a ${kind}` } });
  }
  const r = injector.params.safeParse(s.params ?? {});
  if (!r.success) for (const issue of r.error.issues) out.push({ zod: { path: [...at, "params", ...issue.path], message: issue.message } });
  return out;
}

function rawStepIssues(doc: unknown): ValidationIssue[] {
  const spec = (doc as { spec?: { method?: unknown; targets?: unknown } }).spec;
  if (!spec || !Array.isArray(spec.method)) return [];
  const targets = spec.targets && typeof spec.targets === "object" ? (spec.targets as Record<string, unknown>) : null;
  return spec.method.flatMap((step, i) =>
    stepIssues(step, i, targets).map((x) => ({ path: issuePath(x.zod.path), message: x.zod.message })),
  );
}
export type MethodStep = Experiment["spec"]["method"][number];

/** Grace after the last fault ends before max-duration applies when none is given. */
export const DEFAULT_MAX_DURATION_GRACE_MS = 60_000;

export function effectiveMaxDuration(exp: Experiment): number {
  return exp.spec.abort.maxDuration ?? Math.max(...exp.spec.method.map((s) => s.startAfter + s.duration)) + DEFAULT_MAX_DURATION_GRACE_MS;
}

export type ParseResult = { ok: true; experiment: Experiment } | { ok: false; issues: ValidationIssue[] };

/** Parse and validate experiment YAML; every problem is reported with its field path. */
export function parseExperiment(text: string, topology?: Topology): ParseResult {
  let doc: unknown;
  try {
    const parsed = YAML.parseDocument(text, { prettyErrors: true });
    if (parsed.errors.length) return { ok: false, issues: parsed.errors.map((e) => ({ path: "", message: `invalid YAML: ${e.message}` })) };
    doc = parsed.toJS();
  } catch (e) {
    return { ok: false, issues: [{ path: "", message: `invalid YAML: ${(e as Error).message}` }] };
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return { ok: false, issues: [{ path: "", message: "expected a YAML mapping with apiVersion, kind, metadata and spec" }] };
  }
  const r = experimentSchema.safeParse(doc);
  if (!r.success) {
    const issues = zodIssues(r.error);
    const seen = new Set(issues.map((i) => `${i.path}\n${i.message}`));
    for (const i of rawStepIssues(doc)) if (!seen.has(`${i.path}\n${i.message}`)) issues.push(i);
    return { ok: false, issues };
  }
  if (topology) {
    const ids = new Set(topology.spec.nodes.map((n) => n.id));
    const issues: ValidationIssue[] = [];
    for (const [name, t] of Object.entries(r.data.spec.targets)) {
      if (t.node && !ids.has(t.node))
        issues.push({ path: `spec.targets.${name}.node`, message: `unknown topology node "${t.node}"; known: ${[...ids].join(", ")}` });
      if (t.network?.node && !ids.has(t.network.node))
        issues.push({ path: `spec.targets.${name}.network.node`, message: `unknown topology node "${t.network.node}"; known: ${[...ids].join(", ")}` });
      if (t.network?.from?.node && !ids.has(t.network.from.node))
        issues.push({ path: `spec.targets.${name}.network.from.node`, message: `unknown topology node "${t.network.from.node}"; known: ${[...ids].join(", ")}` });
      for (const [field, c] of [["network.container", t.network?.container], ["network.to.container", t.network?.to?.container]] as const)
        if (c?.node && !ids.has(c.node)) issues.push({ path: `spec.targets.${name}.${field}.node`, message: `unknown topology node "${c.node}"; known: ${[...ids].join(", ")}` });
      if (t.container?.node && !ids.has(t.container.node))
        issues.push({ path: `spec.targets.${name}.container.node`, message: `unknown topology node "${t.container.node}"; known: ${[...ids].join(", ")}` });
    }
    if (issues.length) return { ok: false, issues };
  }
  return { ok: true, experiment: r.data };
}

/**
 * How Game Day publishes zod as JSON Schema: as the file is written (the
 * input side). zod drops the examples and defaults of a schema that
 * transforms (they describe its output); ours, durations and sizes, are valid
 * input as well, so they are put back.
 */
const JSON_SCHEMA_OPTIONS: z.core.ToJSONSchemaParams = {
  io: "input",
  unrepresentable: "any",
  target: "draft-2020-12",
  override: ({ zodSchema, jsonSchema }) => {
    const examples = z.globalRegistry.get(zodSchema)?.examples;
    if (examples !== undefined && jsonSchema.examples === undefined) jsonSchema.examples = examples as z.core.JSONSchema.JSONSchema["examples"];
    const def = zodSchema._zod.def;
    if (def.type === "default" && jsonSchema.default === undefined) {
      const v: unknown = (def as z.core.$ZodDefaultDef).defaultValue;
      // as a person would write it: 10s, not 10000
      const unit = z.globalRegistry.get((def as z.core.$ZodDefaultDef).innerType)?.unit;
      if (typeof v === "number" && unit === "ms") jsonSchema.default = formatDuration(v);
      else if (typeof v === "number" && unit === "bytes") jsonSchema.default = formatSize(v);
      else if (typeof v === "number" && unit === "bytes/s") jsonSchema.default = `${formatSize(v)}/s`;
      else if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") jsonSchema.default = v;
    }
  },
};

/** A fault's params as JSON Schema (what the catalogue shows and fills a step from). */
export function faultParamsJsonSchema(name: string): Record<string, unknown> {
  const entry = faultEntry(name);
  if (!entry) throw new Error(`unknown fault "${name}"`);
  return z.toJSONSchema(entry.params, JSON_SCHEMA_OPTIONS) as Record<string, unknown>;
}

/** The published JSON Schema, with each fault's parameters spelled out. */
export function experimentJsonSchema(): object {
  const steps = faultNames().map((n) =>
    methodStepFields.extend({ fault: z.literal(n), params: faultEntry(n)!.params }),
  );
  const step = steps.length === 1 ? steps[0] : z.discriminatedUnion("fault", steps as never);
  const schema = z.object({
    ...experimentSchema.shape,
    spec: experimentSchema.shape.spec.extend({ method: z.array(step).min(1) }),
  });
  return {
    $id: "https://gameday.dev/schema/experiment.v1.json",
    title: "Game Day experiment",
    description: `Durations are strings: ${DURATION_HINT}.`,
    ...z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS),
  };
}
