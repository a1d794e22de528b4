// Entry of a proxy host child (injectors/proxy/host.ts): proxies with their
// toxics, given as a /populate body. Started by the proxy-toxic and
// http-fault faults with a tag in its command line (revert finds it by it).
//   node proxy-host.mjs --tag T --parent PID --spec JSON [--counts FILE]
import { parseArgs } from "node:util";
import { register } from "tsx/esm/api";

register();
const { values: a } = parseArgs({ options: { tag: { type: "string" }, parent: { type: "string" }, spec: { type: "string" }, counts: { type: "string" } } });
if (!a.tag || !(Number(a.parent) > 0) || !a.spec) {
  process.stderr.write("proxy-host: --tag, --parent and --spec are required\n");
  process.exit(2);
}
const { hostProxies } = await import("../proxy/host.ts");
await hostProxies({ parent: Number(a.parent), spec: JSON.parse(a.spec), counts: a.counts });
