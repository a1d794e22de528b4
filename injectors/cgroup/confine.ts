// Confining a process tree under a cgroup limit: the shared body of the CPU
// and memory limit faults (cgroup v1 or v2).
//
// Design (one for both versions): a limit is put on a NEW child cgroup
// `gameday-<fault>-<pid>-<starttime>` made under the target's current cgroup,
// and the target and those of its descendants that share its cgroup are moved
// into it. The target keeps every limit of its original cgroup (the child is
// nested inside it) and gets ours on top. Revert moves every process in the
// child back to the original cgroup and removes the child, so the original's
// own limit files are never written: they are restored exactly because they
// never changed, which verify() checks byte for byte.
//
// cgroup v2's "no internal processes" rule forbids enabling a controller below
// a non-root cgroup that holds processes, so there a child can carry the limit
// only when the target sits in the root cgroup (the controller is then enabled
// in the root's cgroup.subtree_control if needed, and disabled again after).
// Otherwise (v2, the usual case of a service or container leaf) the limit can
// only be written to the target's own cgroup — "in-place" — and that is
// allowed only when the cgroup is dedicated to the target: it holds the
// target's process tree and nothing else, none of it protected. A cgroup
// shared with other processes (under `make up` the demo, web app, worker and
// the operator's shell often share one scope) is refused with the reason:
// the limit would throttle the worker, or make the OOM killer pick it.
// In place, the controller is enabled in the parent's cgroup.subtree_control
// if needed; revert writes every recorded file back.
import fs from "node:fs";
import path from "node:path";
import { protectionReason, readProc, sameProcess } from "../../lib/procfs";
import { cgroupOf, findHierarchy, limitFiles, moveProcess, processTree, procsIn, removeFolder, setLimit, type Controller } from "./hierarchy";

export interface ConfineUndo {
  controller: Controller;
  pid: number;
  startTime: number;
  /** null: nothing could be planned (no hierarchy, process gone); revert is a no-op */
  version: 1 | 2 | null;
  mode: "child" | "in-place";
  /** the target's cgroup before the fault */
  original: string | null;
  /** the child cgroup holding the limit (mode child) */
  folder: string | null;
  /** every cgroup file the fault may change or depends on, by absolute path, as it was (null: absent) */
  files: Record<string, string | null>;
  /** the processes that shared the target's cgroup when planned, to check they went back */
  tree: { pid: number; startTime: number }[];
}

const FOLDER_PREFIX = "gameday-";
const SUBTREE = "cgroup.subtree_control";

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}
const enabledIn = (text: string | null | undefined, controller: Controller) => (text ?? "").split(/\s+/).includes(controller);

/**
 * Why a limit written to this cgroup would reach beyond the target's tree
 * (other processes, or protected ones, in it), or null when it holds just
 * the tree.
 */
export function sharedCgroupProblem(folder: string, tree: number[]): string | null {
  const mine = new Set(tree);
  const others = procsIn(folder).filter((p) => !mine.has(p));
  const protectedInTree = tree.map((p) => readProc(p)).filter((p) => p && protectionReason(p) !== null && p.pid !== tree[0]);
  if (!others.length && !protectedInTree.length) return null;
  const who = [...others.slice(0, 5).map((p) => `${readProc(p)?.comm ?? "?"}[${p}]`), ...protectedInTree.slice(0, 3).map((p) => `${p!.comm}[${p!.pid}] (protected)`)].join(", ");
  return `refusing: a limit in ${folder} would also hold ${others.length + protectedInTree.length} process(es) that are not the target's (${who}${others.length > 5 ? ", ..." : ""}); on cgroup v2 a limit needs a cgroup dedicated to the target (run it in its own, e.g. systemd-run --scope, or in a container), since a child cgroup cannot carry a controller where processes sit`;
}

/** Computed before anything changes (reads /proc and the cgroup files only); throws when the limit cannot be kept to the target's tree. */
export function planConfine(fault: string, controller: Controller, pid: number, startTime: number): ConfineUndo {
  const undo: ConfineUndo = { controller, pid, startTime, version: null, mode: "child", original: null, folder: null, files: {}, tree: [] };
  const h = findHierarchy(controller);
  if (!h || !sameProcess(pid, startTime)) return undo;
  const original = cgroupOf(pid, h);
  if (!original) return undo;
  undo.version = h.version;
  undo.original = original;
  const files = limitFiles(h).map((n) => path.join(original, n));
  if (h.version === 2) {
    if (original === h.mount) files.push(path.join(original, SUBTREE));
    else {
      undo.mode = "in-place";
      files.push(path.join(path.dirname(original), SUBTREE));
    }
  }
  if (undo.mode === "child") undo.folder = path.join(original, `${FOLDER_PREFIX}${fault}-${pid}-${startTime}`);
  undo.files = Object.fromEntries(files.map((f) => [f, readText(f)]));
  undo.tree = processTree(pid)
    .filter((p) => p === pid || cgroupOf(p, h) === original)
    .map((p) => ({ pid: p, startTime: readProc(p)?.startTime ?? -1 }))
    .filter((p) => p.startTime >= 0);
  if (undo.mode === "in-place") {
    const why = sharedCgroupProblem(original, undo.tree.map((t) => t.pid));
    if (why) throw new Error(why);
  }
  return undo;
}

