// gameday disk-devourer — the Disk Devourer: fill the filesystem holding a
// directory (disk-fill), or load it with sustained writes (io-stress), for a
// duration; then delete every file it made. Journaled like every standalone
// CLI: Ctrl-C reverts at once, and a killed CLI is reverted by the next
// start of any CLI, `gameday recover`, or the worker.
import path from "node:path";
import { parseArgs } from "node:util";
import { formatDuration } from "../lib/duration";
import { formatSize } from "../lib/size";
import { ourBytes, type DiskUndo } from "../injectors/disk/files";
import { describeFs, fsInfo, resolveDir, type FsInfo } from "../injectors/disk/fs";
import { writtenBy } from "../injectors/load/children";
import { describeFill, diskFill, planFill, type DiskFillParams } from "../injectors/disk-fill";
import { ioFootprint, ioStress, type IoStressParams } from "../injectors/io-stress";
import type { AnyInjector, PathTarget } from "../injectors/types";
import type { ExecutorEvent } from "../agent/executor";
import { CliError } from "./client";
import { durationFlag, flagNumber, interruptible, parseParams, openExecutor, runFaults, stamp, STANDALONE_OPTIONS } from "./standalone";

const DEFAULT_DURATION = "60s";

const USAGE = `gameday disk-devourer — fill a filesystem, or load it with writes, for a while

Fill the filesystem holding DIR (fault disk-fill):
  gameday disk-devourer --path DIR (--fill P% | --size SIZE | --leave SIZE) [--rate SIZE/s]
  --fill P%          until the filesystem is P% used (as df's Use%), 0 < P ≤ 100
  --size SIZE        by SIZE bytes
  --leave SIZE       until only SIZE is left free
  --rate SIZE/s      at this rate (default: all at once with fallocate, or
                     zeros where the filesystem has no fallocate)

Load it with writes (fault io-stress):
  gameday disk-devourer io --path DIR [--bandwidth 20M/s] [--block-size 64K]
      [--pattern sequential|random] [--fsync-every 16] [--file-size 64M] [--workers 1]
  --bandwidth SIZE/s total write rate of all workers (default 20M/s)
  --block-size SIZE  bytes per write, 512 to 64M (default 64K)
  --pattern P        sequential (wrapping within each file) or random block offsets
                     (default sequential)
  --fsync-every N    fsync after every N writes; 0: never (default 16)
  --file-size SIZE   each worker's file (default 64M)
  --workers N        writer processes, 1 to 16 (default 1)

Both:
  --path DIR         an existing directory; files are created only directly in it
                     (symlinks resolved), named .gameday-disk-fill-<id>-<n> or
                     .gameday-io-stress-<id>-<n>, and deleted at the end
  --duration D       how long the fault stays in place (default ${DEFAULT_DURATION}); Ctrl-C ends it earlier
  --reserve SIZE     on the filesystem holding / or $GAMEDAY_HOME, never leave less
                     than SIZE free (default 512M)
  --force            allow going below the reserve
  --dry-run          say what would be written and the resulting usage; write nothing
  --json             one JSON event per line instead of text

Sizes: 4096, 64K, 512M, 1.5G (binary units). Durations: 500ms, 10s, 5m, 1h.
Exit 0 when every change was reverted, 1 on bad input, a refusal, or a failure.`;

const FILL_FLAGS = ["fill", "size", "leave", "rate"] as const;
const IO_FLAGS = ["bandwidth", "block-size", "pattern", "fsync-every", "file-size", "workers"] as const;

const FLAG_OF: Record<string, string> = {
  fillPercent: "--fill",
  size: "--size",
  leaveFree: "--leave",
  rate: "--rate",
  reserve: "--reserve",
  force: "--force",
  bandwidth: "--bandwidth",
  blockSize: "--block-size",
  pattern: "--pattern",
  fsyncEvery: "--fsync-every",
  fileSize: "--file-size",
  workers: "--workers",
};



const usage = (i: FsInfo) => ({ usedPercent: Number(i.usedPercent.toFixed(2)), usedBytes: i.usedBytes, freeBytes: i.freeBytes, totalBytes: i.totalBytes });

