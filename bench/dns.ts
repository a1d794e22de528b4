// DNS pass-through: the poisoner (as the dns fault runs it: injectors/dns/
// child.ts, one rule that matches none of the queries) beside dnsmasq as a
// plain forwarder (--cache-size=0, so both forward every query), both in
// front of the same upstream (a caching dnsmasq answering from a hosts file)
// and driven by dnsperf with the same query file, all on loopback. Two
// measures, rounds alternated: queries/s flat out (-q 100 outstanding), and
// latency p50/p99 at a fixed 2000 queries/s (dnsperf -v, per query).
// Goal (issue 9): ≥ 50 % of dnsmasq's queries/s, p99 < 2 ms. Bounded: every
// dnsperf run lasts SECONDS; every process started here is stopped at the end.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freeFixedPort } from "../e2e/dnsmasq";

const execFileP = promisify(execFile);
const SECONDS = 5;
const ROUNDS = 3;
const RATE = 2000;
const NAMES = 200;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gameday-bench-dns-pid${process.pid}-`));
const kids: ChildProcess[] = [];

function dnsmasq(port: number, extra: string[]): ChildProcess {
  const c = spawn("dnsmasq", ["--keep-in-foreground", "--conf-file=/dev/null", `--port=${port}`, "--listen-address=127.0.0.1", "--bind-interfaces", "--no-hosts", "--pid-file=", "--user=root", ...extra], { stdio: "ignore" });
  kids.push(c);
  return c;
}

async function waitAnswer(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await execFileP("dig", ["+short", "+time=1", "+tries=1", "-p", String(port), "@127.0.0.1", "n0.bench.test"], { encoding: "utf8" }).catch(() => ({ stdout: "" }));
    if (r.stdout.trim()) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`nothing answers on 127.0.0.1:${port}`);
}

interface Perf {
  qps: number;
  lost: number;
  avgMs: number;
}

async function dnsperf(port: number, file: string, extra: string[] = []): Promise<{ out: string; perf: Perf }> {
  const r = await execFileP("dnsperf", ["-s", "127.0.0.1", "-p", String(port), "-d", file, "-l", String(SECONDS), "-t", "2", ...extra], { encoding: "utf8", maxBuffer: 256 << 20, timeout: (SECONDS + 20) * 1000 });
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? NaN);
  return { out: r.stdout, perf: { qps: num(/Queries per second:\s+([\d.]+)/), lost: num(/Queries lost:\s+(\d+)/), avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000 } };
}

/** p50 and p99 of the per-query latencies dnsperf -v prints ("> NOERROR name A 0.000123"). */
function percentiles(out: string): { p50Ms: number; p99Ms: number; n: number } {
  const xs = [...out.matchAll(/^> \S+ .* ([\d.]+)$/gm)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);
  const at = (q: number) => +(xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN).toFixed(3);
  return { p50Ms: at(0.5), p99Ms: at(0.99), n: xs.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

async function main(): Promise<Record<string, any>> {
  const loadBefore = loadavg();
  const hosts = path.join(dir, "hosts");
  const queries = path.join(dir, "queries");
  fs.writeFileSync(hosts, Array.from({ length: NAMES }, (_, i) => `127.1.${i >> 8}.${i & 255} n${i}.bench.test`).join("\n") + "\n");
  fs.writeFileSync(queries, Array.from({ length: NAMES }, (_, i) => `n${i}.bench.test A`).join("\n") + "\n");
  const upPort = await freeFixedPort();
  dnsmasq(upPort, ["--no-resolv", `--addn-hosts=${hosts}`, "--local=/#/", "--cache-size=10000"]);
  await waitAnswer(upPort);
  const fwdPort = await freeFixedPort(upPort + 1);
  dnsmasq(fwdPort, ["--no-resolv", `--server=127.0.0.1#${upPort}`, "--cache-size=0"]);
  await waitAnswer(fwdPort);

  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "injectors", "dns", "child.ts");
  const spec = JSON.stringify({ rules: [{ name: "never.asked.test", answer: "nxdomain" }], upstream: `127.0.0.1:${upPort}` });
  const p = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), child, "--tag", `gameday-bench-dns-${process.pid}`, "--parent", String(process.pid), "--stats", path.join(dir, "stats.json"), "--spec", spec], { stdio: ["ignore", "pipe", "inherit"] });
  kids.push(p);
  const poisonerPort = await new Promise<number>((resolve, reject) => {
    p.stdout!.on("data", (d: Buffer) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
    });
    p.on("exit", (c) => reject(new Error(`poisoner exited (${c})`)));
  });
  await waitAnswer(poisonerPort);

  const subjects = { dnsmasq: fwdPort, poisoner: poisonerPort, upstreamDirect: upPort } as const;
  const flat: Record<string, Perf[]> = { dnsmasq: [], poisoner: [], upstreamDirect: [] };
  const lat: Record<string, ReturnType<typeof percentiles>[]> = { dnsmasq: [], poisoner: [], upstreamDirect: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, port] of Object.entries(subjects)) {
      // latency first, each run after a pause: a flat-out run's backlog must not leak into it
      await new Promise((res) => setTimeout(res, 1000));
      lat[name].push(percentiles((await dnsperf(port, queries, ["-Q", String(RATE), "-v"])).out));
      await new Promise((res) => setTimeout(res, 1000));
      flat[name].push((await dnsperf(port, queries, ["-q", "100"])).perf);
    }
  }
  const sum = (name: string) => ({
    qps: Math.round(median(flat[name].map((x) => x.qps))),
    lost: flat[name].reduce((n, x) => n + x.lost, 0),
    avgMsFlatOut: +median(flat[name].map((x) => x.avgMs)).toFixed(3),
    [`p50MsAt${RATE}qps`]: median(lat[name].map((x) => x.p50Ms)),
    [`p99MsAt${RATE}qps`]: median(lat[name].map((x) => x.p99Ms)),
    p99MsPerRound: lat[name].map((x) => x.p99Ms),
  });
  const poisoner = sum("poisoner");
  const baseline = sum("dnsmasq");
  const stats = JSON.parse(fs.readFileSync(path.join(dir, "stats.json"), "utf8")) as { queries: number; forwarded: number; upstreamFailures: number };
  return {
    loadAverage: { before: loadBefore, after: loadavg() },
    secondsPerRun: SECONDS,
    rounds: ROUNDS,
    names: NAMES,
    poisoner,
    dnsmasqForwarder: baseline,
    upstreamDirect: sum("upstreamDirect"),
    ratioQpsPoisonerToDnsmasq: +(poisoner.qps / baseline.qps).toFixed(2),
    goal: "qps ratio ≥ 0.5, poisoner p99 < 2 ms",
    poisonerCounters: { queries: stats.queries, forwarded: stats.forwarded, upstreamFailures: stats.upstreamFailures },
  };
}

