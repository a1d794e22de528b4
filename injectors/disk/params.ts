// Parameters shared by the disk faults (disk-fill, io-stress): a write rate
// and the safety floor with its override.
import { z } from "zod";
import { parseSize, sizeString } from "../../lib/size";
import { shown } from "../../lib/issues";

export const DEFAULT_RESERVE_BYTES = 512 * 1024 ** 2;
const RATE_HINT = "expected a rate like 50M/s, 1G/s or 4096 (bytes per second)";

/** zod type: bytes per second from "50M/s", "50M", "1.5GiB/s" or a number. */
export const rateString = z.union([z.string(), z.number()], { error: RATE_HINT }).transform((v, ctx) => {
  let bytes = NaN;
  try {
    bytes = typeof v === "number" ? v : parseSize(v.trim().replace(/\/s(ec)?$/i, ""));
  } catch {
    /* reported below */
  }
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    ctx.addIssue({ code: "custom", message: `${RATE_HINT} (got ${shown(v)})` });
    return z.NEVER;
  }
  return bytes;
}).meta({ unit: "bytes/s", description: "rate: 50M/s, 1G/s or a number of bytes per second", examples: ["10M/s"] });

/** The safety floor and its override. */
export const reserveParam = sizeString.default(DEFAULT_RESERVE_BYTES);
export const forceParam = z.boolean({ error: "expected true or false" }).default(false);
