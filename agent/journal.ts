// The write-ahead journal of the changes made on this host: the one record
// that decides what is still in place. One JSON file per holder process
// (worker, standalone CLI, later the agent) under $GAMEDAY_HOME/journal
// (0700), each file 0600, written to a temporary file, fsynced and renamed
// before the change it announces is applied. The database keeps a mirror of
// the run record; this file is what a reaper or the next start reverts from.
import fs from "node:fs";
import path from "node:path";
import { gamedayHome } from "../lib/paths";
import { readProc, sameProcess } from "../lib/procfs";
import type { Effect, Target } from "../injectors/types";

/**
 * pending: journaled, inject not finished (may be half-applied);
 * injected: in place; to-revert: an inject failed or a revert was not
 * verified, it must still be reverted; reverted: revert verified.
 */
export type ChangeState = "pending" | "injected" | "to-revert" | "reverted";

export interface ChangeEntry {
  /** also the id of the run record's fault row */
  id: string;
  runId: string;
  step: number;
  fault: string;
  /** the experiment's target name (e.g. "api") */
  targetName: string;
  node?: string;
  target: Target;
  params: unknown;
  /** what plan() returned: all revert needs */
  undo: unknown;
  state: ChangeState;
  /** ISO times */
  journaledAt: string;
  revertAt?: string;
  injectedAt?: string;
  revertedAt?: string;
  revertAttempts: number;
  /** the last inject or revert error */
  error?: string;
  /** verify()'s last word */
  detail?: string;
  /** what the change touched (the injector's effect(), read after the revert) */
  effect?: Effect;
}

export interface JournalDoc {
  version: 2;
  owner: { pid: number; startTime: number };
  command: string;
  /** a database mirrors these entries: keep reverted ones until the holder's next start has synced them */
  mirrored: boolean;
  createdAt: string;
  entries: ChangeEntry[];
}

export function journalDir(): string {
  return path.join(gamedayHome(), "journal");
}

export const isOpen = (e: Pick<ChangeEntry, "state">) => e.state !== "reverted";

