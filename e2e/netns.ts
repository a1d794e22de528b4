// Two network "hosts" for network-fault tests: namespaces gdt-<pid>-a and
// gdt-<pid>-b joined by a veth pair (10.213.X.1 and .2), with lo up. B runs
// a TCP echo (7001), a UDP echo (7002) and TCP byte counters (7003-7005); clients
// run in A. No traffic leaves these namespaces. destroy() deletes both
// namespaces (the veth pair goes with them) and kills every child.
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { cgroup2Root } from "../injectors/net-fault";
import { PROBE_NS } from "../injectors/net/detect";

export const PORTS = { echo: 7001, udp: 7002, sink: 7003, sink2: 7004, sink3: 7005 } as const;

export const WATCH_PARENT = "const __p=process.ppid;setInterval(()=>{if(process.ppid!==__p)process.exit(0)},250).unref();";

const SERVERS = `${WATCH_PARENT}setInterval(()=>{},1e9);
const net=require("net"),dgram=require("dgram");const ip=process.argv[1];
net.createServer(s=>{s.on("error",()=>{});s.pipe(s)}).listen(${PORTS.echo},ip);
const u=dgram.createSocket("udp4");u.on("message",(m,r)=>u.send(m,r.port,r.address));u.bind(${PORTS.udp},ip);
const sink=()=>net.createServer(s=>{let n=0;s.on("error",()=>{});s.on("data",d=>n+=d.length);s.on("end",()=>s.end(n+"\\n"))});
let up=0;for(const p of [${PORTS.sink},${PORTS.sink2},${PORTS.sink3}])sink().listen(p,ip,()=>{if(++up===3)console.log("ready")});`;

/** Median of n ping-pongs on one fresh connection, in ms. */
export const RTT_CLIENT = `${WATCH_PARENT}const [ip,n]=[process.argv[1],Number(process.argv[2])];
const s=require("net").connect(${PORTS.echo},ip,async()=>{const t=[];for(let i=0;i<n;i++){const t0=performance.now();s.write("x");await new Promise(r=>s.once("data",r));t.push(performance.now()-t0)}
t.sort((a,b)=>a-b);console.log(JSON.stringify({median:t[Math.floor(n/2)],all:t.map(Math.round)}));s.end();process.exit(0)});
s.on("error",e=>{console.log(JSON.stringify({error:e.code}));process.exit(0)});setTimeout(()=>{console.log(JSON.stringify({error:"timeout"}));process.exit(0)},20000);`;

/** One connection kept open for ms, pinged every 50 ms: the slowest round trip, or the error that ended it. */
export const LONG_CLIENT = `${WATCH_PARENT}const [ip,ms]=[process.argv[1],Number(process.argv[2])];
const s=require("net").connect(${PORTS.echo},ip,async()=>{console.log("connected");const t=[];const end=Date.now()+ms;while(Date.now()<end){const t0=performance.now();s.write("x");await new Promise(r=>s.once("data",r));t.push(performance.now()-t0);await new Promise(r=>setTimeout(r,50))}
console.log(JSON.stringify({max:Math.max(...t),n:t.length}));process.exit(0)});const t00=Date.now();s.on("error",e=>{console.log(JSON.stringify({error:e.code,afterMs:Date.now()-t00}));process.exit(0)});`;

/** Send n UDP datagrams 2 ms apart, count the echoes back within 1 s of the last. */
export const UDP_CLIENT = `${WATCH_PARENT}const [ip,n]=[process.argv[1],Number(process.argv[2])];
const u=require("dgram").createSocket("udp4");const got=new Set();u.on("message",m=>got.add(m.toString()));
let i=0;const t=setInterval(()=>{u.send(String(i),${PORTS.udp},ip);if(++i>=n){clearInterval(t);setTimeout(()=>{console.log(JSON.stringify({sent:n,received:got.size}));process.exit(0)},1000)}},2);`;

/** Can a TCP connection be made within the timeout? */
export const CONNECT_CLIENT = `${WATCH_PARENT}const [ip,ms]=[process.argv[1],Number(process.argv[2])];
const s=require("net").connect(${PORTS.echo},ip,()=>{console.log("ok");process.exit(0)});
s.on("error",e=>{console.log("fail:"+e.code);process.exit(0)});setTimeout(()=>{console.log("fail:timeout");process.exit(0)},ms);`;

