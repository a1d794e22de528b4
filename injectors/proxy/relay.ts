// The one TCP data path: a client socket joined to its upstream, each
// direction through the toxics of its stream. With no toxic selected a chunk
// is written straight on (backpressure by pause/drain, like stream.pipe);
// with toxics, chunks go one after another through each toxic in order, so
// a delayed chunk is never overtaken. Toxics come and go on live links: a new
// one rolls its toxicity for this link; a removed one has its signal
// aborted, so whatever it holds goes on at once — nothing is dropped.
// Used by the chaos proxy (proxy.ts) and by the latency fault's proxy path.
import type { Socket } from "node:net";
import type { Chunk, Counts, LinkIo, Stream, TcpBehaviour, ToxicDef } from "./toxic";

/** A toxic as the proxy holds it; links keep per-link state for each. */
export interface LiveToxic {
  readonly name: string;
  readonly stream: Stream;
  readonly toxicity: number;
  readonly def: ToxicDef;
  readonly attrs: unknown;
  /** one object per toxic, shared by its links (a proxy-wide bandwidth cap) */
  readonly shared: Record<string, unknown>;
  readonly counts: Counts;
}

interface Stage {
  toxic: LiveToxic;
  /** the toxicity roll selected this link */
  on: boolean;
  b: TcpBehaviour;
  ac: AbortController;
  io: LinkIo;
}

const HIGH_WATER = 1 << 20;

const isIterable = (x: unknown): x is AsyncIterable<Chunk> => !!x && typeof (x as AsyncIterable<Chunk>)[Symbol.asyncIterator] === "function";

class Direction {
  stages: Stage[] = [];
  private queue: (Chunk | null)[] = [];
  private queued = 0;
  private running = false;
  ended = false;

  constructor(
    readonly stream: Stream,
    private src: Socket,
    private dst: Socket,
    private link: Link,
    private count: (n: number) => void,
  ) {
    src.on("data", (d: Buffer) => this.input({ data: d, at: performance.now() }));
    src.on("end", () => this.input(null));
  }

  private active(): boolean {
    for (const s of this.stages) if (s.on) return true;
    return false;
  }

  private input(c: Chunk | null): void {
    if (!this.running && this.queue.length === 0 && !this.active()) {
      this.write(c);
      return;
    }
    this.queue.push(c);
    if (c) {
      this.queued += c.data.length;
      if (this.queued > HIGH_WATER) this.src.pause();
    }
    if (!this.running) void this.run();
  }

  /** Returns false when the sink wants us to wait for drain. */
  private write(c: Chunk | null): boolean {
    if (this.dst.destroyed) return true;
    if (c === null) {
      this.ended = true;
      this.dst.end();
      this.link.maybeDone();
      return true;
    }
    this.count(c.data.length);
    if (this.dst.write(c.data)) return true;
    this.src.pause();
    this.dst.once("drain", () => this.queued <= HIGH_WATER && this.src.resume());
    return false;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length && !this.link.closed) {
        const c = this.queue.shift()!;
        if (c) this.queued -= c.data.length;
        if (this.queued <= HIGH_WATER && this.src.isPaused() && this.dst.writableLength < HIGH_WATER) this.src.resume();
        const stages = this.stages.filter((s) => s.on);
        if (c === null) {
          for (const s of stages) if (s.b.end && !s.ac.signal.aborted) await s.b.end(s.io);
          this.write(null);
        } else await this.through(c, stages, 0);
      }
    } finally {
      this.running = false;
    }
  }

  private async through(c: Chunk, stages: Stage[], i: number): Promise<void> {
    if (this.link.closed) return;
    if (i === stages.length) {
      if (!this.write(c) && !this.dst.destroyed) await new Promise<void>((r) => this.dst.once("drain", r).once("close", r));
      return;
    }
    const s = stages[i];
    if (!s.b.chunk || s.ac.signal.aborted) return this.through(c, stages, i + 1);
    const out = s.b.chunk(c, s.io);
    if (isIterable(out)) {
      for await (const x of out) await this.through(x, stages, i + 1);
      return;
    }
    for (const x of out instanceof Promise ? await out : out) await this.through(x, stages, i + 1);
  }

  /** Bring this direction's stages in line with the proxy's toxics (same objects kept, new rolled, gone aborted). */
  sync(toxics: readonly LiveToxic[]): void {
    const mine = toxics.filter((t) => t.stream === this.stream && t.def.tcp);
    const keep: Stage[] = [];
    for (const s of this.stages) {
      if (mine.includes(s.toxic)) keep.push(s);
      else s.ac.abort();
    }
    for (const t of mine) {
      if (keep.some((s) => s.toxic === t)) continue;
      keep.push(this.stage(t));
    }
    this.stages = mine.map((t) => keep.find((s) => s.toxic === t)!);
  }

  private stage(t: LiveToxic): Stage {
    const ac = new AbortController();
    let faulted = false;
    const io: LinkIo = {
      signal: ac.signal,
      faulted: () => {
        if (!faulted) t.counts.faulted++;
        faulted = true;
      },
      close: () => this.link.close(),
      reset: () => this.link.reset(),
    };
    t.counts.seen++;
    const on = t.toxicity >= 1 || Math.random() < t.toxicity;
    if (on) t.counts.matched++;
    const s: Stage = { toxic: t, on, b: on ? t.def.tcp!(t.attrs, t.shared) : {}, ac, io };
    this.link.signal.addEventListener("abort", () => ac.abort(), { once: true });
    if (on) s.b.start?.(io);
    return s;
  }

  abortAll(): void {
    for (const s of this.stages) s.ac.abort();
  }

  get idle(): boolean {
    return !this.running && this.queue.length === 0;
  }
}

