// Entry of a proxy host child (injectors/proxy/host.ts): proxies with their
// toxics, given as a /populate body. Started by the proxy-toxic and
// http-fault faults with a tag in its command line (revert finds it by it).
// --spec6: the proxies on [::1] for the IPv6-redirected connections.
//   node proxy-host.mjs --tag T --parent PID --spec JSON [--spec6 JSON] [--counts FILE]
import { parseArgs } from "node:util";
import { register } from "tsx/esm/api";

register();
const { values: a } = parseArgs({ options: { tag: { type: "string" }, parent: { type: "string" }, spec: { type: "string" }, spec6: { type: "string" }, counts: { type: "string" } } });
if (!a.tag || !(Number(a.parent) > 0) || !(a.spec || a.spec6)) {
  process.stderr.write("proxy-host: --tag, --parent and --spec are required\n");
  process.exit(2);
}
const { hostProxies } = await import("../proxy/host.ts");
await hostProxies({ parent: Number(a.parent), spec: JSON.parse(a.spec ?? "[]"), spec6: a.spec6 ? JSON.parse(a.spec6) : undefined, counts: a.counts });
