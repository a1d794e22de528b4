// One catalogue of API errors, each carrying its HTTP status, with Toxiproxy's
// own messages (its clients match on them): the body is {"error": msg, "status": N}.
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
  body(): { error: string; status: number } {
    return { error: this.message, status: this.status };
  }
}

const join = (base: string, status: number) => (detail?: string) => new ApiError(detail ? `${base}: ${detail}` : base, status);

export const Err = {
  badBody: join("bad request body", 400),
  missingField: join("missing required field", 400),
  proxyNotFound: join("proxy not found", 404),
  proxyExists: join("proxy already exists", 409),
  invalidStream: join("stream was invalid, can be either upstream or downstream", 400),
  invalidToxicType: join("invalid toxic type", 400),
  toxicExists: join("toxic already exists", 409),
  toxicNotFound: join("toxic not found", 404),
  notFound: join("not found", 404),
  methodNotAllowed: join("method not allowed", 405),
  browser: join("browser-origin requests are refused", 403),
  unauthorized: join("a token is required (Authorization: Bearer TOKEN)", 401),
  listen: join("could not listen", 500),
};
