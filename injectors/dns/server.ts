// The DNS poisoner: a UDP and TCP DNS server on one port that forwards to an
// upstream resolver and poisons the queries its rules pick. Pass-through
// relays the upstream's bytes as they are (only the message id is swapped),
// so TTLs, flags and records reach the client untouched. Counters per rule
// (seen, matched, poisoned) are the fault's evidence of effect. stop() ends
// every socket, timer and held answer: nothing waits past it.
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket, { type Packet } from "dns-packet";
import { compileRules, delayMs, firstMatch, poisonedReply, ruleText, type CompiledRule, type Rule, type Upstream } from "./rules";

export interface RuleStats {
  rule: string;
  /** queries this rule was tried on (no earlier rule took them) */
  seen: number;
  /** queries whose name and type it matches */
  matched: number;
  /** matched and poisoned (the probability dice hit) */
  poisoned: number;
}

export interface PoisonerStats {
  queries: number;
  /** relayed to the upstream (not poisoned, or held back by a delay rule) */
  forwarded: number;
  /** upstream answers that did not come within the timeout, or TCP upstream errors */
  upstreamFailures: number;
  /** datagrams or frames that are not DNS messages */
  malformed: number;
  rules: RuleStats[];
}

export interface PoisonerOptions {
  rules: Rule[];
  upstream: Upstream;
  /** listen address (default 127.0.0.1) and port (default 0: any free one, the same for UDP and TCP) */
  host?: string;
  port?: number;
  rnd?: () => number;
  /** how long a forwarded query waits for the upstream (default 4 s) */
  upstreamTimeoutMs?: number;
}

interface Pending {
  origId: number;
  reply: (b: Buffer) => void;
  at: number;
}

const frame = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);

export class DnsPoisoner {
  private readonly rules: CompiledRule[];
  private readonly s: PoisonerStats;
  private udp: dgram.Socket | null = null;
  private tcp: net.Server | null = null;
  private upstreamUdp: dgram.Socket | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly held = new Set<NodeJS.Timeout>();
  private readonly conns = new Set<net.Socket>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly rnd: () => number;
  private readonly timeoutMs: number;
  port = 0;

  constructor(private readonly o: PoisonerOptions) {
    this.rules = compileRules(o.rules);
    this.rnd = o.rnd ?? Math.random;
    this.timeoutMs = o.upstreamTimeoutMs ?? 4000;
    this.s = { queries: 0, forwarded: 0, upstreamFailures: 0, malformed: 0, rules: o.rules.map((r) => ({ rule: ruleText(r), seen: 0, matched: 0, poisoned: 0 })) };
  }

  stats(): PoisonerStats {
    return { ...this.s, rules: this.s.rules.map((r) => ({ ...r })) };
  }

