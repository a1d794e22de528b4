// Sustained write load on one file: BLOCK-sized writes at RATE bytes per
// second, sequential (wrapping at FILE_SIZE) or at random block offsets, with
// an fsync every N writes. Runs until killed; started by injectors/io-stress.ts
// with a tag in its command line and exits by itself when its parent dies.
//   node io-writer.mjs --tag T --parent PID --file F --file-size S --block-size B
//        --rate B/s --pattern sequential|random --fsync-every N
import fs from "node:fs";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: {
    tag: { type: "string" },
    parent: { type: "string" },
    file: { type: "string" },
    "file-size": { type: "string" },
    "block-size": { type: "string" },
    rate: { type: "string" },
    pattern: { type: "string" },
    "fsync-every": { type: "string" },
  },
});
const parent = Number(a.parent);
const block = Number(a["block-size"]);
const blocks = Math.floor(Number(a["file-size"]) / block);
const rate = Number(a.rate);
const fsyncEvery = Number(a["fsync-every"]);
const random = a.pattern === "random";
if (!a.file || !(parent > 0) || !(block > 0) || !(blocks >= 1) || !(rate > 0) || !(fsyncEvery >= 0)) {
  process.stderr.write("io-writer: bad arguments\n");
  process.exit(2);
}

setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 250);

// O_EXCL + O_NOFOLLOW: never reuse or follow anything already at that name.
const fd = fs.openSync(a.file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
const buf = Buffer.alloc(block, 0x5a);
let next = 0;
let writes = 0;
let budget = 0;
let last = performance.now();

function tick() {
  const now = performance.now();
  // at most a second of catch-up after a stall, so the rate holds on average
  budget = Math.min(budget + (rate * (now - last)) / 1000, Math.max(rate, block));
  last = now;
  const sliceEnd = now + 100;
  while (budget >= block && performance.now() < sliceEnd) {
    const at = (random ? Math.floor(Math.random() * blocks) : next) * block;
    next = (next + 1) % blocks;
    try {
      fs.writeSync(fd, buf, 0, block, at);
    } catch (e) {
      if (e.code !== "ENOSPC") throw e;
      break; // full: keep the pressure on and try again next tick
    }
    budget -= block;
    if (fsyncEvery && ++writes % fsyncEvery === 0) fs.fsyncSync(fd);
  }
  setTimeout(tick, 20);
}
tick();
