// The latency fault's delaying TCP forwarder, for kernels without sch_netem.
// iptables nat REDIRECTs the selected connections to 127.0.0.1:PORT here; each
// is forwarded to the one upstream the fault names, every chunk held back by
// its delay (latency ± jitter, in order: a chunk never overtakes the one
// before it). Started by injectors/latency.ts (inside `ip netns exec` for a
// namespace target), moved into its own cgroup so the redirect skips its own
// upstream connections. Prints "listening PORT" once; exits by itself when
// its parent dies, so a killed worker leaves no forwarder behind.
//   node delay-proxy.mjs --tag T --parent PID --upstream-host H --upstream-port P
//        [--up-ms MS] [--down-ms MS] [--jitter-ms MS] [--correlation 0..1] [--distribution D]
import net from "node:net";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: {
    tag: { type: "string" },
    parent: { type: "string" },
    "upstream-host": { type: "string" },
    "upstream-port": { type: "string" },
    "up-ms": { type: "string" },
    "down-ms": { type: "string" },
    "jitter-ms": { type: "string" },
    correlation: { type: "string" },
    distribution: { type: "string" },
  },
});
const parent = Number(a.parent);
const host = a["upstream-host"];
const port = Number(a["upstream-port"]);
const upMs = Number(a["up-ms"] ?? 0);
const downMs = Number(a["down-ms"] ?? 0);
const jitterMs = Number(a["jitter-ms"] ?? 0);
const rho = Number(a.correlation ?? 0);
const dist = a.distribution ?? "normal";
if (!host || !(port > 0) || !(parent > 0) || !(upMs >= 0) || !(downMs >= 0) || !(jitterMs >= 0) || !(rho >= 0 && rho <= 1)) {
  process.stderr.write("delay-proxy: bad arguments\n");
  process.exit(2);
}

setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 250);

function gauss() {
  const u = 1 - Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}
// Pareto with shape 3, scaled to mean 0 and unit deviation (netem's tables have the same shapes).
function pareto() {
  const xm = 2 / 3;
  return (xm / Math.pow(1 - Math.random(), 1 / 3) - 1) / (xm * Math.sqrt(3) / 2);
}
const SAMPLE = {
  uniform: () => Math.random() * 2 - 1,
  normal: gauss,
  pareto,
  paretonormal: () => 0.25 * gauss() + 0.75 * pareto(),
};
const fresh = SAMPLE[dist] ?? gauss;
let last = 0;
/** Deviation in units of jitter; correlated like netem: next = rho·last + (1−rho)·fresh. */
function deviation() {
  last = rho * last + (1 - rho) * fresh();
  return last;
}

function pipeDelayed(from, to, baseMs) {
  let releaseAt = 0;
  const later = (fn) => {
    // jitter only varies a direction that is delayed at all
    const d = baseMs > 0 ? Math.max(0, baseMs + jitterMs * deviation()) : 0;
    releaseAt = Math.max(releaseAt, Date.now() + d);
    setTimeout(fn, releaseAt - Date.now());
  };
  from.on("data", (chunk) => later(() => to.destroyed || to.write(chunk)));
  from.on("end", () => later(() => to.destroyed || to.end()));
}

const server = net.createServer((client) => {
  const upstream = net.connect({ host, port });
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
  client.on("close", () => setTimeout(() => upstream.destroy(), upMs + 4 * jitterMs + 100));
  upstream.on("close", () => setTimeout(() => client.destroy(), downMs + 4 * jitterMs + 100));
  pipeDelayed(client, upstream, upMs);
  pipeDelayed(upstream, client, downMs);
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening ${server.address().port}\n`));
