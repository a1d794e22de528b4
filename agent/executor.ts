// The executor: the one place on a host where a change is planned, journaled,
// applied, reverted and verified. The worker embeds one, each standalone CLI
// embeds one, a remote agent will be one. A change is done only when its
// revert is verified; until then it stays in the journal ("to-revert" when an
// inject failed half-way or a revert was not verified) and blocks new runs.
import crypto from "node:crypto";
import os from "node:os";
import type { Logger } from "../lib/log";
import { createLogger } from "../lib/log";
import { getInjector, targetLabel, type AnyInjector, type Target, type VerifyResult } from "../injectors";
import { HostJournal, isOpen, listJournals, lockJournal, readJournal, sweepPartialWrites, writeDurable, type ChangeEntry } from "./journal";
import { startReaper, type Reaper } from "./reaper-client";
import { entryProblem } from "./entry-check";
import { sweepEvidence } from "../injectors/evidence";
import fs from "node:fs";

export const HOST = os.hostname();

export interface ApplyRequest {
  runId: string;
  step: number;
  /** the experiment's name for the target (e.g. "api") */
  targetName: string;
  node?: string;
  fault: string;
  target: Target;
  /** already validated by the injector's params schema */
  params: unknown;
  /** when the change is due to be reverted (informational: the caller's timers revert it) */
  revertAt?: Date;
}

/** A change as callers see it: the journal entry plus its label. */
export type Change = Readonly<ChangeEntry> & { targetLabel: string; host: string };

export type ExecutorEvent =
  | { type: "journaled"; change: Change }
  | { type: "injected"; change: Change }
  | { type: "inject-failed"; change: Change; error: string }
  | { type: "reverted"; change: Change; detail: string }
  | { type: "revert-failed"; change: Change; detail: string }
  /** a change left by a holder that died, reverted (or not) from its journal */
  | { type: "recovered"; change: Change; ok: boolean; detail: string; holder: string };

export class ApplyError extends Error {
  /** the journaled change, when the failure came after the journal write (then it was reverted, or is to-revert) */
  constructor(
    message: string,
    readonly change: Change | null,
  ) {
    super(message);
  }
}

export interface RecoveryReport extends Recovered {
  /** journals whose holder still runs, left alone */
  live: number;
}

export interface ExecutorOptions {
  /** who holds the changes, for the journal and the logs ("worker", "sniper api", ...) */
  command: string;
  /** a database mirrors the entries (the worker): keep reverted ones until pruned */
  mirrored?: boolean;
  /** journal folder (default $GAMEDAY_HOME/journal) */
  dir?: string;
  log?: Logger;
  /** watch this process with a reaper that reverts from the journal if it dies (default true) */
  reaper?: boolean;
  /** how long one revert may keep retrying before the change is left to-revert (default 5 s) */
  revertDeadlineMs?: number;
  /** an inject that has not returned by then is cancelled (default 30 s) */
  injectTimeoutMs?: number;
}

const view = (e: ChangeEntry): Change => ({ ...e, targetLabel: targetLabel(e.target), host: e.target.host ?? HOST });

/** Revert, then verify; one attempt. */
async function revertOnce(injector: AnyInjector, target: Target, undo: unknown): Promise<VerifyResult> {
  try {
    await injector.revert(target, undo);
    return await injector.verify(target, undo);
  } catch (e) {
    return { ok: false, detail: (e as Error).message };
  }
}

/** Revert and verify with backoff until verified or the deadline passes. */
export async function revertVerified(injector: AnyInjector, target: Target, undo: unknown, deadlineMs: number): Promise<VerifyResult & { attempts: number }> {
  const end = performance.now() + deadlineMs;
  let wait = 50;
  for (let attempts = 1; ; attempts++) {
    const v = await revertOnce(injector, target, undo);
    if (v.ok || performance.now() + wait > end) return { ...v, attempts };
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 1000);
  }
}