/** Write doc to file durably: temporary file, fsync, rename, fsync the folder. */
export async function writeDurable(file: string, doc: JournalDoc): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await fs.promises.open(tmp, "w", 0o600);
  try {
    await fh.writeFile(JSON.stringify(doc, null, 1));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  const dh = await fs.promises.open(path.dirname(file), "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Read a journal file; version-1 files (standalone CLIs before the executor) are upgraded in memory. */
export function readJournal(file: string): JournalDoc {
  const raw = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<JournalDoc> & { entries?: Partial<ChangeEntry>[] };
  if (!raw.owner || !Array.isArray(raw.entries)) throw new Error("not a journal (no owner or entries)");
  return {
    version: 2,
    owner: raw.owner,
    command: raw.command ?? "?",
    mirrored: raw.mirrored ?? false,
    createdAt: raw.createdAt ?? new Date(0).toISOString(),
    entries: raw.entries.map((e, i) => ({
      id: e.id ?? `${path.basename(file, ".json")}#${i}`,
      runId: e.runId ?? `cli-${raw.owner!.pid}`,
      step: e.step ?? 0,
      fault: e.fault ?? "?",
      targetName: e.targetName ?? "",
      node: e.node,
      target: e.target as Target,
      params: e.params ?? {},
      undo: e.undo,
      state: (e.state as ChangeState) ?? "pending",
      journaledAt: e.journaledAt ?? raw.createdAt ?? new Date(0).toISOString(),
      revertAt: e.revertAt,
      injectedAt: e.injectedAt,
      revertedAt: e.revertedAt,
      revertAttempts: e.revertAttempts ?? 0,
      error: e.error,
      detail: e.detail,
      // what a reaper's revert read as the evidence: the next start puts it in the run record
      ...(e.effect ? { effect: e.effect } : {}),
    })),
  };
}

let instances = 0;

/** The journal of the running process. Writes are serialised; save() resolves once the state it was called with is on disk. */
export class HostJournal {
  readonly file: string;
  readonly doc: JournalDoc;
  private writing: Promise<void> | null = null;
  private again = false;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(command: string, opts: { dir?: string; mirrored?: boolean } = {}) {
    const me = readProc(process.pid);
    if (!me) throw new Error("cannot read /proc/self; is /proc mounted?");
    const dir = opts.dir ?? journalDir();
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    // a second executor in one process (tests, a CLI that runs twice) gets a file of its own
    const n = instances++;
    this.file = path.join(dir, `${me.pid}-${me.startTime}${n ? `-${n}` : ""}.json`);
    this.doc = { version: 2, owner: { pid: me.pid, startTime: me.startTime }, command, mirrored: !!opts.mirrored, createdAt: new Date().toISOString(), entries: [] };
  }

  get dir(): string {
    return path.dirname(this.file);
  }

  entry(id: string): ChangeEntry | undefined {
    return this.doc.entries.find((e) => e.id === id);
  }

  add(e: ChangeEntry): Promise<void> {
    this.doc.entries.push(e);
    return this.save();
  }

  update(id: string, patch: Partial<ChangeEntry>): Promise<void> {
    const e = this.entry(id);
    if (e) Object.assign(e, patch);
    return this.save();
  }

  /** Forget reverted entries (once their mirror, if any, has them). */
  prune(ids: ReadonlySet<string>): Promise<void> {
    const before = this.doc.entries.length;
    this.doc.entries = this.doc.entries.filter((e) => isOpen(e) || !ids.has(e.id));
    return this.doc.entries.length === before ? Promise.resolve() : this.save();
  }

  save(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (this.writing) this.again = true;
      else this.flush();
    });
  }

  private flush(): void {
    const batch = this.waiters;
    this.waiters = [];
    this.again = false;
    // an empty journal needs no file: nothing to revert
    const write = this.doc.entries.length ? writeDurable(this.file, this.doc) : fs.promises.rm(this.file, { force: true });
    this.writing = write.then(
      () => batch.forEach((w) => w.resolve()),
      (e: Error) => batch.forEach((w) => w.reject(new Error(`journal write failed (${this.file}): ${e.message}`))),
    );
    void this.writing.then(() => {
      this.writing = null;
      if (this.again || this.waiters.length) this.flush();
    });
  }
}

/** Journal files in dir with their owner's state. */
export function listJournals(dir = journalDir()): { file: string; owner: { pid: number; startTime: number }; alive: boolean }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: { file: string; owner: { pid: number; startTime: number }; alive: boolean }[] = [];
  for (const n of names) {
    const m = /^(\d+)-(\d+)(?:-\d+)?\.json$/.exec(n);
    if (!m) continue;
    const owner = { pid: Number(m[1]), startTime: Number(m[2]) };
    out.push({ file: path.join(dir, n), owner, alive: !!sameProcess(owner.pid, owner.startTime) });
  }
  return out;
}

/**
 * Remove partial writes (`.tmp`) of owners that are gone: the .json beside
 * one (if any) holds the last durable state, and a first write that died
 * there had applied nothing yet (write-ahead).
 */
export function sweepPartialWrites(dir = journalDir()): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^(\d+)-(\d+)(?:-\d+)?\.json\.tmp$/.exec(n);
    if (m && !sameProcess(Number(m[1]), Number(m[2]))) fs.rmSync(path.join(dir, n), { force: true });
  }
}

/**
 * Take the right to revert a dead owner's journal: a lock file made with
 * O_EXCL naming us; a lock whose holder is gone is broken. Returns the
 * release function, or null when a live process holds it.
 */
export function lockJournal(file: string): (() => void) | null {
  const lock = `${file}.lock`;
  const me = readProc(process.pid);
  const mine = `${process.pid} ${me?.startTime ?? 0}`;
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(lock, mine, { flag: "wx", mode: 0o600 });
      return () => {
        try {
          if (fs.readFileSync(lock, "utf8") === mine) fs.rmSync(lock, { force: true });
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let holder: string;
      try {
        holder = fs.readFileSync(lock, "utf8");
      } catch {
        continue;
      }
      const [pid, start] = holder.split(" ").map(Number);
      if (pid && sameProcess(pid, start)) return null;
      fs.rmSync(lock, { force: true });
    }
  }
  return null;
}