/** v2: make the controller's files appear in the children of `dir`. */
function enableBelow(dir: string, controller: Controller): void {
  const file = path.join(dir, SUBTREE);
  if (enabledIn(readText(file), controller)) return;
  try {
    fs.writeFileSync(file, `+${controller}`);
  } catch (e) {
    throw new Error(`cannot enable the ${controller} controller in ${file}: ${(e as Error).message}`);
  }
}

/** Put the tree under the limit. `undo` must come from planConfine for the same target. */
export async function confine(undo: ConfineUndo, value: number): Promise<void> {
  const target = sameProcess(undo.pid, undo.startTime);
  if (!target) throw new Error(`process ${undo.pid} is gone or its PID was reused; nothing limited`);
  const why = protectionReason(target);
  if (why) throw new Error(`refusing to limit PID ${undo.pid}: ${why}`);
  const h = findHierarchy(undo.controller);
  if (!h || !undo.original || undo.version !== h.version) throw new Error(`no usable ${undo.controller} cgroup hierarchy on this host`);
  const now = cgroupOf(undo.pid, h);
  if (now !== undo.original) throw new Error(`PID ${undo.pid} moved from ${undo.original} to ${now} since the fault was planned`);
  if (path.basename(now).startsWith(FOLDER_PREFIX))
    throw new Error(`PID ${undo.pid} is already in ${now}, a Game Day limit (one ${undo.controller} limit per process at a time)`);

  if (undo.mode === "in-place") {
    // checked again: somebody may have joined the cgroup since the plan
    const why = sharedCgroupProblem(undo.original, processTree(undo.pid).filter((p) => cgroupOf(p, h) === undo.original));
    if (why) throw new Error(why);
    if (h.version === 2 && readText(path.join(undo.original, limitFiles(h)[0])) === null) enableBelow(path.dirname(undo.original), undo.controller);
    setLimit(h, undo.original, value);
    return;
  }
  const folder = undo.folder!;
  if (h.version === 2) enableBelow(undo.original, undo.controller);
  fs.mkdirSync(folder, { mode: 0o755 });
  setLimit(h, folder, value);
  // children forked while we move land where their parent is; a few passes catch them
  for (let pass = 0; pass < 3; pass++) {
    const left = processTree(undo.pid).filter((p) => {
      if (cgroupOf(p, h) !== undo.original) return false;
      const info = readProc(p);
      return info !== null && (p === undo.pid || protectionReason(info) === null);
    });
    if (left.length === 0) break;
    for (const p of left) moveProcess(folder, p);
  }
  if (cgroupOf(undo.pid, h) !== folder) throw new Error(`PID ${undo.pid} did not move into ${folder}`);
}

/** Undo confine() using only the plan; idempotent, safe after a crash. */
export async function release(undo: ConfineUndo): Promise<void> {
  if (!undo.original || undo.version === null) return;
  if (undo.folder && fs.existsSync(undo.folder)) {
    for (let pass = 0; pass < 20; pass++) {
      const pids = procsIn(undo.folder);
      if (pids.length === 0) break;
      for (const p of pids) moveProcess(undo.original, p);
    }
    await removeFolder(undo.folder);
  }
  // only in-place mode writes limit files (a child leaves the original's alone);
  // limit files first: disabling a controller removes them
  const entries = Object.entries(undo.files).sort(([a], [b]) => Number(a.endsWith(SUBTREE)) - Number(b.endsWith(SUBTREE)));
  for (const [file, was] of entries) {
    const is = readText(file);
    if (is === was) continue;
    if (file.endsWith(SUBTREE)) {
      if (!enabledIn(was, undo.controller) && enabledIn(is, undo.controller)) {
        try {
          fs.writeFileSync(file, `-${undo.controller}`);
        } catch {
          // another cgroup below uses the controller by now; verify reports the difference
        }
      }
    } else if (undo.mode === "in-place" && was !== null && is !== null) fs.writeFileSync(file, was.trim());
  }
}

/** The tree is back in its original cgroup, the child is gone, every recorded cgroup file is as it was. */
export function verifyReleased(undo: ConfineUndo): { ok: boolean; detail: string } {
  if (!undo.original || undo.version === null) return { ok: true, detail: `nothing was limited (PID ${undo.pid} had no ${undo.controller} cgroup when planned)` };
  const problems: string[] = [];
  if (undo.folder && fs.existsSync(undo.folder)) problems.push(`${undo.folder} still exists`);
  const h = findHierarchy(undo.controller);
  if (h) {
    for (const t of undo.tree) {
      if (!sameProcess(t.pid, t.startTime)) continue;
      const now = cgroupOf(t.pid, h);
      if (now !== null && now !== undo.original) problems.push(`PID ${t.pid} is in ${now}, not ${undo.original}`);
    }
  }
  for (const [file, was] of Object.entries(undo.files)) {
    const is = readText(file);
    if (is !== was) problems.push(`${file} is ${JSON.stringify(is)}, was ${JSON.stringify(was)}`);
  }
  if (problems.length) return { ok: false, detail: problems.join("; ") };
  const alive = undo.tree.filter((t) => sameProcess(t.pid, t.startTime)).length;
  const where = undo.mode === "child" ? `${alive} process(es) back in ${undo.original} (cgroup v${undo.version}, ${path.basename(undo.folder!)} removed)` : `limit of ${undo.original} restored (cgroup v2, in place)`;
  return { ok: true, detail: `${where}; ${Object.keys(undo.files).map((f) => path.basename(f)).join(", ")} as before` };
}
