// Test target: every 40 ms connects to each PORT or [::1]:PORT, or sends one
// datagram to udp:HOST:PORT, and prints one JSON line per attempt
// ({ port, ok } or { port, code }, port as given); exits after 120 s.
import dgram from "node:dgram";
import net from "node:net";

const say = (port, o) => process.stdout.write(JSON.stringify({ port: /^\d+$/.test(port) ? Number(port) : port, ...o }) + "\n");
setInterval(() => {
  for (const spec of process.argv.slice(2)) {
    const m = /^udp:(.+):(\d+)$/.exec(spec);
    if (m) {
      // a socket per send: a socket belongs to the cgroup it was opened in
      const udp = dgram.createSocket("udp4");
      udp.on("error", () => {});
      udp.send("x", Number(m[2]), m[1], (e) => {
        say(spec, e ? { code: e.code } : { ok: true });
        udp.close();
      });
      continue;
    }
    const v6 = /^\[(.+)\]:(\d+)$/.exec(spec);
    const s = v6 ? net.connect(Number(v6[2]), v6[1]) : net.connect(Number(spec), "127.0.0.1");
    s.setTimeout(1000, () => s.destroy(Object.assign(new Error("timeout"), { code: "CLIENT_TIMEOUT" })));
    s.on("connect", () => {
      say(spec, { ok: true });
      s.destroy();
    });
    s.on("error", (e) => say(spec, { code: e.code }));
  }
}, 40);
setTimeout(() => process.exit(0), 120_000).unref();
