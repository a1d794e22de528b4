// Test target: on each "go" line on stdin sends COUNT numbered UDP datagrams
// to 127.0.0.1:PORT, paced, then prints { sent, errors }; exits after 120 s.
import dgram from "node:dgram";
import readline from "node:readline";

const [port, count] = process.argv.slice(2).map(Number);
const sock = dgram.createSocket("udp4");
readline.createInterface({ input: process.stdin }).on("line", async () => {
  let errors = 0;
  let done = 0;
  for (let i = 0; i < count; i++) {
    sock.send(Buffer.from(String(i)), port, "127.0.0.1", (e) => {
      if (e) errors++;
      done++;
    });
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 5));
  }
  while (done < count) await new Promise((r) => setTimeout(r, 5));
  process.stdout.write(JSON.stringify({ sent: count, errors }) + "\n");
});
setTimeout(() => process.exit(0), 120_000).unref();
