// The poisoner as the dns fault runs it: a child process (inside the
// target's namespace through `ip netns exec`, in a cgroup of its own that the
// redirect rules exclude, so its upstream queries are not bent back to it).
// With --ipv6 a twin listens on [::1] too (where ip6tables REDIRECTs the
// IPv6 queries), counted with it. Prints "listening PORT [PORT6]" once;
// writes its counters to --stats (atomically,
// off the event loop, every 100 ms while they change, and a last time on
// SIGTERM); exits by itself when its parent dies, so a killed holder leaves
// no server behind.
//   node --import tsx child.ts --tag T --parent PID --spec JSON --stats FILE [--ipv6]
import { parseArgs } from "node:util";
import { z } from "zod";
import { snapshotWriter } from "../../lib/snapshot";
import { ruleSchema, upstreamSchema } from "./rules";
import { DnsPoisoner, type PoisonerStats } from "./server";

const { values: a } = parseArgs({ options: { tag: { type: "string" }, parent: { type: "string" }, spec: { type: "string" }, stats: { type: "string" }, ipv6: { type: "boolean" } } });
const spec = z.object({ rules: z.array(ruleSchema).min(1), upstream: upstreamSchema }).safeParse(JSON.parse(a.spec ?? "null"));
const parent = Number(a.parent);
if (!spec.success || !(parent > 0) || !a.stats || !a.tag) {
  process.stderr.write(`dns poisoner: bad arguments${spec.success ? "" : `: ${spec.error.message}`}\n`);
  process.exit(2);
}
const statsFile = snapshotWriter(a.stats);
const servers = [new DnsPoisoner({ rules: spec.data.rules, upstream: spec.data.upstream }), ...(a.ipv6 ? [new DnsPoisoner({ rules: spec.data.rules, upstream: spec.data.upstream, host: "::1" })] : [])];

/** Both twins' counters as one poisoner's. */
function stats(): PoisonerStats {
  const [first, ...rest] = servers.map((s) => s.stats());
  for (const s of rest) {
    for (const k of ["queries", "forwarded", "upstreamFailures", "malformed"] as const) first[k] += s[k];
    s.rules.forEach((r, i) => {
      for (const k of ["seen", "matched", "poisoned"] as const) first.rules[i][k] += r[k];
    });
  }
  return first;
}

let last = "";
function writeStats(): void {
  const text = JSON.stringify({ at: new Date().toISOString(), ...stats() });
  if (text.slice(text.indexOf(",")) === last.slice(last.indexOf(","))) return;
  last = text;
  statsFile.write(text);
}

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
    writeStats();
    await statsFile.flush();
  }
  process.exit(code);
}

process.on("SIGTERM", () => void stop(0));
process.on("SIGINT", () => void stop(0));
setInterval(() => {
  if (process.ppid !== parent) void stop(0);
  else writeStats();
}, 100);

Promise.all(servers.map((s) => s.start())).then(
  async (ports) => {
    writeStats();
    // the file is there by the time anyone knows where to ask
    await statsFile.flush();
    process.stdout.write(`listening ${ports.join(" ")}\n`);
  },
  (e: Error) => {
    process.stderr.write(`dns poisoner: ${e.message}\n`);
    process.exit(1);
  },
);
