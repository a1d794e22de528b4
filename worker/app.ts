// Wiring of one worker: database, journal replay, auth, engine, graph poller,
// HTTP API and socket.io. main.ts runs it as a process; tests start it in
// process when they do not need to kill it.
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { openDb, type Db } from "../lib/db";
import { createLogger, type Logger } from "../lib/log";
import { registerSelf } from "../lib/procfs";
import { loadTopology, type Topology } from "../lib/topology";
import { Audit } from "./audit";
import { Auth } from "./auth";
import { AuditRetention } from "./retention";
import { Engine } from "./engine";
import { FaultCatalogueCache } from "./faults";
import { GraphPoller } from "./graph";
import { createWorkerMetrics } from "./metrics";
import { createServer, WORKER_VERSION } from "./server";
import { KillSwitch } from "./killswitch";
import { Scheduler, type Clock } from "./scheduler";
import { config } from "../lib/config";
import type { GraphState } from "../lib/contract";
import { ReportService } from "../report/service";
import { NodeWatch } from "../report/nodes";

export interface WorkerOptions {
  port: number;
  host: string;
  topologyFile: string | null;
  examplesDir: string;
  databaseUrl?: string;
  /** PIDs never to target besides ourselves and our ancestors (e.g. the web app) */
  protectPids?: number[];
  warmupMs?: number;
  log?: Logger;
  /** the scheduler's clock (tests) */
  clock?: Clock;
}

export interface RunningWorker {
  url: string;
  port: number;
  db: Db;
  engine: Engine;
  auth: Auth;
  audit: Audit;
  retention: AuditRetention;
  scheduler: Scheduler;
  killSwitch: KillSwitch;
  recovered: Awaited<ReturnType<Engine["recover"]>>;
  createdAdmin?: { username: string; password: string; generated: boolean };
  /** HALT (revert everything), then stop serving. */
  close(): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const log = o.log ?? createLogger({ component: "worker" });
  const db = await openDb(o.databaseUrl);
  try {
    await db.user.count();
  } catch (e) {
    throw new Error(`the database has no Game Day tables; run "make up" (or npx prisma migrate deploy) first: ${(e as Error).message}`);
  }
  const topology: Topology | null = o.topologyFile ? loadTopology(o.topologyFile) : null;
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry);
  const protectedPids = new Set(o.protectPids ?? []);

  const killSwitch = new KillSwitch(config().GAMEDAY_ABORT_WEBHOOKS, log.child({ component: "kill-switch" }));
  let graph: GraphPoller | null = null;
  let reports: ReportService | null = null;
  let closing: Promise<void> | null = null;
  const nodeWatch = new NodeWatch();
  // the post-mortem once the lead-out ended: after the run, never on its path; a failure is only logged
  const afterLeadOut = (runId: string) => {
    if (closing || !reports) return;
    const r = reports;
    void (async () => {
      await engine.flush();
      const nodes = nodeWatch.take(runId);
      if (nodes) await r.recordNodes(runId, nodes);
      if (config().GAMEDAY_AUTO_REPORT && !closing) await r.autoGenerate(runId);
    })().catch((e: Error) => log.warn("post-mortem failed (the run is unaffected)", { runId, error: e.message }));
  };
  let emit: ReturnType<typeof createServer>["io"] | null = null;
  const engine = new Engine({
    db,
    log,
    topology,
    metrics,
    protectedPids: () => protectedPids,
    warmupMs: o.warmupMs,
    leadOutMs: config().GAMEDAY_LEAD_OUT_MS,
    onHalt: (by, runs) =>
      // a clean shutdown with nothing running is no signal to stop anything
      (runs.length || by !== "worker shutdown") &&
      killSwitch.fire({ kind: "halt", runId: runs[0] ?? null, reason: "halt", message: `HALT by ${by}${runs.length ? `: aborted ${runs.join(", ")}` : ""}` }),
    sinks: {
      runUpdate: (run) => {
        emit?.emit("run:update", run);
        graph?.refreshFaults();
      },
      event: (e) => {
        // the abort decision, before anything is reverted: other chaos tools stop too (a HALT signals once, from onHalt)
        const a = e.data as { reason?: string; message?: string } | undefined;
        if (e.kind === "abort" && a?.reason !== "halt") killSwitch.fire({ kind: "abort", runId: e.runId, reason: a?.reason ?? "unknown", message: a?.message ?? e.message });
        emit?.emit("run:event", e);
        if (e.kind === "lead-out-ended") afterLeadOut(e.runId);
      },
      sample: (s) => emit?.emit("run:sample", s),
    },
  });

  // Replay the journal before anything else can inject.
  const recovered = await engine.recover();
  if (recovered.reverted || recovered.failed || recovered.runs.length) log.warn("start-up recovery done", recovered);

  const onGraph = (s: GraphState) => {
    emit?.emit("graph:state", s);
    nodeWatch.observe(s);
  };
  if (topology) graph = new GraphPoller(topology, () => engine.activeFaults(), onGraph);
  const audit = new Audit(db, log);
  const auth = new Auth(db, log, audit);
  reports = new ReportService({ db, log: log.child({ component: "report" }), getRun: (id) => engine.get(id), flush: () => engine.flush(), topology, workerVersion: WORKER_VERSION });
  const scheduler = new Scheduler({
    db,
    log: log.child({ component: "scheduler" }),
    clock: o.clock,
    launch: (yaml, by, scheduleId) => engine.start(yaml, by, { launchedBy: "schedule", scheduleId }),
    busy: () => {
      const b = engine.busy();
      return b ? { id: b.id, name: b.exp.metadata.name } : null;
    },
  });
  // slots that passed while no worker ran are recorded as missed before anything fires
  await scheduler.start();
  const faults = new FaultCatalogueCache(o.examplesDir);
  const { server, io } = createServer({ db, log, auth, audit, engine, graph, registry, examplesDir: o.examplesDir, faults, reports, scheduler, killSwitch });
  emit = io;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  // the port is announced with our PID, so network faults spare the worker's API (control plane)
  const unannounce = registerSelf(process.pid, [port]);
  const url = `http://${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}`;
  const boot = await auth.bootstrap(url);
  const retention = new AuditRetention(db, audit, log.child({ component: "audit" }), config().GAMEDAY_AUDIT_RETENTION_DAYS);
  retention.start();
  graph?.start();
  // the first catalogue loads every injector's modules and compiles every
  // schema (a few hundred ms on this thread): built at start, while no run can
  // be far along, so a dashboard opening it mid-run never delays the monitor
  // (later rebuilds reuse the loaded modules: milliseconds)
  void faults.get().catch((e: Error) => log.warn("fault catalogue not built at start", { error: e.message }));

  return {
    url,
    port,
    db,
    engine,
    auth,
    audit,
    retention,
    scheduler,
    killSwitch,
    recovered,
    createdAdmin: boot.createdAdmin,
    close: () =>
      (closing ??= (async () => {
        scheduler.stop();
        await scheduler.idle();
        await engine.halt("worker shutdown");
        killSwitch.close();
        graph?.stop();
        await engine.flush();
        await retention.stop();
        await audit.flush();
        await engine.close();
        await reports?.close();
        // io.close() closes the HTTP server itself (a second server.close()
        // can miss the 'close' event and never call back) and waits for every
        // connection to end: end them all, not only the idle ones, or a
        // connection still counted by the server can hold the close forever.
        const closed = io.close();
        server.closeAllConnections();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
        clearTimeout(timer);
        await db.$disconnect();
        unannounce();
      })()),
  };
}
