// Which pages may act with a session cookie: the configured origins, else the dashboard's own.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import { checkOrigin, secureCookies, trustedOrigins } from "./origin";
import { config, ConfigError } from "./config";

const saved = { ...process.env };
afterEach(() => {
  for (const k of ["GAMEDAY_ORIGINS", "PORT", "GAMEDAY_BIND"]) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

test("by default the dashboard's port on loopback, and the host's name when it listens everywhere", () => {
  delete process.env.GAMEDAY_ORIGINS;
  process.env.PORT = "3100";
  delete process.env.GAMEDAY_BIND;
  assert.deepEqual(trustedOrigins(), ["http://127.0.0.1:3100", "http://localhost:3100"]);
  process.env.GAMEDAY_BIND = "0.0.0.0";
  assert.deepEqual(trustedOrigins(), ["http://127.0.0.1:3100", "http://localhost:3100", `http://${os.hostname()}:3100`]);
  process.env.GAMEDAY_BIND = "10.0.0.5";
  assert.ok(trustedOrigins().includes("http://10.0.0.5:3100"));
});

test("GAMEDAY_ORIGINS replaces the default; a bad entry names the variable", () => {
  process.env.GAMEDAY_ORIGINS = "https://gameday.example.com, http://10.0.0.5:3000/";
  assert.deepEqual(trustedOrigins(), ["https://gameday.example.com", "http://10.0.0.5:3000"]);
  process.env.GAMEDAY_ORIGINS = "https://gameday.example.com/dashboard";
  assert.throws(() => config().GAMEDAY_ORIGINS, (e: Error) => e instanceof ConfigError && /GAMEDAY_ORIGINS must be comma-separated origins/.test(e.message));
  process.env.GAMEDAY_ORIGINS = "ftp://x";
  assert.throws(() => trustedOrigins(), /GAMEDAY_ORIGINS/);
});

test("a missing, foreign or opaque origin is refused with the reason; https pages get Secure cookies", () => {
  const trusted = ["http://127.0.0.1:3000"];
  assert.deepEqual(checkOrigin("http://127.0.0.1:3000", trusted), { ok: true });
  for (const o of ["http://127.0.0.1:4100", "http://localhost:3000", "null", "http://127.0.0.1:3000.evil.com"]) assert.match((checkOrigin(o, trusted) as { reason: string }).reason, /not trusted/, o);
  assert.match((checkOrigin(undefined, trusted) as { reason: string }).reason, /must carry an Origin/);
  assert.equal(secureCookies("https://gameday.example.com", trusted), true);
  assert.equal(secureCookies("http://127.0.0.1:3000", trusted), false);
  assert.equal(secureCookies(null, ["https://a.example"]), true);
});
