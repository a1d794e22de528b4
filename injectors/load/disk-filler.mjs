// Writes zeros into fresh files DIR/PREFIX0, PREFIX1, ... until BYTES are
// written (or the filesystem is full), optionally at RATE bytes per second.
// Started by injectors/disk-fill.ts with a tag in its command line; exits by
// itself when its parent dies, so a killed worker leaves no writer behind
// (the files stay until the journal's revert removes them).
// Before every chunk it checks the safety floor again (KEEP_FREE bytes free
// on the filesystem, KEEP_MEM bytes of MemAvailable for a tmpfs): reached,
// it stops and writes why into NOTE.
//   node disk-filler.mjs --tag T --parent PID --dir DIR --prefix P --bytes N [--rate B/s]
//        [--keep-free BYTES] [--keep-mem BYTES] [--note FILE]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: {
    tag: { type: "string" },
    parent: { type: "string" },
    dir: { type: "string" },
    prefix: { type: "string" },
    bytes: { type: "string" },
    rate: { type: "string" },
    "keep-free": { type: "string" },
    "keep-mem": { type: "string" },
    note: { type: "string" },
  },
});
const parent = Number(a.parent);
const total = Number(a.bytes);
const rate = a.rate === undefined ? 0 : Number(a.rate);
const keepFree = Number(a["keep-free"] ?? 0);
const keepMem = Number(a["keep-mem"] ?? 0);
if (!a.dir || !a.prefix || !Number.isSafeInteger(total) || total < 0 || !(rate >= 0) || !(parent > 0)) {
  process.stderr.write("disk-filler: bad arguments\n");
  process.exit(2);
}

setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 250);

// Files are capped so no single file hits a filesystem's file-size limit.
const FILE_MAX = 1024 ** 3;
const CHUNK = rate ? Math.max(4096, Math.min(1 << 20, Math.floor(rate / 20 / 4096) * 4096 || 4096)) : 1 << 20;
const SYNC_EVERY = 64 << 20;
const zeros = Buffer.alloc(CHUNK);
// O_EXCL + O_NOFOLLOW: never reuse or follow anything already at that name.
const FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

let written = 0;
let n = 0;
let fd = -1;
let inFile = 0;
let sinceSync = 0;
let budget = rate ? 0 : Infinity;
let last = performance.now();

function finish(code) {
  if (fd >= 0) {
    try {
      fs.fsyncSync(fd);
    } catch {
      /* the bytes are written; durability is best effort */
    }
    fs.closeSync(fd);
  }
  process.exit(code);
}

function memAvailable() {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) * 1024 : Infinity;
}

/** Why the next len bytes would cross the floor, or null. */
function floorReached(len) {
  if (keepFree > 0) {
    const s = fs.statfsSync(a.dir);
    const free = s.bavail * s.bsize;
    if (free - len < keepFree) return `the safety floor: ${free} bytes free, ${keepFree} must stay free`;
  }
  if (keepMem > 0) {
    const avail = memAvailable();
    if (avail - len < keepMem) return `the memory floor (tmpfs): ${avail} bytes of memory available, ${keepMem} must stay available`;
  }
  return null;
}

function stopAtFloor(why) {
  if (a.note) {
    try {
      fs.writeFileSync(a.note, `stopped at ${why}, after writing ${written} bytes of ${total}\n`, { flag: "wx", mode: 0o600 });
    } catch {
      /* the note is a courtesy; stopping is what matters */
    }
  }
  finish(0);
}

function tick() {
  const now = performance.now();
  if (rate) budget = Math.min(budget + (rate * (now - last)) / 1000, Math.max(rate, CHUNK));
  last = now;
  // bounded slice so the parent check above gets its turn
  const sliceEnd = now + 100;
  while (written < total && budget >= Math.min(CHUNK, total - written) && performance.now() < sliceEnd) {
    if (fd < 0 || inFile >= FILE_MAX) {
      if (fd >= 0) fs.closeSync(fd);
      fd = fs.openSync(path.join(a.dir, `${a.prefix}${n++}`), FLAGS, 0o600);
      inFile = 0;
    }
    let len = Math.min(CHUNK, total - written, FILE_MAX - inFile);
    const floor = floorReached(len);
    if (floor) stopAtFloor(floor);
    try {
      len = fs.writeSync(fd, zeros, 0, len); // short near the end of the space
    } catch (e) {
      if (e.code === "ENOSPC") finish(0); // full: nothing more to take
      process.stderr.write(`disk-filler: ${e.message}\n`);
      finish(1);
    }
    written += len;
    inFile += len;
    budget -= len;
    sinceSync += len;
    if (sinceSync >= SYNC_EVERY) {
      fs.fdatasyncSync(fd);
      sinceSync = 0;
    }
  }
  if (written >= total) finish(0);
  setTimeout(tick, rate ? 50 : 0);
}
tick();
