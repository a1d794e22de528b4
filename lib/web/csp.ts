// The web app's Content-Security-Policy, built per request (proxy.ts): the
// worker's socket.io address is known only at run time, and Next.js puts the
// request's nonce on its own scripts. Nothing may frame the dashboard.
import { workerEnv } from "./worker-env";

/** Where the browser will open socket.io (lib/web/live.ts decides the same way). */
function socketSources(page: URL): string[] {
  const env = workerEnv();
  const u = env.publicUrl ? new URL(env.publicUrl) : new URL(`${page.protocol}//${page.hostname}:${env.port}`);
  const secure = u.protocol === "https:" || u.protocol === "wss:";
  return [`${secure ? "https" : "http"}://${u.host}`, `${secure ? "wss" : "ws"}://${u.host}`];
}

export function contentSecurityPolicy(o: { nonce: string; page: URL; dev: boolean }): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${o.nonce}' 'strict-dynamic'${o.dev ? " 'unsafe-eval'" : ""}`,
    // style elements: our stylesheets and Next.js's own (with the nonce), never one
    // injected into the page; style attributes (React and D3 set them) stay allowed.
    // `next dev` injects styles of its own (its overlay), without the nonce
    `style-src 'self' ${o.dev ? "'unsafe-inline'" : `'nonce-${o.nonce}'`}`,
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self' ${socketSources(o.page).join(" ")}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}