/** Revert and verify one journal entry and record the outcome in it (the caller writes the journal). */
async function revertEntry(e: ChangeEntry, deadlineMs: number): Promise<VerifyResult> {
  const injector = getInjector(e.fault);
  const bad = injector ? entryProblem(e, injector) : null;
  const v = !injector
    ? { ok: false, detail: `unknown fault ${e.fault} in the journal`, attempts: 1 }
    : bad
      ? { ok: false, detail: `journal entry refused, nothing done: ${bad}; it does not have the shape ${e.fault} journals, so reverting it could touch what the change never did — check the host by hand, then delete the entry from the journal (gameday recover lists it)`, attempts: 0 }
      : await revertVerified(injector, e.target, e.undo, deadlineMs);
  e.revertAttempts += v.attempts;
  e.detail = v.detail;
  if (v.ok) {
    e.state = "reverted";
    e.revertedAt = new Date().toISOString();
    if (injector?.effect) e.effect = (await readEffect(injector, e)) ?? undefined;
  } else {
    e.state = "to-revert";
    e.error = `revert not verified: ${v.detail}`;
  }
  return v;
}

/** The injector's evidence of effect; a failure to read it is said, never thrown (the revert is what matters). */
async function readEffect(injector: AnyInjector, e: ChangeEntry) {
  try {
    return await injector.effect!(e.target, e.undo);
  } catch (err) {
    return { touched: -1, summary: `evidence unreadable: ${(err as Error).message}` };
  }
}

/**
 * What the lifecycle above needs from an executor: the worker's runner and
 * the step rounds talk to this, so a remote agent (over an authenticated
 * socket) can stand in for the in-process one.
 */
export interface ExecutorPort {
  apply(req: ApplyRequest, signal: AbortSignal): Promise<Change>;
  revert(id: string): Promise<VerifyResult>;
  revertRun(runId: string): Promise<VerifyResult[]>;
  settle(runId: string): Promise<void>;
  open(runId?: string): Change[];
  whenReverted(ids: string[]): Promise<void>;
  on(fn: (e: ExecutorEvent) => void): () => void;
}

export class Executor implements ExecutorPort {
  readonly journal: HostJournal;
  readonly log: Logger;
  private readonly listeners = new Set<(e: ExecutorEvent) => void>();
  /** applies still running, by run: an abort waits for them before it reverts */
  private readonly inflight = new Map<string, Set<Promise<unknown>>>();
  /** reverts in progress, by change id: a second caller joins the first */
  private readonly reverting = new Map<string, Promise<VerifyResult>>();
  private readonly closeWaiters = new Map<string, Set<() => void>>();
  private reaper: Reaper | null = null;
  private reaperStarting: Promise<void> | null = null;
  private readonly deadlineMs: number;
  private readonly injectTimeoutMs: number;

  constructor(private readonly o: ExecutorOptions) {
    this.journal = new HostJournal(o.command, { dir: o.dir, mirrored: o.mirrored });
    this.log = o.log ?? createLogger({ component: "executor" });
    this.deadlineMs = o.revertDeadlineMs ?? 5000;
    this.injectTimeoutMs = o.injectTimeoutMs ?? 30_000;
  }

