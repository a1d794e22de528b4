// Evidence of effect kept between a fault's revert and its effect(): what
// goes away with the revert (a cgroup's counters, a stopped state, the
// workers' CPU time) is read just before it goes and kept in a small file
// under $GAMEDAY_HOME/evidence, named by a key the undo carries (a tag, a
// PID and start time, a nonce chosen in plan()), so the reaper, which has
// only the journal, finds it too. effect() takes the file; a missing one is
// no evidence either way (null). Evidence never stands in the way of a
// revert: writing it never throws.
import fs from "node:fs";
import path from "node:path";
import { gamedayHome } from "../lib/paths";

// keys come from journaled undos: never a path of their own
const KEY_RE = /^[\w.:-]{1,200}$/;

function fileOf(key: string): string | null {
  return KEY_RE.test(key) ? path.join(gamedayHome(), "evidence", `${key}.json`) : null;
}

/** Write the evidence (atomically); with once, keep what an earlier call wrote (a revert retried after the counters went must not overwrite them). */
export function keepEvidence(key: string, data: unknown, o: { once?: boolean } = {}): void {
  const file = fileOf(key);
  if (!file) return;
  try {
    if (o.once && fs.existsSync(file)) return;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(data), { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
  } catch {
    // no evidence is better than a revert that failed for want of it
  }
}

/** The evidence as kept, left in place (inject's baseline read again by revert); null when there is none. */
export function readEvidence<T>(key: string): T | null {
  const file = fileOf(key);
  if (!file) return null;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return null;
  }
}

/** The evidence, removed once read. */
export function takeEvidence<T>(key: string): T | null {
  const e = readEvidence<T>(key);
  const file = fileOf(key);
  if (file) fs.rmSync(file, { force: true });
  return e;
}

/** Longer than any fault can hold (an experiment runs for at most 7 days), so a file this old was left by a revert whose effect() never came. */
export const EVIDENCE_MAX_AGE_MS = 8 * 24 * 3_600_000;

/**
 * Remove evidence nobody will take: files (and half-written .tmp files)
 * older than `maxAgeMs`. A revert that was never verified, or a holder that
 * died between its revert and effect(), leaves its file behind; every
 * executor start sweeps them. Returns how many went; never throws.
 */
export function sweepEvidence(maxAgeMs = EVIDENCE_MAX_AGE_MS, now = Date.now()): number {
  const dir = path.join(gamedayHome(), "evidence");
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.endsWith(".json") && !name.endsWith(".json.tmp")) continue;
    const file = path.join(dir, name);
    try {
      const st = fs.lstatSync(file);
      if (!st.isFile() || now - st.mtimeMs < maxAgeMs) continue;
      fs.rmSync(file, { force: true });
      removed++;
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

/** "1 process" / "2 processes" */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
