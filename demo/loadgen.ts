// Steady GET / traffic so the SLIs have something to show. Bounded three ways
// (duration, request count, requests in flight) and loopback only, because a
// load generator left running or pointed elsewhere is the kind of accident a
// chaos tool must not cause itself.
//   node --import tsx demo/loadgen.ts --url http://127.0.0.1:4100/ --rps 20 --max-duration 1m
import http from "node:http";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { duration } from "../lib/duration";
import { formatIssues, zodIssues } from "../lib/issues";
import { httpGet, loopbackUrl, TimeoutError } from "./net";

/** Scheduler granularity; at 20 req/s that is one request per tick. */
const TICK_MS = 50;
/** The brief's ceiling: a frozen target must not collect an unbounded pile of sockets. */
export const MAX_IN_FLIGHT = 50;

export const loadOptionsSchema = z.object({
  url: z.string().transform((s, ctx) => {
    try {
      return loopbackUrl(s, "load target").href;
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  }),
  rps: z.number().positive().max(1000),
  timeoutMs: z.number().int().min(1).max(60_000).default(2000),
  maxInFlight: z.number().int().min(1).max(MAX_IN_FLIGHT).default(MAX_IN_FLIGHT),
  maxDurationMs: z.number().int().min(1).max(7 * 24 * 3_600_000).default(12 * 3_600_000),
  maxRequests: z.number().int().min(1).max(100_000_000).default(5_000_000),
  /** 0 = no periodic "load-stats" event */
  statsEveryMs: z.number().int().min(0).default(0),
});
export type LoadOptions = z.input<typeof loadOptionsSchema>;

export interface LoadStats {
  sent: number;
  ok: number;
  failed: number;
  timedOut: number;
  /** slots not used because maxInFlight requests were still pending (or the loop fell behind) */
  skipped: number;
  inFlight: number;
}

export type FinishReason = "duration" | "requests" | "stopped";
export type LoadEvent = (msg: "load-started" | "load-stats" | "load-finished", fields: Record<string, unknown>) => void;

export interface LoadRun {
  stats(): LoadStats;
  /** resolves once scheduling ended and every request in flight settled */
  done: Promise<{ reason: FinishReason; stats: LoadStats }>;
  /** end now; requests in flight are cut off */
  stop(): Promise<{ reason: FinishReason; stats: LoadStats }>;
}

/** Throws (with every problem listed) before sending anything if the options are bad, a non-loopback URL included. */
export function startLoad(input: LoadOptions, onEvent: LoadEvent = () => {}): LoadRun {
  const r = loadOptionsSchema.safeParse(input);
  if (!r.success) throw new Error(`load generator:\n${formatIssues(zodIssues(r.error))}`);
  const o = r.data;
  const emit: LoadEvent = (msg, fields) => {
    try {
      onEvent(msg, fields);
    } catch {
      // a broken listener must not stop the traffic or leave it unbounded
    }
  };

  const agent = new http.Agent({ keepAlive: true, maxSockets: o.maxInFlight, timeout: 30_000 });
  const stats: LoadStats = { sent: 0, ok: 0, failed: 0, timedOut: 0, skipped: 0, inFlight: 0 };
  const startedAt = Date.now();
  let slots = 0;
  let finished: FinishReason | null = null;
  let drained: () => void = () => {};
  const idle = new Promise<void>((res) => (drained = res));
  const snapshot = () => ({ ...stats });

  // Catching up after a stalled event loop is capped so a pause never turns into a burst.
  const maxBurst = Math.max(1, Math.ceil((o.rps * TICK_MS) / 1000) * 2);

  const fire = () => {
    stats.sent++;
    stats.inFlight++;
    httpGet(o.url, { timeoutMs: o.timeoutMs, agent })
      .then(
        (res) => (res.status >= 200 && res.status < 400 ? stats.ok++ : stats.failed++),
        (e) => (e instanceof TimeoutError ? stats.timedOut++ : stats.failed++),
      )
      .finally(() => {
        stats.inFlight--;
        if (finished && stats.inFlight === 0) drained();
      });
  };

  const finish = (reason: FinishReason) => {
    if (finished) return;
    finished = reason;
    clearInterval(ticker);
    clearInterval(reporter);
    if (stats.inFlight === 0) drained();
  };

  const tick = () => {
    const elapsed = Date.now() - startedAt;
    if (elapsed >= o.maxDurationMs) return finish("duration");
    if (stats.sent >= o.maxRequests) return finish("requests");
    // the first slot is due at once, then one every 1000/rps ms
    const due = Math.floor((elapsed * o.rps) / 1000) + 1;
    let burst = 0;
    for (; slots < due; slots++) {
      if (stats.sent >= o.maxRequests) return finish("requests");
      if (burst >= maxBurst || stats.inFlight >= o.maxInFlight) stats.skipped++;
      else {
        burst++;
        fire();
      }
    }
  };

  const ticker = setInterval(tick, TICK_MS);
  const reporter = o.statsEveryMs > 0 ? setInterval(() => emit("load-stats", snapshot()), o.statsEveryMs) : undefined;
  emit("load-started", { url: o.url, rps: o.rps, timeoutMs: o.timeoutMs, maxInFlight: o.maxInFlight, maxDurationMs: o.maxDurationMs, maxRequests: o.maxRequests });
  tick();

  const done = idle.then(() => {
    agent.destroy();
    const result = { reason: finished!, stats: snapshot() };
    emit("load-finished", { reason: result.reason, ...result.stats });
    return result;
  });
  return {
    stats: snapshot,
    done,
    stop: () => {
      finish("stopped");
      // cutting the sockets settles every pending request now instead of after its timeout
      agent.destroy();
      return done;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:4100/" },
      rps: { type: "string", default: "20" },
      "timeout-ms": { type: "string", default: "2000" },
      "max-in-flight": { type: "string", default: String(MAX_IN_FLIGHT) },
      "max-duration": { type: "string", default: "12h" },
      "max-requests": { type: "string", default: "5000000" },
    },
    strict: true,
  });
  const maxDuration = duration({ min: 1 }).safeParse(values["max-duration"]);
  if (!maxDuration.success) throw new Error(`--max-duration: ${maxDuration.error.issues[0].message}`);
  const log: LoadEvent = (msg, fields) => process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), msg, ...fields }) + "\n");
  const run = startLoad(
    {
      url: values.url,
      rps: Number(values.rps),
      timeoutMs: Number(values["timeout-ms"]),
      maxInFlight: Number(values["max-in-flight"]),
      maxDurationMs: maxDuration.data,
      maxRequests: Number(values["max-requests"]),
      statsEveryMs: 5000,
    },
    log,
  );
  process.once("SIGINT", () => void run.stop());
  process.once("SIGTERM", () => void run.stop());
  await run.done;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), msg: "load-refused", error: e.message }) + "\n");
    process.exit(2);
  });
}
