// A file a child process keeps rewriting with its latest counters for its
// parent to read (the DNS poisoner's stats, a proxy host's counts). Written
// off the event loop: a synchronous write to a busy disk stalls for tens of
// ms here, and the answers and delays the child owes wait behind it. Atomic
// (a temporary file, then rename), one write at a time, the newest text wins.
import fs from "node:fs";

export interface SnapshotWriter {
  /** Replace the file's text soon (a write in flight finishes first). */
  write(text: string): void;
  /** Resolves once the last text written has reached the file. */
  flush(): Promise<void>;
}

export function snapshotWriter(file: string): SnapshotWriter {
  let next: string | null = null;
  let busy: Promise<void> | null = null;
  const drain = async () => {
    while (next !== null) {
      const text = next;
      next = null;
      try {
        await fs.promises.writeFile(`${file}.tmp`, text);
        await fs.promises.rename(`${file}.tmp`, file);
      } catch {
        // the folder went away (a revert already cleaned up): nothing to report to
      }
    }
    busy = null;
  };
  return {
    write(text) {
      next = text;
      busy ??= drain();
    },
    flush: async () => {
      while (busy) await busy;
    },
  };
}