  /** Listen on UDP and TCP (one port); resolves with the port. */
  async start(): Promise<number> {
    const host = this.o.host ?? "127.0.0.1";
    const up = dgram.createSocket(net.isIPv6(this.o.upstream.host) ? "udp6" : "udp4");
    up.on("message", (m) => this.fromUpstream(m));
    up.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      up.once("error", reject);
      up.connect(this.o.upstream.port, this.o.upstream.host, () => resolve());
    });
    this.upstreamUdp = up;
    // port 0: the UDP port the kernel picks must also be free for TCP; a few tries
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
      udp.on("message", (m, rinfo) => this.handle(m, (b) => udp.send(b, rinfo.port, rinfo.address), "udp"));
      await new Promise<void>((resolve, reject) => {
        udp.once("error", reject);
        udp.bind(this.o.port ?? 0, host, () => resolve());
      });
      udp.on("error", () => undefined);
      const port = udp.address().port;
      const tcp = net.createServer((c) => this.onConnection(c));
      const ok = await new Promise<boolean>((resolve, reject) => {
        tcp.once("error", (e: NodeJS.ErrnoException) => (e.code === "EADDRINUSE" && !this.o.port && attempt < 20 ? resolve(false) : reject(e)));
        tcp.listen(port, host, () => resolve(true));
      }).catch((e: Error) => {
        udp.close();
        throw e;
      });
      if (!ok) {
        udp.close();
        continue;
      }
      this.udp = udp;
      this.tcp = tcp;
      this.port = port;
      break;
    }
    // forwarded queries the upstream never answered: forgotten, counted
    this.sweeper = setInterval(() => {
      const old = performance.now() - this.timeoutMs;
      for (const [id, p] of this.pending) if (p.at < old) {
        this.pending.delete(id);
        this.s.upstreamFailures++;
      }
    }, 500);
    this.sweeper.unref();
    return this.port;
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const t of this.held) clearTimeout(t);
    this.held.clear();
    this.pending.clear();
    for (const c of this.conns) c.destroy();
    const closing: Promise<unknown>[] = [];
    if (this.tcp) closing.push(new Promise((r) => this.tcp!.close(r)));
    for (const s of [this.udp, this.upstreamUdp]) if (s) closing.push(new Promise<void>((r) => s.close(() => r())));
    this.udp = this.tcp = this.upstreamUdp = null;
    await Promise.all(closing);
  }

  private onConnection(c: net.Socket): void {
    this.conns.add(c);
    c.setTimeout(10_000, () => c.destroy());
    c.on("error", () => undefined);
    c.on("close", () => this.conns.delete(c));
    let buf: Buffer = Buffer.alloc(0);
    c.on("data", (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < len + 2) break;
        const msg = buf.subarray(2, len + 2);
        buf = buf.subarray(len + 2);
        this.handle(msg, (b) => c.destroyed || c.write(frame(b)), "tcp");
      }
    });
  }

  private handle(msg: Buffer, reply: (b: Buffer) => void, transport: "udp" | "tcp"): void {
    this.s.queries++;
    let query: Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      this.s.malformed++;
      return;
    }
    if (query.type !== "query") {
      this.s.malformed++;
      return;
    }
    const q = query.questions?.[0];
    const i = q ? firstMatch(this.rules, q.name, q.type, (k) => this.s.rules[k].seen++) : -1;
    if (i >= 0) {
      const stats = this.s.rules[i];
      const r = this.rules[i].rule;
      stats.matched++;
      if (r.probability >= 1 || this.rnd() < r.probability) {
        stats.poisoned++;
        if (r.answer === "timeout") return;
        if (r.answer === "delay") return this.forward(msg, transport, (b) => this.hold(delayMs(r, this.rnd), () => reply(b)));
        return reply(poisonedReply(query, r));
      }
    }
    this.forward(msg, transport, reply);
  }

  private hold(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.held.delete(t);
      fn();
    }, ms);
    this.held.add(t);
  }

  private forward(msg: Buffer, transport: "udp" | "tcp", reply: (b: Buffer) => void): void {
    this.s.forwarded++;
    if (transport === "tcp") return this.forwardTcp(msg, reply);
    const up = this.upstreamUdp;
    if (!up) return;
    let id = this.nextId;
    // a free message id for the upstream (at most 65535 queries in flight)
    for (let n = 0; this.pending.has(id) && n < 65536; n++) id = (id % 65535) + 1;
    if (this.pending.has(id)) {
      this.s.upstreamFailures++;
      return;
    }
    this.nextId = (id % 65535) + 1;
    this.pending.set(id, { origId: msg.readUInt16BE(0), reply, at: performance.now() });
    const out = Buffer.from(msg);
    out.writeUInt16BE(id, 0);
    up.send(out);
  }

  private fromUpstream(m: Buffer): void {
    if (m.length < 12) return;
    const id = m.readUInt16BE(0);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    m.writeUInt16BE(p.origId, 0);
    p.reply(m);
  }

  /** One TCP connection to the upstream per TCP query (a client that asks over TCP got TC over UDP, or wants TCP). */
  private forwardTcp(msg: Buffer, reply: (b: Buffer) => void): void {
    const s = net.connect(this.o.upstream.port, this.o.upstream.host);
    this.conns.add(s);
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const fail = () => {
      if (!done) this.s.upstreamFailures++;
      done = true;
      s.destroy();
    };
    s.setTimeout(this.timeoutMs, fail);
    s.on("error", fail);
    s.on("close", () => this.conns.delete(s));
    s.on("connect", () => s.write(frame(msg)));
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) {
        done = true;
        reply(buf.subarray(2, buf.readUInt16BE(0) + 2));
        s.destroy();
      }
    });
  }
}
