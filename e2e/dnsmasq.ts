// A real upstream resolver for DNS tests: Debian's dnsmasq answering from a
// hosts file and a few records of every type, on loopback (or inside a test
// namespace), with nothing forwarded anywhere. It runs under a tiny node
// watcher that kills it when the test process dies, so a killed test leaves
// no dnsmasq behind.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { tempDir } from "./kit";

/** Names the test upstream knows (TTL 123 s on every local answer). */
export const ZONE = {
  ttl: 123,
  hosts: { "db.test.internal": "127.0.0.10", "api.test.internal": "127.0.0.11", "other.example.test": "127.0.0.12" },
  aaaa: { "db.test.internal": "fd00::10" },
  cname: { "alias.test.internal": "db.test.internal" },
  mx: { "test.internal": "mail.test.internal" },
  srv: { "_db._tcp.test.internal": { target: "db.test.internal", port: 5432 } },
  txt: { "test.internal": "hello from dnsmasq" },
} as const;

export const haveDnsmasq = () => spawnSync("dnsmasq", ["--version"]).status === 0;
export const haveDig = () => spawnSync("dig", ["-v"]).status === 0;

/** A UDP and TCP port in 16500-16599 that is free now (dnsmasq needs a fixed one). */
export async function freeFixedPort(from = 16500, to = 16599): Promise<number> {
  const start = from + (process.pid % (to - from + 1));
  for (let i = 0; i <= to - from; i++) {
    const port = from + ((start - from + i) % (to - from + 1));
    const ok = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket("udp4");
      u.once("error", () => resolve(false));
      u.bind(port, "127.0.0.1", () => {
        const t = net.createServer();
        t.once("error", () => u.close(() => resolve(false)));
        t.listen(port, "127.0.0.1", () => t.close(() => u.close(() => resolve(true))));
      });
    });
    if (ok) return port;
  }
  throw new Error(`no free port in ${from}-${to}`);
}

// kills dnsmasq (argv after the script) when our parent goes
const WATCHER = `const {spawn}=require("child_process");const p=process.ppid;
const c=spawn(process.argv[1],process.argv.slice(2),{stdio:["ignore","inherit","inherit"]});
const bye=()=>{try{c.kill("SIGKILL")}catch{};process.exit(0)};
c.on("exit",(code)=>process.exit(code??1));process.on("SIGTERM",bye);
setInterval(()=>{if(process.ppid!==p)bye()},200);`;

export interface Upstream {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Start dnsmasq on host:port (inside netns when given) and wait until it answers. */
export async function startDnsmasq(o: { port: number; host?: string; netns?: string }): Promise<Upstream> {
  const host = o.host ?? "127.0.0.1";
  const dir = tempDir("gameday-dnsmasq-");
  const hosts = path.join(dir, "hosts");
  fs.writeFileSync(hosts, Object.entries({ ...ZONE.hosts }).map(([n, a]) => `${a} ${n}`).concat(Object.entries(ZONE.aaaa).map(([n, a]) => `${a} ${n}`)).join("\n") + "\n");
  const args = [
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    `--port=${o.port}`,
    `--listen-address=${host}`,
    "--bind-interfaces",
    "--no-resolv",
    "--no-hosts",
    `--addn-hosts=${hosts}`,
    `--local-ttl=${ZONE.ttl}`,
    "--pid-file=",
    "--user=root",
    "--cache-size=1000",
    ...Object.entries(ZONE.cname).map(([a, t]) => `--cname=${a},${t}`),
    ...Object.entries(ZONE.mx).map(([d, m]) => `--mx-host=${d},${m},10`),
    ...Object.entries(ZONE.srv).map(([s, v]) => `--srv-host=${s},${v.target},${v.port}`),
    ...Object.entries(ZONE.txt).map(([d, t]) => `--txt-record=${d},${t}`),
    // names it does not know are not forwarded anywhere
    "--local=/#/",
  ];
  const argv = [process.execPath, "-e", WATCHER, "dnsmasq", ...args];
  const full = o.netns ? ["ip", "netns", "exec", o.netns, ...argv] : argv;
  const child: ChildProcess = spawn(full[0], full.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await gone;
  };
  // ready when a query over UDP gets an answer (dig inside the netns when there is one)
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited (${child.exitCode}): ${err.trim()}`);
    const probe = ["dig", "+short", "+time=1", "+tries=1", "-p", String(o.port), `@${host}`, "db.test.internal"];
    const r = spawnSync(o.netns ? "ip" : probe[0], o.netns ? ["netns", "exec", o.netns, ...probe] : probe.slice(1), { encoding: "utf8", timeout: 3000 });
    if (r.stdout?.includes(ZONE.hosts["db.test.internal"])) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dnsmasq did not answer in 10 s: ${err.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host, port: o.port, stop };
}
