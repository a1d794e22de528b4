// The chaos proxy's speed, side by side in one run against the same echo
// server (its own process): a direct connection, the proxy with no toxics,
// socat relaying the same bytes (Debian socat), and the delaying proxy the
// latency fault used before it shared the relay (from git, when there),
// and a bare Node stream.pipe relay (the floor for any Node relay).
// Rows: p50 added latency per 64-byte round trip (1 connection); echo
// throughput at 1, 10 and 100 connections as a ratio of direct, with the
// relay process's CPU time per GB relayed (steadier than throughput on a
// loaded machine); and a 500 ms latency toxic's p50/p99 error beside the old
// delaying proxy's (a timer per chunk) and beside the machine's floor (the
// echo server holding its replies 500 ms itself), round trips alternated over
// connections kept open (a connection's first round trip, which also pays
// for the connects, apart). The load
// average is printed with the rows. Bounded: fixed counts and a few seconds
// per cell (median of 5 interleaved rounds); every child is killed at the
// end. The proxy hosts start as the faults start them (RELAY_NODE_FLAGS,
// MALLOC_ENV). Results: bench/results/<ts>-proxy.json.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { MALLOC_ENV, RELAY_NODE_FLAGS } from "../injectors/proxy/spawn";

const ROOT = path.resolve(import.meta.dirname, "..");
const PINGS = 2000;
const THROUGHPUT_MS = 1000;
const ROUNDS = 5;
const LAT_CONNS = 4;
const LAT_PINGS = 40;
const CONNS = [1, 10, 100];
const SOCAT_PORT = 16450;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const children: ChildProcess[] = [];
/** port a child printed → its pid */
const pidOf = new Map<number, number>();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-bench-proxy-"));

function startPrinting(argv: string[], re: RegExp, env?: Record<string, string>): Promise<number> {
  const c = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "inherit"], cwd: ROOT, env: { ...process.env, ...env } });
  children.push(c);
  return new Promise((resolve, reject) => {
    let out = "";
    c.stdout!.on("data", (d: Buffer) => {
      out += d;
      const m = re.exec(out);
      if (m) {
        pidOf.set(Number(m[1]), c.pid!);
        resolve(Number(m[1]));
      }
    });
    c.once("exit", (code) => reject(new Error(`${argv.join(" ")} exited (${code})`)));
  });
}

const ECHO = `const s=require("net").createServer(c=>{c.on("error",()=>{});c.pipe(c)}).listen(0,"127.0.0.1",()=>console.log("listening "+s.address().port))`;
// the floor for a Node relay: stream.pipe both ways, no toxics, no counting
const PIPE = `const net=require("net"),up=+process.argv[1];const s=net.createServer({noDelay:true},c=>{const u=net.connect({port:up,host:"127.0.0.1",noDelay:true});c.pipe(u);u.pipe(c);c.on("error",()=>u.destroy());u.on("error",()=>c.destroy())}).listen(0,"127.0.0.1",()=>console.log("listening "+s.address().port))`;
// the floor for any 500 ms hold on this machine: the echo server holds each reply itself, with the toxic's own wait
const HELD = `import net from "node:net"; import { waitUntil } from ${JSON.stringify(path.join(ROOT, "injectors/proxy/toxic.ts"))};
const never = new AbortController().signal;
const s = net.createServer({ noDelay: true }, (c) => { c.on("error", () => {}); c.on("data", (d) => { const at = performance.now(); void waitUntil(at + 500, never).then(() => c.write(d)); }); });
s.listen(0, "127.0.0.1", () => console.log("listening " + s.address().port));`;
// as the faults start it: with the counts file it rewrites every 250 ms
const host = (spec: unknown, name: string) => [process.execPath, ...RELAY_NODE_FLAGS, path.join(ROOT, "injectors/load/proxy-host.mjs"), "--tag", `gameday-bench-proxy-${process.pid}`, "--parent", String(process.pid), "--spec", JSON.stringify(spec), "--counts", path.join(tmp, `${name}.json`)];

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), r(true)));
      s.on("error", () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** One connection doing 64-byte round trips, one at a time; ping() is one round trip's ms. */
async function pinger(port: number, size = 64): Promise<{ ping: () => Promise<number>; close: () => void }> {
  const s = net.connect({ port, host: "127.0.0.1", noDelay: true });
  await new Promise((r) => s.once("connect", r));
  const buf = Buffer.alloc(size, 1);
  const ping = async () => {
    const t = performance.now();
    let got = 0;
    await new Promise<void>((resolve) => {
      const on = (d: Buffer) => {
        got += d.length;
        if (got >= size) {
          s.off("data", on);
          resolve();
        }
      };
      s.on("data", on);
      s.write(buf);
    });
    return performance.now() - t;
  };
  return { ping, close: () => s.destroy() };
}

async function pings(port: number, n: number): Promise<number[]> {
  const p = await pinger(port);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await p.ping());
  p.close();
  return out;
}

