// The poisoner as the dns fault runs it: a child process (inside the
// target's namespace through `ip netns exec`, in a cgroup of its own that the
// redirect rules exclude, so its upstream queries are not bent back to it).
// Prints "listening PORT" once; writes its counters to --stats (atomically,
// off the event loop, every 100 ms while they change, and a last time on
// SIGTERM); exits by itself when its parent dies, so a killed holder leaves
// no server behind.
//   node --import tsx child.ts --tag T --parent PID --spec JSON --stats FILE
import { parseArgs } from "node:util";
import { z } from "zod";
import { snapshotWriter } from "../../lib/snapshot";
import { ruleSchema, upstreamSchema } from "./rules";
import { DnsPoisoner } from "./server";

const { values: a } = parseArgs({ options: { tag: { type: "string" }, parent: { type: "string" }, spec: { type: "string" }, stats: { type: "string" } } });
const spec = z.object({ rules: z.array(ruleSchema).min(1), upstream: upstreamSchema }).safeParse(JSON.parse(a.spec ?? "null"));
const parent = Number(a.parent);
if (!spec.success || !(parent > 0) || !a.stats || !a.tag) {
  process.stderr.write(`dns poisoner: bad arguments${spec.success ? "" : `: ${spec.error.message}`}\n`);
  process.exit(2);
}
const statsFile = snapshotWriter(a.stats);
const server = new DnsPoisoner({ rules: spec.data.rules, upstream: spec.data.upstream });

let last = "";
function writeStats(): void {
  const text = JSON.stringify({ at: new Date().toISOString(), ...server.stats() });
  if (text.slice(text.indexOf(",")) === last.slice(last.indexOf(","))) return;
  last = text;
  statsFile.write(text);
}

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await server.stop().catch(() => undefined);
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

server.start().then(
  async (port) => {
    writeStats();
    // the file is there by the time anyone knows where to ask
    await statsFile.flush();
    process.stdout.write(`listening ${port}\n`);
  },
  (e: Error) => {
    process.stderr.write(`dns poisoner: ${e.message}\n`);
    process.exit(1);
  },
);
