// The journal of a standalone CLI (gameday sniper, disk-devourer, stress, ...):
// the same write-ahead rule as the worker's database journal, kept in one JSON
// file per CLI process under $GAMEDAY_HOME/journal. A change is written and
// fsynced before it is applied; the file is removed once everything in it is
// reverted. A file whose owner process is gone (SIGKILL, crash, power loss) is
// replayed by the next CLI start, `gameday recover`, or the worker's start-up.
import fs from "node:fs";
import path from "node:path";
import { gamedayHome } from "./paths";
import { readProc, sameProcess } from "./procfs";
import type { Target } from "../injectors/types";
import { getInjector, targetLabel } from "../injectors";

export interface LocalEntry {
  fault: string;
  target: Target;
  undo: unknown;
  state: "pending" | "injected" | "reverted";
}

interface JournalFile {
  owner: { pid: number; startTime: number };
  command: string;
  createdAt: string;
  entries: LocalEntry[];
}

export function journalDir(): string {
  return path.join(gamedayHome(), "journal");
}

function writeDurable(file: string, doc: JournalFile): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(doc, null, 1));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

export class LocalJournal {
  private readonly file: string;
  private readonly doc: JournalFile;

  constructor(command: string) {
    const me = readProc(process.pid);
    if (!me) throw new Error("cannot read /proc/self; is /proc mounted?");
    fs.mkdirSync(journalDir(), { recursive: true, mode: 0o700 });
    this.file = path.join(journalDir(), `${me.pid}-${me.startTime}.json`);
    this.doc = { owner: { pid: me.pid, startTime: me.startTime }, command, createdAt: new Date().toISOString(), entries: [] };
  }

  /** Record intent before the change; returns the entry's index. */
  begin(fault: string, target: Target, undo: unknown): number {
    this.doc.entries.push({ fault, target, undo, state: "pending" });
    writeDurable(this.file, this.doc);
    return this.doc.entries.length - 1;
  }

  mark(i: number, state: LocalEntry["state"]): void {
    this.doc.entries[i].state = state;
    if (this.doc.entries.every((e) => e.state === "reverted")) this.close();
    else writeDurable(this.file, this.doc);
  }

  /** Entries whose change may still be in place. */
  open(): { index: number; entry: LocalEntry }[] {
    return this.doc.entries.map((entry, index) => ({ index, entry })).filter((x) => x.entry.state !== "reverted");
  }

  /** Everything reverted: forget the file. */
  close(): void {
    if (this.doc.entries.some((e) => e.state !== "reverted")) {
      writeDurable(this.file, this.doc);
      return;
    }
    fs.rmSync(this.file, { force: true });
  }
}

export interface RecoveryReport {
  reverted: { fault: string; target: string; detail: string }[];
  failed: { fault: string; target: string; detail: string }[];
  /** journals whose owner still runs, left alone */
  live: number;
}

/** Revert every change recorded by a standalone CLI that is no longer running. */
export async function recoverLocalJournals(dir = journalDir()): Promise<RecoveryReport> {
  const report: RecoveryReport = { reverted: [], failed: [], live: 0 };
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch {
    return report;
  }
  // a `.tmp` is a write that never reached its rename: the .json beside it (if any) holds the last durable
  // state, and a first write that died here had applied nothing yet (write-ahead)
  for (const tmp of fs.readdirSync(dir).filter((n) => n.endsWith(".json.tmp"))) {
    const m = /^(\d+)-(\d+)\.json\.tmp$/.exec(tmp);
    if (m && !sameProcess(Number(m[1]), Number(m[2]))) fs.rmSync(path.join(dir, tmp), { force: true });
  }
  for (const name of names) {
    const file = path.join(dir, name);
    let doc: JournalFile;
    try {
      doc = JSON.parse(fs.readFileSync(file, "utf8")) as JournalFile;
    } catch (e) {
      report.failed.push({ fault: "?", target: file, detail: `unreadable journal: ${(e as Error).message}` });
      continue;
    }
    if (sameProcess(doc.owner.pid, doc.owner.startTime)) {
      report.live++;
      continue;
    }
    let allOk = true;
    for (const entry of doc.entries) {
      if (entry.state === "reverted") continue;
      const injector = getInjector(entry.fault);
      const label = targetLabel(entry.target);
      if (!injector) {
        allOk = false;
        report.failed.push({ fault: entry.fault, target: label, detail: "unknown fault in journal" });
        continue;
      }
      try {
        await injector.revert(entry.target, entry.undo);
        const v = await injector.verify(entry.target, entry.undo);
        if (!v.ok) throw new Error(v.detail);
        entry.state = "reverted";
        report.reverted.push({ fault: entry.fault, target: label, detail: v.detail });
      } catch (e) {
        allOk = false;
        report.failed.push({ fault: entry.fault, target: label, detail: (e as Error).message });
      }
    }
    if (allOk) fs.rmSync(file, { force: true });
    else writeDurable(file, doc);
  }
  return report;
}
