// HTTP GET with a hard deadline, and the loopback rule. Shared by the services
// (upstream calls), the supervisor (health checks) and the load generator so a
// frozen peer always costs at most the timeout, never a hang.
import http from "node:http";
import net from "node:net";

/** Bodies are small JSON here; anything bigger is cut so a confused peer cannot balloon memory. */
const MAX_BODY_BYTES = 64 * 1024;

export class TimeoutError extends Error {
  override name = "TimeoutError";
}

export interface GetResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * GET `url`; rejects with TimeoutError when the whole exchange (connect, headers
 * and body) takes longer than `timeoutMs`, and with the socket error otherwise.
 * The deadline is our own timer plus destroy(): a SIGSTOPped peer still accepts
 * TCP connections (the kernel does), so only a timer notices it.
 */
export function httpGet(url: string, opts: { timeoutMs: number; agent?: http.Agent }): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timedOut = false;
    const done = (err: Error | null, value?: GetResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // once the deadline fired, whatever error destroy() caused downstream is really a timeout
      if (timedOut) reject(new TimeoutError(`no answer from ${url} within ${opts.timeoutMs} ms`));
      else if (err) reject(err);
      else resolve(value!);
    };
    const req = http.get(url, { agent: opts.agent }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY_BYTES) chunks.push(c);
      });
      res.on("end", () => done(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (e) => done(e));
      res.on("close", () => done(new Error(`connection to ${url} closed mid-response`)));
    });
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new TimeoutError("deadline"));
    }, opts.timeoutMs);
    req.on("error", (e) => done(e));
  });
}

/** 127.0.0.0/8 or ::1, as literals: a name could resolve anywhere, so "localhost" is not accepted. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (net.isIPv4(h)) return h.startsWith("127.");
  if (net.isIPv6(h)) return h === "::1" || h === "0:0:0:0:0:0:0:1";
  return false;
}

/** Parse an http:// URL whose host is loopback, or throw saying why not. */
export function loopbackUrl(input: string, what = "URL"): URL {
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    throw new Error(`${what} ${JSON.stringify(input)} is not a valid URL`);
  }
  if (u.protocol !== "http:") throw new Error(`${what} ${JSON.stringify(input)} must use http://`);
  if (!isLoopbackHost(u.hostname)) {
    throw new Error(`${what} ${JSON.stringify(input)} is not a loopback address: the demo only talks to 127.0.0.0/8 or [::1] (use 127.0.0.1, not a host name)`);
  }
  return u;
}
