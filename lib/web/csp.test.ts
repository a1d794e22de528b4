// The web app's policy, as text: scripts and style elements need the
// request's nonce (a nonce makes browsers ignore 'unsafe-inline', so it is
// never given beside one), style attributes are allowed, nothing frames the
// page; `next dev` gets what its overlay needs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { contentSecurityPolicy } from "./csp";

const directives = (csp: string) => new Map(csp.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]));

test("production: scripts and style elements by nonce, style attributes allowed, no framing", () => {
  const d = directives(contentSecurityPolicy({ nonce: "abc123", page: new URL("http://127.0.0.1:3000/"), dev: false }));
  assert.equal(d.get("script-src"), "'self' 'nonce-abc123' 'strict-dynamic'");
  assert.equal(d.get("style-src"), "'self' 'nonce-abc123'");
  assert.equal(d.get("style-src-attr"), "'unsafe-inline'");
  assert.equal(d.get("frame-ancestors"), "'none'");
  assert.equal(d.get("object-src"), "'none'");
  assert.match(d.get("connect-src") ?? "", /^'self' http:\/\/127\.0\.0\.1:\d+ ws:\/\/127\.0\.0\.1:\d+$/);
});

test("next dev: eval for its runtime, inline style elements for its overlay, and then no nonce on styles", () => {
  const d = directives(contentSecurityPolicy({ nonce: "abc123", page: new URL("http://127.0.0.1:3000/"), dev: true }));
  assert.equal(d.get("script-src"), "'self' 'nonce-abc123' 'strict-dynamic' 'unsafe-eval'");
  assert.equal(d.get("style-src"), "'self' 'unsafe-inline'");
});
