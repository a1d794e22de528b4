// gameday latency-monkey as a user runs it: a separate CLI process acting in
// namespaces this file creates, the seed's example (dry run on this host),
// Ctrl-C, and a SIGKILLed CLI whose changes the next `gameday recover` undoes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, runCli, waitFor } from "../e2e/kit";
import { detectNetem } from "../lib/net";
import { addForeignRules, CONNECT_CLIENT, createTestNet, PORTS, RTT_CLIENT, sh, type TestNet } from "../e2e/netns";

const home = fs.mkdtempSync(path.join(os.tmpdir(), "gameday-netcli-"));
const env = { GAMEDAY_HOME: home };
let net: TestNet;
const clis: ChildProcess[] = [];

before(async () => {
  net = await createTestNet("c");
  addForeignRules(net.a);
});

after(async () => {
  for (const c of clis) c.kill("SIGKILL");
  // whatever a failed test left is in the journal: recover it before the namespaces go
  if (net) await runCli(["recover"], env, 30_000);
  await net?.destroy();
  fs.rmSync(home, { recursive: true, force: true });
});

function start(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [path.join(ROOT, "bin/gameday.mjs"), "latency-monkey", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  clis.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, out: () => out, exited: new Promise((r) => child.on("exit", (c) => r(c))) };
}

const gamedayRules = () => (net.snapshot().iptables[net.a].match(/gameday:/g) ?? []).length;

