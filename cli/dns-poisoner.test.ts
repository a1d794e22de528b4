// gameday dns-poisoner as a user runs it: bad flags are refused naming the
// flag with nothing changed, --dry-run prints the changes and makes none,
// --serve answers dig through the poisoner and prints its counters.
// (The redirect into a namespace and SIGKILL mid-fault: e2e/dns.test.ts.)
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { freeFixedPort, haveDig, haveDnsmasq, startDnsmasq, ZONE, type Upstream } from "../e2e/dnsmasq";
import { ROOT, runCli, runCliBatch, tempDir, waitFor, waitForLine } from "../e2e/kit";
import { createTestNet, type TestNet } from "../e2e/netns";
import path from "node:path";

const execFileP = promisify(execFile);
const env = () => ({ GAMEDAY_HOME: tempDir("gameday-dnscli-"), GAMEDAY_LOG: "warn" });

describe("gameday dns-poisoner: bad input", () => {
  const refused: [string[], RegExp][] = [
    [["--netns", "x", "--answer", "nxdomain"], /--name: say which names/],
    [["--netns", "x", "--name", "db.internal"], /--answer: say how to answer/],
    [["--netns", "x", "--name", "db.internal", "--answer", "lie"], /--answer: expected one of nxdomain/],
    [["--netns", "x", "--name", "db.internal", "--answer", "nxdomain", "--type", "PTR"], /--type: expected one of A, AAAA/],
    [["--netns", "x", "--name", "db.internal", "--answer", "nxdomain", "--probability", "2"], /--probability: expected a probability 0\.\.1/],
    [["--netns", "x", "--name", "db.internal", "--answer", "delay"], /--delay: answer delay needs a delay above 0/],
    [["--netns", "x", "--name", "db(", "--match", "regex", "--answer", "nxdomain"], /--name: not a regular expression/],
    [["--netns", "x", "--name", "db.internal", "--answer", "nxdomain", "--upstream", "dns.google"], /--upstream: expected IP or IP:PORT/],
    [["--name", "db.internal", "--answer", "nxdomain"], /--netns: say whose queries to poison/],
    [["--netns", "bad name", "--name", "db.internal", "--answer", "nxdomain"], /--netns: expected a network namespace name/],
    [["--pid", "1", "--netns", "x", "--name", "db.internal", "--answer", "nxdomain"], /--pid: the processes' namespace and cgroup are used/],
    [["--rules", "/nonexistent/rules.yaml", "--netns", "x"], /--rules: cannot read \/nonexistent\/rules\.yaml: no such file/],
    [["--serve", "nowhere", "--upstream", "127.0.0.1", "--name", "x.test", "--answer", "timeout"], /--serve: expected IP or IP:PORT/],
    [["--serve", "127.0.0.1:1", "--name", "x.test", "--answer", "timeout"], /--upstream: --serve needs the resolver/],
    [["--netns", "x", "--name", "db.internal", "--answer", "nxdomain", "--duration", "soon"], /--duration: expected a duration/],
  ];
  // every refusal in one process (they share the environment), each checked by a test of its own
  let batch: ReturnType<typeof runCliBatch> | null = null;
  refused.forEach(([args, msg], i) =>
    test(`refused: ${args.join(" ")}`, async () => {
      const r = (await (batch ??= runCliBatch(refused.map(([a]) => ["dns-poisoner", ...a]), env())))[i];
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, msg);
    }),
  );

  test("a namespace that does not exist, and a process in the root cgroup of the host's namespace, are refused at plan time", { skip: process.getuid?.() !== 0 ? "needs root" : false }, async () => {
    const r = await runCli(["dns-poisoner", "--netns", "gameday-no-such-ns", "--name", "db.internal", "--answer", "nxdomain", "--upstream", "127.0.0.1"], env());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--netns: no network namespace named "gameday-no-such-ns"/);
    const self = await runCli(["dns-poisoner", "--pid", String(process.pid), "--name", "db.internal", "--answer", "nxdomain"], env());
    assert.equal(self.code, 1);
    assert.match(self.stderr, /--pid: .*(root cgroup v2 folder|never targets|protected)/);
  });
});

