// Sizes in experiments and CLIs are strings like "64M", "1.5G", "512KiB" or a
// bare number of bytes. Units are binary (K = 1024) whether or not the "i" is
// written, because memory and filesystem blocks are counted that way.
import { z } from "zod";
import { shown } from "./issues";

export const SIZE_HINT = "expected a size like 512M, 2G or 4096 (bytes)";

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|B)?$/i;
const POWER: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };

/** Bytes for "64M" / "1.5G" / "4096" / "512KiB"; throws with SIZE_HINT otherwise. */
export function parseSize(s: string): number {
  const m = SIZE_RE.exec(String(s).trim());
  if (!m) throw new Error(`${SIZE_HINT} (got ${shown(s)})`);
  const bytes = Math.floor(Number(m[1]) * 1024 ** (m[2] ? POWER[m[2].toUpperCase()] : 0));
  if (!Number.isSafeInteger(bytes)) throw new Error(`${SIZE_HINT} (got ${shown(s)}: too large)`);
  return bytes;
}

/** zod type: a size string (or a number of bytes) → bytes. */
export const sizeString = z
  .union([z.string(), z.number()], { error: SIZE_HINT })
  .transform((v, ctx) => {
    if (typeof v === "number") {
      if (Number.isSafeInteger(v) && v >= 0) return v;
      ctx.addIssue({ code: "custom", message: `${SIZE_HINT} (got ${shown(v)})` });
      return z.NEVER;
    }
    try {
      return parseSize(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  })
  .meta({ unit: "bytes", description: "size: 512M, 2G (K, M, G, T are binary) or a number of bytes", examples: ["64M"] });

/** "64 MiB", "1.5 GiB": for messages. */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}