  on(fn: (e: ExecutorEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: ExecutorEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.log.warn("executor listener failed", { error: (err as Error).message, event: e.type });
      }
    }
  }

  /**
   * Start: revert what holders that died left in their journals (ours from
   * an earlier life included), then start the reaper that watches us.
   */
  async start(): Promise<RecoveryReport> {
    const report = await this.recover();
    // started now so that it is ready by the first change; apply() waits for it (and retries a failed start)
    if (this.o.reaper !== false) this.ensureReaper().catch((e: Error) => this.log.error("reaper", { error: e.message }));
    return report;
  }

  /** Resolves once the reaper watches us (at once without one): a CLI's clock starts when its faults can land. */
  ready(): Promise<void> {
    return this.o.reaper === false ? Promise.resolve() : this.ensureReaper();
  }

  private ensureReaper(): Promise<void> {
    if (this.reaper) return Promise.resolve();
    this.reaperStarting ??= startReaper(this.journal.file, this.journal.dir).then(
      (r) => {
        this.reaper = r;
      },
      (e: Error) => {
        this.reaperStarting = null;
        throw new Error(`cannot start the reaper that reverts our changes if we die: ${e.message}`);
      },
    );
    return this.reaperStarting;
  }

  /** Revert every change of every dead holder's journal in our folder; live holders are left alone. */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { reverted: [], failed: [], mirror: [], problems: [], live: 0 };
    const ownStuck = this.journal.doc.entries.filter((x) => x.state === "to-revert");
    sweepPartialWrites(this.journal.dir);
    const stale = sweepEvidence();
    if (stale) this.log.info("evidence files nobody took, older than any fault can hold, removed", { files: stale });
    for (const j of listJournals(this.journal.dir)) {
      if (j.file === this.journal.file) continue;
      if (j.alive) {
        report.live++;
        continue;
      }
      const r = await recoverJournal(j.file, this.deadlineMs, {
        each: (change, ok, detail, holder) => this.emit({ type: "recovered", change, ok, detail, holder }),
        adopt: (entries) => this.adopt(entries),
        takeMirror: true,
      });
      if (r === null) {
        report.live++;
        continue;
      }
      report.reverted.push(...r.reverted);
      report.failed.push(...r.failed);
      report.mirror.push(...r.mirror);
      report.problems.push(...r.problems);
    }
    // our own entries that are still to revert (a revert that failed earlier in this life)
    for (const e of ownStuck) {
      const v = await this.revert(e.id);
      if (v.ok) report.reverted.push(view(e));
      else report.failed.push({ ...view(e), detail: v.detail });
    }
    return report;
  }

  /** Take changes that could not be reverted into our journal (durably, before their old file forgets them). */
  async adopt(entries: ChangeEntry[]): Promise<void> {
    for (const e of entries) if (!this.journal.entry(e.id)) this.journal.doc.entries.push({ ...e, state: "to-revert" });
    await this.journal.save();
  }

  /** Changes not yet verified as reverted (of one run, or all). */
  open(runId?: string): Change[] {
    return this.journal.doc.entries.filter((e) => isOpen(e) && (runId === undefined || e.runId === runId)).map(view);
  }

  /**
   * Changes on this host that are not verified reverted and that nobody
   * alive holds on purpose: ours whose inject or revert failed, and every
   * open entry of a holder that died. They block new runs until recover()
   * or a retry reverts them.
   */
  blocking(): Change[] {
    const out = this.journal.doc.entries.filter((e) => e.state === "to-revert").map(view);
    for (const j of listJournals(this.journal.dir)) {
      if (j.alive || j.file === this.journal.file) continue;
      try {
        out.push(...readJournal(j.file).entries.filter(isOpen).map(view));
      } catch {
        /* unreadable: recover() reports it */
      }
    }
    return out;
  }

  get(id: string): Change | undefined {
    const e = this.journal.entry(id);
    return e && view(e);
  }

  /** Resolves when every one of these changes is verified reverted. */
  whenReverted(ids: string[]): Promise<void> {
    const left = ids.filter((id) => {
      const e = this.journal.entry(id);
      return e && isOpen(e);
    });
    if (!left.length) return Promise.resolve();
    return new Promise((resolve) => {
      let n = left.length;
      for (const id of left) {
        const set = this.closeWaiters.get(id) ?? new Set();
        set.add(() => {
          if (--n === 0) resolve();
        });
        this.closeWaiters.set(id, set);
      }
    });
  }

  /**
   * Plan (no side effect), journal durably, inject. When the inject throws
   * the change may be half-applied: it is reverted and verified here, and
   * stays to-revert if that fails. Throws ApplyError; nothing is journaled
   * when the failure came first from the signal, the target kind or plan().
   */
  apply(req: ApplyRequest, signal: AbortSignal): Promise<Change> {
    const p = this.applyNow(req, signal);
    let set = this.inflight.get(req.runId);
    if (!set) this.inflight.set(req.runId, (set = new Set()));
    set.add(p);
    const done = () => {
      set.delete(p);
      if (!set.size) this.inflight.delete(req.runId);
    };
    p.then(done, done);
    return p;
  }

  private async applyNow(req: ApplyRequest, signal: AbortSignal): Promise<Change> {
    const injector = getInjector(req.fault);
    if (!injector) throw new ApplyError(`unknown fault ${req.fault}`, null);
    if (req.target.kind !== injector.targetKind) throw new ApplyError(`${injector.name} acts on ${injector.targetKind} targets, not ${req.target.kind}`, null);
    if (signal.aborted) throw new ApplyError("aborted before the change was made", null);
    const target: Target = { ...req.target, host: req.target.host ?? HOST };
    // an injector whose available() takes the target is asked again for this one (a container that must exist, ...)
    if (injector.available.length > 0) {
      const a = await injector.available(target);
      if (!a.ok) throw new ApplyError(`${injector.name} is not available for ${targetLabel(target)}: ${a.reason}`, null);
    }
    let undo: unknown;
    try {
      undo = await injector.plan(target, req.params);
    } catch (e) {
      throw new ApplyError((e as Error).message, null);
    }
    if (signal.aborted) throw new ApplyError("aborted before the change was made", null);
    if (this.o.reaper !== false) await this.ensureReaper().catch((e: Error) => Promise.reject(new ApplyError(e.message, null)));
    const entry: ChangeEntry = {
      id: crypto.randomUUID(),
      runId: req.runId,
      step: req.step,
      fault: injector.name,
      targetName: req.targetName,
      node: req.node,
      target,
      params: req.params,
      undo,
      state: "pending",
      journaledAt: new Date().toISOString(),
      revertAt: req.revertAt?.toISOString(),
      revertAttempts: 0,
    };
    try {
      await this.journal.add(entry);
    } catch (e) {
      // never act on a change that is not on disk
      this.journal.doc.entries = this.journal.doc.entries.filter((x) => x !== entry);
      throw new ApplyError((e as Error).message, null);
    }
    this.emit({ type: "journaled", change: view(entry) });
    try {
      await injector.inject(target, req.params, { runId: req.runId, signal: AbortSignal.any([signal, AbortSignal.timeout(this.injectTimeoutMs)]), undo });
    } catch (e) {
      const error = (e as Error).message;
      entry.state = "to-revert";
      entry.error = error;
      void this.journal.save().catch((err: Error) => this.log.error("journal write failed", { error: err.message }));
      this.emit({ type: "inject-failed", change: view(entry), error });
      // the change may be half-applied: revert is idempotent, so revert and verify it now
      const v = await this.revert(entry.id);
      throw new ApplyError(v.ok ? error : `${error}; the partial change is NOT verified reverted (${v.detail}): it stays to revert`, view(entry));
    }
    entry.state = "injected";
    entry.injectedAt = new Date().toISOString();
    void this.journal.save().catch((err: Error) => this.log.error("journal write failed", { error: err.message }));
    this.emit({ type: "injected", change: view(entry) });
    return view(entry);
  }

  /** Revert one change and verify it, retrying with backoff until the deadline. Idempotent; concurrent callers share one revert. */
  revert(id: string): Promise<VerifyResult> {
    const running = this.reverting.get(id);
    if (running) return running;
    const e = this.journal.entry(id);
    if (!e) return Promise.resolve({ ok: false, detail: `no change ${id} in this host's journal` });
    if (!isOpen(e)) return Promise.resolve({ ok: true, detail: e.detail ?? "already reverted" });
    const p = this.revertNow(e).finally(() => this.reverting.delete(id));
    this.reverting.set(id, p);
    return p;
  }

  private async revertNow(e: ChangeEntry): Promise<VerifyResult> {
    const v = await revertEntry(e, this.deadlineMs);
    const written = this.journal.save().catch((err: Error) => this.log.error("journal write failed", { error: err.message }));
    // a holder that does not mirror forgets verified changes (the file goes with the last one)
    if (v.ok && !this.o.mirrored)
      void written.then(() => this.journal.prune(new Set([e.id]))).catch((err: Error) => this.log.error("journal write failed", { error: err.message }));
    this.emit(v.ok ? { type: "reverted", change: view(e), detail: v.detail } : { type: "revert-failed", change: view(e), detail: v.detail });
    if (v.ok) {
      for (const fn of this.closeWaiters.get(e.id) ?? []) fn();
      this.closeWaiters.delete(e.id);
    }
    return v;
  }

  /** Wait for the run's in-flight applies to settle (after its signal was aborted). */
  async settle(runId: string): Promise<void> {
    await Promise.allSettled([...(this.inflight.get(runId) ?? [])]);
  }

  /** Revert every open change of a run, after the run's in-flight applies have settled (the caller aborted their signal). */
  async revertRun(runId: string): Promise<VerifyResult[]> {
    await Promise.allSettled([...(this.inflight.get(runId) ?? [])]);
    return Promise.all(this.open(runId).map((c) => this.revert(c.id)));
  }

  /** HALT: every open change of this holder, of any run, in parallel. */
  async revertAll(): Promise<VerifyResult[]> {
    await Promise.allSettled([...this.inflight.values()].flatMap((s) => [...s]));
    return Promise.all(this.open().map((c) => this.revert(c.id)));
  }

  /** Forget reverted entries the mirror has recorded. */
  prune(ids: Iterable<string>): Promise<void> {
    return this.journal.prune(new Set(ids));
  }

  /** Stop the reaper (after a clean end: nothing left to revert) and write the journal a last time. */
  async close(): Promise<void> {
    await this.journal.save().catch(() => undefined);
    if (!this.open().length && !this.o.mirrored) fs.rmSync(this.journal.file, { force: true });
    this.reaper?.release();
    this.reaper = null;
  }
}

