// Turning zod errors into the flat "path: message" list users see.
import type { z } from "zod";
import type { ValidationIssue } from "./contract";

/**
 * A value quoted into an error message, cut short: a message must stay
 * readable (and small) whatever was sent, a megabyte string included.
 */
export function shown(v: unknown, max = 60): string {
  const text = typeof v === "string" ? JSON.stringify(v) : String(v);
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

export function issuePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

export function zodIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): ValidationIssue[] {
  return error.issues.map((i) => ({ path: issuePath([...prefix, ...i.path]), message: i.message }));
}

export function formatIssues(issues: ValidationIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("\n");
}