/** Upload n bytes to the counter (port argv[3], default sink); time until it confirms them all. */
export const UPLOAD_CLIENT = `${WATCH_PARENT}const [ip,n,port]=[process.argv[1],Number(process.argv[2]),Number(process.argv[3]||${PORTS.sink})];
const t0=performance.now();const s=require("net").connect(port,ip,()=>{s.end(Buffer.alloc(n))});
let r="";s.on("data",d=>r+=d);s.on("end",()=>{console.log(JSON.stringify({ms:performance.now()-t0,bytes:Number(r)}));process.exit(0)});
s.on("error",e=>{console.log(JSON.stringify({error:e.code}));process.exit(0)});setTimeout(()=>{console.log(JSON.stringify({error:"timeout"}));process.exit(0)},30000);`;

export function sh(...argv: string[]): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 15_000 });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

export interface Snapshot {
  iptables: Record<string, string>;
  tc: Record<string, string>;
  /** tc class show of every device, per namespace */
  tcClass: Record<string, string>;
  cgroups: string[];
}

export interface TestNet {
  a: string;
  b: string;
  ipA: string;
  ipB: string;
  vethA: string;
  /** node -e CODE ARGS inside a namespace; resolves with stdout */
  run(ns: string, code: string, args: (string | number)[], timeoutMs?: number): Promise<string>;
  runJson<T>(ns: string, code: string, args: (string | number)[]): Promise<T>;
  /** like run, but resolves `first` once the child's first line is out */
  runStaged(ns: string, code: string, args: (string | number)[]): { first: Promise<string>; done: Promise<string> };
  /** iptables-save (without its dated comments), tc qdisc show and tc class show in A, B and the host; gameday cgroup folders */
  snapshot(): Snapshot;
  destroy(): Promise<void>;
}

const stripDates = (s: string) =>
  s
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .join("\n");

/**
 * Delete test namespaces whose test process is gone (it was killed before its
 * destroy() or after() ran), with whatever is in them (veths, bridges, their
 * iptables rules): gdt-<pid><letters>-a|b, a container test's switch
 * gdsw-<pid>, the namespace of a dockerd of its own gdd-<pid>
 * (injectors/docker/) and a killed netem probe's gd-probe-<pid>-<hex>, with no
 * process <pid>.
 */
export function sweepStaleTestNets(): string[] {
  const gone: string[] = [];
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8", timeout: 15_000 }).stdout ?? "";
  for (const line of list.split("\n")) {
    const name = line.trim().split(/\s/)[0] ?? "";
    // a test's namespaces, and netem probes (injectors/net/detect.ts) of a process killed mid-probe
    const m = /^(?:gdt-(\d+)[a-z]*-[ab]|gd(?:sw|d)-(\d+))$/.exec(name) ?? PROBE_NS.exec(name);
    if (!m || fs.existsSync(`/proc/${m[1] ?? m[2]}`)) continue;
    spawnSync("ip", ["netns", "del", name]);
    gone.push(name);
  }
  // a test's /etc/netns/<name>/ (its resolv.conf, e2e/dns.test.ts) outlives the namespace
  let etc: string[] = [];
  try {
    etc = fs.readdirSync("/etc/netns");
  } catch {
    // none
  }
  for (const d of etc) {
    const m = /^gdt-(\d+)[a-z]*-[ab]$/.exec(d);
    if (m && !fs.existsSync(`/proc/${m[1]}`)) fs.rmSync(`/etc/netns/${d}`, { recursive: true, force: true });
  }
  return gone;
}

