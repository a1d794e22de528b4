// The DNS poisoner against a real upstream (dnsmasq on loopback, started
// here) and real clients: node's dns.Resolver (c-ares) and dig. Every answer
// kind, every record type, pass-through byte for byte against asking
// dnsmasq directly, the patterns, the dice and the counters.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { Resolver } from "node:dns/promises";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { freeFixedPort, haveDig, haveDnsmasq, startDnsmasq, ZONE, type Upstream } from "../e2e/dnsmasq";
import { seededRandom } from "./targets/blast";
import { dnsParams } from "./dns";
import { applyResolv, firstNameserver, resolvProblem, revertResolv, type ResolvChange } from "./dns/redirect";
import { nameMatcher, ruleSchema, type Rule } from "./dns/rules";
import { DnsPoisoner } from "./dns/server";

const execFileP = promisify(execFile);
const skip = !haveDnsmasq() ? "dnsmasq is not installed (apt-get install dnsmasq)" : !haveDig() ? "dig is not installed (apt-get install bind9-dnsutils)" : false;

const rule = (r: Record<string, unknown>): Rule => ruleSchema.parse(r);

/** dig's answer section and status, as text (TTLs included). */
async function dig(port: number, name: string, type = "A", ...opts: string[]): Promise<{ status: string; flags: string; answer: string[] }> {
  const r = await execFileP("dig", ["-p", String(port), "@127.0.0.1", "+time=2", "+tries=1", ...opts, name, type], { encoding: "utf8", timeout: 10_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? "" }));
  const out = r.stdout;
  const status = /status: (\w+)/.exec(out)?.[1] ?? (out.includes("timed out") ? "TIMEOUT" : /refused|no servers could be reached/.test(out) ? "NO-SERVER" : `? ${out}`);
  const flags = /;; flags: ([^;]*);/.exec(out)?.[1] ?? "";
  const sec = out.split(";; ANSWER SECTION:\n")[1]?.split("\n\n")[0] ?? "";
  return { status, flags, answer: sec.split("\n").filter(Boolean).map((l) => l.replace(/\s+/g, " ")) };
}

