// Test target: connects to 127.0.0.1:PORT... every 40 ms and prints one JSON
// line per attempt ({ port, ok } or { port, code }); exits after 120 s.
import net from "node:net";

const ports = process.argv.slice(2).map(Number);
setInterval(() => {
  for (const port of ports) {
    const s = net.connect(port, "127.0.0.1");
    s.setTimeout(1000, () => s.destroy(Object.assign(new Error("timeout"), { code: "CLIENT_TIMEOUT" })));
    s.on("connect", () => {
      process.stdout.write(JSON.stringify({ port, ok: true }) + "\n");
      s.destroy();
    });
    s.on("error", (e) => process.stdout.write(JSON.stringify({ port, code: e.code }) + "\n"));
  }
}, 40);
setTimeout(() => process.exit(0), 120_000).unref();