describe("gameday latency-monkey", { timeout: 120_000 }, () => {
  test("the seed's example, as a dry run: says what and how, prints the exact commands, changes nothing", async () => {
    const before = net.snapshot();
    const r = await runCli(["latency-monkey", "--target-port", "5432", "--latency", "500ms", "--dry-run"], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trim().split("\n");
    if (detectNetem().ok) {
      assert.match(lines[0], /^\[INFO\] Applying 500ms latency to egress traffic on \S+:5432$/);
      assert.match(lines[1], /^\[INFO\] Mechanism: netem \(auto: sch_netem available\)/);
      return;
    }
    // no sch_netem (the CI kernel): the proxy path, for local traffic on lo
    assert.equal(lines[0], "[INFO] Applying 500ms latency to egress traffic on lo:5432");
    assert.match(lines[1], /^\[INFO\] Mechanism: proxy \(auto: no sch_netem: .*\): TCP connections to 127\.0\.0\.1:5432 go through a delaying proxy/);
    assert.match(r.stdout, /iptables -w 5 -t nat -A GAMEDAY-\w+ -p tcp -d 127\.0\.0\.1 --dport 5432 --syn -m cgroup '!' --path gameday-\w+ -j REDIRECT --to-ports PORT/);
    assert.match(r.stdout, /revert: iptables -w 5 -t nat -X GAMEDAY-\w+/);
    assert.match(lines.at(-1)!, /^\[INFO\] Dry run: would hold for 1m; nothing changed$/);
    assert.deepEqual(net.snapshot(), before);
    assert.doesNotMatch(sh("iptables-save"), /gameday/);
  });

  test("latency in a namespace for 3 s: the round trip rises while it holds, then everything is as before", async () => {
    const before = net.snapshot();
    const cli = start(["--netns", net.a, "--dst", net.ipB, "--target-port", String(PORTS.echo), "--latency", "200ms", "--jitter", "10ms", "--mechanism", "proxy", "--duration", "3s"]);
    await waitFor("the latency rule", () => gamedayRules() === 1, 10_000);
    const during = JSON.parse(await net.run(net.a, RTT_CLIENT, [net.ipB, 5])) as { median: number };
    assert.ok(during.median >= 170 && during.median <= 330, `round trip during: ${JSON.stringify(during)} (200 ms ± 10 ms jitter, tolerance −30/+130 ms)`);
    assert.equal(await cli.exited, 0, cli.out());
    const out = cli.out();
    assert.match(out, new RegExp(`^\\[INFO\\] Applying 200ms ± 10ms latency to egress traffic on ${net.vethA}:${net.ipB.replace(/\./g, "\\.")}:${PORTS.echo} in netns ${net.a}$`, "m"));
    assert.match(out, /^\[INFO\] Mechanism: proxy /m);
    assert.match(out, /^\[INFO\] Done: 1 injected, 1 reverted and verified; nothing left behind$/m);
    assert.deepEqual(net.snapshot(), before);
  });

  test("loss, as JSON events, stopped by Ctrl-C: reverted at once", async () => {
    const before = net.snapshot();
    const cli = start(["--netns", net.a, "--protocol", "udp", "--target-port", String(PORTS.udp), "--loss", "50%", "--duration", "60s", "--json"]);
    await waitFor("the loss rule", () => gamedayRules() === 1, 10_000);
    cli.child.kill("SIGINT");
    assert.equal(await cli.exited, 0, cli.out());
    const events = cli.out().trim().split("\n").map((l) => JSON.parse(l) as { event: string; message: string; mechanism?: string });
    assert.equal(events[0].message, `Dropping 50% of egress traffic to port ${PORTS.udp} (any interface) in netns ${net.a}`);
    assert.equal(events.find((e) => e.event === "mechanism")?.mechanism, "iptables");
    assert.ok(events.some((e) => e.event === "interrupt"));
    assert.match(events.at(-1)!.message, /Done: 1 injected, 1 reverted and verified \(stopped early\)/);
    assert.deepEqual(net.snapshot(), before);
  });

  test("partition, CLI SIGKILLed mid-fault: the cut stays until `gameday recover` removes exactly it", async () => {
    const before = net.snapshot();
    const cli = start(["partition", "--between", net.ipA, "--and", net.ipB, "--netns", net.a, "--duration", "60s"]);
    await waitFor("the partition rules", () => gamedayRules() === 3, 10_000);
    assert.match(cli.out(), new RegExp(`Partitioning ${net.ipA.replace(/\./g, "\\.")} <-> ${net.ipB.replace(/\./g, "\\.")} \\(all, drop both ways\\) in netns ${net.a}`));
    assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 400]), "fail:timeout");
    cli.child.kill("SIGKILL");
    await cli.exited;
    assert.equal(gamedayRules(), 3, "nobody reverted yet");
    const r = await runCli(["recover"], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(net.snapshot(), before);
    assert.equal(await net.run(net.a, CONNECT_CLIENT, [net.ipB, 2000]), "ok");
  });

  test("bad input names the flag, exits 1 and changes nothing", async () => {
    const before = net.snapshot();
    const cases: [string[], RegExp][] = [
      [["--target-port", "5432", "--latency", "fast"], /--latency: expected a duration like 500ms/],
      [["--target-port", "99999", "--latency", "1s"], /--target-port: expected a port number 1-65535/],
      [["--target-port", "5432"], /choose a fault: --latency D, --loss PCT or --bandwidth RATE/],
      [["--target-port", "5432", "--loss", "150"], /--loss: expected percent as a percentage 0-100/],
      [["--target-port", "5432", "--bandwidth", "fast"], /--bandwidth: expected a tc rate like 1mbit/],
      [["--target-port", "5432", "--rate", "1mbit", "--bandwidth", "2mbit"], /--rate: give --bandwidth or --rate, not both/],
      [["--target-port", "5432", "--jitter", "5ms", "--loss", "5"], /--jitter: only with --latency/],
      [["--netns", "gdt-none", "--target-port", "5432", "--loss", "5"], /--netns: no network namespace named "gdt-none"/],
      [["--target-port", "5432", "--latency", "1s", "--bogus"], /Unknown option '--bogus'/],
      [["partition", "--between", "10.0.0.1"], /--and: give the other side/],
      [["partition", "--between", "10.0.0.300", "--and", "10.0.0.2"], /--between: expected an IPv4 address or CIDR/],
    ];
    if (!detectNetem().ok) cases.push([["--target-port", "5432", "--latency", "1s", "--mechanism", "netem"], /latency: mechanism: netem was asked for, but no sch_netem/]);
    for (const [args, msg] of cases) {
      const r = await runCli(["latency-monkey", ...args], env);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, msg, args.join(" "));
    }
    assert.deepEqual(net.snapshot(), before);
  });

  test("--help", async () => {
    const r = await runCli(["latency-monkey", "--help"], env);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /gameday latency-monkey partition --between A --and B/);
  });
});
