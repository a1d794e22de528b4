// Which requests an HTTP toxic acts on: every given field must match. The
// attribute names follow Toxiproxy's snake_case.
import { z } from "zod";
import type { IncomingMessage } from "node:http";

const regex = (field: string) =>
  z.string().refine(
    (s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    },
    { message: `${field}: not a valid regular expression` },
  );

export const matchAttributes = {
  /** e.g. "GET" (case-insensitive) */
  method: z.string().optional(),
  path_prefix: z.string().optional(),
  path_regex: regex("path_regex").optional(),
  /** a request header that must be present ... */
  header: z.string().optional(),
  /** ... and, when given, match this regex */
  header_regex: regex("header_regex").optional(),
};

export type MatchAttrs = { method?: string; path_prefix?: string; path_regex?: string; header?: string; header_regex?: string };

export function matcher(a: MatchAttrs): (req: IncomingMessage) => boolean {
  const path = a.path_regex ? new RegExp(a.path_regex) : null;
  const hv = a.header_regex ? new RegExp(a.header_regex) : null;
  const method = a.method?.toUpperCase();
  return (req) => {
    if (method && req.method !== method) return false;
    const url = req.url ?? "/";
    if (a.path_prefix && !url.startsWith(a.path_prefix)) return false;
    if (path && !path.test(url)) return false;
    if (a.header) {
      const v = req.headers[a.header.toLowerCase()];
      if (v === undefined) return false;
      if (hv && !hv.test(Array.isArray(v) ? v.join(", ") : v)) return false;
    }
    return true;
  };
}
