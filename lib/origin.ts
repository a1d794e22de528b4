// Which browser pages may act with a user's session cookie. A cookie rides
// along with every request the browser makes to our host, whichever page asks
// (a demo on another port, a notebook, a sibling subdomain), so a mutation or
// a socket.io handshake that authenticates by cookie must come from a page we
// trust; the Origin header says which page that is. Bearer tokens are never
// sent by the browser on its own, so they are not checked here.
import os from "node:os";
import { config } from "./config";

/**
 * The configured origins, or the dashboard's own: both loopback names, and
 * the address it listens on (the host's name when that is every address).
 */
export function trustedOrigins(): string[] {
  const c = config();
  if (c.GAMEDAY_ORIGINS.length) return c.GAMEDAY_ORIGINS;
  const out = [`http://127.0.0.1:${c.PORT}`, `http://localhost:${c.PORT}`];
  const bind = c.GAMEDAY_BIND;
  if (bind === "0.0.0.0" || bind === "::") out.push(`http://${os.hostname()}:${c.PORT}`);
  else if (!/^(127\.|localhost$|::1$)/.test(bind)) out.push(`http://${bind.includes(":") ? `[${bind}]` : bind}:${c.PORT}`);
  return out;
}

export type OriginVerdict = { ok: true } | { ok: false; reason: string };

/**
 * May a request with this Origin header act on a cookie? A missing Origin is
 * refused: every browser sends one on a POST and on a WebSocket handshake, so
 * only a client that could send a bearer token instead arrives without it.
 */
export function checkOrigin(origin: string | null | undefined, trusted: readonly string[] = trustedOrigins()): OriginVerdict {
  if (!origin) return { ok: false, reason: "a request authenticated by a session cookie must carry an Origin header (use an API token otherwise)" };
  if (trusted.includes(origin)) return { ok: true };
  return { ok: false, reason: `origin ${origin} is not trusted (GAMEDAY_ORIGINS: ${trusted.join(", ")})` };
}

/** Cookies go out Secure when the page that logged in was served over HTTPS, or every trusted origin is HTTPS. */
export function secureCookies(origin: string | null | undefined, trusted: readonly string[] = trustedOrigins()): boolean {
  return Boolean(origin?.startsWith("https:")) || (trusted.length > 0 && trusted.every((o) => o.startsWith("https:")));
}

/** HTTP methods that change something (every other method only reads). */
export const isMutation = (method: string | undefined) => !["GET", "HEAD", "OPTIONS"].includes(method ?? "GET");
