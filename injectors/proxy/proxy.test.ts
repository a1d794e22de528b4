// The chaos proxy against real echo and HTTP servers on loopback, driven by
// the npm Toxiproxy client (toxiproxy-node-client) and by our own calls:
// Toxiproxy's routes, status codes and error bodies; each toxic's effect
// (timings within the tolerance each test states, bytes, resets, statuses);
// and what Toxiproxy lacks (toxics at creation, TTL, per-request toxicity,
// shared bandwidth, HTTP toxics, counters, browser and token refusal).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { Toxiproxy } from "toxiproxy-node-client";
import { apiHandler, startApi } from "./api";
import { ProxyCollection } from "./proxy";

const proxies = new ProxyCollection();
let api: Awaited<ReturnType<typeof startApi>>;
let base = "";
let echo: net.Server;
let echoAddr = "";
let web: http.Server;
let webAddr = "";
const BODY = Buffer.alloc(20_000, "abcdefghij");

before(async () => {
  api = await startApi(proxies, { host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${api.port}`;
  echo = net.createServer((s) => s.on("error", () => {}).pipe(s));
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoAddr = `127.0.0.1:${(echo.address() as AddressInfo).port}`;
  web = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", "content-length": BODY.length });
    res.end(BODY);
  });
  web.keepAliveTimeout = 5000;
  await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
  webAddr = `127.0.0.1:${(web.address() as AddressInfo).port}`;
});

after(async () => {
  await proxies.close();
  await api.close();
  echo.close();
  web.closeAllConnections();
  web.close();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, { method, headers: { "content-type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) : null };
}

function port(listen: string): number {
  return Number(listen.split(":").pop());
}

/** One round trip of `size` bytes through a fresh connection: ms from the write to the last byte back. */
function roundTrip(listen: string, size = 100): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port(listen), "127.0.0.1");
    let got = 0;
    let t0 = 0;
    s.on("connect", () => {
      t0 = performance.now();
      s.write(Buffer.alloc(size, 1));
    });
    s.on("data", (d) => {
      got += d.length;
      if (got >= size) {
        resolve({ ms: performance.now() - t0, bytes: got });
        s.destroy();
      }
    });
    s.on("error", reject);
    setTimeout(() => reject(new Error("round trip timed out")), 10_000).unref();
  });
}

/** Connect, write, and collect until the proxy closes or resets: bytes, how it ended, when. */
function untilClosed(listen: string, payload: Buffer, timeoutMs = 5000): Promise<{ bytes: number; how: "end" | "reset" | "timeout"; ms: number; chunks: number }> {
  return new Promise((resolve) => {
    const s = net.connect(port(listen), "127.0.0.1");
    let bytes = 0;
    let chunks = 0;
    const t0 = performance.now();
    const done = (how: "end" | "reset" | "timeout") => {
      clearTimeout(timer);
      s.destroy();
      resolve({ bytes, how, ms: performance.now() - t0, chunks });
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    s.on("connect", () => s.write(payload));
    s.on("data", (d) => {
      bytes += d.length;
      chunks++;
    });
    s.on("end", () => done("end"));
    s.on("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNRESET" ? "reset" : "end"));
  });
}

describe("Toxiproxy's API through toxiproxy-node-client", () => {
  const tp = () => new Toxiproxy(base);

  test("create, get, list, version, a latency toxic with the client's defaults, update by POST, remove, reset", async () => {
    const p = await tp().createProxy({ name: "c1", listen: "127.0.0.1:0", upstream: echoAddr });
    assert.equal(p.name, "c1");
    assert.match(p.listen, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(port(p.listen), 0, "the listen address shows the port chosen");
    assert.equal(p.enabled, true);
    assert.equal((await tp().get("c1")).upstream, echoAddr);
    assert.ok("c1" in (await tp().getAll()));
    assert.equal(JSON.parse(await tp().getVersion()).version.split(".")[0], "2");

    const before = await roundTrip(p.listen);
    const t = await p.addToxic({ name: "lat", type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 300, jitter: 0 } } as never);
    assert.equal(t.name, "lat");
    const slow = await roundTrip(p.listen);
    // tolerance: at least the latency, at most 100 ms more (a loaded 2-core machine)
    assert.ok(slow.ms >= 300 && slow.ms < 400 + before.ms, `round trip ${slow.ms.toFixed(1)} ms with 300 ms latency`);
    const t2 = await t.update({ attributes: { latency: 100 } } as never);
    assert.equal((t2.attributes as { latency: number }).latency, 100);
    const mid = await roundTrip(p.listen);
    assert.ok(mid.ms >= 100 && mid.ms < 200, `round trip ${mid.ms.toFixed(1)} ms after the update to 100 ms`);
    await t2.remove();
    assert.ok((await roundTrip(p.listen)).ms < 100);
    await p.addToxic({ name: "again", type: "latency", stream: "upstream", toxicity: 1, attributes: { latency: 500 } } as never);
    await tp().reset();
    assert.deepEqual((await call("GET", "/proxies/c1/toxics")).body, []);
    await p.remove();
    assert.equal((await call("GET", "/proxies/c1")).status, 404);
  });

  test("populate: the client's shape ({proxies: [...]}), identical proxies untouched, missing ones kept", async () => {
    const made = await tp().populate([
      { name: "pop1", listen: "127.0.0.1:0", upstream: echoAddr },
      { name: "pop2", listen: "127.0.0.1:0", upstream: echoAddr },
    ]);
    assert.deepEqual(Object.keys(made).sort(), ["pop1", "pop2"]);
    await made.pop1.addToxic({ name: "keep", type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 1 } } as never);
    const again = await call("POST", "/populate", [{ name: "pop1", listen: "127.0.0.1:0", upstream: echoAddr }]);
    assert.equal(again.status, 201);
    assert.equal(again.body.proxies[0].listen, made.pop1.listen, "identical: the same listener");
    assert.equal(again.body.proxies[0].toxics[0].name, "keep", "identical: its toxics kept");
    assert.equal((await call("GET", "/proxies/pop2")).status, 200, "a proxy not listed stays");
    // a bad entry: nothing changes
    const bad = await call("POST", "/populate", [{ name: "pop3", listen: "127.0.0.1:0", upstream: echoAddr }, { name: "pop4" }]);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /missing required field: upstream/);
    assert.equal((await call("GET", "/proxies/pop3")).status, 404, "validated before anything changed");
    // a different upstream: replaced (a new listener, no old toxics)
    const changed = await call("POST", "/populate", [{ name: "pop2", listen: "127.0.0.1:0", upstream: webAddr }]);
    assert.equal(changed.status, 201);
    assert.equal(changed.body.proxies[0].upstream, webAddr);
    // /reset: every proxy enabled again, toxics gone
    await call("POST", "/proxies/pop2", { enabled: false });
    assert.equal((await call("POST", "/reset")).status, 204);
    assert.equal((await call("GET", "/proxies/pop2")).body.enabled, true);
    assert.deepEqual((await call("GET", "/proxies/pop1")).body.toxics, []);
    await call("DELETE", "/proxies/pop1");
    await call("DELETE", "/proxies/pop2");
  });
});

describe("status codes and error bodies", () => {
  test("409 duplicate, 404 missing, 400 bad body / type / stream, 200 toxic create, 204 deletes, PATCH updates", async () => {
    const c = await call("POST", "/proxies", { name: "e1", listen: "127.0.0.1:0", upstream: echoAddr });
    assert.equal(c.status, 201);
    const dup = await call("POST", "/proxies", { name: "e1", listen: "127.0.0.1:0", upstream: echoAddr });
    assert.deepEqual(dup, { status: 409, body: { error: "proxy already exists: e1", status: 409 } });
    assert.deepEqual(await call("GET", "/proxies/nope"), { status: 404, body: { error: "proxy not found: nope", status: 404 } });
    assert.equal((await call("POST", "/proxies", { listen: "127.0.0.1:0", upstream: echoAddr })).body.error, "missing required field: name");
    const raw = await fetch(`${base}/proxies`, { method: "POST", body: "{not json" });
    assert.equal(raw.status, 400);
    assert.match(((await raw.json()) as { error: string }).error, /^bad request body/);
    assert.equal((await call("POST", "/proxies/e1/toxics", { type: "nonsense" })).body.error, "invalid toxic type: nonsense");
    assert.equal((await call("POST", "/proxies/e1/toxics", { type: "latency", stream: "sideways" })).status, 400);
    const bad = await call("POST", "/proxies/e1/toxics", { type: "latency", attributes: { latency: "slow" } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /attributes\.latency/);
    const t = await call("POST", "/proxies/e1/toxics", { type: "latency", attributes: { latency: 5 } });
    assert.equal(t.status, 200);
    assert.equal(t.body.name, "latency_downstream");
    assert.equal(t.body.stream, "downstream");
    assert.equal(t.body.toxicity, 1);
    assert.equal((await call("POST", "/proxies/e1/toxics", { type: "latency" })).status, 409);
    const up = await call("PATCH", "/proxies/e1/toxics/latency_downstream", { toxicity: 0.5 });
    assert.equal(up.body.toxicity, 0.5);
    assert.equal(up.body.attributes.latency, 5, "attributes kept");
    assert.equal((await call("GET", "/proxies/e1/toxics/none")).status, 404);
    assert.equal((await call("DELETE", "/proxies/e1/toxics/latency_downstream")).status, 204);
    assert.equal((await call("DELETE", "/proxies/e1")).status, 204);
    assert.equal((await call("DELETE", "/proxies/e1")).status, 404);
  });

  test("enabled=false takes the proxy down (connections refused); enabled=true brings it back", async () => {
    const p = (await call("POST", "/proxies", { name: "dn", listen: "127.0.0.1:0", upstream: echoAddr })).body;
    const open = net.connect(port(p.listen), "127.0.0.1");
    await new Promise((r) => open.once("connect", r));
    const ended = new Promise((r) => open.once("close", r));
    const off = await call("POST", "/proxies/dn", { enabled: false });
    assert.equal(off.body.enabled, false);
    await ended; // the open connection was closed too
    await assert.rejects(roundTrip(p.listen), /ECONNREFUSED/);
    const on = await call("PATCH", "/proxies/dn", { enabled: true, listen: p.listen });
    assert.equal(on.status, 200);
    assert.equal((await roundTrip(on.body.listen)).bytes, 100);
    await call("DELETE", "/proxies/dn");
  });

  test("browser-origin requests are refused; a token, when set, is required", async () => {
    assert.equal((await call("GET", "/proxies", undefined, { origin: "http://evil.example" })).status, 403);
    assert.equal((await call("GET", "/proxies", undefined, { "user-agent": "Mozilla/5.0" })).status, 403);
    await assert.rejects(startApi(proxies, { host: "0.0.0.0", port: 0 }), /needs a token/);
    const s = http.createServer(apiHandler(proxies, { token: "s3cret" }));
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/proxies`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: "Bearer wrong" } })).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: "Bearer s3cret" } })).status, 200);
    s.close();
  });
});

