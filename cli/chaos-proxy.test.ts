// gameday chaos-proxy as a user runs it, against a real echo server and a
// real HTTP server on loopback: serve mode driven by toxiproxy-node-client
// with proxies and toxics from a config file; one-fault mode through the
// executor (the toxic's effect, the evidence, "inconclusive" when nothing
// was touched, bad input); and a SIGKILLed CLI — serve or fault — leaves no
// proxy listening, its reaper reverting the journal with no command typed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Toxiproxy } from "toxiproxy-node-client";
import { ROOT, runCli, sleep, tempDir, waitFor, waitForLine } from "../e2e/kit";
import { listening, rtt, startEcho, startWeb } from "../e2e/loopback";

const home = tempDir("gameday-chaosproxy-");
const env = { GAMEDAY_HOME: home };
const clis: ChildProcess[] = [];
let echo: Awaited<ReturnType<typeof startEcho>>;
let web: Awaited<ReturnType<typeof startWeb>>;
let echoPort = 0;
let webPort = 0;
// fixed ports for the proxies the one-fault mode opens (the CLI is told where to listen)
const P = { fault: 16431, kill: 16432, idle: 16433, http: 16434, bad: 16435 };

before(async () => {
  echo = await startEcho();
  echoPort = echo.port;
  web = await startWeb("hello");
  webPort = web.port;
});

after(async () => {
  for (const c of clis) c.kill("SIGKILL");
  await runCli(["recover"], env, 30_000);
  echo.close();
  web.close();
});

function start(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [path.join(ROOT, "bin/gameday.mjs"), "chaos-proxy", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  clis.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, out: () => out, exited: new Promise((r) => child.on("exit", (c) => r(c))) };
}

/** The nat table's rules (iptables -S), or null where iptables cannot be read. */
async function iptablesNat(): Promise<string | null> {
  const { execFile } = await import("node:child_process");
  return new Promise((resolve) => execFile("iptables", ["-w", "5", "-t", "nat", "-S"], (e, out) => resolve(e ? null : out)));
}

const natReadable = (await iptablesNat()) !== null;

