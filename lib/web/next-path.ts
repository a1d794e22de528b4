// Where the login page may send the user afterwards: a path on this origin,
// nothing else. Judged the way a browser would load it (it drops tabs and
// newlines from URLs and reads \ as /, so "/\t/evil.com" is "//evil.com",
// another host), then resolved against this origin and checked again.

/** The same-origin path in `raw` (pathname, query, fragment), or "/". */
export function safeNextPath(raw: string | null | undefined, origin: string): string {
  if (!raw || !raw.startsWith("/") || /[\u0000-\u001f\u007f\\]/.test(raw) || raw.startsWith("//")) return "/";
  let u: URL;
  try {
    u = new URL(raw, origin);
  } catch {
    return "/";
  }
  const out = u.pathname + u.search + u.hash;
  // "/.//evil.com" resolves to the path "//evil.com", which a router would take as a host
  return u.origin === new URL(origin).origin && !out.startsWith("//") ? out : "/";
}