/** Bytes per second echoed back over `conns` connections, each keeping 256 KiB in flight. */
async function throughput(port: number, conns: number): Promise<number> {
  let total = 0;
  const end = performance.now() + THROUGHPUT_MS;
  const chunk = Buffer.alloc(64 * 1024, 2);
  await Promise.all(
    Array.from({ length: conns }, async () => {
      const s = net.connect({ port, host: "127.0.0.1", noDelay: true });
      await new Promise((r) => s.once("connect", r));
      let inflight = 0;
      const pump = () => {
        while (inflight < 256 * 1024 && performance.now() < end) {
          inflight += chunk.length;
          s.write(chunk);
        }
      };
      await new Promise<void>((resolve) => {
        s.on("data", (d: Buffer) => {
          inflight -= d.length;
          if (performance.now() < end) total += d.length;
          if (performance.now() >= end && inflight <= 0) resolve();
          pump();
        });
        s.on("error", () => resolve());
        setTimeout(resolve, THROUGHPUT_MS + 2000).unref();
        pump();
      });
      s.destroy();
    }),
  );
  return total / (THROUGHPUT_MS / 1000);
}

const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
/** CPU time (user + system, children reaped included: socat forks) of a process, ms. */
function cpuMs(pid: number | undefined): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * (1000 / 100);
  } catch {
    return NaN;
  }
}

async function oldDelayProxy(echoPort: number, downMs = 0): Promise<number | null> {
  try {
    const { stdout } = await promisify(execFile)("git", ["show", "3a8183a:injectors/load/delay-proxy.mjs"], { cwd: ROOT });
    const file = path.join(tmp, "old-delay-proxy.mjs");
    fs.writeFileSync(file, stdout);
    return await startPrinting([process.execPath, file, "--tag", "bench-old", "--parent", String(process.pid), "--upstream-host", "127.0.0.1", "--upstream-port", String(echoPort), "--down-ms", String(downMs)], /listening (\d+)/);
  } catch {
    return null;
  }
}

