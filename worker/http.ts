// Small HTTP plumbing of the worker's API: cookies and credentials, the
// client's address, JSON bodies, answers with the security headers.
import type http from "node:http";
import { z } from "zod";
import { SESSION_COOKIE } from "../lib/contract";
import { ApiErr } from "../lib/errors";
import { zodIssues } from "../lib/issues";
import type { RequestMeta } from "./audit";

const MAX_BODY = 512 * 1024;

/**
 * On every answer: nothing the worker serves is a page, so nothing may be
 * framed, run, sniffed or referred from.
 */
export const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-resource-policy": "same-site",
} as const;

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    try {
      out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      // a malformed cookie of someone else's is not ours to fail on
    }
  }
  return out;
}

export function credentials(headers: http.IncomingHttpHeaders): { bearer?: string; cookie?: string } {
  const auth = headers.authorization;
  return {
    bearer: auth?.startsWith("Bearer ") ? auth.slice(7).trim() : undefined,
    cookie: parseCookies(headers.cookie)[SESSION_COOKIE],
  };
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/**
 * The client's address. X-Forwarded-For counts only from a loopback peer:
 * that is the web app's proxy on this host, and its last hop is the browser.
 */
export function clientAddress(req: http.IncomingMessage): string {
  const peer = req.socket.remoteAddress ?? "unknown";
  const xff = req.headers["x-forwarded-for"];
  if (LOOPBACK.test(peer) && typeof xff === "string" && xff.trim()) return xff.split(",").pop()!.trim().slice(0, 100) || peer;
  return peer;
}

export function requestMeta(req: http.IncomingMessage): RequestMeta {
  const o = req.headers.origin;
  return { address: clientAddress(req), origin: typeof o === "string" ? o.slice(0, 200) : null };
}

export async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  // JSON only: a cross-site HTML form cannot send it without a CORS preflight
  if (!type.startsWith("application/json")) throw new ApiErr("invalid_input", "expected a JSON body (content-type: application/json)");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ApiErr("payload_too_large", `request body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch {
    throw new ApiErr("invalid_input", "request body is not valid JSON");
  }
}

export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new ApiErr("invalid_input", "invalid request body", zodIssues(r.error));
  return r.data;
}

export function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(text);
}
