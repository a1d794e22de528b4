// The toxic contract and its one table, after Toxiproxy's toxics/toxic.go:
// every toxic file defines its attributes (zod, Toxiproxy's names and units)
// and a tiny behaviour, and registers itself here. TCP toxics see the chunks
// of one direction of one connection; HTTP toxics see one request at a time
// (injectors/proxy/http.ts). Every wait a toxic makes takes the signal that
// fires when the toxic is removed or the connection closes, so nothing blocks
// past its toxic's life and no chunk is dropped by a removal.
import type { z } from "zod";
import type { IncomingMessage } from "node:http";

export type Stream = "upstream" | "downstream";

/** A piece of data and when it reached the proxy (performance.now(), ms): delays count from arrival. */
export interface Chunk {
  data: Buffer;
  at: number;
}

export interface Counts {
  /** connections (tcp) or requests (http) the toxic was evaluated on */
  seen: number;
  /** of those, the ones its match and toxicity roll selected */
  matched: number;
  /** of those, the ones it actually changed (delayed, cut, answered, ...) */
  faulted: number;
}

/** What a TCP toxic may do to its link. */
export interface LinkIo {
  /** aborted when the toxic is removed or the link closes */
  signal: AbortSignal;
  /** mark this connection as faulted (counted once per link) */
  faulted(): void;
  /** end the link gracefully (flushing what went before) */
  close(): void;
  /** reset both sockets (RST) */
  reset(): void;
}

export interface TcpBehaviour {
  /** when the toxic starts on a link (after the toxicity roll selected it) */
  start?(io: LinkIo): void;
  /** the chunks to pass on for this one, in order (may wait on io.signal; a generator may yield pieces over time) */
  chunk?(c: Chunk, io: LinkIo): Chunk[] | Promise<Chunk[]> | AsyncIterable<Chunk>;
  /** the input ended: may wait before the end goes on */
  end?(io: LinkIo): void | Promise<void>;
}

export interface HttpIo {
  signal: AbortSignal;
}

/** What an HTTP toxic does to one matched request. */
export interface HttpAction {
  /** answer without asking the upstream */
  respond?: { status: number; headers: Record<string, string>; body: string };
  /** wait this long (ms) before forwarding */
  delayMs?: number;
  /** rewrite each response body chunk (same length) */
  corrupt?: (chunk: Buffer) => Buffer;
  /** destroy the connection (RST) after this many body bytes */
  abortAfter?: number;
  /** end the response cleanly after this many body bytes */
  truncateAt?: number;
}

export interface ToxicDef<A = any> {
  /** Toxiproxy's type name, e.g. "latency" */
  readonly type: string;
  /** tcp: a chunk-level toxic; http: needs an HTTP proxy (protocol "http") */
  readonly layer: "tcp" | "http";
  readonly description: string;
  /** attributes with their defaults (Toxiproxy's names and units) */
  readonly attributes: z.ZodType<A>;
  /**
   * tcp: a behaviour per link (state lives in the closure); `shared` is one
   * object per toxic across its links (a proxy-wide bandwidth cap)
   */
  tcp?(attrs: A, shared: Record<string, unknown>): TcpBehaviour;
  /** http: does the request match (beyond toxicity)? What to do with it. */
  http?(attrs: A): { match(req: IncomingMessage): boolean; action(): HttpAction };
}

const table = new Map<string, ToxicDef>();

export function registerToxic(def: ToxicDef): void {
  if (table.has(def.type)) throw new Error(`toxic "${def.type}" registered twice`);
  table.set(def.type, def);
}

export function toxicDef(type: string): ToxicDef | undefined {
  return table.get(type);
}

export function toxicTypes(): string[] {
  return [...table.keys()].sort();
}

/**
 * Wait until performance.now() reaches `until` (ms), or the signal aborts.
 * A timer takes us to ~1.5 ms before, then setImmediate steps the rest: plain
 * timers fire 1-2 ms late, which a 500 ms ± 1 ms latency toxic cannot afford.
 */
export function waitUntil(until: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || performance.now() >= until) return resolve();
    let t: NodeJS.Timeout | undefined;
    let im: NodeJS.Immediate | undefined;
    const done = () => {
      if (t) clearTimeout(t);
      if (im) clearImmediate(im);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const step = () => {
      if (signal.aborted || performance.now() >= until) return done();
      const left = until - performance.now();
      if (left > 2) t = setTimeout(step, left - 1.5);
      else im = setImmediate(step);
    };
    signal.addEventListener("abort", done, { once: true });
    step();
  });
}

export const waitFor = (ms: number, signal: AbortSignal) => waitUntil(performance.now() + ms, signal);
