// http-fault: an HTTP proxy to the target whose toxics act per request
// (status with Retry-After, delay, abort mid-response, corrupt or truncate
// the body), matched by method, path prefix or regex and header.
import { proxyInjector } from "./proxy/fault";
import { register } from "./registry";

export const httpFault = proxyInjector({
  name: "http-fault",
  description: "An HTTP proxy on params.listen to the target with per-request toxics: http_status (e.g. 503 + Retry-After), http_delay, http_abort, http_corrupt, http_truncate, matched by method, path and header.",
  layer: "http",
});

register(httpFault);
