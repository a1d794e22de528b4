// Proxies and their toxics, as Toxiproxy models them (a proxy: name, listen,
// upstream, enabled; a toxic: name, type, stream, toxicity, attributes), and
// the collection the admin API and the faults drive. Beyond Toxiproxy: a
// proxy takes its toxics at creation (they are in place before it listens,
// so no connection slips through un-faulted), a toxic may carry ttl_ms and
// then removes itself, a proxy may speak "http" for the HTTP toxics, and
// everything counts what it saw, matched and faulted.
import net from "node:net";
import http from "node:http";
import { ApiError, Err } from "./errors";
import { httpHandler, type LiveHttpToxic } from "./http";
import { Link, type LiveToxic } from "./relay";
import { toxicDef, type Counts, type Stream, type ToxicDef } from "./toxic";
import "./toxics";

export interface ToxicJson {
  name: string;
  type: string;
  stream: Stream;
  toxicity: number;
  attributes: Record<string, unknown>;
  ttl_ms?: number;
  expires_at?: string;
  counts?: Counts;
}

export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  protocol?: "tcp" | "http";
  toxics?: ToxicJson[];
  counts?: ProxyCounts;
}

export interface ProxyCounts {
  connections: number;
  requests: number;
  bytes_up: number;
  bytes_down: number;
}

const obj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** "host:port", "[::1]:port", ":port" → parts; localhost means 127.0.0.1 (Node would pick ::1 on some hosts). */
export function splitHostPort(s: string, field: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw Err.badBody(`${field}: expected host:port (got ${JSON.stringify(s)})`);
  const host = m[1] ?? m[2];
  return { host: host === "" ? "0.0.0.0" : host === "localhost" ? "127.0.0.1" : host, port };
}

const joinHostPort = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

class Toxic implements LiveToxic, LiveHttpToxic {
  readonly shared: Record<string, unknown> = {};
  readonly counts: Counts = { seen: 0, matched: 0, faulted: 0 };
  rule: LiveHttpToxic["rule"];
  expiresAt?: number;
  timer?: NodeJS.Timeout;
  private ac = new AbortController();
  readonly removed = this.ac.signal;

  /** Gone from its proxy: its timer stops and what it holds (an HTTP delay) goes on. */
  retire(): void {
    clearTimeout(this.timer);
    this.ac.abort();
  }

  constructor(
    readonly name: string,
    readonly type: string,
    readonly stream: Stream,
    readonly toxicity: number,
    readonly def: ToxicDef,
    readonly attrs: Record<string, unknown>,
    readonly ttlMs?: number,
  ) {
    this.rule = def.http ? def.http(attrs) : { match: () => false, action: () => ({}) };
  }

  toJSON(): ToxicJson {
    return {
      name: this.name,
      type: this.type,
      stream: this.stream,
      toxicity: this.toxicity,
      attributes: this.attrs,
      ...(this.ttlMs !== undefined ? { ttl_ms: this.ttlMs, expires_at: new Date(Date.now() + (this.expiresAt! - performance.now())).toISOString() } : {}),
      counts: { ...this.counts },
    };
  }
}

/** Validate a toxic body (Toxiproxy's defaults: stream downstream, toxicity 1.0, name <type>_<stream>). */
export function parseToxic(body: unknown, layer: "tcp" | "http"): Toxic {
  if (!obj(body)) throw Err.badBody("expected a JSON object");
  const type = body.type;
  // Toxiproxy answers a missing type as an invalid one
  if (typeof type !== "string" || !type) throw Err.invalidToxicType("(none)");
  const def = toxicDef(type);
  if (!def) throw Err.invalidToxicType(type);
  const stream = body.stream ?? "downstream";
  if (stream !== "upstream" && stream !== "downstream") throw Err.invalidStream();
  const toxicity = body.toxicity ?? 1;
  if (typeof toxicity !== "number" || !(toxicity >= 0 && toxicity <= 1)) throw Err.badBody("toxicity: expected a number from 0 to 1");
  const name = body.name ?? `${type}_${stream}`;
  if (typeof name !== "string" || !name) throw Err.badBody("name: expected a string");
  if (def.layer !== layer)
    throw Err.badBody(def.layer === "http" ? `type ${type}: an HTTP toxic needs a proxy with "protocol": "http"` : `type ${type}: a TCP toxic cannot act on an HTTP proxy's requests; use http_delay, http_status, ... or a tcp proxy`);
  const attrs = parseAttrs(def, body.attributes ?? {});
  const ttl = body.ttl_ms;
  if (ttl !== undefined && (typeof ttl !== "number" || !(ttl > 0))) throw Err.badBody("ttl_ms: expected milliseconds > 0");
  return new Toxic(name, type, stream, toxicity, def, attrs, ttl as number | undefined);
}