describe("gameday chaos-proxy", { timeout: 120_000 }, () => {
  test("serve: a Toxiproxy client drives it; --config proxies come with their toxics; SIGKILL leaves nothing listening", async () => {
    const cfg = path.join(home, "proxies.yaml");
    fs.writeFileSync(cfg, `- name: db\n  listen: 127.0.0.1:0\n  upstream: 127.0.0.1:${echoPort}\n  toxics:\n    - type: latency\n      attributes: { latency: 250 }\n`);
    const cli = start(["serve", "--port", "0", "--config", cfg, "--duration", "60s"]);
    const line = await waitForLine(cli.child, (l) => l.includes("Toxiproxy-compatible API on"), 20_000, "the API line");
    const base = /http:\/\/[\d.]+:\d+/.exec(line)![0];
    const tp = new Toxiproxy(base);
    const all = await tp.getAll();
    const db = all.db;
    assert.ok(db, "the proxy from the config file");
    const port = Number(db.listen.split(":").pop());
    assert.ok((await rtt(port)) >= 250, "its toxic from the config file is in place");
    const other = await tp.createProxy({ name: "web", listen: "127.0.0.1:0", upstream: `127.0.0.1:${webPort}` });
    const webPortProxied = Number(other.listen.split(":").pop());
    assert.equal(await listening(webPortProxied), true);
    cli.child.kill("SIGKILL");
    await cli.exited;
    assert.equal(await listening(port), false);
    assert.equal(await listening(webPortProxied), false);
  });

  test("one fault: latency through the proxy while it holds, then reverted with the evidence of what it touched", async () => {
    const cli = start(["--listen", `127.0.0.1:${P.fault}`, "--upstream", `127.0.0.1:${echoPort}`, "--toxic", "latency,latency=300", "--duration", "3s"]);
    await waitFor("the proxy", () => listening(P.fault), 20_000);
    const ms = await rtt(P.fault);
    assert.ok(ms >= 300 && ms < 600, `${ms.toFixed(0)} ms through a 300 ms latency toxic`);
    assert.equal(await cli.exited, 0, cli.out());
    assert.equal(await listening(P.fault), false);
    assert.match(cli.out(), /reverted proxy-toxic .*stopped; it saw \d+ connection\(s\); latency_downstream: seen \d+, matched \d+, faulted [1-9]/);
    assert.doesNotMatch(cli.out(), /inconclusive/);
  });

  test("a fault that touched nothing is reported inconclusive", async () => {
    const r = await runCli(["chaos-proxy", "--listen", `127.0.0.1:${P.idle}`, "--upstream", `127.0.0.1:${echoPort}`, "--toxic", "latency,latency=100", "--duration", "500ms"], env, 30_000);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /it saw 0 connection\(s\).*touched nothing: inconclusive/);
  });

  test("--http: 503 with Retry-After for the matched path only", async () => {
    const cli = start(["--http", "--listen", `127.0.0.1:${P.http}`, "--upstream", `127.0.0.1:${webPort}`, "--toxic", "http_status,status=503,retry_after=3,path_prefix=/api", "--duration", "3s"]);
    await waitFor("the proxy", () => listening(P.http), 20_000);
    const api = await fetch(`http://127.0.0.1:${P.http}/api/items`);
    assert.equal(api.status, 503);
    assert.equal(api.headers.get("retry-after"), "3");
    const home = await fetch(`http://127.0.0.1:${P.http}/`);
    assert.equal(await home.text(), "hello");
    assert.equal(await cli.exited, 0, cli.out());
    assert.match(cli.out(), /it saw 2 request\(s\).*http_status_downstream: seen 2, matched 1, faulted 1/);
  });

  test("bad input names the flag and changes nothing", async () => {
    const a = await runCli(["chaos-proxy", "--listen", `127.0.0.1:${P.bad}`, "--upstream", `127.0.0.1:${echoPort}`, "--toxic", "nonsense"], env);
    assert.equal(a.code, 1);
    assert.match(a.stderr + a.stdout, /--toxic: .*unknown TCP toxic type "nonsense"/);
    const b = await runCli(["chaos-proxy", "--listen", `127.0.0.1:${P.bad}`, "--upstream", `127.0.0.1:${echoPort}`, "--toxic", "latency,latency=slow"], env);
    assert.equal(b.code, 1);
    assert.match(b.stderr + b.stdout, /--toxic: .*attributes\.latency/);
    const c = await runCli(["chaos-proxy", "serve", "--host", "0.0.0.0", "--port", "0"], { ...env, GAMEDAY_PROXY_TOKEN: "" });
    assert.equal(c.code, 1);
    assert.match(c.stderr + c.stdout, /needs a token/);
    assert.equal(await listening(P.bad), false);
  });

  test("no --listen: the host's connections to the upstream are redirected through the proxy, and the rule and cgroup go with the revert", { skip: !natReadable && "iptables' nat table cannot be read here (root needed)" }, async () => {
    const before = await iptablesNat();
    const cli = start(["--upstream", `127.0.0.1:${echoPort}`, "--toxic", "latency,latency=300", "--duration", "4s"]);
    // the chain's REDIRECT rule is there a moment before the jump into it: the CLI says when the fault is in place
    await waitFor("the injected line", () => cli.out().includes("injected proxy-toxic"), 20_000);
    const ms = await rtt(echoPort);
    assert.ok(ms >= 300 && ms < 700, `${ms.toFixed(0)} ms to the echo server itself, through the redirect; the CLI said: ${cli.out()}; nat: ${await iptablesNat()}`);
    assert.equal(await cli.exited, 0, cli.out());
    assert.equal(await iptablesNat(), before, "nat table as before");
    assert.ok((await rtt(echoPort)) < 100);
    assert.match(cli.out(), /redirected to it \(iptables nat REDIRECT\)/);
    assert.match(cli.out(), /latency_downstream: seen \d+, matched \d+, faulted [1-9]/);
  });

  test("no --listen, SIGKILL mid-fault: the reaper removes the redirect within 2 s and connections go direct again", { skip: !natReadable && "iptables' nat table cannot be read here (root needed)" }, async () => {
    const before = await iptablesNat();
    const cli = start(["--upstream", `127.0.0.1:${echoPort}`, "--toxic", "latency,latency=300", "--duration", "60s"]);
    await waitFor("the redirect", async () => (await iptablesNat())?.includes("REDIRECT"), 20_000);
    await waitFor("the injected line", () => cli.out().includes("injected proxy-toxic"), 20_000, 20).catch((e: Error) => assert.fail(`${e.message}; the CLI said: ${cli.out()}`));
    assert.ok((await rtt(echoPort)) >= 300);
    const t0 = performance.now();
    cli.child.kill("SIGKILL");
    await cli.exited;
    await waitFor("the reaper to remove the redirect", async () => (await iptablesNat()) === before, 2000, 20);
    assert.ok(performance.now() - t0 < 2000);
    assert.ok((await rtt(echoPort)) < 100);
  });

  test("SIGKILL mid-fault: no proxy listening within 2 s, and the reaper has reverted the journal", async () => {
    const cli = start(["--listen", `127.0.0.1:${P.kill}`, "--upstream", `127.0.0.1:${echoPort}`, "--toxic", "latency,latency=100", "--duration", "60s"]);
    await waitFor("the proxy", () => listening(P.kill), 20_000);
    await waitFor("the injected line", () => cli.out().includes("injected proxy-toxic"), 20_000, 20).catch((e: Error) => assert.fail(`${e.message}; the CLI said: ${cli.out()}`));
    const t0 = performance.now();
    cli.child.kill("SIGKILL");
    await cli.exited;
    await waitFor("the proxy to stop listening", async () => !(await listening(P.kill)), 2000, 20);
    assert.ok(performance.now() - t0 < 2000);
    await sleep(300);
    const r = await runCli(["recover"], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /nothing to recover/);
  });
});