try {
  const loadBefore = loadavg();
  const echoPort = await startPrinting([process.execPath, "-e", ECHO], /listening (\d+)/);
  const proxyPort = await startPrinting(host([{ name: "bench", listen: "127.0.0.1:0", upstream: `127.0.0.1:${echoPort}` }], "bench"), /listening (\d+)/, MALLOC_ENV);
  const latPort = await startPrinting(host([{ name: "lat", listen: "127.0.0.1:0", upstream: `127.0.0.1:${echoPort}`, toxics: [{ type: "latency", attributes: { latency: 500 } }] }], "lat"), /listening (\d+)/, MALLOC_ENV);
  const socat = spawn("socat", [`TCP-LISTEN:${SOCAT_PORT},bind=127.0.0.1,fork,reuseaddr`, `TCP:127.0.0.1:${echoPort}`], { stdio: "ignore" });
  children.push(socat);
  const haveSocat = await waitPort(SOCAT_PORT).then(
    () => true,
    () => false,
  );
  const oldPort = await oldDelayProxy(echoPort);
  const oldLatPort = await oldDelayProxy(echoPort, 500);
  const pipePort = await startPrinting([process.execPath, "-e", PIPE, String(echoPort)], /listening (\d+)/);
  const paths: Record<string, number | null> = { direct: echoPort, proxy: proxyPort, socat: haveSocat ? SOCAT_PORT : null, "old delay-proxy": oldPort, "node pipe": pipePort };
  // the process doing the relaying on each path (for direct: the echo server, the work every path shares)
  const pids: Record<string, number | undefined> = Object.fromEntries(Object.entries(paths).map(([k, port]) => [k, k === "socat" ? socat.pid : pidOf.get(port ?? -1)]));

  // rounds interleave the paths, and each cell is the median of its rounds: the machine's load drifts
  const rttRuns: Record<string, number[]> = {};
  for (const port of Object.values(paths)) if (port !== null) await pings(port, 200); // warm-up
  for (let round = 0; round < ROUNDS; round++)
    for (const [name, port] of Object.entries(paths)) if (port !== null) (rttRuns[name] ??= []).push(...(await pings(port, PINGS / ROUNDS)));
  const rtt = Object.fromEntries(Object.entries(rttRuns).map(([k, xs]) => [k, { p50: pct(xs, 50) * 1000, p99: pct(xs, 99) * 1000 }]));
  const tput: Record<string, Record<number, number>> = {};
  const cpuPerGb: Record<string, Record<number, number>> = {};
  for (const c of CONNS) {
    const runs: Record<string, number[]> = {};
    const cpus: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++)
      for (const [name, port] of Object.entries(paths)) {
        if (port === null) continue;
        const before = cpuMs(pids[name]);
        const bps = await throughput(port, c);
        await new Promise((res) => setTimeout(res, 150)); // socat's per-connection children are reaped (their CPU joins its own)
        (runs[name] ??= []).push(bps);
        (cpus[name] ??= []).push((cpuMs(pids[name]) - before) / ((bps * THROUGHPUT_MS) / 1000 / 1e9));
      }
    for (const [name, xs] of Object.entries(runs)) (tput[name] ??= {})[c] = pct(xs, 50);
    for (const [name, xs] of Object.entries(cpus)) (cpuPerGb[name] ??= {})[c] = pct(xs, 50);
  }
  // 500 ms latency: the toxic, the old delaying proxy and an echo server that holds each reply 500 ms itself
  // (the machine's floor: a process woken after half a second idle is late) in alternating rounds (at the
  // same time they would share the two CPUs, and each one's timing would measure the other), LAT_CONNS
  // connections each, kept open over the rounds; LAT_PINGS round trips per connection; error beyond the
  // configured 500 ms and the direct p50. A connection's first round trip also pays for the connects
  // (through a proxy, two): it is kept apart, as "first".
  const heldPort = await startPrinting([process.execPath, "--import", "tsx", "--input-type=module", "-e", HELD], /listening (\d+)/);
  const latPorts = Object.entries({ "latency toxic": latPort, "old delay-proxy": oldLatPort, "held echo (floor)": heldPort }).filter((e): e is [string, number] => e[1] !== null);
  const latErr: Record<string, number[]> = Object.fromEntries(latPorts.map(([k]) => [k, []]));
  const firstErr: Record<string, number[]> = Object.fromEntries(latPorts.map(([k]) => [k, []]));
  const err = (ms: number) => ms - 500 - rtt.direct.p50 / 1000;
  const conns = Object.fromEntries(await Promise.all(latPorts.map(async ([k, port]) => [k, await Promise.all(Array.from({ length: LAT_CONNS }, () => pinger(port)))] as const)));
  for (const [k, ps] of Object.entries(conns)) firstErr[k].push(...(await Promise.all(ps.map((p) => p.ping()))).map(err));
  const LAT_ROUNDS = 5;
  for (let round = 0; round < LAT_ROUNDS; round++)
    for (const [name] of round % 2 ? [...latPorts].reverse() : latPorts)
      await Promise.all(
        conns[name].map(async (p) => {
          for (let i = 0; i < LAT_PINGS / LAT_ROUNDS; i++) latErr[name].push(err(await p.ping()));
        }),
      );
  for (const ps of Object.values(conns)) for (const p of ps) p.close();
  const latency = Object.fromEntries(
    Object.entries(latErr).map(([k, xs]) => [k, { p50ErrorMs: pct(xs, 50), p99ErrorMs: pct(xs, 99), samples: xs.length, firstRoundTripErrorMs: firstErr[k] }]),
  );
  const loadAfter = loadavg();

  const r = {
    loadAverage: { before: loadBefore, after: loadAfter },
    nodeFlags: RELAY_NODE_FLAGS,
    mallocEnv: MALLOC_ENV,
    roundTripUs: rtt,
    addedLatencyP50Us: Object.fromEntries(Object.entries(rtt).map(([k, v]) => [k, v.p50 - rtt.direct.p50])),
    throughputBytesPerSec: tput,
    relayCpuMsPerGb: cpuPerGb,
    latency500ms: latency,
  };
  const out = path.join(ROOT, "bench/results", `${new Date().toISOString().replace(/[:.]/g, "-")}-proxy.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(r, null, 2));
  const lines = [`load average ${loadBefore} before, ${loadAfter} after (${os.cpus().length} CPUs)`, "chaos proxy vs direct (same echo server, 64-byte round trips, alternated):"];
  for (const [k, v] of Object.entries(rtt)) lines.push(`  ${k.padEnd(16)} p50 ${v.p50.toFixed(0)} µs (added ${(v.p50 - rtt.direct.p50).toFixed(0)} µs), p99 ${v.p99.toFixed(0)} µs`);
  lines.push(`echo throughput, ratio of direct (median of ${ROUNDS} alternated rounds); CPU ms per GB of the relaying process (direct: the echo server's):`);
  for (const c of CONNS) {
    const others = Object.keys(tput).filter((k) => k !== "direct");
    lines.push(`  ${String(c).padStart(3)} conn: direct ${(tput.direct[c] / 1e6).toFixed(0)} MB/s; ${others.map((k) => `${k} ${(tput[k][c] / tput.direct[c]).toFixed(2)}×`).join(", ")}`);
    lines.push(`           cpu: ${Object.keys(cpuPerGb).map((k) => `${k} ${cpuPerGb[k][c].toFixed(0)}`).join(", ")}`);
  }
  if (!haveSocat) lines.push("socat: not installed (apt-get install socat), its rows are missing");
  lines.push(`500 ms hold, error beyond 500 ms and the direct p50 (${LAT_CONNS} connections × ${LAT_PINGS} round trips, alternated; target for the toxic: p50 ≤ 1 ms, p99 ≤ 5 ms):`);
  const floor = latency["held echo (floor)"];
  for (const [k, v] of Object.entries(latency))
    lines.push(`  ${k.padEnd(18)} p50 ${v.p50ErrorMs.toFixed(2)} ms, p99 ${v.p99ErrorMs.toFixed(2)} ms${floor && k !== "held echo (floor)" ? ` (beyond the floor: p50 ${(v.p50ErrorMs - floor.p50ErrorMs).toFixed(2)}, p99 ${(v.p99ErrorMs - floor.p99ErrorMs).toFixed(2)})` : ""}; a new connection's first round trip ${Math.max(...v.firstRoundTripErrorMs).toFixed(1)} ms at worst`);
  process.stdout.write(lines.join("\n") + `\n${out}\n`);
} finally {
  for (const c of children) c.kill("SIGKILL");
  fs.rmSync(tmp, { recursive: true, force: true });
}
