// Hosting proxies in a process of their own: the proxy-toxic and http-fault
// faults and the latency fault's proxy path run their relay in a child
// (injectors/load/proxy-host.mjs, delay-proxy.mjs) rather than in the
// worker's event loop, so a busy relay cannot delay the monitor or an abort.
// The child prints "listening PORT" (the first proxy's; "listening PORT
// PORT6" with proxies on [::1] for IPv6-redirected connections) once every
// proxy listens with its toxics in place, writes its counts to a file every 250 ms
// and once more on the way out, exits when its parent dies (a SIGKILLed
// worker or CLI leaves no proxy listening), and on SIGTERM ends every
// connection after flushing what it holds.
import { snapshotWriter } from "../../lib/snapshot";
import { ApiError } from "./errors";
import { ProxyCollection } from "./proxy";

export interface HostOptions {
  parent: number;
  /** a /populate body: the proxies with their toxics (may be empty when spec6 is not) */
  spec: unknown[];
  /** more of them, listening on [::1] (where REDIRECT sends IPv6 connections): their port is printed second */
  spec6?: unknown[];
  /** where to keep the counts (JSON: the proxies as the API shows them) */
  counts?: string;
}

export async function hostProxies(o: HostOptions): Promise<void> {
  const proxies = new ProxyCollection();
  const counts = o.counts ? snapshotWriter(o.counts) : null;
  const writeCounts = (list = proxies.list()) => counts?.write(JSON.stringify(list.map((p) => p.toJSON())));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // closing empties the collection; the last counts (bytes of the links just closed) are from these
    const list = proxies.list();
    writeCounts(list);
    await Promise.race([proxies.close(), new Promise((r) => setTimeout(r, 1500))]);
    writeCounts(list);
    await counts?.flush();
    process.exit(0);
  };
  setInterval(() => {
    if (process.ppid !== o.parent) void stop();
    // once stopping, the closing collection is empty: the last counts are stop()'s
    else if (!stopping) writeCounts();
  }, 250);
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  try {
    const list = await proxies.populate([...o.spec, ...(o.spec6 ?? [])]);
    writeCounts();
    await counts?.flush();
    const port = (p?: (typeof list)[number]) => (p ? Number(p.address!.split(":").pop()) : 0);
    const ports = o.spec6?.length ? [port(list[0]), port(list[o.spec.length])] : [port(list[0])];
    process.stdout.write(`listening ${ports.join(" ")}\n`);
  } catch (e) {
    process.stderr.write(`${e instanceof ApiError ? `${e.message} (${e.status})` : (e as Error).message}\n`);
    process.exit(1);
  }
}