try {
  const dns = await main();
  const results = { at: new Date().toISOString(), node: process.version, dns };
  const out = path.join(import.meta.dirname, "results");
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `dns-${results.at.replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
  const row = (k: string) => `poisoner ${dns.poisoner[k]}, dnsmasq ${dns.dnsmasqForwarder[k]} (upstream alone ${dns.upstreamDirect[k]})`;
  const lines = [
    `load average ${dns.loadAverage.before} before, ${dns.loadAverage.after} after (${os.cpus().length} CPUs)`,
    `dns pass-through, poisoner beside dnsmasq forwarding (dnsperf, same ${NAMES} names and upstream, median of ${ROUNDS} alternated rounds of ${SECONDS} s):`,
    `  queries/s flat out: ${row("qps")}: ${dns.ratioQpsPoisonerToDnsmasq}× dnsmasq`,
    `  latency at ${RATE} queries/s, p50 ms: ${row(`p50MsAt${RATE}qps`)}`,
    `  latency at ${RATE} queries/s, p99 ms: ${row(`p99MsAt${RATE}qps`)}; per round: poisoner ${dns.poisoner.p99MsPerRound.join(" / ")}, dnsmasq ${dns.dnsmasqForwarder.p99MsPerRound.join(" / ")}`,
  ];
  process.stdout.write(`${lines.join("\n")}\nwritten to ${file}\n`);
} finally {
  for (const k of kids) k.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
}
