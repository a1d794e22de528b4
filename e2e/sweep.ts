// What a killed `make test` leaves behind, swept at the start of the next one
// (scripts/test.sh runs this file): tmpfs mounts, cgroup folders, stopped or
// still running victims, temporary homes, test namespaces, and containers a
// killed container demo or test left on the machine's Docker engine. Other
// people's test runs may be going on at the same time, so only what belongs to a
// process that is gone is touched: a name carrying a dead PID, a victim with no
// node process above it, an empty cgroup folder nobody made in the last minute,
// a temporary folder no live process uses.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { listProcesses, sameProcess, type ProcInfo } from "../lib/procfs";
import { cgroup2Root } from "../injectors/net-fault";
import { SYSTEM_DOCKER_SOCKET } from "../lib/dockerd";
import { OWNER_LABEL } from "../demo/containers";
import { TEST_LABEL } from "./docker";
import { sweepStaleTestNets } from "./netns";

/** How long an ownerless gameday-* cgroup folder must have been there (a live fault makes it just before moving its process in). */
const CGROUP_MIN_AGE_MS = 60_000;
/** How long a temporary folder with no owner in its name must have been left alone (older kits did not name the owner). */
const TMP_UNNAMED_MIN_AGE_MS = 30 * 60_000;

export interface SweepReport {
  mounts: string[];
  cgroups: string[];
  processes: string[];
  dirs: string[];
  netns: string[];
  containers: string[];
  /** what was left on purpose, and why */
  kept: string[];
  /** only say what would go */
  dryRun: boolean;
}

const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);
const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code;

function mountinfo(): { source: string; mount: string; fstype: string }[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .flatMap((line) => {
      const [left, right] = line.split(" - ");
      if (!right) return [];
      const [fstype, source] = right.split(" ");
      return [{ source: unescape(source), mount: unescape(left.split(" ")[4]), fstype }];
    });
}

/** A process counts as a test's while some node process (a test file, the runner) is above it. */
function ownedByNode(p: ProcInfo, byPid: Map<number, ProcInfo>): boolean {
  for (let q = byPid.get(p.ppid), n = 0; q && q.pid > 1 && n < 64; q = byPid.get(q.ppid), n++) if (q.comm === "node") return true;
  return false;
}

/** tmpfs mounts e2e/kit.ts mountTmpfs() made (source gameday-test-<pid>) for a process that is gone. */
function sweepMounts(r: SweepReport): void {
  for (const m of mountinfo()) {
    const own = /^gameday-test-(\d+)$/.exec(m.source);
    if (m.fstype !== "tmpfs" || !own || alive(Number(own[1]))) continue;
    // load generators still writing there (disk-fill, io-stress) go first
    if (r.dryRun) {
      r.mounts.push(m.mount);
      continue;
    }
    for (const p of listProcesses()) if (p.cmdline.includes(m.mount + path.sep) && /injectors\/load\/[\w-]+\.mjs/.test(p.cmdline)) kill(p.pid, "SIGKILL");
    if (spawnSync("umount", [m.mount]).status !== 0 && spawnSync("umount", ["-l", m.mount]).status !== 0) {
      r.kept.push(`${m.mount} (umount failed)`);
      continue;
    }
    try {
      fs.rmdirSync(m.mount);
    } catch {
      // not empty or already gone: the temp folder rule below decides
    }
    r.mounts.push(m.mount);
  }
}

