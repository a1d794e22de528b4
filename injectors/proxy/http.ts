// The HTTP layer of a proxy with protocol "http": requests are parsed by
// node:http and forwarded over a keep-alive agent, and every HTTP toxic is
// evaluated per request — toxicity is rolled for each request, also on a
// keep-alive connection (Toxiproxy rolls once per connection, so p = 0.2
// over 1,000 requests on one socket gives 0 or 1,000 faults).
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Counts, HttpAction, ToxicDef } from "./toxic";
import { waitFor } from "./toxic";

export interface LiveHttpToxic {
  readonly toxicity: number;
  readonly def: ToxicDef;
  readonly counts: Counts;
  readonly rule: { match(req: IncomingMessage): boolean; action(): HttpAction };
  /** aborted when the toxic is removed: a request it holds goes on at once */
  readonly removed: AbortSignal;
}

export interface HttpCounts {
  requests: number;
}

export function httpHandler(upstream: () => { host: string; port: number }, toxics: () => readonly LiveHttpToxic[], counts: HttpCounts, signal: AbortSignal) {
  const agent = new http.Agent({ keepAlive: true });
  signal.addEventListener("abort", () => agent.destroy(), { once: true });
  return async (req: IncomingMessage, res: ServerResponse) => {
    counts.requests++;
    const hit: { t: LiveHttpToxic; a: HttpAction }[] = [];
    for (const t of toxics()) {
      t.counts.seen++;
      if (!t.rule.match(req)) continue;
      if (t.toxicity < 1 && Math.random() >= t.toxicity) continue;
      t.counts.matched++;
      hit.push({ t, a: t.rule.action() });
    }
    const delay = hit.reduce((s, h) => s + (h.a.delayMs ?? 0), 0);
    if (delay > 0) {
      for (const h of hit) if (h.a.delayMs) h.t.counts.faulted++;
      await waitFor(delay, AbortSignal.any([signal, ...hit.filter((h) => h.a.delayMs).map((h) => h.t.removed)]));
    }
    const answer = hit.find((h) => h.a.respond);
    if (answer) {
      answer.t.counts.faulted++;
      const r = answer.a.respond!;
      req.resume();
      res.writeHead(r.status, { ...r.headers, "content-length": String(Buffer.byteLength(r.body)) });
      return res.end(r.body);
    }
    const { host, port } = upstream();
    const out = http.request({ host, port, method: req.method, path: req.url, headers: req.headers, agent }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
      const cut = hit.find((h) => h.a.abortAfter !== undefined || h.a.truncateAt !== undefined);
      const corrupt = hit.filter((h) => h.a.corrupt);
      if (!cut && !corrupt.length) return up.pipe(res);
      let sent = 0;
      const limit = cut ? (cut.a.abortAfter ?? cut.a.truncateAt!) : Infinity;
      let done = false;
      const stop = () => {
        if (done) return;
        done = true;
        cut!.t.counts.faulted++;
        up.destroy();
        // abort: a reset mid-body; truncate: a clean FIN with the body short of its length
        if (cut!.a.abortAfter !== undefined) res.socket?.resetAndDestroy();
        else res.socket?.end();
      };
      if (corrupt.length) for (const h of corrupt) h.t.counts.faulted++;
      up.on("data", (d: Buffer) => {
        if (done) return;
        for (const h of corrupt) d = h.a.corrupt!(d);
        if (sent + d.length >= limit && limit !== Infinity) {
          const room = limit - sent;
          sent = limit;
          if (room > 0) res.write(d.subarray(0, room), () => stop());
          else stop();
          return;
        }
        sent += d.length;
        if (!res.write(d)) {
          up.pause();
          res.once("drain", () => up.resume());
        }
      });
      up.on("end", () => !done && res.end());
    });
    out.on("error", (e) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`gameday proxy: upstream ${host}:${port}: ${e.message}\n`);
    });
    req.pipe(out);
  };
}
