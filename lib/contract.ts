// The typed live contract: REST shapes, server→client events and client→server
// commands. Worker, browser, agents and CLI all import this module, so a change
// here is a change everywhere (and the type checker says where).

export const RUN_STATES = ["pending", "running", "completed", "aborted", "failed"] as const;
export type RunState = (typeof RUN_STATES)[number];
export const FINAL_RUN_STATES: readonly RunState[] = ["completed", "aborted", "failed"];

export const ABORT_REASONS = ["steady-state", "manual", "halt", "max-duration", "error"] as const;
export type AbortReason = (typeof ABORT_REASONS)[number];

/** to-revert: an inject failed half-way or a revert was not verified; it still must be reverted and blocks new runs. failed: older records only. */
export const FAULT_STATES = ["pending", "injected", "to-revert", "reverted", "failed"] as const;
export type FaultState = (typeof FAULT_STATES)[number];

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export interface Threshold {
  min?: number;
  max?: number;
  /** the bound itself is outside (gt / lt) */
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

/** Why a run stopped early, with the evidence. */
export interface AbortInfo {
  reason: AbortReason;
  message: string;
  /** ISO wall time the abort was decided. */
  at: string;
  by?: string;
  /** steady-state only: which probe, what it saw, what it should have been. */
  probe?: string;
  measure?: string;
  observed?: number | null;
  threshold?: Threshold;
  /** ISO wall time the probe first left its tolerance in this breach. */
  breachStartedAt?: string;
  /** ms from the abort decision until every fault was reverted. */
  revertMs?: number;
  /** steady-state only: what the probe saw, e.g. a Prometheus probe's query, series and a link to its graph page. */
  evidence?: BreachEvidence;
}

/** A breach's evidence beyond the value: enough to look at it again where it came from. */
export interface BreachEvidence {
  /** the PromQL query, for a prometheus probe */
  query?: string;
  /** opens the same query in Prometheus's graph page around the breach */
  link?: string;
  /** the series the verdict was made on, with their values (NaN and ±Inf as strings) */
  series?: { labels: Record<string, string>; value: string }[];
  /** missing data: how long there was none, and the policy */
  missingForMs?: number;
  error?: string;
}

/** An SLO's error budget, from a good/total counter pair over its window. */
export interface BudgetInfo {
  probe: string;
  objective: number;
  window: string;
  /** events over the window */
  good: number;
  total: number;
  /** share of the budget left, 1 = untouched, ≤ 0 = exhausted */
  left: number;
  minBudgetLeft: number;
  /** after a run: the share of the whole budget the run's own time burned */
  burned?: number;
  at: string;
}

/**
 * Evidence of effect: what a change actually touched while it was in place
 * (queries poisoned, requests faulted). touched 0: the hypothesis was not
 * tested, the run is inconclusive; -1: the evidence could not be read.
 */
export interface Effect {
  touched: number;
  /** one line, e.g. "12 queries; exact db.internal: 5 matched, 5 poisoned" */
  summary: string;
  /** the injector's own counters, plain JSON */
  counters?: unknown;
}

export interface FaultRecord {
  id: string;
  step: number;
  fault: string;
  target: string;
  targetKind: string;
  targetId: string;
  targetLabel: string;
  /** Topology node the target belongs to, when it was selected through one. */
  node?: string;
  host: string;
  state: FaultState;
  injectedAt: string | null;
  revertAt: string | null;
  revertedAt: string | null;
  verified: boolean | null;
  error: string | null;
  /** How the change is made (the injector's describe(), e.g. the network mechanism). */
  detail?: string;
  /** What it touched, once reverted, from injectors that count it (dns, ...). */
  effect?: Effect;
  /** The change cannot be undone (ec2-terminate, az-outage with terminate): its revert puts nothing back. */
  irreversible?: boolean;
}

export interface RunRecord {
  id: string;
  name: string;
  hypothesis: string;
  state: RunState;
  /** true when the steady state held throughout; null while unknown. */
  hypothesisHeld: boolean | null;
  startedBy: string;
  /** a person (through the API, the CLI or the dashboard) or a schedule */
  launchedBy: "person" | "schedule";
  /** the schedule that launched it */
  scheduleId?: string | null;
  /** error budgets of the run's SLO probes: before it started, and what the run burned */
  budgets?: BudgetInfo[];
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  abort: AbortInfo | null;
  error: string | null;
  /** Why the hypothesis was not tested (a fault that touched nothing); then hypothesisHeld is null. */
  inconclusive?: string | null;
  faults: FaultRecord[];
}

export interface TimelineEvent {
  runId: string;
  at: string;
  /** ms since the run started, from the worker's monotonic clock */
  monoMs: number;
  kind: string;
  message: string;
  data?: unknown;
}

export interface ProbeSampleMsg {
  runId: string;
  probe: string;
  measure: string;
  at: string;
  monoMs: number;
  /** The SLI value over the probe's window, null when it cannot be computed yet. */
  value: number | null;
  /** Whether the value is within tolerance (true while unknown). */
  ok: boolean;
}

export interface TopologyNodeInfo {
  id: string;
  label: string;
  kind: string;
}

export interface TopologyEdgeInfo {
  from: string;
  to: string;
  label?: string;
}

export interface NodeStatus {
  /** Fraction 0..1 of successful requests over the status window; null without traffic. */
  successRate: number | null;
  p95LatencyMs: number | null;
  requestsPerSec: number | null;
  instancesUp: number;
  instancesTotal: number;
  /** Active faults on this node's targets. */
  faults: { runId: string; fault: string; count: number }[];
}

export interface GraphState {
  topology: { name: string; nodes: TopologyNodeInfo[]; edges: TopologyEdgeInfo[] };
  nodes: Record<string, NodeStatus>;
  at: string;
}

export interface UserInfo {
  username: string;
  role: Role;
}

export interface ValidationIssue {
  /** Field path like spec.method[0].params.signal ("" for the whole document). */
  path: string;
  message: string;
}

/** Every error body of the API has this shape. */
export interface ApiError {
  error: string;
  code: string;
  issues?: ValidationIssue[];
}

/** Fault families, in the order the catalogue shows them. */
export const FAULT_FAMILIES = ["process", "disk", "resource", "network", "application", "container", "cloud", "bpf"] as const;
export type FaultFamily = (typeof FAULT_FAMILIES)[number];

/** One fault of the catalogue (GET /api/v1/faults): what it does, what it takes, whether this host can run it. */
export interface FaultInfo {
  /** the name an experiment step gives, e.g. "process-kill" */
  name: string;
  family: FaultFamily;
  description: string;
  /** its params as JSON Schema (draft 2020-12), as written in the experiment file */
  params: Record<string, unknown>;
  /** the one kind of target it acts on and the spec.targets fields that select it */
  target: {
    kind: string;
    title: string;
    selectors: string[];
    /** a target spec of that kind to start from */
    example: Record<string, unknown>;
    /** where a topology node's id goes in such a spec (e.g. ["network", "node"]); null: this kind cannot select by node */
    nodePath: string[] | null;
  };
  /** can this host run it now (checked at checkedAt); reason says why not */
  available: boolean;
  reason?: string;
  detail?: string;
  /** the first example file with a step of this fault */
  example: { file: string; step: Record<string, unknown>; yaml: string } | null;
}

export interface FaultCatalogue {
  faults: FaultInfo[];
  /** a steady-state probe to start from (the first example file's first probe), as written there */
  probe: Record<string, unknown> | null;
  /** when availability was checked (it is cached for a short while) */
  checkedAt: string;
}

export interface ExampleInfo {
  file: string;
  name: string;
  description: string;
  yaml: string;
  /** false when it names a fault this host cannot run; reason says why. */
  runnable: boolean;
  reason?: string;
}

export type CommandResult<T = object> = ({ ok: true } & T) | ({ ok: false } & ApiError);

/** Server → client events. */
export interface ServerToClientEvents {
  hello: (msg: { user: UserInfo; activeRunId: string | null; workerVersion: string }) => void;
  "graph:state": (state: GraphState) => void;
  "run:update": (run: RunRecord) => void;
  "run:event": (event: TimelineEvent) => void;
  "run:sample": (sample: ProbeSampleMsg) => void;
  "run:note": (note: RunNote) => void;
}

/** Client → server commands; each answers through the ack callback. */
export interface ClientToServerEvents {
  "run:start": (cmd: { yaml: string }, ack: (res: CommandResult<{ runId: string }>) => void) => void;
  "run:abort": (cmd: { runId: string }, ack: (res: CommandResult) => void) => void;
  halt: (cmd: Record<string, never>, ack: (res: CommandResult<{ aborted: string[] }>) => void) => void;
}

/** REST routes of the worker API (all under /api/v1). */
export const API = {
  health: "/api/v1/health",
  login: "/api/v1/auth/login",
  logout: "/api/v1/auth/logout",
  me: "/api/v1/auth/me",
  /** change your own password: POST { currentPassword, newPassword } (your other sessions end) */
  password: "/api/v1/auth/password",
  graph: "/api/v1/graph",
  examples: "/api/v1/experiments/examples",
  /** the fault catalogue: every registered fault, its params' JSON Schema and availability here */
  faults: "/api/v1/faults",
  validate: "/api/v1/experiments/validate",
  runs: "/api/v1/runs",
  run: (id: string) => `/api/v1/runs/${encodeURIComponent(id)}`,
  runEvents: (id: string) => `/api/v1/runs/${encodeURIComponent(id)}/events`,
  runSamples: (id: string) => `/api/v1/runs/${encodeURIComponent(id)}/samples`,
  runAbort: (id: string) => `/api/v1/runs/${encodeURIComponent(id)}/abort`,
  halt: "/api/v1/halt",
  /** changes on the worker's host not verified reverted (they block new runs) */
  changes: "/api/v1/changes",
  /** retry reverting them */
  recover: "/api/v1/recover",
  /** API tokens: your own (an admin sees and revokes everyone's) */
  tokens: "/api/v1/tokens",
  token: (id: string) => `/api/v1/tokens/${encodeURIComponent(id)}`,
  /** users and their roles (admin) */
  users: "/api/v1/users",
  user: (username: string) => `/api/v1/users/${encodeURIComponent(username)}`,
  /** an admin sets another user's password: POST { password } (their sessions end) */
  userPassword: (username: string) => `/api/v1/users/${encodeURIComponent(username)}/password`,
  /** an admin disables a user (kept for the history that names them) or enables them again */
  userDisable: (username: string) => `/api/v1/users/${encodeURIComponent(username)}/disable`,
  userEnable: (username: string) => `/api/v1/users/${encodeURIComponent(username)}/enable`,
  /** the audit log (admin) */
  audit: "/api/v1/audit",
  /** participants' notes on a run: GET lists, POST { text } adds one */
  runNotes: (id: string) => `/api/v1/runs/${encodeURIComponent(id)}/notes`,
  /** the post-mortem's "what we learned / actions": GET, PUT { learned, actions } */
  runReview: (id: string) => `/api/v1/runs/${encodeURIComponent(id)}/review`,
  /** the post-mortem as a PDF, or (format "html") as one self-contained HTML file */
  runReport: (id: string, format: "pdf" | "html" = "pdf") => `/api/v1/runs/${encodeURIComponent(id)}/report.${format}`,
  /** the replay bundle: experiment YAML, seeds, versions, events, samples, notes, with a sha256 manifest */
  runBundle: (id: string) => `/api/v1/runs/${encodeURIComponent(id)}/bundle.json`,
  /** the kill switch: the latest abort/HALT, at once or long-polled (?after=SEQ&wait=MS) */
  abortSignal: "/api/v1/abort-signal",
  schedules: "/api/v1/schedules",
  /** the next ten fire times of a schedule body, saving nothing */
  schedulePreview: "/api/v1/schedules/preview",
  schedule: (id: string) => `/api/v1/schedules/${encodeURIComponent(id)}`,
  schedulePause: (id: string) => `/api/v1/schedules/${encodeURIComponent(id)}/pause`,
  scheduleResume: (id: string) => `/api/v1/schedules/${encodeURIComponent(id)}/resume`,
  scheduleDelete: (id: string) => `/api/v1/schedules/${encodeURIComponent(id)}/delete`,
} as const;

/** An API token as listed: never the secret, which is shown once at creation. */
export interface TokenInfo {
  /** first 16 hex digits of the token's SHA-256; what revoke takes */
  id: string;
  name: string;
  username: string;
  createdAt: string;
  lastUsedAt: string | null;
  /** null: never expires */
  expiresAt: string | null;
  revokedAt: string | null;
  /** active | expired | revoked */
  status: "active" | "expired" | "revoked";
}

export interface UserRecord extends UserInfo {
  createdAt: string;
  /** when an admin disabled the user (no login, sessions ended, tokens revoked); null: enabled */
  disabledAt: string | null;
}

/** One line of the audit log. */
export interface AuditEntry {
  id: number;
  at: string;
  /** who: the user name (for a failed login, the name that was tried) */
  actor: string;
  /**
   * login, login-failed, logout, run-start, run-abort, halt, recover, token-create, token-revoke,
   * user-create, user-role, password-change, user-password-reset, user-disable, user-enable, audit-trim
   */
  action: string;
  /** what it acted on: run id, token id, user name */
  target: string | null;
  /** client address (X-Forwarded-For of the web app's proxy on loopback) */
  address: string | null;
  /** Origin header of the browser page, when there was one */
  origin: string | null;
  ok: boolean;
  detail: Record<string, unknown> | null;
}

/** A participant's timestamped observation on a run. */
export interface RunNote {
  id: number;
  runId: string;
  at: string;
  author: string;
  text: string;
}

/** The post-mortem's editable conclusions. */
export interface RunReview {
  runId: string;
  learned: string;
  actions: string;
  updatedBy: string | null;
  updatedAt: string | null;
}

/** The kill switch's answer: seq grows by one per abort or HALT. */
export interface AbortSignalInfo {
  seq: number;
  last: { kind: "abort" | "halt"; runId: string | null; reason: string; message: string; at: string } | null;
}

export const SCHEDULE_POLICIES = ["queue", "skip"] as const;
export type SchedulePolicy = (typeof SCHEDULE_POLICIES)[number];
export const SLOT_OUTCOMES = ["launched", "queued", "skipped", "missed"] as const;
export type SlotOutcome = (typeof SLOT_OUTCOMES)[number];

export interface ScheduleInfo {
  id: string;
  name: string;
  experimentName: string;
  cron: string;
  timezone: string;
  /** allowed weekdays (mon..sun) and local hours HH:MM-HH:MM; a slot outside is skipped */
  window: { days?: string[]; hours?: string } | null;
  /** local dates YYYY-MM-DD on which nothing fires */
  blackout: string[];
  minGapMs: number;
  /** fire at a random moment up to this long after the slot (inside the window) */
  randomDelayMs: number;
  policy: SchedulePolicy;
  paused: boolean;
  createdBy: string;
  createdAt: string;
  lastRunAt: string | null;
  /** ISO times of the next ten slots that would fire (window and blackout applied) */
  next: string[];
}

export interface ScheduleSlotInfo {
  id: number;
  scheduleId: string;
  /** the cron slot */
  slotAt: string;
  outcome: SlotOutcome;
  reason: string | null;
  runId: string | null;
  recordedAt: string;
}

/** A change not verified reverted: an inject that failed half-way, a revert that did not verify, or one left by a holder that died. */
export interface UnrevertedChange {
  id: string;
  runId: string;
  fault: string;
  targetLabel: string;
  host: string;
  state: string;
  error: string | null;
}

export const SESSION_COOKIE = "gameday_session";