/**
 * Revert every open entry of a dead holder's journal. Entries that stay
 * unverified are handed to adopt() (a live executor takes them into its own
 * journal, so they block its runs and HALT retries them) before they leave
 * the dead file; the file goes when nothing is left that anyone needs.
 * Returns null when another live process holds the journal's lock.
 */
export async function recoverJournal(
  file: string,
  deadlineMs: number,
  o: {
    each?: (change: Change, ok: boolean, detail: string, holder: string) => void;
    adopt?: (entries: ChangeEntry[]) => Promise<void>;
    /** the caller takes a mirrored journal's entries for its database (else the file keeps them for whoever does) */
    takeMirror?: boolean;
  } = {},
): Promise<Recovered | null> {
  const unlock = lockJournal(file);
  if (!unlock) return null;
  try {
    let doc;
    try {
      doc = readJournal(file);
    } catch (e) {
      return { reverted: [], failed: [], mirror: [], problems: [`${file}: unreadable journal: ${(e as Error).message}`] };
    }
    const holder = `${doc.command} (pid ${doc.owner.pid})`;
    const out: Recovered = { reverted: [], failed: [], mirror: [], problems: [] };
    // reverse order: the last change made is undone first
    for (const e of [...doc.entries].reverse()) {
      if (!isOpen(e)) continue;
      const v = await revertEntry(e, deadlineMs);
      if (v.ok) out.reverted.push(view(e));
      else out.failed.push({ ...view(e), detail: v.detail });
      o.each?.(view(e), v.ok, v.detail, holder);
    }
    if (doc.mirrored) out.mirror = doc.entries.map(view);
    const stuck = doc.entries.filter(isOpen);
    if (stuck.length && o.adopt) {
      await o.adopt(stuck);
      doc.entries = doc.entries.filter((e) => !isOpen(e));
    }
    // once the mirror is handed over in `out.mirror`, a dead holder's file is only kept for what is still open
    if (doc.entries.some(isOpen) || (doc.mirrored && !o.takeMirror)) await writeDurable(file, doc);
    else fs.rmSync(file, { force: true });
    return out;
  } finally {
    unlock();
  }
}

export interface Recovered {
  reverted: Change[];
  failed: (Change & { detail: string })[];
  /** every entry of a mirrored journal, in its final state, for the database mirror */
  mirror: Change[];
  problems: string[];
}
