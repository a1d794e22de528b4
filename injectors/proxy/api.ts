// A Toxiproxy-compatible admin API (its routes, JSON fields, status codes
// and error bodies), so existing Toxiproxy clients work unchanged. Unlike
// Toxiproxy's open door: requests from a browser (an Origin or Sec-Fetch-Site
// header, or a Mozilla user agent, as Toxiproxy also refuses) get 403, and
// when the API listens beyond loopback every request needs the token.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import crypto from "node:crypto";
import type net from "node:net";
import { Registry } from "prom-client";
import { ApiError, Err } from "./errors";
import { parseProxy, parseToxic, type ProxyCollection } from "./proxy";
import { proxyMetrics } from "./metrics";

/** The Toxiproxy version we answer to (its clients check /version). */
export const TOXIPROXY_VERSION = "2.12.0";

export interface ApiOptions {
  host: string;
  port: number;
  /** required on every request when host is not loopback */
  token?: string;
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

const MAX_BODY = 1 << 20;

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on("data", (d: Buffer) => {
      n += d.length;
      if (n > MAX_BODY) return reject(Err.badBody("larger than 1 MiB"));
      parts.push(d);
    });
    req.on("error", reject);
    req.on("end", () => {
      const text = Buffer.concat(parts).toString("utf8");
      if (!text.trim()) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(Err.badBody((e as Error).message));
      }
    });
  });
}

type Handler = (p: Record<string, string>, req: IncomingMessage) => Promise<[number, unknown] | [number, unknown, string]>;

export function apiHandler(proxies: ProxyCollection, opts: { token?: string; registry?: Registry } = {}) {
  const registry = opts.registry ?? new Registry();
  proxyMetrics(registry, proxies);
  const json = async (req: IncomingMessage) => readJson(req);
  const routes: [string, RegExp, Handler][] = [
    ["POST", /^\/reset$/, async () => (await proxies.reset(), [204, null])],
    ["GET", /^\/proxies$/, async () => [200, Object.fromEntries(proxies.list().map((p) => [p.name, p.toJSON()]))]],
    ["POST", /^\/proxies$/, async (_p, req) => [201, (await proxies.add(parseProxy(await json(req)))).toJSON()]],
    [
      "POST",
      /^\/populate$/,
      async (_p, req) => {
        const list = await proxies.populate(await json(req));
        return [201, { proxies: list.map((p) => p.toJSON()) }];
      },
    ],
    ["GET", /^\/proxies\/(?<proxy>[^/]+)$/, async (p) => [200, proxies.get(p.proxy).toJSON()]],
    ["POST|PATCH", /^\/proxies\/(?<proxy>[^/]+)$/, async (p, req) => [200, (await proxies.update(p.proxy, await json(req))).toJSON()]],
    ["DELETE", /^\/proxies\/(?<proxy>[^/]+)$/, async (p) => (await proxies.remove(p.proxy), [204, null])],
    ["GET", /^\/proxies\/(?<proxy>[^/]+)\/toxics$/, async (p) => [200, proxies.get(p.proxy).toxics.map((t) => t.toJSON())]],
    [
      "POST",
      /^\/proxies\/(?<proxy>[^/]+)\/toxics$/,
      async (p, req) => {
        const px = proxies.get(p.proxy);
        return [200, px.addToxic(parseToxic(await json(req), px.protocol)).toJSON()];
      },
    ],
    ["GET", /^\/proxies\/(?<proxy>[^/]+)\/toxics\/(?<toxic>[^/]+)$/, async (p) => [200, proxies.get(p.proxy).getToxic(p.toxic).toJSON()]],
    ["POST|PATCH", /^\/proxies\/(?<proxy>[^/]+)\/toxics\/(?<toxic>[^/]+)$/, async (p, req) => [200, proxies.get(p.proxy).updateToxic(p.toxic, await json(req)).toJSON()]],
    ["DELETE", /^\/proxies\/(?<proxy>[^/]+)\/toxics\/(?<toxic>[^/]+)$/, async (p) => (proxies.get(p.proxy).removeToxic(p.toxic), [204, null])],
    ["GET", /^\/version$/, async () => [200, { version: TOXIPROXY_VERSION }]],
    ["GET", /^\/metrics$/, async () => [200, await registry.metrics(), registry.contentType]],
  ];

  const send = (res: ServerResponse, status: number, body: unknown, type = "application/json") => {
    if (status === 204) return res.writeHead(204).end();
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) }).end(text);
  };

  return async (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (req.headers.origin !== undefined || (req.headers["sec-fetch-site"] !== undefined && req.headers["sec-fetch-site"] !== "none") || /^Mozilla\//.test(req.headers["user-agent"] ?? ""))
        throw Err.browser();
      if (opts.token !== undefined) {
        const got = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
        const a = crypto.createHash("sha256").update(got).digest();
        const b = crypto.createHash("sha256").update(opts.token).digest();
        if (!crypto.timingSafeEqual(a, b)) throw Err.unauthorized();
      }
      const path = decodeURI((req.url ?? "/").split("?")[0]);
      let known = false;
      for (const [methods, re, h] of routes) {
        const m = re.exec(path);
        if (!m) continue;
        known = true;
        if (!methods.split("|").includes(req.method ?? "")) continue;
        const [status, body, type] = await h(m.groups ?? {}, req);
        return send(res, status, body, type);
      }
      throw known ? Err.methodNotAllowed(req.method) : Err.notFound(path);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError((e as Error).message, 500);
      send(res, err.status, err.body());
    }
  };
}

/** Listen; refuses to bind beyond loopback without a token. */
export async function startApi(proxies: ProxyCollection, o: ApiOptions): Promise<{ server: http.Server; port: number; close: () => Promise<void> }> {
  if (!isLoopback(o.host) && !o.token) throw new Error(`--host ${o.host}: the admin API beyond loopback needs a token (--token-file FILE or GAMEDAY_PROXY_TOKEN)`);
  const server = http.createServer(apiHandler(proxies, { token: o.token }));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