export async function main(argv: string[]): Promise<number> {
  const io = argv[0] === "io";
  const { values: f } = parseArgs({
    args: io ? argv.slice(1) : argv,
    strict: true,
    allowPositionals: false,
    options: {
      path: { type: "string" },
      fill: { type: "string" },
      size: { type: "string" },
      leave: { type: "string" },
      rate: { type: "string" },
      bandwidth: { type: "string" },
      "block-size": { type: "string" },
      pattern: { type: "string" },
      "fsync-every": { type: "string" },
      "file-size": { type: "string" },
      workers: { type: "string" },
      reserve: { type: "string" },
      force: { type: "boolean", default: false },
      ...STANDALONE_OPTIONS,
    },
  });
  if (f.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  for (const k of io ? FILL_FLAGS : IO_FLAGS)
    if (f[k] !== undefined) throw new CliError(`--${k}: only applies to ${io ? "filling (without io)" : "gameday disk-devourer io"}`);
  if (!f.path) throw new CliError("--path: give the directory whose filesystem to " + (io ? "load" : "fill"));
  let dir: string;
  try {
    dir = resolveDir(path.resolve(f.path));
  } catch (e) {
    throw new CliError(`--path: ${(e as Error).message}`);
  }
  const durationMs = durationFlag(f.duration as string | undefined, DEFAULT_DURATION, 1);

  let injector: AnyInjector;
  let params: DiskFillParams | IoStressParams;
  if (io) {
    injector = ioStress;
    params = parseParams<IoStressParams>(
      ioStress,
      strip({
        bandwidth: f.bandwidth,
        blockSize: f["block-size"],
        pattern: f.pattern,
        fsyncEvery: flagNumber(f["fsync-every"]),
        fileSize: f["file-size"],
        workers: flagNumber(f.workers),
        reserve: f.reserve,
        force: f.force,
      }),
      (k) => FLAG_OF[k] ?? `--${k}`,
    );
  } else {
    const modes = (["fill", "size", "leave"] as const).filter((k) => f[k] !== undefined);
    if (modes.length === 0) throw new CliError("choose how much to fill: --fill P%, --size SIZE or --leave SIZE");
    if (modes.length > 1) throw new CliError(`--${modes[1]}: give only one of --fill, --size and --leave`);
    injector = diskFill;
    params = parseParams<DiskFillParams>(
      diskFill,
      strip({ fillPercent: flagNumber(f.fill?.replace(/%$/, "")), size: f.size, leaveFree: f.leave, rate: f.rate, reserve: f.reserve, force: f.force }),
      (k) => FLAG_OF[k] ?? `--${k}`,
    );
  }
  const avail = await injector.available();
  if (!avail.ok) throw new CliError(`${injector.name} is not available here: ${avail.reason}`);

  const json = f.json;
  const emit = (event: string, text: string, data: Record<string, unknown> = {}) => {
    const now = new Date();
    process.stdout.write(json ? JSON.stringify({ ts: now.toISOString(), event, ...data, message: text }) + "\n" : `[${stamp(now)}] ${text}\n`);
  };
  const executor = f["dry-run"] ? null : await openExecutor(`disk-devourer ${io ? "io " : ""}${dir}`, (line) => emit("recovered", line));

  const target: PathTarget = { kind: "path", path: dir };
  const before = fsInfo(dir);
  const dry = f["dry-run"];
  const strategy = io ? describeIo(params as IoStressParams) : `${describeFill(params as DiskFillParams)} ${(params as DiskFillParams).rate ? `at ${formatSize((params as DiskFillParams).rate!)}/s` : "at once"}`;
  emit("start", `Target: ${dir}${dir !== f.path ? ` (given as ${f.path})` : ""} | Strategy: ${strategy} for ${formatDuration(durationMs)}${dry ? " (dry run)" : ""}`, {
    path: dir,
    fault: injector.name,
    params,
    durationMs,
  });
  const reserveNote = before.holds.length
    ? ` — holds ${before.holds.join(" and ")}: ${(params as { force: boolean }).force ? "--force given, no reserve kept" : `at least ${formatSize((params as { reserve: number }).reserve)} stays free`}`
    : "";
  emit("filesystem", `Filesystem before: ${describeFs(before)}${reserveNote}`, { mount: before.mount, ...usage(before), holds: before.holds });

  const files = `${dir}/.gameday-${injector.name}-<id>-<n>`;
  let announce: string;
  if (io) {
    const p = params as IoStressParams;
    const need = ioFootprint(p);
    const used = before.usedBytes + need;
    const free = Math.max(0, before.freeBytes - need);
    announce = `start ${p.workers} writer(s) at ${formatSize(Math.floor(p.bandwidth / p.workers))}/s each, ${formatSize(p.blockSize)} ${p.pattern} writes, ${p.fsyncEvery ? `fsync every ${p.fsyncEvery} writes` : "no fsync"}, into ${files}, up to ${formatSize(p.fileSize)} each (${formatSize(need)} in all) → at most ${((100 * used) / (used + free)).toFixed(1)}% used`;
  } else {
    const p = params as DiskFillParams;
    const plan = planFill(before, p);
    if (plan.refused) throw new CliError(`${plan.refused}; nothing written`);
    if (plan.bytes === 0) {
      emit("nothing", `Nothing to write: the filesystem is already ${before.usedPercent.toFixed(1)}% used with ${formatSize(before.freeBytes)} free.`);
      return 0;
    }
    const secs = p.rate ? plan.bytes / p.rate : 0;
    const late = p.rate && secs * 1000 > durationMs ? `; the fault ends after ${formatDuration(durationMs)}, before the fill completes (about ${Math.floor((100 * durationMs) / 1000 / secs)}% of it)` : "";
    announce = `write ${formatSize(plan.bytes)} ${p.rate ? `at ${formatSize(p.rate)}/s (about ${Math.ceil(secs)}s)` : "at once"} into ${files} → ${plan.after.usedPercent.toFixed(1)}% used, ${formatSize(plan.after.freeBytes)} free${late}`;
  }
  if (dry) {
    emit("dry-run", `DRY RUN: would ${announce}; nothing written.`, { dryRun: true });
    return 0;
  }

  // the journaled undo names exactly our files and writers, to report on them
  let undo: DiskUndo | null = null;
  const { signal, release } = interruptible((line) => emit("interrupt", line));
  let timer: NodeJS.Timeout | null = null;
  let peak = before.usedPercent;
  let revertAt = Infinity;
  const report = (last: { at: number; wrote: number }) => {
    // no usage lines once the revert has begun
    if (!undo || signal.aborted || Date.now() >= revertAt) return;
    const now = fsInfo(dir);
    peak = Math.max(peak, now.usedPercent);
    const mine = ourBytes(undo.dir, undo.prefix);
    if (io) {
      const wrote = writtenBy(undo.tag);
      // the first line comes right after the writers start: no rate yet
      const rate = last.at ? ((wrote - last.wrote) * 1000) / Math.max(1, Date.now() - last.at) : 0;
      last.at = Date.now();
      last.wrote = wrote;
      const speed = rate ? `${formatSize(Math.round(rate))}/s, ` : "";
      emit("usage", `Usage: ${now.usedPercent.toFixed(1)}% used, ${formatSize(now.freeBytes)} free | writers: ${speed}${formatSize(wrote)} written, files ${formatSize(mine)}`, {
        ...usage(now),
        ourBytes: mine,
        writtenBytes: wrote,
        bytesPerSecond: Math.round(rate),
      });
    } else {
      emit("usage", `Usage: ${now.usedPercent.toFixed(1)}% used, ${formatSize(now.freeBytes)} free | our files: ${formatSize(mine)}`, { ...usage(now), ourBytes: mine });
    }
  };
  const say = (line: string, event: string) => emit(event === "injected" || event === "reverted" ? event : "note", line);
  const onChange = (e: ExecutorEvent) => {
    if (e.type === "journaled") undo = e.change.undo as DiskUndo;
    if (e.type !== "injected") return;
    revertAt = Date.now() + durationMs;
    const last = { at: 0, wrote: 0 };
    report(last);
    timer = setInterval(() => report(last), Math.max(1000, Math.min(5000, durationMs / 4)));
  };
  emit("plan", `About to ${announce}`);
  let res;
  try {
    res = await runFaults(executor!, [{ injector, target, params }], durationMs, signal, say, { onChange });
  } finally {
    if (timer) clearInterval(timer);
    release();
    await executor!.close();
  }
  const after = fsInfo(dir);
  emit("filesystem", `Filesystem after revert: ${describeFs(after)}`, { ...usage(after) });
  emit(
    "done",
    `Done: ${res.completed ? `held for ${formatDuration(durationMs)}` : "stopped early"}, peak ${peak.toFixed(1)}% used, ${res.reverted} of ${res.injected} change(s) reverted${res.failures.length ? `, ${res.failures.length} failure(s): ${res.failures.join("; ")}` : ""}.`,
    { completed: res.completed, peakUsedPercent: Number(peak.toFixed(2)), failures: res.failures },
  );
  return res.failures.length ? 1 : 0;
}

function describeIo(p: IoStressParams): string {
  return `${p.pattern} writes of ${formatSize(p.blockSize)} at ${formatSize(p.bandwidth)}/s from ${p.workers} writer(s)`;
}

function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
