// Loopback servers and probes for the chaos proxy's tests: a real echo
// server, a real HTTP server, "does anything listen on this port", and one
// timed round trip.
import http from "node:http";
import net, { type AddressInfo } from "node:net";

/** An echo server on 127.0.0.1 (port 0): what a test proxies to. */
export async function startEcho(): Promise<{ port: number; close: () => void }> {
  const s = net.createServer((c) => c.on("error", () => {}).pipe(c));
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { port: (s.address() as AddressInfo).port, close: () => s.close() };
}

/** An HTTP server on 127.0.0.1 answering every request with `body`. */
export async function startWeb(body: string | Buffer = "ok"): Promise<{ port: number; close: () => void }> {
  const s = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    port: (s.address() as AddressInfo).port,
    close: () => {
      s.closeAllConnections();
      s.close();
    },
  };
}

/** Does anything accept a TCP connection on 127.0.0.1:port? */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** ms for one byte to an echo server at 127.0.0.1:port (through whatever is in between) and back. */
export function rtt(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => {
      const t = performance.now();
      s.write("x");
      s.once("data", () => {
        resolve(performance.now() - t);
        s.destroy();
      });
    });
    s.on("error", reject);
  });
}