/** A fresh pair of test namespaces; `suffix` (letters) tells several of one process apart. */
export async function createTestNet(suffix = ""): Promise<TestNet> {
  if (!/^[a-z]*$/.test(suffix)) throw new Error(`createTestNet: suffix must be letters (got "${suffix}")`);
  sweepStaleTestNets();
  const id = `${process.pid}${suffix}`;
  const a = `gdt-${id}-a`;
  const b = `gdt-${id}-b`;
  const vethA = `gdt${id}a`.slice(0, 15);
  const vethB = `gdt${id}b`.slice(0, 15);
  const x = (process.pid % 250) + 1;
  const ipA = `10.213.${x}.1`;
  const ipB = `10.213.${x}.2`;
  const children: ChildProcess[] = [];
  const destroy = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const ns of [a, b]) spawnSync("ip", ["netns", "del", ns]);
  };
  try {
    sh("ip", "netns", "add", a);
    sh("ip", "netns", "add", b);
    sh("ip", "link", "add", vethA, "netns", a, "type", "veth", "peer", "name", vethB, "netns", b);
    sh("ip", "-n", a, "addr", "add", `${ipA}/24`, "dev", vethA);
    sh("ip", "-n", b, "addr", "add", `${ipB}/24`, "dev", vethB);
    for (const [ns, dev] of [[a, vethA], [b, vethB]]) {
      sh("ip", "-n", ns, "link", "set", dev, "up");
      sh("ip", "-n", ns, "link", "set", "lo", "up");
    }
    const srv = spawn("ip", ["netns", "exec", b, process.execPath, "-e", SERVERS, ipB], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(srv);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("test servers did not start in 10 s")), 10_000);
      srv.stdout!.on("data", (d: Buffer) => {
        if (d.toString().includes("ready")) {
          clearTimeout(t);
          resolve();
        }
      });
      srv.on("exit", (c) => reject(new Error(`test servers exited (${c})`)));
    });
  } catch (e) {
    await destroy();
    throw e;
  }
  const run = (ns: string, code: string, args: (string | number)[], timeoutMs = 40_000) =>
    new Promise<string>((resolve, reject) => {
      execFile("ip", ["netns", "exec", ns, process.execPath, "-e", code, ...args.map(String)], { timeout: timeoutMs }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout.trim()),
      );
    });
  return {
    a,
    b,
    ipA,
    ipB,
    vethA,
    run,
    runStaged: (ns, code, args) => {
      const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", code, ...args.map(String)], { stdio: ["ignore", "pipe", "inherit"] });
      children.push(child);
      let out = "";
      let gotFirst: (line: string) => void = () => {};
      const first = new Promise<string>((r) => (gotFirst = r));
      child.stdout!.on("data", (d: Buffer) => {
        out += d;
        if (out.includes("\n")) gotFirst(out.split("\n")[0]);
      });
      const done = new Promise<string>((resolve) => child.on("exit", () => resolve(out.trim().split("\n").at(-1) ?? "")));
      return { first, done };
    },
    runJson: async <T>(ns: string, code: string, args: (string | number)[]) => JSON.parse(await run(ns, code, args)) as T,
    snapshot: () => ({
      iptables: Object.fromEntries([a, b, "host"].map((ns) => [ns, stripDates(ns === "host" ? sh("iptables-save") : sh("ip", "netns", "exec", ns, "iptables-save"))])),
      tc: Object.fromEntries([a, b, "host"].map((ns) => [ns, ns === "host" ? sh("tc", "qdisc", "show") : sh("ip", "netns", "exec", ns, "tc", "qdisc", "show")])),
      tcClass: Object.fromEntries([a, b, "host"].map((ns) => [ns, tcClasses(ns === "host" ? undefined : ns)])),
      cgroups: cgroupFolders(),
    }),
    destroy,
  };
}

/** gameday-* folders in the cgroup v2 hierarchy, wherever the product finds it (unified-only or hybrid layout). */
function cgroupFolders(): string[] {
  const root = cgroup2Root();
  return fs.existsSync(root) ? fs.readdirSync(root).filter((d) => d.startsWith("gameday-")).sort() : [];
}

/** tc class show of every device in a namespace (tc prints classes per device only). */
export function tcClasses(ns?: string): string {
  const inNs = (...argv: string[]) => (ns ? sh("ip", "netns", "exec", ns, ...argv) : sh(...argv));
  const devs = [...inNs("ip", "-o", "link", "show").matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1]);
  return devs.map((d) => `${d}:\n${inNs("tc", "class", "show", "dev", d)}`).join("");
}

/** Another tool's rules in A: they must survive every revert untouched. */
export function addForeignRules(ns: string): void {
  sh("ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-m", "comment", "--comment", "other-tool", "-j", "ACCEPT");
  sh("ip", "netns", "exec", ns, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9", "-m", "comment", "--comment", "other-tool", "-j", "RETURN");
}