function kill(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Test victims whose test is gone: the kit's marked sleeps (`sleep 3600.<tag>`), busy loops
 * marked with a test's PID (`: gdcli<pid>…`, `: gdv<pid>x…`), and programs run from a temporary
 * gameday-* folder (the sniper's renamed sleeps). Stopped ones are CONTinued first, then all are killed.
 */
function sweepVictims(r: SweepReport): void {
  const all = listProcesses().filter((p) => p.state !== "Z" && p.state !== "X");
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const tmpRoots = [os.tmpdir(), "/var/tmp"].map((d) => path.join(d, "gameday-"));
  for (const p of all) {
    const marked = /^sleep 3600\.\d+$/.test(p.cmdline) || tmpRoots.some((t) => p.cmdline.startsWith(t));
    const loop = /^sh -c : (?:gdcli|gdv)(\d+)[a-z]/.exec(p.cmdline);
    const orphan = loop ? !alive(Number(loop[1])) && !ownedByNode(p, byPid) : marked && !ownedByNode(p, byPid);
    if (!orphan) continue;
    const stopped = p.state === "T" || p.state === "t";
    if (r.dryRun) {
      r.processes.push(`${p.pid} (${p.cmdline.slice(0, 60)}${stopped ? ", stopped" : ""})`);
      continue;
    }
    if (stopped) kill(p.pid, "SIGCONT");
    if (kill(p.pid, "SIGKILL")) r.processes.push(`${p.pid} (${p.cmdline.slice(0, 60)}${stopped ? ", was stopped" : ""})`);
  }
}

/** Every cgroup mount (v1 hierarchies and the v2 one, wherever the product finds it). */
function cgroupRoots(): string[] {
  const roots = new Set(mountinfo().filter((m) => m.fstype === "cgroup" || m.fstype === "cgroup2").map((m) => m.mount));
  const v2 = cgroup2Root();
  if (fs.existsSync(path.join(v2, "cgroup.procs"))) roots.add(v2);
  return [...roots];
}

function emptyCgroup(dir: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").trim() === "" && !fs.readdirSync(dir, { withFileTypes: true }).some((e) => e.isDirectory());
  } catch {
    return false;
  }
}

/**
 * gameday-test-…-<pid> folders of a test that is gone, and gameday-* folders (a latency proxy's,
 * a cpu/memory limit's) nobody is in: empty, made more than a minute ago, and, for a limit, its
 * process gone. A folder with a process in it is never removed (rmdir would refuse anyway).
 */
function sweepCgroups(r: SweepReport, now: number): void {
  const visit = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const sub = path.join(dir, e.name);
      if (depth < 8) visit(sub, depth + 1);
      if (!e.name.startsWith("gameday-")) continue;
      const test = /^gameday-test-(?:[a-z]+-)*(\d+)$/.exec(e.name);
      const limit = /^gameday-[a-z]+-limit-(\d+)-(\d+)$/.exec(e.name);
      let removable: boolean;
      if (test) removable = !alive(Number(test[1]));
      else if (limit) removable = !sameProcess(Number(limit[1]), Number(limit[2]));
      else {
        let age = 0;
        try {
          const st = fs.statSync(sub);
          age = now - Math.max(st.mtimeMs, st.ctimeMs);
        } catch {
          continue;
        }
        removable = age > CGROUP_MIN_AGE_MS;
      }
      if (!removable || !emptyCgroup(sub)) continue;
      if (r.dryRun) {
        r.cgroups.push(sub);
        continue;
      }
      try {
        fs.rmdirSync(sub);
        r.cgroups.push(sub);
      } catch (err) {
        if (errCode(err) !== "ENOENT") r.kept.push(`${sub} (${errCode(err)})`);
      }
    }
  };
  for (const root of cgroupRoots()) visit(root, 0);
}