export interface LinkCounts {
  bytesUp: number;
  bytesDown: number;
}

/** One proxied connection: client ↔ upstream, with the toxics of both streams. */
export class Link {
  closed = false;
  private closing = false;
  private ac = new AbortController();
  readonly signal = this.ac.signal;
  private up: Direction;
  private down: Direction;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    toxics: readonly LiveToxic[],
    counts: LinkCounts,
    private onDone: (l: Link) => void,
  ) {
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.up = new Direction("upstream", client, upstream, this, (n) => (counts.bytesUp += n));
    this.down = new Direction("downstream", upstream, client, this, (n) => (counts.bytesDown += n));
    this.sync(toxics);
    // an error on one side: the other side learns by a reset, not a silent hang
    client.on("error", () => this.reset());
    upstream.on("error", () => this.reset());
    client.on("close", () => this.gone());
    upstream.on("close", () => this.gone());
  }

  sync(toxics: readonly LiveToxic[]): void {
    if (this.closed) return;
    this.up.sync(toxics);
    this.down.sync(toxics);
  }

  /** Both directions ended: the link is done once both sockets close. */
  maybeDone(): void {
    if (this.up.ended && this.down.ended) this.gone();
  }

  private gone(): void {
    if (this.client.destroyed && this.upstream.destroyed) this.finish();
    else if (this.up.ended && this.down.ended) {
      // both FINs passed: give the sockets a moment to flush, then let go
      setTimeout(() => this.destroy(), 1000).unref();
    } else if (this.client.destroyed || this.upstream.destroyed) {
      this.destroy();
    }
  }

  /**
   * The proxy is going away: release what the toxics hold, let it reach the
   * other side (at most 1 s), then end both sides — nothing is dropped.
   */
  async shutdown(): Promise<void> {
    this.ac.abort();
    const end = performance.now() + 1000;
    while (!(this.up.idle && this.down.idle) && performance.now() < end && !this.finished) await new Promise((r) => setTimeout(r, 5));
    this.close();
  }

  /** End both sides gracefully after what is already written (a FIN each way). */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.client.pause();
    this.upstream.pause();
    // after the chunk in hand is written (a toxic calls close() and returns its last bytes)
    setImmediate(() => {
      this.closed = true;
      this.ac.abort();
      this.client.end();
      this.upstream.end();
      setTimeout(() => this.destroy(), 1000).unref();
    });
  }

  /** Reset both sides (RST): "connection reset by peer". */
  reset(): void {
    this.closed = true;
    this.ac.abort();
    for (const s of [this.client, this.upstream]) {
      if (s.destroyed) continue;
      try {
        s.resetAndDestroy();
      } catch {
        s.destroy();
      }
    }
    this.finish();
  }

  destroy(): void {
    this.closed = true;
    this.ac.abort();
    this.client.destroy();
    this.upstream.destroy();
    this.finish();
  }

  private finished = false;
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.up.abortAll();
    this.down.abortAll();
    this.onDone(this);
  }
}
