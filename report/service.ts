// The worker's side of post-mortems: gathers a run's evidence from the
// database, renders HTML / PDF on demand, writes the PDF of each run to
// $GAMEDAY_HOME/reports when its lead-out ends, and exports the replay
// bundle. Nothing here is on a run's path: the runner only emits events, and
// every failure is logged, never thrown into a run.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Db } from "../lib/db";
import type { Logger } from "../lib/log";
import type { GraphState, RunNote, RunRecord, RunReview, TimelineEvent } from "../lib/contract";
import type { Topology } from "../lib/topology";
import { config } from "../lib/config";
import { buildModel, type ReportInput } from "./model";
import { renderHtml } from "./render";
import { PdfRenderer } from "./pdf";
import type { NodeMovement } from "./nodes";
import { ms, pct } from "../lib/web/format";

export interface ReportDeps {
  db: Db;
  log: Logger;
  /** the run record (live or from the database) */
  getRun: (id: string) => Promise<RunRecord | null>;
  /** queued evidence reaches the database */
  flush: () => Promise<void>;
  topology: Topology | null;
  workerVersion: string;
}

export const BUNDLE_FORMAT = "gameday-replay/v1";

export function topologyInfo(t: Topology | null): GraphState["topology"] | null {
  if (!t) return null;
  return { name: t.metadata.name, nodes: t.spec.nodes.map((n) => ({ id: n.id, label: n.label ?? n.id, kind: n.kind })), edges: t.spec.edges };
}

export const noteView = (n: { id: number; runId: string; at: Date; author: string; text: string }): RunNote => ({ id: n.id, runId: n.runId, at: n.at.toISOString(), author: n.author, text: n.text });

export class ReportService {
  readonly pdfs: PdfRenderer;
  readonly dir: string;

  constructor(private readonly d: ReportDeps) {
    this.pdfs = new PdfRenderer();
    this.dir = path.join(config().GAMEDAY_HOME, "reports");
  }

  async review(runId: string): Promise<RunReview> {
    const r = await this.d.db.runReview.findUnique({ where: { runId } });
    return r ? { runId, learned: r.learned, actions: r.actions, updatedBy: r.updatedBy, updatedAt: r.updatedAt.toISOString() } : { runId, learned: "", actions: "", updatedBy: null, updatedAt: null };
  }

  async notes(runId: string): Promise<RunNote[]> {
    return (await this.d.db.note.findMany({ where: { runId }, orderBy: { id: "asc" } })).map(noteView);
  }

  /** Everything the report and the replay bundle are made of; null for an unknown run. */
  async input(runId: string): Promise<ReportInput | null> {
    const run = await this.d.getRun(runId);
    if (!run) return null;
    await this.d.flush();
    const row = await this.d.db.run.findUnique({ where: { id: runId }, select: { experimentYaml: true, experimentJson: true } });
    if (!row) return null;
    const [events, samples, notes, review] = await Promise.all([
      this.d.db.runEvent.findMany({ where: { runId }, orderBy: { id: "asc" } }),
      this.d.db.probeSample.findMany({ where: { runId }, orderBy: { id: "asc" } }),
      this.notes(runId),
      this.review(runId),
    ]);
    const evs: TimelineEvent[] = events.map((r) => ({ runId, at: r.at.toISOString(), monoMs: r.monoMs, kind: r.kind, message: r.message, data: r.data ? JSON.parse(r.data) : undefined }));
    const seed = (evs.find((e) => e.kind === "run-started")?.data as { seed?: number } | undefined)?.seed ?? null;
    return {
      run,
      experimentYaml: row.experimentYaml,
      experiment: JSON.parse(row.experimentJson) as ReportInput["experiment"],
      events: evs,
      samples: samples.map((r) => ({ runId, probe: r.probe, measure: r.detail ?? "", at: r.at.toISOString(), monoMs: r.monoMs, value: r.value, ok: r.ok })),
      notes,
      review: review.updatedBy ? review : null,
      topology: topologyInfo(this.d.topology),
      versions: {
        "game day worker": this.d.workerVersion,
        "embedded agent (executor)": this.d.workerVersion,
        node: process.version,
        host: `${os.hostname()} (${os.type()} ${os.release()}, ${os.arch()})`,
      },
      seed,
      generatedAt: new Date().toISOString(),
    };
  }

  async html(runId: string): Promise<string | null> {
    const input = await this.input(runId);
    return input ? renderHtml(buildModel(input)) : null;
  }

  async pdf(runId: string): Promise<Buffer | null> {
    const input = await this.input(runId);
    if (!input) return null;
    input.versions.chromium = await this.pdfs.version();
    return this.pdfs.pdf(await renderHtml(buildModel(input)), `${input.run.name} · ${input.run.id}`);
  }

  /** The replay bundle: one JSON document whose files each have their sha256 in the manifest. */
  async bundle(runId: string): Promise<object | null> {
    const input = await this.input(runId);
    if (!input) return null;
    const files: Record<string, string> = {
      "experiment.yaml": input.experimentYaml,
      "run.json": JSON.stringify(input.run, null, 1),
      "events.json": JSON.stringify(input.events),
      "samples.json": JSON.stringify(input.samples),
      "notes.json": JSON.stringify(input.notes),
      "review.json": JSON.stringify(input.review),
      "topology.json": JSON.stringify(input.topology),
      "meta.json": JSON.stringify({ seed: input.seed, versions: input.versions, exportedAt: input.generatedAt, experiment: input.experiment }),
    };
    const manifest = Object.fromEntries(Object.entries(files).map(([name, text]) => [name, { sha256: crypto.createHash("sha256").update(text).digest("hex"), bytes: Buffer.byteLength(text) }]));
    return { format: BUNDLE_FORMAT, runId, manifest, files };
  }

  /** Keep what the graph saw of every node during the run's faults as its evidence (an event the report reads). */
  async recordNodes(runId: string, nodes: NodeMovement[]): Promise<void> {
    const text = (n: NodeMovement) =>
      `${n.node}${n.targeted ? " (targeted)" : ""} ${n.moved ? "moved" : "steady"}: success ${pct(n.before?.successRate ?? null)} → ${pct(n.worst.successRate)}, p95 ${ms(n.before?.p95LatencyMs ?? null)} → ${ms(n.worst.p95LatencyMs)}, up ${n.before?.instancesUp ?? "—"} → ${n.worst.instancesUp}/${n.worst.instancesTotal}`;
    await this.d.db.runEvent.create({
      data: { runId, at: new Date(), monoMs: -1, kind: "node-slis", message: `node SLIs under fault (lead-in → worst): ${nodes.map(text).join("; ")}`, data: JSON.stringify({ nodes }) },
    });
  }

  /** Write the run's PDF next to the database; logged, never thrown. */
  async autoGenerate(runId: string): Promise<string | null> {
    const t0 = performance.now();
    try {
      const pdf = await this.pdf(runId);
      if (!pdf) return null;
      fs.mkdirSync(this.dir, { recursive: true });
      const file = path.join(this.dir, `${runId}.pdf`);
      fs.writeFileSync(`${file}.tmp`, pdf);
      fs.renameSync(`${file}.tmp`, file);
      this.d.log.info("post-mortem written", { runId, file, ms: Math.round(performance.now() - t0) });
      return file;
    } catch (e) {
      this.d.log.warn("post-mortem not written (the run is unaffected)", { runId, error: (e as Error).message });
      return null;
    }
  }

  async close(): Promise<void> {
    await this.pdfs.close();
  }
}
