// Test target: a UDP receiver on 127.0.0.1 (prints { port }); on each line on
// stdin prints { received } and starts counting again; exits after 120 s.
import dgram from "node:dgram";
import readline from "node:readline";

const sock = dgram.createSocket("udp4");
let received = 0;
sock.on("message", () => received++);
sock.bind(0, "127.0.0.1", () => {
  sock.setRecvBufferSize(8 << 20);
  process.stdout.write(JSON.stringify({ port: sock.address().port }) + "\n");
});
readline.createInterface({ input: process.stdin }).on("line", () => {
  process.stdout.write(JSON.stringify({ received }) + "\n");
  received = 0;
});
setTimeout(() => process.exit(0), 120_000).unref();