function parseAttrs(def: ToxicDef, raw: unknown): Record<string, unknown> {
  if (!obj(raw)) throw Err.badBody("attributes: expected an object");
  const r = def.attributes.safeParse(raw);
  if (!r.success) throw Err.badBody(`attributes.${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message.replace(/^\w+: /, "")}`).join("; ")}`);
  return r.data as Record<string, unknown>;
}

export class Proxy {
  toxics: Toxic[] = [];
  readonly counts: ProxyCounts = { connections: 0, requests: 0, bytes_up: 0, bytes_down: 0 };
  private server: net.Server | null = null;
  private links = new Set<Link>();
  private stopAc = new AbortController();
  private actual?: string;

  constructor(
    readonly name: string,
    public listen: string,
    public upstream: string,
    public enabled: boolean,
    readonly protocol: "tcp" | "http",
    private onExpire: (p: Proxy, t: Toxic) => void,
  ) {}

  toJSON(): ProxyJson {
    return { name: this.name, listen: this.actual ?? this.listen, upstream: this.upstream, enabled: this.enabled, protocol: this.protocol, toxics: this.toxics.map((t) => t.toJSON()), counts: { ...this.counts } };
  }

  /** The address it listens on now ("127.0.0.1:40123"), when enabled. */
  get address(): string | undefined {
    return this.actual;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const { host, port } = splitHostPort(this.listen, "listen");
    this.stopAc = new AbortController();
    const server = this.protocol === "http" ? this.httpServer() : net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => this.accept(c));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e) => reject(Err.listen(`${this.listen}: ${(e as Error).message}`)));
      server.listen({ host, port }, () => resolve());
    });
    server.on("error", () => {});
    const a = server.address() as net.AddressInfo;
    this.actual = joinHostPort(a.address, a.port);
    this.server = server;
  }

  private httpServer(): net.Server {
    const up = () => splitHostPort(this.upstream, "upstream");
    const handler = httpHandler(up, () => this.toxics, this.counts, this.stopAc.signal);
    const s = http.createServer({ keepAlive: true }, (req, res) => void handler(req, res));
    s.on("connection", (c: net.Socket) => {
      this.counts.connections++;
      c.setNoDelay(true);
    });
    return s;
  }

  private accept(client: net.Socket): void {
    this.counts.connections++;
    const { host, port } = splitHostPort(this.upstream, "upstream");
    const upstream = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    const counts = { bytesUp: 0, bytesDown: 0 };
    const link = new Link(client, upstream, this.toxics, counts, (l) => {
      this.links.delete(l);
      this.counts.bytes_up += counts.bytesUp;
      this.counts.bytes_down += counts.bytesDown;
    });
    this.links.add(link);
  }

  /** Stop listening and end every connection (what the toxics hold is released and flushed, then a FIN; destroyed after 1 s more). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    this.actual = undefined;
    this.stopAc.abort();
    await Promise.all([...this.links].map((l) => l.shutdown()));
    if (s) {
      const closed = new Promise<void>((r) => s.close(() => r()));
      if (s instanceof http.Server) {
        // requests in flight finish (their delays were just released); then whatever is left goes
        s.closeIdleConnections();
        const t = setTimeout(() => s.closeAllConnections(), 1000);
        await closed;
        clearTimeout(t);
      } else await closed;
    }
  }

  addToxic(t: Toxic): Toxic {
    if (this.toxics.some((x) => x.name === t.name)) throw Err.toxicExists(t.name);
    this.toxics = [...this.toxics, t];
    if (t.ttlMs !== undefined) {
      t.expiresAt = performance.now() + t.ttlMs;
      t.timer = setTimeout(() => this.onExpire(this, t), t.ttlMs);
      t.timer.unref();
    }
    this.syncLinks();
    return t;
  }

  getToxic(name: string): Toxic {
    const t = this.toxics.find((x) => x.name === name);
    if (!t) throw Err.toxicNotFound(name);
    return t;
  }

  /** Toxiproxy's update: toxicity and attributes change (merged over the old ones); name, type and stream stay. */
  updateToxic(name: string, body: unknown): Toxic {
    const old = this.getToxic(name);
    if (!obj(body)) throw Err.badBody("expected a JSON object");
    const attrs = body.attributes === undefined ? old.attrs : parseAttrs(old.def, { ...old.attrs, ...(obj(body.attributes) ? body.attributes : {}) });
    if (body.attributes !== undefined && !obj(body.attributes)) throw Err.badBody("attributes: expected an object");
    const toxicity = body.toxicity ?? old.toxicity;
    if (typeof toxicity !== "number" || !(toxicity >= 0 && toxicity <= 1)) throw Err.badBody("toxicity: expected a number from 0 to 1");
    const ttl = body.ttl_ms ?? (old.expiresAt !== undefined ? Math.max(1, old.expiresAt - performance.now()) : undefined);
    if (ttl !== undefined && (typeof ttl !== "number" || !(ttl > 0))) throw Err.badBody("ttl_ms: expected milliseconds > 0");
    const t = new Toxic(old.name, old.type, old.stream, toxicity, old.def, attrs, ttl as number | undefined);
    old.retire();
    Object.assign(t.counts, old.counts);
    this.toxics = this.toxics.filter((x) => x !== old);
    return this.addToxic(t);
  }

  removeToxic(name: string): void {
    const t = this.getToxic(name);
    t.retire();
    this.toxics = this.toxics.filter((x) => x !== t);
    this.syncLinks();
  }

  clearTimers(): void {
    for (const t of this.toxics) clearTimeout(t.timer);
  }

  resetToxics(): void {
    for (const t of this.toxics) t.retire();
    this.toxics = [];
    this.syncLinks();
  }

  private syncLinks(): void {
    for (const l of this.links) l.sync(this.toxics);
  }

  get connections(): number {
    return this.links.size;
  }
}

export interface ProxyInput {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  protocol: "tcp" | "http";
  toxics?: Toxic[];
}

/** Validate a proxy body, toxics included; nothing changes. */
export function parseProxy(body: unknown, defaults: Partial<ProxyInput> = {}): ProxyInput {
  if (!obj(body)) throw Err.badBody("expected a JSON object");
  const name = body.name ?? defaults.name;
  if (typeof name !== "string" || !name) throw Err.missingField("name");
  const upstream = body.upstream ?? defaults.upstream;
  if (typeof upstream !== "string" || !upstream) throw Err.missingField("upstream");
  splitHostPort(upstream, "upstream");
  const listen = body.listen ?? defaults.listen ?? "127.0.0.1:0";
  if (typeof listen !== "string") throw Err.badBody("listen: expected host:port");
  splitHostPort(listen, "listen");
  const enabled = body.enabled ?? defaults.enabled ?? true;
  if (typeof enabled !== "boolean") throw Err.badBody("enabled: expected true or false");
  const protocol = body.protocol ?? defaults.protocol ?? "tcp";
  if (protocol !== "tcp" && protocol !== "http") throw Err.badBody('protocol: expected "tcp" or "http"');
  let toxics: Toxic[] | undefined;
  if (body.toxics !== undefined) {
    if (!Array.isArray(body.toxics)) throw Err.badBody("toxics: expected a list");
    toxics = body.toxics.map((t, i) => {
      try {
        return parseToxic(t, protocol);
      } catch (e) {
        if (e instanceof ApiError) throw new ApiError(`${e.message} (toxics[${i}])`, e.status);
        throw e;
      }
    });
    const names = toxics.map((t) => t.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw Err.toxicExists(`${dup} (twice in toxics)`);
  }
  return { name, listen, upstream, enabled, protocol, toxics };
}

export class ProxyCollection {
  private proxies = new Map<string, Proxy>();

  list(): Proxy[] {
    return [...this.proxies.values()];
  }

  get(name: string): Proxy {
    const p = this.proxies.get(name);
    if (!p) throw Err.proxyNotFound(name);
    return p;
  }

  /** Create a proxy with its toxics in place before it listens. */
  async add(input: ProxyInput): Promise<Proxy> {
    if (this.proxies.has(input.name)) throw Err.proxyExists(input.name);
    const p = new Proxy(input.name, input.listen, input.upstream, input.enabled, input.protocol, (px, t) => {
      if (px.toxics.includes(t)) px.removeToxic(t.name);
    });
    for (const t of input.toxics ?? []) p.addToxic(t);
    this.proxies.set(p.name, p);
    try {
      if (p.enabled) await p.start();
    } catch (e) {
      this.proxies.delete(p.name);
      p.resetToxics();
      throw e;
    }
    return p;
  }

  async remove(name: string): Promise<void> {
    const p = this.get(name);
    this.proxies.delete(name);
    // stopping ends every link, which releases what its toxics hold; the
    // toxics stay listed (with their counts) for whoever reads them last
    p.clearTimers();
    await p.stop();
  }

  /** POST/PATCH /proxies/{name}: listen, upstream, enabled (the rest stays). */
  async update(name: string, body: unknown): Promise<Proxy> {
    const p = this.get(name);
    if (!obj(body)) throw Err.badBody("expected a JSON object");
    const input = parseProxy({ ...body, name, protocol: undefined, toxics: undefined }, { listen: p.listen, upstream: p.upstream, enabled: p.enabled, protocol: p.protocol });
    const relisten = input.listen !== p.listen;
    p.upstream = input.upstream;
    if (relisten || !input.enabled) await p.stop();
    p.listen = input.listen;
    p.enabled = input.enabled;
    if (p.enabled) await p.start();
    return p;
  }

  /**
   * Toxiproxy's /populate: every entry is validated first (nothing changes on
   * a bad one); a proxy that exists with the same listen, upstream and
   * protocol is left alone (with its toxics, unless the entry lists toxics),
   * a different one is replaced, and proxies not listed stay. A listen
   * failure half-way removes what this call created.
   */
  async populate(body: unknown): Promise<Proxy[]> {
    if (!Array.isArray(body)) throw Err.badBody("expected a list of proxies");
    const inputs = body.map((b, i) => {
      try {
        return parseProxy(b);
      } catch (e) {
        if (e instanceof ApiError) throw new ApiError(`${e.message} (entry ${i})`, e.status);
        throw e;
      }
    });
    const names = inputs.map((p) => p.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw Err.proxyExists(`${dup} (twice in the list)`);
    const out: Proxy[] = [];
    const created: string[] = [];
    try {
      for (const input of inputs) {
        const old = this.proxies.get(input.name);
        if (old && old.listen === input.listen && old.upstream === input.upstream && old.protocol === input.protocol) {
          if (input.toxics) {
            old.resetToxics();
            for (const t of input.toxics) old.addToxic(t);
          }
          out.push(old);
          continue;
        }
        if (old) await this.remove(old.name);
        out.push(await this.add(input));
        created.push(input.name);
      }
    } catch (e) {
      for (const n of created) if (this.proxies.has(n)) await this.remove(n);
      throw e;
    }
    return out;
  }

  /** POST /reset: every proxy enabled again, every toxic gone. */
  async reset(): Promise<void> {
    for (const p of this.proxies.values()) {
      p.resetToxics();
      if (!p.enabled) {
        p.enabled = true;
        await p.start();
      }
    }
  }

  async close(): Promise<void> {
    for (const n of [...this.proxies.keys()]) await this.remove(n);
  }
}