describe("gameday dns-poisoner --dry-run", { skip: process.getuid?.() !== 0 ? "needs root (network namespaces)" : false }, () => {
  let tn: TestNet;
  before(async () => {
    tn = await createTestNet("dnscli");
  });
  after(async () => {
    await tn?.destroy();
  });

  test("prints the redirect and the poisoner it would start, changes nothing", async () => {
    const before = tn.snapshot();
    const r = await runCli(["dns-poisoner", "--netns", tn.a, "--name", "db.internal", "--answer", "servfail", "--upstream", "127.0.0.1:53", "--dry-run"], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Rule: exact db\.internal \[any\] → servfail/);
    assert.match(r.stdout, /iptables -t nat -A GAMEDAY-\w+ -p udp --dport 53 -m cgroup ! --path gameday-\w+ -j REDIRECT --to-ports PORT/);
    assert.match(r.stdout, /iptables -t nat -A GAMEDAY-\w+ -p tcp --dport 53/);
    assert.match(r.stdout, /Dry run: would hold for 1m; nothing changed/);
    assert.deepEqual(tn.snapshot(), before);
  });
});

describe("gameday dns-poisoner --serve", { skip: !haveDnsmasq() ? "dnsmasq is not installed" : !haveDig() ? "dig is not installed" : false }, () => {
  let up: Upstream;
  before(async () => {
    up = await startDnsmasq({ port: await freeFixedPort() });
  });
  after(async () => {
    await up?.stop();
  });

  test("answers dig through the poisoner, forwards the rest, prints its counters; Ctrl-C stops it", { timeout: 60_000 }, async () => {
    const port = await freeFixedPort();
    const cli = spawn(process.execPath, [path.join(ROOT, "bin/gameday.mjs"), "dns-poisoner", "--serve", `127.0.0.1:${port}`, "--upstream", `127.0.0.1:${up.port}`, "--name", "db.test.internal", "--answer", "refused", "--report", "200ms", "--duration", "1m"], {
      cwd: ROOT,
      env: { ...process.env, ...env() },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    cli.stdout!.on("data", (d: Buffer) => (out += d));
    await waitForLine(cli, (l) => l.includes("Serving DNS on"), 20_000, "the poisoner");
    const dig = async (name: string) => (await execFileP("dig", ["-p", String(port), "@127.0.0.1", "+time=2", "+tries=1", name], { encoding: "utf8" })).stdout;
    assert.match(await dig("db.test.internal"), /status: REFUSED/);
    assert.match(await dig("api.test.internal"), new RegExp(`api\\.test\\.internal\\.\\s+${ZONE.ttl}\\s+IN\\s+A\\s+${ZONE.hosts["api.test.internal"].replace(/\./g, "\\.")}`));
    // (polled: the line may come before a new listener would see it)
    await waitFor("the counters", () => out.includes("Counters: 2 queries, 1 poisoned, 1 forwarded"), 5000);
    const code = new Promise((r) => cli.on("exit", r));
    cli.kill("SIGINT");
    assert.equal(await code, 0);
    assert.match(out, /Done: 2 queries, 1 poisoned, 1 forwarded; exact db\.test\.internal \[any\] → refused: 1 matched, 1 poisoned/);
  });
});

test("gameday run --wait: exit 3 for a run that is inconclusive (a fault touched nothing), 0 held, 2 refuted", async () => {
  const { exitCodeFor } = await import("./main");
  const run = { state: "completed", hypothesisHeld: null, inconclusive: "inconclusive: dns on x touched nothing" } as Parameters<typeof exitCodeFor>[0];
  assert.equal(exitCodeFor(run), 3);
  assert.equal(exitCodeFor({ ...run, hypothesisHeld: true, inconclusive: null }), 0);
  assert.equal(exitCodeFor({ ...run, hypothesisHeld: false, inconclusive: null }), 2);
});
