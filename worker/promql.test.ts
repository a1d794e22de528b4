// The prometheus probe's connection options against a real Prometheus
// serving HTTPS with basic auth (--web.config.file): the probe trusts the
// server through the CA file given and authenticates; without the CA or with
// a wrong password it gets no data and says why (the policy decides), and a
// range-vector query is refused by name.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import bcrypt from "bcryptjs";
import { probeSchema, type PrometheusProbeSpec } from "../lib/experiment";
import { tempDir, waitFor } from "../e2e/kit";
import { prometheusMissing, startPrometheus, type PromServer } from "../e2e/prometheus";
import { PrometheusProbe } from "./probes";
import { queryInstant, resolveConn } from "./promql";

const run = promisify(execFile);
const skip = prometheusMissing() ?? (fs.existsSync("/usr/bin/openssl") ? undefined : "openssl is not installed (needed to make the test's CA)");
const PORT = 16_390;

describe("prometheus probe over TLS with basic auth", { skip, timeout: 60_000 }, () => {
  let prom: PromServer | undefined;
  let dir = "";
  before(async () => {
    dir = tempDir("gameday-promtls-");
    const f = (n: string) => path.join(dir, n);
    await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=gameday-test-ca", "-keyout", f("ca.key"), "-out", f("ca.pem")]);
    await run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", f("srv.key"), "-out", f("srv.csr")]);
    fs.writeFileSync(f("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
    await run("openssl", ["x509", "-req", "-in", f("srv.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-days", "1", "-extfile", f("ext.cnf"), "-out", f("srv.pem")]);
    fs.writeFileSync(f("pw"), "s3cret\n", { mode: 0o600 });
    const web = `tls_server_config:\n  cert_file: ${f("srv.pem")}\n  key_file: ${f("srv.key")}\nbasic_auth_users:\n  gameday: ${bcrypt.hashSync("s3cret", 10)}\n`;
    // Prometheus scrapes itself: the `up` series exists without another server
    prom = await startPrometheus(PORT, [], { webConfig: web, scheme: "https" });
  });
  after(async () => prom?.stop());

  const spec = (extra: Record<string, unknown>) =>
    probeSchema.parse({ name: "tls", type: "prometheus", url: `https://127.0.0.1:${PORT}`, query: "vector(1)", interval: "200ms", tolerance: { eq: 1 }, ...extra }) as PrometheusProbeSpec;

  test("with the CA file and the password file the probe reads the value", async () => {
    const p = new PrometheusProbe(spec({ tls: { caFile: path.join(dir, "ca.pem") }, auth: { basic: { username: "gameday", passwordFile: path.join(dir, "pw") } } }));
    p.start();
    try {
      const v = await waitFor("a value", () => p.read(), 20_000, 100);
      assert.equal(v, 1);
    } finally {
      p.stop();
    }
  });

  test("without the CA, or with a wrong password: no data, and the evidence says why", async () => {
    for (const [extra, why] of [
      [{ auth: { basic: { username: "gameday", password: "s3cret" } } }, /self[- ]signed|unable to verify|certificate/i],
      [{ tls: { caFile: path.join(dir, "ca.pem") }, auth: { basic: { username: "gameday", password: "wrong" } } }, /HTTP 401/],
    ] as const) {
      const p = new PrometheusProbe(spec(extra));
      p.start();
      try {
        const ev = await waitFor("a failed query", () => ((e) => (e.error ? e : null))(p.evidence(Date.now())), 10_000, 50);
        assert.equal(p.read(), null);
        assert.match(ev.error ?? "", why);
      } finally {
        p.stop();
      }
    }
  });

  test("a range vector is refused with the reason; a missing password file names the file", async () => {
    const conn = resolveConn({ url: prom!.url, tls: { caFile: path.join(dir, "ca.pem") }, auth: { basic: { username: "gameday", password: "s3cret" } } });
    await assert.rejects(queryInstant(conn, "up[1m]", 5000), /the query returns a matrix; give an instant vector or a scalar/);
    assert.throws(() => resolveConn({ url: prom!.url, auth: { bearer: { tokenFile: "/nonexistent/token" } } }), /cannot read the token file \/nonexistent\/token: ENOENT/);
  });
});