describe("each toxic's effect", () => {
  let n = 0;
  const make = async (toxics: unknown[], upstream = echoAddr, protocol?: string) => {
    const r = await call("POST", "/proxies", { name: `t${++n}`, listen: "127.0.0.1:0", upstream, toxics, protocol });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as { name: string; listen: string };
  };

  test("created with its toxics in one call: the very first connection is delayed", async () => {
    const p = await make([{ type: "latency", attributes: { latency: 200 } }]);
    const rt = await roundTrip(p.listen);
    assert.ok(rt.ms >= 200, `first round trip ${rt.ms.toFixed(1)} ms`);
  });

  test("bandwidth: 40 KB at rate 100 KB/s takes about 400 ms (± 30 %)", async () => {
    const p = await make([{ type: "bandwidth", attributes: { rate: 100 } }]);
    const rt = await roundTrip(p.listen, 40_000);
    assert.ok(rt.ms > 280 && rt.ms < 600, `${rt.ms.toFixed(0)} ms`);
  });

  test("bandwidth shared=true caps the proxy's connections together", async () => {
    const p = await make([{ type: "bandwidth", attributes: { rate: 100, shared: true } }]);
    const t0 = performance.now();
    await Promise.all([roundTrip(p.listen, 20_000), roundTrip(p.listen, 20_000)]);
    const ms = performance.now() - t0;
    // 40 KB together at 100 KB/s: ≥ 400 ms less slack; per connection it would be ~200 ms
    assert.ok(ms > 330, `${ms.toFixed(0)} ms for two connections`);
  });

  test("slow_close: the close comes delay ms after the upstream's", async () => {
    const bye = net.createServer((s) => s.on("error", () => {}).end("bye"));
    await new Promise<void>((r) => bye.listen(0, "127.0.0.1", r));
    const p = await make([{ type: "slow_close", attributes: { delay: 400 } }], `127.0.0.1:${(bye.address() as AddressInfo).port}`);
    const r = await untilClosed(p.listen, Buffer.from("hello"));
    bye.close();
    assert.equal(r.bytes, 3);
    assert.equal(r.how, "end");
    assert.ok(r.ms >= 380, `closed after ${r.ms.toFixed(0)} ms`);
  });

  test("timeout: no data gets through, the connection closes after timeout ms", async () => {
    const p = await make([{ type: "timeout", attributes: { timeout: 300 } }]);
    const r = await untilClosed(p.listen, Buffer.from("ping"));
    assert.equal(r.bytes, 0);
    assert.equal(r.how, "end");
    assert.ok(r.ms >= 280 && r.ms < 1000, `closed after ${r.ms.toFixed(0)} ms`);
  });

  test("reset_peer: ECONNRESET after timeout ms", async () => {
    const p = await make([{ type: "reset_peer", attributes: { timeout: 200 } }]);
    const r = await untilClosed(p.listen, Buffer.from("ping"));
    assert.equal(r.how, "reset");
    assert.equal(r.bytes, 4, "data flowed until the reset");
    assert.ok(r.ms >= 180, `reset after ${r.ms.toFixed(0)} ms`);
  });

  test("slicer: one 1000-byte write arrives in pieces of ~100 bytes, delay µs apart", async () => {
    const p = await make([{ type: "slicer", attributes: { average_size: 100, size_variation: 20, delay: 5000 } }]);
    const r = await untilClosed(p.listen, Buffer.alloc(1000, 7), 600);
    assert.equal(r.bytes, 1000);
    assert.ok(r.chunks >= 7, `${r.chunks} pieces`);
  });

  test("limit_data: exactly `bytes` bytes, then the connection closes", async () => {
    const p = await make([{ type: "limit_data", attributes: { bytes: 10 } }]);
    const r = await untilClosed(p.listen, Buffer.alloc(100, 1));
    assert.equal(r.bytes, 10);
    assert.equal(r.how, "end");
  });

  test("toxicity 0: seen, never matched; counters reach /metrics", async () => {
    const p = await make([{ name: "never", type: "latency", toxicity: 0, attributes: { latency: 1000 } }]);
    assert.ok((await roundTrip(p.listen)).ms < 500);
    const t = (await call("GET", `/proxies/${p.name}/toxics/never`)).body;
    assert.deepEqual(t.counts, { seen: 1, matched: 0, faulted: 0 }, "one connection evaluated (its downstream)");
    const m = (await call("GET", "/metrics")).body as string;
    assert.match(m, new RegExp(`gameday_proxy_toxic_seen_total\\{proxy="${p.name}",toxic="never",type="latency"\\} 1`));
    assert.match(m, new RegExp(`gameday_proxy_connections_total\\{proxy="${p.name}"\\} 1`));
  });

  test("deleting a proxy under a latency toxic: the held bytes still arrive, then the connection ends", async () => {
    const p = await make([{ type: "latency", attributes: { latency: 5000 } }]);
    const pending = untilClosed(p.listen, Buffer.alloc(500, 3), 4000);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await call("DELETE", `/proxies/${p.name}`)).status, 204);
    const r = await pending;
    assert.equal(r.bytes, 500, "nothing dropped");
    assert.equal(r.how, "end");
    assert.ok(r.ms < 3000, `ended after ${r.ms.toFixed(0)} ms, not held for the 5 s latency`);
  });

  test("ttl_ms: the toxic removes itself", async () => {
    const p = await make([{ name: "brief", type: "latency", ttl_ms: 300, attributes: { latency: 1000 } }]);
    const t = (await call("GET", `/proxies/${p.name}/toxics/brief`)).body;
    assert.ok(Date.parse(t.expires_at) > Date.now());
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await call("GET", `/proxies/${p.name}/toxics/brief`)).status, 404);
    assert.ok((await roundTrip(p.listen)).ms < 500);
  });

  test("toxics added and removed mid-stream, both directions: every byte arrives once, in order (SHA-256)", async () => {
    const p = await make([]);
    const total = 48 << 20;
    const data = crypto.randomBytes(total);
    const s = net.connect(port(p.listen), "127.0.0.1");
    const hash = crypto.createHash("sha256");
    let got = 0;
    const done = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got} of ${total} bytes back in 30 s`)), 30_000);
      s.on("data", (d: Buffer) => {
        hash.update(d);
        got += d.length;
        if (got >= total) {
          clearTimeout(timer);
          resolve("all");
        }
      });
      s.on("error", reject);
      s.on("close", () => resolve("closed"));
    });
    await once(s, "connect");
    void (async () => {
      for (let off = 0; off < total && !s.destroyed; off += 65536) if (!s.write(data.subarray(off, off + 65536))) await once(s, "drain");
    })();
    // each kind holds or cuts chunks differently: a queue with deadlines, a paced generator, pieces
    const kinds = [
      { type: "latency", stream: "upstream", attributes: { latency: 10 } },
      { type: "bandwidth", stream: "downstream", attributes: { rate: 500 } },
      { type: "slicer", stream: "upstream", attributes: { average_size: 1500, size_variation: 500 } },
      { type: "latency", stream: "downstream", attributes: { latency: 3, jitter: 2 } },
    ];
    let midStream = 0;
    for (let i = 0; got < total && i < 60; i++) {
      const name = `flip${i}`;
      assert.equal((await call("POST", `/proxies/${p.name}/toxics`, { name, ...kinds[i % kinds.length] })).status, 200);
      await new Promise((r) => setTimeout(r, 30));
      if (got < total) midStream++;
      assert.equal((await call("DELETE", `/proxies/${p.name}/toxics/${name}`)).status, 204);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await done, "all", "the connection closed before every byte came back");
    s.destroy();
    assert.equal(got, total, "no byte lost or duplicated");
    assert.equal(hash.digest("hex"), crypto.createHash("sha256").update(data).digest("hex"), "the bytes came back in order");
    assert.ok(midStream >= 4, `only ${midStream} toxics were in place while data flowed`);
  });

  test("removing a toxic under load: the API answers at once and held data goes on, none lost", async () => {
    const p = await make([{ name: "slow", type: "latency", attributes: { latency: 5000 } }]);
    const trips = Array.from({ length: 50 }, () => roundTrip(p.listen, 1000));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    assert.equal((await call("DELETE", `/proxies/${p.name}/toxics/slow`)).status, 204);
    const apiMs = performance.now() - t0;
    const all = await Promise.all(trips);
    const wall = performance.now() - t0;
    assert.ok(apiMs < 500, `DELETE took ${apiMs.toFixed(0)} ms`);
    assert.ok(wall < 2000, `held data released ${wall.toFixed(0)} ms after the removal (latency was 5 s)`);
    assert.ok(all.every((x) => x.bytes === 1000));
  });
});

describe("HTTP toxics (protocol http)", () => {
  let n = 0;
  const make = async (toxics: unknown[]) => {
    const r = await call("POST", "/proxies", { name: `h${++n}`, listen: "127.0.0.1:0", upstream: webAddr, protocol: "http", toxics });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as { name: string; listen: string };
  };
  const get = (listen: string, path = "/", agent?: http.Agent, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; error?: string }>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port: port(listen), path, agent, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
        res.on("error", (e) => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), error: (e as NodeJS.ErrnoException).code ?? e.message }));
        res.on("aborted", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), error: "aborted" }));
      });
      req.on("error", (e: NodeJS.ErrnoException) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), error: e.code }));
    });

  test("a TCP toxic on an HTTP proxy is refused with the reason", async () => {
    const r = await call("POST", "/proxies", { name: "hx", listen: "127.0.0.1:0", upstream: webAddr, protocol: "http", toxics: [{ type: "latency" }] });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /TCP toxic/);
  });

  test("http_status 503 + Retry-After for toxicity 0.3, rolled per request on ONE keep-alive socket", async () => {
    const p = await make([{ name: "s503", type: "http_status", toxicity: 0.3, attributes: { status: 503, retry_after: 2, path_prefix: "/api" } }]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      const r = await get(p.listen, "/api/x", agent);
      if (r.status === 503) {
        failed++;
        assert.equal(r.headers["retry-after"], "2");
      } else assert.equal(r.body.length, BODY.length);
    }
    const other = await get(p.listen, "/static", agent);
    agent.destroy();
    // binomial(200, 0.3): mean 60, sd 6.5; 30..90 is beyond 4.5 sd
    assert.ok(failed >= 30 && failed <= 90, `${failed} of 200 answered 503`);
    assert.equal(other.status, 200, "a path outside the prefix is untouched");
    const t = (await call("GET", `/proxies/${p.name}/toxics/s503`)).body;
    assert.equal(t.counts.seen, 201);
    assert.equal(t.counts.faulted, failed);
    assert.equal((await call("GET", `/proxies/${p.name}`)).body.counts.connections, 1, "all on one connection");
  });

  test("http_delay by header match; http_abort mid-response; http_truncate; http_corrupt", async () => {
    const p = await make([
      { name: "d", type: "http_delay", attributes: { delay: 300, header: "x-slow" } },
      { name: "a", type: "http_abort", attributes: { after_bytes: 1000, path_prefix: "/abort" } },
      { name: "tr", type: "http_truncate", attributes: { bytes: 500, path_prefix: "/trunc" } },
      { name: "c", type: "http_corrupt", attributes: { bytes: 3, path_regex: "^/corrupt$" } },
      { name: "m", type: "http_status", attributes: { status: 429, method: "post" } },
    ]);
    const post = await new Promise<number>((resolve) => {
      const req = http.request({ host: "127.0.0.1", port: port(p.listen), method: "POST", path: "/" }, (res) => (res.resume(), resolve(res.statusCode!)));
      req.end("x");
    });
    assert.equal(post, 429, "matched by method");
    let t0 = performance.now();
    assert.equal((await get(p.listen, "/")).status, 200);
    assert.ok(performance.now() - t0 < 250);
    t0 = performance.now();
    assert.equal((await get(p.listen, "/", undefined, { "x-slow": "1" })).status, 200);
    assert.ok(performance.now() - t0 >= 300, "delayed by header");
    const ab = await get(p.listen, "/abort");
    assert.ok(ab.error, "the client saw the connection fail mid-body");
    assert.ok(ab.body.length <= 1000, `${ab.body.length} bytes before the abort`);
    const tr = await get(p.listen, "/trunc");
    assert.ok(tr.body.length === 500 || tr.error, "short body");
    assert.equal(tr.body.length, 500);
    const co = await get(p.listen, "/corrupt");
    assert.equal(co.body.length, BODY.length);
    assert.notDeepEqual(co.body, BODY);
  });

  test("removing an http_delay toxic releases the requests it holds at once", async () => {
    const p = await make([{ name: "hold", type: "http_delay", attributes: { delay: 5000 } }]);
    const t0 = performance.now();
    const pending = Promise.all(Array.from({ length: 5 }, () => get(p.listen, "/")));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await call("DELETE", `/proxies/${p.name}/toxics/hold`)).status, 204);
    const rs = await pending;
    assert.ok(performance.now() - t0 < 2000, "released, not held for 5 s");
    assert.ok(rs.every((r) => r.status === 200 && r.body.length === BODY.length));
  });
});
