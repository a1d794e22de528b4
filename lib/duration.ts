// Durations in experiments and CLIs are strings like "500ms", "10s", "2m", "1h"
// (or a bare number of milliseconds). One parser, one error message.
import { z } from "zod";
import { shown } from "./issues";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

export const DURATION_HINT = "expected a duration like 500ms, 10s, 5m or 1h";

/** Milliseconds for "500ms" / "1.5s" / 250, or null when it is not a duration (negative included). */
export function parseDuration(input: unknown): number | null {
  if (typeof input === "number") return Number.isFinite(input) && input >= 0 ? input : null;
  if (typeof input !== "string") return null;
  const m = DURATION_RE.exec(input.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]]);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** zod type: a duration string (or ms number) → milliseconds. Its JSON Schema says so, with the bounds and an example inside them. */
export function duration(opts: { min?: number; max?: number } = {}) {
  const bounds = [opts.min ? `at least ${formatDuration(opts.min)}` : "", opts.max !== undefined ? `at most ${formatDuration(opts.max)}` : ""].filter(Boolean).join(", ");
  const example = formatDuration(Math.min(Math.max(1000, opts.min ?? 0), opts.max ?? Infinity));
  return z
    .union([z.string(), z.number()], { error: DURATION_HINT })
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === null && /^\s*-/.test(String(v))) {
        ctx.addIssue({ code: "custom", message: `must not be negative (got ${shown(v)})` });
        return z.NEVER;
      }
      if (ms === null) {
        ctx.addIssue({ code: "custom", message: `${DURATION_HINT} (got ${shown(v)})` });
        return z.NEVER;
      }
      if (opts.min !== undefined && ms < opts.min) {
        ctx.addIssue({ code: "custom", message: `must be at least ${formatDuration(opts.min)} (got ${shown(v)})` });
        return z.NEVER;
      }
      if (opts.max !== undefined && ms > opts.max) {
        ctx.addIssue({ code: "custom", message: `must be at most ${formatDuration(opts.max)} (got ${shown(v)})` });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ unit: "ms", description: `duration: 500ms, 10s, 5m, 1h or a number of milliseconds${bounds ? `; ${bounds}` : ""}`, examples: [example] });
}