function resolver(port: number, timeoutMs = 2000): Resolver {
  const r = new Resolver({ timeout: timeoutMs, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

describe("rules", () => {
  test("patterns: exact, suffix, glob, regex (any case, trailing dot or not)", () => {
    const m = (name: string, match: string) => nameMatcher({ name, match } as Rule);
    assert.ok(m("db.internal", "exact")("DB.internal."));
    assert.ok(!m("db.internal", "exact")("x.db.internal"));
    assert.ok(m("internal", "suffix")("a.b.internal") && m(".internal", "suffix")("internal"));
    assert.ok(!m("internal", "suffix")("xinternal"));
    assert.ok(m("db-?.*.svc", "glob")("db-1.prod.svc") && m("*.svc", "glob")("a.b.svc"));
    assert.ok(!m("db-?.svc", "glob")("db-12.svc") && !m("*.svc", "glob")("svc"));
    assert.ok(m("^db[0-9]+\\.", "regex")("DB12.internal") && !m("^db[0-9]+\\.", "regex")("xdb1.internal"));
  });

  test("bad rules name the field", () => {
    const issues = (r: unknown) => {
      const x = dnsParams.safeParse({ rules: [r] });
      assert.ok(!x.success);
      return x.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n");
    };
    assert.match(issues({ name: "x", answer: "lie" }), /rules\.0\.answer: expected one of nxdomain/);
    assert.match(issues({ name: "x(", match: "regex", answer: "nxdomain" }), /rules\.0\.name: not a regular expression/);
    assert.match(issues({ name: "x", answer: "delay" }), /rules\.0\.delay: answer delay needs a delay above 0/);
    assert.match(issues({ name: "x", answer: "delay", delay: "1s", jitter: "2s" }), /rules\.0\.jitter: must not exceed delay/);
    assert.match(issues({ name: "x", answer: "address", address: "300.1.1.1" }), /rules\.0\.address: expected an IPv4 address/);
    assert.match(issues({ name: "x", answer: "nxdomain", types: ["PTR"] }), /rules\.0\.types\.0: expected one of A, AAAA/);
    assert.match(issues({ name: "x", answer: "nxdomain", probability: 2 }), /rules\.0\.probability/);
    assert.match(issues({ name: "a b", answer: "nxdomain" }), /rules\.0\.name: expected a DNS name/);
    const up = dnsParams.safeParse({ rules: [{ name: "x", answer: "nxdomain" }], upstream: "resolver" });
    assert.ok(!up.success && /upstream: expected IP or IP:PORT/.test(`${up.error.issues[0].path.join(".")}: ${up.error.issues[0].message}`));
  });
});

describe("resolv.conf", () => {
  test("rewritten in place (same inode), restored byte for byte; someone else's edit meanwhile is left alone and said", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gameday-resolv-pid${process.pid}-`));
    try {
      const file = path.join(dir, "resolv.conf");
      const before = "# mine\nsearch corp.example\nnameserver 10.0.0.2\nnameserver fd00::53\noptions ndots:2 timeout:1\n";
      fs.writeFileSync(file, before);
      const ino = fs.statSync(file).ino;
      const after = "# gameday:t dns poisoner\n# mine\nsearch corp.example\nnameserver 127.0.0.1\noptions ndots:2 timeout:1\n";
      const c: ResolvChange = { path: file, before: Buffer.from(before).toString("base64"), after };
      applyResolv(c);
      assert.equal(fs.readFileSync(file, "utf8"), after);
      assert.equal(fs.statSync(file).ino, ino, "same inode: a bind mount of it shows the change");
      assert.match(resolvProblem(c) ?? "", /still names the poisoner/);
      revertResolv(c);
      assert.equal(fs.readFileSync(file, "utf8"), before);
      assert.equal(resolvProblem(c), null);
      revertResolv(c);
      assert.equal(fs.readFileSync(file, "utf8"), before, "idempotent");
      applyResolv(c);
      fs.writeFileSync(file, "nameserver 192.0.2.53\n");
      revertResolv(c);
      assert.equal(fs.readFileSync(file, "utf8"), "nameserver 192.0.2.53\n", "another edit is not overwritten");
      assert.match(resolvProblem(c) ?? "", /changed by someone else/);
      assert.throws(() => applyResolv(c), /changed since the fault was planned/);
      assert.deepEqual(firstNameserver(before), { host: "10.0.0.2", port: 53 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the poisoner against dnsmasq", { skip }, () => {
  let up: Upstream;
  const servers: DnsPoisoner[] = [];
  before(async () => {
    up = await startDnsmasq({ port: await freeFixedPort() });
  });
  after(async () => {
    for (const s of servers) await s.stop();
    await up?.stop();
  });
  async function poisoner(rules: Rule[], rnd?: () => number): Promise<{ s: DnsPoisoner; port: number }> {
    const s = new DnsPoisoner({ rules, upstream: { host: up.host, port: up.port }, rnd, upstreamTimeoutMs: 1000 });
    servers.push(s);
    return { s, port: await s.start() };
  }

  test("pass-through: every record type answers as dnsmasq does, TTLs included, over UDP and TCP", async () => {
    const { s, port } = await poisoner([rule({ name: "nothing.here", answer: "nxdomain" })]);
    const asks: [string, string][] = [
      ["db.test.internal", "A"],
      ["db.test.internal", "AAAA"],
      ["alias.test.internal", "CNAME"],
      ["test.internal", "MX"],
      ["_db._tcp.test.internal", "SRV"],
      ["test.internal", "TXT"],
      ["unknown.test.internal", "A"],
    ];
    for (const [name, type] of asks) {
      for (const tcp of [[], ["+tcp"]]) {
        const direct = await dig(up.port, name, type, ...tcp);
        const via = await dig(port, name, type, ...tcp);
        assert.deepEqual(via, direct, `${name} ${type} ${tcp.join("")}`);
      }
    }
    const direct = await dig(up.port, "db.test.internal");
    assert.deepEqual(direct.answer, [`db.test.internal. ${ZONE.ttl} IN A ${ZONE.hosts["db.test.internal"]}`], "the upstream's own answer, with its TTL");
    const r = resolver(port);
    assert.deepEqual(await r.resolve4("db.test.internal", { ttl: true }), [{ address: ZONE.hosts["db.test.internal"], ttl: ZONE.ttl }]);
    assert.deepEqual(await r.resolveSrv("_db._tcp.test.internal"), [{ name: "db.test.internal", port: 5432, priority: 0, weight: 0 }]);
    assert.deepEqual(await r.resolveTxt("test.internal"), [[ZONE.txt["test.internal"]]]);
    const st = s.stats();
    assert.equal(st.rules[0].matched, 0);
    assert.equal(st.forwarded, st.queries);
    assert.equal(st.upstreamFailures, 0);
  });

  test("nxdomain, servfail, refused: the status, and the resolver's error code", async () => {
    for (const [answer, status, err] of [
      ["nxdomain", "NXDOMAIN", "ENOTFOUND"],
      ["servfail", "SERVFAIL", "ESERVFAIL"],
      ["refused", "REFUSED", "EREFUSED"],
    ] as const) {
      const { port } = await poisoner([rule({ name: "db.test.internal", answer })]);
      assert.equal((await dig(port, "db.test.internal")).status, status);
      assert.equal((await dig(port, "db.test.internal", "A", "+tcp")).status, status, "over TCP too");
      assert.equal(await code(resolver(port).resolve4("db.test.internal")), err);
      // other names still resolve
      assert.deepEqual(await resolver(port).resolve4("api.test.internal"), [ZONE.hosts["api.test.internal"]]);
    }
  });

  test("address: a wrong record of each type", async () => {
    const { port } = await poisoner([rule({ name: "test.internal", match: "suffix", answer: "address", address: "127.0.0.99", address6: "fd00::99", target: "evil.invalid", text: "lies", ttl: 7 })]);
    const r = resolver(port);
    assert.deepEqual(await r.resolve4("db.test.internal", { ttl: true }), [{ address: "127.0.0.99", ttl: 7 }]);
    assert.deepEqual(await r.resolve6("db.test.internal"), ["fd00::99"]);
    assert.deepEqual(await r.resolveCname("alias.test.internal"), ["evil.invalid"]);
    assert.deepEqual(await r.resolveMx("test.internal"), [{ exchange: "evil.invalid", priority: 10 }]);
    assert.deepEqual(await r.resolveSrv("_db._tcp.test.internal"), [{ name: "evil.invalid", port: 1, priority: 0, weight: 0 }]);
    assert.deepEqual(await r.resolveTxt("test.internal"), [["lies"]]);
    assert.deepEqual((await dig(port, "db.test.internal")).answer, ["db.test.internal. 7 IN A 127.0.0.99"]);
  });

  test("empty: NOERROR with no records; truncate: the TC bit and no records", async () => {
    const { port } = await poisoner([rule({ name: "db.test.internal", answer: "empty" }), rule({ name: "api.test.internal", answer: "truncate" })]);
    const e = await dig(port, "db.test.internal");
    assert.equal(e.status, "NOERROR");
    assert.deepEqual(e.answer, []);
    assert.equal(await code(resolver(port).resolve4("db.test.internal")), "ENODATA");
    const t = await dig(port, "api.test.internal", "A", "+ignore");
    assert.match(t.flags, /\btc\b/);
    assert.deepEqual(t.answer, []);
    const direct = await dig(up.port, "api.test.internal", "A", "+ignore");
    assert.doesNotMatch(direct.flags, /\btc\b/, "dnsmasq itself does not truncate it");
  });

  test("delay: the real answer, late by delay ± jitter; timeout: no answer at all", async () => {
    const { port } = await poisoner([rule({ name: "db.test.internal", answer: "delay", delay: "300ms", jitter: "100ms" }), rule({ name: "api.test.internal", answer: "timeout" })]);
    const r = resolver(port);
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      assert.deepEqual(await r.resolve4("db.test.internal", { ttl: true }), [{ address: ZONE.hosts["db.test.internal"], ttl: ZONE.ttl }]);
      const ms = performance.now() - t0;
      // tolerance: 200-400 ms configured; a loaded 2-core machine may add up to 150 ms
      assert.ok(ms >= 190 && ms <= 550, `answer after ${ms.toFixed(0)} ms`);
    }
    const t0 = performance.now();
    const fast = await resolver(port).resolve4("api.test.internal").catch(() => "x");
    assert.equal(fast, "x");
    assert.equal(await code(resolver(port, 300).resolve4("api.test.internal")), "ETIMEOUT");
    assert.ok(performance.now() - t0 >= 250);
    assert.equal((await dig(port, "api.test.internal", "A", "+time=1")).status, "TIMEOUT");
  });

  test("record types: a rule for AAAA leaves A alone", async () => {
    const { port } = await poisoner([rule({ name: "db.test.internal", types: ["AAAA"], answer: "nxdomain" })]);
    assert.deepEqual(await resolver(port).resolve4("db.test.internal"), [ZONE.hosts["db.test.internal"]]);
    assert.equal(await code(resolver(port).resolve6("db.test.internal")), "ENOTFOUND");
  });

  test("counters: seen, matched and poisoned per rule; probability rolled per query", async () => {
    const rules = [rule({ name: "db.test.internal", answer: "servfail", probability: 0.5 }), rule({ name: "test.internal", match: "suffix", answer: "nxdomain", types: ["A"] })];
    const { s, port } = await poisoner(rules, seededRandom(7));
    const r = resolver(port);
    const codes: string[] = [];
    for (let i = 0; i < 60; i++) codes.push(await code(r.resolve4("db.test.internal")));
    for (let i = 0; i < 5; i++) codes.push(await code(r.resolve4("api.test.internal")));
    for (let i = 0; i < 3; i++) codes.push(await code(r.resolve4("other.example.test")));
    const st = s.stats();
    assert.equal(st.queries, 68);
    // first match wins: a query the dice spare is still the first rule's, and goes upstream untouched
    const p0 = st.rules[0].poisoned;
    assert.deepEqual(st.rules.map((x) => x.seen), [68, 8]);
    assert.equal(st.rules[0].matched, 60);
    assert.ok(p0 >= 15 && p0 <= 45, `poisoned ${p0} of 60 at p=0.5`);
    assert.equal(codes.filter((c) => c === "ESERVFAIL").length, p0);
    assert.deepEqual([st.rules[1].matched, st.rules[1].poisoned], [5, 5], "api's A queries; other.example.test is not below test.internal");
    assert.equal(codes.filter((c) => c === "ENOTFOUND").length, 5);
    assert.equal(codes.filter((c) => c === "ok").length, 60 - p0 + 3);
    assert.equal(st.forwarded, 60 - p0 + 3);
  });

  test("stop() leaves nothing listening and drops held answers", async () => {
    const { s, port } = await poisoner([rule({ name: "db.test.internal", answer: "delay", delay: "5s" })]);
    const pending = code(resolver(port, 3000).resolve4("db.test.internal"));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    await s.stop();
    assert.ok(performance.now() - t0 < 1000, "stop does not wait for the held answer");
    assert.notEqual(await pending, "ok");
    assert.match((await dig(port, "api.test.internal", "A", "+time=1")).status, /^(TIMEOUT|NO-SERVER)$/, "nothing answers on the port any more");
  });
});
