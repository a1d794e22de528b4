// Runs before every page and route of the web app: a fresh nonce and the
// Content-Security-Policy built from it (lib/web/csp.ts). Next.js reads the
// nonce from the request's policy and puts it on its own scripts, which is
// why every page is rendered per request (app/layout.tsx).
import { NextResponse, type NextRequest } from "next/server";
import { contentSecurityPolicy } from "@/lib/web/csp";

export function proxy(request: NextRequest): NextResponse {
  const nonce = Buffer.from(crypto.randomUUID()).toString("base64");
  // the page as the browser addressed it (nextUrl names the server's own host name)
  const host = request.headers.get("host") ?? request.nextUrl.host;
  const proto = request.headers.get("x-forwarded-proto") === "https" ? "https:" : request.nextUrl.protocol;
  let page: URL;
  try {
    page = new URL(`${proto}//${host}`);
  } catch {
    page = request.nextUrl;
  }
  const csp = contentSecurityPolicy({ nonce, page, dev: process.env.NODE_ENV === "development" });
  const headers = new Headers(request.headers);
  headers.set("content-security-policy", csp);
  const res = NextResponse.next({ request: { headers } });
  res.headers.set("content-security-policy", csp);
  return res;
}

export const config = {
  matcher: [{ source: "/((?!_next/static|_next/image|favicon.ico|icon.svg).*)" }],
};
