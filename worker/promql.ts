// PromQL instant queries against a Prometheus server's HTTP API, with the
// probe's basic or bearer auth and TLS CA. node:http(s) rather than fetch: it
// takes a CA per request without another package. Shared by the prometheus
// probe and the error budgets.
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { PrometheusProbeSpec } from "../lib/experiment";

export interface PromConn {
  url: string;
  auth?: PrometheusProbeSpec["auth"];
  tls?: PrometheusProbeSpec["tls"];
}

export interface PromSeries {
  labels: Record<string, string>;
  /** NaN, +Inf and -Inf parse to themselves: the caller decides what they mean */
  value: number;
  /** the value as Prometheus wrote it */
  raw: string;
}

export class PromQueryError extends Error {}

/** Read secrets and CA once per probe, not per query (and fail at start with the file named). */
export function resolveConn(c: PromConn): { url: URL; headers: Record<string, string>; ca?: Buffer } {
  const headers: Record<string, string> = { accept: "application/json" };
  const read = (file: string, what: string) => {
    try {
      return fs.readFileSync(file, "utf8").trim();
    } catch (e) {
      throw new PromQueryError(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  if (c.auth && "basic" in c.auth) {
    const pw = c.auth.basic.password ?? read(c.auth.basic.passwordFile!, "password file");
    headers.authorization = `Basic ${Buffer.from(`${c.auth.basic.username}:${pw}`).toString("base64")}`;
  } else if (c.auth && "bearer" in c.auth) {
    headers.authorization = `Bearer ${c.auth.bearer.token ?? read(c.auth.bearer.tokenFile!, "token file")}`;
  }
  let ca: Buffer | undefined;
  if (c.tls) {
    try {
      ca = fs.readFileSync(c.tls.caFile);
    } catch (e) {
      throw new PromQueryError(`cannot read the CA file ${c.tls.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return { url: new URL(c.url), headers, ca };
}

export type ResolvedConn = ReturnType<typeof resolveConn>;

/** One instant query (at `atMs`, default: now): an instant vector's series, or a scalar as one series without labels. */
export function queryInstant(conn: ResolvedConn, query: string, timeoutMs: number, signal?: AbortSignal, atMs?: number): Promise<PromSeries[]> {
  const u = new URL("api/v1/query", conn.url.href.endsWith("/") ? conn.url : new URL(conn.url.href + "/"));
  u.searchParams.set("query", query);
  if (atMs !== undefined) u.searchParams.set("time", (atMs / 1000).toFixed(3));
  const mod = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method: "GET", headers: conn.headers, ca: conn.ca, timeout: timeoutMs, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: { status?: string; error?: string; data?: { resultType: string; result: unknown } };
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          return reject(new PromQueryError(`HTTP ${res.statusCode} from ${u.origin}: not a Prometheus API answer: ${text.slice(0, 120)}`));
        }
        if (body.status !== "success" || !body.data) return reject(new PromQueryError(`HTTP ${res.statusCode} from ${u.origin}: ${body.error ?? "query failed"}`));
        const { resultType, result } = body.data;
        if (resultType === "scalar") {
          const [, raw] = result as [number, string];
          return resolve([{ labels: {}, value: Number(raw), raw }]);
        }
        if (resultType !== "vector") return reject(new PromQueryError(`the query returns a ${resultType}; give an instant vector or a scalar (no range selector)`));
        resolve((result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({ labels: r.metric, value: Number(r.value[1]), raw: r.value[1] })));
      });
    });
    req.on("timeout", () => req.destroy(new PromQueryError(`no answer from ${u.origin} within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Prometheus's own graph page with the same query, ending at `atMs` (wall clock). */
export function graphLink(url: string, query: string, atMs: number): string {
  const u = new URL("graph", url.endsWith("/") ? url : url + "/");
  u.searchParams.set("g0.expr", query);
  u.searchParams.set("g0.tab", "0");
  u.searchParams.set("g0.range_input", "15m");
  u.searchParams.set("g0.end_input", new Date(atMs + 5 * 60_000).toISOString().slice(0, 19).replace("T", " "));
  return u.href;
}
