// The latency fault's delaying TCP forwarder, for kernels without sch_netem:
// the chaos proxy's relay (injectors/proxy/) with latency toxics, so both
// have one data path. iptables nat REDIRECTs the selected connections to
// 127.0.0.1:PORT here (ip6tables the IPv6 ones to [::1]:PORT6, which go on
// to --upstream-host6); each goes on to the one upstream the fault names,
// every chunk held back by latency ± jitter from its arrival, in order.
// Started by injectors/latency.ts (inside `ip netns exec` for a namespace
// target), moved into its own cgroup so the redirect skips its own upstream
// connections. Prints "listening PORT [PORT6]" once; exits when its parent dies.
//   node delay-proxy.mjs --tag T --parent PID [--upstream-host H] [--upstream-host6 H6] --upstream-port P
//        [--up-ms MS] [--down-ms MS] [--jitter-ms MS] [--correlation 0..1] [--distribution D]
import { parseArgs } from "node:util";
import { register } from "tsx/esm/api";

register();
const { values: a } = parseArgs({
  options: {
    tag: { type: "string" },
    parent: { type: "string" },
    "upstream-host": { type: "string" },
    "upstream-host6": { type: "string" },
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
const host6 = a["upstream-host6"];
const port = Number(a["upstream-port"]);
const upMs = Number(a["up-ms"] ?? 0);
const downMs = Number(a["down-ms"] ?? 0);
const jitter = Number(a["jitter-ms"] ?? 0);
const correlation = Number(a.correlation ?? 0);
const distribution = a.distribution ?? "normal";
if (!(host || host6) || !(port > 0) || !(parent > 0) || !(upMs >= 0) || !(downMs >= 0) || !(jitter >= 0) || !(correlation >= 0 && correlation <= 1)) {
  process.stderr.write("delay-proxy: bad arguments\n");
  process.exit(2);
}
// jitter only varies a direction that is delayed at all
const toxic = (stream, latency) => ({ name: `latency_${stream}`, type: "latency", stream, attributes: { latency, jitter, distribution, correlation } });
const toxics = [...(upMs > 0 ? [toxic("upstream", upMs)] : []), ...(downMs > 0 ? [toxic("downstream", downMs)] : [])];
const { hostProxies } = await import("../proxy/host.ts");
const up = (h) => `${h.includes(":") ? `[${h}]` : h}:${port}`;
const spec = (h, name, listen) => (h ? [{ name, listen, upstream: up(h), toxics }] : []);
await hostProxies({ parent, spec: spec(host, "latency", "127.0.0.1:0"), spec6: spec(host6, "latency-6", "[::1]:0") });