/** Every path a live process works in, has open, runs from or was given as GAMEDAY_HOME. */
function pathsInUse(): string[] {
  const used: string[] = [];
  for (const p of listProcesses()) {
    if (p.pid === process.pid) continue;
    for (const l of ["cwd", "root", "exe"]) {
      try {
        used.push(fs.readlinkSync(`/proc/${p.pid}/${l}`));
      } catch {
        // gone or not ours to read
      }
    }
    try {
      for (const fd of fs.readdirSync(`/proc/${p.pid}/fd`)) {
        try {
          used.push(fs.readlinkSync(`/proc/${p.pid}/fd/${fd}`));
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // gone
    }
    used.push(p.cmdline);
    try {
      used.push(...fs.readFileSync(`/proc/${p.pid}/environ`, "utf8").split("\0").filter((v) => v.startsWith("GAMEDAY_")));
    } catch {
      // gone
    }
  }
  return used;
}

/** The newest change in a folder and the folders just below it. */
function lastChange(dir: string): number {
  let t = fs.statSync(dir).mtimeMs;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    try {
      t = Math.max(t, fs.statSync(path.join(dir, e.name)).mtimeMs);
    } catch {
      // removed meanwhile
    }
  }
  return t;
}

/** Journal entries a home still holds (a killed CLI or worker whose reaper died too). */
const openJournal = (home: string) => {
  const j = path.join(home, "journal");
  return fs.existsSync(j) ? fs.readdirSync(j).filter((n) => n.endsWith(".json")) : [];
};

/**
 * Temporary gameday-* folders (homes, fixtures, mount points) under the temp dirs whose owner is
 * gone: named <prefix>pid<PID>-XXXXXX by e2e/kit.ts, or unnamed and untouched for half an hour;
 * in either case used by no live process. A home whose journal still has entries is recovered
 * first (`gameday recover`), and kept if that does not empty it.
 */
function sweepTempDirs(r: SweepReport, now: number): void {
  const used = pathsInUse();
  const mounts = new Set(mountinfo().map((m) => m.mount));
  for (const root of [os.tmpdir(), "/var/tmp"]) {
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const name of names) {
      // gameday-self is the machine-wide registry of Game Day's own processes, not a test's
      if (!/^gameday-[a-z0-9-]*[A-Za-z0-9]{6}$/.test(name) || name === "gameday-self") continue;
      const dir = path.join(root, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(dir);
      } catch {
        continue;
      }
      if (!st.isDirectory() || mounts.has(dir)) continue;
      const owner = /-pid(\d+)-[A-Za-z0-9]{6}$/.exec(name);
      if (owner ? alive(Number(owner[1])) : now - lastChange(dir) < TMP_UNNAMED_MIN_AGE_MS) continue;
      if (used.some((u) => u === dir || u.startsWith(dir + path.sep) || u.includes(dir + path.sep) || u.endsWith("=" + dir))) continue;
      if (r.dryRun) {
        r.dirs.push(dir);
        continue;
      }
      // a killed private dockerd leaves its netns bind mount and overlays in its folder
      for (const m of [...mounts].filter((m) => m.startsWith(dir + path.sep)).sort((a, b) => b.length - a.length)) spawnSync("umount", ["-l", m]);
      if (openJournal(dir).length) {
        spawnSync(process.execPath, [path.resolve(import.meta.dirname, "../bin/gameday.mjs"), "recover"], { env: { ...process.env, GAMEDAY_HOME: dir }, stdio: "ignore", timeout: 60_000 });
        if (openJournal(dir).length) {
          r.kept.push(`${dir} (journal entries left after gameday recover)`);
          continue;
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
      r.dirs.push(dir);
    }
  }
}

/**
 * Containers labelled with an owner PID (the container demo's gameday.demo.owner, a test's
 * gameday.test) whose owner is gone, on a Docker engine of this host: by default the machine's
 * own (private engines die with whoever started them, their containers with them).
 */
export function sweepContainers(r: SweepReport, engine = `unix://${SYSTEM_DOCKER_SOCKET}`): void {
  if (engine.startsWith("unix://") && !fs.existsSync(engine.slice("unix://".length))) return;
  const docker = (args: string[]) => spawnSync("docker", ["-H", engine, ...args], { encoding: "utf8", timeout: 20_000 });
  for (const label of [OWNER_LABEL, TEST_LABEL]) {
    const ls = docker(["ps", "-a", "--filter", `label=${label}`, "--format", `{{.ID}} {{.Names}} {{.Label "${label}"}}`]);
    if (ls.status !== 0) {
      r.kept.push(`containers labelled ${label} on ${engine} (docker ps: ${ls.error?.message ?? ls.stderr.trim().split("\n")[0]})`);
      continue;
    }
    for (const [id, name, owner] of ls.stdout.split("\n").filter(Boolean).map((l) => l.split(" "))) {
      if (!/^\d+$/.test(owner ?? "") || alive(Number(owner))) continue;
      if (r.dryRun) {
        r.containers.push(name);
        continue;
      }
      const rm = docker(["rm", "-f", id]);
      if (rm.status === 0) r.containers.push(name);
      else r.kept.push(`container ${name} (docker rm: ${rm.error?.message ?? rm.stderr.trim().split("\n")[0]})`);
    }
  }
}

export function sweep(opts: { dryRun?: boolean; now?: number } = {}): SweepReport {
  const now = opts.now ?? Date.now();
  const r: SweepReport = { mounts: [], cgroups: [], processes: [], dirs: [], netns: [], containers: [], kept: [], dryRun: !!opts.dryRun };
  sweepContainers(r);
  sweepVictims(r);
  sweepMounts(r);
  sweepCgroups(r, now);
  if (!r.dryRun) r.netns.push(...sweepStaleTestNets());
  sweepTempDirs(r, now);
  return r;
}

/** One line: what was removed (counts, and the first few names), and what was kept and why. */
export function sweepLine(r: SweepReport): string {
  const part = (list: string[], what: string, name: (x: string) => string = (x) => path.basename(x)) =>
    list.length ? `${list.length} ${what}${list.length === 1 ? "" : "s"} (${list.slice(0, 3).map(name).join(", ")}${list.length > 3 ? ", …" : ""})` : "";
  const removed = [
    part(r.processes, "leftover victim", (x) => x),
    part(r.mounts, "tmpfs mount"),
    part(r.cgroups, "cgroup folder"),
    part(r.netns, "test namespace"),
    part(r.containers, "leftover container", (x) => x),
    part(r.dirs, "temporary folder"),
  ].filter(Boolean);
  const kept = r.kept.length ? `; kept ${r.kept.join(", ")}` : "";
  return `sweep: ${removed.length ? `${r.dryRun ? "would remove" : "removed"} ${removed.join(", ")}` : "nothing left by an earlier run"}${kept}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) console.log(sweepLine(sweep({ dryRun: process.argv.includes("--dry-run") })));
