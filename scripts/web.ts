// The web app's server: `next start`'s job, plus one thing it cannot do. Next
// keeps a browser's own X-Forwarded-For and only fills it in when missing, so
// whatever a client wrote there reached the worker as "the client address"
// (audit log, per-address login limits). Here the header is rewritten from the
// socket: the peer's address, or, when the peer is one of
// GAMEDAY_TRUSTED_PROXIES (a reverse proxy in front of us), that proxy's header,
// whose last entry the proxy itself wrote. Usage: node --import tsx scripts/web.ts --port P [--host H].
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";
import next from "next";
import { config } from "../lib/config";

const { values } = parseArgs({ options: { port: { type: "string", default: "3000" }, host: { type: "string", default: "127.0.0.1" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`--port: expected a TCP port (1-65535), got ${JSON.stringify(values.port)}`);
  process.exit(2);
}
const trusted = new Set(config().GAMEDAY_TRUSTED_PROXIES);
const bare = (a: string | undefined) => (a ?? "").replace(/^::ffff:/, "");

/** X-Forwarded-For as the worker may believe it (it reads the last entry): the peer, unless a trusted proxy vouches for its own. */
function forwardedFor(peer: string | undefined, header: string | string[] | undefined): string {
  const p = bare(peer);
  const given = typeof header === "string" ? header.trim() : Array.isArray(header) ? header.join(", ") : "";
  return trusted.has(p) && given ? given : p;
}

// instrumentation.ts registers this process with the port it serves
process.env.PORT = String(port);
const app = next({ dev: false, dir: path.resolve(import.meta.dirname, ".."), hostname: values.host, port });
const handle = app.getRequestHandler();
await app.prepare();
const server = http.createServer((req, res) => {
  req.headers["x-forwarded-for"] = forwardedFor(req.socket.remoteAddress, req.headers["x-forwarded-for"]);
  handle(req, res);
});
const host = values.host;
server.listen(port, host, () => console.log(`web app on http://${host.includes(":") ? `[${host}]` : host}:${port}`));
const stop = () => server.close(() => process.exit(0)).closeAllConnections();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
