// The one catalogue of API errors, each with its HTTP status.
import type { ValidationIssue } from "./contract";

export const ERRORS = {
  invalid_input: 422,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 422,
  payload_too_large: 413,
  rate_limited: 429,
  /** the worker lacks a program a request needs (Chromium for PDF reports) */
  renderer_unavailable: 503,
  internal: 500,
} as const;
export type ErrorCode = keyof typeof ERRORS;

export class ApiErr extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues?: ValidationIssue[],
    /** extra response headers, e.g. Retry-After on rate_limited */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  get status(): number {
    return ERRORS[this.code];
  }
  body() {
    return { error: this.message, code: this.code, ...(this.issues ? { issues: this.issues } : {}) };
  }
}
