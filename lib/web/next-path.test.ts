// The login page's ?next= is never an open redirect.
import { test } from "node:test";
import assert from "node:assert/strict";
import { safeNextPath } from "./next-path";

const ORIGIN = "http://127.0.0.1:3000";
/** As the login page reads it: URLSearchParams decodes once. */
const fromQuery = (q: string) => safeNextPath(new URLSearchParams(q).get("next"), ORIGIN);

test("same-origin paths are kept, with their query and fragment", () => {
  assert.equal(fromQuery("next=%2Fruns%2F20261126-181502-3fa9c1"), "/runs/20261126-181502-3fa9c1");
  assert.equal(fromQuery("next=/runs/x%3Fa%3D1%23t"), "/runs/x?a=1#t");
  assert.equal(fromQuery("next=/admin"), "/admin");
  assert.equal(fromQuery(""), "/");
});

test("anything that would leave the origin becomes /", () => {
  for (const q of [
    "next=/%09/evil.com",
    "next=/%0a/evil.com",
    "next=/%0d%0a/evil.com",
    "next=//evil.com",
    "next=%2F%2Fevil.com",
    "next=/%5Cevil.com",
    "next=/\\evil.com",
    "next=\\\\evil.com",
    "next=https://evil.com/",
    "next=http:evil.com",
    "next=javascript:alert(1)",
    "next=/.//evil.com",
    "next=/..//evil.com",
    "next=%20/evil.com",
    "next=evil.com",
    "next=/%00/evil.com",
  ]) {
    const got = fromQuery(q);
    assert.ok(!got.startsWith("//"), `${q} → ${got}`);
    assert.equal(new URL(got, ORIGIN).origin, ORIGIN, `${q} → ${got}`);
    // what a browser makes of it, tabs and newlines dropped
    assert.equal(new URL(got.replace(/[\t\n\r]/g, ""), ORIGIN).origin, ORIGIN, `${q} → ${got}`);
  }
  assert.equal(fromQuery("next=/%09/evil.com"), "/");
});
